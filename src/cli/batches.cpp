// `openbatch batches ls|show|cancel|wait`: the batches on the server.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

#include "cli/batch_watch.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "client/openai_client.h"

namespace openbatch::cli {
namespace {

struct BatchesOptions {
  std::string id;
  bool json = false;
  double poll_seconds = 2.0;
};

std::string time_text(const nlohmann::json& t) {
  if (!t.is_number_integer()) return "-";
  const std::time_t secs = t.get<std::time_t>();
  char buf[32];
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "-";
}

std::string counts(const nlohmann::json& b) {
  const nlohmann::json rc = b.value("request_counts", nlohmann::json::object());
  return std::to_string(rc.value("completed", 0)) + "/" + std::to_string(rc.value("total", 0)) + " done, " +
         std::to_string(rc.value("failed", 0)) + " failed";
}

int list(const BatchesOptions& o) {
  client::OpenAiClient client(client::options_from_environment());
  Result<nlohmann::json> batches = client.list_batches();
  if (!batches) return report_failure("batches", batches.status());
  if (o.json) {
    std::printf("%s\n", batches->dump(2).c_str());
    return kExitOk;
  }
  std::printf("%-40s %-12s %-28s %s\n", "ID", "STATUS", "REQUESTS", "CREATED (UTC)");
  for (const auto& b : *batches) {
    std::printf("%-40s %-12s %-28s %s\n", str(b, "id").c_str(), str(b, "status").c_str(), counts(b).c_str(),
                time_text(b.value("created_at", nlohmann::json())).c_str());
  }
  return kExitOk;
}

void print_batch(const nlohmann::json& b) {
  std::printf("id:             %s\n", str(b, "id").c_str());
  std::printf("status:         %s\n", str(b, "status").c_str());
  std::printf("endpoint:       %s\n", str(b, "endpoint").c_str());
  std::printf("requests:       %s\n", counts(b).c_str());
  std::printf("input file:     %s\n", str(b, "input_file_id").c_str());
  std::printf("output file:    %s\n", str(b, "output_file_id").c_str());
  std::printf("error file:     %s\n", str(b, "error_file_id").c_str());
  std::printf("created:        %s\n", time_text(b.value("created_at", nlohmann::json())).c_str());
  std::printf("expires:        %s\n", time_text(b.value("expires_at", nlohmann::json())).c_str());
  if (auto u = b.find("usage"); u != b.end() && u->is_object()) {
    std::printf("tokens:         %lld in, %lld out\n", static_cast<long long>(u->value("input_tokens", 0LL)),
                static_cast<long long>(u->value("output_tokens", 0LL)));
  }
  if (auto m = b.find("metadata"); m != b.end() && m->is_object() && !m->empty()) {
    std::printf("metadata:       %s\n", m->dump().c_str());
  }
  if (auto e = b.find("errors"); e != b.end() && e->is_object() && (*e)["data"].is_array()) {
    for (const auto& err : (*e)["data"]) std::printf("error:          %s\n", err.dump().c_str());
  }
}

int show(const BatchesOptions& o, bool cancel) {
  client::OpenAiClient client(client::options_from_environment());
  Result<nlohmann::json> b = cancel ? client.cancel_batch(o.id) : client.get_batch(o.id);
  if (!b) return report_failure("batches", b.status());
  if (o.json) {
    std::printf("%s\n", b->dump(2).c_str());
  } else {
    print_batch(*b);
  }
  return kExitOk;
}

int wait(const BatchesOptions& o) {
  client::OpenAiClient client(client::options_from_environment());
  const int rc = watch_batch(client, o.id, o.poll_seconds);
  if (o.json && rc != kExitError && rc != kExitStopped) {
    if (Result<nlohmann::json> b = client.get_batch(o.id)) std::printf("%s\n", b->dump(2).c_str());
  }
  return rc;
}

CLI::App* add_id_command(CLI::App* parent, const std::shared_ptr<BatchesOptions>& o, const char* name,
                         const char* help) {
  CLI::App* cmd = parent->add_subcommand(name, help);
  cmd->add_option("id", o->id, "Batch id")->required();
  cmd->add_flag("--json", o->json, "Print the batch object as JSON");
  return cmd;
}

void run_or_throw(int rc) {
  if (rc != 0) throw CLI::RuntimeError(rc);
}

}  // namespace

void register_batches(CLI::App& app) {
  auto o = std::make_shared<BatchesOptions>();
  CLI::App* cmd = app.add_subcommand("batches", "List, show, cancel or wait for batches on the server");
  cmd->require_subcommand(1);
  cmd->footer(
      "Examples:\n"
      "  openbatch batches ls\n"
      "  openbatch batches wait batch_abc123 && openbatch results batch_abc123 -o out.jsonl\n"
      "Uses OPENAI_BASE_URL and OPENAI_API_KEY. `wait` exits 0 completed, 3 failed, 4 expired, 5 cancelled,\n"
      "6 stopped watching; every command exits 1 on a server or network error.");
  CLI::App* ls = cmd->add_subcommand("ls", "List batches, newest first");
  ls->add_flag("--json", o->json, "Print the batch objects as a JSON array");
  ls->callback([o] { run_or_throw(list(*o)); });
  add_id_command(cmd, o, "show", "Show one batch")->callback([o] { run_or_throw(show(*o, false)); });
  add_id_command(cmd, o, "cancel", "Cancel a batch")->callback([o] { run_or_throw(show(*o, true)); });
  CLI::App* w = add_id_command(cmd, o, "wait", "Watch a batch until it ends (progress on stderr)");
  w->add_option("--poll", o->poll_seconds, "Seconds between status checks")->capture_default_str();
  w->callback([o] { run_or_throw(wait(*o)); });
}

}  // namespace openbatch::cli
