#include "openai/chat_tools.h"

#include "openai/chat_completion.h"
#include "openai/field_reader.h"

namespace openbatch::openai {

namespace {

using nlohmann::json;

bool valid_function_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<engine::Tool> parse_tool(const json& t, const std::string& param) {
  if (!t.is_object()) return invalid_type(param, "an object", t);
  auto type = t.find("type");
  if (type == t.end()) return missing_parameter(param + ".type");
  if (!type->is_string()) return invalid_type(param + ".type", "a string", *type);
  if (*type != "function") {
    return Status::invalid_request(
        "Invalid value: '" + type->get<std::string>() + "'. Supported values are: 'function'.",
        param + ".type", "invalid_value");
  }
  auto function = t.find("function");
  if (function == t.end()) return missing_parameter(param + ".function");
  if (!function->is_object()) return invalid_type(param + ".function", "an object", *function);
  return parse_function_definition(*function, param + ".function.");
}

Status parse_tool_choice(const json& body, engine::GenerationRequest& out) {
  auto it = body.find("tool_choice");
  if (it == body.end() || it->is_null()) {
    // OpenAI's default: none without tools, auto with them.
    out.tool_choice = engine::ToolChoice::kAuto;
    return Status::ok();
  }
  if (out.tools.empty()) {
    return Status::invalid_request(
        "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
        "tool_choice", "invalid_value");
  }
  if (it->is_string()) {
    auto mode = tool_choice_mode(it->get<std::string>(), "tool_choice");
    if (!mode) return mode.status();
    out.tool_choice = *mode;
    return Status::ok();
  }
  if (!it->is_object()) return invalid_type("tool_choice", "a string or an object", *it);
  auto type = it->find("type");
  if (type == it->end()) return missing_parameter("tool_choice.type");
  if (!type->is_string() || *type != "function") {
    return Status::invalid_request(
        "Invalid value for 'tool_choice.type': this server supports 'function' only.", "tool_choice.type",
        "invalid_value");
  }
  auto function = it->find("function");
  if (function == it->end()) return missing_parameter("tool_choice.function");
  if (!function->is_object()) return invalid_type("tool_choice.function", "an object", *function);
  auto name = function->find("name");
  if (name == function->end()) return missing_parameter("tool_choice.function.name");
  if (!name->is_string()) return invalid_type("tool_choice.function.name", "a string", *name);
  const std::string wanted = name->get<std::string>();
  bool found = false;
  for (const auto& t : out.tools) found = found || t.name == wanted;
  if (!found) {
    return Status::invalid_request(
        "Invalid value for 'tool_choice': no function named '" + wanted + "' in 'tools'.",
        "tool_choice.function.name", "invalid_value");
  }
  out.tool_choice = engine::ToolChoice::kRequired;
  out.tool_choice_function = wanted;
  return Status::ok();
}

Status parse_reasoning_effort(const json& body, engine::GenerationRequest& out) {
  std::optional<std::string> effort;
  if (Status s = FieldReader(body).string("reasoning_effort", effort); !s) return s;
  if (!effort) return Status::ok();
  auto parsed = reasoning_effort_of(*effort, "reasoning_effort");
  if (!parsed) return parsed.status();
  out.reasoning_effort = *parsed;
  return Status::ok();
}

}  // namespace

Result<engine::Tool> parse_function_definition(const json& function, const std::string& prefix) {
  engine::Tool tool;
  auto name = function.find("name");
  if (name == function.end()) return missing_parameter(prefix + "name");
  if (!name->is_string()) return invalid_type(prefix + "name", "a string", *name);
  tool.name = name->get<std::string>();
  if (!valid_function_name(tool.name)) {
    return Status::invalid_request("Invalid '" + prefix +
                                       "name': string does not match pattern. Expected "
                                       "a string that matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
                                   prefix + "name", "invalid_value");
  }
  FieldReader f(function, prefix);
  std::optional<std::string> description;
  if (Status s = f.string("description", description); !s) return s;
  tool.description = description.value_or("");
  if (Status s = f.boolean("strict", tool.strict); !s) return s;
  auto parameters = function.find("parameters");
  if (parameters == function.end() || parameters->is_null()) {
    tool.parameters = R"({"type":"object","properties":{}})";
  } else {
    if (!parameters->is_object()) return invalid_type(prefix + "parameters", "an object", *parameters);
    tool.parameters = parameters->empty() ? R"({"type":"object","properties":{}})" : parameters->dump();
  }
  return tool;
}

Result<engine::ToolChoice> tool_choice_mode(const std::string& choice, const std::string& param) {
  if (choice == "auto") return engine::ToolChoice::kAuto;
  if (choice == "required") return engine::ToolChoice::kRequired;
  if (choice == "none") return engine::ToolChoice::kNone;
  return Status::invalid_request(
      "Invalid value: '" + choice + "'. Supported values are: 'none', 'auto', and 'required'.", param,
      "invalid_value");
}

Result<engine::ReasoningEffort> reasoning_effort_of(const std::string& effort, const std::string& param) {
  using E = engine::ReasoningEffort;
  if (effort == "none") return E::kNone;
  if (effort == "minimal") return E::kMinimal;
  if (effort == "low") return E::kLow;
  if (effort == "medium") return E::kMedium;
  if (effort == "high") return E::kHigh;
  return Status::invalid_request(
      "Invalid value: '" + effort +
          "'. Supported values are: 'none', 'minimal', 'low', 'medium', and 'high'.",
      param, "invalid_value");
}

std::string dump_in_client_order(const nlohmann::ordered_json* ordered, const std::string& pointer,
                                 std::string fallback) {
  if (ordered == nullptr) return fallback;
  const nlohmann::ordered_json::json_pointer at(pointer);
  if (!ordered->contains(at)) return fallback;
  const auto& value = ordered->at(at);
  return value.is_object() && !value.empty() ? value.dump() : fallback;
}

Status parse_tool_fields(const json& body, engine::GenerationRequest& out,
                         const nlohmann::ordered_json* ordered) {
  auto tools = body.find("tools");
  if (tools != body.end() && !tools->is_null()) {
    if (!tools->is_array()) return invalid_type("tools", "an array", *tools);
    if (tools->size() > 128) {
      return Status::invalid_request(
          "Invalid 'tools': array too long. Expected an array with maximum length 128, "
          "but got an array with length " +
              std::to_string(tools->size()) + " instead.",
          "tools", "array_above_max_length");
    }
    for (size_t i = 0; i < tools->size(); ++i) {
      auto tool = parse_tool((*tools)[i], "tools[" + std::to_string(i) + "]");
      if (!tool) return tool.status();
      tool->parameters = dump_in_client_order(ordered, "/tools/" + std::to_string(i) + "/function/parameters",
                                              std::move(tool->parameters));
      out.tools.push_back(std::move(tool).value());
    }
  }
  if (Status s = parse_tool_choice(body, out); !s) return s;
  std::optional<bool> parallel;
  if (Status s = FieldReader(body).boolean("parallel_tool_calls", parallel); !s) return s;
  out.parallel_tool_calls = parallel.value_or(true);
  return parse_reasoning_effort(body, out);
}

Result<std::vector<engine::ToolCall>> parse_message_tool_calls(const json& calls, const std::string& param) {
  std::vector<engine::ToolCall> out;
  if (calls.is_null()) return out;
  if (!calls.is_array()) return invalid_type(param, "an array", calls);
  for (size_t i = 0; i < calls.size(); ++i) {
    const json& c = calls[i];
    const std::string p = param + "[" + std::to_string(i) + "]";
    if (!c.is_object()) return invalid_type(p, "an object", c);
    engine::ToolCall call;
    FieldReader f(c, p + ".");
    std::optional<std::string> id, type;
    if (Status s = f.string("id", id); !s) return s;
    if (!id) return missing_parameter(p + ".id");
    if (Status s = f.string("type", type); !s) return s;
    if (type && *type != "function") {
      return Status::invalid_request("Invalid value: '" + *type + "'. Supported values are: 'function'.",
                                     p + ".type", "invalid_value");
    }
    auto function = c.find("function");
    if (function == c.end()) return missing_parameter(p + ".function");
    if (!function->is_object()) return invalid_type(p + ".function", "an object", *function);
    FieldReader ff(*function, p + ".function.");
    std::optional<std::string> name, arguments;
    if (Status s = ff.string("name", name); !s) return s;
    if (!name) return missing_parameter(p + ".function.name");
    if (Status s = ff.string("arguments", arguments); !s) return s;
    if (!arguments) return missing_parameter(p + ".function.arguments");
    call.id = *id;
    call.name = *name;
    call.arguments = *arguments;
    out.push_back(std::move(call));
  }
  return out;
}

nlohmann::ordered_json tool_calls_json(const std::vector<engine::ToolCall>& calls) {
  using json = nlohmann::ordered_json;
  json out = json::array();
  for (const auto& c : calls) {
    out.push_back({{"id", c.id.empty() ? new_id("call_") : c.id},
                   {"type", "function"},
                   {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  }
  return out;
}

}  // namespace openbatch::openai
