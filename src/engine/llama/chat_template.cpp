#include "engine/llama/chat_template.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>

#include "chat.h"
#include "common.h"
#include "engine/llama/prompt.h"

namespace openbatch::engine {

namespace {

std::string rtrim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

// llama.cpp's grammars for tool_choice "required" let free text come before the calls (a rule
// `until-N?` in root, text up to the call's opening tag). A model that never writes the tag (an
// untrained one, or one that answers in prose) then never calls at all. Required means a call: the
// optional free text before the calls is taken out of root (thinking blocks keep theirs).
std::string without_text_before_calls(const std::string& grammar) {
  const size_t root = grammar.rfind("\nroot ::=", 0) == 0 ? 1 : grammar.find("\nroot ::=");
  const size_t start = grammar.starts_with("root ::=") ? 0 : root == std::string::npos ? root : root + 1;
  if (start == std::string::npos) return grammar;
  const size_t end = std::min(grammar.find('\n', start), grammar.size());
  static const std::regex optional_text(R"( until-[0-9]+\?)");
  return grammar.substr(0, start) +
         std::regex_replace(grammar.substr(start, end - start), optional_text, "") + grammar.substr(end);
}

// The parser of one chat format (llama.cpp's PEG parser, loaded from what the template produced).
class CommonChatParser final : public ChatOutputParser {
 public:
  explicit CommonChatParser(const common_chat_params& params) : params_(params) {
    params_.reasoning_format = COMMON_REASONING_FORMAT_DEEPSEEK;
    params_.parse_tool_calls = true;
    structured_ = !params.parser.empty();
    if (structured_) params_.parser.load(params.parser);
  }

  ParsedMessage parse(const std::string& text, bool partial) const override {
    ParsedMessage out;
    if (!structured_) {
      out.content = text;
      return out;
    }
    try {
      common_chat_msg msg = common_chat_parse(text, partial, params_);
      out.content = std::move(msg.content);
      out.reasoning_content = std::move(msg.reasoning_content);
      for (auto& call : msg.tool_calls)
        out.tool_calls.push_back({"", std::move(call.name), std::move(call.arguments)});
    } catch (const std::exception&) {
      // The model wrote something the format does not read (free text where a call was expected, on
      // a model that does not follow its format): it is the answer, as it stands.
      out = ParsedMessage{};
      out.content = text;
    }
    return out;
  }

  bool structured() const override { return structured_; }

 private:
  common_chat_parser_params params_;
  bool structured_ = false;
};

common_chat_msg to_common(const Message& m, const std::string& content) {
  common_chat_msg out;
  out.role = m.role;
  out.content = content;
  out.reasoning_content = m.reasoning_content;
  out.tool_call_id = m.tool_call_id;
  for (const ToolCall& call : m.tool_calls) out.tool_calls.push_back({call.name, call.arguments, call.id});
  return out;
}

// The template's inputs that do not depend on the conversation: the generation prompt, the
// response_format's schema, and the reasoning choice.
common_chat_templates_inputs template_inputs(const GenerationRequest& request) {
  common_chat_templates_inputs inputs;
  inputs.use_jinja = true;
  inputs.add_generation_prompt = true;
  inputs.reasoning_format = COMMON_REASONING_FORMAT_DEEPSEEK;
  if (request.response_format == ResponseFormat::kJsonObject) inputs.json_schema = R"({"type":"object"})";
  if (request.response_format == ResponseFormat::kJsonSchema) inputs.json_schema = request.json_schema;
  if (request.reasoning_effort == ReasoningEffort::kNone ||
      request.reasoning_effort == ReasoningEffort::kMinimal) {
    inputs.enable_thinking = false;
  }
  // none and minimal turn thinking off above; every effort also goes to templates that take one.
  if (const char* effort = reasoning_effort_name(request.reasoning_effort);
      effort != nullptr && request.reasoning_effort != ReasoningEffort::kNone) {
    inputs.chat_template_kwargs["reasoning_effort"] = std::string("\"") + effort + "\"";
  }
  return inputs;
}

// The conversation in llama.cpp's terms, each image written as image_marker where it stands in its
// message; images gets the images in the order of their markers.
std::vector<common_chat_msg> template_messages(const std::vector<Message>& messages,
                                               const std::string& image_marker,
                                               std::vector<const ImagePart*>& images) {
  std::vector<common_chat_msg> out;
  for (const Message& m : messages) {
    std::string content;
    size_t from = 0;
    for (const ImagePart& image : m.images) {
      const size_t at = std::min(image.offset, m.content.size());
      content.append(m.content, from, at - from);
      content += image_marker;
      from = std::max(from, at);
      images.push_back(&image);
    }
    content.append(m.content, from, std::string::npos);
    out.push_back(to_common(m, content));
  }
  return out;
}

// The tools the model may call (only the named one, when tool_choice names a function) and the
// tool_choice. A 400 when tool_choice names a function that is not in tools.
Status add_tools(const GenerationRequest& request, common_chat_templates_inputs& inputs) {
  bool named_found = request.tool_choice_function.empty();
  for (const Tool& tool : request.tools) {
    if (!request.tool_choice_function.empty()) {
      if (tool.name != request.tool_choice_function) continue;
      named_found = true;
    }
    inputs.tools.push_back({tool.name, tool.description, tool.parameters});
  }
  if (!named_found) {
    return Status::invalid_request("Invalid value for 'tool_choice': no function named '" +
                                       request.tool_choice_function + "' in 'tools'.",
                                   "tool_choice", "invalid_value");
  }
  switch (request.tool_choice) {
    case ToolChoice::kAuto:
      inputs.tool_choice = COMMON_CHAT_TOOL_CHOICE_AUTO;
      break;
    case ToolChoice::kRequired:
      inputs.tool_choice = COMMON_CHAT_TOOL_CHOICE_REQUIRED;
      break;
    case ToolChoice::kNone:
      inputs.tool_choice = COMMON_CHAT_TOOL_CHOICE_NONE;
      break;
  }
  inputs.parallel_tool_calls = request.parallel_tool_calls && request.tool_choice_function.empty();
  return Status::ok();
}

// Runs the template. A 400 when it refuses the conversation.
Result<common_chat_params> apply_template(const common_chat_templates* templates,
                                          const common_chat_templates_inputs& inputs) {
  try {
    return common_chat_templates_apply(templates, inputs);
  } catch (const std::exception& e) {
    // Templates raise on conversations they do not take (roles out of order, a tool message with no
    // call before it).
    return Status::invalid_request(
        std::string("The model's chat template refused the conversation: ") + e.what(), "messages",
        "invalid_value");
  }
}

// The grammar's triggers as tokens and patterns: a word that is one of the format's preserved tokens
// is that token, other words are escaped patterns, full patterns are anchored.
void read_triggers(const common_chat_params& params, const llama_vocab* vocab, ChatPrompt& out) {
  for (const common_grammar_trigger& trigger : params.grammar_triggers) {
    switch (trigger.type) {
      case COMMON_GRAMMAR_TRIGGER_TYPE_WORD: {
        auto ids = tokenize_special_text(vocab, trigger.value);
        if (ids.size() == 1 && std::find(out.preserved_tokens.begin(), out.preserved_tokens.end(), ids[0]) !=
                                   out.preserved_tokens.end()) {
          out.trigger_tokens.push_back(ids[0]);
        } else {
          out.trigger_patterns.push_back(regex_escape(trigger.value));
        }
        break;
      }
      case COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN:
        out.trigger_patterns.push_back(trigger.value);
        break;
      case COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN_FULL: {
        const std::string& p = trigger.value;
        std::string anchored = "^$";
        if (!p.empty()) anchored = (p.front() != '^' ? "^" : "") + p + (p.back() != '$' ? "$" : "");
        out.trigger_patterns.push_back(anchored);
        break;
      }
      case COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN:
        out.trigger_tokens.push_back(trigger.token);
        break;
    }
  }
}

// As llama-server: a non-lazy grammar from the template starts where the template's own text after
// the last message (the generation prompt) starts, so it is fed that text first.
std::vector<llama_token> grammar_prefill(const common_chat_params& params, const llama_vocab* vocab) {
  std::vector<llama_token> prefill;
  auto ids = tokenize_special_text(vocab, params.generation_prompt);
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string piece = token_piece(vocab, ids[i], /*special=*/true);
    // Some tokenizers put a space before the first special token.
    if (i == 0 && !piece.empty() && std::isspace(static_cast<unsigned char>(piece[0])) &&
        !std::isspace(static_cast<unsigned char>(params.generation_prompt[0]))) {
      continue;
    }
    prefill.push_back(ids[i]);
  }
  return prefill;
}

// What constrained decoding needs of the applied template: the grammar (required tool calls without
// the free text before them), its triggers, the format's stops and preserved tokens, and the
// grammar's prefill.
void read_grammar(const GenerationRequest& request, const common_chat_params& params,
                  const llama_vocab* vocab, ChatPrompt& out) {
  out.grammar = params.grammar;
  if (request.tool_choice == ToolChoice::kRequired && !request.tools.empty() && !params.grammar_lazy) {
    out.grammar = without_text_before_calls(out.grammar);
  }
  out.grammar_lazy = params.grammar_lazy;
  out.stops = params.additional_stops;
  for (const std::string& text : params.preserved_tokens) {
    auto ids = tokenize_special_text(vocab, text);
    if (ids.size() == 1) out.preserved_tokens.push_back(ids[0]);
  }
  read_triggers(params, vocab, out);
  if (!out.grammar.empty() && !out.grammar_lazy && !params.generation_prompt.empty()) {
    out.grammar_prefill = grammar_prefill(params, vocab);
  }
}

// Where the model's thinking starts and ends, and whether the prompt already opened it.
void read_thinking(const common_chat_params& params, ChatPrompt& out) {
  out.thinking_start_tag = params.thinking_start_tag;
  out.thinking_end_tags = params.thinking_end_tags;
  if (params.supports_thinking && !params.thinking_start_tag.empty()) {
    const std::string start = rtrim(params.thinking_start_tag);
    const std::string prompt_end = rtrim(params.generation_prompt);
    out.thinking_open = !start.empty() && prompt_end.size() >= start.size() &&
                        prompt_end.compare(prompt_end.size() - start.size(), start.size(), start) == 0;
  }
}

}  // namespace

std::string ChatPrompt::piece_of(const llama_vocab* vocab, llama_token token) const {
  const bool preserved =
      std::find(preserved_tokens.begin(), preserved_tokens.end(), token) != preserved_tokens.end();
  return token_piece(vocab, token, /*special=*/preserved);
}

bool call_complete(const ToolCall& call) {
  if (call.name.empty()) return false;
  const auto args = nlohmann::json::parse(call.arguments, nullptr, /*allow_exceptions=*/false);
  return args.is_object();
}

struct ChatTemplate::Impl {
  const llama_vocab* vocab = nullptr;
  common_chat_templates_ptr templates;
  bool thinking_switch = false;

  // A batch renders the same tools thousands of times: the parsers are kept by their definition.
  mutable std::mutex mu;
  mutable std::map<std::string, std::shared_ptr<const ChatOutputParser>> parsers;

  std::shared_ptr<const ChatOutputParser> parser_for(const common_chat_params& params) const {
    std::string key = std::to_string(static_cast<int>(params.format)) + '\n' + params.generation_prompt +
                      '\n' + params.parser;
    std::lock_guard lock(mu);
    if (auto it = parsers.find(key); it != parsers.end()) return it->second;
    if (parsers.size() >= 64) parsers.clear();
    auto parser = std::make_shared<const CommonChatParser>(params);
    parsers.emplace(std::move(key), parser);
    return parser;
  }
};

ChatTemplate::ChatTemplate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChatTemplate::~ChatTemplate() = default;

Result<std::unique_ptr<ChatTemplate>> ChatTemplate::load(const llama_model* model,
                                                         const std::string& model_name,
                                                         const std::string& template_source) {
  auto impl = std::make_unique<Impl>();
  impl->vocab = llama_model_get_vocab(model);
  try {
    impl->templates = common_chat_templates_init(model, template_source);
  } catch (const std::exception& e) {
    return Status::internal("the chat template of " + model_name + " cannot be parsed: " + e.what());
  }
  if (!impl->templates) return Status::internal("the chat template of " + model_name + " cannot be parsed");
  // Rendering once finds the errors that only show when the template runs.
  try {
    impl->thinking_switch = common_chat_templates_support_enable_thinking(impl->templates.get());
  } catch (const std::exception& e) {
    return Status::internal("the chat template of " + model_name +
                            " fails on a one-message chat: " + e.what());
  }
  return std::unique_ptr<ChatTemplate>(new ChatTemplate(std::move(impl)));
}

bool ChatTemplate::supports_thinking_switch() const { return impl_->thinking_switch; }

Result<ChatPrompt> ChatTemplate::render(const GenerationRequest& request,
                                        const std::string& image_marker) const {
  ChatPrompt out;
  common_chat_templates_inputs inputs = template_inputs(request);
  inputs.messages = template_messages(request.messages, image_marker, out.images);
  if (Status s = add_tools(request, inputs); !s) return s;
  out.single_tool_call =
      !request.tools.empty() && request.tool_choice != ToolChoice::kNone && !inputs.parallel_tool_calls;
  auto params = apply_template(impl_->templates.get(), inputs);
  if (!params) return params.status();
  out.text = std::move(params->prompt);
  read_grammar(request, *params, impl_->vocab, out);
  read_thinking(*params, out);
  out.parser = impl_->parser_for(*params);
  return out;
}

MessageStream::MessageStream(std::shared_ptr<const ChatOutputParser> parser) : parser_(std::move(parser)) {}

GenerationDelta MessageStream::append(const std::string& text, bool partial) {
  GenerationDelta delta;
  text_ += text;
  if (!parser_->structured()) {
    message_.content += text;
    delta.content = text;
    return delta;
  }
  ParsedMessage next = parser_->parse(text_, partial);
  // A partial parse may hold text back (the start of a tag); what was handed out is never taken back.
  auto grown = [](const std::string& before, const std::string& after, std::string& added) {
    if (after.size() > before.size() && after.compare(0, before.size(), before) == 0) {
      added = after.substr(before.size());
      return true;
    }
    return after == before;
  };
  std::string added;
  if (grown(message_.content, next.content, added)) {
    delta.content = added;
  } else {
    next.content = message_.content;
  }
  added.clear();
  if (grown(message_.reasoning_content, next.reasoning_content, added)) {
    delta.reasoning_content = added;
  } else {
    next.reasoning_content = message_.reasoning_content;
  }
  for (size_t i = 0; i < next.tool_calls.size(); ++i) {
    const ToolCall& now = next.tool_calls[i];
    if (i >= message_.tool_calls.size()) {
      if (now.name.empty()) {
        next.tool_calls.resize(i);
        break;
      }
      delta.tool_calls.push_back({static_cast<int>(i), "", now.name, now.arguments});
      continue;
    }
    const ToolCall& before = message_.tool_calls[i];
    added.clear();
    if (grown(before.arguments, now.arguments, added) && !added.empty()) {
      delta.tool_calls.push_back({static_cast<int>(i), "", "", added});
    } else if (!grown(before.arguments, now.arguments, added)) {
      next.tool_calls[i].arguments = before.arguments;
    }
  }
  message_ = std::move(next);
  return delta;
}

}  // namespace openbatch::engine
