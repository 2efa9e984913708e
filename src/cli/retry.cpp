// `openbatch retry BATCH_ID`: a new batch of the lines of a finished batch that failed or never ran
// (it expired or was cancelled first), with their original bodies and custom_ids, and
// metadata.retry_of naming the first batch; with --wait, watches it to the end.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "cli/batch_watch.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/retry_lines.h"
#include "client/openai_client.h"
#include "common/temp_dir.h"

namespace openbatch::cli {
namespace {

struct RetryOptions {
  std::string batch_id;
  bool wait = false;
  double poll_seconds = 2.0;
  bool json = false;
};

// The string values of a batch's metadata (OpenAI's are strings; others are left out).
std::map<std::string, std::string> string_metadata(const nlohmann::json& batch) {
  std::map<std::string, std::string> out;
  const auto m = batch.find("metadata");
  if (m == batch.end() || !m->is_object()) return out;
  for (const auto& [k, v] : m->items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

int retry(const RetryOptions& o) {
  client::OpenAiClient client(client::options_from_environment());
  Result<nlohmann::json> batch = client.get_batch(o.batch_id);
  if (!batch) return report_failure("retry", batch.status());
  const std::string status = batch->value("status", "");
  static const std::set<std::string> kFinal = {"completed", "failed", "expired", "cancelled"};
  if (kFinal.count(status) == 0) {
    std::fprintf(stderr, "retry: batch %s is %s; retry it once it has ended (openbatch batches wait %s)\n",
                 o.batch_id.c_str(), status.c_str(), o.batch_id.c_str());
    return kExitUsage;
  }
  Result<std::string> input = client.file_content(batch->value("input_file_id", ""));
  if (!input) return report_failure("retry", input.status());
  std::string output;
  if (const auto id = batch->find("output_file_id"); id != batch->end() && id->is_string()) {
    Result<std::string> content = client.file_content(id->get<std::string>());
    if (!content) return report_failure("retry", content.status());
    output = std::move(content).value();
  }
  Result<RetryLines> lines = lines_to_retry(*input, output);
  if (!lines) return report_failure("retry", lines.status());
  if (lines->lines == 0) {
    std::fprintf(stderr, "retry: every line of %s succeeded (%zu); nothing to run again\n",
                 o.batch_id.c_str(), lines->succeeded);
    return kExitOk;
  }
  TempDir dir;
  const std::string path = dir.path() + "/retry-of-" + o.batch_id + ".jsonl";
  {
    std::ofstream f(path, std::ios::binary);
    f << lines->jsonl;
    if (!f) return report_failure("retry", Status::internal("cannot write " + path));
  }
  Result<nlohmann::json> file = client.upload_file(path, "batch");
  if (!file) return report_failure("retry", file.status());
  std::map<std::string, std::string> metadata = string_metadata(*batch);
  metadata["retry_of"] = o.batch_id;
  Result<nlohmann::json> created =
      client.create_batch(file->value("id", ""), batch->value("endpoint", "/v1/chat/completions"),
                          batch->value("completion_window", "24h"), metadata);
  if (!created) return report_failure("retry", created.status());
  const std::string new_id = created->value("id", "");
  std::fprintf(stderr, "retry: %zu of %zu lines of %s (%s) run again as %s\n", lines->lines,
               lines->lines + lines->succeeded, o.batch_id.c_str(), status.c_str(), new_id.c_str());
  if (o.json) {
    std::printf("%s\n", created->dump(2).c_str());
  } else {
    std::printf("%s\n", new_id.c_str());
  }
  std::fflush(stdout);
  if (!o.wait) return kExitOk;
  return watch_batch(client, new_id, o.poll_seconds);
}

}  // namespace

void register_retry(CLI::App& app) {
  auto o = std::make_shared<RetryOptions>();
  CLI::App* cmd = app.add_subcommand(
      "retry", "Create a batch of the lines of a finished batch that failed or never ran; print its id");
  cmd->footer(
      "The lines keep their custom_ids and bodies; the new batch has the first one's endpoint, completion\n"
      "window and metadata, with metadata.retry_of set to its id. Nothing is created when every line\n"
      "succeeded.\n"
      "Example:\n"
      "  NEW=$(openbatch retry batch_abc123) && openbatch batches wait $NEW && openbatch results $NEW\n"
      "Uses OPENAI_BASE_URL (default https://api.openai.com/v1) and OPENAI_API_KEY.\n"
      "Exit codes: as submit's (with --wait: 0 completed, 3 failed, 4 expired, 5 cancelled); 2 when the\n"
      "batch has not ended yet.");
  cmd->add_option("batch", o->batch_id, "The finished batch")->required();
  cmd->add_flag("--wait,-w", o->wait, "Watch the new batch until it ends; the exit code says how it ended");
  cmd->add_option("--poll", o->poll_seconds, "Seconds between status checks with --wait")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Print the created batch object instead of its id");
  cmd->callback([o] {
    if (const int rc = retry(*o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace openbatch::cli
