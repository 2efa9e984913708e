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

// Qwen2.5-VL's chat template (as Qwen2-VL's, from the released models' chat_template.json), which
// llama.cpp's models/templates/ lacks: load_chat_template(kQwen25VlTemplate) gives it. Images are
// <|vision_start|><|image_pad|><|vision_end|> when a message's content is a list of parts.
inline constexpr const char* kQwen25VlTemplate = "Qwen-Qwen2.5-VL-Instruct (built in)";
inline constexpr const char* kQwen25VlTemplateText =
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value "
    "}}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value "
    "+ 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif "
    "%}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

// The text of models_dir/templates/FILE (or the built-in template above).
Result<std::string> load_chat_template(const std::string& file);

}  // namespace openbatch::testmodels
