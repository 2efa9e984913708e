// Time behind one interface, as LevelDB's Env puts it: what time it is (wall time for timestamps,
// monotonic time for intervals) and waiting for a time, so that expiry, retries and polls can be tested
// by stepping a fake clock (common/fake_clock_for_test.h) instead of sleeping.
//
// A wait is on a condition variable that the caller's other threads notify as usual; the clock ends it
// when its deadline comes:
//
//   std::unique_lock lock(mu_);
//   clock_.wait_until(lock, cv_, clock_.steady_now() + poll_interval, [&] { return stopping_; });
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

namespace openbatch {

class Clock {
 public:
  // A point of the monotonic time: deadlines and intervals, never stored or shown.
  using TimePoint = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  // Seconds since the Unix epoch. Thread-safe.
  virtual int64_t now_seconds() const = 0;
  // Milliseconds since the Unix epoch, for times finer than a second (a batch's progress samples).
  // Thread-safe. By default now_seconds() in milliseconds.
  virtual int64_t now_millis() const { return now_seconds() * 1000; }
  // The monotonic time now. Thread-safe.
  virtual TimePoint steady_now() const = 0;

  // Waits on cv until done() is true or steady_now() reaches deadline; returns done(), as
  // std::condition_variable::wait_until with a predicate does.
  // REQUIRES: lock holds the mutex that guards what done() reads; whoever makes done() true holds that
  // mutex while changing it and notifies cv. done() runs with the lock held. Thread-safe.
  virtual bool wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, TimePoint deadline,
                          const std::function<bool()>& done) const = 0;

  // wait_until(lock, cv, steady_now() + timeout, done).
  template <typename Rep, typename Period>
  bool wait_for(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                std::chrono::duration<Rep, Period> timeout, const std::function<bool()>& done) const {
    return wait_until(lock, cv, steady_now() + std::chrono::duration_cast<TimePoint::duration>(timeout),
                      done);
  }
};

// The machine's clocks: std::chrono::system_clock and steady_clock; waits are the condition variable's.
class SystemClock final : public Clock {
 public:
  int64_t now_seconds() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t now_millis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  TimePoint steady_now() const override { return std::chrono::steady_clock::now(); }
  bool wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, TimePoint deadline,
                  const std::function<bool()>& done) const override {
    return cv.wait_until(lock, deadline, done);
  }
  // The process-wide instance.
  static SystemClock& instance() {
    static SystemClock clock;
    return clock;
  }
};

}  // namespace openbatch
