// One keep-alive HTTP connection to an upstream server, for JSON calls that can be aborted midway.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace openbatch::engine::upstream {

struct HttpReply {
  long status = 0;  // 0 when no answer came (transport_error says why)
  std::string transport_error;
  std::string body;
  std::optional<std::chrono::milliseconds> retry_after;  // the Retry-After header, when sent in seconds
  bool aborted = false;                                  // abort() said stop
  bool timed_out = false;                                // no answer within the call's timeout (status 0)
  bool connect_failed = false;  // no connection could be made: refused, no route, unknown host (status 0)
  bool too_large = false;       // the body passed the call's max_body (status 0)
};

// Not thread-safe: one per worker thread. Reuses its connection between calls.
class UpstreamConnection {
 public:
  UpstreamConnection();
  ~UpstreamConnection();
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

  // POSTs json_body (GET when it is empty) to url with `Authorization: Bearer api_key` when a key is
  // given. abort is polled while the call runs (true: stop, the reply says aborted). With on_chunk, a
  // 2xx answer's body goes to it piece by piece as it arrives instead of into the reply. max_body > 0:
  // a body kept in the reply that grows past it ends the call (too_large).
  HttpReply call(const std::string& url, const std::string& json_body, const std::string& api_key,
                 std::chrono::seconds timeout, const std::function<bool()>& abort,
                 const std::function<void(std::string_view)>& on_chunk = nullptr, size_t max_body = 0);
  // Request headers ("Name: value") sent with every later call besides those above.
  void set_headers(std::vector<std::string> headers) { headers_ = std::move(headers); }

 private:
  struct Deleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
  };
  std::unique_ptr<CURL, Deleter> curl_;
  std::vector<std::string> headers_;
};

}  // namespace openbatch::engine::upstream
