// The embedded llama.cpp engine: one model, and one or more contexts over its weights (data
// parallelism, load_plan.h), each with its share of the `parallel` sequences and one thread running
// continuous batching. Each step decodes one token for every generating sequence of the context and
// prefills chunks of new prompts in the same llama_batch; a request takes a sequence of whichever
// context has one free, and gives it back when it ends. A freed sequence keeps its KV cells, so the
// next request of that context that shares a prefix with it (a common system prompt) reuses them
// instead of recomputing them.
//
// With a projector (mmproj_path), messages may hold images: a request with images is tokenised and its
// images encoded on the vision encoder's worker (vision_encoder.h), then queued like any other; the
// engine thread decodes an image's embeddings into the sequence when its prefill reaches the image.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "engine/llama/load_plan.h"

namespace openbatch::engine {

struct LlamaEngineOptions {
  std::string model_path;
  std::vector<std::string> model_ids;  // names clients may use; empty: the file's stem
  int parallel = 0;                    // sequences decoded together; 0: sized to the hardware and the
                                       // KV memory (engine/llama/parallelism.h)
  int ctx_size = 0;                    // total KV cells, split between sequences; 0: per sequence
                                       // min(trained context, 4096) times parallel
  int threads = 0;                     // 0: all cores
  int data_parallel = 0;               // contexts over the model, sharing parallel, ctx_size and
                                       // threads; 0: two on a CPU, one on a GPU (load_plan.h)
  int batch_size = 512;                // most tokens one decode step processes (prefill chunking)
  int gpu_layers = -1;                 // -1: all layers on the GPU when there is one
  int sampling_threads = 0;            // threads that share a step's draws on large vocabularies;
                                       // 0: the cores, at most 8
  size_t sampling_work_per_thread = 256 * 1024;  // vocabulary entries a step scans per extra sampling
                                                 // thread (below, draws stay on the engine thread)
  std::string mmproj_path;                       // the vision projector (mmproj GGUF); empty: text only
  std::string chat_template;  // Jinja source replacing the model's own (--chat-template-file); empty:
                              // the GGUF's tokenizer.chat_template, ChatML when it has none
  CascadeAttention cascade = CascadeAttention::kAuto;
};

class LlamaEngine final : public Engine {
 public:
  // Loads the model and starts the engine thread.
  static Result<std::unique_ptr<LlamaEngine>> load(const LlamaEngineOptions& options);
  ~LlamaEngine() override;

  const ModelInfo& model_info() const override;
  std::shared_ptr<GenerationHandle> submit(GenerationRequest request, GenerationCallbacks callbacks) override;
  Result<int> count_prompt_tokens(const GenerationRequest& request) override;
  // Embeddings come from a second context on the same weights (engine/llama/embedder.h).
  void embed(EmbeddingRequest request, EmbeddingsDone done) override;
  void shutdown() override;

  struct Impl;  // llama_engine_impl.h

 private:
  explicit LlamaEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Quiets llama.cpp's own logging below warnings (it logs every tensor at load).
void set_llama_log_level_warn();

}  // namespace openbatch::engine
