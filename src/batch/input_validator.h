// Validation of a batch input file: every line is checked (JSON, custom_id, method, url, body, model)
// and every problem is reported with its line, with OpenAI's error codes. Uses simdjson, so validating
// costs little more than parsing; bodies are not kept, only where each line lies in the file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "blobs/blobs.h"
#include "openai/endpoints.h"
#include "openai/limits.h"
#include "store/store.h"

namespace openbatch::batch {

struct ValidationLimits {
  // Every line's url must be this; its row of the endpoint table (openai/endpoint_table.h) says the
  // field each body must carry. REQUIRES: a row of that table.
  std::string endpoint = openai::kChatCompletionsEndpoint;
  // Names the server serves a model under (ModelInfo id and aliases). Every line must name the same
  // one, spelled the same way: the first served name seen is the batch's model.
  std::vector<std::string> models;
  // The server's limits of a batch input (openai::Limits, where their defaults are set).
  int64_t max_requests = openai::Limits{}.max_batch_requests;
  int64_t max_bytes = openai::Limits{}.max_batch_input_bytes;
  size_t max_errors = 1000;  // later errors are not reported (the batch fails either way)
};

struct ValidatedInput {
  std::string model;                           // as the lines name it
  std::vector<store::RequestRecord> requests;  // one per non-blank line, in order
  std::vector<store::BatchError> errors;       // empty: the input is accepted
};

// Checks the input file read from input. Whitespace-only lines are skipped; a UTF-8 byte order mark is
// allowed. Codes: invalid_json_line, missing_required_parameter, invalid_request, invalid_url,
// streaming_unsupported, model_not_found, mismatched_model, duplicate_custom_id, too_many_requests,
// file_too_large, empty_file.
ValidatedInput validate_input(const blobs::BlobReader& input, const ValidationLimits& limits);
// The same for bytes in memory (tests, benchmarks).
ValidatedInput validate_input(std::string_view data, const ValidationLimits& limits);

}  // namespace openbatch::batch
