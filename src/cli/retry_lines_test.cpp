#include "cli/retry_lines.h"

#include <gtest/gtest.h>

namespace openbatch::cli {
namespace {

const char* kInput =
    R"({"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[]}})"
    "\n"
    R"({"custom_id":"b", "method":"POST","url":"/v1/chat/completions","body":{"x":  1}})"
    "\r\n"
    "\n"
    R"({"custom_id":"c","method":"POST","url":"/v1/chat/completions","body":{}})"
    "\n"
    R"({"custom_id":"d","method":"POST","url":"/v1/chat/completions","body":{}})";

TEST(RetryLinesTest, KeepsEveryLineWithoutASuccessfulAnswerByteForByte) {
  const char* output =
      R"({"id":"r1","custom_id":"a","response":{"status_code":200,"body":{}},"error":null})"
      "\n"
      R"({"id":"r2","custom_id":"c","response":{"status_code":400,"body":{"error":{}}},"error":null})"
      "\n";
  auto r = lines_to_retry(kInput, output);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->succeeded, 1u);
  EXPECT_EQ(r->lines, 3u);  // b never ran, c failed, d never ran
  EXPECT_EQ(r->jsonl, R"({"custom_id":"b", "method":"POST","url":"/v1/chat/completions","body":{"x":  1}})"
                      "\n"
                      R"({"custom_id":"c","method":"POST","url":"/v1/chat/completions","body":{}})"
                      "\n"
                      R"({"custom_id":"d","method":"POST","url":"/v1/chat/completions","body":{}})"
                      "\n");
}

TEST(RetryLinesTest, NothingToRetryWhenEveryLineSucceeded) {
  std::string output;
  for (const char* id : {"a", "b", "c", "d"}) {
    output += std::string(R"({"custom_id":")") + id +
              R"(","response":{"status_code":200,"body":{}},"error":null})"
              "\n";
  }
  auto r = lines_to_retry(kInput, output);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->lines, 0u);
  EXPECT_EQ(r->succeeded, 4u);
  EXPECT_TRUE(r->jsonl.empty());
}

TEST(RetryLinesTest, AnErrorObjectIsNotASuccessAndAnUnreadableOutputLineIsSkipped) {
  const char* output =
      R"({"custom_id":"a","response":{"status_code":200,"body":{}},"error":{"code":"x","message":"y"}})"
      "\n"
      "not json\n";
  auto r = lines_to_retry(kInput, output);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->lines, 4u);
}

TEST(RetryLinesTest, AnInputLineWithoutCustomIdIsNamed) {
  auto r = lines_to_retry("{\"custom_id\":\"a\"}\n[1,2]\n", "");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("line 2"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace openbatch::cli
