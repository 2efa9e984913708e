// The power of a simulated disk, for the power-cut tests (store/power_cut_vfs_for_test.h,
// blobs/power_cut_blob_files_for_test.h): armed to go at the n-th operation, it stays gone until
// restored. One switch may be shared by both (PowerCutVfs::use_power, PowerCutBlobFiles::use_power):
// then their operations count together and one cut takes both disks. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>

namespace openbatch::testing {

class PowerSwitch {
 public:
  // The power goes at the n-th operation from now on (n >= 1); 0: never.
  void arm(int64_t n) {
    std::lock_guard lock(mu_);
    countdown_ = n;
    ops_ = 0;
    cut_ = false;
  }
  // Power back; nothing armed.
  void restore() {
    std::lock_guard lock(mu_);
    countdown_ = 0;
    cut_ = false;
  }
  // The power goes now, between two operations.
  void cut_now() {
    std::lock_guard lock(mu_);
    cut_ = true;
  }
  // Counts one operation; false when the power is (now) gone, and then for every later one.
  bool operate() {
    std::lock_guard lock(mu_);
    if (cut_) return false;
    ++ops_;
    if (countdown_ > 0 && ops_ >= countdown_) cut_ = true;
    return !cut_;
  }
  bool cut() const {
    std::lock_guard lock(mu_);
    return cut_;
  }
  int64_t ops() const {  // operations counted since arm()
    std::lock_guard lock(mu_);
    return ops_;
  }

 private:
  mutable std::mutex mu_;
  int64_t countdown_ = 0;
  int64_t ops_ = 0;
  bool cut_ = false;
};

}  // namespace openbatch::testing
