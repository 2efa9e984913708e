#include "image/image_resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace openbatch::image {

namespace {

// One source pixel's share of an output pixel.
struct Tap {
  uint32_t source;
  float weight;
};

// For each of `to` output pixels along an axis of `from` source pixels, the source pixels it covers
// and their weights (the covered fraction of each, over the output pixel's width: they sum to 1).
std::vector<std::vector<Tap>> taps(uint32_t from, uint32_t to) {
  std::vector<std::vector<Tap>> out(to);
  const double ratio = static_cast<double>(from) / to;
  for (uint32_t d = 0; d < to; ++d) {
    const double lo = d * ratio;
    const double hi = std::min<double>(from, (d + 1) * ratio);
    for (auto s = static_cast<uint32_t>(lo); s < from && s < hi; ++s) {
      const double covered = std::min<double>(hi, s + 1) - std::max<double>(lo, s);
      if (covered > 1e-9) out[d].push_back({s, static_cast<float>(covered / ratio)});
    }
  }
  return out;
}

}  // namespace

void fit_within(uint32_t width, uint32_t height, uint32_t max_side, uint32_t& out_width,
                uint32_t& out_height) {
  out_width = width;
  out_height = height;
  const uint32_t longer = std::max(width, height);
  if (longer <= max_side) return;
  const double scale = static_cast<double>(max_side) / longer;
  auto side = [&](uint32_t s) {
    return std::clamp<uint32_t>(static_cast<uint32_t>(std::lround(s * scale)), 1, max_side);
  };
  out_width = width == longer ? max_side : side(width);
  out_height = height == longer ? max_side : side(height);
}

RgbImage downscale_to_fit(RgbImage image, uint32_t max_side) {
  RgbImage out;
  fit_within(image.width, image.height, max_side, out.width, out.height);
  if (out.width == image.width && out.height == image.height) return image;
  out.pixels.resize(out.n_bytes());
  const auto columns = taps(image.width, out.width);
  const auto rows = taps(image.height, out.height);
  const size_t out_row = size_t{out.width} * 3;
  // A source row averaged horizontally is used by at most two output rows: keep the last one.
  std::vector<float> wide(out_row);
  std::vector<float> sum(out_row);
  uint32_t wide_row = UINT32_MAX;
  for (uint32_t y = 0; y < out.height; ++y) {
    std::fill(sum.begin(), sum.end(), 0.0f);
    for (const Tap& row : rows[y]) {
      if (row.source != wide_row) {
        const uint8_t* src = image.pixels.data() + size_t{row.source} * image.width * 3;
        for (uint32_t x = 0; x < out.width; ++x) {
          float r = 0, g = 0, b = 0;
          for (const Tap& c : columns[x]) {
            const uint8_t* p = src + size_t{c.source} * 3;
            r += c.weight * p[0];
            g += c.weight * p[1];
            b += c.weight * p[2];
          }
          wide[x * 3] = r;
          wide[x * 3 + 1] = g;
          wide[x * 3 + 2] = b;
        }
        wide_row = row.source;
      }
      for (size_t i = 0; i < out_row; ++i) sum[i] += row.weight * wide[i];
    }
    uint8_t* dst = out.pixels.data() + y * out_row;
    for (size_t i = 0; i < out_row; ++i)
      dst[i] = static_cast<uint8_t>(std::clamp(std::lround(sum[i]), 0L, 255L));
  }
  return out;
}

}  // namespace openbatch::image
