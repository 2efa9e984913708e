// What the images of one request may take, checked once they are loaded and before any is decoded:
// decoded pixels cost three bytes each, so a small, highly compressed file can stand for hundreds of
// megabytes. Each image is held to max_pixels when it is fetched (FetchOptions); this is the budget of
// the request as a whole.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"

namespace openbatch::media {

struct RequestImageBudget {
  size_t max_images = 64;             // image parts in one request
  int64_t max_bytes = 64LL << 20;     // their encoded files together
  uint64_t max_pixels = 100'000'000;  // their decoded pixels together (about 300 MB as RGB)
};

// OK when the request has at most max_images image parts; otherwise a 400 image_too_large (before
// any is loaded).
Status check_image_count(const engine::GenerationRequest& request, const RequestImageBudget& budget);

// OK when the loaded images (each part's data set) fit the budget together; otherwise a 400
// image_too_large naming the limit. Images whose size cannot be read are left to the decoder.
Status check_loaded_images(const std::vector<const engine::ImagePart*>& images,
                           const RequestImageBudget& budget);

}  // namespace openbatch::media
