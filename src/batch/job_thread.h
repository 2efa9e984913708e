// The batch runner's job thread (batch/batch_runner.h): validates new batches and starts or fails
// them, writes the output files of batches that ended, and deletes expired files when it has had no job
// for a minute. Each job is leased from the store, so that of many nodes sharing it one does the job.
// A job the store could not take (a full disk, a locked database) is tried again after a wait that
// doubles while it keeps failing; the batch stays as it was meanwhile, as the store's atomic operations
// guarantee. Its waits are on the clock. Internal to batch/.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "batch/runner_options.h"
#include "store/store.h"

namespace openbatch::batch {

struct BatchJob {
  enum Kind { kValidate, kFinalize } kind = kValidate;
  std::string batch_id;
  store::BatchStatus final_status = store::BatchStatus::kCompleted;  // kFinalize: the status it ends in
};

class JobThread {
 public:
  // activate(batch_id): the batch was started (or is being cancelled) and is the scheduler's now.
  // Thread-safe and quick.
  JobThread(const RunnerContext& ctx, std::function<void(const std::string& batch_id)> activate);
  ~JobThread();  // stop()
  JobThread(const JobThread&) = delete;
  JobThread& operator=(const JobThread&) = delete;

  // Starts the thread, which takes the jobs pushed so far first. Once.
  void start();
  // Returns once the thread has ended, after the job in progress. Jobs still queued are dropped: the next
  // start of the runner finds their batches in the store. Idempotent.
  void stop();
  // Queues job unless the same job (kind and batch) is queued already. Thread-safe.
  void push(BatchJob job);

 private:
  void run();
  // Validates a batch and starts it or fails it. An error only when the store could not be read or
  // written: the batch is as it was, and the job is tried again.
  Status validate(const std::string& batch_id);
  // Finalizes a batch unless another node holds its job lease; a cancelled or expired one once no node
  // holds a live lease on its requests.
  Status finalize(const BatchJob& job);
  // Deletes files whose expires_at has passed.
  void remove_expired_files();

  const RunnerContext ctx_;
  const std::function<void(const std::string&)> activate_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<BatchJob> jobs_;
  std::set<std::pair<int, std::string>> queued_;  // (kind, batch id) of jobs_
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace openbatch::batch
