// Typed, range-checked reads of optional fields of a JSON request body, failing with the messages,
// params and codes OpenAI uses ("Invalid type for 'temperature': expected a decimal, ...").
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/status.h"
#include "engine/engine.h"

namespace openbatch::openai {

// "Invalid type for 'param': expected EXPECTED, but got a string instead." (400 invalid_type)
Status invalid_type(const std::string& param, const std::string& expected, const nlohmann::json& got);
// "Missing required parameter: 'param'." (400 missing_required_parameter)
Status missing_parameter(const std::string& param);
// The body's `model`, when it names the served model or one of its aliases; else OpenAI's 400 (no
// model) or 404 model_not_found.
Result<std::string> served_model(const nlohmann::json& body, const engine::ModelInfo& model);
// The model of engine (Engine::models()) that body's `model` names, whose ModelInfo the body is then
// parsed with; 404 model_not_found when engine serves none of that name. A body without a string
// `model` gets engine.model_info(), so that parsing reports what is wrong with it.
Result<engine::ModelInfo> named_model(const engine::Engine& engine, const nlohmann::json& body);
// "a string", "an integer", "an array", ... as OpenAI names JSON types in its messages.
std::string json_type_phrase(const nlohmann::json& value);

// Whether name is one of names (a body's known fields).
template <size_t N>
bool one_of(const char* const (&names)[N], const std::string& name) {
  return std::find_if(std::begin(names), std::end(names), [&](const char* n) { return name == n; }) !=
         std::end(names);
}

class FieldReader {
 public:
  // prefix is prepended to field names in params ("stream_options.").
  explicit FieldReader(const nlohmann::json& object, std::string prefix = "")
      : object_(object), prefix_(std::move(prefix)) {}

  // Each leaves out unset when the field is absent or null.
  Status number(const char* name, double min, double max, std::optional<double>& out) const;
  Status integer(const char* name, int64_t min, int64_t max, std::optional<int64_t>& out) const;
  Status boolean(const char* name, std::optional<bool>& out) const;
  Status string(const char* name, std::optional<std::string>& out) const;

 private:
  const nlohmann::json* find(const char* name) const;

  const nlohmann::json& object_;
  std::string prefix_;
};

}  // namespace openbatch::openai
