// How the engine sizes its llama.cpp contexts: how many (data parallelism), their sequences, KV cells,
// cascade attention, batch and threads, decided from the options and what the model and the machine
// offer. A pure function, so that every rule is tested without a model.
#pragma once

#include <cstdint>

namespace openbatch::engine {

// Cascade attention (llama.cpp patch, patches/llama.cpp/): requests sharing a long prefix read its KV
// from one sequence instead of each holding a copy. kAuto: on when the model runs on the CPU and its
// attention is heavy beside its weights (see plan_load).
enum class CascadeAttention { kAuto, kOn, kOff };

struct LoadPlanInputs {
  // The operator's options (0: choose). parallel, ctx_size and threads are totals, shared out
  // between the contexts.
  int parallel = 0;
  int ctx_size = 0;
  int threads = 0;
  int data_parallel = 0;  // contexts over the one model
  int batch_size = 512;
  CascadeAttention cascade = CascadeAttention::kAuto;
  // The model and the machine.
  int n_ctx_train = 0;
  bool gpu = false;  // layers offloaded to a GPU
  uint64_t free_memory = 0;
  uint64_t kv_bytes_per_token = 0;  // K and V of one token over every layer
  uint64_t weight_bytes = 0;        // the model's tensors (llama_model_size)
  // M-RoPE (Qwen2-VL and later): an image spans fewer positions than it has embeddings, which the
  // cascade patch's one-position-a-token prefix does not track; cascade attention stays off.
  bool mrope = false;
  bool vision = false;  // a projector is loaded
  unsigned hardware_threads = 1;
};

struct LoadPlan {
  // Contexts over the one model's weights, each with its own sequences, KV cells and decode thread
  // (engine/llama/llama_engine.h). On a CPU by default two, each decoding on half the threads: the
  // threads of one decode wait for each other at every operation of the graph, so where something
  // else takes a core, a decode runs at the pace of its slowest thread, and two decodes that never
  // wait for each other keep both cores' share (measured in docs/performance.md, "On a real vocabulary").
  // One on a GPU, with a projector (images are decoded by one encoder), or with one thread.
  int contexts = 1;
  int parallel = 1;          // request sequences of each context
  int ctx_per_sequence = 0;  // min(trained context, 4096), or ctx_size split between sequences
  int n_seq = 1;             // parallel, plus the shared prefix's sequence with cascade attention
  uint32_t n_ctx = 0;        // KV cells of the context, over all n_seq sequences
  bool cascade = false;      // (flash attention is then off: cascade runs on the non-flash path)
  // One KV buffer for every sequence (llama.cpp's kv_unified) whenever cascade attention is off: a
  // decode step is then one ubatch whatever mix of prompt chunks and drawn tokens it holds, and a
  // copied prefix is the same cells tagged with one more sequence. Cascade attention needs a stream
  // a sequence, where llama.cpp splits a step into ubatches of equal tokens a sequence.
  bool kv_unified = false;
  uint32_t n_batch = 512;  // tokens a decode step takes (prefill chunks), at least one a sequence
  int threads = 1;         // CPU threads of a context's decode while the other contexts decode too
  int threads_alone = 1;   // ... while they are idle (a lone request decodes on every thread)
};

// Cascade attention by default (kAuto) when the model runs on the CPU and a shared prompt of
// kCascadeShortPrompt tokens, read by every sequence each step, is at least a quarter of the weights a
// step reads: a model whose attention is light beside its weights (grouped-query attention, a large
// vocabulary) loses more to the cascade's extra graph than it saves.
inline constexpr uint64_t kCascadeShortPrompt = 256;
// The contexts share parallel (rounded up to a multiple of them), ctx_size and threads evenly; with
// parallel 0 each takes its own choose_parallel from its share of the free memory.
LoadPlan plan_load(const LoadPlanInputs& in);

}  // namespace openbatch::engine
