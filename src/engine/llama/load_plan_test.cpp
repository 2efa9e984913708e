#include "engine/llama/load_plan.h"

#include <gtest/gtest.h>

namespace openbatch::engine {
namespace {

LoadPlanInputs cpu_inputs() {
  LoadPlanInputs in;
  in.n_ctx_train = 32768;
  in.free_memory = uint64_t{16} << 30;
  in.kv_bytes_per_token = 16 * 1024;     // bench-512x8: 8 layers of 512-wide K and V
  in.weight_bytes = uint64_t{29} << 20;  // its Q8_0 tensors
  in.hardware_threads = 2;
  return in;
}

// Qwen2.5-0.5B's shape: 24 layers, 2 KV heads of 64, a 151,936-token vocabulary; Q8_0.
LoadPlanInputs qwen_inputs() {
  LoadPlanInputs in = cpu_inputs();
  in.kv_bytes_per_token = 12 * 1024;
  in.weight_bytes = uint64_t{506} << 20;
  return in;
}

TEST(LoadPlanTest, CpuDefaults) {
  const LoadPlan p = plan_load(cpu_inputs());
  EXPECT_EQ(p.parallel, 16);
  EXPECT_EQ(p.ctx_per_sequence, 4096);
  EXPECT_TRUE(p.cascade);  // its attention over a shared prompt outweighs its weights
  EXPECT_FALSE(p.kv_unified);
  EXPECT_EQ(p.n_seq, 17);  // the shared prefix's sequence
  EXPECT_EQ(p.n_ctx, 4096u * 17u);
  EXPECT_EQ(p.n_batch, 512u);
  EXPECT_EQ(p.contexts, 2);  // each with 16 sequences, decoding on one of the two cores
  EXPECT_EQ(p.threads, 1);
  EXPECT_EQ(p.threads_alone, 2);
}

TEST(LoadPlanTest, DataParallelSharesOutTheTotals) {
  LoadPlanInputs in = cpu_inputs();
  in.hardware_threads = 16;
  in.parallel = 9;  // rounded up to a multiple of the contexts
  in.ctx_size = 9 * 2048;
  in.data_parallel = 3;
  const LoadPlan p = plan_load(in);
  EXPECT_EQ(p.contexts, 3);
  EXPECT_EQ(p.parallel, 3);
  EXPECT_EQ(p.ctx_per_sequence, 2048);
  EXPECT_EQ(p.threads, 5);
  EXPECT_EQ(p.threads_alone, 16);
  // Free memory for KV is shared too: each context sizes its sequences on its share.
  in = cpu_inputs();
  in.free_memory = uint64_t{4} * 16 * 1024 * 4096 * 2;  // 4 sequences of 4096 cells, twice over
  EXPECT_EQ(plan_load(in).contexts, 2);
  EXPECT_EQ(plan_load(in).parallel, 2);
}

TEST(LoadPlanTest, OneContextOnAGpuWithAProjectorOrOneThread) {
  LoadPlanInputs in = cpu_inputs();
  in.gpu = true;
  EXPECT_EQ(plan_load(in).contexts, 1);
  in = cpu_inputs();
  in.vision = true;
  EXPECT_EQ(plan_load(in).contexts, 1);
  in = cpu_inputs();
  in.threads = 1;
  EXPECT_EQ(plan_load(in).contexts, 1);
  in = cpu_inputs();
  in.parallel = 1;  // no more contexts than sequences
  EXPECT_EQ(plan_load(in).contexts, 1);
  EXPECT_EQ(plan_load(in).threads, 2);
  in = cpu_inputs();
  in.data_parallel = 1;
  const LoadPlan one = plan_load(in);
  EXPECT_EQ(one.contexts, 1);
  EXPECT_EQ(one.threads, 2);
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
  EXPECT_TRUE(p.kv_unified);
  EXPECT_EQ(p.n_seq, 4);
  EXPECT_EQ(p.n_ctx, 8192u);
  EXPECT_EQ(p.n_batch, 4u);  // at least a token a sequence
  EXPECT_EQ(p.threads, 1);
}

TEST(LoadPlanTest, LightAttentionModelsTakeOneUnifiedBuffer) {
  const LoadPlan p = plan_load(qwen_inputs());
  EXPECT_FALSE(p.cascade);
  EXPECT_TRUE(p.kv_unified);
  EXPECT_EQ(p.n_seq, 16);
  EXPECT_EQ(p.n_ctx, 4096u * 16u);
  EXPECT_EQ(p.ctx_per_sequence, 4096);
  // Twice the sequences read twice the prefix: still light (32 x 256 x 12 KiB x 4 = 384 MiB < 506).
  LoadPlanInputs in = qwen_inputs();
  in.data_parallel = 1;
  in.parallel = 32;
  EXPECT_FALSE(plan_load(in).cascade);
  in.parallel = 48;  // 48 x 256 x 12 KiB x 4 = 576 MiB >= 506 MiB
  EXPECT_TRUE(plan_load(in).cascade);
  // Asked for, cascade attention comes with its own streams.
  in = qwen_inputs();
  in.cascade = CascadeAttention::kOn;
  const LoadPlan on = plan_load(in);
  EXPECT_TRUE(on.cascade);
  EXPECT_FALSE(on.kv_unified);
}

TEST(LoadPlanTest, MRopeModelsRunWithoutCascade) {
  LoadPlanInputs in = cpu_inputs();  // attention-heavy: cascade but for M-RoPE
  in.mrope = true;
  const LoadPlan p = plan_load(in);
  EXPECT_FALSE(p.cascade);
  EXPECT_TRUE(p.kv_unified);
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
