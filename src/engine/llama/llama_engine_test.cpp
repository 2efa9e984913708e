#include "engine/llama/llama_engine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/temp_dir.h"
#include "testmodels/model_writer.h"

namespace openbatch::engine {
namespace {

using namespace testmodels;  // the test models' writers

class LlamaEngineTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    set_llama_log_level_warn();
    dir_ = new TempDir();
    model_path_ = new std::string(dir_->path() + "/tiny.gguf");
    ASSERT_TRUE(write_random_model(model_shape_by_name("tiny").value(), 0, *model_path_).is_ok());
  }
  static void TearDownTestSuite() {
    delete model_path_;
    delete dir_;
  }

  // data_parallel 0: the engine's own choice (two contexts on two threads when parallel > 1).
  static std::unique_ptr<LlamaEngine> load(int parallel, CascadeAttention cascade = CascadeAttention::kAuto,
                                           int data_parallel = 0) {
    LlamaEngineOptions options;
    options.model_path = *model_path_;
    options.parallel = parallel;
    options.cascade = cascade;
    options.data_parallel = data_parallel;
    options.ctx_size = 1024 * parallel;
    options.threads = 2;
    auto engine = LlamaEngine::load(options);
    EXPECT_TRUE(engine.is_ok()) << engine.status().message();
    return std::move(engine).value();
  }

  static TempDir* dir_;
  static std::string* model_path_;
};

TempDir* LlamaEngineTest::dir_ = nullptr;
std::string* LlamaEngineTest::model_path_ = nullptr;

// A system prompt of a few hundred tokens, shared by every request of a batch as in the guide.
std::string long_system_prompt() {
  std::string text = "Your goal is to extract movie categories from movie descriptions. ";
  for (int i = 0; i < 12; ++i)
    text += "Answer with a JSON object that lists the categories, rule " + std::to_string(i) + ". ";
  return text;
}

GenerationRequest shared_prefix_request(const std::string& user) {
  GenerationRequest request;
  request.messages = {{"system", long_system_prompt(), {}}, {"user", user, {}}};
  request.sampling.temperature = 0.0f;
  request.max_tokens = 8;
  request.ignore_eos = true;
  request.logprobs = true;
  return request;
}

// Shared-prefix reuse, by copying the prefix into each sequence (cascade off) or by reading it in place
// from one sequence (cascade on), must not change what is computed.
class SharedPrefixTest : public LlamaEngineTest, public testing::WithParamInterface<CascadeAttention> {};

// Submits every request at once and returns their generations, in order.
std::vector<Result<Generation>> generate_all(Engine& engine, const std::vector<GenerationRequest>& requests) {
  std::vector<std::future<Result<Generation>>> futures;
  for (const auto& request : requests) {
    auto promise = std::make_shared<std::promise<Result<Generation>>>();
    futures.push_back(promise->get_future());
    engine.submit(request, {nullptr, [promise](Result<Generation> r) { promise->set_value(std::move(r)); }});
  }
  std::vector<Result<Generation>> out;
  for (auto& f : futures) out.push_back(f.get());
  return out;
}

TEST_P(SharedPrefixTest, RequestsComputeASharedPrefixOnceAndGetTheSameLogits) {
  const std::vector<std::string> users = {"A heist in Rome.", "Two robots fall in love.",
                                          "A haunted lighthouse.", "The last chess game."};
  // One context: the prefix reuse between its sequences is what is checked.
  auto engine = load(static_cast<int>(users.size()), GetParam(), /*data_parallel=*/1);
  const int prompt_tokens = engine->count_prompt_tokens(shared_prefix_request(users[0])).value();
  ASSERT_GT(prompt_tokens, 300);

  std::vector<std::future<Result<Generation>>> futures;
  for (const auto& user : users) {
    auto promise = std::make_shared<std::promise<Result<Generation>>>();
    futures.push_back(promise->get_future());
    engine->submit(shared_prefix_request(user),
                   {nullptr, [promise](Result<Generation> r) { promise->set_value(std::move(r)); }});
  }
  int reused = 0;
  for (size_t i = 0; i < users.size(); ++i) {
    Result<Generation> shared = futures[i].get();
    ASSERT_TRUE(shared.is_ok()) << shared.status().message();
    if (shared->cached_tokens >= prompt_tokens - 40) ++reused;
    // The same request alone on a fresh engine computes its whole prompt in its own sequence: every
    // generated token (prefill, then decode steps shared with the other sequences) must have the same
    // distribution.
    // (The same attention kernels: flash attention is off with cascade attention on.)
    auto alone = generate(*load(1, GetParam()), shared_prefix_request(users[i]));
    ASSERT_TRUE(alone.is_ok());
    EXPECT_EQ(alone->cached_tokens, 0);
    EXPECT_EQ(shared->text, alone->text);
    // Cascade attention computes what the plain path computes, up to the order of float sums; flash
    // attention (on when copying) accumulates values in F16, and its sums run over other cell layouts.
    const double tolerance = GetParam() == CascadeAttention::kOn ? 1e-4 : 2e-3;
    ASSERT_EQ(shared->logprobs.size(), 8u);
    ASSERT_EQ(alone->logprobs.size(), 8u);
    for (size_t t = 0; t < 8; ++t) {
      EXPECT_EQ(shared->logprobs[t].token, alone->logprobs[t].token) << "token " << t;
      EXPECT_NEAR(shared->logprobs[t].logprob, alone->logprobs[t].logprob, tolerance) << "token " << t;
    }
  }
  // The prefix is computed once: with one sequence per request, one request computes it; the others
  // wait for it and copy it or link to it.
  EXPECT_EQ(reused, static_cast<int>(users.size()) - 1);
}

// Two contexts over one model: every request runs on one of them, and computes what it computes alone;
// each context computes the shared prefix at most once.
TEST_F(LlamaEngineTest, DataParallelContextsComputeWhatOneContextComputes) {
  std::vector<GenerationRequest> requests;
  for (const char* user : {"A heist in Rome.", "Two robots fall in love.", "A haunted lighthouse.",
                           "The last chess game.", "A storm at sea.", "The end of summer."}) {
    requests.push_back(shared_prefix_request(user));
  }
  auto two = load(static_cast<int>(requests.size()), CascadeAttention::kOff, /*data_parallel=*/2);
  EXPECT_EQ(two->model_info().parallel, 6);
  EXPECT_EQ(two->model_info().contexts, 2);
  const int prompt_tokens = two->count_prompt_tokens(requests[0]).value();
  auto one = load(1, CascadeAttention::kOff, /*data_parallel=*/1);
  const std::vector<Result<Generation>> got = generate_all(*two, requests);
  int reused = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(got[i].is_ok()) << got[i].status().message();
    if (got[i]->cached_tokens >= prompt_tokens - 40) ++reused;
    auto alone = generate(*one, requests[i]);
    ASSERT_TRUE(alone.is_ok());
    EXPECT_EQ(got[i]->text, alone->text);
    ASSERT_EQ(got[i]->logprobs.size(), alone->logprobs.size());
    for (size_t t = 0; t < alone->logprobs.size(); ++t) {
      EXPECT_EQ(got[i]->logprobs[t].token, alone->logprobs[t].token) << "request " << i << " token " << t;
      EXPECT_NEAR(got[i]->logprobs[t].logprob, alone->logprobs[t].logprob, 2e-3) << "request " << i;
    }
  }
  EXPECT_GE(reused, static_cast<int>(requests.size()) - 2);
  // A second wave finds the prefix in both contexts.
  for (const Result<Generation>& g : generate_all(*two, requests)) {
    ASSERT_TRUE(g.is_ok());
    EXPECT_GE(g->cached_tokens, prompt_tokens - 40);
  }
}

// One client's conversation, one request after the other, stays on the first context with room, so each
// request finds the KV of the one before (with two idle contexts either could take it).
TEST_F(LlamaEngineTest, DataParallelKeepsAConversationWhereItsKvIs) {
  auto engine = load(4, CascadeAttention::kOff, /*data_parallel=*/2);
  ASSERT_EQ(engine->model_info().contexts, 2);
  GenerationRequest request = shared_prefix_request("A heist in Rome.");
  request.logprobs = false;
  int before = 0;  // the prompt tokens of the turn before, all of them a prefix of this one's prompt
  for (int turn = 0; turn < 6; ++turn) {
    auto got = generate(*engine, request);
    ASSERT_TRUE(got.is_ok()) << got.status().message();
    if (turn > 0) EXPECT_GE(got->cached_tokens, before - 2) << "turn " << turn;
    before = got->prompt_tokens;
    request.messages.push_back({"assistant", got->text, {}});
    request.messages.push_back({"user", "And then? " + std::to_string(turn), {}});
  }
}

INSTANTIATE_TEST_SUITE_P(CascadeOnAndOff, SharedPrefixTest,
                         testing::Values(CascadeAttention::kOn, CascadeAttention::kOff),
                         [](const testing::TestParamInfo<CascadeAttention>& info) {
                           return info.param == CascadeAttention::kOn ? std::string("Cascade")
                                                                      : std::string("Copy");
                         });

TEST_F(LlamaEngineTest, JumpForwardDecodesTheKeysASchemaForces) {
  auto engine = load(2);
  GenerationRequest request;
  request.messages = {{"user", "Categorize: a heist in Rome.", {}}};
  request.sampling.temperature = 0.0f;
  request.max_tokens = 200;
  request.response_format = ResponseFormat::kJsonSchema;
  request.json_schema = R"({"type": "object", "properties": {
      "movie_category": {"type": "string", "enum": ["drama", "comedy", "thriller"]},
      "year_of_release": {"type": "integer"}},
    "required": ["movie_category", "year_of_release"], "additionalProperties": false})";
  Result<Generation> g = generate(*engine, request);
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  auto json = nlohmann::json::parse(g->text, nullptr, false);
  ASSERT_TRUE(json.is_object()) << g->text;
  EXPECT_TRUE(json["year_of_release"].is_number_integer()) << g->text;
  EXPECT_TRUE(json["movie_category"].is_string()) << g->text;
  // At least the two keys' names were appended without a draw, and counted as completion tokens.
  EXPECT_GE(g->forced_tokens, 2 * 8) << g->text;
  EXPECT_GT(g->completion_tokens, g->forced_tokens);

  // Asking for logprobs turns jump-forward off (every token needs its own distribution).
  request.logprobs = true;
  Result<Generation> drawn = generate(*engine, request);
  ASSERT_TRUE(drawn.is_ok());
  EXPECT_EQ(drawn->forced_tokens, 0);
  EXPECT_TRUE(nlohmann::json::parse(drawn->text, nullptr, false).is_object()) << drawn->text;
}

TEST_F(LlamaEngineTest, ForcedTextStopsAtMaxTokens) {
  auto engine = load(1);
  GenerationRequest request;
  request.messages = {{"user", "x", {}}};
  request.sampling.temperature = 0.0f;
  request.max_tokens = 3;
  request.response_format = ResponseFormat::kJsonSchema;
  request.json_schema =
      R"({"type": "object", "properties": {"a_rather_long_property_name": {"type": "integer"}},
    "required": ["a_rather_long_property_name"]})";
  Result<Generation> g = generate(*engine, request);
  ASSERT_TRUE(g.is_ok());
  EXPECT_EQ(g->completion_tokens, 3);
  EXPECT_EQ(g->finish_reason, FinishReason::kLength);
}

TEST_F(LlamaEngineTest, IgnoreEosGeneratesMaxTokensUnlessTheGrammarIsComplete) {
  auto engine = load(2);
  GenerationRequest request;
  request.messages = {{"user", "Say something.", {}}};
  request.max_tokens = 40;
  request.ignore_eos = true;
  request.sampling.seed = 7;
  Result<Generation> text = generate(*engine, request);
  ASSERT_TRUE(text.is_ok());
  EXPECT_EQ(text->completion_tokens, 40);
  EXPECT_EQ(text->finish_reason, FinishReason::kLength);

  // The test models close a JSON object within a few tokens; after that only the end may follow.
  request.response_format = ResponseFormat::kJsonObject;
  request.max_tokens = 400;
  Result<Generation> json = generate(*engine, request);
  ASSERT_TRUE(json.is_ok());
  EXPECT_EQ(json->finish_reason, FinishReason::kStop);
  EXPECT_LT(json->completion_tokens, 400);
  EXPECT_TRUE(nlohmann::json::parse(json->text, nullptr, false).is_object()) << json->text;
}

TEST_F(LlamaEngineTest, DrawsSharedAmongThreadsGiveTheSameTexts) {
  auto run = [](int threads) {
    LlamaEngineOptions options;
    options.model_path = *model_path_;
    options.parallel = 6;
    options.ctx_size = 512 * 6;
    options.threads = 2;
    options.sampling_threads = threads;
    options.sampling_work_per_thread = 1;  // share the draws even on the tiny vocabulary
    auto engine = LlamaEngine::load(options).value();
    std::vector<std::future<Result<Generation>>> futures;
    for (uint32_t i = 0; i < 6; ++i) {
      GenerationRequest request;
      request.messages = {{"user", "Item " + std::to_string(i), {}}};
      request.max_tokens = 24;
      request.ignore_eos = true;
      request.sampling.seed = i;
      if (i % 2 == 1) request.response_format = ResponseFormat::kJsonObject;
      auto promise = std::make_shared<std::promise<Result<Generation>>>();
      futures.push_back(promise->get_future());
      engine->submit(request,
                     {nullptr, [promise](Result<Generation> r) { promise->set_value(std::move(r)); }});
    }
    std::vector<std::string> texts;
    for (auto& f : futures) texts.push_back(f.get().value().text);
    return texts;
  };
  const std::vector<std::string> alone = run(1);
  EXPECT_EQ(run(4), alone);
  for (size_t i = 1; i < alone.size(); i += 2) {
    EXPECT_TRUE(nlohmann::json::parse(alone[i], nullptr, false).is_object()) << alone[i];
  }
}

Result<Embeddings> embed_now(Engine& engine, std::vector<EmbeddingInput> inputs) {
  std::promise<Result<Embeddings>> promise;
  EmbeddingRequest request;
  request.inputs = std::move(inputs);
  engine.embed(std::move(request), [&promise](Result<Embeddings> r) { promise.set_value(std::move(r)); });
  return promise.get_future().get();
}

TEST_F(LlamaEngineTest, EmbeddingsAreUnitVectorsThatDoNotDependOnTheirNeighbours) {
  auto engine = load(2);
  const std::vector<std::string> texts = {"a red chair", "a walnut dining table with six legs", "a red chair",
                                          "lamp"};
  std::vector<EmbeddingInput> inputs;
  for (const auto& t : texts) inputs.push_back({t, {}});
  Result<Embeddings> together = embed_now(*engine, inputs);
  ASSERT_TRUE(together) << together.status().message();
  ASSERT_EQ(together->vectors.size(), texts.size());
  int alone_tokens = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<float>& v = together->vectors[i];
    double norm = 0;
    for (float x : v) norm += static_cast<double>(x) * x;
    EXPECT_NEAR(norm, 1.0, 1e-4);
    Result<Embeddings> alone = embed_now(*engine, {{texts[i], {}}});
    ASSERT_TRUE(alone);
    alone_tokens += alone->prompt_tokens;
    ASSERT_EQ(alone->vectors[0].size(), v.size());
    for (size_t k = 0; k < v.size(); ++k)
      ASSERT_NEAR(alone->vectors[0][k], v[k], 1e-4) << texts[i] << " " << k;
  }
  EXPECT_EQ(together->prompt_tokens, alone_tokens);
  for (size_t k = 0; k < together->vectors[0].size(); ++k) {
    ASSERT_NEAR(together->vectors[0][k], together->vectors[2][k], 1e-4);
  }
  float differs = 0;
  for (size_t k = 0; k < together->vectors[0].size(); ++k) {
    differs = std::max(differs, std::abs(together->vectors[0][k] - together->vectors[1][k]));
  }
  EXPECT_GT(differs, 1e-3f);

  Result<Embeddings> bad = embed_now(*engine, {{"", {5, 999999}}});
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.status().is_invalid_argument());
  // Generation goes on beside the embedding context.
  GenerationRequest chat;
  chat.messages = {{"user", "hello", {}}};
  chat.max_tokens = 4;
  EXPECT_TRUE(generate(*engine, chat));
}

}  // namespace
}  // namespace openbatch::engine
