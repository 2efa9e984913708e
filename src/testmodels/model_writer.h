// Writes small GGUF models with random weights (architecture llama, a byte-level BPE vocabulary of
// ~540 tokens, a ChatML chat template) for tests and benchmarks: `openbatch make-model`. The shapes
// of real models are available so benchmarks see realistic compute; the weights mean nothing, but
// they are shaped so generation ends by itself (see random_weights.h).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace openbatch::testmodels {

struct ModelShape {
  std::string name;
  std::string arch = "llama";  // llama.cpp's architecture: llama, qwen2, qwen3, qwen2vl, qwen3vl
  std::string vocab;           // a real tokenizer (models/ggml-vocab-VOCAB.gguf of llama.cpp's source:
                               // qwen2, llama-bpe); empty: make-model's own byte-level vocabulary
  std::string chat_template;   // with a real tokenizer: models/templates/FILE; else ChatML
  std::string added_tokens;    // the instruct model's added tokens (real_vocab.h): qwen2.5, qwen3
  uint32_t n_embd = 0;
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t n_ff = 0;
  uint32_t n_ctx_train = 0;
  float rope_freq_base = 10000.0f;
  float rms_norm_eps = 1e-5f;
  // M-RoPE (arch qwen2vl; interleaved, IMROPE, for qwen3vl): how many of each head's rotary pairs turn
  // with the temporal, height and width positions (and a fourth, unused by the Qwen VL models); all
  // zero for one-dimensional RoPE.
  std::array<int32_t, 4> rope_sections{};
  // Qwen3-VL's DeepStack (arch qwen3vl): the first n_deepstack_layers layers each add one more slice of
  // an image token's embedding to their output, so image embeddings are n_embd * (1 + n) wide.
  uint32_t n_deepstack_layers = 0;
  // The template's generation prompt opens the thinking block itself (Qwen3.5's "<think>\n"): the
  // weights then do not steer the model to write <think>, only to close the block.
  bool template_opens_thinking = false;
};

// Storage type of the weight matrices (norms stay F32).
enum class WeightType { kF32, kQ8_0, kQ4_K_M };

// How the random weights are drawn: shaped so that answers end by themselves (random_weights.h), or
// untamed, every tensor N(0, 0.02) (near-uniform next-token choices, as a weak model's).
enum class WeightStyle { kTamed, kUntamed };

// The shapes make-model knows: tiny (64-wide, 2 layers, < 1 MB), bench-512x8, qwen2.5-0.5b and
// llama3.2-1b (the real models' dimensions with our small vocabulary); with a real tokenizer and chat
// template: qwen2.5-tiny, llama3-tiny, qwen3-tiny (a thinking template), qwen2.5-vl-tiny-text (arch
// qwen2vl with M-RoPE, Qwen2.5-VL's template; the text half of the qwen2.5-vl-tiny vision shape),
// qwen3-vl-tiny-text (arch qwen3vl with interleaved M-RoPE, 3 layers of which 2 take DeepStack features,
// Qwen3's added tokens, the Qwen3.5 template of llama.cpp's source; the text half of qwen3-vl-tiny), and
// qwen2.5-0.5b-real and llama3.2-1b-real (the real models' dimensions and vocabularies).
const std::vector<ModelShape>& model_shapes();
// 400 invalid_request (param "shape") for an unknown name.
Result<ModelShape> model_shape_by_name(std::string_view name);

// "f32", "q8_0" or "q4_k_m"; 400 invalid_request (param "quantize") otherwise.
Result<WeightType> weight_type_by_name(std::string_view name);

// Number of tokens in make-model's own byte-level vocabulary.
int32_t random_model_vocab_size();

// Number of tokens in the vocabulary of a shape (its real tokenizer's, or make-model's own).
Result<int32_t> vocab_size(const ModelShape& shape);

// Number of weights in a model of this shape with a vocabulary of n_vocab tokens.
int64_t parameter_count(const ModelShape& shape, int32_t n_vocab = random_model_vocab_size());

// The chat template written into the byte-vocabulary models (ChatML, as Qwen2's).
const std::string& random_model_chat_template();

// The chat template a shape's models carry.
Result<std::string> chat_template_of(const ModelShape& shape);

// Writes a model of this shape with weights drawn from seed to path, replacing any file there once
// the new one is complete (temporary files beside path meanwhile). Same (shape, seed, type): same
// bytes. With kQ8_0 / kQ4_K_M the F32 model is quantized with llama.cpp's quantizer. Holds the whole
// F32 model in memory (4 bytes a parameter) while it works. llama.cpp logs through its own callback.
// Returns 500 internal when llama.cpp fails or the file cannot be written.
Status write_random_model(const ModelShape& shape, uint32_t seed, const std::string& path,
                          WeightType type = WeightType::kF32, WeightStyle style = WeightStyle::kTamed);

}  // namespace openbatch::testmodels
