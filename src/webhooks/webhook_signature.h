// Webhook signatures as OpenAI makes them (the Standard Webhooks scheme): the receiver checks
// `webhook-signature: v1,<base64 of HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")>`,
// keyed with the bytes of the secret's base64 part ("whsec_<base64>"), as the openai package's
// client.webhooks.unwrap(body, headers, secret) does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace openbatch::webhooks {

// The key of a secret "whsec_<base64>": the decoded bytes. An invalid-request Status naming the
// problem when the secret lacks the prefix, is not base64 or is shorter than 16 bytes decoded.
Result<std::string> decode_webhook_secret(std::string_view secret);

// "v1,<base64 signature>" of a message with this id, timestamp (Unix seconds) and body.
std::string sign_webhook(std::string_view key, std::string_view webhook_id, int64_t timestamp,
                         std::string_view body);

}  // namespace openbatch::webhooks
