// The model's chat template, rendered by llama.cpp's chat library (common/chat.h: the Jinja engine and
// per-family tool-call and reasoning formats that llama-server uses with --jinja), and the parser that
// turns what the model writes back into an answer, its thinking and its tool calls.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "llama.h"

namespace openbatch::engine {

class ChatOutputParser;

// A rendered prompt and what decoding it needs from the template.
struct ChatPrompt {
  std::string text;                      // the prompt, with the image marker where each image goes
  std::vector<const ImagePart*> images;  // into the request's messages, in the order of their markers

  // Constrained decoding (tool calls, a response_format): a GBNF grammar, empty for free text. A lazy
  // grammar applies only from a trigger on (a tool call's opening tag), free text before it.
  std::string grammar;
  bool grammar_lazy = false;
  std::vector<std::string> trigger_patterns;  // regexes over the generated text
  std::vector<llama_token> trigger_tokens;    // tokens that start the grammar
  std::vector<llama_token> grammar_prefill;   // tokens the template put after the last message,
                                              // fed to a non-lazy grammar before the first draw
  std::vector<llama_token> preserved_tokens;  // special tokens generated as text (<tool_call>)
  std::vector<std::string> stops;             // stop strings the format adds
  // parallel_tool_calls false, or a named function: the answer holds at most one call, and the
  // generation ends when its first call is complete (llama.cpp's grammars for formats that open each
  // call with its own tag, such as Hermes' <tool_call>, allow any number whatever the flag says).
  bool single_tool_call = false;

  // Thinking: where the model's reasoning starts and ends, when the template knows.
  bool thinking_open = false;  // the prompt ends inside the thinking block (the template opened it)
  std::string thinking_start_tag;
  std::vector<std::string> thinking_end_tags;

  std::shared_ptr<const ChatOutputParser> parser;  // never null

  // The text of a token the model generated under this prompt: the format's own tags (preserved
  // tokens) are text too, other special tokens are nothing.
  std::string piece_of(const llama_vocab* vocab, llama_token token) const;
};

// What a model wrote, as the chat format reads it.
struct ParsedMessage {
  std::string content;
  std::string reasoning_content;
  std::vector<ToolCall> tool_calls;  // ids left empty: the OpenAI layer names them
};

// Whether a parsed call is whole: it has a name and its arguments are a complete JSON object. A call
// cut by max_tokens, or still being written, is not (the parser returns its arguments as far as they go).
bool call_complete(const ToolCall& call);

// Reads generated text with the format the template was rendered with. Thread-safe.
class ChatOutputParser {
 public:
  virtual ~ChatOutputParser() = default;
  // partial: the generation is still running (an unfinished tool call is read as far as it goes).
  // Text the format cannot read is returned whole as content.
  virtual ParsedMessage parse(const std::string& text, bool partial) const = 0;
  // Whether the format can hold anything but content (tool calls, thinking): when false the text is
  // the content as it is, and parse need not run while streaming.
  virtual bool structured() const = 0;
};

// Turns the text of a running generation into deltas of content, thinking and tool calls.
class MessageStream {
 public:
  explicit MessageStream(std::shared_ptr<const ChatOutputParser> parser);
  // Adds generated text and returns what it changed (partial: more text may come).
  GenerationDelta append(const std::string& text, bool partial);
  // The parse of all the text so far.
  const ParsedMessage& message() const { return message_; }

 private:
  std::shared_ptr<const ChatOutputParser> parser_;
  std::string text_;
  ParsedMessage message_;
};

class ChatTemplate {
 public:
  // The template of `model` (its tokenizer.chat_template; ChatML when it has none), or
  // template_source when not empty (--chat-template-file). Fails with a message naming model_name
  // when the template cannot be parsed.
  static Result<std::unique_ptr<ChatTemplate>> load(const llama_model* model, const std::string& model_name,
                                                    const std::string& template_source);
  ~ChatTemplate();

  // Renders the request's conversation, tools, response_format and reasoning choice, ending with the
  // assistant's turn. Images are written as image_marker. Errors are 400s (a tool_choice naming no
  // tool, a conversation the template refuses). Thread-safe.
  Result<ChatPrompt> render(const GenerationRequest& request, const std::string& image_marker) const;

  // Whether the template has a thinking switch (reasoning_effort "none" turns it off).
  bool supports_thinking_switch() const;

  struct Impl;

 private:
  explicit ChatTemplate(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace openbatch::engine
