// The lines of a batch's output and error files, shaped as OpenAI writes them.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"
#include "store/store.h"

namespace openbatch::batch {

// {"id": "batch_req_…", "custom_id", "response": {"status_code": 200, "request_id", "body"}, "error": null}
std::string output_line(const std::string& custom_id, const std::string& request_id,
                        const nlohmann::ordered_json& body);
// The same with the failure's status code and its OpenAI error envelope as the body.
std::string failed_line(const std::string& custom_id, const std::string& request_id, const Status& status);
// A request that never ran: {"id", "custom_id", "response": null, "error": {"code", "message"}}.
std::string unexecuted_line(const std::string& custom_id, const std::string& code,
                            const std::string& message);

// The usage a response body reports (chat.completion, text_completion, embeddings: prompt_tokens...;
// a Responses `response`: input_tokens...), in the batch's terms.
store::Usage usage_of(const nlohmann::ordered_json& body);

}  // namespace openbatch::batch
