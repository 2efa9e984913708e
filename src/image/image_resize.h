// Shrinking decoded images, for `detail: "low"`: fewer pixels make fewer image tokens on projectors
// that take images at their own resolution.
#pragma once

#include <cstdint>

#include "image/rgb_image.h"

namespace openbatch::image {

// The size image takes once its longer side is at most max_side: the aspect ratio kept (each side
// rounded, at least 1), never larger than it is.
// REQUIRES: max_side > 0.
void fit_within(uint32_t width, uint32_t height, uint32_t max_side, uint32_t& out_width,
                uint32_t& out_height);

// image shrunk to fit_within(max_side) by area averaging (each output pixel the mean of the source
// area it covers, partly covered source pixels weighted by the part): no aliasing, however large the
// factor. An image that already fits comes back as it is.
// REQUIRES: max_side > 0; image.pixels holds image.n_bytes() bytes.
RgbImage downscale_to_fit(RgbImage image, uint32_t max_side);

}  // namespace openbatch::image
