#include "common/json_depth.h"

#include <gtest/gtest.h>

#include <string>

namespace openbatch {
namespace {

TEST(JsonDepthTest, CountsArraysAndObjectsNotStrings) {
  EXPECT_EQ(json_nesting_depth("1"), 0);
  EXPECT_EQ(json_nesting_depth("[[]]"), 2);
  EXPECT_EQ(json_nesting_depth(R"({"a":[{"b":1}],"c":{}})"), 3);
  EXPECT_EQ(json_nesting_depth(R"({"a":"[[[[{{{{"})"), 1);
  EXPECT_EQ(json_nesting_depth(R"({"a":"\"[[[["})"), 1);  // an escaped quote does not end the string
  EXPECT_EQ(json_nesting_depth(R"(["\\",[1]])"), 2);      // an escaped backslash does
}

TEST(JsonDepthTest, StopsCountingPastTheLimit) {
  const std::string deep(1000000, '[');
  EXPECT_EQ(json_nesting_depth(deep, 10), 11);
}

TEST(JsonDepthTest, TheLimitItselfPassesOneMoreLevelIsRefused) {
  const std::string at_limit = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_TRUE(check_json_depth(at_limit).is_ok());
  const std::string past =
      "{\"metadata\":" + std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']') + "}";
  const Status s = check_json_depth(past, "Line 3");
  ASSERT_TRUE(s.is_invalid_argument());
  EXPECT_EQ(s.code(), "json_too_deep");
  EXPECT_NE(s.message().find("Line 3"), std::string::npos);
  EXPECT_NE(s.message().find("64"), std::string::npos);
}

}  // namespace
}  // namespace openbatch
