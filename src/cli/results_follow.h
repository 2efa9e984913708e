// `openbatch results ID --follow`: prints a batch's result lines as they finish, then the rest once it
// has ended.
#pragma once

#include <string>

#include "client/openai_client.h"

namespace openbatch::cli {

// Polls GET /batches/{id}/output every poll_seconds and writes each new line to out_path (stdout when
// empty; the file is replaced, then appended to line by line), output lines only unless with_errors.
// Once the batch has ended, the lines of its output (and error) file not yet written follow, so every
// result is written exactly once. Returns the exit code (kExitOk once the batch has ended, whatever its
// status; kExitError on a server, network or file error).
int follow_results(client::OpenAiClient& client, const std::string& batch_id, bool with_errors,
                   const std::string& out_path, double poll_seconds);

}  // namespace openbatch::cli
