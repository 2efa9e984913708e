#include "testmodels/projector_writer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <system_error>

#include "ggml-cpp.h"
#include "ggml.h"
#include "gguf.h"
#include "testmodels/random_weights.h"

namespace openbatch::testmodels {
namespace {

namespace fs = std::filesystem;

// CLIP's normalisation, as LLaVA 1.5's projector declares it.
constexpr float kImageMean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
constexpr float kImageStd[3] = {0.26862954f, 0.26130258f, 0.27577711f};
// The first channels of the text models' residual stream carry their logit biases (random_weights.h):
// channel 0 is 1 in every token embedding, a few marker channels are 0 but for one token each. Image
// embeddings keep channel 0 at 1 and these channels at 0, and the rest at the tokens' noise level.
constexpr int kReservedChannels = 8;
constexpr double kEmbdNoise = 0.5;
constexpr double kGeluRms = 0.65;  // RMS of gelu(x) for x ~ N(0, 1)
// Qwen3-VL's normalisation (its preprocessor_config.json).
constexpr float kQwen3VlMean[3] = {0.5f, 0.5f, 0.5f};
constexpr float kQwen3VlStd[3] = {0.5f, 0.5f, 0.5f};
// Norm of each DeepStack slice, which a text layer adds to its output: about half of what all the
// text model's layers add together (random_weights.cpp's kLayerGain), so image tokens keep the
// statistics the logit biases rely on.
constexpr double kDeepstackNorm = 0.15;

// Builds the tensors in one ggml context and adds each to the GGUF as it is made.
class TensorSet {
 public:
  TensorSet(gguf_context* gguf, size_t bytes, uint32_t seed)
      : gguf_(gguf), seed_(seed), ctx_(ggml_init({bytes, nullptr, /*no_alloc=*/false})) {}

  // A tensor of normal values of the given standard deviation.
  ggml_tensor* normal(const std::string& name, std::vector<int64_t> ne, double stdev) {
    ggml_tensor* t = make(name, ne);
    const auto values = normal_values(seed_, name, static_cast<size_t>(ggml_nelements(t)), stdev);
    std::copy(values.begin(), values.end(), static_cast<float*>(t->data));
    return t;
  }
  ggml_tensor* constant(const std::string& name, std::vector<int64_t> ne, float value) {
    ggml_tensor* t = make(name, ne);
    std::fill_n(static_cast<float*>(t->data), ggml_nelements(t), value);
    return t;
  }
  bool ok() const { return ctx_ != nullptr; }

 private:
  ggml_tensor* make(const std::string& name, const std::vector<int64_t>& ne) {
    ggml_tensor* t = ggml_new_tensor(ctx_.get(), GGML_TYPE_F32, static_cast<int>(ne.size()), ne.data());
    ggml_set_name(t, name.c_str());
    gguf_add_tensor(gguf_, t);
    return t;
  }

  gguf_context* gguf_;
  uint32_t seed_;
  ggml_context_ptr ctx_;
};

size_t parameter_bytes(const ProjectorShape& s, uint32_t n_embd_text) {
  if (s.kind == ProjectorKind::kQwen3Vl) {
    const size_t d = s.n_embd;
    const size_t d4 = 4 * d;  // a merged token: 2x2 patches
    const size_t side = s.image_size / s.patch_size;
    const size_t per_layer = 4 * d + 3 * d * d + 3 * d + d * d + d + 2 * d * s.n_ff + s.n_ff + d;
    const size_t per_deepstack = 2 * d4 + d4 * d4 + d4 + d4 * n_embd_text + n_embd_text;
    const size_t n = 2 * s.patch_size * s.patch_size * 3 * d + d + side * side * d + s.n_layer * per_layer +
                     2 * d + s.deepstack_layers.size() * per_deepstack + d4 * s.n_mm_hidden + s.n_mm_hidden +
                     size_t{s.n_mm_hidden} * n_embd_text + n_embd_text;
    const size_t n_tensors = 10 + 12 * size_t{s.n_layer} + 6 * s.deepstack_layers.size();
    return n * sizeof(float) + n_tensors * (ggml_tensor_overhead() + 2 * GGML_MEM_ALIGN);
  }
  if (s.kind == ProjectorKind::kQwen25Vl) {
    const size_t d = s.n_embd;
    const size_t per_layer = 2 * d + 4 * (d * d + d) + 3 * d * s.n_ff + 2 * s.n_ff + d;
    const size_t n = 2 * s.patch_size * s.patch_size * 3 * d + s.n_layer * per_layer + d +
                     4 * d * s.n_mm_hidden + s.n_mm_hidden + size_t{s.n_mm_hidden} * n_embd_text +
                     n_embd_text;
    const size_t n_tensors = 8 + 16 * size_t{s.n_layer};
    return n * sizeof(float) + n_tensors * (ggml_tensor_overhead() + 2 * GGML_MEM_ALIGN);
  }
  const size_t d = s.n_embd;
  const size_t n_patches = (s.image_size / s.patch_size) * (s.image_size / s.patch_size);
  const size_t per_layer = 4 * (d * d + d) + 2 * d * s.n_ff + s.n_ff + d + 4 * d;
  const size_t n = s.patch_size * s.patch_size * 3 * d + d + n_patches * d + s.n_layer * per_layer + 2 * d +
                   d * s.n_mm_hidden + s.n_mm_hidden + size_t{s.n_mm_hidden} * n_embd_text + n_embd_text;
  const size_t n_tensors = 16 + 16 * size_t{s.n_layer};
  return n * sizeof(float) + n_tensors * (ggml_tensor_overhead() + 2 * GGML_MEM_ALIGN);
}

void set_metadata(gguf_context* g, const ProjectorShape& s, uint32_t n_embd_text) {
  gguf_set_val_str(g, "general.architecture", "clip");
  gguf_set_val_str(g, "general.name", ("openbatch-random-" + s.name).c_str());
  gguf_set_val_str(g, "general.description",
                   "random-weight LLaVA-style projector for tests (openbatch make-model)");
  gguf_set_val_u32(g, "general.file_type", 0);  // all F32
  gguf_set_val_bool(g, "clip.has_vision_encoder", true);
  gguf_set_val_bool(g, "clip.has_text_encoder", false);
  const bool qwen25 = s.kind == ProjectorKind::kQwen25Vl;
  const bool qwen3 = s.kind == ProjectorKind::kQwen3Vl;
  const bool qwen = qwen25 || qwen3;
  gguf_set_val_str(g, "clip.projector_type", qwen25 ? "qwen2.5vl_merger" : qwen3 ? "qwen3vl_merger" : "mlp");
  gguf_set_val_bool(g, qwen25 ? "clip.use_silu" : "clip.use_gelu", true);
  if (qwen25) gguf_set_val_u32(g, "clip.vision.n_wa_pattern", s.n_wa_pattern);
  if (qwen3) {
    // As llama.cpp's converter writes them; mtmd finds the DeepStack layers by their tensors.
    gguf_set_val_u32(g, "clip.vision.spatial_merge_size", 2);
    std::vector<int8_t> is_deepstack(s.n_layer, 0);
    for (const uint32_t il : s.deepstack_layers) is_deepstack[il] = 1;
    gguf_set_arr_data(g, "clip.vision.is_deepstack_layers", GGUF_TYPE_BOOL, is_deepstack.data(),
                      is_deepstack.size());
  }
  gguf_set_val_u32(g, "clip.vision.image_size", s.image_size);
  gguf_set_val_u32(g, "clip.vision.patch_size", s.patch_size);
  gguf_set_val_u32(g, "clip.vision.embedding_length", s.n_embd);
  gguf_set_val_u32(g, "clip.vision.feed_forward_length", s.n_ff);
  gguf_set_val_u32(g, "clip.vision.projection_dim", n_embd_text);
  gguf_set_val_u32(g, "clip.vision.attention.head_count", s.n_head);
  gguf_set_val_f32(g, "clip.vision.attention.layer_norm_epsilon", qwen ? 1e-6f : 1e-5f);
  gguf_set_val_u32(g, "clip.vision.block_count", s.n_layer);
  gguf_set_arr_data(g, "clip.vision.image_mean", GGUF_TYPE_FLOAT32, qwen3 ? kQwen3VlMean : kImageMean, 3);
  gguf_set_arr_data(g, "clip.vision.image_std", GGUF_TYPE_FLOAT32, qwen3 ? kQwen3VlStd : kImageStd, 3);
}

// A GELU MLP fc1 -> fc2 from n_in values of about unit size into the text model's n_embd_text
// channels: its output has noise of total norm `norm` outside the reserved channels, 0 in them but
// channel 0, which is channel0.
void add_mlp_into_text(TensorSet& t, const std::string& fc1, const std::string& fc2, int64_t n_in,
                       int64_t n_hidden, uint32_t n_embd_text, double norm, float channel0) {
  t.normal(fc1 + ".weight", {n_in, n_hidden}, 1.0 / std::sqrt(static_cast<double>(n_in)));
  t.constant(fc1 + ".bias", {n_hidden}, 0.0f);
  const double channel_std = norm / std::sqrt(static_cast<double>(n_embd_text));
  ggml_tensor* w2 = t.normal(fc2 + ".weight", {n_hidden, n_embd_text},
                             channel_std / kGeluRms / std::sqrt(static_cast<double>(n_hidden)));
  auto* w2_data = static_cast<float*>(w2->data);
  for (int64_t row = 0; row < std::min<int64_t>(kReservedChannels, n_embd_text); ++row) {
    std::fill_n(w2_data + row * n_hidden, n_hidden, 0.0f);
  }
  ggml_tensor* b2 = t.constant(fc2 + ".bias", {n_embd_text}, 0.0f);
  static_cast<float*>(b2->data)[0] = channel0;
}

// A ViT layer's (prefix b) attention output and ungated MLP, as LLaVA's and Qwen3-VL's have them: each
// adds about half its input's size to the residual stream.
void add_attn_out_and_mlp(TensorSet& t, const std::string& b, int64_t d, int64_t n_ff) {
  t.normal(b + "attn_out.weight", {d, d}, 0.5 / std::sqrt(static_cast<double>(d)));
  t.constant(b + "attn_out.bias", {d}, 0.0f);
  t.normal(b + "ffn_up.weight", {d, n_ff}, 1.0 / std::sqrt(static_cast<double>(d)));
  t.constant(b + "ffn_up.bias", {n_ff}, 0.0f);
  t.normal(b + "ffn_down.weight", {n_ff, d}, 0.5 / std::sqrt(static_cast<double>(n_ff)));
  t.constant(b + "ffn_down.bias", {d}, 0.0f);
}

// The MLP into the text model, from n_in values a token: its output has the text models'
// token-embedding statistics.
void add_projection(TensorSet& t, const ProjectorShape& s, int64_t n_in, uint32_t n_embd_text) {
  add_mlp_into_text(t, "mm.0", "mm.2", n_in, s.n_mm_hidden, n_embd_text, kEmbdNoise, 1.0f);
}

// Qwen3-VL's vision tower: two patch convolutions with a bias, learned position embeddings (mtmd
// resizes their grid to the image's), LayerNorms, one fused qkv projection, GELU MLPs without a gate,
// the merger over 2x2 neighbouring patches after post_ln, and a DeepStack merger (LayerNorm over the
// merged token, then a GELU MLP) on each of deepstack_layers, whose outputs mtmd appends to the
// merger's: embeddings n_embd_text * (1 + deepstack_layers) wide.
void add_qwen3vl_tensors(TensorSet& t, const ProjectorShape& s, uint32_t n_embd_text) {
  const int64_t d = s.n_embd;
  const int64_t p = s.patch_size;
  const int64_t side = s.image_size / s.patch_size;
  const double unit = 1.0 / std::sqrt(static_cast<double>(d));
  const double patch_std = 1.0 / std::sqrt(static_cast<double>(2 * p * p * 3));
  t.normal("v.patch_embd.weight", {p, p, 3, d}, patch_std);
  t.normal("v.patch_embd.weight.1", {p, p, 3, d}, patch_std);
  t.normal("v.patch_embd.bias", {d}, 0.1);
  t.normal("v.position_embd.weight", {d, side * side}, 0.5);
  for (uint32_t il = 0; il < s.n_layer; ++il) {
    const std::string b = "v.blk." + std::to_string(il) + ".";
    for (const char* ln : {"ln1", "ln2"}) {
      t.constant(b + ln + ".weight", {d}, 1.0f);
      t.constant(b + ln + ".bias", {d}, 0.0f);
    }
    t.normal(b + "attn_qkv.weight", {d, 3 * d}, unit);
    t.constant(b + "attn_qkv.bias", {3 * d}, 0.0f);
    add_attn_out_and_mlp(t, b, d, s.n_ff);
  }
  for (const uint32_t il : s.deepstack_layers) {
    const std::string b = "v.deepstack." + std::to_string(il) + ".";
    t.constant(b + "norm.weight", {4 * d}, 1.0f);
    t.constant(b + "norm.bias", {4 * d}, 0.0f);
    add_mlp_into_text(t, b + "fc1", b + "fc2", 4 * d, 4 * d, n_embd_text, kDeepstackNorm, 0.0f);
  }
  t.constant("v.post_ln.weight", {d}, 1.0f);
  t.constant("v.post_ln.bias", {d}, 0.0f);
  add_projection(t, s, 4 * d, n_embd_text);
}

// Qwen2.5-VL's vision tower: two patch convolutions (the two frames of a video; a still image goes
// through both), no bias and no position table (its positions are rotary), RMS norms, SiLU-gated
// MLPs, and the merger (the MLP over 2x2 neighbouring patches).
void add_qwen25vl_tensors(TensorSet& t, const ProjectorShape& s, uint32_t n_embd_text) {
  const int64_t d = s.n_embd;
  const int64_t p = s.patch_size;
  const double unit = 1.0 / std::sqrt(static_cast<double>(d));
  const double patch_std = 1.0 / std::sqrt(static_cast<double>(2 * p * p * 3));
  t.normal("v.patch_embd.weight", {p, p, 3, d}, patch_std);
  t.normal("v.patch_embd.weight.1", {p, p, 3, d}, patch_std);
  for (uint32_t il = 0; il < s.n_layer; ++il) {
    const std::string b = "v.blk." + std::to_string(il) + ".";
    t.constant(b + "ln1.weight", {d}, 1.0f);
    t.constant(b + "ln2.weight", {d}, 1.0f);
    for (const char* proj : {"attn_q", "attn_k", "attn_v"}) {
      t.normal(b + proj + ".weight", {d, d}, unit);
      t.constant(b + proj + ".bias", {d}, 0.0f);
    }
    t.normal(b + "attn_out.weight", {d, d}, 0.5 * unit);
    t.constant(b + "attn_out.bias", {d}, 0.0f);
    t.normal(b + "ffn_gate.weight", {d, s.n_ff}, unit);
    t.constant(b + "ffn_gate.bias", {s.n_ff}, 0.0f);
    t.normal(b + "ffn_up.weight", {d, s.n_ff}, unit);
    t.constant(b + "ffn_up.bias", {s.n_ff}, 0.0f);
    t.normal(b + "ffn_down.weight", {s.n_ff, d}, 0.5 / std::sqrt(static_cast<double>(s.n_ff)));
    t.constant(b + "ffn_down.bias", {d}, 0.0f);
  }
  t.constant("v.post_ln.weight", {d}, 1.0f);
  add_projection(t, s, 4 * d, n_embd_text);
}

void add_tensors(TensorSet& t, const ProjectorShape& s, uint32_t n_embd_text) {
  if (s.kind == ProjectorKind::kQwen3Vl) {
    add_qwen3vl_tensors(t, s, n_embd_text);
    return;
  }
  if (s.kind == ProjectorKind::kQwen25Vl) {
    add_qwen25vl_tensors(t, s, n_embd_text);
    return;
  }
  const int64_t d = s.n_embd;
  const int64_t p = s.patch_size;
  const int64_t n_patches = (s.image_size / p) * (s.image_size / p);
  const double unit = 1.0 / std::sqrt(static_cast<double>(d));
  // Patch embedding: a convolution whose kernel is patch x patch x 3 -> d.
  t.normal("v.patch_embd.weight", {p, p, 3, d}, 1.0 / std::sqrt(static_cast<double>(p * p * 3)));
  t.constant("v.patch_embd.bias", {d}, 0.0f);
  t.normal("v.position_embd.weight", {d, n_patches}, 0.5);
  for (uint32_t il = 0; il < s.n_layer; ++il) {
    const std::string b = "v.blk." + std::to_string(il) + ".";
    for (const char* ln : {"ln1", "ln2"}) {
      t.constant(b + ln + ".weight", {d}, 1.0f);
      t.constant(b + ln + ".bias", {d}, 0.0f);
    }
    for (const char* proj : {"attn_q", "attn_k", "attn_v"}) {
      t.normal(b + proj + ".weight", {d, d}, unit);
      t.constant(b + proj + ".bias", {d}, 0.0f);
    }
    add_attn_out_and_mlp(t, b, d, s.n_ff);
  }
  t.constant("v.post_ln.weight", {d}, 1.0f);
  t.constant("v.post_ln.bias", {d}, 0.0f);
  add_projection(t, s, d, n_embd_text);
}

}  // namespace

const std::vector<ProjectorShape>& projector_shapes() {
  static const std::vector<ProjectorShape> shapes = {
      // 32 x 32 images in 8 x 8 patches: 16 image tokens, for tests.
      {"tiny-vision", "tiny", 32, 8, 32, 2, 64, 2, 64},
      // 224 x 224 images in 14 x 14 patches: 256 image tokens through a 6-layer ViT, for benchmarks.
      {"bench-vision", "bench-512x8", 224, 14, 384, 6, 1536, 7, 1024},
      // Qwen2.5-VL's 14-pixel patches, 2x2 merged; a 2-layer ViT (window attention, then the whole
      // image), 32 wide in 2 heads of 16 (rotary sections of 4); mtmd warms up on 1288 x 1288.
      {"qwen2.5-vl-tiny", "qwen2.5-vl-tiny-text", 1288, 14, 32, 2, 64, 2, 128, ProjectorKind::kQwen25Vl, 2},
      // Qwen3-VL's 16-pixel patches, 2x2 merged; a 3-layer ViT 32 wide in 2 heads of 16, position
      // embeddings on a 16 x 16 grid (the real ones: 48 x 48), DeepStack from layers 0 and 1 (the
      // real 4B: 5, 11 and 17 of 24), the merger's hidden layer 4 x 32 wide as the real one's.
      {"qwen3-vl-tiny", "qwen3-vl-tiny-text", 256, 16, 32, 2, 64, 3, 128, ProjectorKind::kQwen3Vl, 0, {0, 1}},
  };
  return shapes;
}

const ProjectorShape* projector_shape_by_name(std::string_view name) {
  for (const ProjectorShape& s : projector_shapes()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

Status write_random_projector(const ProjectorShape& shape, uint32_t n_embd_text, uint32_t seed,
                              const std::string& path) {
  if (shape.patch_size == 0 || shape.image_size % shape.patch_size != 0 || shape.n_head == 0 ||
      shape.n_embd % shape.n_head != 0 || shape.n_layer < 2 ||
      std::any_of(shape.deepstack_layers.begin(), shape.deepstack_layers.end(),
                  [&](uint32_t il) { return il >= shape.n_layer; })) {
    return Status::invalid_request("projector shape " + shape.name + " is inconsistent", "shape");
  }
  gguf_context_ptr gguf(gguf_init_empty());
  set_metadata(gguf.get(), shape, n_embd_text);
  TensorSet tensors(gguf.get(), parameter_bytes(shape, n_embd_text), seed);
  if (!tensors.ok()) return Status::internal("out of memory building the projector");
  add_tensors(tensors, shape, n_embd_text);
  const std::string tmp = path + ".tmp";
  if (!gguf_write_to_file(gguf.get(), tmp.c_str(), /*only_meta=*/false)) {
    return Status::internal("cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Status::internal("cannot move " + tmp + " to " + path);
  }
  return Status::ok();
}

}  // namespace openbatch::testmodels
