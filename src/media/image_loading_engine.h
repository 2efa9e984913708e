// The face of media/: an Engine that loads the images of a request (http and https URLs through an
// ImageLoader, data: URLs by decoding them) before it hands the request to the engine it wraps.
// Requests without images pass straight through. A request whose image cannot be loaded ends with
// that image's 400; the wrapped engine never sees it. Loading runs on the loader's threads, never on
// the caller's or the engine's, so a slow server holds up only the requests that wait for its image;
// requests queued ahead of free sequences (the batch runner keeps several per sequence) get their
// images meanwhile.
#pragma once

#include <memory>

#include "engine/engine.h"
#include "media/image_budget.h"
#include "media/image_loader.h"

namespace openbatch::media {

class ImageLoadingEngine final : public engine::Engine {
 public:
  ImageLoadingEngine(std::unique_ptr<engine::Engine> engine, ImageLoaderOptions options,
                     RequestImageBudget budget = {});
  ~ImageLoadingEngine() override;  // shutdown()

  const engine::ModelInfo& model_info() const override;
  std::vector<engine::ModelInfo> models() const override { return engine_->models(); }
  std::vector<engine::ReplicaMetrics> replicas() const override { return engine_->replicas(); }
  // Loads the request's images, then submits it to the wrapped engine. Images are loaded only when the
  // model has vision; otherwise the request ends with a 400 that says the model takes no images.
  std::shared_ptr<engine::GenerationHandle> submit(engine::GenerationRequest request,
                                                   engine::GenerationCallbacks callbacks) override;
  // Loads the images (blocking), then counts on the wrapped engine.
  Result<int> count_prompt_tokens(const engine::GenerationRequest& request) override;
  void embed(engine::EmbeddingRequest request, engine::EmbeddingsDone done) override {
    engine_->embed(std::move(request), std::move(done));
  }
  // Stops loading (waiting requests end with a 503), then shuts the wrapped engine down.
  void shutdown() override;

  ImageLoader& loader() { return loader_; }

 private:
  struct PendingRequest;

  std::unique_ptr<engine::Engine> engine_;
  ImageLoader loader_;
  const RequestImageBudget budget_;
};

}  // namespace openbatch::media
