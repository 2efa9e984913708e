// Child processes of the throughput benchmark (servers and llama.cpp's tools): each writes its output
// to a log file and is killed when the benchmark ends, however it ends (return, exception, SIGINT,
// SIGTERM, or the benchmark being killed: the child asks the kernel for SIGKILL when its parent dies).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "common/status.h"

namespace openbatch::bench {

struct ExitInfo {
  int status = 0;           // as waitpid reports it
  long max_rss_kib = 0;     // ru_maxrss of the child
  std::string description;  // "exit code 0", "signal 9"
};

class ChildProcess {
 public:
  // Starts argv[0] (a path) with stdout and stderr written to log_path (emptied first).
  static Result<std::unique_ptr<ChildProcess>> start(const std::vector<std::string>& argv,
                                                     const std::string& log_path);
  // Stops the process (SIGTERM, then SIGKILL) when it still runs.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

  // Waits until a line of the log matches pattern and returns its first capture group. Fails with the
  // log's tail when the process exits first or timeout passes.
  Result<std::string> wait_for_log(const std::regex& pattern, std::chrono::seconds timeout);
  // The peak resident set (VmHWM of /proc/PID/status) in KiB while the process runs; 0 when unknown.
  long peak_rss_kib() const;
  // Waits for the process to exit by itself; kills it and fails with the log's tail after timeout.
  Result<ExitInfo> wait(std::chrono::seconds timeout);
  // SIGTERM, up to grace for it to exit, then SIGKILL. Returns how it ended.
  ExitInfo stop(std::chrono::seconds grace);
  // The last `lines` lines of the log, for error messages.
  std::string log_tail(size_t lines = 30) const;

 private:
  ChildProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  bool reap(bool block, ExitInfo& info);

  pid_t pid_;
  std::string log_path_;
  bool exited_ = false;
  ExitInfo exit_;
};

// Installs SIGINT and SIGTERM handlers that kill every running child before the benchmark exits.
void kill_children_on_signals();

}  // namespace openbatch::bench
