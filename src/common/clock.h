// The wall clock behind one interface, so that expiry and timestamps can be tested without sleeping.
#pragma once

#include <chrono>
#include <cstdint>

namespace openbatch {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch. Thread-safe.
  virtual int64_t now_seconds() const = 0;
  // Milliseconds since the Unix epoch, for times finer than a second (a batch's progress samples).
  // Thread-safe. By default now_seconds() in milliseconds, which is what a fake clock needs.
  virtual int64_t now_millis() const { return now_seconds() * 1000; }
};

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
  // The process-wide instance.
  static SystemClock& instance() {
    static SystemClock clock;
    return clock;
  }
};

}  // namespace openbatch
