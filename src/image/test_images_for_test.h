// Small encoded images for tests: PNG (through zlib), BMP and WebP (libwebp's encoder), with pixels
// drawn from a seed.
#pragma once

#include <webp/encode.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

namespace openbatch::image::testing {

inline void put_be32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xFF);
}
inline void put_le(std::string& out, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

// RGB pixels, row by row: a gradient plus seed-dependent noise, so different seeds differ everywhere.
inline std::vector<uint8_t> test_pixels(uint32_t width, uint32_t height, uint32_t seed) {
  std::vector<uint8_t> rgb(size_t{width} * height * 3);
  uint32_t state = seed * 2654435761u + 1;
  for (size_t i = 0; i < rgb.size(); ++i) {
    state = state * 1664525u + 1013904223u;
    rgb[i] = static_cast<uint8_t>((i * 7 + (state >> 24)) & 0xFF);
  }
  return rgb;
}

inline std::string png_image(uint32_t width, uint32_t height, uint32_t seed = 0) {
  const std::vector<uint8_t> rgb = test_pixels(width, height, seed);
  std::string raw;
  for (uint32_t y = 0; y < height; ++y) {
    raw += '\0';  // filter: none
    raw.append(reinterpret_cast<const char*>(rgb.data()) + size_t{y} * width * 3, size_t{width} * 3);
  }
  uLongf n = compressBound(static_cast<uLong>(raw.size()));
  std::string deflated(n, '\0');
  compress(reinterpret_cast<Bytef*>(deflated.data()), &n, reinterpret_cast<const Bytef*>(raw.data()),
           static_cast<uLong>(raw.size()));
  deflated.resize(n);
  auto chunk = [](std::string& out, const char* type, const std::string& data) {
    put_be32(out, static_cast<uint32_t>(data.size()));
    const std::string body = std::string(type, 4) + data;
    out += body;
    put_be32(out, static_cast<uint32_t>(
                      crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
  };
  std::string ihdr;
  put_be32(ihdr, width);
  put_be32(ihdr, height);
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB
  std::string png("\x89PNG\r\n\x1a\n", 8);
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", deflated);
  chunk(png, "IEND", "");
  return png;
}

inline std::string bmp_image(uint32_t width, uint32_t height, uint32_t seed = 0) {
  const std::vector<uint8_t> rgb = test_pixels(width, height, seed);
  const uint32_t row = (width * 3 + 3) & ~3u;
  std::string bmp = "BM";
  put_le(bmp, 54 + row * height, 4);
  put_le(bmp, 0, 4);
  put_le(bmp, 54, 4);
  put_le(bmp, 40, 4);
  put_le(bmp, width, 4);
  put_le(bmp, height, 4);
  put_le(bmp, 1, 2);
  put_le(bmp, 24, 2);
  put_le(bmp, 0, 4);
  put_le(bmp, row * height, 4);
  put_le(bmp, 2835, 4);
  put_le(bmp, 2835, 4);
  put_le(bmp, 0, 4);
  put_le(bmp, 0, 4);
  for (uint32_t y = height; y-- > 0;) {  // bottom-up, BGR
    for (uint32_t x = 0; x < width; ++x) {
      const uint8_t* p = &rgb[(size_t{y} * width + x) * 3];
      bmp += static_cast<char>(p[2]);
      bmp += static_cast<char>(p[1]);
      bmp += static_cast<char>(p[0]);
    }
    bmp.append(row - width * 3, '\0');
  }
  return bmp;
}

// A WebP file of the seed's pixels: lossy (quality 80) or lossless (its pixels decode exactly).
inline std::string webp_image(uint32_t width, uint32_t height, uint32_t seed = 0, bool lossless = false) {
  const std::vector<uint8_t> rgb = test_pixels(width, height, seed);
  uint8_t* out = nullptr;
  const int stride = static_cast<int>(width * 3);
  const size_t n =
      lossless
          ? WebPEncodeLosslessRGB(rgb.data(), static_cast<int>(width), static_cast<int>(height), stride, &out)
          : WebPEncodeRGB(rgb.data(), static_cast<int>(width), static_cast<int>(height), stride, 80.0f, &out);
  std::string webp(reinterpret_cast<const char*>(out), n);
  WebPFree(out);
  return webp;
}

// A base64 data: URL of bytes.
inline std::string data_url(const std::string& media_type, const std::string& bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = "data:" + media_type + ";base64,";
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint8_t(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

}  // namespace openbatch::image::testing
