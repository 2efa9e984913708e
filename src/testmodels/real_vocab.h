// Real tokenizers and chat templates for the test models: the vocabulary GGUFs (models/ggml-vocab-*.gguf)
// and Jinja templates (models/templates/*.jinja) that ship with llama.cpp's pinned source, which
// scripts/build-llama.sh copies beside the libraries.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "gguf.h"
#include "testmodels/random_weights.h"

namespace openbatch::testmodels {

// Where the vocabularies and templates are: $OPENBATCH_LLAMA_DATA, else the folder the build was
// configured with (LLAMA_PREFIX/share/llama.cpp/models).
std::string llama_models_dir();

struct RealVocab {
  gguf_context* tokenizer = nullptr;  // every tokenizer.* key of the vocabulary file (owned)
  LogitLandmarks landmarks;

  RealVocab() = default;
  RealVocab(RealVocab&& other) noexcept;
  RealVocab& operator=(RealVocab&&) = delete;
  ~RealVocab();
};

// Reads models_dir/ggml-vocab-NAME.gguf ("qwen2", "llama-bpe"). The file holds a base model's
// vocabulary; `added` names the tokens an instruct model adds in its reserved places: "qwen2.5"
// (<|object_ref_start|> ... <tool_call>, </tool_call>, the FIM tokens) or "qwen3" (those and
// <tool_response>, </tool_response>, <think>, </think>), as the released models' tokenizers have
// them; empty: none. 500 internal when the file is missing or not a GPT-2 style BPE vocabulary
// with the landmark tokens.
Result<RealVocab> load_real_vocab(const std::string& name, const std::string& added = "");

// The text of models_dir/templates/FILE.
Result<std::string> load_chat_template(const std::string& file);

}  // namespace openbatch::testmodels
