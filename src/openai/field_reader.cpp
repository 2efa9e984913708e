#include "openai/field_reader.h"

#include <algorithm>
#include <sstream>

#include "engine/model_errors.h"

namespace openbatch::openai {

namespace {

std::string format_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

std::string json_type_phrase(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::string:
      return "a string";
    case nlohmann::json::value_t::boolean:
      return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return "an integer";
    case nlohmann::json::value_t::number_float:
      return "a decimal";
    case nlohmann::json::value_t::array:
      return "an array";
    case nlohmann::json::value_t::object:
      return "an object";
    default:
      return "null";
  }
}

Status invalid_type(const std::string& param, const std::string& expected, const nlohmann::json& got) {
  return Status::invalid_request("Invalid type for '" + param + "': expected " + expected + ", but got " +
                                     json_type_phrase(got) + " instead.",
                                 param, "invalid_type");
}

Result<std::string> served_model(const nlohmann::json& body, const engine::ModelInfo& model) {
  auto it = body.find("model");
  if (it == body.end() || it->is_null()) return Status::invalid_request("you must provide a model parameter");
  if (!it->is_string()) return invalid_type("model", "a string", *it);
  std::string name = it->get<std::string>();
  if (!engine::is_named(model, name)) return engine::model_not_found(name);
  return name;
}

Result<engine::ModelInfo> named_model(const engine::Engine& engine, const nlohmann::json& body) {
  auto it = body.find("model");
  if (it == body.end() || !it->is_string()) return engine.model_info();
  const std::string& name = it->get_ref<const std::string&>();
  std::optional<engine::ModelInfo> model = engine::find_model(engine, name);
  if (!model) return engine::model_not_found(name);
  return std::move(*model);
}

Status missing_parameter(const std::string& param) {
  return Status::invalid_request("Missing required parameter: '" + param + "'.", param,
                                 "missing_required_parameter");
}

const nlohmann::json* FieldReader::find(const char* name) const {
  auto it = object_.find(name);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

Status FieldReader::number(const char* name, double min, double max, std::optional<double>& out) const {
  const nlohmann::json* v = find(name);
  if (!v) return Status::ok();
  const std::string param = prefix_ + name;
  if (!v->is_number()) return invalid_type(param, "a decimal", *v);
  double d = v->get<double>();
  if (d < min) {
    return Status::invalid_request(
        "Invalid '" + param + "': decimal below minimum value. Expected a value >= " + format_number(min) +
            ", but got " + format_number(d) + " instead.",
        param, "decimal_below_min_value");
  }
  if (d > max) {
    return Status::invalid_request(
        "Invalid '" + param + "': decimal above maximum value. Expected a value <= " + format_number(max) +
            ", but got " + format_number(d) + " instead.",
        param, "decimal_above_max_value");
  }
  out = d;
  return Status::ok();
}

Status FieldReader::integer(const char* name, int64_t min, int64_t max, std::optional<int64_t>& out) const {
  const nlohmann::json* v = find(name);
  if (!v) return Status::ok();
  const std::string param = prefix_ + name;
  if (!v->is_number_integer()) return invalid_type(param, "an integer", *v);
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return invalid_type(param, "an integer", *v);
  }
  int64_t i = v->get<int64_t>();
  if (i < min) {
    return Status::invalid_request(
        "Invalid '" + param + "': integer below minimum value. Expected a value >= " + std::to_string(min) +
            ", but got " + std::to_string(i) + " instead.",
        param, "integer_below_min_value");
  }
  if (i > max) {
    return Status::invalid_request(
        "Invalid '" + param + "': integer above maximum value. Expected a value <= " + std::to_string(max) +
            ", but got " + std::to_string(i) + " instead.",
        param, "integer_above_max_value");
  }
  out = i;
  return Status::ok();
}

Status FieldReader::boolean(const char* name, std::optional<bool>& out) const {
  const nlohmann::json* v = find(name);
  if (!v) return Status::ok();
  if (!v->is_boolean()) return invalid_type(prefix_ + name, "a boolean", *v);
  out = v->get<bool>();
  return Status::ok();
}

Status FieldReader::string(const char* name, std::optional<std::string>& out) const {
  const nlohmann::json* v = find(name);
  if (!v) return Status::ok();
  if (!v->is_string()) return invalid_type(prefix_ + name, "a string", *v);
  out = v->get<std::string>();
  return Status::ok();
}

}  // namespace openbatch::openai
