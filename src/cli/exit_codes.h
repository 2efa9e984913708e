// The exit codes of every openbatch subcommand, which scripts may rely on (docs/command-line.md).
#pragma once

#include <cstdio>

#include "common/status.h"

namespace openbatch::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;      // the server or a file could not be used (network, API error, I/O)
inline constexpr int kExitUsage = 2;      // bad options or arguments, or input data that cannot be used
inline constexpr int kExitFailed = 3;     // the batch ended `failed`
inline constexpr int kExitExpired = 4;    // the batch ended `expired`
inline constexpr int kExitCancelled = 5;  // the batch ended `cancelled` (or is `cancelling`)
inline constexpr int kExitStopped = 6;    // stopped watching (Ctrl-C); the batch goes on running
inline constexpr int kExitInterrupted = 130;  // `run` stopped by SIGINT/SIGTERM; run it again to continue

// Prints "COMMAND: message" on stderr and returns kExitError.
inline int report_failure(const char* command, const Status& status) {
  std::fprintf(stderr, "%s: %s\n", command, status.message().c_str());
  return kExitError;
}

}  // namespace openbatch::cli
