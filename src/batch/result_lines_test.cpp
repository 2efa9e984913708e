#include "batch/result_lines.h"

#include <gtest/gtest.h>

namespace openbatch::batch {
namespace {

TEST(ResultLinesTest, UsageOfEachEndpointsBody) {
  auto chat = usage_of(nlohmann::json::parse(R"({"usage": {"prompt_tokens": 10, "completion_tokens": 4,
      "prompt_tokens_details": {"cached_tokens": 6}, "completion_tokens_details": {"reasoning_tokens": 2}}})"));
  EXPECT_EQ(chat.input_tokens, 10);
  EXPECT_EQ(chat.output_tokens, 4);
  EXPECT_EQ(chat.cached_tokens, 6);
  EXPECT_EQ(chat.reasoning_tokens, 2);
  auto response = usage_of(nlohmann::json::parse(R"({"object": "response", "usage": {"input_tokens": 12,
      "input_tokens_details": {"cached_tokens": 5}, "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 3},
      "total_tokens": 19}})"));
  EXPECT_EQ(response.input_tokens, 12);
  EXPECT_EQ(response.output_tokens, 7);
  EXPECT_EQ(response.cached_tokens, 5);
  EXPECT_EQ(response.reasoning_tokens, 3);
  EXPECT_EQ(usage_of(nlohmann::json::object()).input_tokens, 0);
}

}  // namespace
}  // namespace openbatch::batch
