#include "engine/llama/parallelism.h"

#include <unistd.h>

#include <algorithm>

#include "ggml-backend.h"

namespace openbatch::engine {

int choose_parallel(const ParallelismInputs& in) {
  const int wanted = in.gpu ? 64 : 16;
  const uint64_t per_sequence =
      in.kv_bytes_per_token * static_cast<uint64_t>(std::max(1, in.ctx_per_sequence));
  if (per_sequence == 0) return wanted;
  const uint64_t fits = in.free_memory / 2 / per_sequence;
  return static_cast<int>(std::clamp<uint64_t>(fits, 1, static_cast<uint64_t>(wanted)));
}

uint64_t kv_bytes_per_token(const llama_model* model) {
  const uint64_t n_head = std::max(1, llama_model_n_head(model));
  const uint64_t head_dim = static_cast<uint64_t>(llama_model_n_embd(model)) / n_head;
  const uint64_t kv_dim = static_cast<uint64_t>(std::max(1, llama_model_n_head_kv(model))) * head_dim;
  return static_cast<uint64_t>(llama_model_n_layer(model)) * 2 /* K and V */ * kv_dim * 2 /* F16 */;
}

uint64_t free_memory_for_kv(bool gpu) {
  if (gpu) {
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
      ggml_backend_dev_t dev = ggml_backend_dev_get(i);
      if (ggml_backend_dev_type(dev) != GGML_BACKEND_DEVICE_TYPE_GPU) continue;
      size_t free = 0;
      size_t total = 0;
      ggml_backend_dev_memory(dev, &free, &total);
      return free;
    }
  }
  const long pages = sysconf(_SC_AVPHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size) : 0;
}

}  // namespace openbatch::engine
