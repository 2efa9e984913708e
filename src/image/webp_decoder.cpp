#include "image/webp_decoder.h"

#include <webp/decode.h>
#include <webp/demux.h>

#include <memory>

namespace openbatch::image {

namespace {

Status corrupt() {
  return Status::invalid_request("The webp image is truncated or corrupt.", "", "invalid_image");
}

struct AnimDecoderDeleter {
  void operator()(WebPAnimDecoder* d) const { WebPAnimDecoderDelete(d); }
};

// The first frame of an animation, composed on its canvas (RGBA), with the alpha dropped.
Result<RgbImage> first_frame(std::string_view bytes) {
  WebPAnimDecoderOptions options;
  if (!WebPAnimDecoderOptionsInit(&options))
    return Status::internal("libwebp's animation decoder is unusable");
  options.color_mode = MODE_RGBA;
  options.use_threads = 0;
  const WebPData data{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
  std::unique_ptr<WebPAnimDecoder, AnimDecoderDeleter> decoder(WebPAnimDecoderNew(&data, &options));
  if (!decoder) return corrupt();
  WebPAnimInfo info;
  uint8_t* rgba = nullptr;
  int timestamp = 0;
  if (!WebPAnimDecoderGetInfo(decoder.get(), &info) || info.canvas_width == 0 || info.canvas_height == 0 ||
      !WebPAnimDecoderGetNext(decoder.get(), &rgba, &timestamp)) {
    return corrupt();
  }
  RgbImage image{info.canvas_width, info.canvas_height, {}};
  image.pixels.resize(image.n_bytes());
  const size_t n = size_t{image.width} * image.height;
  for (size_t i = 0; i < n; ++i) {
    image.pixels[i * 3] = rgba[i * 4];
    image.pixels[i * 3 + 1] = rgba[i * 4 + 1];
    image.pixels[i * 3 + 2] = rgba[i * 4 + 2];
  }
  return image;
}

}  // namespace

Result<RgbImage> decode_webp(std::string_view bytes) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  WebPBitstreamFeatures features;
  if (WebPGetFeatures(data, bytes.size(), &features) != VP8_STATUS_OK || features.width <= 0 ||
      features.height <= 0) {
    return corrupt();
  }
  if (features.has_animation) return first_frame(bytes);
  RgbImage image{static_cast<uint32_t>(features.width), static_cast<uint32_t>(features.height), {}};
  image.pixels.resize(image.n_bytes());
  // Straight into our buffer: WebPDecodeRGB would allocate the pixels a second time.
  if (WebPDecodeRGBInto(data, bytes.size(), image.pixels.data(), image.pixels.size(),
                        static_cast<int>(image.width * 3)) == nullptr) {
    return corrupt();
  }
  return image;
}

}  // namespace openbatch::image
