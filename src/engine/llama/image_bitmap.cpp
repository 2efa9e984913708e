#include "engine/llama/image_bitmap.h"

#include <openssl/sha.h>

#include <cstring>

#include "image/image_format.h"
#include "image/image_resize.h"
#include "image/webp_decoder.h"
#include "mtmd-helper.h"

namespace openbatch::engine {

namespace {

std::string sha256_hex(const std::string& bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : digest) {
    hex += kHex[c >> 4];
    hex += kHex[c & 0xF];
  }
  return hex;
}

Status undecodable(const ImagePart& image, const std::string& why) {
  return Status::invalid_request(
      "The image at " + describe_image_url(image.url) + " could not be decoded: " + why, "", "invalid_image");
}

mtmd::bitmap_ptr bitmap_of(const image::RgbImage& pixels, const std::string& id) {
  mtmd::bitmap_ptr bitmap(mtmd_bitmap_init(pixels.width, pixels.height, pixels.pixels.data()));
  mtmd_bitmap_set_id(bitmap.get(), id.c_str());
  return bitmap;
}

}  // namespace

Result<mtmd::bitmap> image_bitmap(const mtmd_context* mtmd, const ImagePart& image) {
  if (!image.data) return Status::internal("image " + describe_image_url(image.url) + " was not loaded");
  const std::string& bytes = *image.data;
  mtmd::bitmap_ptr bitmap;
  if (auto format = image::read_image_format(bytes); format && format->name == "webp") {
    auto pixels = image::decode_webp(bytes);
    if (!pixels) return undecodable(image, "the webp image is truncated or corrupt.");
    bitmap = bitmap_of(*pixels, sha256_hex(bytes));
  } else {
    mtmd_helper_bitmap_wrapper w =
        mtmd_helper_bitmap_init_from_buf(mtmd, reinterpret_cast<const unsigned char*>(bytes.data()),
                                         bytes.size(), /*placeholder=*/false, mtmd_helper_init_opt_default());
    bitmap.reset(w.bitmap);
    if (!bitmap || mtmd_bitmap_is_audio(bitmap.get())) {
      return undecodable(
          image, "the file is corrupt or not an image in a supported format (png, jpeg, gif, bmp, webp).");
    }
  }
  const uint32_t nx = mtmd_bitmap_get_nx(bitmap.get()), ny = mtmd_bitmap_get_ny(bitmap.get());
  uint32_t width = nx, height = ny;
  if (image.detail == "low") image::fit_within(nx, ny, kLowDetailMaxSide, width, height);
  if (width == nx && height == ny) return mtmd::bitmap(bitmap.release());
  image::RgbImage full{nx, ny, {}};
  full.pixels.resize(full.n_bytes());
  std::memcpy(full.pixels.data(), mtmd_bitmap_get_data(bitmap.get()), full.pixels.size());
  const char* id = mtmd_bitmap_get_id(bitmap.get());
  const std::string low_id = std::string(id != nullptr ? id : sha256_hex(bytes)) + "/low";
  bitmap.reset();  // the full-size pixels go before the small ones are made
  return mtmd::bitmap(
      bitmap_of(image::downscale_to_fit(std::move(full), kLowDetailMaxSide), low_id).release());
}

}  // namespace openbatch::engine
