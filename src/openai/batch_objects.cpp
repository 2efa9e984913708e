#include "openai/batch_objects.h"

#include <unordered_set>
#include <utility>

#include "openai/endpoints.h"

namespace openbatch::openai {
namespace {

using ojson = nlohmann::ordered_json;

ojson nullable(const std::optional<int64_t>& v) { return v ? ojson(*v) : ojson(nullptr); }
ojson nullable(const std::string& s) { return s.empty() ? ojson(nullptr) : ojson(s); }

const char* json_type_name(const ojson& j) {
  if (j.is_number_integer()) return "an integer";
  if (j.is_number()) return "a decimal";
  if (j.is_boolean()) return "a boolean";
  if (j.is_array()) return "an array";
  if (j.is_object()) return "an object";
  if (j.is_null()) return "null";
  return "a string";
}

Status invalid_type(const std::string& param, const std::string& expected, const ojson& got) {
  return Status::invalid_request("Invalid type for '" + param + "': expected " + expected + ", but got " +
                                     json_type_name(got) + " instead.",
                                 param, "invalid_type");
}

Status invalid_value(const std::string& param, const std::string& message) {
  return Status::invalid_request(message, param, "invalid_value");
}

Result<std::string> required_string(const ojson& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    return Status::invalid_request(std::string("Missing required parameter: '") + name + "'.", name,
                                   "missing_required_parameter");
  }
  if (!it->is_string()) return invalid_type(name, "a string", *it);
  return it->get<std::string>();
}

Status check_metadata(const ojson& metadata, const Limits& limits) {
  if (metadata.is_null()) return Status::ok();
  if (!metadata.is_object()) return invalid_type("metadata", "an object", metadata);
  if (metadata.size() > limits.max_metadata_pairs) {
    return Status::invalid_request(
        "Invalid 'metadata': too many properties. Expected an object with at most " +
            std::to_string(limits.max_metadata_pairs) + " properties, but got an object with " +
            std::to_string(metadata.size()) + " properties instead.",
        "metadata", "object_above_max_properties");
  }
  for (const auto& [key, value] : metadata.items()) {
    const std::string param = "metadata." + key;
    if (key.size() > limits.max_metadata_key_chars) {
      return Status::invalid_request("Invalid 'metadata': keys may have at most " +
                                         std::to_string(limits.max_metadata_key_chars) + " characters.",
                                     "metadata", "string_above_max_length");
    }
    if (!value.is_string()) return invalid_type(param, "a string", value);
    if (value.get_ref<const std::string&>().size() > limits.max_metadata_value_chars) {
      return Status::invalid_request("Invalid '" + param +
                                         "': string too long. Expected a string with maximum length " +
                                         std::to_string(limits.max_metadata_value_chars) + ".",
                                     param, "string_above_max_length");
    }
  }
  return Status::ok();
}

std::string expires_range(const Limits& limits) {
  return "expected a value between " + std::to_string(limits.min_expires_after_seconds) + " and " +
         std::to_string(limits.max_expires_after_seconds) + ".";
}

// {"anchor": "created_at", "seconds": N}: the seconds, or nullopt when absent.
Result<std::optional<int64_t>> parse_expires_after(const ojson& body, const std::string& name,
                                                   const Limits& limits) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::optional<int64_t>();
  if (!it->is_object()) return invalid_type(name, "an object", *it);
  auto anchor = it->find("anchor");
  if (anchor == it->end() || !anchor->is_string() || *anchor != "created_at") {
    return invalid_value(name + ".anchor", "Invalid value for '" + name + ".anchor': expected 'created_at'.");
  }
  auto seconds = it->find("seconds");
  if (seconds == it->end() || !seconds->is_number_integer()) {
    return invalid_type(name + ".seconds", "an integer", seconds == it->end() ? ojson() : *seconds);
  }
  const int64_t s = seconds->get<int64_t>();
  if (s < limits.min_expires_after_seconds || s > limits.max_expires_after_seconds) {
    return invalid_value(name + ".seconds", "Invalid '" + name + ".seconds': " + expires_range(limits));
  }
  return std::optional<int64_t>(s);
}

}  // namespace

ojson batch_object(const store::BatchRecord& b) {
  ojson errors = nullptr;
  if (!b.errors.empty()) {
    ojson data = ojson::array();
    for (const auto& e : b.errors) {
      ojson item;
      item["code"] = e.code;
      item["message"] = e.message;
      item["param"] = nullable(e.param);
      item["line"] = nullable(e.line);
      data.push_back(std::move(item));
    }
    errors = ojson::object();
    errors["object"] = "list";
    errors["data"] = std::move(data);
  }
  const store::Usage& u = b.usage;
  ojson o;
  o["id"] = b.id;
  o["object"] = "batch";
  o["endpoint"] = b.endpoint;
  o["model"] = nullable(b.model);
  o["errors"] = std::move(errors);
  o["input_file_id"] = b.input_file_id;
  o["completion_window"] = b.completion_window;
  o["status"] = store::to_string(b.status);
  o["output_file_id"] = nullable(b.output_file_id);
  o["error_file_id"] = nullable(b.error_file_id);
  o["created_at"] = b.created_at;
  o["in_progress_at"] = nullable(b.in_progress_at);
  o["expires_at"] = b.expires_at;
  o["finalizing_at"] = nullable(b.finalizing_at);
  o["completed_at"] = nullable(b.completed_at);
  o["failed_at"] = nullable(b.failed_at);
  o["expired_at"] = nullable(b.expired_at);
  o["cancelling_at"] = nullable(b.cancelling_at);
  o["cancelled_at"] = nullable(b.cancelled_at);
  ojson& counts = o["request_counts"];
  counts["total"] = b.request_counts.total;
  counts["completed"] = b.request_counts.completed;
  counts["failed"] = b.request_counts.failed;
  ojson& usage = o["usage"];
  usage["input_tokens"] = u.input_tokens;
  usage["input_tokens_details"]["cached_tokens"] = u.cached_tokens;
  usage["output_tokens"] = u.output_tokens;
  usage["output_tokens_details"]["reasoning_tokens"] = u.reasoning_tokens;
  usage["total_tokens"] = u.input_tokens + u.output_tokens;
  o["metadata"] = b.metadata.is_null() ? ojson(nullptr) : b.metadata;
  return o;
}

ojson file_object(const store::FileRecord& f) {
  ojson o;
  o["id"] = f.id;
  o["object"] = "file";
  o["bytes"] = f.bytes;
  o["created_at"] = f.created_at;
  o["expires_at"] = nullable(f.expires_at);
  o["filename"] = f.filename;
  o["purpose"] = f.purpose;
  o["status"] = "processed";
  o["status_details"] = nullptr;
  return o;
}

ojson list_object(ojson data, bool has_more) {
  ojson first = nullptr, last = nullptr;
  if (!data.empty()) {
    first = data.front()["id"];
    last = data.back()["id"];
  }
  ojson o;
  o["object"] = "list";
  o["data"] = std::move(data);
  o["first_id"] = std::move(first);
  o["last_id"] = std::move(last);
  o["has_more"] = has_more;
  return o;
}

Result<BatchCreateRequest> parse_batch_create(const ojson& body, const Limits& limits) {
  if (!body.is_object()) return Status::invalid_request("The request body must be a JSON object.");
  BatchCreateRequest r;
  auto input_file_id = required_string(body, "input_file_id");
  if (!input_file_id) return input_file_id.status();
  r.input_file_id = std::move(input_file_id).value();
  auto endpoint = required_string(body, "endpoint");
  if (!endpoint) return endpoint.status();
  if (!is_batch_endpoint(*endpoint)) {
    return invalid_value("endpoint", "Invalid value: '" + *endpoint +
                                         "'. Supported values are: " + batch_endpoints_phrase() + ".");
  }
  r.endpoint = std::move(endpoint).value();
  auto window = required_string(body, "completion_window");
  if (!window) return window.status();
  if (*window != "24h") {
    return invalid_value("completion_window",
                         "Invalid value: '" + *window + "'. Supported values are: '24h'.");
  }
  r.completion_window = std::move(window).value();
  r.metadata = body.value("metadata", ojson());
  if (Status s = check_metadata(r.metadata, limits); !s) return s;
  auto output_expires_after = parse_expires_after(body, "output_expires_after", limits);
  if (!output_expires_after) return output_expires_after.status();
  r.output_expires_after_seconds = *output_expires_after;
  return r;
}

Status check_upload_purpose(const std::string& purpose) {
  static const std::unordered_set<std::string> kPurposes = {"batch",  "assistants", "fine-tune",
                                                            "vision", "user_data",  "evals"};
  if (kPurposes.count(purpose)) return Status::ok();
  return invalid_value("purpose",
                       "Invalid value for 'purpose': '" + purpose +
                           "'. Supported values are: 'batch', 'assistants', 'fine-tune', 'vision', "
                           "'user_data' and 'evals'.");
}

Status check_upload_expires_after(int64_t seconds, const Limits& limits) {
  if (seconds >= limits.min_expires_after_seconds && seconds <= limits.max_expires_after_seconds) {
    return Status::ok();
  }
  return invalid_value("expires_after[seconds]",
                       "Invalid 'expires_after[seconds]': " + expires_range(limits));
}

}  // namespace openbatch::openai
