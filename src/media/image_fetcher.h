// Fetches the image an image_url part names: http:// and https:// URLs with libcurl, data: URLs by
// decoding them. Whatever comes back is checked to be an image of a supported format and size.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "net/destination_policy.h"

namespace openbatch::media {

struct FetchOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{30000};  // connecting, redirects and the whole body
  int64_t max_bytes = 20 * 1024 * 1024;            // of the encoded file
  uint32_t max_side = 8192;                        // pixels, width and height each
  uint64_t max_pixels = 33'177'600;                // width x height (8K UHD; about 100 MB decoded)
  int max_redirects = 3;
  net::DestinationPolicy destinations;  // checked on every address connected to, redirects included
};

using ImageBytes = std::shared_ptr<const std::string>;

class ImageFetcher {
 public:
  explicit ImageFetcher(FetchOptions options);

  // The encoded image at url. Only http and https are fetched, also after redirects (at most
  // max_redirects of them), and only from addresses options().destinations allows: each address is
  // checked as a connection to it is about to open (so a name that resolves to a refused address, or a
  // redirect to one, is refused too), and proxies from the environment are not used. Errors are 400
  // invalid_request_error whose message names the URL and its problem: invalid_image_url (an
  // unsupported scheme, an address that is not allowed, a host that cannot be resolved or reached, an
  // HTTP status other than 200, a timeout, too many redirects, a bad data: URL), image_too_large,
  // invalid_image_format (not an image), invalid_image (a corrupt header).
  // Blocks for up to total_timeout; a download stops early, with a 503, once *abort becomes true.
  // Thread-safe.
  Result<ImageBytes> fetch(const std::string& url, const std::atomic<bool>* abort = nullptr) const;

  const FetchOptions& options() const { return options_; }

 private:
  Result<std::string> download(const std::string& url, const std::atomic<bool>* abort) const;
  Status check_image(const std::string& url, const std::string& bytes) const;

  FetchOptions options_;
};

}  // namespace openbatch::media
