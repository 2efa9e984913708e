#include "media/data_url.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "engine/engine.h"

namespace openbatch::media {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

Status bad_data_url(std::string_view url, const std::string& why) {
  return Status::invalid_request("Invalid image URL " + engine::describe_image_url(std::string(url)) + ": " +
                                     why +
                                     ". Expected a base64-encoded data URL with an image media type, such as "
                                     "'data:image/png;base64,iVBORw0KGgo...'.",
                                 "", "invalid_image_url");
}

// Base64 through OpenSSL's decoder, which skips whitespace and line breaks and checks the padding.
Result<std::string> base64_decode(std::string_view text) {
  std::unique_ptr<EVP_ENCODE_CTX, decltype(&EVP_ENCODE_CTX_free)> ctx(EVP_ENCODE_CTX_new(),
                                                                      EVP_ENCODE_CTX_free);
  if (!ctx) return Status::internal("out of memory");
  EVP_DecodeInit(ctx.get());
  std::string out(text.size() / 4 * 3 + 3, '\0');
  int n = 0;
  // EVP_DecodeUpdate takes an int length: feed it in pieces.
  size_t done = 0;
  size_t written = 0;
  while (done < text.size()) {
    const int piece = static_cast<int>(std::min<size_t>(text.size() - done, 1 << 20));
    if (EVP_DecodeUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data() + written), &n,
                         reinterpret_cast<const unsigned char*>(text.data() + done), piece) < 0) {
      return Status::invalid_request("bad base64");
    }
    written += static_cast<size_t>(n);
    done += static_cast<size_t>(piece);
  }
  if (EVP_DecodeFinal(ctx.get(), reinterpret_cast<unsigned char*>(out.data() + written), &n) < 0) {
    return Status::invalid_request("bad base64");
  }
  written += static_cast<size_t>(n);
  out.resize(written);
  return out;
}

}  // namespace

bool is_data_url(std::string_view url) { return url.size() >= 5 && lower(url.substr(0, 5)) == "data:"; }

Result<std::string> decode_data_url(std::string_view url) {
  if (!is_data_url(url)) return bad_data_url(url, "not a data: URL");
  const size_t comma = url.find(',');
  if (comma == std::string_view::npos) return bad_data_url(url, "no ',' before the data");
  const std::string header = lower(url.substr(5, comma - 5));  // "image/png;base64"
  const size_t semi = header.find(';');
  const std::string media_type = header.substr(0, semi);
  if (media_type.rfind("image/", 0) != 0 || media_type.size() == 6) {
    return bad_data_url(url, "unsupported media type '" + media_type + "'");
  }
  if (header.size() < 7 || header.compare(header.size() - 7, 7, ";base64") != 0) {
    return bad_data_url(url, "the data is not base64 (';base64' is missing)");
  }
  auto bytes = base64_decode(url.substr(comma + 1));
  if (!bytes) return bad_data_url(url, "the data is not valid base64");
  if (bytes->empty()) return bad_data_url(url, "it holds no data");
  return bytes;
}

}  // namespace openbatch::media
