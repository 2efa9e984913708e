// The prompt tokens of a batch: what it holds of its owner's enqueued-token limit while it has not ended
// (serve --max-enqueued-tokens), counted once, when the batch is validated.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "blobs/blobs.h"
#include "common/status.h"
#include "engine/engine.h"
#include "store/store.h"

namespace openbatch::batch {

// Sums the prompt tokens of each request's body (openai::count_endpoint_prompt_tokens) read from input,
// on engine's model named model; for a model engine does not serve (another node of the fleet does),
// OpenAI's estimate (engine::estimate_prompt_tokens). A line the engine cannot count (a body it refuses,
// a prompt past the context) counts 0: it ends in the error file without running. Unavailable when input
// cannot be read now (the caller tries again later).
// REQUIRES: requests came from validate_input of input for endpoint, naming model.
Result<int64_t> count_batch_prompt_tokens(engine::Engine& engine, std::string_view model,
                                          std::string_view endpoint, const blobs::BlobReader& input,
                                          const std::vector<store::RequestRecord>& requests);

}  // namespace openbatch::batch
