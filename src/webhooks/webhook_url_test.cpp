#include "webhooks/webhook_url.h"

#include <gtest/gtest.h>

namespace openbatch::webhooks {
namespace {

TEST(WebhookUrl, RefusesLoopbackAndPrivateAddressesUnlessAllowed) {
  net::DestinationPolicy closed;
  for (const char* url : {"http://127.0.0.1:9000/hook", "http://[::1]/hook", "https://10.1.2.3/x",
                          "http://169.254.169.254/latest", "http://localhost:8080/hook"}) {
    Status s = check_webhook_url(url, closed);
    EXPECT_FALSE(s.is_ok()) << url;
    EXPECT_NE(s.message().find("--webhook-allow-private"), std::string::npos) << s.message();
  }
  net::DestinationPolicy open;
  open.allow_private = true;
  EXPECT_TRUE(check_webhook_url("http://127.0.0.1:9000/hook", open).is_ok());
  EXPECT_TRUE(check_webhook_url("https://93.184.215.14/hook", closed).is_ok());
}

TEST(WebhookUrl, RefusesWhatIsNotAnHttpUrl) {
  net::DestinationPolicy open;
  open.allow_private = true;
  for (const char* url : {"", "not a url", "ftp://example.com/x", "file:///etc/passwd"}) {
    EXPECT_FALSE(check_webhook_url(url, open).is_ok()) << url;
  }
}

}  // namespace
}  // namespace openbatch::webhooks
