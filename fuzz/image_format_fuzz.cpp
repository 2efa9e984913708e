// libFuzzer target: image sniffing (format and size from the first bytes of PNG, JPEG, GIF, BMP,
// WebP...). A format it accepts has a size.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "image/image_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto format =
      openbatch::image::read_image_format(std::string_view(reinterpret_cast<const char*>(data), size));
  if (format.is_ok() && (format->width == 0 || format->height == 0)) std::abort();
  return 0;
}
