#include "engine/upstream/concurrency_controller.h"

#include <algorithm>
#include <cmath>

namespace openbatch::engine::upstream {

ConcurrencyController::ConcurrencyController(ConcurrencyOptions options) : options_(options) {
  options_.max = std::max(1, options_.max);
  limit_ = options_.fixed > 0 ? options_.fixed : std::clamp(options_.initial, 1, options_.max);
}

int ConcurrencyController::ceiling() const {
  if (fixed()) return options_.fixed;
  return slots_ > 0 ? std::min(options_.max, slots_) : options_.max;
}

void ConcurrencyController::cap(int slots) {
  if (fixed()) return;
  slots_ = std::max(0, slots);
  limit_ = std::min(limit_, ceiling());
}

void ConcurrencyController::start_window() {
  window_answers_ = 0;
  window_latency_ms_ = 0;
}

void ConcurrencyController::on_success(std::chrono::milliseconds latency) {
  if (fixed()) return;
  ++window_answers_;
  window_latency_ms_ += static_cast<double>(latency.count());
  if (window_answers_ < limit_) return;
  const double mean = window_latency_ms_ / window_answers_;
  start_window();
  if (best_mean_ms_ == 0 || mean < best_mean_ms_) best_mean_ms_ = mean;
  // A 0 ms best (loopback answers) would make every later window look slow: allow 1 ms at least.
  if (mean > options_.latency_tolerance * std::max(best_mean_ms_, 1.0)) {
    slow_start_ = false;  // the server queues what it is given: hold here
    return;
  }
  limit_ = std::min(ceiling(), slow_start_ ? 2 * limit_ : limit_ + 1);
}

void ConcurrencyController::on_overload(uint64_t sent_epoch) {
  if (fixed() || sent_epoch != epoch_) return;
  ++epoch_;
  slow_start_ = false;
  limit_ = std::max(1, static_cast<int>(std::floor(limit_ * options_.decrease)));
  start_window();
}

}  // namespace openbatch::engine::upstream
