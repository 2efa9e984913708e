#include "image/image_resize.h"

#include <gtest/gtest.h>

#include "image/test_images_for_test.h"

namespace openbatch::image {
namespace {

RgbImage test_image(uint32_t width, uint32_t height, uint32_t seed) {
  return {width, height, image::testing::test_pixels(width, height, seed)};
}

TEST(ImageResizeTest, HalvesA1024x768ImageToTheMeanOfEach2x2Block) {
  const RgbImage big = test_image(1024, 768, 1);
  const RgbImage small = downscale_to_fit(big, 512);
  ASSERT_EQ(small.width, 512u);
  ASSERT_EQ(small.height, 384u);
  ASSERT_EQ(small.pixels.size(), small.n_bytes());
  for (uint32_t y = 0; y < small.height; y += 37) {
    for (uint32_t x = 0; x < small.width; x += 41) {
      for (int c = 0; c < 3; ++c) {
        int sum = 0;
        for (uint32_t dy = 0; dy < 2; ++dy) {
          for (uint32_t dx = 0; dx < 2; ++dx)
            sum += big.pixels[((2 * y + dy) * big.width + 2 * x + dx) * 3 + c];
        }
        // The mean of four, rounded (a .5 may fall either way in float).
        EXPECT_NEAR(small.pixels[(y * small.width + x) * 3 + c], sum / 4.0, 0.5 + 1e-3) << x << "," << y;
      }
    }
  }
}

TEST(ImageResizeTest, LeavesAnImageThatFitsUntouched) {
  const RgbImage image = test_image(300, 200, 2);
  const RgbImage same = downscale_to_fit(image, 512);
  EXPECT_EQ(same.width, 300u);
  EXPECT_EQ(same.height, 200u);
  EXPECT_EQ(same.pixels, image.pixels);
  const RgbImage exact = downscale_to_fit(test_image(512, 100, 3), 512);  // the longer side at the limit
  EXPECT_EQ(exact.width, 512u);
  EXPECT_EQ(exact.height, 100u);
}

TEST(ImageResizeTest, KeepsTheAspectRatioAndNeverEnlarges) {
  uint32_t w = 0, h = 0;
  fit_within(2000, 1000, 512, w, h);
  EXPECT_EQ(w, 512u);
  EXPECT_EQ(h, 256u);
  fit_within(700, 1300, 512, w, h);  // tall: 700 * 512 / 1300 = 275.7
  EXPECT_EQ(w, 276u);
  EXPECT_EQ(h, 512u);
  fit_within(8192, 3, 512, w, h);  // a sliver keeps a pixel
  EXPECT_EQ(w, 512u);
  EXPECT_EQ(h, 1u);
  fit_within(10, 20, 512, w, h);
  EXPECT_EQ(w, 10u);
  EXPECT_EQ(h, 20u);
}

TEST(ImageResizeTest, AveragesOverUnevenFactorsWithoutBias) {
  // A flat colour stays that colour through a factor of 1300 / 512, whose output pixels cover source
  // pixels in part.
  RgbImage flat{1300, 700, std::vector<uint8_t>(1300 * 700 * 3)};
  for (size_t i = 0; i < flat.pixels.size(); i += 3) {
    flat.pixels[i] = 10;
    flat.pixels[i + 1] = 128;
    flat.pixels[i + 2] = 250;
  }
  const RgbImage small = downscale_to_fit(flat, 512);
  ASSERT_EQ(small.width, 512u);
  ASSERT_EQ(small.height, 276u);
  for (size_t i = 0; i < small.pixels.size(); i += 3) {
    ASSERT_EQ(small.pixels[i], 10) << i;
    ASSERT_EQ(small.pixels[i + 1], 128) << i;
    ASSERT_EQ(small.pixels[i + 2], 250) << i;
  }
  // Stripes of one source pixel, black and white, average to grey: area averaging does not alias.
  RgbImage stripes{1031, 10, std::vector<uint8_t>(1031 * 10 * 3)};
  for (uint32_t y = 0; y < 10; ++y) {
    for (uint32_t x = 0; x < 1031; ++x) {
      for (int c = 0; c < 3; ++c) stripes.pixels[(y * 1031 + x) * 3 + c] = x % 2 ? 255 : 0;
    }
  }
  const RgbImage grey = downscale_to_fit(stripes, 100);
  ASSERT_EQ(grey.width, 100u);
  for (size_t i = 0; i < grey.pixels.size(); ++i) EXPECT_NEAR(grey.pixels[i], 127.5, 13) << i;
}

}  // namespace
}  // namespace openbatch::image
