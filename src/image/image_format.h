// What an image file is, read from its first bytes: the format and the dimensions, without decoding
// the pixels. Used to turn away what is not an image (an HTML error page, a PDF) and what is too big
// to decode, before any decoder sees it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace openbatch::image {

struct ImageFormat {
  std::string name;  // "png", "jpeg", "gif", "bmp", "webp"
  uint32_t width = 0;
  uint32_t height = 0;
};

// The format and size of an encoded PNG, JPEG, GIF, BMP or WebP file (an animation's canvas size).
// 400 invalid_image_format (naming what the bytes look like instead) for anything else. 400
// invalid_image when the header is cut short or declares no pixels.
Result<ImageFormat> read_image_format(std::string_view bytes);

}  // namespace openbatch::image
