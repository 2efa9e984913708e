// Logs failures that are retried once per change of state, not once per try: the first failure of a
// piece of work, a failure with another message than the last, and the success that ends them (with
// how many tries failed). A full disk that lasts a minute makes two lines, not hundreds.
//
//   FailureLog log;  // to stderr, "openbatch: " first
//   if (Status s = store.record_results(r); !s) log.failed("store results", s); else log.succeeded("store
//   results");
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "common/status.h"

namespace openbatch {

class FailureLog {
 public:
  using Sink = std::function<void(const std::string& line)>;
  // sink receives each line (no newline); null: stderr, prefixed "openbatch: ".
  explicit FailureLog(Sink sink = nullptr);

  // what (e.g. "batch batch_1: finalize") failed with s and will be tried again. Logs when what was not
  // failing, or failed with another message. Thread-safe.
  void failed(const std::string& what, const Status& s);
  // what succeeded. Logs when it had failed ("... works again after N failed tries"). Thread-safe.
  void succeeded(const std::string& what);

 private:
  struct Failing {
    std::string message;
    int64_t tries = 0;
  };
  Sink sink_;
  std::mutex mu_;
  std::map<std::string, Failing> failing_;
};

}  // namespace openbatch
