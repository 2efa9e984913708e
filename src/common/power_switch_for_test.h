// The power of a simulated disk, for the power-cut tests (store/power_cut_vfs_for_test.h,
// blobs/power_cut_blob_files_for_test.h): armed to go at the n-th operation, it stays gone until
// restored. Not thread-safe: its owner holds its own lock around it.
#pragma once

#include <cstdint>

namespace openbatch::testing {

class PowerSwitch {
 public:
  // The power goes at the n-th operation from now on (n >= 1); 0: never.
  void arm(int64_t n) {
    countdown_ = n;
    ops_ = 0;
    cut_ = false;
  }
  // Power back; nothing armed.
  void restore() {
    countdown_ = 0;
    cut_ = false;
  }
  // Counts one operation; false when the power is (now) gone, and then for every later one.
  bool operate() {
    if (cut_) return false;
    ++ops_;
    if (countdown_ > 0 && ops_ >= countdown_) cut_ = true;
    return !cut_;
  }
  bool cut() const { return cut_; }
  int64_t ops() const { return ops_; }  // operations counted since arm()

 private:
  int64_t countdown_ = 0;
  int64_t ops_ = 0;
  bool cut_ = false;
};

}  // namespace openbatch::testing
