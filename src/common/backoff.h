// Waits between retries that grow while the failure lasts: initial, twice that, four times... up to
// max, and back to initial after a success. For work that a full disk or an absent database stops, so
// that retrying costs little while it lasts and resumes soon after it ends. Not thread-safe.
#pragma once

#include <algorithm>
#include <chrono>

namespace openbatch {

class Backoff {
 public:
  using Duration = std::chrono::milliseconds;

  // REQUIRES: 0 < initial <= max.
  Backoff(Duration initial, Duration max)
      : initial_(initial), max_(std::max(initial, max)), next_(initial_) {}

  // How long to wait before the next try, after one more failure.
  Duration failed() {
    const Duration wait = next_;
    next_ = std::min(max_, next_ * 2);
    return wait;
  }
  // The work succeeded: the next failure waits `initial` again.
  void succeeded() { next_ = initial_; }

 private:
  Duration initial_, max_, next_;
};

}  // namespace openbatch
