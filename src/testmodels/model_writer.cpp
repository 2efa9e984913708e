#include "testmodels/model_writer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <system_error>

#include "ggml-backend.h"
#include "ggml-cpp.h"
#include "ggml.h"
#include "gguf.h"
#include "llama-cpp.h"
#include "llama.h"
#include "testmodels/byte_bpe_vocab.h"
#include "testmodels/random_weights.h"
#include "testmodels/real_vocab.h"

namespace openbatch::testmodels {
namespace {

namespace fs = std::filesystem;

// ChatML, as in Qwen2's template but without its default system message.
constexpr const char* kChatTemplate =
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

// Removes the files it names when it goes out of scope, whether or not they exist.
class TempFiles {
 public:
  ~TempFiles() {
    std::error_code ignored;
    for (const std::string& path : paths_) fs::remove(path, ignored);
  }
  std::string add(std::string path) {
    paths_.push_back(path);
    return path;
  }

 private:
  std::vector<std::string> paths_;
};

void init_llama_backends() {
  static std::once_flag once;
  std::call_once(once, [] {
    llama_backend_init();
    if (ggml_backend_reg_count() == 0) ggml_backend_load_all();
  });
}

std::string model_name(const ModelShape& shape) { return "openbatch-random-" + shape.name; }

std::vector<const char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<const char*> out;
  out.reserve(strings.size());
  for (const std::string& s : strings) out.push_back(s.c_str());
  return out;
}

// The metadata llama_model_init_from_user builds the model from, and the tokens its weights steer.
struct ModelMetadata {
  gguf_context_ptr gguf;
  LogitLandmarks landmarks;
  std::string chat_template;
};

void set_architecture(gguf_context* g, const ModelShape& shape, uint32_t n_vocab) {
  const std::string a = shape.arch + ".";
  auto key = [&](const char* name) { return a + name; };
  gguf_set_val_str(g, "general.architecture", shape.arch.c_str());
  gguf_set_val_str(g, "general.name", model_name(shape).c_str());
  gguf_set_val_u32(g, key("vocab_size").c_str(), n_vocab);
  gguf_set_val_u32(g, key("context_length").c_str(), shape.n_ctx_train);
  gguf_set_val_u32(g, key("embedding_length").c_str(), shape.n_embd);
  gguf_set_val_u32(g, key("block_count").c_str(), shape.n_layer);
  gguf_set_val_u32(g, key("feed_forward_length").c_str(), shape.n_ff);
  gguf_set_val_u32(g, key("attention.head_count").c_str(), shape.n_head);
  gguf_set_val_u32(g, key("attention.head_count_kv").c_str(), shape.n_head_kv);
  gguf_set_val_f32(g, key("attention.layer_norm_rms_epsilon").c_str(), shape.rms_norm_eps);
  gguf_set_val_f32(g, key("rope.freq_base").c_str(), shape.rope_freq_base);
  gguf_set_val_u32(g, key("rope.dimension_count").c_str(), shape.n_embd / shape.n_head);
  if (std::any_of(shape.rope_sections.begin(), shape.rope_sections.end(), [](int32_t n) { return n != 0; })) {
    gguf_set_arr_data(g, key("rope.dimension_sections").c_str(), GGUF_TYPE_INT32, shape.rope_sections.data(),
                      shape.rope_sections.size());
  }
  // llama.cpp's converter writes the count for every qwen3vl model, 0 for a text-only one.
  if (shape.arch == "qwen3vl")
    gguf_set_val_u32(g, key("n_deepstack_layers").c_str(), shape.n_deepstack_layers);
}

Result<ModelMetadata> model_metadata(const ModelShape& shape) {
  ModelMetadata out;
  out.gguf.reset(gguf_init_empty());
  gguf_context* g = out.gguf.get();
  if (!shape.vocab.empty()) {
    auto real = load_real_vocab(shape.vocab, shape.added_tokens);
    if (!real) return real.status();
    auto chat_template = load_chat_template(shape.chat_template);
    if (!chat_template) return chat_template.status();
    set_architecture(g, shape, static_cast<uint32_t>(real->landmarks.n_vocab));
    gguf_set_kv(g, real->tokenizer);
    out.landmarks = real->landmarks;
    if (shape.template_opens_thinking) out.landmarks.think_start = -1;
    out.chat_template = std::move(chat_template).value();
    gguf_set_val_str(g, "tokenizer.chat_template", out.chat_template.c_str());
    return out;
  }
  const ByteBpeVocab& vocab = byte_bpe_vocab();
  set_architecture(g, shape, static_cast<uint32_t>(vocab.tokens.size()));
  gguf_set_val_str(g, "tokenizer.ggml.model", "gpt2");
  gguf_set_val_str(g, "tokenizer.ggml.pre", "qwen2");
  std::vector<const char*> tokens = c_strings(vocab.tokens);
  gguf_set_arr_str(g, "tokenizer.ggml.tokens", tokens.data(), tokens.size());
  gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, vocab.token_types.data(),
                    vocab.token_types.size());
  std::vector<const char*> merges = c_strings(vocab.merges);
  gguf_set_arr_str(g, "tokenizer.ggml.merges", merges.data(), merges.size());
  gguf_set_val_u32(g, "tokenizer.ggml.bos_token_id", static_cast<uint32_t>(vocab.endoftext_id));
  gguf_set_val_u32(g, "tokenizer.ggml.eos_token_id", static_cast<uint32_t>(vocab.im_end_id));
  gguf_set_val_u32(g, "tokenizer.ggml.eot_token_id", static_cast<uint32_t>(vocab.im_end_id));
  gguf_set_val_u32(g, "tokenizer.ggml.padding_token_id", static_cast<uint32_t>(vocab.endoftext_id));
  gguf_set_val_bool(g, "tokenizer.ggml.add_bos_token", false);
  gguf_set_val_bool(g, "tokenizer.ggml.add_eos_token", false);
  gguf_set_val_str(g, "tokenizer.chat_template", kChatTemplate);
  out.landmarks = landmarks_of(vocab);
  out.chat_template = kChatTemplate;
  return out;
}

// Builds the model in memory from metadata and random weights, and saves it with llama.cpp's saver.
Status save_random_model(gguf_context* metadata, const LogitLandmarks& landmarks, const ModelShape& shape,
                         uint32_t seed, WeightStyle style, const std::string& path) {
  RandomWeightsParams weights{seed,
                              shape.n_embd,
                              shape.n_layer,
                              token_logit_bias(landmarks),
                              context_logit_bias(landmarks),
                              style == WeightStyle::kUntamed};
  llama_model_params params = llama_model_default_params();
  params.n_gpu_layers = 0;  // the weights only pass through memory on their way to the file
  params.progress_callback = [](float, void*) { return true; };
  llama_model_ptr model(llama_model_init_from_user(metadata, fill_random_tensor, &weights, params));
  if (!model) return Status::internal("llama.cpp could not build a model of shape " + shape.name);
  llama_model_save_to_file(model.get(), path.c_str());
  std::error_code ec;
  if (fs::file_size(path, ec) == 0 || ec) return Status::internal("llama.cpp could not write " + path);
  return Status::ok();
}

// Tensors that llama.cpp creates for a model built in memory but that the llama architecture does not
// need: biases (zero), per-tensor scales and rope factors (one), and the reranker head of the qwen3
// architectures (cls.output, used only with rank pooling). Leaving them out keeps the file the same as
// a converted model, and the graph free of no-op additions and multiplications.
bool is_optional_identity_tensor(std::string_view name) {
  return name.ends_with(".bias") || name.ends_with(".scale") || name.ends_with(".input_scale") ||
         name.starts_with("rope_") || name.starts_with("cls.");
}

// Writes out with the metadata the model was built from and the tensors of the saved file in, less the
// optional identity tensors. The saver's own metadata is left behind: it lacks the chat template
// (llama-model-saver.cpp does not write tokenizer.chat_template) and adds every hyperparameter of
// every architecture llama.cpp knows, most of them zero. Streams the tensor data: memory stays small.
Status rewrite_model_file(const gguf_context* metadata, const std::string& in, const std::string& out) {
  ggml_context* meta_raw = nullptr;
  gguf_context_ptr src(
      gguf_init_from_file(in.c_str(), gguf_init_params{/*no_alloc=*/true, /*ctx=*/&meta_raw}));
  ggml_context_ptr meta(meta_raw);
  if (!src) return Status::internal("cannot read back " + in);

  gguf_context_ptr dst(gguf_init_empty());
  gguf_set_kv(dst.get(), metadata);
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < gguf_get_n_tensors(src.get()); ++i) {
    const char* name = gguf_get_tensor_name(src.get(), i);
    if (is_optional_identity_tensor(name)) continue;
    gguf_add_tensor(dst.get(), ggml_get_tensor(meta.get(), name));
    kept.push_back(i);
  }
  if (!gguf_write_to_file(dst.get(), out.c_str(), /*only_meta=*/true)) {
    return Status::internal("cannot write " + out);
  }

  std::ifstream input(in, std::ios::binary);
  std::ofstream output(out, std::ios::binary | std::ios::app);
  const size_t alignment = gguf_get_alignment(dst.get());
  std::vector<char> buffer(1 << 20);
  for (const int64_t i : kept) {
    input.seekg(
        static_cast<std::streamoff>(gguf_get_data_offset(src.get()) + gguf_get_tensor_offset(src.get(), i)));
    const size_t size = gguf_get_tensor_size(src.get(), i);
    for (size_t done = 0; done < size && input && output;) {
      const size_t chunk = std::min(buffer.size(), size - done);
      input.read(buffer.data(), static_cast<std::streamsize>(chunk));
      output.write(buffer.data(), static_cast<std::streamsize>(chunk));
      done += chunk;
    }
    // Each tensor's data starts aligned, as gguf_add_tensor laid the offsets out.
    const size_t padding = GGML_PAD(size, alignment) - size;
    output.write(std::string(padding, '\0').data(), static_cast<std::streamsize>(padding));
  }
  output.flush();
  if (!input || !output) return Status::internal("cannot copy tensor data from " + in + " to " + out);
  return Status::ok();
}

Status quantize_model_file(const std::string& in, const std::string& out, WeightType type) {
  llama_model_quantize_params params = llama_model_quantize_default_params();
  params.ftype = type == WeightType::kQ8_0 ? LLAMA_FTYPE_MOSTLY_Q8_0 : LLAMA_FTYPE_MOSTLY_Q4_K_M;
  if (llama_model_quantize(in.c_str(), out.c_str(), &params) != 0) {
    return Status::internal("llama.cpp could not quantize " + in);
  }
  return Status::ok();
}

// Loads the vocabulary of the finished file back: it must parse and carry the chat template.
Status check_model_file(const std::string& path, const std::string& expected_template) {
  llama_model_params params = llama_model_default_params();
  params.vocab_only = true;
  llama_model_ptr model(llama_model_load_from_file(path.c_str(), params));
  if (!model) return Status::internal("llama.cpp cannot load the model it wrote: " + path);
  const char* chat_template = llama_model_chat_template(model.get(), nullptr);
  if (chat_template == nullptr || std::string_view(chat_template) != expected_template) {
    return Status::internal("the chat template did not survive writing " + path);
  }
  return Status::ok();
}

}  // namespace

const std::vector<ModelShape>& model_shapes() {
  static const std::vector<ModelShape> shapes = {
      {"tiny", "llama", "", "", "", 64, 2, 4, 2, 128, 4096, 10000.0f, 1e-5f},
      {"bench-512x8", "llama", "", "", "", 512, 8, 8, 8, 1536, 8192, 10000.0f, 1e-5f},
      {"qwen2.5-0.5b", "llama", "", "", "", 896, 24, 14, 2, 4864, 32768, 1000000.0f, 1e-6f},
      {"llama3.2-1b", "llama", "", "", "", 2048, 16, 32, 8, 8192, 131072, 500000.0f, 1e-5f},
  };
  static const std::vector<ModelShape> all = [] {
    std::vector<ModelShape> out = shapes;
    auto real = [](std::string name, std::string arch, std::string vocab, std::string tmpl, uint32_t n_embd,
                   uint32_t n_layer, uint32_t n_head, uint32_t n_head_kv, uint32_t n_ff, uint32_t n_ctx,
                   float rope, float eps) {
      ModelShape s{std::move(name),
                   std::move(arch),
                   std::move(vocab),
                   std::move(tmpl),
                   "",
                   n_embd,
                   n_layer,
                   n_head,
                   n_head_kv,
                   n_ff,
                   n_ctx,
                   rope,
                   eps};
      return s;
    };
    const std::string qwen25 = "Qwen-Qwen2.5-7B-Instruct.jinja";
    const std::string llama32 = "meta-llama-Llama-3.2-3B-Instruct.jinja";
    out.push_back(real("qwen2.5-tiny", "qwen2", "qwen2", qwen25, 64, 2, 4, 2, 128, 32768, 1000000.0f, 1e-6f));
    out.push_back(
        real("llama3-tiny", "llama", "llama-bpe", llama32, 64, 2, 4, 2, 128, 131072, 500000.0f, 1e-5f));
    out.push_back(real("qwen3-tiny", "qwen3", "qwen2", "Qwen-Qwen3-0.6B.jinja", 64, 2, 4, 2, 128, 40960,
                       1000000.0f, 1e-6f));
    out.push_back(
        real("qwen2.5-0.5b-real", "qwen2", "qwen2", qwen25, 896, 24, 14, 2, 4864, 32768, 1000000.0f, 1e-6f));
    out.push_back(real("llama3.2-1b-real", "llama", "llama-bpe", llama32, 2048, 16, 32, 8, 8192, 131072,
                       500000.0f, 1e-5f));
    // Qwen2.5-VL-3B's text model scaled down: head size 16, so 8 rotary pairs in M-RoPE sections
    // 2 (time), 3 (height), 3 (width), as its 16, 24, 24 of 64.
    ModelShape vl = real("qwen2.5-vl-tiny-text", "qwen2vl", "qwen2", kQwen25VlTemplate, 64, 2, 4, 2, 128,
                         128000, 1000000.0f, 1e-6f);
    vl.rope_sections = {2, 3, 3, 0};
    out.push_back(vl);
    // Qwen3-VL-4B's text model scaled down: 8 rotary pairs in interleaved sections 4 (time), 2 (height),
    // 2 (width), as its 24, 20, 20 of 64 (IMROPE turns pair i with h when i % 3 == 1 and i < 3 * 2, w
    // when i % 3 == 2 and i < 3 * 2, t otherwise: t h w t h w t t, as the real model's interleaving
    // ends in a run of t); its rope base and context; DeepStack features into the first 2 of 3 layers
    // (the real model: its first 3 of 36; llama.cpp's qwen3vl graph adds a slice after the last
    // layer has kept only the output rows, so a DeepStack layer must not be the last). The template:
    // see docs/models.md, "Images" (Qwen3.5-4B.jinja renders images as Qwen3-VL's does).
    ModelShape vl3 = real("qwen3-vl-tiny-text", "qwen3vl", "qwen2", "Qwen3.5-4B.jinja", 64, 3, 4, 2, 128,
                          262144, 5000000.0f, 1e-6f);
    vl3.rope_sections = {4, 2, 2, 0};
    vl3.n_deepstack_layers = 2;
    vl3.template_opens_thinking = true;
    out.push_back(vl3);
    for (auto& s : out) {
      if (s.vocab == "qwen2") s.added_tokens = s.arch.starts_with("qwen3") ? "qwen3" : "qwen2.5";
    }
    return out;
  }();
  return all;
}

Result<ModelShape> model_shape_by_name(std::string_view name) {
  std::string known;
  for (const ModelShape& shape : model_shapes()) {
    if (shape.name == name) return shape;
    known += (known.empty() ? "" : ", ") + shape.name;
  }
  return Status::invalid_request("unknown model shape '" + std::string(name) + "' (known: " + known + ")",
                                 "shape");
}

Result<WeightType> weight_type_by_name(std::string_view name) {
  if (name == "f32") return WeightType::kF32;
  if (name == "q8_0") return WeightType::kQ8_0;
  if (name == "q4_k_m") return WeightType::kQ4_K_M;
  return Status::invalid_request("unknown weight type '" + std::string(name) + "' (known: f32, q8_0, q4_k_m)",
                                 "quantize");
}

int32_t random_model_vocab_size() { return static_cast<int32_t>(byte_bpe_vocab().tokens.size()); }

Result<int32_t> vocab_size(const ModelShape& shape) {
  if (shape.vocab.empty()) return random_model_vocab_size();
  auto real = load_real_vocab(shape.vocab, shape.added_tokens);
  if (!real) return real.status();
  return real->landmarks.n_vocab;
}

Result<std::string> chat_template_of(const ModelShape& shape) {
  if (shape.vocab.empty()) return random_model_chat_template();
  return load_chat_template(shape.chat_template);
}

int64_t parameter_count(const ModelShape& shape, int32_t n_vocab) {
  const int64_t n_embd = shape.n_embd;
  const int64_t n_embd_kv = n_embd / shape.n_head * shape.n_head_kv;
  const int64_t head_dim = n_embd / shape.n_head;
  const bool qk_norm = shape.arch == "qwen3" || shape.arch == "qwen3vl";
  const int64_t per_layer = 2 * n_embd                           // attention and ffn norms
                            + (qk_norm ? 2 * head_dim : 0)       // Qwen3's q and k norms
                            + 2 * n_embd * n_embd                // q, output
                            + 2 * n_embd * n_embd_kv             // k, v
                            + 3 * n_embd * int64_t{shape.n_ff};  // gate, up, down
  return 2 * int64_t{n_vocab} * n_embd + n_embd + shape.n_layer * per_layer;
}

const std::string& random_model_chat_template() {
  static const std::string chat_template = kChatTemplate;
  return chat_template;
}

Status write_random_model(const ModelShape& shape, uint32_t seed, const std::string& path, WeightType type,
                          WeightStyle style) {
  if (shape.n_head == 0 || shape.n_embd % shape.n_head != 0 || shape.n_head_kv == 0 ||
      shape.n_head % shape.n_head_kv != 0) {
    return Status::invalid_request("model shape " + shape.name + " has inconsistent head counts", "shape");
  }
  init_llama_backends();
  TempFiles temp;
  const std::string saved = temp.add(path + ".saved.tmp");
  const std::string f32 = temp.add(path + ".f32.tmp");
  auto metadata = model_metadata(shape);
  if (!metadata) return metadata.status();
  if (Status s = save_random_model(metadata->gguf.get(), metadata->landmarks, shape, seed, style, saved); !s)
    return s;
  if (Status s = rewrite_model_file(metadata->gguf.get(), saved, f32); !s) return s;
  std::error_code ignored;
  fs::remove(saved, ignored);  // the big models are gigabytes: keep at most two copies on disk
  std::string finished = f32;
  if (type != WeightType::kF32) {
    finished = temp.add(path + ".quantized.tmp");
    if (Status s = quantize_model_file(f32, finished, type); !s) return s;
  }
  if (Status s = check_model_file(finished, metadata->chat_template); !s) return s;
  std::error_code ec;
  fs::rename(finished, path, ec);
  if (ec) return Status::internal("cannot move " + finished + " to " + path + ": " + ec.message());
  return Status::ok();
}

}  // namespace openbatch::testmodels
