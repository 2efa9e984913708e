#include "batch/batch_prompt_tokens.h"

#include <nlohmann/json.hpp>
#include <string>

#include "openai/endpoints.h"

namespace openbatch::batch {

Result<int64_t> count_batch_prompt_tokens(engine::Engine& engine, std::string_view endpoint,
                                          const blobs::BlobReader& input,
                                          const std::vector<store::RequestRecord>& requests) {
  int64_t total = 0;
  std::string bytes;
  for (const store::RequestRecord& req : requests) {
    bytes.resize(static_cast<size_t>(req.length));
    auto n = input.read_at(req.offset, bytes.data(), bytes.size());
    if (!n) return n.status();
    if (*n != bytes.size()) return Status::internal("The batch's input file is shorter than it was.");
    const nlohmann::json line = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
    if (!line.is_object() || !line.contains("body")) continue;  // validate_input let none such through
    auto tokens = openai::count_endpoint_prompt_tokens(engine, endpoint, line["body"]);
    if (tokens) total += *tokens;
  }
  return total;
}

}  // namespace openbatch::batch
