// One llama.cpp context of the embedded engine: its sequences, its batch and the thread that runs
// continuous batching on them (engine/llama/llama_engine.h). Internal to engine/llama/.
//
// Each step admits queued jobs into idle sequences (where each starts is the prefix planner's choice,
// prefix_planner.h), builds one llama_batch of a token for every generating sequence, their forced
// tokens and chunks of new prompts, decodes it, and draws the next tokens. A freed sequence keeps its
// KV cells for the next job that shares a prefix with them.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/llama/generation_job.h"
#include "engine/llama/job_queue.h"
#include "engine/llama/prefix_planner.h"
#include "engine/llama/reasoning_counter.h"
#include "engine/llama/sampling.h"
#include "engine/llama/text_stream.h"
#include "engine/llama/vision_encoder.h"
#include "llama.h"

namespace openbatch::engine {

// What the contexts of one engine share: the model's vocabulary and the engine's settings. Filled
// before the contexts start, read-only after.
struct SharedModel {
  const llama_vocab* vocab = nullptr;
  const ByteTokens* bytes = nullptr;
  VisionEncoder* vision = nullptr;  // null without a projector
  int context_per_sequence = 0;     // KV cells one sequence may use (ModelInfo::context_per_sequence)
  int threads_alone = 1;            // CPU threads of a decode while the other contexts are idle
  size_t sampling_threads = 1;
  size_t sampling_work_per_thread = 256 * 1024;  // LlamaEngineOptions::sampling_work_per_thread
};

// How one context is laid out (load_plan.h).
struct ContextLayout {
  int index = 0;         // in the engine's contexts (and the JobQueue)
  int sequences = 1;     // the requests it decodes together
  int n_batch = 512;     // most tokens a step decodes
  int threads = 1;       // CPU threads of a decode while other contexts decode too
  bool cascade = false;  // one more sequence holds the prefix many requests share
};

class SequenceScheduler {
 public:
  // Takes ownership of ctx. REQUIRES: ctx has layout.sequences (+1 with cascade) sequences; shared and
  // queue outlive the scheduler.
  SequenceScheduler(const SharedModel& shared, JobQueue& queue, llama_context* ctx,
                    const ContextLayout& layout);
  ~SequenceScheduler();  // REQUIRES: the thread is joined
  SequenceScheduler(const SequenceScheduler&) = delete;
  SequenceScheduler& operator=(const SequenceScheduler&) = delete;

  llama_context* context() const { return ctx_; }

  // Starts the thread that takes jobs from the queue until it stops; then every job running or queued
  // ends with shutting_down().
  void start();
  bool running() const { return thread_.joinable(); }
  void join();

 private:
  enum class SlotState { kIdle, kPrefill, kGenerate };

  // One sequence of the context. Between jobs it remembers the tokens whose KV it still holds.
  struct Slot {
    llama_seq_id seq = 0;
    SlotState state = SlotState::kIdle;
    std::shared_ptr<GenerationJob> job;
    std::vector<llama_token> cached;  // tokens whose KV cells this sequence holds, in position order
    size_t linked = 0;                // cached[0, linked) are read in place from the shared prefix sequence
                                      // (cascade attention), not held in this sequence's own KV stream
    size_t prompt_done = 0;           // prompt tokens already in the KV
    std::unique_ptr<RequestSampler> sampler;
    std::unique_ptr<TextStream> text;
    std::unique_ptr<MessageStream> message;  // while streaming: the text read as answer, thinking, calls
    ReasoningCounter reasoning;
    std::vector<llama_token> pending;  // generated (drawn or forced by the grammar), not yet decoded
    int batch_index = -1;              // where this slot's logits are in the current batch, -1: none
    llama_token drawn = -1;            // this step's drawn token
    Generation result;
  };

  void loop();
  void count_idle();
  bool busy() const;
  bool has_idle() const;

  // Admission: queued jobs into idle sequences.
  void admit_jobs();
  AdmissionInputs admission_inputs(const GenerationJob& job, bool with_cascade) const;
  void copy_prefix(const Slot& from, Slot& to, size_t n, const VisionPrompt& layout);
  void start_planned(std::shared_ptr<GenerationJob> job, const Admission& plan);
  bool start_linked(std::shared_ptr<GenerationJob>& job, const Admission& plan);
  void start_job(Slot& slot, std::shared_ptr<GenerationJob> job);
  void forget(Slot& slot);

  // A step: the batch, its decode, the draws and what they end.
  void decode_images();
  bool build_batch();
  void fail_decode(int rc);
  void draw_tokens();
  void after_decode();
  std::string jump_forward(Slot& slot);
  void finish(Slot& slot, Result<Generation> result);
  void fail_all(const Status& status);

  const SharedModel& shared_;
  JobQueue& queue_;
  llama_context* ctx_ = nullptr;
  const int index_;
  const int threads_;  // CPU threads of a decode while other contexts decode too
  int threads_now_;    // what the context decodes on now
  std::vector<Slot> slots_;
  llama_batch batch_{};
  // Cascade attention: one more sequence holds a prefix many requests share (the batch's system
  // prompt); linked sequences attend to it where it is, all in one matrix product per step.
  const bool cascade_;
  llama_seq_id prefix_seq_ = -1;
  std::vector<llama_token> prefix_tokens_;  // what prefix_seq_ holds
  std::thread thread_;
};

}  // namespace openbatch::engine
