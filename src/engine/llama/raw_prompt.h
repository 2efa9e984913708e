// Prompts read as they are, without the chat template (POST /v1/completions): the ChatPrompt a raw
// prompt stands for, its tokens and the text an echo puts before the answer.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "engine/llama/chat_template.h"
#include "llama.h"

namespace openbatch::engine {

// The prompt as the engine decodes it: the text as it is, no grammar, no format stops, no thinking,
// and a parser that reads the whole answer as content.
ChatPrompt raw_chat_prompt(const RawPrompt& prompt);

// The tokens of prompt: its token ids (each checked against the vocabulary, 400 invalid_value with
// param "prompt" otherwise), or its text tokenised as llama-server tokenises a completion prompt
// (begin token added, special tokens parsed). An empty result is a 400.
Result<std::vector<llama_token>> raw_prompt_tokens(const llama_vocab* vocab, const RawPrompt& prompt);

// What an echo writes before the answer: the text, or the token ids spelled out.
std::string raw_prompt_echo(const llama_vocab* vocab, const RawPrompt& prompt);

}  // namespace openbatch::engine
