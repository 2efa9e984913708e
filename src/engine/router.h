// An Engine over several models: each request goes to the engine of the model it names
// (GenerationRequest::model, EmbeddingRequest::model; an empty name is the first model). Models either
// stay loaded (all of them by default; upstream pools always), or, with RouterOptions::models_max, load
// on demand: a request for an unloaded model waits in the router until there is room, made by unloading
// the least recently used model that has no work in flight, as llama-server's router mode does.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/model_errors.h"

namespace openbatch::engine {

// One model of a router.
struct RoutedModel {
  // As configured: id, aliases, has_vision, parallel, context_per_sequence. What /v1/models and request
  // parsing see while the model is not loaded; replaced by its engine's (id and aliases kept) once it is.
  // An empty id takes the engine's id and aliases (only for a model loaded at start).
  ModelInfo info;
  // Makes the model's engine (reads the weights, starts the upstream pool). Called on the router's
  // thread, one load at a time; a failure is reported to the requests that waited for it.
  std::function<Result<std::unique_ptr<Engine>>()> load;
  // Whether the model counts toward RouterOptions::models_max and may be unloaded (an embedded model);
  // false: loaded at start and kept (an upstream pool, which holds no weights here).
  bool counts_toward_limit = true;
};

struct RouterOptions {
  // Models that count toward the limit loaded at once; 0: every model loads at start and stays.
  int models_max = 0;
  // Told what the router does (unloading a model, waiting for room, a failed load), a line each, on
  // the router's thread. Optional.
  std::function<void(const std::string& line)> log;
};

// Thread-safe. Callbacks of requests run on the engines' threads or, for a request that never reached
// an engine (cancelled while waiting, a failed load, shutdown), on the thread that ended it.
class Router final : public Engine {
 public:
  // Loads, in order on a thread of the router, every model that does not count toward the limit and,
  // with models_max 0, every other one too; returns when they are loaded, or the first failure (the
  // models loaded so far are shut down). The others start unloaded.
  // REQUIRES: models is not empty; no name (id or alias) is given to two models.
  static Result<std::unique_ptr<Router>> start(std::vector<RoutedModel> models, RouterOptions options);
  ~Router() override;

  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // The first model, as it was when start() returned (later loads and unloads do not change it).
  const ModelInfo& model_info() const override { return first_; }
  // Every model in configured order, with its state.
  std::vector<ModelInfo> models() const override;
  // Those of the loaded models.
  std::vector<ReplicaMetrics> replicas() const override;
  // An unknown model: on_done gets model_not_found. A model not loaded: the request waits for its load
  // (the handle's cancel ends it with request_cancelled(); a failed load with a 503 naming the model).
  std::shared_ptr<GenerationHandle> submit(GenerationRequest request, GenerationCallbacks callbacks) override;
  // The loaded model's count; for a model that is not loaded, estimate_prompt_tokens (nothing is loaded
  // to count). An unknown model: model_not_found.
  Result<int> count_prompt_tokens(const GenerationRequest& request) override;
  // As submit: routed by request.model, waiting for the model's load when it is not loaded.
  void embed(EmbeddingRequest request, EmbeddingsDone done) override;
  // Ends waiting requests with shutting_down(), stops the router's thread and shuts every loaded engine
  // down (their work ends as each engine ends it). Idempotent.
  void shutdown() override;

 private:
  struct Pending;
  class PendingHandle;
  struct Slot;

  Router(std::vector<RoutedModel> models, RouterOptions options);
  void log(const std::string& line) const;
  // The slot named name (the first for an empty name), or null.
  Slot* find_slot(std::string_view name);
  // Runs start on slot's engine when it is loaded; else queues it and wakes the router's thread.
  // Returns the handle that cancels it.
  std::shared_ptr<GenerationHandle> route(
      std::string_view name,
      std::function<std::shared_ptr<GenerationHandle>(Engine&, std::function<void()> release)> start,
      std::function<void(Status)> fail);
  void release(Slot& slot);
  void run_loader();
  // Loads slot (with mu_ held on entry and exit; unlocked meanwhile). Returns the load's status.
  Status load_slot(std::unique_lock<std::mutex>& lock, Slot& slot);
  // The slot the loader should load next (the one whose request has waited longest), or null.
  Slot* next_to_load();
  // The least recently used loaded slot that counts and has nothing in flight, or null.
  Slot* idle_victim();
  int loaded_counted() const;

  RouterOptions options_;
  ModelInfo first_;
  mutable std::mutex mu_;
  std::condition_variable cv_;  // the loader's: a request waits, work ended, shutdown
  std::vector<std::unique_ptr<Slot>> slots_;
  uint64_t tick_ = 0;  // orders uses (LRU) and waiting requests (FIFO)
  bool stopping_ = false;
  std::thread loader_;
};

}  // namespace openbatch::engine
