// WebP files decoded with libwebp (the decoder that mtmd's own image loader, stb_image, lacks).
#pragma once

#include <string_view>

#include "common/status.h"
#include "image/rgb_image.h"

namespace openbatch::image {

// The pixels of a WebP file: lossy, lossless, with or without alpha (dropped, as for the other
// formats), or animated (its first frame, as for animated GIFs). 400 invalid_image when the file is
// truncated, corrupt or not WebP at all.
// REQUIRES: the file's size was checked against the limits (read_image_format, ImageFetcher): the
// pixels take width * height * 3 bytes.
// Thread-safe.
Result<RgbImage> decode_webp(std::string_view bytes);

}  // namespace openbatch::image
