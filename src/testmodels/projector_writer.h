// Writes small vision projectors (mmproj GGUF files) with random weights, for tests and benchmarks:
// `openbatch make-model --shape tiny-vision --mmproj-output FILE`. Three kinds, loaded by llama.cpp's
// mtmd as it loads the real ones: LLaVA 1.5's (a ViT at a fixed resolution with a 2-layer MLP into the
// text model's embedding space, one position a token), Qwen2.5-VL's (a ViT with 2-D rotary positions
// and window attention at the image's own resolution, 2x2 patches merged into one token, which the
// text model places on M-RoPE's grid of positions) and Qwen3-VL's (the same merging, with learned
// position embeddings resized to the image, LayerNorms, GELU MLPs, and DeepStack: mergers on inner
// layers whose outputs widen each token's embedding, for the text model's first layers).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace openbatch::testmodels {

enum class ProjectorKind { kLlava, kQwen25Vl, kQwen3Vl };

struct ProjectorShape {
  std::string name;         // the make-model shape, e.g. "tiny-vision"
  std::string text_shape;   // the text model it pairs with (model_shapes()), e.g. "tiny"
  uint32_t image_size = 0;  // LLaVA: images are resized to image_size x image_size; Qwen2.5-VL: the
                            // largest side mtmd's warm-up assumes; Qwen3-VL: the side of the
                            // position embeddings' grid, in pixels
  uint32_t patch_size = 0;  // one image token per patch: (image_size / patch_size)^2 tokens
  uint32_t n_embd = 0;      // ViT width
  uint32_t n_head = 0;
  uint32_t n_ff = 0;
  uint32_t n_layer = 0;      // the last layer is not run (LLaVA takes the one before)
  uint32_t n_mm_hidden = 0;  // width of the MLP between ViT and text model
  ProjectorKind kind = ProjectorKind::kLlava;
  uint32_t n_wa_pattern = 0;  // Qwen2.5-VL: every n-th layer attends over the whole image, others in windows
  // Qwen3-VL: the ViT layers whose output a DeepStack merger takes (as many as the text model's
  // n_deepstack_layers, in order).
  std::vector<uint32_t> deepstack_layers = {};
};

// The vision shapes make-model knows: tiny-vision (16 tokens an image, for tests), bench-vision
// (256 tokens an image through a 6-layer ViT, paired with bench-512x8, for benchmarks),
// qwen2.5-vl-tiny (Qwen2.5-VL's projector scaled down, paired with qwen2.5-vl-tiny-text: one token per
// 28 x 28 pixels of the image, 8 to 4096 of them) and qwen3-vl-tiny (Qwen3-VL's, paired with
// qwen3-vl-tiny-text: one token per 32 x 32 pixels, 8 to 4096, DeepStack from 2 of its 3 layers).
const std::vector<ProjectorShape>& projector_shapes();
// null when name is not a vision shape.
const ProjectorShape* projector_shape_by_name(std::string_view name);

// Writes a projector of this shape for a text model of width n_embd_text, weights drawn from seed, to
// path (replaced once complete). The MLP's output looks like the random text models' token
// embeddings (see random_weights.h), so image tokens leave generation as well-behaved as text;
// DeepStack outputs are small, and zero in the channels the text model's logit biases use.
// 500 internal when the file cannot be written.
Status write_random_projector(const ProjectorShape& shape, uint32_t n_embd_text, uint32_t seed,
                              const std::string& path);

}  // namespace openbatch::testmodels
