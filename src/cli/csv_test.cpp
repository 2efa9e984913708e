#include "cli/csv.h"

#include <gtest/gtest.h>

namespace openbatch::cli {
namespace {

TEST(Csv, QuotedCommasQuotesAndNewlines) {
  auto t = parse_csv("\xEF\xBB\xBFid,text\r\n1,\"a, b\"\r\n2,\"say \"\"hi\"\"\nnext line\"\n3,caf\xC3\xA9\n");
  ASSERT_TRUE(t) << t.status().message();
  ASSERT_EQ(t->header, (CsvRow{"id", "text"}));
  ASSERT_EQ(t->rows.size(), 3u);
  EXPECT_EQ(t->rows[0][1], "a, b");
  EXPECT_EQ(t->rows[1][1], "say \"hi\"\nnext line");
  EXPECT_EQ(t->rows[2][1], "caf\xC3\xA9");
  EXPECT_EQ(t->column("text"), 1);
  EXPECT_EQ(t->column("nope"), -1);
}

TEST(Csv, EmptyFieldsShortRowsAndNoFinalNewline) {
  auto t = parse_csv("a,b,c\n,\"\",x\n1\n\n2,3,4");
  ASSERT_TRUE(t) << t.status().message();
  ASSERT_EQ(t->rows.size(), 3u);
  EXPECT_EQ(t->rows[0], (CsvRow{"", "", "x"}));
  EXPECT_EQ(t->rows[1], (CsvRow{"1", "", ""}));
  EXPECT_EQ(t->rows[2], (CsvRow{"2", "3", "4"}));
}

TEST(Csv, Errors) {
  EXPECT_FALSE(parse_csv("a\n\"open"));
  EXPECT_FALSE(parse_csv("a\nx\"y"));
  EXPECT_FALSE(parse_csv("a\n\"x\"y"));
  EXPECT_FALSE(parse_csv("a\n1,2"));
  EXPECT_FALSE(parse_csv(""));
}

TEST(Csv, WriteThenReadRoundTrips) {
  const CsvRow row{"plain", "with, comma", "with \"quote\"", "multi\nline\r\nend", "", "\xE2\x82\xAC"};
  auto t = parse_csv(csv_record({"a", "b", "c", "d", "e", "f"}) + csv_record(row));
  ASSERT_TRUE(t) << t.status().message();
  ASSERT_EQ(t->rows.size(), 1u);
  EXPECT_EQ(t->rows[0], row);
  EXPECT_EQ(csv_field("x"), "x");
  // Found by fuzz/csv_fuzz.cpp: a header that begins with a byte order mark after blank lines, and a
  // one-column row with an empty value, did not read back as they were written.
  auto bom = parse_csv("\r\r\xEF\xBB\xBFid,b\n1,2\n");
  ASSERT_TRUE(bom) << bom.status().message();
  EXPECT_EQ(bom->header[0], "\xEF\xBB\xBFid");
  auto again = parse_csv(csv_record(bom->header) + csv_record(bom->rows[0]));
  ASSERT_TRUE(again) << again.status().message();
  EXPECT_EQ(again->header, bom->header);
  auto one = parse_csv(csv_record({"only"}) + csv_record({""}) + csv_record({"x"}));
  ASSERT_TRUE(one) << one.status().message();
  EXPECT_EQ(one->rows, (std::vector<CsvRow>{{""}, {"x"}}));
  EXPECT_EQ(csv_field("a\"b"), "\"a\"\"b\"");
}

}  // namespace
}  // namespace openbatch::cli
