// The startup check of --webhook-url: the image URL rule of the edge (media/destination_policy.h)
// applied to the receiver of the webhooks, so that a server cannot be made to post to its own
// loopback, private network or cloud metadata address unless the operator opens them
// (--webhook-allow-private). The sender checks every connection again (webhooks/curl_webhook_transport.h).
#pragma once

#include <string>

#include "common/status.h"
#include "net/destination_policy.h"

namespace openbatch::webhooks {

// OK when url is an http:// or https:// URL with a host whose addresses policy allows: a numeric host
// as it is, a name by what it resolves to now (a name that does not resolve yet is let through: the
// connection is checked when it is made). An invalid-request Status naming the problem otherwise.
Status check_webhook_url(const std::string& url, const net::DestinationPolicy& policy);

}  // namespace openbatch::webhooks
