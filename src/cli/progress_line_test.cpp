#include "cli/progress_line.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace openbatch::cli {
namespace {

TEST(ProgressLine, RendersCountsRateAndEta) {
  Progress p{"batch_1", "in_progress", 5, 1, 12, 0};
  EXPECT_EQ(ProgressLine::render(p, 12.34, 75, /*bar=*/false),
            "batch_1 in_progress 5/12 done, 1 failed, 12.3 tok/s, ETA 1:15");
  EXPECT_EQ(ProgressLine::render(p, 0, -1, /*bar=*/true),
            "batch_1 in_progress [############............] 5/12 done, 1 failed, 0.0 tok/s");
  p.total = 0;  // still validating: an empty bar, no division by zero
  EXPECT_EQ(ProgressLine::render(p, 0, -1, true).find("[........................]"), 20u);
}

// Reads what the line wrote to a temporary FILE.
std::string written(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  for (int c; (c = std::fgetc(f)) != EOF;) s += static_cast<char>(c);
  return s;
}

TEST(ProgressLine, TerminalRedrawsInPlacePipeWritesLines) {
  std::FILE* tty = std::tmpfile();
  ProgressLine on_tty(tty, true);
  on_tty.update({"b", "in_progress", 1, 0, 4, 0});
  on_tty.update({"b", "in_progress", 2, 0, 4, 0});
  on_tty.finish();
  const std::string t = written(tty);
  EXPECT_EQ(t.rfind('\r', 0), 0u);
  EXPECT_NE(t.find("\x1b[K\rb in_progress"), std::string::npos);
  EXPECT_EQ(t.back(), '\n');
  std::fclose(tty);

  std::FILE* pipe = std::tmpfile();
  ProgressLine plain(pipe, false);
  plain.update({"b", "validating", 0, 0, 0, 0});
  plain.update({"b", "in_progress", 1, 0, 4, 0});  // status changed: printed
  plain.update({"b", "in_progress", 2, 0, 4, 0});  // within a second of the last: skipped
  plain.update({"b", "completed", 4, 0, 4, 0});
  const std::string p = written(pipe);
  EXPECT_EQ(p.find('\r'), std::string::npos);
  EXPECT_NE(p.find("b validating 0/0 done"), std::string::npos);
  EXPECT_NE(p.find("b in_progress 1/4 done"), std::string::npos);
  EXPECT_EQ(p.find("b in_progress 2/4 done"), std::string::npos);
  EXPECT_NE(p.find("b completed 4/4 done"), std::string::npos);
  std::fclose(pipe);
}

}  // namespace
}  // namespace openbatch::cli
