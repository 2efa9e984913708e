#include "engine/llama/load_plan.h"

#include <algorithm>

#include "engine/llama/parallelism.h"

namespace openbatch::engine {

namespace {

int choose_contexts(const LoadPlanInputs& in, int threads) {
  int contexts = in.data_parallel;
  if (contexts <= 0) contexts = in.gpu || in.vision || threads < 2 ? 1 : 2;
  if (in.parallel > 0) contexts = std::min(contexts, in.parallel);
  return std::max(contexts, 1);
}

}  // namespace

LoadPlan plan_load(const LoadPlanInputs& in) {
  LoadPlan plan;
  const int threads = in.threads > 0 ? in.threads : static_cast<int>(std::max(1u, in.hardware_threads));
  plan.contexts = choose_contexts(in, threads);
  plan.threads_alone = threads;
  plan.threads = std::max(1, threads / plan.contexts);
  const int ctx_per_sequence = std::min(in.n_ctx_train, 4096);
  const int ctx_size = in.ctx_size / plan.contexts;  // this context's share
  int parallel = (in.parallel + plan.contexts - 1) / plan.contexts;
  if (parallel <= 0) {
    ParallelismInputs p;
    p.gpu = in.gpu;
    p.free_memory = in.free_memory / static_cast<uint64_t>(plan.contexts);
    p.kv_bytes_per_token = in.kv_bytes_per_token;
    p.ctx_per_sequence = ctx_size > 0 ? ctx_size : ctx_per_sequence;
    parallel = choose_parallel(p);
    if (ctx_size > 0) parallel = std::clamp(ctx_size / std::max(ctx_per_sequence, 1), 1, parallel);
  }
  plan.parallel = std::max(parallel, 1);
  const int ctx_total = ctx_size > 0 ? ctx_size : ctx_per_sequence * plan.parallel;
  plan.ctx_per_sequence = ctx_total / plan.parallel;
  const uint64_t prefix_reads = uint64_t(plan.parallel) * kCascadeShortPrompt * in.kv_bytes_per_token;
  const bool attention_heavy = prefix_reads * 4 >= in.weight_bytes;
  plan.cascade = !in.mrope && (in.cascade == CascadeAttention::kOn ||
                               (in.cascade == CascadeAttention::kAuto && !in.gpu && attention_heavy));
  plan.kv_unified = !plan.cascade;
  // With cascade attention the shared prefix gets a sequence (and its share of the cells) of its own.
  plan.n_seq = plan.parallel + (plan.cascade ? 1 : 0);
  plan.n_ctx = static_cast<uint32_t>(plan.ctx_per_sequence) * static_cast<uint32_t>(plan.n_seq);
  plan.n_batch = static_cast<uint32_t>(std::max(in.batch_size, plan.parallel));
  return plan;
}

}  // namespace openbatch::engine
