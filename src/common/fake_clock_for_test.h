// A clock that moves only when a test advances it, for the tests of whatever waits on a Clock (the batch
// runner, the webhook sender): a test steps time instead of sleeping. Header-only; *_test.cpp only.
//
// Both of its times (wall and monotonic) move together. A wait (Clock::wait_until) ends as a real one
// does when its condition variable is notified and done() is true, and also when advance() takes the
// clock to its deadline. As with clockwork's BlockUntil, a test can first wait until the threads it
// drives are asleep on the clock, so that its step of time is not taken before they begin to wait:
//
//   FakeClock clock;
//   ... start a thread that waits on clock for a poll interval ...
//   ASSERT_TRUE(clock.wait_for_sleepers(1));
//   clock.advance(std::chrono::seconds(1));  // the thread wakes: its deadline has come
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/clock.h"

namespace openbatch::testing {

class FakeClock final : public Clock {
 public:
  // Starts at since_epoch of wall time (by default 2023-11-14, 1,700,000,000 s).
  explicit FakeClock(std::chrono::milliseconds since_epoch = std::chrono::seconds(1'700'000'000))
      : epoch_ms_(since_epoch.count()) {}

  int64_t now_seconds() const override { return now_millis() / 1000; }
  int64_t now_millis() const override {
    std::lock_guard lock(mu_);
    return epoch_ms_ + std::chrono::duration_cast<std::chrono::milliseconds>(elapsed_).count();
  }
  TimePoint steady_now() const override {
    std::lock_guard lock(mu_);
    return steady_locked();
  }

  bool wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, TimePoint deadline,
                  const std::function<bool()>& done) const override {
    if (done()) return true;
    auto me = std::make_shared<Sleeper>();
    me->deadline = deadline;
    me->mu = lock.mutex();
    me->cv = &cv;
    {
      std::lock_guard clock_lock(mu_);
      if (steady_locked() >= deadline) return false;
      sleepers_.push_back(me);
      ++sleeps_begun_;
    }
    sleepers_cv_.notify_all();
    while (!me->fired && !done()) cv.wait(lock);
    bool registered = false;
    {
      std::lock_guard clock_lock(mu_);
      auto it = std::find(sleepers_.begin(), sleepers_.end(), me);
      if (it != sleepers_.end()) {
        registered = true;
        sleepers_.erase(it);
      }
    }
    // advance() took this wait to wake it, and uses the caller's mutex and cv until it has set fired.
    if (!registered) cv.wait(lock, [&] { return me->fired; });
    return done();
  }

  // Moves both times forward by d, and wakes every wait whose deadline has come; when this returns, they
  // no longer count as sleepers. REQUIRES: the caller holds none of the sleepers' mutexes. Thread-safe.
  void advance(std::chrono::nanoseconds d) {
    std::vector<std::shared_ptr<Sleeper>> due;
    {
      std::lock_guard lock(mu_);
      elapsed_ += d;
      const TimePoint now = steady_locked();
      for (auto it = sleepers_.begin(); it != sleepers_.end();) {
        if ((*it)->deadline <= now) {
          due.push_back(*it);
          it = sleepers_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (const auto& s : due) {
      std::lock_guard lock(*s->mu);
      s->fired = true;
      s->cv->notify_all();  // under the mutex: the sleeper may end (and its cv with it) once it is free
    }
  }

  // Blocks (in real time, timeout at most) until at least n waits are asleep on this clock, their
  // deadlines still to come. A wait counts from when it begins to sleep until its deadline comes or it
  // returns, so one that its condition variable has just woken may still count. Thread-safe.
  bool wait_for_sleepers(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    std::unique_lock lock(mu_);
    return sleepers_cv_.wait_for(lock, timeout, [&] { return sleepers_.size() >= n; });
  }

  // How many waits have begun to sleep on this clock so far: a test that wakes a thread by other means
  // (its condition variable) takes it before, and waits for more after, to know that the thread has
  // done its round and sleeps again. Thread-safe.
  uint64_t sleeps_begun() const {
    std::lock_guard lock(mu_);
    return sleeps_begun_;
  }
  // Blocks (in real time, timeout at most) until sleeps_begun() >= n. Thread-safe.
  bool wait_for_sleeps_begun(uint64_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    std::unique_lock lock(mu_);
    return sleepers_cv_.wait_for(lock, timeout, [&] { return sleeps_begun_ >= n; });
  }

 private:
  struct Sleeper {
    TimePoint deadline;
    std::mutex* mu = nullptr;
    std::condition_variable* cv = nullptr;
    bool fired = false;  // guarded by *mu: advance() has woken it
  };

  // REQUIRES: mu_ held.
  TimePoint steady_locked() const { return TimePoint(std::chrono::hours(1)) + elapsed_; }

  const int64_t epoch_ms_;
  mutable std::mutex mu_;
  mutable std::condition_variable sleepers_cv_;
  std::chrono::nanoseconds elapsed_{0};                     // guarded by mu_
  mutable std::vector<std::shared_ptr<Sleeper>> sleepers_;  // guarded by mu_
  mutable uint64_t sleeps_begun_ = 0;                       // guarded by mu_
};

}  // namespace openbatch::testing
