// The generations waiting for a sequence, shared by the embedded engine (which queues them) and its
// contexts (which take them), with each context's count of idle sequences. Internal to engine/llama/.
//
// Jobs fill the first context with an idle sequence first: a lone client's next request finds its
// conversation's KV where the last one left it; a context with fewer than all its sequences idle is busy.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/llama/generation_job.h"

namespace openbatch::engine {

class JobQueue {
 public:
  // REQUIRES: contexts >= 1; each context has `sequences` sequences, all idle at the start.
  JobQueue(int contexts, int sequences);

  // Queues job behind the others of its priority and wakes the contexts. False (the job not queued)
  // once stop() was called. Thread-safe.
  bool push(std::shared_ptr<GenerationJob> job);

  // Waits until `context` has work: busy() (called under the queue's lock) is true, or a job is queued
  // and no earlier context has an idle sequence for it. False once stop() was called.
  bool wait_for_work(int context, const std::function<bool()>& busy);

  // The first job of the most urgent queue that has one, left queued (another context may take it
  // meanwhile); null when none. *queue says which queue, for pop().
  std::shared_ptr<GenerationJob> front(int* queue);
  // Takes job off the front of `queue`; false when it is no longer there (another context took it).
  bool pop(int queue, const std::shared_ptr<GenerationJob>& job);
  // Takes every queued job (the engine is stopping).
  std::vector<std::shared_ptr<GenerationJob>> take_all();

  // Records how many sequences of `context` are idle; once it has none, the next context takes what
  // is queued. Thread-safe.
  void set_idle(int context, int idle);
  // Whether a context before `context` has an idle sequence (the job is for it).
  bool earlier_context_has_room(int context) const;
  // Whether a context other than `context` is decoding.
  bool another_context_busy(int context) const;

  // Wakes every waiting context with stop. Returns whether stop() had already been called.
  bool stop();

 private:
  bool any_queued() const;  // REQUIRES: mu_ held

  const int contexts_;
  const int sequences_;
  std::unique_ptr<std::atomic<int>[]> idle_;  // per context, as it last counted them
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<GenerationJob>> queues_[2];  // indexed by Priority
  bool stopping_ = false;
};

}  // namespace openbatch::engine
