#include "engine/llama/vision_encoder.h"

#include <algorithm>
#include <cstdio>
#include <list>
#include <unordered_map>

#include "common/random.h"
#include "engine/llama/image_bitmap.h"
#include "mtmd-helper.h"
#include "mtmd.h"

namespace openbatch::engine {

namespace {

// Stable placeholder ids for images, by content: the same image gets the same id while it is
// remembered (the 4096 most recent), a new image a new id from a counter. Ids of forgotten images are
// not handed out again until the counter wraps after 2^30 images, long after any sequence has let go
// of their KV cells.
class ImageIds {
 public:
  // REQUIRES: image_hash is empty (an image of unknown content: it gets an id of its own) or identifies
  // the image's content.
  llama_token placeholder(const std::string& image_hash) {
    std::lock_guard lock(mu_);
    if (image_hash.empty()) return token_for(next_++);
    auto it = ids_.find(image_hash);
    if (it != ids_.end()) {
      order_.splice(order_.begin(), order_, it->second.second);
      return it->second.first;
    }
    const llama_token token = token_for(next_++);
    order_.push_front(image_hash);
    ids_[image_hash] = {token, order_.begin()};
    if (ids_.size() > kRemembered) {
      ids_.erase(order_.back());
      order_.pop_back();
    }
    return token;
  }

 private:
  static llama_token token_for(uint64_t id) { return -1 - static_cast<llama_token>(id % (1u << 30)); }

  static constexpr size_t kRemembered = 4096;
  std::mutex mu_;
  uint64_t next_ = 0;
  std::list<std::string> order_;
  std::unordered_map<std::string, std::pair<llama_token, std::list<std::string>::iterator>> ids_;
};

ImageIds& image_ids() {
  static ImageIds ids;
  return ids;
}

std::string random_marker() {
  char buf[64];
  std::snprintf(buf, sizeof buf, "<__openbatch_image_%016llx__>",
                static_cast<unsigned long long>(random_u64()));
  return buf;
}

void quiet_log(ggml_log_level level, const char* text, void* /*user*/) {
  if (level >= GGML_LOG_LEVEL_WARN && level != GGML_LOG_LEVEL_CONT) std::fputs(text, stderr);
}

struct ChunksDeleter {
  void operator()(mtmd_input_chunks* c) const { mtmd_input_chunks_free(c); }
};

}  // namespace

struct VisionEncoder::Budget {
  std::mutex mu;
  std::condition_variable cv;
  int holds = 0;
  int max_holds = 1;
  bool stopping = false;
};

void set_mtmd_log_level_warn() { mtmd_helper_log_set(quiet_log, nullptr); }

PromptImage* VisionPrompt::image_starting_at(size_t i) {
  for (PromptImage& image : images) {
    if (image.start == i) return &image;
    if (image.start > i) break;
  }
  return nullptr;
}

llama_pos VisionPrompt::position_of(size_t i) const {
  size_t saved = 0;
  for (const PromptImage& image : images) {
    if (image.start + image.n_tokens > i) break;
    saved += image.n_tokens - image.n_pos;
  }
  return static_cast<llama_pos>(i - saved);
}

size_t VisionPrompt::align_to_image_start(size_t i) const {
  for (const PromptImage& image : images) {
    if (image.start < i && i < image.start + image.n_tokens) return image.start;
  }
  return i;
}

Result<std::unique_ptr<VisionEncoder>> VisionEncoder::load(const VisionOptions& options,
                                                           const llama_model* model) {
  std::unique_ptr<VisionEncoder> v(new VisionEncoder());
  v->marker_ = random_marker();
  mtmd_context_params params = mtmd_context_params_default();
  params.use_gpu = options.use_gpu;
  params.print_timings = false;
  params.n_threads = std::max(1, options.threads);
  params.media_marker = v->marker_.c_str();
  v->mtmd_ = mtmd_init_from_file(options.mmproj_path.c_str(), model, params);
  if (v->mtmd_ == nullptr) {
    return Status::internal("cannot load the projector " + options.mmproj_path +
                            " (not an mmproj GGUF, or made for another model)");
  }
  if (!mtmd_support_vision(v->mtmd_)) {
    return Status::internal("the projector " + options.mmproj_path + " has no vision encoder");
  }
  v->mrope_ = mtmd_decode_use_mrope(v->mtmd_);
  v->n_embd_ = llama_model_n_embd_inp(model);
  v->budget_ = std::make_shared<Budget>();
  v->budget_->max_holds = std::max(1, options.max_encoded_waiting);
  VisionEncoder* raw = v.get();
  v->thread_ = std::thread([raw] { raw->worker(); });
  return v;
}

VisionEncoder::~VisionEncoder() {
  shutdown();
  if (mtmd_ != nullptr) mtmd_free(mtmd_);
}

Result<VisionPrompt> VisionEncoder::tokenize(const std::string& prompt_text,
                                             const std::vector<const ImagePart*>& images) {
  // One request's images are decoded at a time: decoded pixels are large (three bytes each), and the
  // request's own budget (media/image_budget.h) bounds what one request holds.
  std::lock_guard decoding(decode_mu_);
  std::vector<mtmd::bitmap> bitmaps;
  for (const ImagePart* image : images) {
    auto bitmap = image_bitmap(mtmd_, *image);
    if (!bitmap) return bitmap.status();
    bitmaps.push_back(std::move(bitmap).value());
  }
  std::vector<const mtmd_bitmap*> ptrs;
  for (auto& b : bitmaps) ptrs.push_back(b.ptr.get());
  std::unique_ptr<mtmd_input_chunks, ChunksDeleter> chunks(mtmd_input_chunks_init());
  mtmd_input_text text{prompt_text.c_str(), prompt_text.size(), /*add_special=*/true, /*parse_special=*/true};
  const int32_t rc = mtmd_tokenize(mtmd_, chunks.get(), &text, ptrs.data(), ptrs.size());
  if (rc != 0) {
    return Status::internal("the projector could not prepare the images (mtmd_tokenize returned " +
                            std::to_string(rc) + ")");
  }
  VisionPrompt prompt;
  size_t next_image = 0;
  for (size_t i = 0; i < mtmd_input_chunks_size(chunks.get()); ++i) {
    const mtmd_input_chunk* chunk = mtmd_input_chunks_get(chunks.get(), i);
    const auto type = mtmd_input_chunk_get_type(chunk);
    if (type == MTMD_INPUT_CHUNK_TYPE_TEXT) {
      size_t n = 0;
      const llama_token* tokens = mtmd_input_chunk_get_tokens_text(chunk, &n);
      prompt.tokens.insert(prompt.tokens.end(), tokens, tokens + n);
      continue;
    }
    if (type != MTMD_INPUT_CHUNK_TYPE_IMAGE || next_image >= images.size()) {
      return Status::internal("the projector produced an unexpected chunk");
    }
    PromptImage image;
    image.start = prompt.tokens.size();
    image.n_tokens = mtmd_input_chunk_get_n_tokens(chunk);
    image.n_pos = static_cast<size_t>(mtmd_input_chunk_get_n_pos(chunk));
    image.url = images[next_image++]->url;
    image.chunk = std::shared_ptr<mtmd_input_chunk>(mtmd_input_chunk_copy(chunk), mtmd_input_chunk_free);
    const char* id = mtmd_input_chunk_get_id(chunk);
    prompt.tokens.insert(prompt.tokens.end(), image.n_tokens, image_ids().placeholder(id ? id : ""));
    prompt.images.push_back(std::move(image));
  }
  return prompt;
}

std::shared_ptr<EmbeddingHold> VisionEncoder::take_hold() {
  std::unique_lock lock(budget_->mu);
  budget_->cv.wait(lock, [&] { return budget_->stopping || budget_->holds < budget_->max_holds; });
  if (budget_->stopping) return nullptr;
  ++budget_->holds;
  return std::make_shared<EmbeddingHold>([budget = budget_] {
    {
      std::lock_guard give_back_lock(budget->mu);
      --budget->holds;
    }
    budget->cv.notify_all();
  });
}

Status VisionEncoder::encode(VisionPrompt& prompt) {
  prompt.hold = take_hold();
  if (!prompt.hold) return shutting_down();
  std::lock_guard lock(encode_mu_);
  for (PromptImage& image : prompt.images) {
    const char* id = mtmd_input_chunk_get_id(image.chunk.get());
    const std::string key = id != nullptr ? id : "";
    auto cached = std::find_if(recent_.begin(), recent_.end(), [&](const auto& r) { return r.first == key; });
    if (!key.empty() && cached != recent_.end()) {
      image.embeddings = cached->second;
      continue;
    }
    if (mtmd_encode_chunk(mtmd_, image.chunk.get()) != 0) {
      return Status::internal("the projector failed to encode the image at " + describe_image_url(image.url));
    }
    ++images_encoded_;
    const float* embd = mtmd_get_output_embd(mtmd_);
    image.embeddings.assign(embd, embd + image.n_tokens * static_cast<size_t>(n_embd_));
    if (key.empty()) continue;
    recent_.emplace_front(key, image.embeddings);
    if (recent_.size() > kRecentEmbeddings) recent_.pop_back();
  }
  return Status::ok();
}

Status VisionEncoder::decode(llama_context* ctx, PromptImage& image, llama_pos pos, llama_seq_id seq) {
  llama_pos new_pos = 0;
  const int32_t rc =
      mtmd_helper_decode_image_chunk(mtmd_, ctx, image.chunk.get(), image.embeddings.data(), pos, seq,
                                     static_cast<int32_t>(llama_n_batch(ctx)), &new_pos, nullptr, nullptr);
  std::vector<float>().swap(image.embeddings);
  if (rc != 0)
    return Status::internal("decoding the image's embeddings failed with code " + std::to_string(rc));
  return Status::ok();
}

int64_t VisionEncoder::images_encoded() {
  std::lock_guard lock(encode_mu_);
  return images_encoded_;
}

void VisionEncoder::post(Priority priority, std::function<void(bool)> task) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      tasks_[static_cast<int>(priority)].push_back(std::move(task));
      cv_.notify_all();
      return;
    }
  }
  task(false);
}

void VisionEncoder::worker() {
  for (;;) {
    std::function<void(bool)> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !tasks_[0].empty() || !tasks_[1].empty(); });
      if (stopping_) return;
      auto& q = tasks_[0].empty() ? tasks_[1] : tasks_[0];
      task = std::move(q.front());
      q.pop_front();
    }
    task(true);
  }
}

void VisionEncoder::shutdown() {
  std::deque<std::function<void(bool)>> left;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    if (budget_) {
      std::lock_guard budget_lock(budget_->mu);
      budget_->stopping = true;
      budget_->cv.notify_all();
    }
    for (auto& q : tasks_) {
      for (auto& t : q) left.push_back(std::move(t));
      q.clear();
    }
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& t : left) t(false);
}

}  // namespace openbatch::engine
