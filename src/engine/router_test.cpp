#include "engine/router.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>

namespace openbatch::engine {
namespace {

// What the fake engines saw, shared by a test's engines and its checks: the requests each was given
// (whose callbacks the test ends), loads, shutdowns and the router's log lines.
struct World {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::vector<GenerationCallbacks>> submitted;  // by model id
  std::map<std::string, int> loads, shutdowns;
  std::map<std::string, int> failures_left;  // loads of that model that fail
  std::vector<std::string> log;

  void note(const std::function<void()>& f) {
    {
      std::lock_guard lock(mu);
      f();
    }
    cv.notify_all();
  }
  // Blocks until pred holds (no timeout: a test that hangs is a failure ctest reports).
  void await(const std::function<bool()>& pred) {
    std::unique_lock lock(mu);
    cv.wait(lock, pred);
  }
  // Ends the first open request of model, as its engine would.
  void finish_one(const std::string& id) {
    GenerationCallbacks cb;
    {
      std::lock_guard lock(mu);
      auto& list = submitted[id];
      cb = std::move(list.front());
      list.erase(list.begin());
    }
    Generation g;
    g.text = id;
    cb.on_done(std::move(g));
  }
};

class FakeEngine final : public Engine {
 public:
  FakeEngine(World& world, ModelInfo info) : world_(world), info_(std::move(info)) {}
  const ModelInfo& model_info() const override { return info_; }
  std::shared_ptr<GenerationHandle> submit(GenerationRequest, GenerationCallbacks callbacks) override {
    world_.note([&] { world_.submitted[info_.id].push_back(std::move(callbacks)); });
    return nullptr;
  }
  Result<int> count_prompt_tokens(const GenerationRequest&) override { return 1000; }
  void embed(EmbeddingRequest, EmbeddingsDone done) override {
    Embeddings e;
    e.prompt_tokens = static_cast<int>(info_.id.size());
    done(std::move(e));
  }
  void shutdown() override {
    world_.note([&] { ++world_.shutdowns[info_.id]; });
  }

 private:
  World& world_;
  ModelInfo info_;
};

RoutedModel fake_model(World& world, const std::string& id, std::vector<std::string> aliases = {},
                       bool counts = true) {
  RoutedModel m;
  m.info.id = id;
  m.info.aliases = std::move(aliases);
  m.counts_toward_limit = counts;
  m.load = [&world, id]() -> Result<std::unique_ptr<Engine>> {
    bool fail = false;
    world.note([&] {
      ++world.loads[id];
      if (world.failures_left[id] > 0) {
        --world.failures_left[id];
        fail = true;
      }
    });
    if (fail) return Status::internal("no such file");
    ModelInfo info;
    info.id = id;
    info.parallel = 4;
    return std::unique_ptr<Engine>(new FakeEngine(world, info));
  };
  return m;
}

std::unique_ptr<Router> start_router(World& world, std::vector<RoutedModel> models, int models_max) {
  RouterOptions options;
  options.models_max = models_max;
  options.log = [&world](const std::string& line) { world.note([&] { world.log.push_back(line); }); };
  auto router = Router::start(std::move(models), std::move(options));
  EXPECT_TRUE(router.is_ok()) << router.status().message();
  return std::move(router).value();
}

// A request's outcome, filled by its on_done.
struct Outcome {
  std::mutex mu;
  std::optional<Result<Generation>> result;
};

std::shared_ptr<GenerationHandle> submit(Router& router, const std::string& model,
                                         std::shared_ptr<Outcome> out, World& world) {
  GenerationRequest request;
  request.model = model;
  GenerationCallbacks cb;
  cb.on_done = [out, &world](Result<Generation> r) { world.note([&] { out->result = std::move(r); }); };
  return router.submit(std::move(request), std::move(cb));
}

GenerationRequest named(const std::string& model) {
  GenerationRequest request;
  request.model = model;
  return request;
}

EmbeddingRequest embedding_of(const std::string& model) {
  EmbeddingRequest request;
  request.model = model;
  return request;
}

ModelState state_of(const Router& router, const std::string& id) {
  for (const ModelInfo& m : router.models())
    if (m.id == id) return m.state;
  return ModelState::kFailed;
}

TEST(RouterTest, RoutesByIdAndAliasAnEmptyNameToTheFirstAndAnUnknownOneIsModelNotFound) {
  World world;
  auto router = start_router(world, {fake_model(world, "a"), fake_model(world, "b", {"bee"})}, 0);
  EXPECT_EQ(world.loads["a"], 1);
  EXPECT_EQ(world.loads["b"], 1);
  EXPECT_EQ(router->model_info().id, "a");
  EXPECT_EQ(router->model_info().parallel, 4);  // the engine's, once loaded
  ASSERT_EQ(router->models().size(), 2u);
  EXPECT_EQ(router->models()[1].aliases, std::vector<std::string>{"bee"});
  EXPECT_EQ(router->models()[1].state, ModelState::kLoaded);

  for (const char* name : {"", "a", "bee", "b"}) submit(*router, name, std::make_shared<Outcome>(), world);
  EXPECT_EQ(world.submitted["a"].size(), 2u);
  EXPECT_EQ(world.submitted["b"].size(), 2u);

  auto unknown = std::make_shared<Outcome>();
  submit(*router, "c", unknown, world)->cancel();  // a no-op
  ASSERT_TRUE(unknown->result.has_value());
  EXPECT_EQ(unknown->result->status().code(), "model_not_found");
  EXPECT_EQ(router->count_prompt_tokens(named("c")).status().code(), "model_not_found");
  EXPECT_EQ(*router->count_prompt_tokens(named("bee")), 1000);
  std::optional<Result<Embeddings>> embedded;
  router->embed(embedding_of("bee"), [&](Result<Embeddings> r) { embedded = std::move(r); });
  ASSERT_TRUE(embedded && embedded->is_ok());
  EXPECT_EQ((*embedded)->prompt_tokens, 1);  // b's engine answered
  for (const char* id : {"a", "a", "b", "b"}) world.finish_one(id);
}

TEST(RouterTest, AFailedLoadAtStartFailsTheStart) {
  World world;
  world.failures_left["b"] = 1;
  auto router = Router::start({fake_model(world, "a"), fake_model(world, "b")}, {});
  ASSERT_FALSE(router.is_ok());
  EXPECT_NE(router.status().message().find("`b` could not be loaded: no such file"), std::string::npos);
  EXPECT_EQ(world.shutdowns["a"], 1);
}

TEST(RouterTest, WithModelsMaxAModelLoadsOnDemandAndTheIdleLeastRecentlyUsedOneMakesRoom) {
  World world;
  auto router =
      start_router(world, {fake_model(world, "a"), fake_model(world, "b"), fake_model(world, "c")}, 2);
  EXPECT_EQ(world.loads.size(), 0u);
  EXPECT_EQ(state_of(*router, "a"), ModelState::kUnloaded);
  GenerationRequest text;
  text.model = "a";
  text.messages.emplace_back();
  text.messages.back().content = "12345678";
  EXPECT_EQ(*router->count_prompt_tokens(text), 2);  // estimated: nothing loaded to count

  auto first = std::make_shared<Outcome>();
  submit(*router, "a", first, world);
  world.await([&] { return world.submitted["a"].size() == 1; });
  EXPECT_EQ(state_of(*router, "a"), ModelState::kLoaded);
  EXPECT_EQ(*router->count_prompt_tokens(text), 1000);
  world.finish_one("a");
  ASSERT_TRUE(first->result && first->result->is_ok());
  EXPECT_EQ((*first->result)->text, "a");

  submit(*router, "b", std::make_shared<Outcome>(), world);
  world.await([&] { return world.submitted["b"].size() == 1; });
  world.finish_one("b");
  // Both idle, a used least recently: c takes its place.
  submit(*router, "c", std::make_shared<Outcome>(), world);
  world.await([&] { return world.submitted["c"].size() == 1; });
  EXPECT_EQ(world.shutdowns["a"], 1);
  EXPECT_EQ(world.shutdowns["b"], 0);
  EXPECT_EQ(state_of(*router, "a"), ModelState::kUnloaded);
  EXPECT_EQ(state_of(*router, "b"), ModelState::kLoaded);
  world.finish_one("c");
}

TEST(RouterTest, AModelWithWorkInFlightIsNeverUnloadedTheRequestWaitsForIt) {
  World world;
  auto router = start_router(world, {fake_model(world, "a"), fake_model(world, "b")}, 1);
  submit(*router, "a", std::make_shared<Outcome>(), world);
  world.await([&] { return world.submitted["a"].size() == 1; });

  auto waiting = std::make_shared<Outcome>();
  submit(*router, "b", waiting, world);
  world.await([&] { return !world.log.empty() && world.log.back().find("'b' waits") != std::string::npos; });
  EXPECT_EQ(state_of(*router, "a"), ModelState::kLoaded);
  EXPECT_EQ(state_of(*router, "b"), ModelState::kUnloaded);
  EXPECT_EQ(world.shutdowns["a"], 0);
  EXPECT_FALSE(waiting->result.has_value());

  world.finish_one("a");  // a is idle now: it goes, b comes, the waiting request runs
  world.await([&] { return world.submitted["b"].size() == 1; });
  EXPECT_EQ(world.shutdowns["a"], 1);
  EXPECT_EQ(state_of(*router, "a"), ModelState::kUnloaded);
  EXPECT_EQ(state_of(*router, "b"), ModelState::kLoaded);
  world.finish_one("b");
  ASSERT_TRUE(waiting->result && waiting->result->is_ok());
  EXPECT_EQ((*waiting->result)->text, "b");
}

TEST(RouterTest, CancelEndsAWaitingRequestAtOnceAndShutdownEndsTheOthers) {
  World world;
  auto router = start_router(world, {fake_model(world, "a"), fake_model(world, "b")}, 1);
  submit(*router, "a", std::make_shared<Outcome>(), world);
  world.await([&] { return world.submitted["a"].size() == 1; });
  auto cancelled = std::make_shared<Outcome>();
  auto handle = submit(*router, "b", cancelled, world);
  auto stopped = std::make_shared<Outcome>();
  submit(*router, "b", stopped, world);
  std::optional<Result<Embeddings>> embedding;
  router->embed(embedding_of("b"), [&](Result<Embeddings> r) { embedding = std::move(r); });

  handle->cancel();
  ASSERT_TRUE(cancelled->result.has_value());
  EXPECT_EQ(cancelled->result->status().code(), "request_cancelled");
  handle->cancel();  // again: nothing more
  EXPECT_FALSE(stopped->result.has_value());

  router->shutdown();
  ASSERT_TRUE(stopped->result.has_value());
  EXPECT_EQ(stopped->result->status().message(), shutting_down().message());
  ASSERT_TRUE(embedding.has_value());
  EXPECT_EQ(embedding->status().message(), shutting_down().message());
  EXPECT_EQ(world.shutdowns["a"], 1);
  EXPECT_EQ(world.loads["b"], 0);
  auto late = std::make_shared<Outcome>();
  submit(*router, "a", late, world);
  EXPECT_EQ(late->result->status().message(), shutting_down().message());
  world.finish_one("a");
}

TEST(RouterTest, AFailedLoadEndsItsWaitingRequestsAndTheNextRequestTriesAgain) {
  World world;
  world.failures_left["b"] = 1;
  auto router = start_router(world, {fake_model(world, "a"), fake_model(world, "b")}, 1);
  auto failed = std::make_shared<Outcome>();
  submit(*router, "b", failed, world);
  world.await([&] { return failed->result.has_value(); });
  EXPECT_TRUE(failed->result->status().is_unavailable());
  EXPECT_NE(failed->result->status().message().find("`b` could not be loaded: no such file"),
            std::string::npos);
  EXPECT_EQ(state_of(*router, "b"), ModelState::kFailed);

  auto retried = std::make_shared<Outcome>();
  submit(*router, "b", retried, world);
  world.await([&] { return world.submitted["b"].size() == 1; });
  EXPECT_EQ(world.loads["b"], 2);
  EXPECT_EQ(state_of(*router, "b"), ModelState::kLoaded);
  world.finish_one("b");
  EXPECT_TRUE(retried->result && retried->result->is_ok());
}

TEST(RouterTest, AModelThatDoesNotCountLoadsAtStartAndStays) {
  World world;
  auto router = start_router(
      world, {fake_model(world, "a"), fake_model(world, "b"), fake_model(world, "pool", {}, false)}, 1);
  EXPECT_EQ(world.loads["pool"], 1);
  EXPECT_EQ(state_of(*router, "pool"), ModelState::kLoaded);
  for (const char* id : {"a", "b"}) {
    submit(*router, id, std::make_shared<Outcome>(), world);
    world.await([&] { return world.submitted[id].size() == 1; });
    world.finish_one(id);
  }
  EXPECT_EQ(world.shutdowns["a"], 1);  // b took a's room; the pool took none
  EXPECT_EQ(world.shutdowns["pool"], 0);
  EXPECT_EQ(state_of(*router, "pool"), ModelState::kLoaded);
}

}  // namespace
}  // namespace openbatch::engine
