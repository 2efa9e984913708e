#include "engine/llama/text_stream.h"

#include <gtest/gtest.h>

namespace openbatch::engine {
namespace {

TEST(TextStreamTest, HandsOutTextAsItComesWithoutStops) {
  TextStream s({});
  EXPECT_FALSE(s.append("Hel"));
  EXPECT_EQ(s.take_ready(), "Hel");
  EXPECT_FALSE(s.append("lo"));
  EXPECT_EQ(s.take_ready(), "lo");
  EXPECT_EQ(s.take_rest(), "");
  EXPECT_EQ(s.text(), "Hello");
}

TEST(TextStreamTest, HoldsBackWhatMayStartAStopString) {
  TextStream s({"END"});
  EXPECT_FALSE(s.append("abcE"));
  EXPECT_EQ(s.take_ready(), "abc");
  EXPECT_FALSE(s.append("N"));
  EXPECT_EQ(s.take_ready(), "");
  EXPECT_TRUE(s.append("Dxyz"));
  EXPECT_EQ(s.take_ready(), "");
  EXPECT_EQ(s.text(), "abc");
}

TEST(TextStreamTest, ReleasesHeldTextThatNeverBecameAStop) {
  TextStream s({"END"});
  s.append("abcEN");
  EXPECT_EQ(s.take_ready(), "abc");
  s.append("x");
  EXPECT_EQ(s.take_ready(), "ENx");
  s.append("E");
  EXPECT_EQ(s.take_rest(), "E");
}

TEST(TextStreamTest, StopSpanningPiecesCutsAtItsStart) {
  TextStream s({"\n\n", "###"});
  s.append("one\n");
  s.append("\ntwo");
  EXPECT_EQ(s.text(), "one");
}

TEST(TextStreamTest, NeverSplitsAUtf8Character) {
  TextStream s({});
  const std::string euro = "\xE2\x82\xAC";  // €
  s.append("a" + euro.substr(0, 2));
  EXPECT_EQ(s.take_ready(), "a");
  s.append(euro.substr(2));
  EXPECT_EQ(s.take_ready(), euro);
}

TEST(TextStreamTest, DropsABrokenCharacterAtTheEnd) {
  TextStream s({});
  s.append("ok\xF0\x9F");
  EXPECT_EQ(s.take_rest(), "ok");
}

TEST(Utf8Test, CompletePrefix) {
  EXPECT_EQ(utf8_complete_prefix(""), 0u);
  EXPECT_EQ(utf8_complete_prefix("abc"), 3u);
  EXPECT_EQ(utf8_complete_prefix("a\xC3"), 1u);
  EXPECT_EQ(utf8_complete_prefix("a\xC3\xA9"), 3u);
  EXPECT_EQ(utf8_complete_prefix("\xF0\x9F\x98"), 0u);
  EXPECT_EQ(utf8_complete_prefix("\xF0\x9F\x98\x80"), 4u);
}

}  // namespace
}  // namespace openbatch::engine
