#include "api/api_keys.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/temp_dir.h"

namespace openbatch::api {
namespace {

TEST(ApiKeysTest, AKeyFileHasOneKeyALineWithCommentsAndBlankLinesSkipped) {
  TempDir dir;
  const std::string path = dir.path() + "/keys";
  std::ofstream(path) << "# the team's keys\nsk-alpha\n\n   \n  sk-beta \t\r\n#sk-commented\nsk-gamma";
  auto keys = read_api_key_file(path);
  ASSERT_TRUE(keys.is_ok()) << keys.status().message();
  EXPECT_EQ(*keys, (std::vector<std::string>{"sk-alpha", "sk-beta", "sk-gamma"}));
}

TEST(ApiKeysTest, AMissingOrEmptyKeyFileIsAnErrorNamingIt) {
  TempDir dir;
  auto missing = read_api_key_file(dir.path() + "/nope");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find(dir.path() + "/nope"), std::string::npos);
  const std::string empty = dir.path() + "/empty";
  std::ofstream(empty) << "# nothing here\n\n";
  auto none = read_api_key_file(empty);
  ASSERT_FALSE(none.is_ok());
  EXPECT_NE(none.status().message().find("holds no key"), std::string::npos);
}

TEST(ApiKeysTest, AListIsSplitOnCommas) {
  EXPECT_EQ(split_api_key_list("sk-a,sk-b , ,sk-c,"), (std::vector<std::string>{"sk-a", "sk-b", "sk-c"}));
  EXPECT_TRUE(split_api_key_list("").empty());
  EXPECT_TRUE(split_api_key_list(" , ").empty());
}

TEST(ApiKeysTest, TheMatcherAcceptsExactlyTheKeys) {
  const ApiKeyMatcher matcher({"sk-alpha", "sk-beta-longer-key"});
  EXPECT_FALSE(matcher.empty());
  EXPECT_TRUE(matcher.matches("sk-alpha"));
  EXPECT_TRUE(matcher.matches("sk-beta-longer-key"));
  EXPECT_FALSE(matcher.matches("sk-alph"));
  EXPECT_FALSE(matcher.matches("sk-alphaa"));
  EXPECT_FALSE(matcher.matches("SK-ALPHA"));
  EXPECT_FALSE(matcher.matches(""));
  EXPECT_FALSE(matcher.matches(std::string_view("sk-alpha\0", 9)));
  EXPECT_TRUE(ApiKeyMatcher({}).empty());
  EXPECT_FALSE(ApiKeyMatcher({}).matches("sk-alpha"));
}

}  // namespace
}  // namespace openbatch::api
