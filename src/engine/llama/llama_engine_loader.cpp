// Loading the embedded engine: the model, its template, the plan of its contexts (load_plan.h), the
// contexts themselves and the vision projector; then the contexts' threads start.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "engine/llama/llama_engine.h"
#include "engine/llama/llama_engine_impl.h"
#include "engine/llama/parallelism.h"

namespace openbatch::engine {

namespace {

void quiet_log(ggml_log_level level, const char* text, void* /*user*/) {
  if (level >= GGML_LOG_LEVEL_WARN && level != GGML_LOG_LEVEL_CONT) std::fputs(text, stderr);
}

// What the plan needs to know of the model and the machine.
LoadPlanInputs plan_inputs(const LlamaEngineOptions& options, const llama_model* model) {
  LoadPlanInputs in;
  in.parallel = options.parallel;
  in.ctx_size = options.ctx_size;
  in.threads = options.threads;
  in.batch_size = options.batch_size;
  in.cascade = options.cascade;
  in.n_ctx_train = llama_model_n_ctx_train(model);
  in.gpu = options.gpu_layers != 0 && llama_supports_gpu_offload();
  if (options.parallel <= 0) in.free_memory = free_memory_for_kv(in.gpu);
  in.kv_bytes_per_token = kv_bytes_per_token(model);
  in.weight_bytes = llama_model_size(model);
  const int rope_type = llama_model_rope_type(model);
  in.mrope = rope_type == LLAMA_ROPE_TYPE_MROPE || rope_type == LLAMA_ROPE_TYPE_IMROPE;
  in.hardware_threads = std::thread::hardware_concurrency();
  in.data_parallel = options.data_parallel;
  in.vision = !options.mmproj_path.empty();
  return in;
}

llama_context_params context_params(const LoadPlan& plan) {
  llama_context_params cparams = llama_context_default_params();
  cparams.n_ctx = plan.n_ctx;
  cparams.n_seq_max = static_cast<uint32_t>(plan.n_seq);
  // Cascade attention is built on the transposed V cache of the non-flash path; on a CPU the two
  // measure the same at these context lengths.
  if (plan.cascade) cparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cparams.n_batch = plan.n_batch;
  cparams.n_ubatch = cparams.n_batch;
  cparams.kv_unified = plan.kv_unified;
  cparams.n_threads = plan.threads;
  cparams.n_threads_batch = plan.threads;
  cparams.no_perf = true;
  return cparams;
}

}  // namespace

void set_llama_log_level_warn() {
  llama_log_set(quiet_log, nullptr);
  set_mtmd_log_level_warn();
}

Result<std::unique_ptr<LlamaEngine>> LlamaEngine::load(const LlamaEngineOptions& options) {
  static std::once_flag backend_once;
  std::call_once(backend_once, [] { llama_backend_init(); });

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  llama_model_params mparams = llama_model_default_params();
  mparams.n_gpu_layers = options.gpu_layers < 0 ? 999 : options.gpu_layers;
  impl->model = llama_model_load_from_file(options.model_path.c_str(), mparams);
  if (!impl->model) return Status::internal("cannot load model " + options.model_path);
  impl->vocab = llama_model_get_vocab(impl->model);
  impl->bytes = ByteTokens::of(impl->vocab);
  const std::string model_name = std::filesystem::path(options.model_path).filename().string();
  auto chat_template = ChatTemplate::load(impl->model, model_name, options.chat_template);
  if (!chat_template) return chat_template.status();
  impl->chat_template = std::move(chat_template).value();

  const LoadPlanInputs plan_in = plan_inputs(options, impl->model);
  if (plan_in.mrope && options.cascade == CascadeAttention::kOn) {
    return Status::invalid_request(
        "--cascade on: cascade attention gives every prefix token one position, and " + model_name +
        " uses M-RoPE (an image spans fewer positions than tokens); use --cascade auto or off");
  }
  const LoadPlan plan = plan_load(plan_in);
  const int parallel = plan.parallel;
  const llama_context_params cparams = context_params(plan);
  impl->threads = plan.threads_alone;
  impl->queue = std::make_unique<JobQueue>(plan.contexts, parallel);
  for (int c = 0; c < plan.contexts; ++c) {
    llama_context* ctx = llama_init_from_model(impl->model, cparams);
    if (!ctx) return Status::internal("cannot create a llama context (out of memory?)");
    ContextLayout layout;
    layout.index = c;
    layout.sequences = parallel;
    layout.n_batch = static_cast<int>(cparams.n_batch);
    layout.threads = plan.threads;
    layout.cascade = plan.cascade;
    impl->contexts.push_back(std::make_unique<SequenceScheduler>(impl->shared, *impl->queue, ctx, layout));
  }

  impl->info.id = options.model_ids.empty() ? std::filesystem::path(options.model_path).stem().string()
                                            : options.model_ids.front();
  for (size_t i = 1; i < options.model_ids.size(); ++i) impl->info.aliases.push_back(options.model_ids[i]);
  // A unified buffer lets one sequence take every cell: each stays within its share.
  impl->info.context_per_sequence =
      std::min(plan.ctx_per_sequence, static_cast<int>(llama_n_ctx_seq(impl->contexts.front()->context())));
  if (!options.mmproj_path.empty()) {
    VisionOptions vopts;
    vopts.mmproj_path = options.mmproj_path;
    vopts.threads = plan.threads_alone;
    vopts.use_gpu = options.gpu_layers != 0;
    vopts.max_encoded_waiting = std::max(8, 2 * parallel * plan.contexts);
    auto vision = VisionEncoder::load(vopts, impl->model);
    if (!vision) return vision.status();
    impl->vision = std::move(vision).value();
    impl->info.has_vision = true;
  }
  impl->info.parallel = parallel * plan.contexts;
  impl->info.contexts = plan.contexts;
  impl->info.created =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();

  SharedModel& shared = impl->shared;
  shared.vocab = impl->vocab;
  shared.bytes = &impl->bytes;
  shared.vision = impl->vision.get();
  shared.context_per_sequence = impl->info.context_per_sequence;
  shared.threads_alone = impl->threads;
  shared.sampling_threads = options.sampling_threads > 0
                                ? static_cast<size_t>(options.sampling_threads)
                                : std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
  shared.sampling_work_per_thread = options.sampling_work_per_thread;
  for (auto& context : impl->contexts) context->start();
  return std::unique_ptr<LlamaEngine>(new LlamaEngine(std::move(impl)));
}

}  // namespace openbatch::engine
