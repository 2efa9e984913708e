// One model of a node's engine, seen as an engine of that model alone: what a batch's lines are parsed
// against (its ModelInfo: names, images), counted on and run on, each request naming the model so that
// an engine of many models (a router) takes it to that one. For a model the node does not serve (another
// node of the fleet does), counts are OpenAI's estimate (its tokenizer is there) and work is refused.
// Internal to batch/.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/engine.h"

namespace openbatch::batch {

class OneModelEngine final : public engine::Engine {
 public:
  // REQUIRES: inner outlives this.
  OneModelEngine(engine::Engine& inner, std::string_view model) : inner_(inner) {
    if (auto served = find_model(inner, model)) {
      info_ = std::move(*served);
      served_ = true;
    } else {
      info_.id = std::string(model);
      info_.has_vision = true;  // its images are checked where it runs
    }
  }

  // Whether the node's engine serves the model.
  bool served() const { return served_; }

  const engine::ModelInfo& model_info() const override { return info_; }
  std::vector<engine::ModelInfo> models() const override { return {info_}; }
  std::shared_ptr<engine::GenerationHandle> submit(engine::GenerationRequest request,
                                                   engine::GenerationCallbacks callbacks) override {
    if (!served_) {
      callbacks.on_done(not_here());
      return std::make_shared<NoHandle>();
    }
    request.model = info_.id;
    return inner_.submit(std::move(request), std::move(callbacks));
  }
  Result<int> count_prompt_tokens(const engine::GenerationRequest& request) override {
    if (!served_) return engine::estimate_prompt_tokens(request);
    engine::GenerationRequest named = request;
    named.model = info_.id;
    return inner_.count_prompt_tokens(named);
  }
  void embed(engine::EmbeddingRequest request, engine::EmbeddingsDone done) override {
    if (!served_) return done(not_here());
    request.model = info_.id;
    inner_.embed(std::move(request), std::move(done));
  }
  void shutdown() override {}  // the node's engine is its owner's to shut down

 private:
  // The handle of work refused at once: nothing to cancel.
  struct NoHandle final : engine::GenerationHandle {
    void cancel() override {}
  };
  Status not_here() const { return Status::unavailable("The model " + info_.id + " runs on another node."); }

  engine::Engine& inner_;
  engine::ModelInfo info_;
  bool served_ = false;
};

}  // namespace openbatch::batch
