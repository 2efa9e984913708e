// How many sequences the engine decodes together when the operator does not say.
#pragma once

#include <cstdint>

#include "llama.h"

namespace openbatch::engine {

struct ParallelismInputs {
  bool gpu = false;          // layers offloaded to a GPU: decode is memory-bound, more sequences pay
  uint64_t free_memory = 0;  // bytes free where the KV cache will live, after the weights
  uint64_t kv_bytes_per_token = 0;
  int ctx_per_sequence = 0;
};

// Enough sequences to keep the hardware busy (decode on a CPU is compute-bound beyond ~16 sequences, a
// GPU keeps gaining up to ~64), but never a KV cache over half the free memory. At least 1.
int choose_parallel(const ParallelismInputs& in);

// The KV cache bytes one token takes in this model (F16 keys and values in every layer).
uint64_t kv_bytes_per_token(const llama_model* model);

// Free bytes on the first GPU when layers are offloaded to one, else available system memory.
uint64_t free_memory_for_kv(bool gpu);

}  // namespace openbatch::engine
