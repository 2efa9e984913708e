// data: URLs of images (RFC 2397), as OpenAI accepts them in image_url parts:
// "data:image/png;base64,iVBORw0KGgo...".
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace openbatch::media {

// Whether url is a data: URL (case-insensitive scheme).
bool is_data_url(std::string_view url);

// The bytes a base64 data: URL with an image/* media type carries. 400 invalid_image_url naming the
// problem (not base64, a media type other than image/*, bad base64, no data) otherwise.
Result<std::string> decode_data_url(std::string_view url);

}  // namespace openbatch::media
