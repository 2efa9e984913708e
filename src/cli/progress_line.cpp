#include "cli/progress_line.h"

#include <unistd.h>

#include <cmath>

namespace openbatch::cli {

bool is_terminal(int fd) { return isatty(fd) == 1; }

ProgressLine::ProgressLine(std::FILE* out, bool terminal) : out_(out), terminal_(terminal) {}

std::string ProgressLine::render(const Progress& p, double tokens_per_second, double eta_seconds, bool bar) {
  std::string s = p.label;
  if (!p.status.empty()) s += " " + p.status;
  if (bar) {
    constexpr int kWidth = 24;
    const int64_t finished = p.done + p.failed;
    const int filled = p.total > 0 ? static_cast<int>(kWidth * finished / p.total) : 0;
    s += " [" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "]";
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, " %lld/%lld done, %lld failed, %.1f tok/s", static_cast<long long>(p.done),
                static_cast<long long>(p.total), static_cast<long long>(p.failed), tokens_per_second);
  s += buf;
  if (eta_seconds >= 0 && std::isfinite(eta_seconds)) {
    const long long secs = std::llround(eta_seconds);
    std::snprintf(buf, sizeof buf, ", ETA %lld:%02lld", secs / 60, secs % 60);
    s += buf;
  }
  return s;
}

void ProgressLine::update(const Progress& p, bool force) {
  const auto now = Clock::now();
  const int64_t finished = p.done + p.failed;
  if (first_tokens_ < 0) {
    first_tokens_ = p.output_tokens;
    first_finished_ = finished;
  }
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double tps = elapsed > 0.2 ? static_cast<double>(p.output_tokens - first_tokens_) / elapsed : 0.0;
  const double rate = elapsed > 0.2 ? static_cast<double>(finished - first_finished_) / elapsed : 0.0;
  const double eta = rate > 0 && p.total >= finished ? static_cast<double>(p.total - finished) / rate : -1;
  const std::string text = render(p, tps, eta, terminal_);
  if (terminal_) {
    // \r and erase-to-end-of-line: the line is redrawn in place.
    std::fprintf(out_, "\r%s\x1b[K", text.c_str());
    drawn_ = true;
  } else {
    const bool changed = p.status != last_.status || p.done != last_.done || p.failed != last_.failed ||
                         p.total != last_.total;
    const bool due = now - last_print_ >= std::chrono::seconds(1);
    if (!(force || p.status != last_.status || (changed && due))) return;
    std::fprintf(out_, "%s\n", text.c_str());
    last_print_ = now;
  }
  last_ = p;
  std::fflush(out_);
}

void ProgressLine::finish() {
  if (terminal_ && drawn_) {
    std::fputc('\n', out_);
    std::fflush(out_);
  }
  drawn_ = false;
}

}  // namespace openbatch::cli
