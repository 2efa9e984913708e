#include "engine/llama/load_plan.h"

#include <gtest/gtest.h>

namespace openbatch::engine {
namespace {

LoadPlanInputs cpu_inputs() {
  LoadPlanInputs in;
  in.n_ctx_train = 32768;
  in.free_memory = uint64_t{16} << 30;
  in.kv_bytes_per_token = 12 * 1024;
  in.hardware_threads = 2;
  return in;
}

TEST(LoadPlanTest, CpuDefaults) {
  const LoadPlan p = plan_load(cpu_inputs());
  EXPECT_EQ(p.parallel, 16);
  EXPECT_EQ(p.ctx_per_sequence, 4096);
  EXPECT_TRUE(p.cascade);
  EXPECT_EQ(p.n_seq, 17);  // the shared prefix's sequence
  EXPECT_EQ(p.n_ctx, 4096u * 17u);
  EXPECT_EQ(p.n_batch, 512u);
  EXPECT_EQ(p.threads, 2);
}

TEST(LoadPlanTest, OperatorsChoicesWin) {
  LoadPlanInputs in = cpu_inputs();
  in.parallel = 4;
  in.ctx_size = 8192;
  in.threads = 1;
  in.batch_size = 2;
  in.cascade = CascadeAttention::kOff;
  const LoadPlan p = plan_load(in);
  EXPECT_EQ(p.parallel, 4);
  EXPECT_EQ(p.ctx_per_sequence, 2048);
  EXPECT_FALSE(p.cascade);
  EXPECT_EQ(p.n_seq, 4);
  EXPECT_EQ(p.n_ctx, 8192u);
  EXPECT_EQ(p.n_batch, 4u);  // at least a token a sequence
  EXPECT_EQ(p.threads, 1);
}

TEST(LoadPlanTest, GpuTurnsCascadeOffUnlessAsked) {
  LoadPlanInputs in = cpu_inputs();
  in.gpu = true;
  EXPECT_FALSE(plan_load(in).cascade);
  in.cascade = CascadeAttention::kOn;
  EXPECT_TRUE(plan_load(in).cascade);
}

TEST(LoadPlanTest, ShortTrainedContextAndSmallMemory) {
  LoadPlanInputs in = cpu_inputs();
  in.n_ctx_train = 1024;
  in.free_memory = uint64_t{64} << 20;  // 64 MiB: half of it holds ~2.6 sequences of 1024 cells
  const LoadPlan p = plan_load(in);
  EXPECT_EQ(p.ctx_per_sequence, 1024);
  EXPECT_GE(p.parallel, 1);
  EXPECT_LE(uint64_t(p.parallel) * 1024 * in.kv_bytes_per_token, in.free_memory / 2);
}

}  // namespace
}  // namespace openbatch::engine
