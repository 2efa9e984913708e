// Progress of a batch (or of `openbatch run`) on stderr: on a terminal one line redrawn in place
// (\r, a bar, done/failed/total, tokens/s, ETA); otherwise plain lines, one when something changed
// and at most one a second, so logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace openbatch::cli {

struct Progress {
  std::string label;   // the batch id or the file being run
  std::string status;  // validating, in_progress, ... (may be empty)
  int64_t done = 0;    // requests finished well
  int64_t failed = 0;
  int64_t total = 0;
  int64_t output_tokens = 0;  // generated so far, for tokens/s
};

class ProgressLine {
 public:
  // terminal: whether out is a terminal (redraw in place).
  ProgressLine(std::FILE* out, bool terminal);

  // Shows p (throttled when not on a terminal, unless the status changed or force).
  void update(const Progress& p, bool force = false);
  // Ends the redrawn line so that what follows starts on a new line.
  void finish();

  // The text of one progress line (no line end). Public for tests.
  static std::string render(const Progress& p, double tokens_per_second, double eta_seconds, bool bar);

 private:
  using Clock = std::chrono::steady_clock;
  std::FILE* out_;
  bool terminal_;
  bool drawn_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_print_{};
  int64_t first_tokens_ = -1;
  int64_t first_finished_ = -1;
  Progress last_;
};

// Whether fd is a terminal.
bool is_terminal(int fd);

}  // namespace openbatch::cli
