// The objects of OpenAI's Files and Batches APIs: the batch, file and list objects written with their
// keys in OpenAI's order (id and object first; metadata in the order the client gave it), and the
// checks of what a client sends (POST /v1/batches bodies, upload purposes and expiries).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/status.h"
#include "openai/limits.h"
#include "store/store.h"

namespace openbatch::openai {

nlohmann::ordered_json batch_object(const store::BatchRecord& batch);
nlohmann::ordered_json file_object(const store::FileRecord& file);
// {"object": "list", "data", "first_id", "last_id", "has_more"} around objects that each have an "id".
nlohmann::ordered_json list_object(nlohmann::ordered_json data, bool has_more);

// What a valid POST /v1/batches body asks for.
struct BatchCreateRequest {
  std::string input_file_id;
  std::string endpoint;
  std::string completion_window;    // "24h"
  nlohmann::ordered_json metadata;  // an object of string values, or null
  std::optional<int64_t> output_expires_after_seconds;
};

// Checks a POST /v1/batches body as OpenAI does: 400 with OpenAI's code and param for a missing or
// mistyped field, an endpoint other than a batch endpoint, a window other than "24h", metadata past
// the limits, an output_expires_after out of range.
Result<BatchCreateRequest> parse_batch_create(const nlohmann::ordered_json& body, const Limits& limits);

// 400 invalid_value unless purpose is one a client may upload ("batch_output" is the server's own).
Status check_upload_purpose(const std::string& purpose);
// 400 invalid_value unless seconds is within the limits of expires_after[seconds].
Status check_upload_expires_after(int64_t seconds, const Limits& limits);

}  // namespace openbatch::openai
