// An image part made into the bitmap that mtmd tokenises: decoded, shrunk where `detail` asks for it,
// and named by its content so that mtmd's chunk ids (and with them the engine's image placeholders and
// its cache of recent embeddings) match exactly when the pixels the projector sees match.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "engine/engine.h"
#include "mtmd.h"

namespace openbatch::engine {

// The longer side of an image sent with detail "low", at most.
constexpr uint32_t kLowDetailMaxSide = 512;

// The bitmap of image: WebP decoded with libwebp (media/webp_decoder.h), the other formats by mtmd's
// own loader (stb_image); then, for detail "low", shrunk so that its longer side is at most
// kLowDetailMaxSide (media/image_resize.h; never enlarged), which gives fewer image tokens on
// projectors that take the image at its own resolution (Qwen2-VL family) and the same number on
// fixed-resolution ones (LLaVA-style). "high", "auto" and none keep the image as it is.
// The id is the SHA-256 of the encoded file (as mtmd's loader gives it), with "/low" after it when
// the image was shrunk. 400 invalid_image naming the URL when the file does not decode; 500 when
// image.data is not set.
// Thread-safe.
Result<mtmd::bitmap> image_bitmap(const mtmd_context* mtmd, const ImagePart& image);

}  // namespace openbatch::engine
