#include "image/webp_decoder.h"

#include <gtest/gtest.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include <cstdlib>

#include "image/image_format.h"
#include "image/test_images_for_test.h"

namespace openbatch::image {
namespace {

// An animation of frames of one colour each (RGBA, opaque), 100 ms a frame, made with libwebpmux.
std::string animated_webp(int width, int height, const std::vector<std::array<uint8_t, 3>>& colours) {
  WebPAnimEncoderOptions options;
  EXPECT_TRUE(WebPAnimEncoderOptionsInit(&options));
  WebPAnimEncoder* encoder = WebPAnimEncoderNew(width, height, &options);
  WebPConfig config;
  EXPECT_TRUE(WebPConfigInit(&config));
  config.lossless = 1;
  int timestamp = 0;
  for (const auto& c : colours) {
    WebPPicture picture;
    EXPECT_TRUE(WebPPictureInit(&picture));
    picture.use_argb = 1;
    picture.width = width;
    picture.height = height;
    EXPECT_TRUE(WebPPictureAlloc(&picture));
    for (int i = 0; i < width * height; ++i)
      picture.argb[i] = 0xFF000000u | (c[0] << 16) | (c[1] << 8) | c[2];
    EXPECT_TRUE(WebPAnimEncoderAdd(encoder, &picture, timestamp, &config));
    WebPPictureFree(&picture);
    timestamp += 100;
  }
  EXPECT_TRUE(WebPAnimEncoderAdd(encoder, nullptr, timestamp, nullptr));
  WebPData data;
  WebPDataInit(&data);
  EXPECT_TRUE(WebPAnimEncoderAssemble(encoder, &data));
  std::string out(reinterpret_cast<const char*>(data.bytes), data.size);
  WebPDataClear(&data);
  WebPAnimEncoderDelete(encoder);
  return out;
}

TEST(WebpDecoderTest, LosslessWebpDecodesToItsExactPixels) {
  const std::string webp = image::testing::webp_image(37, 21, 3, /*lossless=*/true);
  auto image = decode_webp(webp);
  ASSERT_TRUE(image.is_ok()) << image.status().message();
  EXPECT_EQ(image->width, 37u);
  EXPECT_EQ(image->height, 21u);
  EXPECT_EQ(image->pixels, image::testing::test_pixels(37, 21, 3));
}

TEST(WebpDecoderTest, LossyWebpDecodesCloseToItsPixels) {
  // A smooth picture, which lossy coding keeps well (noise it would not).
  const uint32_t w = 64, h = 48;
  std::vector<uint8_t> rgb(w * h * 3);
  for (uint32_t y = 0; y < h; ++y) {
    for (uint32_t x = 0; x < w; ++x) {
      rgb[(y * w + x) * 3] = static_cast<uint8_t>(x * 4);
      rgb[(y * w + x) * 3 + 1] = static_cast<uint8_t>(y * 5);
      rgb[(y * w + x) * 3 + 2] = 128;
    }
  }
  uint8_t* out = nullptr;
  const size_t n = WebPEncodeRGB(rgb.data(), w, h, w * 3, 90.0f, &out);
  ASSERT_GT(n, 0u);
  const std::string webp(reinterpret_cast<const char*>(out), n);
  WebPFree(out);
  auto image = decode_webp(webp);
  ASSERT_TRUE(image.is_ok()) << image.status().message();
  ASSERT_EQ(image->width, w);
  ASSERT_EQ(image->height, h);
  double error = 0;
  for (size_t i = 0; i < rgb.size(); ++i) error += std::abs(int{image->pixels[i]} - int{rgb[i]});
  EXPECT_LT(error / rgb.size(), 4.0);
}

TEST(WebpDecoderTest, AnimatedWebpGivesItsFirstFrame) {
  const std::string webp = animated_webp(20, 10, {{200, 30, 10}, {10, 220, 40}, {0, 0, 250}});
  auto format = read_image_format(webp);
  ASSERT_TRUE(format.is_ok()) << format.status().message();
  EXPECT_EQ(format->name, "webp");
  EXPECT_EQ(format->width, 20u);
  EXPECT_EQ(format->height, 10u);
  auto image = decode_webp(webp);
  ASSERT_TRUE(image.is_ok()) << image.status().message();
  ASSERT_EQ(image->width, 20u);
  ASSERT_EQ(image->height, 10u);
  for (size_t i = 0; i < image->pixels.size(); i += 3) {
    ASSERT_EQ(image->pixels[i], 200) << i;
    ASSERT_EQ(image->pixels[i + 1], 30) << i;
    ASSERT_EQ(image->pixels[i + 2], 10) << i;
  }
}

TEST(WebpDecoderTest, CorruptOrTruncatedWebpIsInvalidImage) {
  const std::string good = image::testing::webp_image(40, 40, 7);
  std::string corrupt = good;
  for (size_t i = 30; i < corrupt.size(); ++i) corrupt[i] = static_cast<char>((i * 31) & 0xFF);
  const std::string cases[] = {corrupt, good.substr(0, good.size() / 2), good.substr(0, 20), "RIFF", ""};
  for (const std::string& bytes : cases) {
    auto image = decode_webp(bytes);
    ASSERT_FALSE(image.is_ok()) << bytes.size();
    EXPECT_TRUE(image.status().is_invalid_argument());
    EXPECT_EQ(image.status().code(), "invalid_image");
    EXPECT_NE(image.status().message().find("webp"), std::string::npos) << image.status().message();
  }
}

}  // namespace
}  // namespace openbatch::image
