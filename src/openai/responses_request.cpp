// Validation of /v1/responses bodies, with OpenAI's messages, params and codes.
#include "openai/responses_request.h"

#include <algorithm>
#include <initializer_list>

#include "openai/chat_completion.h"
#include "openai/chat_tools.h"
#include "openai/field_reader.h"
#include "openai/sampling_fields.h"

namespace openbatch::openai {

namespace {

using nlohmann::json;

// The fields of a Responses body this server honours, and those it takes without effect (metadata for
// the caller, OpenAI's routing and caching hints). The others are checked one by one below: refused
// unless set to the value that asks for nothing (`background: false`, `include: []`...).
const char* kHonoured[] = {"model",       "input",  "instructions",   "text",        "max_output_tokens",
                           "temperature", "top_p",  "tools",          "tool_choice", "parallel_tool_calls",
                           "reasoning",   "stream", "stream_options", "store",       "metadata"};
const char* kWithoutEffect[] = {"user", "service_tier", "prompt_cache_key", "safety_identifier"};

Status unsupported(const std::string& message, const std::string& param) {
  return Status::invalid_request(message, param, "unsupported_parameter");
}

Status not_stored(const std::string& what, const std::string& param) {
  return Status::invalid_request(what +
                                     " is not supported: this server does not store responses (each request "
                                     "must carry its whole conversation in 'input').",
                                 param, "unsupported_parameter");
}

Status check_fields(const json& body) {
  for (const auto& [key, value] : body.items()) {
    if (one_of(kHonoured, key) || one_of(kWithoutEffect, key)) continue;
    if (value.is_null()) continue;
    if (key == "previous_response_id") return not_stored("'previous_response_id'", key);
    if (key == "conversation") return not_stored("'conversation'", key);
    if (key == "background") {
      if (value == false) continue;
      return unsupported(
          "Background responses are not supported: responses are not stored. Use a batch for "
          "work that runs in the background.",
          key);
    }
    if (key == "include") {
      if (value.is_array() && value.empty()) continue;
      return unsupported("The 'include' parameter is not supported by this server.", key);
    }
    if (key == "truncation") {
      if (value == "disabled") continue;
      return Status::invalid_request(
          "Only 'truncation': 'disabled' is supported: a conversation longer than the "
          "model's context is refused, never cut.",
          key, "unsupported_value");
    }
    if (key == "top_logprobs") {
      if (value == 0) continue;
      return unsupported("The 'top_logprobs' parameter is not supported by this server's Responses API.",
                         key);
    }
    if (key == "max_tool_calls" || key == "prompt") {
      return unsupported("The '" + key + "' parameter is not supported by this server.", key);
    }
    return Status::invalid_request("Unrecognized request argument supplied: " + key, key,
                                   "unrecognized_argument");
  }
  return Status::ok();
}

// Reads a string field of an item that must be there.
Result<std::string> required_string(const json& object, const char* name, const std::string& prefix) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return missing_parameter(prefix + name);
  if (!it->is_string()) return invalid_type(prefix + name, "a string", *it);
  return it->get<std::string>();
}

// Refuses the fields of an item other than the ones its type has.
Status check_item_fields(const json& item, std::initializer_list<const char*> known,
                         const std::string& param) {
  for (const auto& field : item.items()) {
    const std::string& key = field.key();
    if (std::find_if(known.begin(), known.end(), [&](const char* k) { return key == k; }) != known.end())
      continue;
    return Status::invalid_request("Unrecognized field supplied: " + key, param + "." + key,
                                   "unrecognized_argument");
  }
  return Status::ok();
}

// The parsing of `input` into the conversation's messages.
class InputReader {
 public:
  InputReader(const engine::ModelInfo& model, std::vector<engine::Message>& out) : model_(model), out_(out) {}

  Status read(const json& input) {
    if (input.is_string()) {
      out_.push_back({"user", input.get<std::string>(), {}, {}, "", ""});
      return Status::ok();
    }
    if (!input.is_array()) return invalid_type("input", "a string or an array of input items", input);
    if (input.empty()) {
      return Status::invalid_request(
          "Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array "
          "instead.",
          "input", "empty_array");
    }
    for (size_t i = 0; i < input.size(); ++i) {
      if (Status s = read_item(input[i], "input[" + std::to_string(i) + "]"); !s) return s;
    }
    return Status::ok();
  }

 private:
  Status read_item(const json& item, const std::string& param) {
    if (!item.is_object()) return invalid_type(param, "an object", item);
    std::string type = "message";
    if (auto t = item.find("type"); t != item.end() && !t->is_null()) {
      if (!t->is_string()) return invalid_type(param + ".type", "a string", *t);
      type = t->get<std::string>();
    }
    if (type == "message") return read_message(item, param);
    if (type == "function_call") return read_function_call(item, param);
    if (type == "function_call_output") return read_function_call_output(item, param);
    if (type == "reasoning") return read_reasoning(item, param);
    if (type == "item_reference") return not_stored("An 'item_reference' input item", param + ".type");
    return Status::invalid_request("Invalid value: '" + type +
                                       "'. Supported values are: 'message', 'function_call', "
                                       "'function_call_output', and 'reasoning'.",
                                   param + ".type", "invalid_value");
  }

  Status read_message(const json& item, const std::string& param) {
    if (Status s = check_item_fields(item, {"type", "role", "content", "id", "status"}, param); !s) return s;
    auto role = required_string(item, "role", param + ".");
    if (!role) return role.status();
    std::string r = *role;
    if (r != "user" && r != "system" && r != "developer" && r != "assistant") {
      return Status::invalid_request(
          "Invalid value: '" + r + "'. Supported values are: 'user', 'assistant', 'system', and 'developer'.",
          param + ".role", "invalid_value");
    }
    auto content = item.find("content");
    if (content == item.end() || content->is_null()) return missing_parameter(param + ".content");
    engine::Message m;
    m.role = r == "developer" ? "system" : r;
    if (content->is_string()) {
      m.content = content->get<std::string>();
    } else if (content->is_array()) {
      for (size_t j = 0; j < content->size(); ++j) {
        if (Status s = read_part((*content)[j], param + ".content[" + std::to_string(j) + "]", r, m); !s)
          return s;
      }
    } else {
      return invalid_type(param + ".content", "a string or an array of content parts", *content);
    }
    if (m.role == "assistant") {
      m.reasoning_content = std::move(pending_reasoning_);
      pending_reasoning_.clear();
    }
    out_.push_back(std::move(m));
    return Status::ok();
  }

  Status read_part(const json& part, const std::string& param, const std::string& role, engine::Message& m) {
    if (!part.is_object()) return invalid_type(param, "an object", part);
    auto type = required_string(part, "type", param + ".");
    if (!type) return type.status();
    const bool assistant = role == "assistant";
    if ((*type == "input_text" && !assistant) || (*type == "output_text" && assistant)) {
      auto text = required_string(part, "text", param + ".");
      if (!text) return text.status();
      m.content += *text;
      return Status::ok();
    }
    if (*type == "refusal" && assistant) {
      auto text = required_string(part, "refusal", param + ".");
      if (!text) return text.status();
      m.content += *text;
      return Status::ok();
    }
    if (*type == "input_image" && !assistant) return read_image(part, param, m);
    if (*type == "input_file" || *type == "input_audio") {
      return unsupported("'" + *type + "' content is not supported by this server.", param + ".type");
    }
    return Status::invalid_request("Invalid value: '" + *type + "'. Supported values are: " +
                                       (assistant ? std::string("'output_text' and 'refusal'")
                                                  : std::string("'input_text' and 'input_image'")) +
                                       ".",
                                   param + ".type", "invalid_value");
  }

  Status read_image(const json& part, const std::string& param, engine::Message& m) {
    if (auto file = part.find("file_id"); file != part.end() && !file->is_null()) {
      return unsupported("Images by 'file_id' are not supported: give an 'image_url' (http(s) or data: URL).",
                         param + ".file_id");
    }
    auto url = required_string(part, "image_url", param + ".");
    if (!url) return url.status();
    if (url->empty()) {
      return Status::invalid_request("Invalid 'image_url': empty string. Expected an http(s) or data: URL.",
                                     param + ".image_url", "empty_string");
    }
    std::optional<std::string> detail;
    if (Status s = FieldReader(part, param + ".").string("detail", detail); !s) return s;
    if (detail && *detail != "auto" && *detail != "low" && *detail != "high") {
      return Status::invalid_request(
          "Invalid value: '" + *detail + "'. Supported values are: 'auto', 'low', and 'high'.",
          param + ".detail", "invalid_value");
    }
    if (!model_.has_vision) {
      Status s = engine::images_not_supported(model_);
      return s.with_param(param);
    }
    m.images.push_back({m.content.size(), *url, nullptr, detail.value_or("")});
    return Status::ok();
  }

  // A call the model made earlier: it belongs to the assistant turn it was made in.
  Status read_function_call(const json& item, const std::string& param) {
    if (Status s = check_item_fields(item, {"type", "call_id", "name", "arguments", "id", "status"}, param);
        !s) {
      return s;
    }
    auto call_id = required_string(item, "call_id", param + ".");
    if (!call_id) return call_id.status();
    auto name = required_string(item, "name", param + ".");
    if (!name) return name.status();
    auto arguments = required_string(item, "arguments", param + ".");
    if (!arguments) return arguments.status();
    if (out_.empty() || out_.back().role != "assistant") {
      engine::Message m;
      m.role = "assistant";
      m.reasoning_content = std::move(pending_reasoning_);
      pending_reasoning_.clear();
      out_.push_back(std::move(m));
    }
    out_.back().tool_calls.push_back({*call_id, *name, *arguments});
    return Status::ok();
  }

  Status read_function_call_output(const json& item, const std::string& param) {
    if (Status s = check_item_fields(item, {"type", "call_id", "output", "id", "status"}, param); !s)
      return s;
    auto call_id = required_string(item, "call_id", param + ".");
    if (!call_id) return call_id.status();
    auto output = item.find("output");
    if (output == item.end() || output->is_null()) return missing_parameter(param + ".output");
    engine::Message m;
    m.role = "tool";
    m.tool_call_id = *call_id;
    if (output->is_string()) {
      m.content = output->get<std::string>();
    } else if (output->is_array()) {
      for (size_t j = 0; j < output->size(); ++j) {
        const json& p = (*output)[j];
        const std::string pp = param + ".output[" + std::to_string(j) + "]";
        if (!p.is_object() || p.value("type", json()) != "input_text") {
          return Status::invalid_request("Only 'input_text' parts are supported in a function call's output.",
                                         pp, "invalid_value");
        }
        auto text = required_string(p, "text", pp + ".");
        if (!text) return text.status();
        m.content += *text;
      }
    } else {
      return invalid_type(param + ".output", "a string or an array of content parts", *output);
    }
    out_.push_back(std::move(m));
    return Status::ok();
  }

  // Reasoning sent back with the answer it led to: its text goes to that assistant turn.
  Status read_reasoning(const json& item, const std::string& param) {
    if (Status s = check_item_fields(
            item, {"type", "id", "summary", "content", "encrypted_content", "status"}, param);
        !s) {
      return s;
    }
    if (auto e = item.find("encrypted_content"); e != item.end() && !e->is_null()) {
      return unsupported("Encrypted reasoning is not supported: this server never makes it.",
                         param + ".encrypted_content");
    }
    for (const char* field : {"content", "summary"}) {
      auto parts = item.find(field);
      if (parts == item.end() || parts->is_null()) continue;
      if (!parts->is_array()) return invalid_type(param + "." + field, "an array", *parts);
      for (size_t j = 0; j < parts->size(); ++j) {
        const std::string pp = param + "." + field + "[" + std::to_string(j) + "]";
        if (!(*parts)[j].is_object()) return invalid_type(pp, "an object", (*parts)[j]);
        auto text = required_string((*parts)[j], "text", pp + ".");
        if (!text) return text.status();
        // The summary only stands in for reasoning that did not come back whole.
        if (std::string(field) == "summary" && item.contains("content") && !item["content"].empty()) break;
        pending_reasoning_ += *text;
      }
    }
    return Status::ok();
  }

  const engine::ModelInfo& model_;
  std::vector<engine::Message>& out_;
  std::string pending_reasoning_;  // of a reasoning item, until the assistant turn it led to
};

// `text`: its format (text, json_object, json_schema) and verbosity.
Status parse_text(const json& body, const nlohmann::ordered_json* ordered, ResponsesRequest& req) {
  engine::GenerationRequest& gen = req.generation;
  json format = {{"type", "text"}};
  auto text = body.find("text");
  if (text != body.end() && !text->is_null()) {
    if (!text->is_object()) return invalid_type("text", "an object", *text);
    if (Status s = check_item_fields(*text, {"format", "verbosity"}, "text"); !s) return s;
    if (auto v = text->find("verbosity"); v != text->end() && !v->is_null() && *v != "medium") {
      return Status::invalid_request("Only 'text.verbosity': 'medium' is supported by this server.",
                                     "text.verbosity", "unsupported_value");
    }
    if (auto f = text->find("format"); f != text->end() && !f->is_null()) {
      if (!f->is_object()) return invalid_type("text.format", "an object", *f);
      auto type = required_string(*f, "type", "text.format.");
      if (!type) return type.status();
      if (*type == "text") {
        if (Status s = check_item_fields(*f, {"type"}, "text.format"); !s) return s;
      } else if (*type == "json_object") {
        if (Status s = check_item_fields(*f, {"type"}, "text.format"); !s) return s;
        if (!mentions_json(gen.messages)) {
          return Status::invalid_request(
              "Response input messages must contain the word 'json' in some form to use "
              "'text.format' of type 'json_object'.",
              "input");
        }
        gen.response_format = engine::ResponseFormat::kJsonObject;
        format = *f;
      } else if (*type == "json_schema") {
        if (Status s =
                check_item_fields(*f, {"type", "name", "schema", "strict", "description"}, "text.format");
            !s) {
          return s;
        }
        auto name = required_string(*f, "name", "text.format.");
        if (!name) return name.status();
        auto schema = f->find("schema");
        if (schema == f->end() || schema->is_null()) return missing_parameter("text.format.schema");
        if (!schema->is_object()) return invalid_type("text.format.schema", "an object", *schema);
        std::optional<std::string> description;
        if (Status s = FieldReader(*f, "text.format.").string("description", description); !s) return s;
        if (Status s = FieldReader(*f, "text.format.").boolean("strict", gen.json_schema_strict); !s)
          return s;
        gen.response_format = engine::ResponseFormat::kJsonSchema;
        gen.json_schema = dump_in_client_order(ordered, "/text/format/schema", schema->dump());
        gen.json_schema_name = *name;
        format = *f;
      } else {
        return Status::invalid_request(
            "Invalid value: '" + *type + "'. Supported values are: 'text', 'json_object', and 'json_schema'.",
            "text.format.type", "invalid_value");
      }
    }
  }
  req.echo["text"] = {{"format", format}, {"verbosity", "medium"}};
  return Status::ok();
}

// `tools` (the Responses shape, flat: {type: "function", name, description, parameters, strict}),
// `tool_choice` and `parallel_tool_calls`.
Status parse_tools(const json& body, const nlohmann::ordered_json* ordered, ResponsesRequest& req) {
  engine::GenerationRequest& gen = req.generation;
  json echoed = json::array();
  auto tools = body.find("tools");
  if (tools != body.end() && !tools->is_null()) {
    if (!tools->is_array()) return invalid_type("tools", "an array", *tools);
    for (size_t i = 0; i < tools->size(); ++i) {
      const json& t = (*tools)[i];
      const std::string param = "tools[" + std::to_string(i) + "]";
      if (!t.is_object()) return invalid_type(param, "an object", t);
      auto type = required_string(t, "type", param + ".");
      if (!type) return type.status();
      if (*type != "function") {
        return Status::invalid_request(
            "Tools of type '" + *type + "' are not supported by this server: only 'function'.",
            param + ".type", "unsupported_value");
      }
      if (Status s = check_item_fields(t, {"type", "name", "description", "parameters", "strict"}, param); !s)
        return s;
      auto tool = parse_function_definition(t, param + ".");
      if (!tool) return tool.status();
      tool->parameters = dump_in_client_order(ordered, "/tools/" + std::to_string(i) + "/parameters",
                                              std::move(tool->parameters));
      echoed.push_back({{"type", "function"},
                        {"name", tool->name},
                        {"description", tool->description.empty() ? json(nullptr) : json(tool->description)},
                        {"parameters", json::parse(tool->parameters)},
                        {"strict", tool->strict ? json(*tool->strict) : json(true)}});
      gen.tools.push_back(std::move(tool).value());
    }
  }
  req.echo["tools"] = echoed;
  req.echo["tool_choice"] = "auto";
  auto choice = body.find("tool_choice");
  if (choice != body.end() && !choice->is_null()) {
    if (choice->is_string()) {
      auto mode = tool_choice_mode(choice->get<std::string>(), "tool_choice");
      if (!mode) return mode.status();
      gen.tool_choice = *mode;
    } else if (choice->is_object()) {
      auto type = required_string(*choice, "type", "tool_choice.");
      if (!type) return type.status();
      if (*type != "function") {
        return Status::invalid_request(
            "Invalid value for 'tool_choice.type': this server supports 'function' only.", "tool_choice.type",
            "invalid_value");
      }
      auto name = required_string(*choice, "name", "tool_choice.");
      if (!name) return name.status();
      const bool found = std::any_of(gen.tools.begin(), gen.tools.end(),
                                     [&](const engine::Tool& t) { return t.name == *name; });
      if (!found) {
        return Status::invalid_request(
            "Invalid value for 'tool_choice': no function named '" + *name + "' in 'tools'.",
            "tool_choice.name", "invalid_value");
      }
      gen.tool_choice = engine::ToolChoice::kRequired;
      gen.tool_choice_function = *name;
    } else {
      return invalid_type("tool_choice", "a string or an object", *choice);
    }
    if (gen.tools.empty() && gen.tool_choice != engine::ToolChoice::kNone) {
      return Status::invalid_request(
          "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
          "specified.",
          "tool_choice", "invalid_value");
    }
    req.echo["tool_choice"] = *choice;
  }
  std::optional<bool> parallel;
  if (Status s = FieldReader(body).boolean("parallel_tool_calls", parallel); !s) return s;
  gen.parallel_tool_calls = parallel.value_or(true);
  req.echo["parallel_tool_calls"] = gen.parallel_tool_calls;
  return Status::ok();
}

Status parse_reasoning(const json& body, ResponsesRequest& req) {
  json echoed = {{"effort", nullptr}, {"summary", nullptr}};
  auto it = body.find("reasoning");
  if (it != body.end() && !it->is_null()) {
    if (!it->is_object()) return invalid_type("reasoning", "an object", *it);
    if (Status s = check_item_fields(*it, {"effort", "summary", "generate_summary"}, "reasoning"); !s)
      return s;
    for (const char* field : {"summary", "generate_summary"}) {
      if (auto s = it->find(field); s != it->end() && !s->is_null()) {
        return unsupported(
            "Reasoning summaries are not made by this server: a reasoning item carries the model's "
            "own reasoning text as its 'content'.",
            std::string("reasoning.") + field);
      }
    }
    std::optional<std::string> effort;
    if (Status s = FieldReader(*it, "reasoning.").string("effort", effort); !s) return s;
    if (effort) {
      auto parsed = reasoning_effort_of(*effort, "reasoning.effort");
      if (!parsed) return parsed.status();
      req.generation.reasoning_effort = *parsed;
      echoed["effort"] = *effort;
    }
  }
  req.echo["reasoning"] = echoed;
  return Status::ok();
}

}  // namespace

Result<ResponsesRequest> parse_responses_request(const json& body, const engine::ModelInfo& model,
                                                 const nlohmann::ordered_json* ordered) {
  ResponsesRequest req;
  engine::GenerationRequest& gen = req.generation;
  auto named = served_model(body, model);
  if (!named) return named.status();
  req.model = std::move(named).value();
  gen.model = req.model;
  if (Status s = check_fields(body); !s) return s;

  FieldReader f(body);
  std::optional<std::string> instructions;
  if (Status s = f.string("instructions", instructions); !s) return s;
  if (instructions) gen.messages.push_back({"system", *instructions, {}, {}, "", ""});
  auto input = body.find("input");
  if (input == body.end() || input->is_null()) return missing_parameter("input");
  if (Status s = InputReader(model, gen.messages).read(*input); !s) return s;

  if (Status s = parse_text(body, ordered, req); !s) return s;
  if (Status s = parse_tools(body, ordered, req); !s) return s;
  if (Status s = parse_reasoning(body, req); !s) return s;

  auto sampling = read_sampling_fields(
      body,
      SamplingFieldSet{
          .max_tokens = "max_output_tokens", .min_max_tokens = 16, .penalties_n_seed_stop = false},
      gen);
  if (!sampling) return sampling.status();
  const std::optional<int64_t>& max_output_tokens = sampling->max_tokens;
  std::optional<bool> store;
  if (Status s = f.boolean("store", store); !s) return s;
  req.stream = sampling->stream;
  auto so = stream_options_of(body, req.stream);
  if (!so) return so.status();
  if (*so != nullptr) {
    // Obfuscation pads events against length side channels; a server on your own network sends none.
    if (Status s = check_item_fields(**so, {"include_obfuscation"}, "stream_options"); !s) return s;
    std::optional<bool> obfuscation;
    if (Status s = FieldReader(**so, "stream_options.").boolean("include_obfuscation", obfuscation); !s)
      return s;
  }

  auto metadata = body.find("metadata");
  if (metadata != body.end() && !metadata->is_null() && !metadata->is_object()) {
    return invalid_type("metadata", "an object", *metadata);
  }
  std::optional<std::string> user;
  if (Status s = f.string("user", user); !s) return s;
  req.echo["instructions"] = instructions ? json(*instructions) : json(nullptr);
  req.echo["max_output_tokens"] = max_output_tokens ? json(*max_output_tokens) : json(nullptr);
  // metadata in the client's order, when the body came with it (ordered).
  if (ordered && ordered->is_object() && ordered->contains("metadata") &&
      (*ordered)["metadata"].is_object()) {
    req.echo["metadata"] = (*ordered)["metadata"];
  } else {
    req.echo["metadata"] = metadata != body.end() && metadata->is_object() ? *metadata : json::object();
  }
  req.echo["store"] = store.value_or(true);
  req.echo["temperature"] = gen.sampling.temperature;
  req.echo["top_p"] = gen.sampling.top_p;
  req.echo["truncation"] = "disabled";
  req.echo["user"] = user ? json(*user) : json(nullptr);
  req.echo["background"] = false;
  req.echo["max_tool_calls"] = nullptr;
  req.echo["previous_response_id"] = nullptr;
  req.echo["service_tier"] = "default";
  req.echo["top_logprobs"] = 0;
  return req;
}

}  // namespace openbatch::openai
