#include "media/image_loading_engine.h"

#include <mutex>
#include <optional>

namespace openbatch::media {

// A request waiting for its images. It is the handle its caller holds: a cancel before the images
// are in ends it here, one after goes on to the wrapped engine's handle.
struct ImageLoadingEngine::PendingRequest final : engine::GenerationHandle {
  std::mutex mu;
  engine::GenerationRequest request;
  engine::GenerationCallbacks callbacks;
  std::vector<engine::ImagePart*> images;  // into request.messages
  std::vector<std::optional<Status>> errors;
  size_t remaining = 0;
  bool cancelled = false;
  std::shared_ptr<engine::GenerationHandle> inner;

  void cancel() override {
    std::shared_ptr<engine::GenerationHandle> h;
    {
      std::lock_guard lock(mu);
      cancelled = true;
      h = inner;
    }
    if (h) h->cancel();
  }
};

ImageLoadingEngine::ImageLoadingEngine(std::unique_ptr<engine::Engine> engine, ImageLoaderOptions options,
                                       RequestImageBudget budget)
    : engine_(std::move(engine)), loader_(std::move(options)), budget_(budget) {}

ImageLoadingEngine::~ImageLoadingEngine() { shutdown(); }

const engine::ModelInfo& ImageLoadingEngine::model_info() const { return engine_->model_info(); }

std::shared_ptr<engine::GenerationHandle> ImageLoadingEngine::submit(engine::GenerationRequest request,
                                                                     engine::GenerationCallbacks callbacks) {
  auto pending = std::make_shared<PendingRequest>();
  if (!engine::has_images(request.messages)) return engine_->submit(std::move(request), std::move(callbacks));
  if (!model_info().has_vision) {
    callbacks.on_done(engine::images_not_supported(model_info()));
    return pending;
  }
  if (Status s = check_image_count(request, budget_); !s) {
    callbacks.on_done(s);
    return pending;
  }
  pending->request = std::move(request);
  pending->callbacks = std::move(callbacks);
  for (auto& m : pending->request.messages) {
    for (auto& image : m.images) pending->images.push_back(&image);
  }
  pending->errors.resize(pending->images.size());
  pending->remaining = pending->images.size();

  for (size_t i = 0; i < pending->images.size(); ++i) {
    // The callback may run before load() returns (data: URLs, cached URLs), on this thread.
    loader_.load(pending->images[i]->url, [this, pending, i](Result<ImageBytes> result) {
      std::unique_lock lock(pending->mu);
      if (result) {
        pending->images[i]->data = std::move(result).value();
      } else {
        pending->errors[i] = result.status();
      }
      if (--pending->remaining > 0) return;
      // The last image is in: the request ends with the first image's error, or goes on.
      std::optional<Status> error;
      for (const auto& e : pending->errors) {
        if (e) {
          error = e;
          break;
        }
      }
      if (!error && pending->cancelled) {
        error = engine::request_cancelled();
      }
      if (!error) {
        const std::vector<const engine::ImagePart*> loaded(pending->images.begin(), pending->images.end());
        if (Status s = check_loaded_images(loaded, budget_); !s) error = s;
      }
      engine::GenerationCallbacks callbacks = std::move(pending->callbacks);
      if (error) {
        lock.unlock();
        callbacks.on_done(*error);
        return;
      }
      engine::GenerationRequest request = std::move(pending->request);
      lock.unlock();
      auto inner = engine_->submit(std::move(request), std::move(callbacks));
      lock.lock();
      pending->inner = inner;
      const bool cancel = pending->cancelled;
      lock.unlock();
      if (cancel) inner->cancel();
    });
  }
  return pending;
}

Result<int> ImageLoadingEngine::count_prompt_tokens(const engine::GenerationRequest& request) {
  if (!engine::has_images(request.messages)) return engine_->count_prompt_tokens(request);
  if (!model_info().has_vision) return engine::images_not_supported(model_info());
  if (Status s = check_image_count(request, budget_); !s) return s;
  engine::GenerationRequest copy = request;
  std::vector<const engine::ImagePart*> loaded;
  for (auto& m : copy.messages) {
    for (auto& image : m.images) {
      auto bytes = loader_.load_now(image.url);
      if (!bytes) return bytes.status();
      image.data = std::move(bytes).value();
      loaded.push_back(&image);
    }
  }
  if (Status s = check_loaded_images(loaded, budget_); !s) return s;
  return engine_->count_prompt_tokens(copy);
}

void ImageLoadingEngine::shutdown() {
  loader_.shutdown();
  engine_->shutdown();
}

}  // namespace openbatch::media
