#include "common/failure_log.h"

#include <cstdio>

namespace openbatch {

FailureLog::FailureLog(Sink sink) : sink_(std::move(sink)) {
  if (!sink_) sink_ = [](const std::string& line) { std::fprintf(stderr, "openbatch: %s\n", line.c_str()); };
}

void FailureLog::failed(const std::string& what, const Status& s) {
  std::string line;
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = failing_.try_emplace(what);
    ++it->second.tries;
    if (!inserted && it->second.message == s.message()) return;
    it->second.message = s.message();
    line = what + ": " + s.message() + " (retrying with back-off; logged again when this changes)";
  }
  sink_(line);
}

void FailureLog::succeeded(const std::string& what) {
  std::string line;
  {
    std::lock_guard lock(mu_);
    auto it = failing_.find(what);
    if (it == failing_.end()) return;
    line = what + ": works again after " + std::to_string(it->second.tries) + " failed tr" +
           (it->second.tries == 1 ? "y" : "ies");
    failing_.erase(it);
  }
  sink_(line);
}

}  // namespace openbatch
