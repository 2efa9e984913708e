// How the batch runner's threads name their work in the FailureLog and log what fails once.
// Internal to batch/.
#pragma once

#include <cstdio>
#include <string>

#include "common/status.h"

namespace openbatch::batch {

// "openbatch: batch ID: WHAT: MESSAGE" on stderr.
inline void log_batch_error(const std::string& batch_id, const std::string& what, const Status& s) {
  std::fprintf(stderr, "openbatch: batch %s: %s: %s\n", batch_id.c_str(), what.c_str(), s.message().c_str());
}

// The name of a piece of retried work in the FailureLog: "batch ID: WHAT" ("-" for work of no batch).
inline std::string work_name(const std::string& batch_id, const std::string& what) {
  return "batch " + batch_id + ": " + what;
}

}  // namespace openbatch::batch
