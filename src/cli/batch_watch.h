// Watching a batch until it ends: shared by `openbatch submit --wait` and `openbatch batches wait`.
#pragma once

#include <string>

#include "client/openai_client.h"

namespace openbatch::cli {

// Polls the batch every poll_seconds and shows its progress on stderr until it reaches a final state.
// Ctrl-C: on a terminal, asks whether to cancel the batch or only stop watching; elsewhere stops
// watching. Returns the exit code (cli/exit_codes.h) for how the batch ended.
int watch_batch(client::OpenAiClient& client, const std::string& batch_id, double poll_seconds);

// The exit code for a batch's status: completed 0, failed 3, expired 4, cancelled/cancelling 5.
int exit_code_for_status(const std::string& status);

}  // namespace openbatch::cli
