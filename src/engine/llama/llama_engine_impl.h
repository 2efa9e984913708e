// The state of a LlamaEngine (llama_engine.h), shared by its loader (llama_engine_loader.cpp) and its
// requests (llama_engine.cpp). Internal to engine/llama/.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/llama/chat_template.h"
#include "engine/llama/embedder.h"
#include "engine/llama/generation_job.h"
#include "engine/llama/job_queue.h"
#include "engine/llama/llama_engine.h"
#include "engine/llama/sampling.h"
#include "engine/llama/sequence_scheduler.h"
#include "engine/llama/vision_encoder.h"
#include "llama.h"

namespace openbatch::engine {

struct LlamaEngine::Impl {
  LlamaEngineOptions options;
  ModelInfo info;
  llama_model* model = nullptr;
  const llama_vocab* vocab = nullptr;
  std::unique_ptr<ChatTemplate> chat_template;
  ByteTokens bytes;
  std::unique_ptr<VisionEncoder> vision;  // null without a projector
  std::mutex embedder_mu;
  std::unique_ptr<Embedder> embedder;  // made by the first embedding request
  int threads = 1;                     // CPU threads of the engine (a decode's while it runs alone)
  SharedModel shared;                  // what the contexts read of the above
  std::unique_ptr<JobQueue> queue;
  // The contexts (load_plan.h): each takes queued jobs when it has a free sequence (job_queue.h).
  std::vector<std::unique_ptr<SequenceScheduler>> contexts;

  ~Impl();

  // A 400 context_length_exceeded when a prompt of n_tokens leaves no room to generate.
  Status check_prompt_length(size_t n_tokens) const;
  // The request's prompt: its raw prompt, or its chat rendered with the model's template.
  Result<ChatPrompt> render(const GenerationRequest& request) const;
  // The tokens of a request without images: its raw prompt's, or its rendered chat's.
  Result<std::vector<llama_token>> request_tokens(const GenerationRequest& request,
                                                  const ChatPrompt& chat) const;
  // Tokens and images of a prompt with images (images count as the positions they take).
  Result<VisionPrompt> vision_prompt(const ChatPrompt& chat) const;

  // Queues a prepared job for the contexts; ends it with shutting_down() once the engine stops.
  void enqueue(std::shared_ptr<GenerationJob> job);
  // Tokenises the prompt and encodes its images on the vision worker, then queues the job.
  void submit_with_images(std::shared_ptr<GenerationJob> job);
};

}  // namespace openbatch::engine
