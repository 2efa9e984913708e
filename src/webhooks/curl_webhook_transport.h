// The webhook sender's POSTs over libcurl, to the addresses a DestinationPolicy allows (checked on
// every connection: no loopback or private address unless --webhook-allow-private), without
// redirects (a receiver answers, it does not send the event elsewhere) or proxies.
#pragma once

#include <chrono>
#include <memory>

#include "net/destination_policy.h"
#include "webhooks/webhook_sender.h"

namespace openbatch::webhooks {

struct CurlTransportOptions {
  net::DestinationPolicy destinations;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{10000};  // connecting, sending and the answer
};

std::unique_ptr<WebhookTransport> make_curl_webhook_transport(CurlTransportOptions options);

}  // namespace openbatch::webhooks
