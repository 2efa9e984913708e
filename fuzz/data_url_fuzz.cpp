// libFuzzer target: data: URLs of images. The input is the URL itself, and, with a data:image/png;
// base64 prefix, also the payload of one.
#include <cstdint>
#include <string>
#include <string_view>

#include "media/data_url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (openbatch::media::is_data_url(text)) (void)openbatch::media::decode_data_url(text);
  (void)openbatch::media::decode_data_url("data:image/png;base64," + std::string(text));
  return 0;
}
