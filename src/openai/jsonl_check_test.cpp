#include "openai/jsonl_check.h"

#include <gtest/gtest.h>

#include <string>

namespace openbatch::openai {
namespace {

std::optional<size_t> check_in_pieces(const std::string& text, size_t piece) {
  JsonlObjectCheck check;
  for (size_t i = 0; i < text.size(); i += piece) check.feed(std::string_view(text).substr(i, piece));
  return check.first_bad_line();
}

TEST(JsonlObjectCheckTest, ObjectsAndBlankLinesPassWhateverTheChunks) {
  const std::string ok = "{\"custom_id\":\"a\",\"body\":{\"x\":[1,2]}}\r\n\n  \n{\"custom_id\":\"b\"}";
  for (size_t piece : {1, 2, 7, 1000}) EXPECT_EQ(check_in_pieces(ok, piece), std::nullopt) << piece;
}

TEST(JsonlObjectCheckTest, TheFirstLineThatIsNotAnObjectIsNamed) {
  const std::string text = "{\"a\":1}\n\n[1,2]\n{\"b\":\n\"x\"}\nnot json\n";
  for (size_t piece : {1, 3, 1000}) EXPECT_EQ(check_in_pieces(text, piece), 3u) << piece;
  EXPECT_EQ(check_in_pieces("{\"a\":1}\n{\"b\":\n", 4), 2u);  // a request split over lines
  EXPECT_EQ(check_in_pieces("{\"a\":1}\n\"text\"", 4), 2u);
  EXPECT_EQ(check_in_pieces("{\"a\":1} trailing\n", 4), 1u);
}

TEST(JsonlObjectCheckTest, ALineTooLongIsNamedWithoutBeingKept) {
  JsonlObjectCheck check(/*max_line_bytes=*/64);
  check.feed("{\"a\":1}\n{\"b\":\"");
  for (int i = 0; i < 1000; ++i) check.feed(std::string(1000, 'x'));  // a megabyte on line 2
  check.feed("\"}\n{\"c\":2}\n");
  EXPECT_EQ(check.first_bad_line(), 2u);
  EXPECT_NE(check.problem().find("longer than 64 bytes"), std::string::npos);
}

TEST(JsonlObjectCheckTest, AFileWithoutANewlineIsOneLineUnderTheSameLimit) {
  JsonlObjectCheck check(/*max_line_bytes=*/64);
  for (int i = 0; i < 100; ++i) check.feed(std::string(100, ' '));
  EXPECT_EQ(check.first_bad_line(), 1u);
}

TEST(JsonlObjectCheckTest, ALineNestedTooDeeplyIsNamed) {
  const std::string deep = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_EQ(check_in_pieces("{\"a\":1}\n" + deep + "\n", 7), 2u);
  JsonlObjectCheck check;
  check.feed(deep);
  check.first_bad_line();
  EXPECT_NE(check.problem().find("levels deep"), std::string::npos);
}

}  // namespace
}  // namespace openbatch::openai
