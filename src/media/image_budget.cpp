#include "media/image_budget.h"

#include <string>

#include "image/image_format.h"

namespace openbatch::media {

namespace {

Status too_large(const std::string& what) {
  return Status::invalid_request("The images of this request are too large: " + what + ".", "",
                                 "image_too_large");
}

}  // namespace

Status check_image_count(const engine::GenerationRequest& request, const RequestImageBudget& budget) {
  size_t images = 0;
  for (const auto& m : request.messages) images += m.images.size();
  if (images <= budget.max_images) return Status::ok();
  return too_large(std::to_string(images) + " images, where one request takes at most " +
                   std::to_string(budget.max_images));
}

Status check_loaded_images(const std::vector<const engine::ImagePart*>& images,
                           const RequestImageBudget& budget) {
  int64_t bytes = 0;
  uint64_t pixels = 0;
  for (const engine::ImagePart* image : images) {
    if (!image->data) continue;
    bytes += static_cast<int64_t>(image->data->size());
    if (auto format = image::read_image_format(*image->data)) {
      pixels += static_cast<uint64_t>(format->width) * format->height;
    }
  }
  if (bytes > budget.max_bytes) {
    return too_large(std::to_string(bytes) + " bytes of image files, more than the " +
                     std::to_string(budget.max_bytes) + " one request takes");
  }
  if (pixels > budget.max_pixels) {
    return too_large(std::to_string(pixels) + " pixels in all, more than the " +
                     std::to_string(budget.max_pixels) + " one request takes");
  }
  return Status::ok();
}

}  // namespace openbatch::media
