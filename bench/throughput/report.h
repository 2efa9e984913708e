// The benchmark's table: one row a system and workload, with the ratios of openbatch to the others.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "systems.h"

namespace openbatch::bench {

// The best of one system's runs on one workload, or why it has none.
struct Row {
  std::string workload;
  std::string system;
  std::optional<Measurement> best;
  std::string error;
};

// A Markdown table (readable as is in a terminal) of rows, grouped by workload, with
// openbatch/llama-server and openbatch/ceiling ratios of requests a second on openbatch's rows.
std::string format_table(const std::vector<Row>& rows);

// Lines that warn where a ratio is not valid: tokens generated differ between the systems of a
// workload, or answers fell short of their max_tokens, or requests failed. Empty when all is well.
// fixed_lengths false (json_object answers end by themselves): only failures are checked.
std::vector<std::string> validity_warnings(const std::vector<Row>& rows, long expected_generated,
                                           bool fixed_lengths = true);

}  // namespace openbatch::bench
