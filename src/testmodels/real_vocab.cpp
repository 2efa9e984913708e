#include "testmodels/real_vocab.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

namespace openbatch::testmodels {

namespace {

constexpr int32_t kTokenTypeControl = 3;
constexpr int32_t kTokenTypeUserDefined = 4;

struct AddedToken {
  int32_t id;
  const char* text;
  int32_t type;
};

// Qwen2.5's and Qwen3's added tokens (tokenizer_config.json's added_tokens_decoder): the ones marked
// special are control tokens, the others (tool and thinking tags) are text the model writes.
const AddedToken kQwenAdded[] = {
    {151646, "<|object_ref_start|>", kTokenTypeControl}, {151647, "<|object_ref_end|>", kTokenTypeControl},
    {151648, "<|box_start|>", kTokenTypeControl},        {151649, "<|box_end|>", kTokenTypeControl},
    {151650, "<|quad_start|>", kTokenTypeControl},       {151651, "<|quad_end|>", kTokenTypeControl},
    {151652, "<|vision_start|>", kTokenTypeControl},     {151653, "<|vision_end|>", kTokenTypeControl},
    {151654, "<|vision_pad|>", kTokenTypeControl},       {151655, "<|image_pad|>", kTokenTypeControl},
    {151656, "<|video_pad|>", kTokenTypeControl},        {151657, "<tool_call>", kTokenTypeUserDefined},
    {151658, "</tool_call>", kTokenTypeUserDefined},     {151659, "<|fim_prefix|>", kTokenTypeUserDefined},
    {151660, "<|fim_middle|>", kTokenTypeUserDefined},   {151661, "<|fim_suffix|>", kTokenTypeUserDefined},
    {151662, "<|fim_pad|>", kTokenTypeUserDefined},      {151663, "<|repo_name|>", kTokenTypeUserDefined},
    {151664, "<|file_sep|>", kTokenTypeUserDefined},
};
const AddedToken kQwen3Added[] = {
    {151665, "<tool_response>", kTokenTypeUserDefined},
    {151666, "</tool_response>", kTokenTypeUserDefined},
    {151667, "<think>", kTokenTypeUserDefined},
    {151668, "</think>", kTokenTypeUserDefined},
};

int32_t find_token(const std::vector<std::string>& tokens, std::string_view text) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] == text) return static_cast<int32_t>(i);
  }
  return -1;
}

}  // namespace

std::string llama_models_dir() {
  if (const char* dir = std::getenv("OPENBATCH_LLAMA_DATA"); dir != nullptr && *dir != '\0') return dir;
#ifdef OPENBATCH_LLAMA_MODELS_DIR
  return OPENBATCH_LLAMA_MODELS_DIR;
#else
  return "models";
#endif
}

RealVocab::RealVocab(RealVocab&& other) noexcept
    : tokenizer(std::exchange(other.tokenizer, nullptr)), landmarks(std::move(other.landmarks)) {}

RealVocab::~RealVocab() {
  if (tokenizer != nullptr) gguf_free(tokenizer);
}

Result<RealVocab> load_real_vocab(const std::string& name, const std::string& added) {
  const std::string path = llama_models_dir() + "/ggml-vocab-" + name + ".gguf";
  gguf_context* src = gguf_init_from_file(path.c_str(), gguf_init_params{/*no_alloc=*/true, /*ctx=*/nullptr});
  if (src == nullptr) {
    return Status::internal(
        "cannot read the vocabulary " + path +
        " (scripts/build-llama.sh puts it there; OPENBATCH_LLAMA_DATA names another folder)");
  }
  RealVocab vocab;
  vocab.tokenizer = gguf_init_empty();
  gguf_set_kv(vocab.tokenizer, src);
  // Keep only the tokenizer: the file's architecture keys belong to the model it came from.
  for (int64_t i = gguf_get_n_kv(vocab.tokenizer) - 1; i >= 0; --i) {
    const std::string key = gguf_get_key(vocab.tokenizer, i);
    if (!key.starts_with("tokenizer.") || key == "tokenizer.chat_template") {
      gguf_remove_key(vocab.tokenizer, key.c_str());
    }
  }
  gguf_free(src);

  const int64_t tokens_key = gguf_find_key(vocab.tokenizer, "tokenizer.ggml.tokens");
  const int64_t types_key = gguf_find_key(vocab.tokenizer, "tokenizer.ggml.token_type");
  if (tokens_key < 0 || types_key < 0) return Status::internal(path + " has no token list");
  const size_t n = gguf_get_arr_n(vocab.tokenizer, tokens_key);
  std::vector<std::string> tokens(n);
  for (size_t i = 0; i < n; ++i) tokens[i] = gguf_get_arr_str(vocab.tokenizer, tokens_key, i);
  const auto* type_data = static_cast<const int32_t*>(gguf_get_arr_data(vocab.tokenizer, types_key));
  std::vector<int32_t> types(type_data, type_data + n);
  if (!added.empty()) {
    if (added != "qwen2.5" && added != "qwen3") return Status::internal("unknown added tokens: " + added);
    std::vector<AddedToken> list(std::begin(kQwenAdded), std::end(kQwenAdded));
    if (added == "qwen3") list.insert(list.end(), std::begin(kQwen3Added), std::end(kQwen3Added));
    for (const AddedToken& t : list) {
      if (t.id >= static_cast<int32_t>(n) || !tokens[t.id].starts_with("[PAD")) {
        return Status::internal(path + " has no free place for " + t.text);
      }
      tokens[t.id] = t.text;
      types[t.id] = t.type;
    }
    std::vector<const char*> texts;
    for (const auto& t : tokens) texts.push_back(t.c_str());
    gguf_set_arr_str(vocab.tokenizer, "tokenizer.ggml.tokens", texts.data(), texts.size());
    gguf_set_arr_data(vocab.tokenizer, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types.data(),
                      types.size());
  }

  LogitLandmarks& l = vocab.landmarks;
  l.n_vocab = static_cast<int32_t>(n);
  // GPT-2 byte-level BPE: printable ASCII stands for itself, '\n' is written U+010A.
  l.quote = find_token(tokens, "\"");
  l.close_brace = find_token(tokens, "}");
  l.close_bracket = find_token(tokens, "]");
  l.newline = find_token(tokens, "\xC4\x8A");
  for (const char* end : {"<|im_end|>", "<|eot_id|>", "<|end|>"}) {
    if (l.end < 0) l.end = find_token(tokens, end);
  }
  l.think_start = find_token(tokens, "<think>");
  l.think_end = find_token(tokens, "</think>");
  if (l.quote < 0 || l.close_brace < 0 || l.close_bracket < 0 || l.newline < 0 || l.end < 0) {
    return Status::internal(path +
                            " lacks the tokens the random weights steer ('\"', '}', ']', newline, end)");
  }
  for (size_t i = 0; i < n; ++i) {
    if (types[i] == kTokenTypeControl && static_cast<int32_t>(i) != l.end)
      l.never.push_back(static_cast<int32_t>(i));
  }
  return vocab;
}

Result<std::string> load_chat_template(const std::string& file) {
  if (file == kQwen25VlTemplate) return std::string(kQwen25VlTemplateText);
  const std::string path = llama_models_dir() + "/templates/" + file;
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::internal("cannot read the chat template " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace openbatch::testmodels
