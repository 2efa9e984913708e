#include "engine/llama/load_plan.h"

#include <algorithm>

#include "engine/llama/parallelism.h"

namespace openbatch::engine {

LoadPlan plan_load(const LoadPlanInputs& in) {
  LoadPlan plan;
  const int ctx_per_sequence = std::min(in.n_ctx_train, 4096);
  int parallel = in.parallel;
  if (parallel <= 0) {
    ParallelismInputs p;
    p.gpu = in.gpu;
    p.free_memory = in.free_memory;
    p.kv_bytes_per_token = in.kv_bytes_per_token;
    p.ctx_per_sequence = in.ctx_size > 0 ? in.ctx_size : ctx_per_sequence;
    parallel = choose_parallel(p);
    if (in.ctx_size > 0) parallel = std::clamp(in.ctx_size / std::max(ctx_per_sequence, 1), 1, parallel);
  }
  plan.parallel = std::max(parallel, 1);
  const int ctx_total = in.ctx_size > 0 ? in.ctx_size : ctx_per_sequence * plan.parallel;
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
  plan.threads = in.threads > 0 ? in.threads : static_cast<int>(std::max(1u, in.hardware_threads));
  return plan;
}

}  // namespace openbatch::engine
