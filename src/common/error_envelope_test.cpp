#include "common/error_envelope.h"

#include <gtest/gtest.h>

namespace openbatch {
namespace {

TEST(ErrorEnvelopeTest, CarriesTheStatusWithNullForEmptyFields) {
  const auto e = error_envelope(Status::invalid_request("Bad 'x'.", "x", "invalid_value"));
  // OpenAI's envelope, keys in its order.
  EXPECT_EQ(e, nlohmann::ordered_json::parse(
                   R"({"error": {"message": "Bad 'x'.", "type": "invalid_request_error", "param": "x",
                                 "code": "invalid_value"}})"));
  EXPECT_EQ(
      e.dump().rfind(R"({"error":{"message":"Bad 'x'.","type":"invalid_request_error","param":"x",)", 0), 0u);
  const auto n = error_envelope(Status::not_found("No such thing."));
  EXPECT_TRUE(n["error"]["param"].is_null());
  EXPECT_TRUE(n["error"]["code"].is_null());
  EXPECT_EQ(error_envelope(Status::unavailable("Shutting down."))["error"]["message"], "Shutting down.");
}

TEST(ErrorEnvelopeTest, AnInternalErrorShowsNoDetail) {
  const auto e = error_envelope(
      Status::internal("write /srv/openbatch-data/files/file-abc.3.tmp: No space left on device"));
  EXPECT_EQ(e["error"]["message"], kInternalErrorMessage);
  EXPECT_EQ(e["error"]["type"], "server_error");
  EXPECT_EQ(e.dump().find("/srv"), std::string::npos);
}

}  // namespace
}  // namespace openbatch
