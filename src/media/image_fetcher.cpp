#include "media/image_fetcher.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "common/curl_global.h"
#include "engine/engine.h"
#include "image/image_format.h"
#include "media/data_url.h"
#include "net/connect_check.h"

namespace openbatch::media {

namespace {

Status url_error(const std::string& url, const std::string& problem,
                 const std::string& code = "invalid_image_url") {
  return Status::invalid_request(
      "Error while downloading " + engine::describe_image_url(url) + ": " + problem + ".", "", code);
}

std::string mib(int64_t bytes) {
  const double m = static_cast<double>(bytes) / (1024.0 * 1024.0);
  char buf[32];
  std::snprintf(buf, sizeof buf, m >= 1 ? "%.0f MB" : "%.2f MB", m);
  return buf;
}

std::string scheme_of(const std::string& url) {
  const size_t colon = url.find(':');
  if (colon == std::string::npos) return "";
  std::string s = url.substr(0, colon);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

struct Body {
  std::string data;
  int64_t limit = 0;
  bool too_large = false;
};

size_t write_body(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* body = static_cast<Body*>(userdata);
  const size_t n = size * nmemb;
  if (static_cast<int64_t>(body->data.size() + n) > body->limit) {
    body->too_large = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  body->data.append(ptr, n);
  return n;
}

int stop_when_aborted(void* userdata, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(userdata)->load() ? 1 : 0;
}

}  // namespace

ImageFetcher::ImageFetcher(FetchOptions options) : options_(options) { init_curl_once(); }

Result<ImageBytes> ImageFetcher::fetch(const std::string& url, const std::atomic<bool>* abort) const {
  std::string bytes;
  if (is_data_url(url)) {
    auto decoded = decode_data_url(url);
    if (!decoded) return decoded.status();
    bytes = std::move(decoded).value();
    if (static_cast<int64_t>(bytes.size()) > options_.max_bytes) {
      return Status::invalid_request("The image in " + engine::describe_image_url(url) +
                                         " is larger than the " + mib(options_.max_bytes) + " limit.",
                                     "", "image_too_large");
    }
  } else {
    const std::string scheme = scheme_of(url);
    if (scheme != "http" && scheme != "https") {
      return Status::invalid_request("Invalid image URL " + engine::describe_image_url(url) +
                                         ": only http://, https:// and data: URLs are supported.",
                                     "", "invalid_image_url");
    }
    auto downloaded = download(url, abort);
    if (!downloaded) return downloaded.status();
    bytes = std::move(downloaded).value();
  }
  if (Status s = check_image(url, bytes); !s) return s;
  return std::make_shared<const std::string>(std::move(bytes));
}

Result<std::string> ImageFetcher::download(const std::string& url, const std::atomic<bool>* abort) const {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return Status::internal("cannot create a libcurl handle");
  Body body;
  body.limit = options_.max_bytes;
  char error[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, static_cast<long>(options_.max_redirects));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options_.max_bytes));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(c, CURLOPT_USERAGENT, "openbatch/0.1 (image fetcher)");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  net::ConnectCheck check(c, options_.destinations);  // no proxy, and only the addresses allowed
  if (abort != nullptr) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, stop_when_aborted);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, abort);
  }

  const CURLcode rc = curl_easy_perform(c);
  const double seconds = static_cast<double>(options_.total_timeout.count()) / 1000.0;
  char timeout[64];
  std::snprintf(timeout, sizeof timeout, "no complete answer within %g s", seconds);
  if (rc != CURLE_OK && check.refused()) {
    long redirects = 0;
    curl_easy_getinfo(c, CURLINFO_REDIRECT_COUNT, &redirects);
    return url_error(url, std::string(redirects > 0 ? "it redirects to a host whose" : "its host's") +
                              " address is not allowed (" + net::describe(*check.refused()) +
                              " addresses are not fetched, only public ones)");
  }
  switch (rc) {
    case CURLE_OK:
      break;
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
      if (body.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        return url_error(url, "the image is larger than the " + mib(options_.max_bytes) + " limit",
                         "image_too_large");
      }
      return url_error(url, "the download failed");
    case CURLE_ABORTED_BY_CALLBACK:
      return engine::shutting_down();
    case CURLE_OPERATION_TIMEDOUT:
      return url_error(url, "timed out (" + std::string(timeout) + ")");
    case CURLE_COULDNT_RESOLVE_HOST:
      return url_error(url, "the host name could not be resolved");
    case CURLE_COULDNT_CONNECT:
      return url_error(url, "the server is unreachable (the connection was refused or failed)");
    case CURLE_TOO_MANY_REDIRECTS:
      return url_error(url, "more than " + std::to_string(options_.max_redirects) + " redirects");
    case CURLE_UNSUPPORTED_PROTOCOL:
      return url_error(url, "it redirects to a URL that is not http:// or https://");
    case CURLE_URL_MALFORMAT:
      return url_error(url, "the URL is malformed");
    default:
      return url_error(url, error[0] != '\0' ? std::string(error) : curl_easy_strerror(rc));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    if (status >= 300 && status < 400) {
      return url_error(url, "HTTP " + std::to_string(status) + " redirect without a usable Location");
    }
    return url_error(url, "the server answered HTTP " + std::to_string(status));
  }
  return std::move(body.data);
}

Status ImageFetcher::check_image(const std::string& url, const std::string& bytes) const {
  auto format = image::read_image_format(bytes);
  if (!format) {
    return Status::invalid_request("The file at " + engine::describe_image_url(url) +
                                       " is not a decodable image: " + format.status().message(),
                                   "", format.status().code());
  }
  if (format->width > options_.max_side || format->height > options_.max_side) {
    return Status::invalid_request("The image at " + engine::describe_image_url(url) +
                                       " is too large: " + std::to_string(format->width) + "x" +
                                       std::to_string(format->height) + " pixels, more than " +
                                       std::to_string(options_.max_side) + " on a side.",
                                   "", "image_too_large");
  }
  if (static_cast<uint64_t>(format->width) * format->height > options_.max_pixels) {
    return Status::invalid_request("The image at " + engine::describe_image_url(url) +
                                       " is too large: " + std::to_string(format->width) + "x" +
                                       std::to_string(format->height) + " pixels, more than " +
                                       std::to_string(options_.max_pixels) + " pixels in all.",
                                   "", "image_too_large");
  }
  return Status::ok();
}

}  // namespace openbatch::media
