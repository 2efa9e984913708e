#include "webhooks/curl_webhook_transport.h"

#include <curl/curl.h>

#include <memory>
#include <string>

#include "common/curl_global.h"
#include "net/connect_check.h"

namespace openbatch::webhooks {
namespace {

size_t discard_body(char*, size_t size, size_t nmemb, void*) { return size * nmemb; }

int stop_when_aborted(void* userdata, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(userdata)->load() ? 1 : 0;
}

class CurlWebhookTransport final : public WebhookTransport {
 public:
  explicit CurlWebhookTransport(CurlTransportOptions options) : options_(std::move(options)) {
    init_curl_once();
  }

  Result<int> post(const WebhookRequest& request, const std::atomic<bool>& abort) override {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) return Status::internal("cannot create a libcurl handle");
    CURL* c = curl.get();
    curl_slist* headers = nullptr;
    for (const auto& [name, value] : request.headers)
      headers = curl_slist_append(headers, (name + ": " + value).c_str());
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(headers, curl_slist_free_all);
    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.total_timeout.count()));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "openbatch/0.1 (webhooks)");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, stop_when_aborted);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &abort);
    net::ConnectCheck check(c, options_.destinations);
    const CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
      if (check.refused()) {
        return Status::unavailable(std::string("the webhook URL's address is not allowed (") +
                                   net::describe(*check.refused()) +
                                   " addresses are not reached without --webhook-allow-private)");
      }
      if (rc == CURLE_ABORTED_BY_CALLBACK) return Status::unavailable("the server is stopping");
      return Status::unavailable(error[0] != '\0' ? std::string(error) : std::string(curl_easy_strerror(rc)));
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    return static_cast<int>(status);
  }

 private:
  const CurlTransportOptions options_;
};

}  // namespace

std::unique_ptr<WebhookTransport> make_curl_webhook_transport(CurlTransportOptions options) {
  return std::make_unique<CurlWebhookTransport>(std::move(options));
}

}  // namespace openbatch::webhooks
