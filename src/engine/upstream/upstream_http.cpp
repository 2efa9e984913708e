#include "engine/upstream/upstream_http.h"

#include <strings.h>

#include <cctype>
#include <cstring>

#include "common/curl_global.h"

namespace openbatch::engine::upstream {

namespace {

struct BodySink {
  CURL* curl;
  std::string* body;
  const std::function<void(std::string_view)>* on_chunk;
  size_t max_body;  // 0: no limit
  bool too_large = false;
};

size_t take_body(char* data, size_t size, size_t n, void* out) {
  auto* sink = static_cast<BodySink*>(out);
  long status = 0;
  curl_easy_getinfo(sink->curl, CURLINFO_RESPONSE_CODE, &status);
  if (*sink->on_chunk && status >= 200 && status < 300) {
    (*sink->on_chunk)(std::string_view(data, size * n));
  } else {
    if (sink->max_body > 0 && sink->body->size() + size * n > sink->max_body) {
      sink->too_large = true;
      return 0;  // curl ends the call (CURLE_WRITE_ERROR)
    }
    sink->body->append(data, size * n);
  }
  return size * n;
}

// Keeps Retry-After when it is a number of seconds (its HTTP-date form is rare from API servers).
size_t read_header(char* data, size_t size, size_t n, void* out) {
  const size_t len = size * n;
  constexpr const char kName[] = "retry-after:";
  constexpr size_t kNameLen = sizeof(kName) - 1;
  if (len > kNameLen && strncasecmp(data, kName, kNameLen) == 0) {
    std::string value(data + kNameLen, len - kNameLen);
    char* end = nullptr;
    const double seconds = std::strtod(value.c_str(), &end);
    if (end != value.c_str() && seconds >= 0) {
      *static_cast<std::optional<std::chrono::milliseconds>*>(out) =
          std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    }
  }
  return len;
}

int check_abort(void* abort, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return (*static_cast<const std::function<bool()>*>(abort))() ? 1 : 0;
}

}  // namespace

UpstreamConnection::UpstreamConnection() {
  init_curl_once();
  curl_.reset(curl_easy_init());
}

UpstreamConnection::~UpstreamConnection() = default;

HttpReply UpstreamConnection::call(const std::string& url, const std::string& json_body,
                                   const std::string& api_key, std::chrono::seconds timeout,
                                   const std::function<bool()>& abort,
                                   const std::function<void(std::string_view)>& on_chunk, size_t max_body) {
  HttpReply reply;
  CURL* c = curl_.get();
  if (!c) {
    reply.transport_error = "curl_easy_init failed";
    return reply;
  }
  curl_easy_reset(c);  // keeps the connection cache
  curl_slist* headers = nullptr;
  if (!api_key.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + api_key).c_str());
  for (const std::string& h : headers_) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  BodySink sink{c, &reply.body, &on_chunk, max_body};
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, take_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, read_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &reply.retry_after);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "openbatch");
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, check_abort);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &abort);
  if (!json_body.empty()) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(json_body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  const CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (rc == CURLE_ABORTED_BY_CALLBACK) {
    reply.aborted = true;
  } else if (sink.too_large) {
    reply.too_large = true;
    reply.transport_error = "answer over " + std::to_string(max_body) + " bytes";
  } else if (rc != CURLE_OK) {
    reply.transport_error = curl_easy_strerror(rc);
    reply.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
    reply.connect_failed = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST;
  } else {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
  }
  return reply;
}

}  // namespace openbatch::engine::upstream
