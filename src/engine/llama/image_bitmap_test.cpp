#include "engine/llama/image_bitmap.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <filesystem>

#include "engine/llama/llama_engine.h"
#include "engine/llama/vision_encoder.h"
#include "image/image_resize.h"
#include "image/test_images_for_test.h"
#include "llama-cpp.h"
#include "testmodels/model_writer.h"
#include "testmodels/projector_writer.h"

namespace openbatch::engine {
namespace {

namespace fs = std::filesystem;
using image::testing::png_image;
using image::testing::webp_image;

ImagePart part(const std::string& bytes, const std::string& detail = "",
               const std::string& url = "https://x/a") {
  return {0, url, std::make_shared<const std::string>(bytes), detail};
}

std::string sha256_hex(const std::string& bytes) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), d);
  char hex[2 * SHA256_DIGEST_LENGTH + 1];
  for (int i = 0; i < SHA256_DIGEST_LENGTH; ++i) std::snprintf(hex + 2 * i, 3, "%02x", d[i]);
  return hex;
}

std::vector<uint8_t> pixels_of(const mtmd::bitmap& b) { return {b.data(), b.data() + b.n_bytes()}; }

// The tiny-vision pair (a LLaVA-style projector: fixed resolution, 16 tokens an image), an mtmd
// context on it, and a VisionEncoder on it.
class ImageBitmapTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    set_llama_log_level_warn();
    set_mtmd_log_level_warn();
    dir_ =
        new fs::path(fs::temp_directory_path() / ("openbatch_image_bitmap_test_" + std::to_string(getpid())));
    fs::create_directories(*dir_);
    const auto& shape = *testmodels::projector_shape_by_name("tiny-vision");
    const auto text = testmodels::model_shape_by_name(shape.text_shape).value();
    const std::string model_path = (*dir_ / "model.gguf").string(),
                      mmproj_path = (*dir_ / "mmproj.gguf").string();
    ASSERT_TRUE(testmodels::write_random_model(text, 1, model_path).is_ok());
    ASSERT_TRUE(testmodels::write_random_projector(shape, text.n_embd, 1, mmproj_path).is_ok());
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    model_ = llama_model_load_from_file(model_path.c_str(), mp);
    ASSERT_NE(model_, nullptr);
    mtmd_context_params params = mtmd_context_params_default();
    params.use_gpu = false;
    params.print_timings = false;
    params.n_threads = 2;
    mtmd_ = mtmd_init_from_file(mmproj_path.c_str(), model_, params);
    ASSERT_NE(mtmd_, nullptr);
    VisionOptions vo;
    vo.mmproj_path = mmproj_path;
    vo.use_gpu = false;
    vo.threads = 2;
    auto vision = VisionEncoder::load(vo, model_);
    ASSERT_TRUE(vision.is_ok()) << vision.status().message();
    vision_ = std::move(vision).value().release();
  }
  static void TearDownTestSuite() {
    delete vision_;
    if (mtmd_ != nullptr) mtmd_free(mtmd_);
    if (model_ != nullptr) llama_model_free(model_);
    fs::remove_all(*dir_);
    delete dir_;
  }

  static fs::path* dir_;
  static llama_model* model_;
  static mtmd_context* mtmd_;
  static VisionEncoder* vision_;
};
fs::path* ImageBitmapTest::dir_ = nullptr;
llama_model* ImageBitmapTest::model_ = nullptr;
mtmd_context* ImageBitmapTest::mtmd_ = nullptr;
VisionEncoder* ImageBitmapTest::vision_ = nullptr;

TEST_F(ImageBitmapTest, WebpDecodesWithLibwebpAndIsNamedByTheHashOfItsFile) {
  const std::string webp = webp_image(33, 19, 4, /*lossless=*/true);
  auto b = image_bitmap(mtmd_, part(webp));
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  EXPECT_EQ(b->nx(), 33u);
  EXPECT_EQ(b->ny(), 19u);
  EXPECT_EQ(pixels_of(*b), image::testing::test_pixels(33, 19, 4));
  EXPECT_EQ(b->id(), sha256_hex(webp));
  // mtmd's own loader names the other formats the same way.
  const std::string png = png_image(33, 19, 4);
  auto p = image_bitmap(mtmd_, part(png));
  ASSERT_TRUE(p.is_ok()) << p.status().message();
  EXPECT_EQ(p->id(), sha256_hex(png));
  EXPECT_EQ(pixels_of(*p), pixels_of(*b));  // the same pixels, whichever decoder read them
}

TEST_F(ImageBitmapTest, LowDetailShrinksTheLongerSideTo512) {
  const std::string png = png_image(1024, 768, 5);
  auto full = image_bitmap(mtmd_, part(png, "high"));
  ASSERT_TRUE(full.is_ok()) << full.status().message();
  EXPECT_EQ(full->nx(), 1024u);
  EXPECT_EQ(full->ny(), 768u);
  for (const char* detail : {"auto", ""}) {
    auto same = image_bitmap(mtmd_, part(png, detail));
    ASSERT_TRUE(same.is_ok());
    EXPECT_EQ(same->nx(), 1024u) << detail;
    EXPECT_EQ(same->id(), full->id()) << detail;
  }
  auto low = image_bitmap(mtmd_, part(png, "low"));
  ASSERT_TRUE(low.is_ok()) << low.status().message();
  EXPECT_EQ(low->nx(), 512u);
  EXPECT_EQ(low->ny(), 384u);
  EXPECT_EQ(low->id(), full->id() + "/low");
  const image::RgbImage expected =
      image::downscale_to_fit({1024, 768, image::testing::test_pixels(1024, 768, 5)}, kLowDetailMaxSide);
  EXPECT_EQ(pixels_of(*low), expected.pixels);

  // WebP takes the same path once decoded.
  auto low_webp = image_bitmap(mtmd_, part(webp_image(600, 90, 6), "low"));
  ASSERT_TRUE(low_webp.is_ok()) << low_webp.status().message();
  EXPECT_EQ(low_webp->nx(), 512u);
  EXPECT_EQ(low_webp->ny(), 77u);
}

TEST_F(ImageBitmapTest, LowDetailLeavesASmallImageAsItIs) {
  const std::string png = png_image(300, 200, 7);
  auto high = image_bitmap(mtmd_, part(png, "high"));
  auto low = image_bitmap(mtmd_, part(png, "low"));
  ASSERT_TRUE(high.is_ok() && low.is_ok());
  EXPECT_EQ(low->nx(), 300u);
  EXPECT_EQ(low->ny(), 200u);
  EXPECT_EQ(low->id(), high->id());
  EXPECT_EQ(pixels_of(*low), pixels_of(*high));
}

TEST_F(ImageBitmapTest, ImagesThatDoNotDecodeAreInvalidImageNamingTheUrl) {
  std::string webp = webp_image(40, 40, 8);
  for (size_t i = 30; i < webp.size(); ++i) webp[i] = static_cast<char>((i * 31) & 0xFF);
  std::string png = png_image(40, 40, 8);
  for (size_t i = 40; i < png.size(); ++i) png[i] = static_cast<char>((i * 31) & 0xFF);
  for (const auto& [bytes, says] : {std::pair{webp, "webp image is truncated or corrupt"},
                                    std::pair{png, "supported format (png, jpeg, gif, bmp, webp)"}}) {
    auto b = image_bitmap(mtmd_, part(bytes, "low", "https://shop.example/p.img"));
    ASSERT_FALSE(b.is_ok()) << says;
    EXPECT_TRUE(b.status().is_invalid_argument());
    EXPECT_EQ(b.status().code(), "invalid_image");
    EXPECT_NE(b.status().message().find("https://shop.example/p.img could not be decoded"), std::string::npos)
        << b.status().message();
    EXPECT_NE(b.status().message().find(says), std::string::npos) << b.status().message();
  }
  ImagePart unloaded = part("");
  unloaded.data = nullptr;
  EXPECT_TRUE(image_bitmap(mtmd_, unloaded).status().is_internal());
}

// Through the encoder: a WebP image takes its 16 tokens; detail "low" makes a large image another
// image (its own placeholders: its KV cells are never mistaken for the full-size one's) of the same
// 16 tokens on this fixed-resolution projector, and leaves a small one the same image.
TEST_F(ImageBitmapTest, TheEncoderTokenizesWebpAndLowDetailImages) {
  const std::string big = png_image(1024, 768, 9), small = webp_image(300, 200, 10);
  const ImagePart parts[] = {part(big, "high"), part(big, "low"), part(small, "high"), part(small, "low")};
  const std::string m = vision_->marker();
  auto prompt = vision_->tokenize("a " + m + " b " + m + " c " + m + " d " + m,
                                  {&parts[0], &parts[1], &parts[2], &parts[3]});
  ASSERT_TRUE(prompt.is_ok()) << prompt.status().message();
  ASSERT_EQ(prompt->images.size(), 4u);
  for (const PromptImage& image : prompt->images) EXPECT_EQ(image.n_tokens, 16u);
  auto placeholder = [&](int i) { return prompt->tokens[prompt->images[i].start]; };
  EXPECT_NE(placeholder(0), placeholder(1));
  EXPECT_EQ(placeholder(2), placeholder(3));
  EXPECT_NE(placeholder(0), placeholder(2));

  std::string corrupt = small;
  for (size_t i = 30; i < corrupt.size(); ++i) corrupt[i] = static_cast<char>(i & 0xFF);
  const ImagePart bad = part(corrupt);
  auto refused = vision_->tokenize("x " + m, {&bad});
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), "invalid_image");
}

}  // namespace
}  // namespace openbatch::engine
