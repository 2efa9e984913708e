#include "engine/llama/parallelism.h"

#include <gtest/gtest.h>

namespace openbatch::engine {
namespace {

constexpr uint64_t kGiB = 1ull << 30;

TEST(ChooseParallelTest, FillsTheHardwareWhenMemoryAllows) {
  ParallelismInputs cpu{false, 16 * kGiB, 16384, 4096};  // 64 MiB of KV per sequence
  EXPECT_EQ(choose_parallel(cpu), 16);
  ParallelismInputs gpu{true, 60 * kGiB, 16384, 4096};
  EXPECT_EQ(choose_parallel(gpu), 64);
}

TEST(ChooseParallelTest, KeepsTheKvCacheUnderHalfTheFreeMemory) {
  ParallelismInputs in{true, 4 * kGiB, 16384, 4096};  // 2 GiB for KV: 32 sequences of 64 MiB
  EXPECT_EQ(choose_parallel(in), 32);
  in.free_memory = 0;
  EXPECT_EQ(choose_parallel(in), 1);
}

TEST(ChooseParallelTest, UnknownKvSizeLeavesItToTheHardware) {
  // Unknown model size: nothing to divide by, so the hardware decides.
  ParallelismInputs in{false, kGiB, 0, 4096};
  EXPECT_EQ(choose_parallel(in), 16);
}

}  // namespace
}  // namespace openbatch::engine
