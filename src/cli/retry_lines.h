// Which lines of a finished batch `openbatch retry` runs again: a pure function over the batch's input
// and output files, tested without a server.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace openbatch::cli {

struct RetryLines {
  std::string jsonl;     // the input lines to run again, byte for byte as first sent, in input order
  size_t lines = 0;      // how many
  size_t succeeded = 0;  // input lines with a 200 answer in the output, left out
};

// The lines of input (a batch input file: one JSON request with a custom_id a line) that have no
// successful answer in output (the batch's output file, possibly empty): those that failed (their
// answers are in the error file, or in the output with a status other than 200) and those that never
// ran (the batch expired or was cancelled first). 400 invalid_request when an input line is not a JSON
// object with a string custom_id (naming the line).
Result<RetryLines> lines_to_retry(std::string_view input, std::string_view output);

}  // namespace openbatch::cli
