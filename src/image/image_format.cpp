#include "image/image_format.h"

#include <webp/decode.h>

#include <cctype>

namespace openbatch::image {

namespace {

uint32_t be16(std::string_view b, size_t i) {
  return (static_cast<uint8_t>(b[i]) << 8) | static_cast<uint8_t>(b[i + 1]);
}
uint32_t be32(std::string_view b, size_t i) { return (be16(b, i) << 16) | be16(b, i + 2); }
uint32_t le16(std::string_view b, size_t i) {
  return static_cast<uint8_t>(b[i]) | (static_cast<uint8_t>(b[i + 1]) << 8);
}
uint32_t le32(std::string_view b, size_t i) { return le16(b, i) | (le16(b, i + 2) << 16); }

bool starts_with(std::string_view b, std::string_view magic) { return b.substr(0, magic.size()) == magic; }

Status not_an_image(const std::string& what) {
  return Status::invalid_request(
      "The image is not in a supported format (" + what + "). Supported formats: png, jpeg, gif, bmp, webp.",
      "", "invalid_image_format");
}

Status truncated(const std::string& format) {
  return Status::invalid_request("The " + format + " image is truncated or corrupt.", "", "invalid_image");
}

// Width and height from the first start-of-frame marker of a JPEG.
Result<ImageFormat> read_jpeg(std::string_view b) {
  size_t i = 2;
  while (i + 4 <= b.size()) {
    if (static_cast<uint8_t>(b[i]) != 0xFF) return truncated("jpeg");
    const uint8_t marker = static_cast<uint8_t>(b[i + 1]);
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {  // no length
      i += 2;
      continue;
    }
    const uint32_t length = be16(b, i + 2);
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (i + 9 > b.size()) break;
      return ImageFormat{"jpeg", be16(b, i + 7), be16(b, i + 5)};
    }
    if (marker == 0xD9 || length < 2) break;  // end of image before any frame
    i += 2 + length;
  }
  return truncated("jpeg");
}

std::string describe(std::string_view b) {
  if (b.empty()) return "the file is empty";
  if (starts_with(b, "%PDF")) return "it is a PDF document";
  size_t i = 0;
  while (i < b.size() && i < 64 && std::isspace(static_cast<unsigned char>(b[i]))) ++i;
  if (i < b.size() && b[i] == '<') return "it looks like HTML or XML text";
  if (i < b.size() && (b[i] == '{' || b[i] == '[')) return "it looks like JSON text";
  return "its first bytes are not those of an image";
}

}  // namespace

Result<ImageFormat> read_image_format(std::string_view b) {
  ImageFormat f;
  if (starts_with(b, "\x89PNG\r\n\x1a\n")) {
    if (b.size() < 24 || b.substr(12, 4) != "IHDR") return truncated("png");
    f = {"png", be32(b, 16), be32(b, 20)};
  } else if (starts_with(b, "\xFF\xD8\xFF")) {
    auto jpeg = read_jpeg(b);
    if (!jpeg) return jpeg.status();
    f = *jpeg;
  } else if (starts_with(b, "GIF87a") || starts_with(b, "GIF89a")) {
    if (b.size() < 10) return truncated("gif");
    f = {"gif", le16(b, 6), le16(b, 8)};
  } else if (starts_with(b, "BM")) {
    if (b.size() < 26) return truncated("bmp");
    const uint32_t header = le32(b, 14);
    if (header == 12) {
      f = {"bmp", le16(b, 18), le16(b, 20)};
    } else {
      const int32_t h = static_cast<int32_t>(le32(b, 22));  // negative: rows top-down
      f = {"bmp", le32(b, 18), static_cast<uint32_t>(h < 0 ? -static_cast<int64_t>(h) : h)};
    }
  } else if (starts_with(b, "RIFF") && b.size() >= 12 && b.substr(8, 4) == "WEBP") {
    // libwebp reads the canvas size of every kind (VP8, VP8L, VP8X with alpha or animation).
    WebPBitstreamFeatures features;
    if (WebPGetFeatures(reinterpret_cast<const uint8_t*>(b.data()), b.size(), &features) != VP8_STATUS_OK ||
        features.width <= 0 || features.height <= 0) {
      return truncated("webp");
    }
    f = {"webp", static_cast<uint32_t>(features.width), static_cast<uint32_t>(features.height)};
  } else {
    return not_an_image(describe(b));
  }
  if (f.width == 0 || f.height == 0) return truncated(f.name);
  return f;
}

}  // namespace openbatch::image
