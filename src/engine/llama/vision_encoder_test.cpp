#include "engine/llama/vision_encoder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>

#include "engine/llama/chat_template.h"
#include "engine/llama/llama_engine.h"
#include "engine/llama/prompt.h"
#include "image/test_images_for_test.h"
#include "llama-cpp.h"
#include "testmodels/model_writer.h"
#include "testmodels/projector_writer.h"
#include "testmodels/vision_pair_for_test.h"

namespace openbatch::engine {
namespace {

using namespace testmodels;  // the test models' writers

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

ImagePart image(const std::string& bytes, size_t offset = 0, const std::string& url = "https://x/y.png") {
  return {offset, url, std::make_shared<const std::string>(bytes)};
}

// The tiny-vision pair written once for the suite: text model and projector.
class VisionTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    set_llama_log_level_warn();
    pair_ = new VisionPairForTest("tiny-vision");
    ASSERT_TRUE(pair_->status().is_ok()) << pair_->status().message();
  }
  static void TearDownTestSuite() {
    delete pair_;
    pair_ = nullptr;
  }
  static std::string model_path() { return pair_->model_path(); }
  static std::string mmproj_path() { return pair_->mmproj_path(); }

  static std::unique_ptr<LlamaEngine> engine(bool with_projector, int parallel = 1) {
    LlamaEngineOptions o;
    o.model_path = model_path();
    if (with_projector) o.mmproj_path = mmproj_path();
    o.parallel = parallel;
    o.ctx_size = 1024 * parallel;
    o.threads = 2;
    auto e = LlamaEngine::load(o);
    EXPECT_TRUE(e.is_ok()) << (e ? "" : e.status().message());
    return e ? std::move(e).value() : nullptr;
  }

  static GenerationRequest caption(std::vector<ImagePart> images, const std::string& title = "A chair") {
    GenerationRequest r;
    r.messages.push_back({"system", "Write a short caption.", {}});
    Message user{"user", title, {}};
    for (auto& i : images) {
      i.offset = std::min(i.offset, user.content.size());
      user.images.push_back(std::move(i));
    }
    r.messages.push_back(std::move(user));
    r.max_tokens = 8;
    r.sampling.temperature = 0.2f;
    r.sampling.seed = 7;
    return r;
  }

  static VisionPairForTest* pair_;
};
VisionPairForTest* VisionTest::pair_ = nullptr;

TEST_F(VisionTest, ProjectorIsDeterministicInItsSeed) {
  const ProjectorShape& shape = *projector_shape_by_name("tiny-vision");
  const std::string again = pair_->path_of("again.gguf");
  const std::string other = pair_->path_of("other.gguf");
  ASSERT_TRUE(write_random_projector(shape, 64, 1, again).is_ok());
  ASSERT_TRUE(write_random_projector(shape, 64, 2, other).is_ok());
  EXPECT_EQ(read_file(again), read_file(mmproj_path()));
  EXPECT_NE(read_file(other), read_file(mmproj_path()));
  EXPECT_EQ(projector_shape_by_name("tiny"), nullptr);
}

TEST_F(VisionTest, MtmdTokenizesEncodesAndDecodesTheTinyProjectorsImages) {
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model_ptr model(llama_model_load_from_file(model_path().c_str(), mp));
  ASSERT_TRUE(model);
  VisionOptions vo;
  vo.mmproj_path = mmproj_path();
  vo.use_gpu = false;
  vo.threads = 2;
  auto vision = VisionEncoder::load(vo, model.get());
  ASSERT_TRUE(vision.is_ok()) << vision.status().message();
  VisionEncoder& v = **vision;

  const ImagePart a = image(image::testing::png_image(40, 30, 1));
  const ImagePart b = image(image::testing::bmp_image(50, 50, 2));
  const ImagePart a_again = image(image::testing::png_image(40, 30, 1));
  auto prompt = v.tokenize("first " + v.marker() + " then " + v.marker() + " and " + v.marker() + " end",
                           {&a, &b, &a_again});
  ASSERT_TRUE(prompt.is_ok()) << prompt.status().message();
  ASSERT_EQ(prompt->images.size(), 3u);
  for (const PromptImage& im : prompt->images) {
    EXPECT_EQ(im.n_tokens, 16u);  // (32 / 8)^2 patches
    EXPECT_EQ(prompt->image_starting_at(im.start), &im);
    EXPECT_EQ(prompt->align_to_image_start(im.start + 5), im.start);
    for (size_t i = 0; i < im.n_tokens; ++i) EXPECT_LT(prompt->tokens[im.start + i], 0);
  }
  const auto& t = prompt->tokens;
  const auto& im = prompt->images;
  EXPECT_EQ(t[im[0].start], t[im[2].start]) << "the same image, the same placeholder";
  EXPECT_NE(t[im[0].start], t[im[1].start]) << "different images, different placeholders";
  EXPECT_GT(t.back(), 0);

  ASSERT_TRUE(v.encode(*prompt).is_ok());
  EXPECT_EQ(v.images_encoded(), 2) << "the repeated image is encoded once";
  for (const PromptImage& i : im) ASSERT_EQ(i.embeddings.size(), 16u * 64u);
  EXPECT_EQ(im[0].embeddings, im[2].embeddings);
  EXPECT_NE(im[0].embeddings, im[1].embeddings);
  // Channel 0 of every image token is about 1, as in the text model's token embeddings.
  for (size_t k = 0; k < 16; ++k) EXPECT_NEAR(im[0].embeddings[k * 64], 1.0f, 1e-3f);

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 256;
  cp.n_batch = 64;
  cp.n_ubatch = 64;
  llama_context_ptr ctx(llama_init_from_model(model.get(), cp));
  ASSERT_TRUE(ctx);
  ASSERT_TRUE(v.decode(ctx.get(), prompt->images[0], 0, 0).is_ok());
  EXPECT_TRUE(prompt->images[0].embeddings.empty());
  EXPECT_EQ(llama_memory_seq_pos_max(llama_get_memory(ctx.get()), 0), 15);
}

TEST_F(VisionTest, AnImageThatDoesNotDecodeIsA400NamingItsUrl) {
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model_ptr model(llama_model_load_from_file(model_path().c_str(), mp));
  VisionOptions vo;
  vo.mmproj_path = mmproj_path();
  vo.use_gpu = false;
  auto vision = VisionEncoder::load(vo, model.get());
  ASSERT_TRUE(vision.is_ok());
  std::string png = image::testing::png_image(40, 30, 1);
  for (size_t i = 40; i < png.size(); ++i) png[i] = static_cast<char>(i * 31);
  const ImagePart corrupt = image(png, 0, "https://shop.example/broken.png");
  auto prompt = (*vision)->tokenize("look: " + (*vision)->marker(), {&corrupt});
  ASSERT_FALSE(prompt.is_ok());
  EXPECT_TRUE(prompt.status().is_invalid_argument());
  EXPECT_EQ(prompt.status().code(), "invalid_image");
  EXPECT_NE(prompt.status().message().find("https://shop.example/broken.png"), std::string::npos);
}

TEST_F(VisionTest, LoadingTheWrongFileAsProjectorFails) {
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model_ptr model(llama_model_load_from_file(model_path().c_str(), mp));
  VisionOptions vo;
  vo.mmproj_path = model_path();  // a text model, not a projector
  vo.use_gpu = false;
  EXPECT_FALSE(VisionEncoder::load(vo, model.get()).is_ok());
}

TEST_F(VisionTest, PromptMarksEachImageAtItsOffset) {
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model_ptr model(llama_model_load_from_file(model_path().c_str(), mp));
  auto tmpl = ChatTemplate::load(model.get(), "tiny-vision", "");
  ASSERT_TRUE(tmpl.is_ok()) << tmpl.status().message();
  GenerationRequest request;
  request.messages = {{"user", "ab", {}}};
  request.messages[0].images.push_back({0, "u0", nullptr});
  request.messages[0].images.push_back({1, "u1", nullptr});
  request.messages[0].images.push_back({2, "u2", nullptr});
  auto marked = (*tmpl)->render(request, "<M>");
  ASSERT_TRUE(marked.is_ok());
  EXPECT_NE(marked->text.find("<M>a<M>b<M>"), std::string::npos) << marked->text;
  ASSERT_EQ(marked->images.size(), 3u);
  EXPECT_EQ(marked->images[2]->url, "u2");
}

TEST_F(VisionTest, EngineCountsImageTokensAndReusesKvOnlyForTheSameImage) {
  auto e = engine(true);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->model_info().has_vision);
  const std::string png = image::testing::png_image(40, 30, 1);
  const std::string other = image::testing::png_image(40, 30, 9);

  auto text_only = generate(*e, caption({}));
  ASSERT_TRUE(text_only.is_ok()) << text_only.status().message();
  auto first = generate(*e, caption({image(png, 100)}));
  ASSERT_TRUE(first.is_ok()) << first.status().message();
  EXPECT_EQ(first->prompt_tokens, text_only->prompt_tokens + 16);
  auto counted = e->count_prompt_tokens(caption({image(png, 100)}));
  ASSERT_TRUE(counted.is_ok());
  EXPECT_EQ(*counted, first->prompt_tokens);

  // The same request again: everything but the last token comes from the cache, image included.
  auto same = generate(*e, caption({image(png, 100)}));
  ASSERT_TRUE(same.is_ok());
  EXPECT_EQ(same->cached_tokens, same->prompt_tokens - 1);
  // Another image at the same place: the cache stops before it.
  auto different = generate(*e, caption({image(other, 100)}));
  ASSERT_TRUE(different.is_ok());
  const int image_start = text_only->prompt_tokens - 5;  // "<|im_end|>\n<|im_start|>assistant\n" follow it
  EXPECT_LE(different->cached_tokens, image_start);
  EXPECT_GT(different->cached_tokens, 0);

  // Two images in one message.
  auto two = generate(*e, caption({image(png, 0), image(other, 100)}));
  ASSERT_TRUE(two.is_ok()) << two.status().message();
  EXPECT_EQ(two->prompt_tokens, text_only->prompt_tokens + 32);
}

TEST_F(VisionTest, ManySequencesCaptionImagesTogether) {
  auto e = engine(true, 4);
  ASSERT_TRUE(e);
  std::vector<std::future<Result<Generation>>> results;
  for (int i = 0; i < 12; ++i) {
    results.push_back(std::async(std::launch::async, [&e, i] {
      return generate(
          *e, caption({image(image::testing::png_image(32, 32, i % 5), 100)}, "Item " + std::to_string(i)));
    }));
  }
  for (auto& r : results) {
    auto g = r.get();
    ASSERT_TRUE(g.is_ok()) << g.status().message();
    EXPECT_GT(g->completion_tokens, 0);
  }
}

TEST_F(VisionTest, EngineWithoutProjectorTurnsImagesAway) {
  auto e = engine(false);
  ASSERT_TRUE(e);
  EXPECT_FALSE(e->model_info().has_vision);
  auto g = generate(*e, caption({image(image::testing::png_image(8, 8), 100)}));
  ASSERT_FALSE(g.is_ok());
  EXPECT_TRUE(g.status().is_invalid_argument());
  EXPECT_EQ(g.status().code(), "image_not_supported");
}

}  // namespace
}  // namespace openbatch::engine
