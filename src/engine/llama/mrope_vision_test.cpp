// Qwen2-VL-family vision (M-RoPE): the engine's positions for images and the text after them, checked
// against mtmd's own helper on the qwen2.5-vl-tiny test pair (M-RoPE) and the qwen3-vl-tiny one
// (interleaved M-RoPE, and DeepStack: image embeddings that feed the text model's first layers too).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>

#include "engine/llama/chat_template.h"
#include "engine/llama/llama_engine.h"
#include "engine/llama/prompt.h"
#include "engine/llama/vision_encoder.h"
#include "image/test_images_for_test.h"
#include "llama-cpp.h"
#include "mtmd-helper.h"
#include "mtmd.h"
#include "testmodels/model_writer.h"
#include "testmodels/projector_writer.h"
#include "testmodels/vision_pair_for_test.h"

namespace openbatch::engine {
namespace {

using namespace testmodels;  // the test models' writers

constexpr int kSteps = 4;  // greedy tokens compared
constexpr int kTop = 5;    // top logprobs compared at each
constexpr float kTol = 1e-4f;

ImagePart image(const std::string& bytes, size_t offset) {
  return {offset, "https://shop.example/chair.png", std::make_shared<const std::string>(bytes)};
}

GenerationRequest caption(const std::string& png, const std::string& title = "A chair") {
  GenerationRequest r;
  r.messages.push_back({"system", "Write a short caption for the product photo.", {}});
  Message user{"user", title + ": what is in it?", {}};
  user.images.push_back(image(png, title.size() + 1));
  r.messages.push_back(std::move(user));
  r.max_tokens = kSteps;
  r.sampling.temperature = 0.0f;
  r.logprobs = true;
  r.top_logprobs = kTop;
  r.ignore_eos = true;
  return r;
}

// A vision pair of make-model and the rope type its text model has.
struct MRopePair {
  const char* name;
  int rope_type;
};

class MRopeVisionTest : public testing::TestWithParam<MRopePair> {
 protected:
  static void SetUpTestSuite() {
    set_llama_log_level_warn();
    set_mtmd_log_level_warn();
  }
  static void TearDownTestSuite() { pairs_.clear(); }
  // Each pair is written once, for the first of its tests.
  void SetUp() override {
    std::unique_ptr<VisionPairForTest>& pair = pairs_[GetParam().name];
    if (!pair) pair = std::make_unique<VisionPairForTest>(GetParam().name);
    ASSERT_TRUE(pair->status().is_ok()) << pair->status().message();
    pair_ = pair.get();
  }
  std::string model_path() const { return pair_->model_path(); }
  std::string mmproj_path() const { return pair_->mmproj_path(); }
  // Pixels a side of one image token: 2x2 patches.
  static uint32_t merged_patch() { return 2 * projector_shape_by_name(GetParam().name)->patch_size; }

  llama_model_ptr load_model() const {
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    return llama_model_ptr(llama_model_load_from_file(model_path().c_str(), mp));
  }
  Result<std::unique_ptr<VisionEncoder>> load_vision(const llama_model* model) const {
    VisionOptions vo;
    vo.mmproj_path = mmproj_path();
    vo.use_gpu = false;
    vo.threads = 2;
    return VisionEncoder::load(vo, model);
  }

  std::unique_ptr<LlamaEngine> engine(int parallel) const {
    LlamaEngineOptions o;
    o.model_path = model_path();
    o.mmproj_path = mmproj_path();
    o.parallel = parallel;
    o.ctx_size = 2048 * parallel;
    o.threads = 2;
    auto e = LlamaEngine::load(o);
    EXPECT_TRUE(e.is_ok()) << (e ? "" : e.status().message());
    return e ? std::move(e).value() : nullptr;
  }

  // The reference: the same prompt through mtmd_helper_eval_chunks, then greedy steps, each step's
  // log-softmax compared with the engine's logprobs.
  void expect_same_as_mtmd_helper(const GenerationRequest& request, const Generation& got) const {
    llama_model_ptr model = load_model();
    ASSERT_TRUE(model);
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 2048;
    cp.n_batch = 512;
    cp.n_ubatch = 512;
    cp.n_threads = cp.n_threads_batch = 2;
    llama_context_ptr ctx(llama_init_from_model(model.get(), cp));
    ASSERT_TRUE(ctx);
    mtmd_context_params mparams = mtmd_context_params_default();
    mparams.use_gpu = false;
    mparams.n_threads = 2;
    mparams.print_timings = false;
    mtmd::context_ptr mctx(mtmd_init_from_file(mmproj_path().c_str(), model.get(), mparams));
    ASSERT_TRUE(mctx);
    ASSERT_TRUE(mtmd_decode_use_mrope(mctx.get()));

    auto tmpl = ChatTemplate::load(model.get(), GetParam().name, "");
    ASSERT_TRUE(tmpl.is_ok()) << tmpl.status().message();
    auto rendered = (*tmpl)->render(request, mtmd_default_marker());
    ASSERT_TRUE(rendered.is_ok()) << rendered.status().message();
    const std::string& bytes = *request.messages[1].images[0].data;
    mtmd::bitmap bitmap(mtmd_helper_bitmap_init_from_buf(mctx.get(),
                                                         reinterpret_cast<const unsigned char*>(bytes.data()),
                                                         bytes.size(), false, mtmd_helper_init_opt_default())
                            .bitmap);
    ASSERT_TRUE(bitmap.ptr);
    mtmd::input_chunks chunks(mtmd_input_chunks_init());
    mtmd_input_text text{rendered->text.c_str(), rendered->text.size(), true, true};
    const mtmd_bitmap* bitmaps[] = {bitmap.ptr.get()};
    ASSERT_EQ(mtmd_tokenize(mctx.get(), chunks.ptr.get(), &text, bitmaps, 1), 0);
    llama_pos n_past = 0;
    ASSERT_EQ(mtmd_helper_eval_chunks(mctx.get(), ctx.get(), chunks.ptr.get(), 0, 0, 512, true, &n_past), 0);
    EXPECT_EQ(static_cast<size_t>(got.prompt_tokens), mtmd_helper_get_n_tokens(chunks.ptr.get()));
    EXPECT_LT(n_past, got.prompt_tokens) << "an image spans fewer positions than it has tokens";

    const llama_vocab* vocab = llama_model_get_vocab(model.get());
    const int n_vocab = llama_vocab_n_tokens(vocab);
    ASSERT_EQ(got.logprobs.size(), static_cast<size_t>(kSteps));
    llama_batch batch = llama_batch_init(1, 0, 1);
    for (int step = 0; step < kSteps; ++step) {
      const float* logits = llama_get_logits_ith(ctx.get(), -1);
      const float max_logit = *std::max_element(logits, logits + n_vocab);
      double sum = 0.0;
      for (int t = 0; t < n_vocab; ++t) sum += std::exp(static_cast<double>(logits[t] - max_logit));
      const float log_z = max_logit + static_cast<float>(std::log(sum));
      std::vector<int> ids(n_vocab);
      for (int t = 0; t < n_vocab; ++t) ids[t] = t;
      std::partial_sort(ids.begin(), ids.begin() + 2 * kTop, ids.end(),
                        [&](int a, int b) { return logits[a] > logits[b]; });
      // Greedy with ignore_eos: the best token that does not end the generation.
      const int chosen =
          *std::find_if(ids.begin(), ids.end(), [&](int t) { return !llama_vocab_is_eog(vocab, t); });
      const TokenLogprob& mine = got.logprobs[step];
      EXPECT_EQ(mine.token, token_piece(vocab, chosen)) << "step " << step;
      EXPECT_NEAR(mine.logprob, logits[chosen] - log_z, kTol) << "step " << step;
      ASSERT_EQ(mine.top.size(), static_cast<size_t>(kTop));
      for (int k = 0; k < kTop; ++k) {
        EXPECT_NEAR(mine.top[k].logprob, logits[ids[k]] - log_z, kTol) << "step " << step << " top " << k;
      }
      batch.n_tokens = 1;
      batch.token[0] = chosen;
      batch.pos[0] = n_past++;
      batch.n_seq_id[0] = 1;
      batch.seq_id[0][0] = 0;
      batch.logits[0] = true;
      ASSERT_EQ(llama_decode(ctx.get(), batch), 0);
    }
    llama_batch_free(batch);
  }

  inline static std::map<std::string, std::unique_ptr<VisionPairForTest>> pairs_;
  VisionPairForTest* pair_ = nullptr;
};

TEST_P(MRopeVisionTest, ImagesSpanFewerPositionsThanTokens) {
  llama_model_ptr model = load_model();
  ASSERT_TRUE(model);
  EXPECT_EQ(llama_model_rope_type(model.get()), GetParam().rope_type);
  auto vision = load_vision(model.get());
  ASSERT_TRUE(vision.is_ok()) << vision.status().message();
  EXPECT_TRUE((*vision)->uses_mrope());
  // 6 x 4 merged patches (of 28 pixels for Qwen2.5-VL, 32 for Qwen3-VL): 24 tokens on a grid 6
  // positions wide.
  const uint32_t m = merged_patch();
  const ImagePart a = image(image::testing::png_image(6 * m, 4 * m, 1), 0);
  auto prompt = (*vision)->tokenize("see " + (*vision)->marker() + " then", {&a});
  ASSERT_TRUE(prompt.is_ok()) << prompt.status().message();
  ASSERT_EQ(prompt->images.size(), 1u);
  const PromptImage& im = prompt->images[0];
  EXPECT_EQ(im.n_tokens, 24u);
  EXPECT_EQ(im.n_pos, 6u);
  EXPECT_EQ(prompt->position_of(im.start), static_cast<llama_pos>(im.start));
  EXPECT_EQ(prompt->position_of(im.start + im.n_tokens), static_cast<llama_pos>(im.start + 6));
  EXPECT_EQ(prompt->position_of(prompt->tokens.size() + 3),
            static_cast<llama_pos>(prompt->tokens.size() + 3 - 18));
}

// The projector's embeddings look like the text model's token embeddings (testmodels/random_weights.h):
// channel 0 is 1 and the marker channels 0; the DeepStack slices after them (Qwen3-VL), which the text
// model's first layers add to their output, are small and leave those channels alone.
TEST_P(MRopeVisionTest, ImageEmbeddingsLookLikeTokenEmbeddings) {
  llama_model_ptr model = load_model();
  ASSERT_TRUE(model);
  const int n_embd = llama_model_n_embd(model.get());
  const int n_embd_inp = llama_model_n_embd_inp(model.get());
  ASSERT_EQ(n_embd_inp % n_embd, 0);
  const ModelShape text = model_shape_by_name(projector_shape_by_name(GetParam().name)->text_shape).value();
  EXPECT_EQ(n_embd_inp / n_embd, 1 + static_cast<int>(text.n_deepstack_layers));
  auto vision = load_vision(model.get());
  ASSERT_TRUE(vision.is_ok()) << vision.status().message();
  const ImagePart a = image(image::testing::png_image(150, 100, 3), 0);
  auto prompt = (*vision)->tokenize((*vision)->marker(), {&a});
  ASSERT_TRUE(prompt.is_ok()) << prompt.status().message();
  ASSERT_TRUE((*vision)->encode(*prompt).is_ok());
  const PromptImage& im = prompt->images.at(0);
  ASSERT_EQ(im.embeddings.size(), im.n_tokens * n_embd_inp);
  constexpr int kReserved = 8;
  for (int slice = 0; slice < n_embd_inp / n_embd; ++slice) {
    double norm2 = 0.0;
    for (size_t t = 0; t < im.n_tokens; ++t) {
      const float* e = im.embeddings.data() + t * n_embd_inp + slice * n_embd;
      ASSERT_EQ(e[0], slice == 0 ? 1.0f : 0.0f) << "token " << t << " slice " << slice;
      for (int c = 1; c < kReserved; ++c) ASSERT_EQ(e[c], 0.0f) << "token " << t << " slice " << slice;
      for (int c = kReserved; c < n_embd; ++c) norm2 += static_cast<double>(e[c]) * e[c];
    }
    const double norm = std::sqrt(norm2 / static_cast<double>(im.n_tokens));
    // Token embeddings' noise has norm 0.5; a DeepStack slice about 0.15.
    if (slice == 0) {
      EXPECT_GT(norm, 0.25) << "slice 0";
      EXPECT_LT(norm, 1.0) << "slice 0";
    } else {
      EXPECT_GT(norm, 0.05) << "slice " << slice;
      EXPECT_LT(norm, 0.3) << "slice " << slice;
    }
  }
}

TEST_P(MRopeVisionTest, LogprobsWithAnImageEqualMtmdsHelper) {
  auto e = engine(2);
  ASSERT_TRUE(e);
  const GenerationRequest request = caption(image::testing::png_image(150, 100, 3));
  auto got = generate(*e, request);
  ASSERT_TRUE(got.is_ok()) << got.status().message();
  expect_same_as_mtmd_helper(request, *got);
}

// The KV kept between requests (the system prompt, the same image) gives the same answer as computing
// it all: the positions of reused and removed cells are M-RoPE's, not token counts.
TEST_P(MRopeVisionTest, ReusedPrefixesStayExact) {
  auto e = engine(1);
  ASSERT_TRUE(e);
  const GenerationRequest a = caption(image::testing::png_image(150, 100, 3));
  const GenerationRequest b = caption(image::testing::png_image(200, 120, 4), "A sofa");
  auto first = generate(*e, a);
  ASSERT_TRUE(first.is_ok()) << first.status().message();
  auto other = generate(*e, b);  // the slot now holds b's image where a's was
  ASSERT_TRUE(other.is_ok()) << other.status().message();
  EXPECT_GT(other->cached_tokens, 0) << "the system prompt is reused";
  auto again = generate(*e, a);
  ASSERT_TRUE(again.is_ok()) << again.status().message();
  auto same = generate(*e, a);  // all but the last prompt token from the cache, the image included
  ASSERT_TRUE(same.is_ok()) << same.status().message();
  EXPECT_EQ(same->cached_tokens, same->prompt_tokens - 1);
  for (const Generation* g : {&*again, &*same}) {
    ASSERT_EQ(g->logprobs.size(), first->logprobs.size());
    for (size_t t = 0; t < g->logprobs.size(); ++t) {
      EXPECT_EQ(g->logprobs[t].token, first->logprobs[t].token) << "token " << t;
      EXPECT_NEAR(g->logprobs[t].logprob, first->logprobs[t].logprob, kTol) << "token " << t;
    }
  }
  expect_same_as_mtmd_helper(b, *other);
}

TEST_P(MRopeVisionTest, CascadeAttentionIsRefusedForMRope) {
  LlamaEngineOptions o;
  o.model_path = model_path();
  o.mmproj_path = mmproj_path();
  o.parallel = 2;
  o.ctx_size = 2048;
  o.cascade = CascadeAttention::kOn;
  auto e = LlamaEngine::load(o);
  ASSERT_FALSE(e.is_ok());
  EXPECT_NE(e.status().message().find("M-RoPE"), std::string::npos) << e.status().message();
}

INSTANTIATE_TEST_SUITE_P(MRope, MRopeVisionTest,
                         testing::Values(MRopePair{"qwen2.5-vl-tiny", LLAMA_ROPE_TYPE_MROPE},
                                         MRopePair{"qwen3-vl-tiny", LLAMA_ROPE_TYPE_IMROPE}),
                         [](const testing::TestParamInfo<MRopePair>& info) {
                           std::string name = info.param.name;
                           std::replace_if(
                               name.begin(), name.end(), [](char c) { return !std::isalnum(c); }, '_');
                           return name;
                         });

}  // namespace
}  // namespace openbatch::engine
