#include "image/image_format.h"

#include <gtest/gtest.h>

#include "common/http_status.h"
#include "image/test_images_for_test.h"

namespace openbatch::image {
namespace {

TEST(ImageFormatTest, ReadsFormatAndSizeOfLossyAndLosslessWebp) {
  for (bool lossless : {false, true}) {
    auto webp = read_image_format(image::testing::webp_image(45, 17, 1, lossless));
    ASSERT_TRUE(webp.is_ok()) << webp.status().message();
    EXPECT_EQ(webp->name, "webp");
    EXPECT_EQ(webp->width, 45u);
    EXPECT_EQ(webp->height, 17u);
  }
}

TEST(ImageFormatTest, ReadsFormatAndSizeOfPngBmpGifJpeg) {
  auto png = read_image_format(image::testing::png_image(40, 30));
  ASSERT_TRUE(png.is_ok());
  EXPECT_EQ(png->name, "png");
  EXPECT_EQ(png->width, 40u);
  EXPECT_EQ(png->height, 30u);

  auto bmp = read_image_format(image::testing::bmp_image(7, 9));
  ASSERT_TRUE(bmp.is_ok());
  EXPECT_EQ(bmp->name, "bmp");
  EXPECT_EQ(bmp->width, 7u);
  EXPECT_EQ(bmp->height, 9u);

  auto gif = read_image_format(std::string("GIF89a\x10\x00\x20\x00\xf7\x00\x00", 13));
  ASSERT_TRUE(gif.is_ok());
  EXPECT_EQ(gif->width, 16u);
  EXPECT_EQ(gif->height, 32u);

  // SOI, an APP0 segment, then a baseline frame header: 600 high, 800 wide.
  const std::string jpeg =
      std::string("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00", 20) +
      std::string("\xFF\xC0\x00\x11\x08\x02\x58\x03\x20\x03", 10);
  auto j = read_image_format(jpeg);
  ASSERT_TRUE(j.is_ok()) << j.status().message();
  EXPECT_EQ(j->name, "jpeg");
  EXPECT_EQ(j->width, 800u);
  EXPECT_EQ(j->height, 600u);
}

TEST(ImageFormatTest, TurnsAwayWhatIsNotAnImageSayingWhatItLooksLike) {
  struct Case {
    std::string bytes;
    std::string code;
    std::string says;
  } cases[] = {
      {"  <!doctype html><html>Not found</html>", "invalid_image_format", "HTML"},
      {"{\"error\": 1}", "invalid_image_format", "JSON"},
      {"%PDF-1.7", "invalid_image_format", "PDF"},
      {"%PDF-1.7", "invalid_image_format", "Supported formats: png, jpeg, gif, bmp, webp."},
      {std::string("RIFF\x10\x00\x00\x00WEBPVP8 ", 16), "invalid_image", "webp image is truncated"},
      {image::testing::webp_image(8, 8).substr(0, 24), "invalid_image", "webp image is truncated"},
      {"", "invalid_image_format", "empty"},
      {std::string("\x89PNG\r\n\x1a\n\x00\x00", 10), "invalid_image", "png image is truncated"},
      {std::string("\xFF\xD8\xFF\xD9", 4), "invalid_image", "jpeg image is truncated"},
      // Found by fuzz/image_format_fuzz.cpp: "RIFF" and under 12 bytes threw std::out_of_range.
      {std::string("RIFF\xd9", 5), "invalid_image_format", "not those of an image"},
      {"RIFF", "invalid_image_format", "not those of an image"},
  };
  for (const Case& c : cases) {
    auto r = read_image_format(c.bytes);
    ASSERT_FALSE(r.is_ok()) << c.says;
    EXPECT_EQ(http_status_of(r.status()), 400);
    EXPECT_EQ(r.status().code(), c.code);
    EXPECT_NE(r.status().message().find(c.says), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace openbatch::image
