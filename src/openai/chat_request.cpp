// Validation of /v1/chat/completions bodies, with OpenAI's own messages, params and codes.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "openai/chat_completion.h"
#include "openai/chat_tools.h"
#include "openai/field_reader.h"
#include "openai/sampling_fields.h"

namespace openbatch::openai {

namespace {

using nlohmann::json;

const char* kRoles[] = {"system", "developer", "user", "assistant", "tool", "function"};

// The fields of a Chat Completions body this server honours; the ones it takes without effect
// (metadata for the caller, routing hints of OpenAI's own service, README "Accepted without effect");
// and the ones it refuses. A field in none of the lists is refused as OpenAI refuses it.
const char* kHonoured[] = {"model",
                           "messages",
                           "temperature",
                           "top_p",
                           "presence_penalty",
                           "frequency_penalty",
                           "max_tokens",
                           "max_completion_tokens",
                           "n",
                           "seed",
                           "top_logprobs",
                           "logprobs",
                           "stream",
                           "stream_options",
                           "stop",
                           "logit_bias",
                           "response_format",
                           "tools",
                           "tool_choice",
                           "parallel_tool_calls",
                           "reasoning_effort",
                           "ignore_eos"};
const char* kWithoutEffect[] = {"store",        "metadata",         "user",
                                "service_tier", "prompt_cache_key", "safety_identifier"};
// Message fields: as sent back by the SDKs when a client appends an answer to the conversation.
const char* kMessageFields[] = {"role",         "content",      "name",        "tool_calls",
                                "tool_call_id", "refusal",      "annotations", "reasoning_content",
                                "audio",        "function_call"};

Status check_fields(const json& body) {
  for (const auto& [key, value] : body.items()) {
    if (one_of(kHonoured, key) || one_of(kWithoutEffect, key)) continue;
    if (key == "modalities") {
      if (value.is_null() || value == json::array({"text"})) continue;
      return Status::invalid_request("This server generates text only: 'modalities' must be [\"text\"].",
                                     "modalities", "unsupported_value");
    }
    if (key == "verbosity" && (value.is_null() || value == "medium")) continue;
    if (value.is_null()) continue;
    const bool known = key == "audio" || key == "prediction" || key == "web_search_options" ||
                       key == "functions" || key == "function_call" || key == "verbosity";
    if (known) {
      return Status::invalid_request("The '" + key + "' parameter is not supported by this server.", key,
                                     "unsupported_parameter");
    }
    return Status::invalid_request("Unrecognized request argument supplied: " + key, key,
                                   "unrecognized_argument");
  }
  return Status::ok();
}

// An image_url part: its URL (http, https or data:) and detail, checked for shape only; the image
// itself is loaded later, off the request's thread. The part's offset is left to the caller.
Result<engine::ImagePart> image_part_of(const json& part, const std::string& param) {
  engine::ImagePart image;
  auto it = part.find("image_url");
  if (it == part.end()) return missing_parameter(param + ".image_url");
  if (!it->is_object()) return invalid_type(param + ".image_url", "an object", *it);
  auto url = it->find("url");
  if (url == it->end()) return missing_parameter(param + ".image_url.url");
  if (!url->is_string()) return invalid_type(param + ".image_url.url", "a string", *url);
  auto detail = it->find("detail");
  if (detail != it->end() && !detail->is_null()) {
    if (!detail->is_string()) return invalid_type(param + ".image_url.detail", "a string", *detail);
    image.detail = detail->get<std::string>();
    if (image.detail != "auto" && image.detail != "low" && image.detail != "high") {
      return Status::invalid_request(
          "Invalid value: '" + image.detail + "'. Supported values are: 'auto', 'low', and 'high'.",
          param + ".image_url.detail", "invalid_value");
    }
  }
  image.url = url->get<std::string>();
  if (image.url.empty()) {
    return Status::invalid_request("Invalid 'image_url.url': empty string. Expected an http(s) or data: URL.",
                                   param + ".image_url.url", "empty_string");
  }
  return image;
}

// A message's content (a string or an array of parts) as text, with its images at their places.
Status message_content(const json& content, const std::string& param, const engine::ModelInfo& model,
                       engine::Message& out) {
  if (content.is_string()) {
    out.content = content.get<std::string>();
    return Status::ok();
  }
  if (content.is_null()) return Status::ok();
  if (!content.is_array()) {
    return invalid_type(param, "a string or an array of content parts", content);
  }
  std::string& text = out.content;
  for (size_t j = 0; j < content.size(); ++j) {
    const json& part = content[j];
    const std::string part_param = param + "[" + std::to_string(j) + "]";
    if (!part.is_object()) return invalid_type(part_param, "an object", part);
    auto type = part.find("type");
    if (type == part.end()) return missing_parameter(part_param + ".type");
    if (!type->is_string()) return invalid_type(part_param + ".type", "a string", *type);
    const std::string t = type->get<std::string>();
    if (t == "text") {
      auto value = part.find("text");
      if (value == part.end()) return missing_parameter(part_param + ".text");
      if (!value->is_string()) return invalid_type(part_param + ".text", "a string", *value);
      text += value->get<std::string>();
    } else if (t == "image_url") {
      auto image = image_part_of(part, part_param);
      if (!image) return image.status();
      if (!model.has_vision) {
        Status s = engine::images_not_supported(model);
        return s.with_param(part_param);
      }
      image->offset = text.size();
      out.images.push_back(std::move(image).value());
    } else {
      return Status::invalid_request(
          "Invalid value: '" + t + "'. Supported values are: 'text' and 'image_url'.", part_param + ".type",
          "invalid_value");
    }
  }
  return Status::ok();
}

Status parse_messages(const json& body, const engine::ModelInfo& model, engine::GenerationRequest& out) {
  auto it = body.find("messages");
  if (it == body.end()) return missing_parameter("messages");
  if (!it->is_array()) return invalid_type("messages", "an array", *it);
  if (it->empty()) {
    return Status::invalid_request(
        "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array "
        "instead.",
        "messages", "empty_array");
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string param = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return invalid_type(param, "an object", m);
    auto role = m.find("role");
    if (role == m.end()) return missing_parameter(param + ".role");
    if (!role->is_string()) return invalid_type(param + ".role", "a string", *role);
    std::string r = role->get<std::string>();
    if (std::find(std::begin(kRoles), std::end(kRoles), r) == std::end(kRoles)) {
      return Status::invalid_request(
          "Invalid value: '" + r +
              "'. Supported values are: 'system', 'assistant', 'user', 'function', "
              "'tool', and 'developer'.",
          param + ".role", "invalid_value");
    }
    for (const auto& [key, value] : m.items()) {
      if (one_of(kMessageFields, key)) continue;
      return Status::invalid_request("Unrecognized message field supplied: " + key, param + "." + key,
                                     "unrecognized_argument");
    }
    if (auto audio = m.find("audio"); audio != m.end() && !audio->is_null()) {
      return Status::invalid_request("Audio in messages is not supported by this server.", param + ".audio",
                                     "unsupported_parameter");
    }
    if (auto fc = m.find("function_call"); fc != m.end() && !fc->is_null()) {
      return Status::invalid_request("'function_call' is deprecated and not supported: use 'tool_calls'.",
                                     param + ".function_call", "unsupported_parameter");
    }
    if (r == "function") {
      return Status::invalid_request("The 'function' role is deprecated and not supported: use 'tool'.",
                                     param + ".role", "unsupported_value");
    }
    auto content = m.find("content");
    if (content == m.end() && r != "assistant") return missing_parameter(param + ".content");
    engine::Message message;
    if (auto calls = m.find("tool_calls"); calls != m.end()) {
      if (r != "assistant") {
        return Status::invalid_request("Only assistant messages can have 'tool_calls'.",
                                       param + ".tool_calls", "invalid_value");
      }
      auto parsed = parse_message_tool_calls(*calls, param + ".tool_calls");
      if (!parsed) return parsed.status();
      message.tool_calls = std::move(parsed).value();
    }
    if (r == "tool") {
      auto id = m.find("tool_call_id");
      if (id == m.end()) return missing_parameter(param + ".tool_call_id");
      if (!id->is_string()) return invalid_type(param + ".tool_call_id", "a string", *id);
      message.tool_call_id = id->get<std::string>();
    }
    if (auto rc = m.find("reasoning_content"); rc != m.end() && !rc->is_null()) {
      if (!rc->is_string()) return invalid_type(param + ".reasoning_content", "a string", *rc);
      message.reasoning_content = rc->get<std::string>();
    }
    if (Status s = message_content(content == m.end() ? json(nullptr) : *content, param + ".content", model,
                                   message);
        !s) {
      return s;
    }
    if (r == "developer") r = "system";
    message.role = std::move(r);
    out.messages.push_back(std::move(message));
  }
  return Status::ok();
}

Status parse_response_format(const json& body, engine::GenerationRequest& out) {
  auto it = body.find("response_format");
  if (it == body.end() || it->is_null()) return Status::ok();
  if (!it->is_object()) return invalid_type("response_format", "an object", *it);
  auto type = it->find("type");
  if (type == it->end()) return missing_parameter("response_format.type");
  if (!type->is_string()) return invalid_type("response_format.type", "a string", *type);
  const std::string t = type->get<std::string>();
  if (t == "text") return Status::ok();
  if (t == "json_object") {
    // OpenAI asks that the conversation mention JSON, so that the model is told what to produce.
    if (!mentions_json(out.messages)) {
      return Status::invalid_request(
          "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
          "'json_object'.",
          "messages");
    }
    out.response_format = engine::ResponseFormat::kJsonObject;
    return Status::ok();
  }
  if (t == "json_schema") {
    auto js = it->find("json_schema");
    if (js == it->end()) return missing_parameter("response_format.json_schema");
    if (!js->is_object()) return invalid_type("response_format.json_schema", "an object", *js);
    auto name = js->find("name");
    if (name == js->end()) return missing_parameter("response_format.json_schema.name");
    if (!name->is_string()) return invalid_type("response_format.json_schema.name", "a string", *name);
    auto schema = js->find("schema");
    json s = schema == js->end() ? json::object() : *schema;
    if (!s.is_object()) return invalid_type("response_format.json_schema.schema", "an object", s);
    std::optional<bool> strict;
    if (Status st = FieldReader(*js, "response_format.json_schema.").boolean("strict", strict); !st)
      return st;
    out.response_format = engine::ResponseFormat::kJsonSchema;
    out.json_schema = s.dump();
    out.json_schema_name = name->get<std::string>();
    out.json_schema_strict = strict;
    return Status::ok();
  }
  return Status::invalid_request(
      "Invalid value: '" + t + "'. Supported values are: 'json_object', 'json_schema', and 'text'.",
      "response_format.type", "invalid_value");
}

}  // namespace

bool mentions_json(const std::vector<engine::Message>& messages) {
  for (const auto& m : messages) {
    std::string lower = m.content;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (lower.find("json") != std::string::npos) return true;
  }
  return false;
}

Result<ChatCompletionRequest> parse_chat_completion_request(const json& body, const engine::ModelInfo& model,
                                                            const nlohmann::ordered_json* ordered) {
  ChatCompletionRequest req;
  engine::GenerationRequest& gen = req.generation;
  FieldReader f(body);

  auto named = served_model(body, model);
  if (!named) return named.status();
  req.model = std::move(named).value();
  gen.model = req.model;

  if (Status s = check_fields(body); !s) return s;
  if (Status s = parse_messages(body, model, gen); !s) return s;
  if (Status s = parse_tool_fields(body, gen, ordered); !s) return s;

  auto sampling = read_sampling_fields(body, SamplingFieldSet{}, gen);
  if (!sampling) return sampling.status();
  std::optional<int64_t> max_completion_tokens, top_logprobs;
  std::optional<bool> logprobs;
  if (Status s = f.integer("max_completion_tokens", 1, INT32_MAX, max_completion_tokens); !s) return s;
  if (Status s = f.integer("top_logprobs", 0, 20, top_logprobs); !s) return s;
  if (Status s = f.boolean("logprobs", logprobs); !s) return s;
  if (Status s = parse_response_format(body, gen); !s) return s;
  if (gen.response_format == engine::ResponseFormat::kJsonSchema) {
    gen.json_schema = dump_in_client_order(ordered, "/response_format/json_schema/schema", gen.json_schema);
  }

  if (max_completion_tokens) gen.max_tokens = static_cast<int>(*max_completion_tokens);
  req.n = sampling->n;
  req.stream = sampling->stream;
  gen.logprobs = logprobs.value_or(false);
  if (top_logprobs) {
    if (!gen.logprobs) {
      return Status::invalid_request("Invalid value for 'top_logprobs': 'logprobs' must be set to true.",
                                     "top_logprobs", "invalid_value");
    }
    gen.top_logprobs = static_cast<int>(*top_logprobs);
  }
  auto include_usage = read_include_usage(body, req.stream);
  if (!include_usage) return include_usage.status();
  req.include_usage = *include_usage;
  return req;
}

}  // namespace openbatch::openai
