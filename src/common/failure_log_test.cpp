#include "common/failure_log.h"

#include <gtest/gtest.h>

#include <vector>

#include "common/backoff.h"

namespace openbatch {
namespace {

TEST(FailureLogTest, OneLinePerChangeOfStateNotPerTry) {
  std::vector<std::string> lines;
  FailureLog log([&](const std::string& line) { lines.push_back(line); });
  log.succeeded("finalize");  // nothing had failed
  for (int i = 0; i < 654; ++i) log.failed("finalize", Status::internal("database or disk is full"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("finalize: database or disk is full", 0), 0u) << lines[0];
  log.failed("finalize", Status::internal("disk I/O error"));  // another state
  ASSERT_EQ(lines.size(), 2u);
  log.failed("claim", Status::internal("database or disk is full"));  // other work has its own state
  ASSERT_EQ(lines.size(), 3u);
  log.succeeded("finalize");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[3], "finalize: works again after 655 failed tries");
  log.succeeded("finalize");
  EXPECT_EQ(lines.size(), 4u);
  log.failed("finalize", Status::internal("database or disk is full"));  // a new failure is news again
  EXPECT_EQ(lines.size(), 5u);
}

TEST(BackoffTest, DoublesUpToItsMaximumAndStartsOverAfterASuccess) {
  using std::chrono::milliseconds;
  Backoff b(milliseconds(50), milliseconds(300));
  EXPECT_EQ(b.failed(), milliseconds(50));
  EXPECT_EQ(b.failed(), milliseconds(100));
  EXPECT_EQ(b.failed(), milliseconds(200));
  EXPECT_EQ(b.failed(), milliseconds(300));
  EXPECT_EQ(b.failed(), milliseconds(300));
  b.succeeded();
  EXPECT_EQ(b.failed(), milliseconds(50));
}

}  // namespace
}  // namespace openbatch
