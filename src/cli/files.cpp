// `openbatch files ls|show|rm`: the files on the server.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "client/openai_client.h"

namespace openbatch::cli {
namespace {

struct FilesOptions {
  std::string id;
  bool json = false;
};

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "-";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

int list(const FilesOptions& o) {
  client::OpenAiClient client(client::options_from_environment());
  Result<nlohmann::json> files = client.list_files();
  if (!files) return report_failure("files", files.status());
  if (o.json) {
    std::printf("%s\n", files->dump(2).c_str());
    return kExitOk;
  }
  std::printf("%-36s %-14s %12s  %s\n", "ID", "PURPOSE", "BYTES", "FILENAME");
  for (const auto& f : *files) {
    std::printf("%-36s %-14s %12s  %s\n", str(f, "id").c_str(), str(f, "purpose").c_str(),
                str(f, "bytes").c_str(), str(f, "filename").c_str());
  }
  return kExitOk;
}

int show(const FilesOptions& o, bool remove) {
  client::OpenAiClient client(client::options_from_environment());
  Result<nlohmann::json> f = remove ? client.delete_file(o.id) : client.get_file(o.id);
  if (!f) return report_failure("files", f.status());
  if (o.json) {
    std::printf("%s\n", f->dump(2).c_str());
  } else if (remove) {
    std::printf("deleted %s\n", o.id.c_str());
  } else {
    for (const char* key : {"id", "purpose", "filename", "bytes", "created_at", "status"}) {
      std::printf("%-10s %s\n", (std::string(key) + ":").c_str(), str(*f, key).c_str());
    }
  }
  return kExitOk;
}

void run_or_throw(int rc) {
  if (rc != 0) throw CLI::RuntimeError(rc);
}

}  // namespace

void register_files(CLI::App& app) {
  auto o = std::make_shared<FilesOptions>();
  CLI::App* cmd = app.add_subcommand("files", "List, show or delete files on the server");
  cmd->require_subcommand(1);
  cmd->footer(
      "Examples:\n"
      "  openbatch files ls --json | jq -r '.[] | select(.purpose==\"batch_output\") | .id'\n"
      "  openbatch files rm file-abc123\n"
      "Uses OPENAI_BASE_URL and OPENAI_API_KEY. Exits 1 on a server or network error (an unknown id too).");
  CLI::App* ls = cmd->add_subcommand("ls", "List files");
  ls->add_flag("--json", o->json, "Print the file objects as a JSON array");
  ls->callback([o] { run_or_throw(list(*o)); });
  CLI::App* show_cmd = cmd->add_subcommand("show", "Show one file's metadata");
  show_cmd->add_option("id", o->id, "File id")->required();
  show_cmd->add_flag("--json", o->json, "Print the file object as JSON");
  show_cmd->callback([o] { run_or_throw(show(*o, false)); });
  CLI::App* rm = cmd->add_subcommand("rm", "Delete a file");
  rm->add_option("id", o->id, "File id")->required();
  rm->add_flag("--json", o->json, "Print the deletion object as JSON");
  rm->callback([o] { run_or_throw(show(*o, true)); });
}

}  // namespace openbatch::cli
