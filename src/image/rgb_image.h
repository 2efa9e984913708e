// Decoded pixels: 8-bit RGB, row by row, no padding. What the image decoders and the resizer of
// media/ pass around, and what mtmd takes as a bitmap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace openbatch::image {

struct RgbImage {
  uint32_t width = 0;
  uint32_t height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3 bytes: R, G, B of each pixel, top row first

  size_t n_bytes() const { return size_t{width} * height * 3; }
};

}  // namespace openbatch::image
