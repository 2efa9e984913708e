#include "cli/batch_watch.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include "cli/exit_codes.h"
#include "cli/progress_line.h"

namespace openbatch::cli {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;

void on_sigint(int) { g_interrupted = 1; }

// Installs on_sigint for the life of the object, without SA_RESTART so that a pending read returns.
class SigintCatcher {
 public:
  SigintCatcher() {
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &previous_);
    g_interrupted = 0;
  }
  ~SigintCatcher() { sigaction(SIGINT, &previous_, nullptr); }

 private:
  struct sigaction previous_ {};
};

bool is_final(const std::string& status) {
  return status == "completed" || status == "failed" || status == "expired" || status == "cancelled";
}

Progress progress_of(const nlohmann::json& batch) {
  Progress p;
  p.label = batch.value("id", "");
  p.status = batch.value("status", "");
  if (auto rc = batch.find("request_counts"); rc != batch.end() && rc->is_object()) {
    p.done = rc->value("completed", int64_t{0});
    p.failed = rc->value("failed", int64_t{0});
    p.total = rc->value("total", int64_t{0});
  }
  if (auto u = batch.find("usage"); u != batch.end() && u->is_object()) {
    p.output_tokens = u->value("output_tokens", int64_t{0});
  }
  return p;
}

// Asks on the terminal; true for yes.
bool ask_cancel(const std::string& id) {
  std::fprintf(stderr, "Cancel batch %s too? [y/N] ", id.c_str());
  std::fflush(stderr);
  g_interrupted = 0;
  char answer[16] = {0};
  if (!std::fgets(answer, sizeof answer, stdin)) {
    std::fputc('\n', stderr);
    return false;
  }
  return answer[0] == 'y' || answer[0] == 'Y';
}

}  // namespace

int exit_code_for_status(const std::string& status) {
  if (status == "completed") return kExitOk;
  if (status == "failed") return kExitFailed;
  if (status == "expired") return kExitExpired;
  if (status == "cancelled" || status == "cancelling") return kExitCancelled;
  return kExitError;
}

int watch_batch(client::OpenAiClient& client, const std::string& batch_id, double poll_seconds) {
  SigintCatcher catcher;
  const bool terminal = is_terminal(STDERR_FILENO);
  ProgressLine line(stderr, terminal);
  bool cancel_asked = false;
  int transient_errors = 0;
  for (;;) {
    Result<nlohmann::json> batch = client.get_batch(batch_id);
    if (!batch) {
      // A server restart or a dropped connection should not end the watch at once.
      if (batch.status().is_unavailable() && ++transient_errors < 30) {
        std::this_thread::sleep_for(std::chrono::duration<double>(poll_seconds));
        continue;
      }
      line.finish();
      std::fprintf(stderr, "openbatch: %s\n", batch.status().message().c_str());
      return kExitError;
    }
    transient_errors = 0;
    const Progress p = progress_of(*batch);
    const bool final = is_final(p.status);
    line.update(p, final);
    if (final) {
      line.finish();
      if (p.status != "completed") {
        std::string why;
        if (auto e = batch->find("errors"); e != batch->end() && e->is_object() && (*e)["data"].is_array()) {
          for (const auto& err : (*e)["data"]) {
            why += "\n  " + err.value("code", std::string()) + ": " + err.value("message", std::string());
            if (err.contains("line") && err["line"].is_number()) why += " (line " + err["line"].dump() + ")";
          }
        }
        std::fprintf(stderr, "openbatch: batch %s %s%s\n", batch_id.c_str(), p.status.c_str(), why.c_str());
      }
      return exit_code_for_status(p.status);
    }
    // Sleep in small steps so that Ctrl-C is answered at once.
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(poll_seconds);
    while (!g_interrupted && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (g_interrupted) {
      line.finish();
      if (!cancel_asked && is_terminal(STDIN_FILENO) && terminal && ask_cancel(batch_id)) {
        cancel_asked = true;
        Result<nlohmann::json> c = client.cancel_batch(batch_id);
        if (!c) {
          std::fprintf(stderr, "openbatch: %s\n", c.status().message().c_str());
          return kExitError;
        }
        std::fprintf(stderr, "openbatch: cancelling batch %s\n", batch_id.c_str());
        g_interrupted = 0;
        continue;  // watch it reach `cancelled`
      }
      std::fprintf(stderr, "openbatch: stopped watching; batch %s goes on (openbatch batches wait %s)\n",
                   batch_id.c_str(), batch_id.c_str());
      return kExitStopped;
    }
  }
}

}  // namespace openbatch::cli
