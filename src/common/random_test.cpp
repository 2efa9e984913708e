#include "common/random.h"

#include <gtest/gtest.h>

#include <array>
#include <cctype>
#include <set>

namespace openbatch {
namespace {

TEST(RandomTest, AlphanumericIdsAreDistinctAndUseOnlyTheAlphabet) {
  std::set<std::string> seen;
  for (int i = 0; i < 20000; ++i) {
    const std::string id = random_alphanumeric(24);
    ASSERT_EQ(id.size(), 24u);
    for (char c : id) ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << id;
    EXPECT_TRUE(seen.insert(id).second) << "repeated " << id;
  }
  EXPECT_EQ(random_alphanumeric(0), "");
  EXPECT_EQ(random_alphanumeric(1000).size(), 1000u);
}

TEST(RandomTest, EveryCharacterIsEquallyLikely) {
  // 62 characters, 620,000 draws: each is expected 10,000 times with a standard deviation near 99.
  // 7 deviations either way fails a biased draw (bytes taken modulo 62 give the first 8 characters a
  // quarter more).
  std::array<int, 128> counts{};
  const std::string s = random_alphanumeric(620000);
  for (unsigned char c : s) ++counts[c];
  int distinct = 0;
  for (int c = 0; c < 128; ++c) {
    if (counts[c] == 0) continue;
    ++distinct;
    EXPECT_NEAR(counts[c], 10000, 700) << "character " << static_cast<char>(c);
  }
  EXPECT_EQ(distinct, 62);
}

TEST(RandomTest, BytesAndWordsDiffer) {
  std::array<unsigned char, 32> a{}, b{};
  random_bytes(a.data(), a.size());
  random_bytes(b.data(), b.size());
  EXPECT_NE(a, b);
  EXPECT_NE(random_u64(), random_u64());
}

}  // namespace
}  // namespace openbatch
