#include "engine/router.h"

#include <utility>

namespace openbatch::engine {

// A request waiting for its model's load. It ends once: run on the engine (dispatched), or failed before
// that (finished: cancelled, a failed load, shutdown).
struct Router::Pending {
  std::mutex mu;
  bool finished = false;
  bool dispatched = false;
  bool cancel_requested = false;  // cancel came while it was being handed to the engine
  std::shared_ptr<GenerationHandle> inner;
  std::function<std::shared_ptr<GenerationHandle>(Engine&, std::function<void()>)> start;
  std::function<void(Status)> fail;
  uint64_t seq = 0;

  // Fails it unless it already ended or runs. Returns whether it did.
  bool end(Status status) {
    std::function<void(Status)> f;
    {
      std::lock_guard lock(mu);
      if (finished || dispatched) return false;
      finished = true;
      f = std::move(fail);
    }
    f(std::move(status));
    return true;
  }
};

class Router::PendingHandle final : public GenerationHandle {
 public:
  explicit PendingHandle(std::shared_ptr<Pending> p) : p_(std::move(p)) {}
  void cancel() override {
    std::shared_ptr<GenerationHandle> inner;
    {
      std::lock_guard lock(p_->mu);
      if (p_->dispatched) {
        inner = p_->inner;
        if (!inner) p_->cancel_requested = true;
      }
    }
    if (inner) return inner->cancel();
    p_->end(request_cancelled());
  }

 private:
  std::shared_ptr<Pending> p_;
};

namespace {

std::shared_ptr<GenerationHandle> ended() {
  class Ended final : public GenerationHandle {
   public:
    void cancel() override {}
  };
  return std::make_shared<Ended>();
}

}  // namespace

struct Router::Slot {
  RoutedModel config;
  ModelInfo info;  // state kept current
  std::unique_ptr<Engine> engine;
  int64_t in_flight = 0;  // work handed to engine and not yet done (and token counts running)
  uint64_t last_used = 0;
  std::deque<std::shared_ptr<Pending>> waiting;
};

namespace {

// Runs once, then never again (a callback that must release its slot exactly once).
std::function<void()> once(std::function<void()> f) {
  auto shared = std::make_shared<std::function<void()>>(std::move(f));
  return [shared] {
    if (*shared) std::exchange(*shared, nullptr)();
  };
}

}  // namespace

Router::Router(std::vector<RoutedModel> models, RouterOptions options) : options_(std::move(options)) {
  for (RoutedModel& m : models) {
    auto slot = std::make_unique<Slot>();
    slot->info = m.info;
    slot->info.state = ModelState::kUnloaded;
    slot->config = std::move(m);
    slots_.push_back(std::move(slot));
  }
}

Result<std::unique_ptr<Router>> Router::start(std::vector<RoutedModel> models, RouterOptions options) {
  std::unique_ptr<Router> router(new Router(std::move(models), std::move(options)));
  Status status;
  std::thread loading([&] {
    std::unique_lock lock(router->mu_);
    for (auto& slot : router->slots_) {
      if (router->options_.models_max > 0 && slot->config.counts_toward_limit) continue;
      if (status = router->load_slot(lock, *slot); !status) return;
    }
  });
  loading.join();
  if (!status) {
    router->shutdown();
    return status;
  }
  router->first_ = router->models().front();
  router->loader_ = std::thread([r = router.get()] { r->run_loader(); });
  return router;
}

Router::~Router() {
  shutdown();
  // The engines go first, while their slots (which the work they end releases) are whole.
  for (auto& slot : slots_) slot->engine.reset();
}

void Router::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

std::vector<ModelInfo> Router::models() const {
  std::lock_guard lock(mu_);
  std::vector<ModelInfo> out;
  out.reserve(slots_.size());
  for (const auto& slot : slots_) out.push_back(slot->info);
  return out;
}

std::vector<ReplicaMetrics> Router::replicas() const {
  std::lock_guard lock(mu_);
  std::vector<ReplicaMetrics> out;
  for (const auto& slot : slots_) {
    if (!slot->engine) continue;
    for (ReplicaMetrics& r : slot->engine->replicas()) out.push_back(std::move(r));
  }
  return out;
}

Router::Slot* Router::find_slot(std::string_view name) {
  if (name.empty()) return slots_.front().get();
  for (auto& slot : slots_) {
    if (is_named(slot->info, name)) return slot.get();
  }
  return nullptr;
}

void Router::release(Slot& slot) {
  {
    std::lock_guard lock(mu_);
    if (--slot.in_flight > 0) return;
  }
  cv_.notify_all();  // the model may now be unloaded to make room
}

std::shared_ptr<GenerationHandle> Router::route(
    std::string_view name,
    std::function<std::shared_ptr<GenerationHandle>(Engine&, std::function<void()>)> start,
    std::function<void(Status)> fail) {
  std::unique_lock lock(mu_);
  if (stopping_) {
    lock.unlock();
    fail(shutting_down());
    return ended();
  }
  Slot* slot = find_slot(name);
  if (slot == nullptr) {
    lock.unlock();
    fail(model_not_found(name));
    return ended();
  }
  slot->last_used = ++tick_;
  if (slot->engine) {
    // In flight before the lock is let go: the engine stays loaded until release.
    ++slot->in_flight;
    Engine& engine = *slot->engine;
    lock.unlock();
    return start(engine, once([this, slot] { release(*slot); }));
  }
  auto pending = std::make_shared<Pending>();
  pending->start = std::move(start);
  pending->fail = std::move(fail);
  pending->seq = tick_;
  slot->waiting.push_back(pending);
  lock.unlock();
  cv_.notify_all();
  return std::make_shared<PendingHandle>(std::move(pending));
}

std::shared_ptr<GenerationHandle> Router::submit(GenerationRequest request, GenerationCallbacks callbacks) {
  const std::string name = request.model;
  auto shared = std::make_shared<std::pair<GenerationRequest, GenerationCallbacks>>(std::move(request),
                                                                                    std::move(callbacks));
  return route(
      name,
      [shared](Engine& engine, std::function<void()> release) {
        GenerationCallbacks cb = std::move(shared->second);
        cb.on_done = [done = std::move(cb.on_done), release](Result<Generation> result) {
          release();
          done(std::move(result));
        };
        return engine.submit(std::move(shared->first), std::move(cb));
      },
      [shared](Status status) { shared->second.on_done(std::move(status)); });
}

void Router::embed(EmbeddingRequest request, EmbeddingsDone done) {
  const std::string name = request.model;
  auto shared =
      std::make_shared<std::pair<EmbeddingRequest, EmbeddingsDone>>(std::move(request), std::move(done));
  route(
      name,
      [shared](Engine& engine, std::function<void()> release) {
        engine.embed(std::move(shared->first),
                     [done = std::move(shared->second), release](Result<Embeddings> r) {
                       release();
                       done(std::move(r));
                     });
        return std::shared_ptr<GenerationHandle>();
      },
      [shared](Status status) { shared->second(std::move(status)); });
}

Result<int> Router::count_prompt_tokens(const GenerationRequest& request) {
  std::unique_lock lock(mu_);
  Slot* slot = find_slot(request.model);
  if (slot == nullptr) return model_not_found(request.model);
  if (!slot->engine) return estimate_prompt_tokens(request);
  ++slot->in_flight;
  Engine& engine = *slot->engine;
  lock.unlock();
  Result<int> n = engine.count_prompt_tokens(request);
  release(*slot);
  return n;
}

int Router::loaded_counted() const {
  int n = 0;
  for (const auto& slot : slots_) {
    if (slot->config.counts_toward_limit && slot->engine) ++n;
  }
  return n;
}

Router::Slot* Router::next_to_load() {
  Slot* best = nullptr;
  for (auto& slot : slots_) {
    auto& w = slot->waiting;
    // Requests cancelled while waiting need no model.
    while (!w.empty()) {
      std::lock_guard lock(w.front()->mu);
      if (!w.front()->finished) break;
      w.pop_front();
    }
    if (slot->engine || w.empty()) continue;
    if (best == nullptr || w.front()->seq < best->waiting.front()->seq) best = slot.get();
  }
  return best;
}

Router::Slot* Router::idle_victim() {
  Slot* victim = nullptr;
  for (auto& slot : slots_) {
    if (!slot->engine || !slot->config.counts_toward_limit || slot->in_flight > 0) continue;
    if (victim == nullptr || slot->last_used < victim->last_used) victim = slot.get();
  }
  return victim;
}

Status Router::load_slot(std::unique_lock<std::mutex>& lock, Slot& slot) {
  slot.info.state = ModelState::kLoading;
  const std::string id = slot.info.id;
  auto load = slot.config.load;
  lock.unlock();
  Result<std::unique_ptr<Engine>> engine = load();
  lock.lock();
  if (!engine) {
    slot.info.state = ModelState::kFailed;
    Status failed =
        Status::unavailable("The model `" + id + "` could not be loaded: " + engine.status().message());
    log(failed.message());
    return failed;
  }
  slot.engine = std::move(engine).value();
  ModelInfo loaded = slot.engine->model_info();
  if (!slot.info.id.empty()) {  // as configured; else as the engine names it
    loaded.id = slot.info.id;
    loaded.aliases = slot.info.aliases;
  }
  loaded.state = ModelState::kLoaded;
  slot.info = std::move(loaded);
  return Status::ok();
}

void Router::run_loader() {
  std::unique_lock lock(mu_);
  bool told_waiting = false;
  while (!stopping_) {
    Slot* slot = next_to_load();
    if (slot == nullptr) {
      cv_.wait(lock);
      continue;
    }
    if (slot->config.counts_toward_limit && options_.models_max > 0 &&
        loaded_counted() >= options_.models_max) {
      Slot* victim = idle_victim();
      if (victim == nullptr) {
        if (!told_waiting) log("model '" + slot->info.id + "' waits for a loaded model to finish its work");
        told_waiting = true;
        cv_.wait(lock);
        continue;
      }
      std::unique_ptr<Engine> engine = std::move(victim->engine);
      victim->info.state = ModelState::kUnloaded;
      const std::string victim_id = victim->info.id;
      lock.unlock();
      log("unloading model '" + victim_id + "' (least recently used) for '" + slot->info.id + "'");
      engine->shutdown();
      engine.reset();
      lock.lock();
      continue;  // look again: what waits may have changed meanwhile
    }
    told_waiting = false;
    Status status = load_slot(lock, *slot);
    std::deque<std::shared_ptr<Pending>> waiting = std::move(slot->waiting);
    slot->waiting.clear();
    if (!status) {
      lock.unlock();
      for (auto& p : waiting) p->end(status);
      lock.lock();
      continue;
    }
    // Each counted in flight before the lock is let go, so that the model stays while they start.
    std::vector<std::shared_ptr<Pending>> starting;
    for (auto& p : waiting) {
      std::lock_guard plock(p->mu);
      if (p->finished) continue;
      p->dispatched = true;
      ++slot->in_flight;
      starting.push_back(p);
    }
    slot->last_used = ++tick_;
    Engine& engine = *slot->engine;
    lock.unlock();
    for (auto& p : starting) {
      auto handle = p->start(engine, once([this, slot] { release(*slot); }));
      bool cancel = false;
      {
        std::lock_guard plock(p->mu);
        p->inner = handle;
        cancel = p->cancel_requested;
      }
      if (cancel && handle) handle->cancel();
    }
    lock.lock();
  }
}

void Router::shutdown() {
  std::vector<std::shared_ptr<Pending>> waiting;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (loader_.joinable() && loader_.get_id() != std::this_thread::get_id()) loader_.join();
  {
    std::lock_guard lock(mu_);
    for (auto& slot : slots_) {
      for (auto& p : slot->waiting) waiting.push_back(p);
      slot->waiting.clear();
    }
  }
  for (auto& p : waiting) p->end(shutting_down());
  // The engines stay (in-flight work may still call back into them) until the router goes; each is
  // told to stop its work now.
  std::vector<Engine*> loaded;
  {
    std::lock_guard lock(mu_);
    for (auto& slot : slots_) {
      if (slot->engine) loaded.push_back(slot->engine.get());
    }
  }
  for (Engine* e : loaded) e->shutdown();
}

}  // namespace openbatch::engine
