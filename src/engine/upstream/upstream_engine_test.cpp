#include "engine/upstream/upstream_engine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <future>

#include "engine/upstream/chat_body.h"
#include "engine/upstream/upstream_server_for_test.h"

namespace openbatch::engine::upstream {
namespace {

using nlohmann::json;
using testing::UpstreamServer;
using namespace std::chrono_literals;

UpstreamOptions options_for(std::vector<std::string> urls) {
  UpstreamOptions o;
  o.base_urls = std::move(urls);
  o.model = "upstream-model";
  o.model_ids = {"gpt-4o-mini"};
  o.parallel = 2;
  o.first_backoff = 5ms;
  o.max_backoff = 50ms;
  return o;
}

std::unique_ptr<Engine> start(UpstreamOptions o) {
  auto engine = start_upstream_engine(std::move(o));
  EXPECT_TRUE(engine) << engine.status().message();
  return engine ? std::move(engine).value() : nullptr;
}

GenerationRequest ask(const std::string& text, Priority priority = Priority::kInteractive) {
  GenerationRequest r;
  r.messages = {{"user", text, {}}};
  r.priority = priority;
  return r;
}

// Submits without waiting; the future holds the outcome.
std::future<Result<Generation>> submit(Engine& engine, GenerationRequest request,
                                       std::shared_ptr<GenerationHandle>* handle = nullptr) {
  auto promise = std::make_shared<std::promise<Result<Generation>>>();
  auto future = promise->get_future();
  GenerationCallbacks callbacks;
  callbacks.on_done = [promise](Result<Generation> r) { promise->set_value(std::move(r)); };
  auto h = engine.submit(std::move(request), std::move(callbacks));
  if (handle) *handle = h;
  return future;
}

TEST(ChatBodyTest, CarriesEveryFieldOfTheRequest) {
  GenerationRequest r;
  r.messages = {{"system", "Answer in JSON.", {}}, {"user", "Look: and this", {}}};
  r.messages[1].images = {{6, "https://example.com/a.png", nullptr, ""},
                          {14, "data:image/png;base64,AAAA", nullptr, "low"}};
  r.sampling.temperature = 0.2f;
  r.sampling.seed = 42;
  r.sampling.logit_bias = {{17, -100.0f}};
  r.max_tokens = 64;
  r.stop = {"\n\n"};
  r.response_format = ResponseFormat::kJsonSchema;
  r.json_schema = R"({"type":"object"})";
  r.json_schema_name = "movie";
  r.json_schema_strict = true;
  r.logprobs = true;
  r.top_logprobs = 3;
  const json body = chat_body(r, "qwen");
  EXPECT_EQ(body["model"], "qwen");
  EXPECT_EQ(body["messages"][0], json({{"role", "system"}, {"content", "Answer in JSON."}}));
  EXPECT_EQ(body["messages"][1]["content"], json::parse(R"([{"type":"text","text":"Look: "},
                            {"type":"image_url","image_url":{"url":"https://example.com/a.png"}},
                            {"type":"text","text":"and this"},
                            {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"low"}}])"));
  EXPECT_FLOAT_EQ(body["temperature"].get<float>(), 0.2f);
  EXPECT_EQ(body["seed"], 42);
  EXPECT_EQ(body["logit_bias"], json({{"17", -100.0}}));
  EXPECT_EQ(body["max_tokens"], 64);
  EXPECT_EQ(body["stop"], json({"\n\n"}));
  EXPECT_EQ(body["response_format"], json::parse(R"({"type":"json_schema","json_schema":
      {"name":"movie","schema":{"type":"object"},"strict":true}})"));
  EXPECT_EQ(body["logprobs"], true);
  EXPECT_EQ(body["top_logprobs"], 3);
  EXPECT_FALSE(body.contains("ignore_eos"));
  EXPECT_FALSE(body.contains("presence_penalty"));
}

TEST(ChatBodyTest, UpstreamErrorsKeepTheirEnvelope) {
  Status s =
      upstream_error(400, R"({"error":{"message":"bad","type":"invalid_request_error","param":"messages",
                                      "code":"invalid_value"}})",
                     "http://up/v1");
  EXPECT_TRUE(s.is_invalid_argument());
  EXPECT_EQ(s.code(), "invalid_value");
  EXPECT_EQ(s.param(), "messages");
  EXPECT_EQ(s.message(), "bad");
  EXPECT_EQ(upstream_error(500, R"({"error":{"message":"boom"}})", "http://up/v1").message(),
            "http://up/v1: boom");
  Status plain = upstream_error(502, "<html>Bad Gateway</html>", "http://up/v1");
  EXPECT_EQ(plain.type(), "server_error");
  EXPECT_EQ(plain.message(), "http://up/v1 answered HTTP 502: <html>Bad Gateway</html>");
  EXPECT_EQ(parse_chat_completion(json::parse(R"({"object":"list"})")).status().status_code(),
            StatusCode::kBadGateway);
}

TEST(UpstreamEngineTest, AnswersWithTheUpstreamsCompletion) {
  UpstreamServer server;
  auto engine = start(options_for({server.base_url()}));
  ASSERT_TRUE(engine);
  EXPECT_EQ(engine->model_info().id, "gpt-4o-mini");
  GenerationRequest r = ask("abc");
  r.logprobs = true;
  r.top_logprobs = 1;
  std::string streamed;
  int chunks = 0;
  auto promise = std::make_shared<std::promise<Result<Generation>>>();
  GenerationCallbacks callbacks;
  callbacks.on_delta = [&streamed, &chunks](GenerationDelta delta) {
    streamed += delta.content;
    ++chunks;
    EXPECT_EQ(delta.logprobs.size(), 1u);
  };
  callbacks.on_done = [promise](Result<Generation> g) { promise->set_value(std::move(g)); };
  engine->submit(r, std::move(callbacks));
  Result<Generation> g = promise->get_future().get();
  ASSERT_TRUE(g) << g.status().message();
  EXPECT_EQ(g->text, "cba");
  EXPECT_EQ(streamed, "cba");
  EXPECT_EQ(g->finish_reason, FinishReason::kStop);
  EXPECT_EQ(g->prompt_tokens, 7);
  EXPECT_EQ(g->completion_tokens, 3);
  EXPECT_EQ(g->cached_tokens, 2);
  ASSERT_EQ(g->logprobs.size(), 3u);
  EXPECT_EQ(g->logprobs[0].token, "c");
  EXPECT_FLOAT_EQ(g->logprobs[0].logprob, -0.5f);
  ASSERT_EQ(g->logprobs[0].top.size(), 1u);
  EXPECT_EQ(server.bodies().at(0)["model"], "upstream-model");
  EXPECT_EQ(server.bodies().at(0)["stream"], true);  // asked with on_delta: streamed
  EXPECT_EQ(chunks, 3);

  // Without on_delta the answer is asked for whole.
  Result<Generation> whole = generate(*engine, ask("xyz"));
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->text, "zyx");
  EXPECT_EQ(whole->completion_tokens, 3);
  EXPECT_FALSE(server.bodies().at(1).contains("stream"));
}

TEST(UpstreamEngineTest, EmbeddingsComeBackInInputOrderAtUnitLength) {
  UpstreamServer server;
  auto engine = start(options_for({server.base_url()}));
  std::promise<Result<Embeddings>> promise;
  EmbeddingRequest request;
  request.inputs = {{"abc", {}}, {"", {1, 2, 3, 4}}};
  engine->embed(request, [&promise](Result<Embeddings> r) { promise.set_value(std::move(r)); });
  Result<Embeddings> e = promise.get_future().get();
  ASSERT_TRUE(e) << e.status().message();
  ASSERT_EQ(e->vectors.size(), 2u);
  EXPECT_NEAR(e->vectors[0][0], 3 / std::sqrt(10.0), 1e-6);
  EXPECT_NEAR(e->vectors[1][0], 4 / std::sqrt(17.0), 1e-6);
  EXPECT_EQ(e->prompt_tokens, 11);
  const json body = server.bodies().at(0);
  EXPECT_EQ(body["model"], "upstream-model");
  EXPECT_EQ(body["input"], json::parse(R"(["abc", [1, 2, 3, 4]])"));
  EXPECT_EQ(body["encoding_format"], "float");
}

TEST(UpstreamEngineTest, AsksTheUpstreamForItsModelWhenNoneIsNamed) {
  UpstreamServer server;
  UpstreamOptions o = options_for({server.base_url() + "/"});
  o.model.clear();
  o.model_ids.clear();
  auto engine = start(o);
  ASSERT_TRUE(engine);
  EXPECT_EQ(engine->model_info().id, "upstream-model");
  ASSERT_TRUE(generate(*engine, ask("x")));
  EXPECT_EQ(server.bodies().at(0)["model"], "upstream-model");

  o.base_urls = {"http://127.0.0.1:1/v1"};  // nothing listens there
  auto unreachable = start_upstream_engine(o);
  ASSERT_FALSE(unreachable);
  EXPECT_NE(unreachable.status().message().find("127.0.0.1:1"), std::string::npos);
}

TEST(UpstreamEngineTest, RetriesABusyUpstreamAsRetryAfterSays) {
  UpstreamServer server;
  server.fail_next(2, 429, R"({"error":{"message":"slow down","type":"rate_limit_error"}})", "0");
  auto engine = start(options_for({server.base_url()}));
  Result<Generation> g = generate(*engine, ask("hello"));
  ASSERT_TRUE(g) << g.status().message();
  EXPECT_EQ(g->text, "olleh");
  EXPECT_EQ(server.bodies().size(), 3u);
}

TEST(UpstreamEngineTest, GivesUpAfterItsAttempts) {
  UpstreamServer server;
  UpstreamOptions o = options_for({server.base_url()});
  o.max_attempts = 3;
  auto engine = start(o);
  server.fail_next(3, 503, "overloaded");
  Result<Generation> busy = generate(*engine, ask("a"));
  ASSERT_FALSE(busy);
  EXPECT_TRUE(busy.status().is_unavailable());  // a batch runs it again later
  EXPECT_NE(busy.status().message().find("overloaded"), std::string::npos);
  EXPECT_EQ(server.bodies().size(), 3u);

  server.fail_next(3, 500, R"({"error":{"message":"boom","type":"server_error"}})");
  Result<Generation> broken = generate(*engine, ask("b"));
  ASSERT_FALSE(broken);
  EXPECT_TRUE(broken.status().is_internal());  // the upstream's own failure, to the error file
  EXPECT_EQ(server.bodies().size(), 6u);
}

TEST(UpstreamEngineTest, PassesTheRequestsOwnErrorsOnAtOnce) {
  UpstreamServer server;
  auto engine = start(options_for({server.base_url()}));
  server.fail_next(1, 400,
                   R"({"error":{"message":"This model's maximum context length is 8 tokens.",
                       "type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}})");
  Result<Generation> g = generate(*engine, ask("a long prompt"));
  ASSERT_FALSE(g);
  EXPECT_TRUE(g.status().is_invalid_argument());
  EXPECT_EQ(g.status().code(), "context_length_exceeded");
  EXPECT_EQ(g.status().param(), "messages");
  EXPECT_EQ(server.bodies().size(), 1u);
}

TEST(UpstreamEngineTest, AnUnreachableUpstreamLeavesTheWorkToTheOthers) {
  UpstreamServer server;
  UpstreamOptions o = options_for({"http://127.0.0.1:1/v1", server.base_url()});
  o.max_attempts = 2;  // a retry goes to the other upstream: one failure at most
  auto engine = start(o);
  std::vector<std::future<Result<Generation>>> outcomes;
  for (int i = 0; i < 16; ++i)
    outcomes.push_back(submit(*engine, ask("n" + std::to_string(i), Priority::kBatch)));
  for (int i = 0; i < 16; ++i) {
    Result<Generation> g = outcomes[i].get();
    ASSERT_TRUE(g) << g.status().message();
    const std::string asked = "n" + std::to_string(i);
    EXPECT_EQ(g->text, std::string(asked.rbegin(), asked.rend()));
  }
  EXPECT_EQ(server.bodies().size(), 16u);
}

TEST(UpstreamEngineTest, WithEveryUpstreamOutARequestEndsIn503AfterItsAttempts) {
  UpstreamOptions o = options_for({"http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"});  // nothing listens
  o.max_attempts = 4;
  auto engine = start(o);
  std::vector<std::future<Result<Generation>>> outcomes;
  for (int i = 0; i < 8; ++i)
    outcomes.push_back(submit(*engine, ask("n" + std::to_string(i), Priority::kBatch)));
  for (auto& outcome : outcomes) {
    ASSERT_EQ(outcome.wait_for(20s), std::future_status::ready);
    EXPECT_TRUE(outcome.get().status().is_unavailable());  // a batch runs it again later
  }
  for (const ReplicaMetrics& r : engine->replicas()) {
    EXPECT_FALSE(r.healthy);
    EXPECT_GT(r.errors, 0);
  }
}

TEST(UpstreamEngineTest, AFoundLimitStaysWithinTheSlotsTheServerSays) {
  UpstreamServer slotted, silent;  // silent: no /props (vLLM, OpenAI)
  slotted.set_slots(3);
  UpstreamOptions o = options_for({slotted.base_url(), silent.base_url()});
  o.parallel = 0;
  o.max_parallel = 16;
  o.routing = Routing::kRoundRobin;
  auto engine = start(o);
  EXPECT_EQ(engine->model_info().parallel, 3 + 16);
  auto replicas = engine->replicas();
  EXPECT_EQ(replicas[0].concurrency_limit, 3);  // under the first limit, 8
  EXPECT_EQ(replicas[1].concurrency_limit, 8);
  slotted.hold();
  silent.hold();
  std::vector<std::future<Result<Generation>>> outcomes;
  for (int i = 0; i < 16; ++i)
    outcomes.push_back(submit(*engine, ask("q" + std::to_string(i), Priority::kBatch)));
  slotted.wait_for_calls(3);
  silent.wait_for_calls(8);
  replicas = engine->replicas();
  EXPECT_EQ(replicas[0].in_flight, 3);
  EXPECT_EQ(replicas[1].in_flight, 8);
  slotted.release();
  silent.release();
  for (auto& outcome : outcomes) EXPECT_TRUE(outcome.get());
  EXPECT_LE(engine->replicas()[0].concurrency_limit, 3);
}

TEST(UpstreamEngineTest, AServerProbedBackIsAskedForItsSlotsAgain) {
  UpstreamServer good, flaky;
  UpstreamOptions o = options_for({good.base_url(), flaky.base_url()});
  o.parallel = 0;
  o.routing = Routing::kRoundRobin;
  o.max_attempts = 10;
  auto engine = start(o);
  ASSERT_EQ(engine->replicas()[1].concurrency_limit, 8);  // no /props at start
  flaky.set_slots(2);
  flaky.fail_next(3, 502);  // taken out, then probed back
  // One at a time, so that its failures come in a row (each is tried again on good).
  for (int i = 0; i < 30 && engine->replicas()[1].errors < 3; ++i) ASSERT_TRUE(generate(*engine, ask("q")));
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!engine->replicas()[1].healthy && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  const ReplicaMetrics back = engine->replicas()[1];
  EXPECT_TRUE(back.healthy);
  EXPECT_GE(back.errors, 3);
  EXPECT_EQ(back.concurrency_limit, 2);
}

TEST(UpstreamEngineTest, CancelStopsASentCallAndAWaitingOne) {
  UpstreamServer server;
  UpstreamOptions o = options_for({server.base_url()});
  o.parallel = 1;
  auto engine = start(o);
  server.hold();
  std::shared_ptr<GenerationHandle> sent, waiting;
  auto sent_outcome = submit(*engine, ask("first"), &sent);
  server.wait_for_calls(1);
  auto waiting_outcome = submit(*engine, ask("second"), &waiting);
  waiting->cancel();
  ASSERT_EQ(waiting_outcome.wait_for(1s), std::future_status::ready);
  EXPECT_TRUE(waiting_outcome.get().status().is_cancelled());
  sent->cancel();
  ASSERT_EQ(sent_outcome.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(sent_outcome.get().status().is_cancelled());
  server.release();
  EXPECT_EQ(server.bodies().size(), 1u);
  ASSERT_TRUE(generate(*engine, ask("third")));  // the worker is free again
}

TEST(UpstreamEngineTest, InteractiveCallsGoAheadOfBatchWork) {
  UpstreamServer server;
  UpstreamOptions o = options_for({server.base_url()});
  o.parallel = 1;
  auto engine = start(o);
  server.hold();
  auto first = submit(*engine, ask("blocker", Priority::kBatch));
  server.wait_for_calls(1);
  auto batch1 = submit(*engine, ask("batch1", Priority::kBatch));
  auto batch2 = submit(*engine, ask("batch2", Priority::kBatch));
  auto chat = submit(*engine, ask("chat", Priority::kInteractive));
  server.release();
  for (auto* f : {&first, &batch1, &batch2, &chat}) ASSERT_TRUE(f->get());
  std::vector<std::string> order;
  for (const json& body : server.bodies()) order.push_back(body["messages"][0]["content"]);
  EXPECT_EQ(order, (std::vector<std::string>{"blocker", "chat", "batch1", "batch2"}));
}

// The threads of this process, as the kernel counts them.
size_t threads_now() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& task : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

TEST(UpstreamEngineTest, WorkersIdleLongerThanWorkerIdleEndAndNewOnesStartForNewWork) {
  UpstreamServer server;
  UpstreamOptions o = options_for({server.base_url()});
  o.parallel = 6;  // under the stand-in's 8 threads, so that all 6 are held at once
  o.worker_idle = 200ms;
  auto engine = start(o);
  // The stand-in's threads start as it listens: counted once one call has been answered, and its
  // worker has ended.
  ASSERT_TRUE(generate(*engine, ask("first")));
  std::this_thread::sleep_for(400ms);
  const size_t before = threads_now();
  server.hold();
  std::vector<std::future<Result<Generation>>> outcomes;
  for (int i = 0; i < 6; ++i)
    outcomes.push_back(submit(*engine, ask("q" + std::to_string(i), Priority::kBatch)));
  server.wait_for_calls(6);
  EXPECT_GE(threads_now(), before + 6);  // a worker a request in flight
  server.release();
  for (auto& outcome : outcomes) ASSERT_TRUE(outcome.get());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (threads_now() > before && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_LE(threads_now(), before);              // idle 200 ms: every worker ended
  ASSERT_TRUE(generate(*engine, ask("again")));  // work starts a worker again
  EXPECT_EQ(engine->replicas()[0].requests, 8);
}

TEST(UpstreamEngineTest, ShutdownAnswersEveryWaitingRequest) {
  UpstreamServer server;
  UpstreamOptions o = options_for({server.base_url()});
  o.parallel = 1;
  auto engine = start(o);
  server.hold();
  auto sent = submit(*engine, ask("sent"));
  server.wait_for_calls(1);
  auto waiting = submit(*engine, ask("waiting"));
  std::thread releaser([&server] {
    std::this_thread::sleep_for(100ms);
    server.release();
  });
  engine->shutdown();
  releaser.join();
  EXPECT_TRUE(waiting.get().status().is_unavailable());
  Result<Generation> s = sent.get();  // stopped midway (503) or answered just before
  EXPECT_TRUE(s || s.status().is_unavailable());
  EXPECT_TRUE(generate(*engine, ask("late")).status().is_unavailable());
}

}  // namespace
}  // namespace openbatch::engine::upstream
