#include "testmodels/model_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/http_status.h"
#include "engine/llama/json_grammar.h"
#include "engine/llama/llama_engine.h"
#include "gguf.h"
#include "llama-cpp.h"
#include "llama.h"
#include "testmodels/byte_bpe_vocab.h"
#include "testmodels/real_vocab.h"

namespace openbatch::testmodels {
namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<llama_token> tokenize(const llama_vocab* vocab, const std::string& text, bool special) {
  const int n =
      -llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), nullptr, 0, false, special);
  std::vector<llama_token> tokens(n);
  llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(), n, false, special);
  return tokens;
}

std::string piece(const llama_vocab* vocab, llama_token token) {
  char buf[256];
  const int n = llama_token_to_piece(vocab, token, buf, sizeof buf, 0, false);
  return n < 0 ? std::string() : std::string(buf, n);
}

class ModelWriterTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    engine::set_llama_log_level_warn();
    dir_ =
        new fs::path(fs::temp_directory_path() / ("openbatch_model_writer_test_" + std::to_string(getpid())));
    fs::create_directories(*dir_);
    tiny_path_ = new std::string((*dir_ / "tiny.gguf").string());
    ASSERT_TRUE(write_random_model(model_shape_by_name("tiny").value(), 0, *tiny_path_).is_ok());
    llama_model_params params = llama_model_default_params();
    params.n_gpu_layers = 0;
    model_ = llama_model_load_from_file(tiny_path_->c_str(), params);
    ASSERT_NE(model_, nullptr);
  }
  static void TearDownTestSuite() {
    llama_model_free(model_);
    fs::remove_all(*dir_);
    delete tiny_path_;
    delete dir_;
  }

  static const llama_vocab* vocab() { return llama_model_get_vocab(model_); }

  // Generates after a ChatML prompt until an end-of-generation token or max_tokens; returns the
  // text, or nullopt when max_tokens ran out. temperature 0: greedy.
  static std::optional<std::string> generate(float temperature, uint32_t seed, const std::string& grammar,
                                             int max_tokens) {
    llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx = 1024;
    cparams.n_threads = 2;
    llama_context_ptr ctx(llama_init_from_model(model_, cparams));
    llama_sampler_ptr chain(llama_sampler_chain_init(llama_sampler_chain_default_params()));
    if (!grammar.empty())
      llama_sampler_chain_add(chain.get(), llama_sampler_init_grammar(vocab(), grammar.c_str(), "root"));
    if (temperature > 0) {
      llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(temperature));
      llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(seed));
    } else {
      llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
    }
    std::vector<llama_token> prompt =
        tokenize(vocab(), "<|im_start|>user\nReview the movie.<|im_end|>\n<|im_start|>assistant\n", true);
    if (llama_decode(ctx.get(), llama_batch_get_one(prompt.data(), static_cast<int32_t>(prompt.size()))) !=
        0) {
      return std::nullopt;
    }
    std::string text;
    for (int i = 0; i < max_tokens; ++i) {
      llama_token token = llama_sampler_sample(chain.get(), ctx.get(), -1);
      if (llama_vocab_is_eog(vocab(), token)) return text;
      text += piece(vocab(), token);
      if (llama_decode(ctx.get(), llama_batch_get_one(&token, 1)) != 0) return std::nullopt;
    }
    return std::nullopt;
  }

  static fs::path* dir_;
  static std::string* tiny_path_;
  static llama_model* model_;
};

fs::path* ModelWriterTest::dir_ = nullptr;
std::string* ModelWriterTest::tiny_path_ = nullptr;
llama_model* ModelWriterTest::model_ = nullptr;

TEST(ModelShapeTest, KnowsTheShapesAndRejectsOthers) {
  for (const char* name : {"tiny", "bench-512x8", "qwen2.5-0.5b", "llama3.2-1b"}) {
    Result<ModelShape> shape = model_shape_by_name(name);
    ASSERT_TRUE(shape.is_ok()) << name;
    EXPECT_EQ(shape->name, name);
    EXPECT_EQ(shape->n_embd % shape->n_head, 0u);
    EXPECT_EQ(shape->n_head % shape->n_head_kv, 0u);
  }
  Result<ModelShape> unknown = model_shape_by_name("gpt-5");
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_EQ(http_status_of(unknown.status()), 400);
  EXPECT_EQ(unknown.status().param(), "shape");
  EXPECT_FALSE(weight_type_by_name("q2_k").is_ok());
  EXPECT_TRUE(weight_type_by_name("q4_k_m").is_ok());
}

TEST(ByteBpeVocabTest, BytesMergesAndSpecialTokens) {
  const ByteBpeVocab& vocab = byte_bpe_vocab();
  EXPECT_LT(vocab.tokens.size(), 1024u);
  EXPECT_GE(vocab.merges.size(), 200u);
  EXPECT_EQ(std::set<std::string>(vocab.tokens.begin(), vocab.tokens.end()).size(), vocab.tokens.size());
  EXPECT_EQ(vocab.tokens[' '], "\xC4\xA0");  // U+0120, GPT-2's space
  EXPECT_EQ(vocab.tokens['A'], "A");
  EXPECT_EQ(vocab.tokens[0], "\xC4\x80");  // U+0100
  EXPECT_EQ(vocab.tokens[vocab.im_end_id], "<|im_end|>");
  EXPECT_EQ(vocab.token_types[vocab.im_start_id], kTokenTypeControl);
  EXPECT_EQ(vocab.token_types['x'], kTokenTypeNormal);
  const std::set<std::string> tokens(vocab.tokens.begin(), vocab.tokens.end());
  for (const std::string& merge : vocab.merges) {
    const size_t space = merge.find(' ');
    ASSERT_NE(space, std::string::npos) << merge;
    EXPECT_TRUE(tokens.contains(merge.substr(0, space))) << merge;
    EXPECT_TRUE(tokens.contains(merge.substr(space + 1))) << merge;
    EXPECT_TRUE(tokens.contains(merge.substr(0, space) + merge.substr(space + 1))) << merge;
  }
  EXPECT_EQ(train_bpe_merges("aaab aaab aab", 10), train_bpe_merges("aaab aaab aab", 10));
}

TEST_F(ModelWriterTest, TinyModelIsSmallAndReloadsWithItsMetadata) {
  EXPECT_LT(fs::file_size(*tiny_path_), 1u << 20);
  EXPECT_EQ(llama_vocab_n_tokens(vocab()), random_model_vocab_size());
  EXPECT_EQ(static_cast<int64_t>(llama_model_n_params(model_)),
            parameter_count(model_shape_by_name("tiny").value()));
  EXPECT_EQ(llama_model_n_embd(model_), 64);
  EXPECT_EQ(llama_model_n_layer(model_), 2);
  EXPECT_EQ(llama_model_n_ctx_train(model_), 4096);
  const char* chat_template = llama_model_chat_template(model_, nullptr);
  ASSERT_NE(chat_template, nullptr);
  EXPECT_EQ(chat_template, random_model_chat_template());
  EXPECT_EQ(piece(vocab(), llama_vocab_eos(vocab())), "");  // control tokens render empty
  EXPECT_EQ(llama_vocab_eos(vocab()), byte_bpe_vocab().im_end_id);
  EXPECT_EQ(llama_vocab_bos(vocab()), byte_bpe_vocab().endoftext_id);
  EXPECT_FALSE(llama_vocab_get_add_bos(vocab()));
  EXPECT_TRUE(llama_vocab_is_eog(vocab(), byte_bpe_vocab().im_end_id));
  char name[128];
  ASSERT_GT(llama_model_meta_val_str(model_, "general.name", name, sizeof name), 0);
  EXPECT_STREQ(name, "openbatch-random-tiny");
}

TEST_F(ModelWriterTest, SameSeedSameBytesOtherSeedOtherWeights) {
  const ModelShape tiny = model_shape_by_name("tiny").value();
  const std::string again = (*dir_ / "again.gguf").string();
  const std::string other = (*dir_ / "other.gguf").string();
  ASSERT_TRUE(write_random_model(tiny, 0, again).is_ok());
  ASSERT_TRUE(write_random_model(tiny, 7, other).is_ok());
  EXPECT_EQ(read_file(again), read_file(*tiny_path_));
  EXPECT_NE(read_file(other), read_file(*tiny_path_));
  EXPECT_EQ(fs::file_size(other), fs::file_size(*tiny_path_));
  for (const auto& entry : fs::directory_iterator(*dir_)) {
    EXPECT_EQ(entry.path().extension(), ".gguf") << "left behind: " << entry.path();
  }
}

TEST_F(ModelWriterTest, QuantizedModelLoadsAndKeepsTheTemplate) {
  const std::string path = (*dir_ / "tiny-q8_0.gguf").string();
  ASSERT_TRUE(write_random_model(model_shape_by_name("tiny").value(), 0, path, WeightType::kQ8_0).is_ok());
  EXPECT_LT(fs::file_size(path), fs::file_size(*tiny_path_) / 2);
  llama_model_params params = llama_model_default_params();
  params.n_gpu_layers = 0;
  llama_model_ptr model(llama_model_load_from_file(path.c_str(), params));
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(llama_model_chat_template(model.get(), nullptr), random_model_chat_template());
}

TEST_F(ModelWriterTest, AnyUtf8RoundTripsThroughTheTokenizer) {
  const std::vector<std::string> texts = {
      "The movie was good, and the chair is made of oak.",
      "Emoji 🎬🪑👍🏽 and CJK 电影和家具, 映画と家具, 영화",
      "naïve café — “quotes” ½ €100\ttab\nnew line\r\n  spaces  ",
      R"({"title": "Alien", "year": 1979, "tags": ["sci-fi", "horror"]})",
  };
  for (const std::string& text : texts) {
    const std::vector<llama_token> tokens = tokenize(vocab(), text, false);
    std::string pieces;
    for (const llama_token t : tokens) pieces += piece(vocab(), t);
    EXPECT_EQ(pieces, text);
    std::string detok(text.size() * 2 + 16, '\0');
    const int n = llama_detokenize(vocab(), tokens.data(), static_cast<int32_t>(tokens.size()), detok.data(),
                                   static_cast<int32_t>(detok.size()), false, false);
    ASSERT_GE(n, 0);
    detok.resize(n);
    EXPECT_EQ(detok, text);
  }
  // Common words of the training text are single tokens.
  for (const char* word : {" movie", " the", " chair", " table", " film", " story"}) {
    EXPECT_EQ(tokenize(vocab(), word, false).size(), 1u) << word;
  }
  EXPECT_EQ(tokenize(vocab(), "<|im_start|>", true), std::vector<llama_token>{byte_bpe_vocab().im_start_id});
}

TEST_F(ModelWriterTest, ChatTemplateIsChatML) {
  const llama_chat_message messages[] = {{"system", "Be brief."}, {"user", "Hi"}};
  std::string out(512, '\0');
  const int n = llama_chat_apply_template(llama_model_chat_template(model_, nullptr), messages, 2, true,
                                          out.data(), static_cast<int32_t>(out.size()));
  ASSERT_GT(n, 0);
  out.resize(n);
  EXPECT_EQ(
      out,
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST_F(ModelWriterTest, FreeTextEndsByItself) {
  int longer_than_5 = 0;
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    const std::optional<std::string> text = generate(1.0f, seed, "", 800);
    ASSERT_TRUE(text.has_value()) << "seed " << seed << " did not stop";
    EXPECT_FALSE(text->empty());
    longer_than_5 += tokenize(vocab(), *text, false).size() > 5;
  }
  EXPECT_GE(longer_than_5, 10);
  // Greedy decoding stops at once too.
  const std::optional<std::string> greedy = generate(0.0f, 0, "", 10);
  ASSERT_TRUE(greedy.has_value());
  EXPECT_FALSE(greedy->empty());
}

TEST_F(ModelWriterTest, JsonGrammarGenerationFinishesQuickly) {
  for (uint32_t seed = 1; seed <= 10; ++seed) {
    const std::optional<std::string> text = generate(1.0f, seed, engine::json_object_grammar(), 300);
    ASSERT_TRUE(text.has_value()) << "seed " << seed << " did not finish";
    const nlohmann::json value = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(value.is_object()) << *text;
  }
  const std::optional<std::string> greedy = generate(0.0f, 0, engine::json_object_grammar(), 50);
  ASSERT_TRUE(greedy.has_value());
  EXPECT_TRUE(nlohmann::json::parse(*greedy, nullptr, false).is_object()) << *greedy;
}

// --untamed: every tensor plain N(0, 0.02), norms included, as llama.cpp's own test models; the next
// token is then close to a uniform choice, whatever came before.
TEST_F(ModelWriterTest, UntamedWeightsAreNormalEverywhereAndChoicesNearUniform) {
  const std::string path = (*dir_ / "tiny-untamed.gguf").string();
  ASSERT_TRUE(write_random_model(model_shape_by_name("tiny").value(), 0, path, WeightType::kF32,
                                 WeightStyle::kUntamed)
                  .is_ok());
  ggml_context* data = nullptr;
  gguf_context* g = gguf_init_from_file(path.c_str(), {/*no_alloc=*/false, &data});
  ASSERT_NE(g, nullptr);
  int tensors = 0;
  for (int64_t i = 0; i < gguf_get_n_tensors(g); ++i) {
    const ggml_tensor* t = ggml_get_tensor(data, gguf_get_tensor_name(g, i));
    ASSERT_NE(t, nullptr);
    ASSERT_EQ(t->type, GGML_TYPE_F32) << t->name;
    const int64_t n = ggml_nelements(t);
    const float* v = static_cast<const float*>(t->data);
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; ++i) sum += v[i], sq += static_cast<double>(v[i]) * v[i];
    const double mean = sum / n, stdev = std::sqrt(sq / n - mean * mean);
    EXPECT_NEAR(mean, 0.0, 4 * 0.02 / std::sqrt(static_cast<double>(n)) + 1e-6) << t->name;
    EXPECT_NEAR(stdev, 0.02, 0.02 * 6 / std::sqrt(static_cast<double>(n))) << t->name;
    ++tensors;
  }
  gguf_free(g);
  ggml_free(data);
  EXPECT_GT(tensors, 10);

  llama_model_params params = llama_model_default_params();
  params.n_gpu_layers = 0;
  llama_model_ptr model(llama_model_load_from_file(path.c_str(), params));
  ASSERT_NE(model, nullptr);
  llama_context_params cparams = llama_context_default_params();
  cparams.n_ctx = 256;
  llama_context_ptr ctx(llama_init_from_model(model.get(), cparams));
  const llama_vocab* v = llama_model_get_vocab(model.get());
  std::vector<llama_token> prompt =
      tokenize(v, "<|im_start|>user\nReview the movie.<|im_end|>\n<|im_start|>assistant\n", true);
  ASSERT_EQ(llama_decode(ctx.get(), llama_batch_get_one(prompt.data(), static_cast<int32_t>(prompt.size()))),
            0);
  const float* logits = llama_get_logits_ith(ctx.get(), -1);
  const auto [lo, hi] = std::minmax_element(logits, logits + llama_vocab_n_tokens(v));
  EXPECT_LT(*hi - *lo, 0.5f);  // every token within a factor of e^0.5 of every other
}

// Qwen3-VL's text half: arch qwen3vl as llama.cpp's converter writes it (interleaved M-RoPE sections,
// the DeepStack layer count that widens its input), Qwen3's vocabulary with the vision tokens, and the
// Qwen3.5 template, which renders an image as <|vision_start|><|image_pad|><|vision_end|>.
TEST_F(ModelWriterTest, Qwen3VlTextIsQwen3WithInterleavedMRopeAndDeepstack) {
  const ModelShape shape = model_shape_by_name("qwen3-vl-tiny-text").value();
  const std::string path = (*dir_ / "qwen3-vl-tiny-text.gguf").string();
  ASSERT_TRUE(write_random_model(shape, 1, path).is_ok());
  llama_model_params params = llama_model_default_params();
  params.n_gpu_layers = 0;
  llama_model_ptr model(llama_model_load_from_file(path.c_str(), params));
  ASSERT_NE(model, nullptr);
  char value[256];
  ASSERT_GT(llama_model_meta_val_str(model.get(), "general.architecture", value, sizeof value), 0);
  EXPECT_STREQ(value, "qwen3vl");
  ASSERT_GT(llama_model_meta_val_str(model.get(), "qwen3vl.n_deepstack_layers", value, sizeof value), 0);
  EXPECT_STREQ(value, "2");
  EXPECT_EQ(llama_model_rope_type(model.get()), LLAMA_ROPE_TYPE_IMROPE);
  EXPECT_EQ(llama_model_n_embd(model.get()), 64);
  EXPECT_EQ(llama_model_n_embd_inp(model.get()), 64 * 3);
  const llama_vocab* v = llama_model_get_vocab(model.get());
  EXPECT_EQ(static_cast<int64_t>(llama_model_n_params(model.get())),
            parameter_count(shape, llama_vocab_n_tokens(v)));
  EXPECT_EQ(tokenize(v, "<|vision_start|><|image_pad|><|vision_end|>", true),
            (std::vector<llama_token>{151652, 151655, 151653}));
  EXPECT_EQ(tokenize(v, "<think>", true), std::vector<llama_token>{151667});
  const char* chat_template = llama_model_chat_template(model.get(), nullptr);
  ASSERT_NE(chat_template, nullptr);
  EXPECT_EQ(chat_template, load_chat_template("Qwen3.5-4B.jinja").value());
  EXPECT_NE(std::string(chat_template).find("<|vision_start|><|image_pad|><|vision_end|>"),
            std::string::npos);
}

}  // namespace
}  // namespace openbatch::testmodels
