#include "webhooks/webhook_signature.h"

#include <gtest/gtest.h>

namespace openbatch::webhooks {
namespace {

// The test vector of the Standard Webhooks specification (and of its reference libraries).
TEST(WebhookSignature, MatchesTheStandardWebhooksVector) {
  auto key = decode_webhook_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  ASSERT_TRUE(key.is_ok()) << key.status().message();
  EXPECT_EQ(key->size(), 24u);
  EXPECT_EQ(sign_webhook(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(WebhookSignature, ChangesWithEveryPartSigned) {
  auto key = decode_webhook_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  ASSERT_TRUE(key.is_ok());
  const std::string base = sign_webhook(*key, "wh_1", 100, "{}");
  EXPECT_NE(sign_webhook(*key, "wh_2", 100, "{}"), base);
  EXPECT_NE(sign_webhook(*key, "wh_1", 101, "{}"), base);
  EXPECT_NE(sign_webhook(*key, "wh_1", 100, "{ }"), base);
}

TEST(WebhookSignature, RefusesSecretsThatAreNotWhsecBase64) {
  for (const char* bad : {"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_not base64!", "whsec_abc",
                          "whsec_c2hvcnQ="}) {
    auto key = decode_webhook_secret(bad);
    EXPECT_FALSE(key.is_ok()) << bad;
    if (!key.is_ok()) {
      EXPECT_NE(key.status().message().find("webhook secret"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace openbatch::webhooks
