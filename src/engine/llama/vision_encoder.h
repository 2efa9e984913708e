// Images for the embedded engine, through llama.cpp's mtmd library: a projector file (mmproj GGUF)
// turns each image into embeddings that the text model reads in place of tokens.
//
// A prompt with images becomes a VisionPrompt: its text tokens, and for each image as many
// placeholder tokens as the image takes positions. Placeholders are negative ids, the same for the
// same image (by the SHA-256 of its pixels) and different for different images, so that the engine's
// prefix matching over token vectors reuses a sequence's KV cells across requests that share an image
// and never across different images.
//
// Encoding runs on the encoder's own worker thread, off the callers' threads and the engine's decode
// thread; the engine thread only decodes ready embeddings into its sequences.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "llama.h"

struct mtmd_context;
struct mtmd_input_chunk;

namespace openbatch::engine {

// A place in the encoder's budget of encoded prompts: taken by encode(), given back by release()
// (once the embeddings are decoded or the request has ended) or by its destruction. Thread-safe.
class EmbeddingHold {
 public:
  explicit EmbeddingHold(std::function<void()> give_back) : give_back_(std::move(give_back)) {}
  ~EmbeddingHold() { release(); }
  EmbeddingHold(const EmbeddingHold&) = delete;
  EmbeddingHold& operator=(const EmbeddingHold&) = delete;
  void release() {
    std::function<void()> f;
    {
      std::lock_guard lock(mu_);
      f.swap(give_back_);
    }
    if (f) f();
  }

 private:
  std::mutex mu_;
  std::function<void()> give_back_;
};

// One image of a prompt.
struct PromptImage {
  size_t start = 0;                         // index of its first placeholder in VisionPrompt::tokens
  size_t n_tokens = 0;                      // placeholders (embeddings) it takes
  size_t n_pos = 0;                         // positions it takes: n_tokens, or fewer with M-RoPE
  std::string url;                          // for error messages
  std::shared_ptr<mtmd_input_chunk> chunk;  // mtmd's chunk, holding the preprocessed image
  std::vector<float> embeddings;            // n_tokens * n_embd once encoded; emptied once decoded
};

struct VisionPrompt {
  std::vector<llama_token> tokens;  // text tokens and image placeholders (negative), in order
  std::vector<PromptImage> images;  // in order of start
  // Taken by encode(): bounds the memory that encoded, not yet decoded images take.
  std::shared_ptr<EmbeddingHold> hold;

  // The image whose first placeholder is at index i, or null.
  PromptImage* image_starting_at(size_t i);
  // i moved back to the start of the image it falls inside, if it falls inside one.
  size_t align_to_image_start(size_t i) const;
  // The position of tokens[i] (or of the i-th token, generated ones included) in its sequence: i, less
  // what the images before it save with M-RoPE, whose image spans max(width, height) positions in
  // patches. REQUIRES: i does not fall inside an image (an image's start is fine).
  llama_pos position_of(size_t i) const;
};

struct VisionOptions {
  std::string mmproj_path;
  int threads = 4;
  bool use_gpu = true;
  int max_encoded_waiting = 32;  // encoded prompts whose holds are not yet released, at most
};

class VisionEncoder {
 public:
  // Loads the projector for model. 500 when mtmd cannot load it or it does not fit the model.
  static Result<std::unique_ptr<VisionEncoder>> load(const VisionOptions& options, const llama_model* model);
  ~VisionEncoder();  // shutdown()
  VisionEncoder(const VisionEncoder&) = delete;
  VisionEncoder& operator=(const VisionEncoder&) = delete;

  // Whether the model places image embeddings on M-RoPE's grid of positions (Qwen2-VL and later).
  bool uses_mrope() const { return mrope_; }

  // What stands for one image in a rendered prompt (unguessable, so user text cannot fake one).
  const std::string& marker() const { return marker_; }

  // Decodes the images (their data must be set; see image_bitmap() for the formats and `detail`) and
  // tokenises prompt_text, which holds one marker per image in the same order. 400 invalid_image
  // naming the URL when an image cannot be decoded.
  // Thread-safe; one call decodes at a time, so that decoded pixels are held for one request at once.
  Result<VisionPrompt> tokenize(const std::string& prompt_text, const std::vector<const ImagePart*>& images);

  // Computes the embeddings of every image of prompt (or reuses those of the same image encoded a
  // moment ago) and takes a hold on the budget for them (waiting
  // while max_encoded_waiting prompts hold one). Call it from the worker (see post). 500 when the
  // projector fails, 503 once shutdown() has begun.
  Status encode(VisionPrompt& prompt);

  // Decodes image's embeddings into sequence seq of ctx at positions pos.., then frees them.
  // REQUIRES: image encoded; called on the thread that owns ctx.
  Status decode(llama_context* ctx, PromptImage& image, llama_pos pos, llama_seq_id seq);

  // Runs task(true) on the worker thread, interactive tasks before batch ones; after shutdown() has
  // begun, remaining and later tasks run as task(false) instead. Thread-safe.
  void post(Priority priority, std::function<void(bool run)> task);

  // Ends the worker (tasks not yet started run as task(false)). Idempotent.
  void shutdown();

  // Images run through the projector so far (reused embeddings not counted). Thread-safe.
  int64_t images_encoded();

 private:
  VisionEncoder() = default;
  void worker();

  struct Budget;
  std::shared_ptr<EmbeddingHold> take_hold();  // blocks while the budget is spent

  mtmd_context* mtmd_ = nullptr;
  std::string marker_;
  bool mrope_ = false;
  int n_embd_ = 0;
  std::shared_ptr<Budget> budget_;  // shared with the holds, which may outlive the encoder

  std::mutex decode_mu_;  // one request's images are decoded at a time (tokenize)
  std::mutex encode_mu_;  // mtmd's encoder is not re-entrant; guards recent_ too
  // The embeddings of the last images encoded, by content hash: an image that many requests send (the
  // n choices of one request, a batch naming one URL on many lines) is encoded once.
  static constexpr size_t kRecentEmbeddings = 8;
  std::deque<std::pair<std::string, std::vector<float>>> recent_;
  int64_t images_encoded_ = 0;  // guarded by encode_mu_

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void(bool)>> tasks_[2];  // by Priority
  bool stopping_ = false;
  std::thread thread_;
};

// Quiets mtmd's logging below warnings, as set_llama_log_level_warn does for llama.cpp's.
void set_mtmd_log_level_warn();

}  // namespace openbatch::engine
