// The llama engine's raw prompts (POST /v1/completions): no chat template, token ids as given, echo.
#include "engine/llama/raw_prompt.h"

#include <gtest/gtest.h>

#include <future>

#include "common/temp_dir.h"
#include "engine/llama/llama_engine.h"
#include "engine/llama/prompt.h"
#include "testmodels/model_writer.h"

namespace openbatch::engine {
namespace {

class RawPromptTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    set_llama_log_level_warn();
    dir_ = new TempDir();
    const std::string path = dir_->path() + "/tiny.gguf";
    ASSERT_TRUE(
        testmodels::write_random_model(testmodels::model_shape_by_name("tiny").value(), 0, path).is_ok());
    LlamaEngineOptions options;
    options.model_path = path;
    options.parallel = 2;
    options.ctx_size = 2048;
    options.threads = 2;
    auto engine = LlamaEngine::load(options);
    ASSERT_TRUE(engine.is_ok()) << engine.status().message();
    engine_ = std::move(engine).value().release();
  }
  static void TearDownTestSuite() {
    delete engine_;
    delete dir_;
  }

  static GenerationRequest raw(RawPrompt prompt, int max_tokens = 6) {
    GenerationRequest r;
    r.raw_prompt = std::move(prompt);
    r.max_tokens = max_tokens;
    r.sampling.temperature = 0;
    r.ignore_eos = true;
    return r;
  }

  static TempDir* dir_;
  static LlamaEngine* engine_;
};

TempDir* RawPromptTest::dir_ = nullptr;
LlamaEngine* RawPromptTest::engine_ = nullptr;

TEST_F(RawPromptTest, ATextPromptIsReadAsItIsWithoutTheTemplate) {
  auto counted = engine_->count_prompt_tokens(raw({"Once upon a time", {}, false}));
  ASSERT_TRUE(counted) << counted.status().message();
  // A chat of the same text renders the template around it: more tokens.
  GenerationRequest chat;
  chat.messages = {{"user", "Once upon a time", {}}};
  auto chat_count = engine_->count_prompt_tokens(chat);
  ASSERT_TRUE(chat_count);
  EXPECT_LT(*counted, *chat_count);

  auto g = generate(*engine_, raw({"Once upon a time", {}, false}));
  ASSERT_TRUE(g) << g.status().message();
  EXPECT_EQ(g->prompt_tokens, *counted);
  EXPECT_EQ(g->completion_tokens, 6);
  EXPECT_EQ(g->finish_reason, FinishReason::kLength);
  EXPECT_TRUE(g->tool_calls.empty());
}

TEST_F(RawPromptTest, TokenIdsAreDecodedAsGivenAndCheckedAgainstTheVocabulary) {
  auto g = generate(*engine_, raw({"", {10, 20, 30}, false}));
  ASSERT_TRUE(g) << g.status().message();
  EXPECT_EQ(g->prompt_tokens, 3);

  auto bad = generate(*engine_, raw({"", {10, 1 << 30}, false}));
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.status().is_invalid_argument());
  EXPECT_EQ(bad.status().param(), "prompt");
}

TEST_F(RawPromptTest, EchoPutsThePromptBeforeTheAnswerAlsoWhenStreamed) {
  auto plain = generate(*engine_, raw({"Hello there", {}, false}));
  ASSERT_TRUE(plain);
  std::string streamed;
  auto promise = std::make_shared<std::promise<Result<Generation>>>();
  GenerationCallbacks callbacks;
  callbacks.on_delta = [&streamed](GenerationDelta d) { streamed += d.content; };
  callbacks.on_done = [promise](Result<Generation> g) { promise->set_value(std::move(g)); };
  engine_->submit(raw({"Hello there", {}, true}), std::move(callbacks));
  auto echoed = promise->get_future().get();
  ASSERT_TRUE(echoed) << echoed.status().message();
  EXPECT_EQ(echoed->text, "Hello there" + plain->text);  // greedy: the same answer after the echo
  EXPECT_EQ(streamed, echoed->text);
}

}  // namespace
}  // namespace openbatch::engine
