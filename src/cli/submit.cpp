// `openbatch submit`: uploads a batch input file, creates the batch and prints its id; with --wait,
// watches it to the end (guide steps 4 and 5).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli/batch_watch.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "client/openai_client.h"
#include "openai/endpoints.h"

namespace openbatch::cli {
namespace {

struct SubmitOptions {
  std::string input;
  std::string endpoint = openai::kChatCompletionsEndpoint;
  std::string completion_window = "24h";
  std::vector<std::string> metadata;
  bool wait = false;
  double poll_seconds = 2.0;
  bool json = false;
};

int submit(const SubmitOptions& o) {
  std::map<std::string, std::string> metadata;
  for (const std::string& kv : o.metadata) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "submit: --metadata takes KEY=VALUE, not '%s'\n", kv.c_str());
      return kExitUsage;
    }
    metadata[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  client::OpenAiClient client(client::options_from_environment());
  Result<nlohmann::json> file = client.upload_file(o.input, "batch");
  if (!file) return report_failure("submit", file.status());
  const std::string file_id = file->value("id", "");
  std::fprintf(stderr, "submit: uploaded %s as %s\n", o.input.c_str(), file_id.c_str());
  Result<nlohmann::json> batch = client.create_batch(file_id, o.endpoint, o.completion_window, metadata);
  if (!batch) return report_failure("submit", batch.status());
  const std::string batch_id = batch->value("id", "");
  // The id alone on stdout, so that scripts can capture it: BATCH=$(openbatch submit tasks.jsonl).
  if (o.json) {
    std::printf("%s\n", batch->dump(2).c_str());
  } else {
    std::printf("%s\n", batch_id.c_str());
  }
  std::fflush(stdout);
  if (!o.wait) return kExitOk;
  return watch_batch(client, batch_id, o.poll_seconds);
}

}  // namespace

void register_submit(CLI::App& app) {
  auto o = std::make_shared<SubmitOptions>();
  CLI::App* cmd = app.add_subcommand(
      "submit", "Upload a batch input file and create a batch; print its id (and, with --wait, watch it)");
  cmd->footer(
      "Example:\n"
      "  OPENAI_BASE_URL=http://127.0.0.1:8080/v1 openbatch submit tasks.jsonl --metadata job=movies --wait\n"
      "Uses OPENAI_BASE_URL (default https://api.openai.com/v1) and OPENAI_API_KEY.\n"
      "Exit codes with --wait: 0 completed, 3 failed, 4 expired, 5 cancelled, 6 stopped watching (Ctrl-C),\n"
      "1 server or network error, 2 bad arguments.");
  cmd->add_option("input", o->input, "Batch input file (JSONL, one request a line)")
      ->required()
      ->check(CLI::ExistingFile);
  // Not checked here: another server (OpenAI's) may serve endpoints that openbatch does not.
  cmd->add_option("--endpoint", o->endpoint,
                  "Endpoint of every request (openbatch serves " + openai::batch_endpoints_phrase() + ")")
      ->capture_default_str();
  cmd->add_option("--completion-window", o->completion_window, "Completion window")->capture_default_str();
  cmd->add_option("--metadata", o->metadata, "KEY=VALUE attached to the batch; repeat for more");
  cmd->add_flag("--wait,-w", o->wait, "Watch the batch until it ends; the exit code says how it ended");
  cmd->add_option("--poll", o->poll_seconds, "Seconds between status checks with --wait")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Print the created batch object instead of its id");
  cmd->callback([o] {
    if (const int rc = submit(*o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace openbatch::cli
