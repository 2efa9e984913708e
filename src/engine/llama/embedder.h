// Embeddings on the loaded model: a llama context of its own (embeddings on, pooled per sequence) and
// a worker thread that packs the inputs of queued requests into shared decode steps, one sequence an
// input. Made when the first embedding request comes, so a server that never embeds pays nothing.
#pragma once

#include <llama.h>

#include <memory>

#include "common/status.h"
#include "engine/engine.h"

namespace openbatch::engine {

struct EmbedderOptions {
  int threads = 1;
  int max_tokens = 8192;   // the longest input: min(this, the model's trained context)
  int max_sequences = 16;  // inputs one decode step takes
};

class Embedder {
 public:
  // REQUIRES: model outlives the embedder. The model's own pooling is used (BERT-style CLS or mean,
  // last token for LLM-based embedders); a model with none (a chat model) is pooled by the mean.
  static Result<std::unique_ptr<Embedder>> create(llama_model* model, const EmbedderOptions& options);
  ~Embedder();  // shutdown()

  // Queues request; done runs on the worker thread. An input over max_tokens is a 400.
  void submit(EmbeddingRequest request, EmbeddingsDone done);
  // Answers queued requests with 503 and stops the worker. Idempotent.
  void shutdown();

  struct Impl;

 private:
  explicit Embedder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace openbatch::engine
