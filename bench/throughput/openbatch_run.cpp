// The openbatch side: a fresh `openbatch serve`, then the guide's workflow through the Batch API.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "child_process.h"
#include "client/openai_client.h"
#include "systems.h"

namespace openbatch::bench {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::vector<std::string> serve_command(const BenchEnv& env, const std::string& data_dir, int parallel) {
  std::vector<std::string> argv = {env.openbatch_bin, "serve",
                                   "--model",         env.model_path,
                                   "--model-id",      env.model_id,
                                   "--host",          "127.0.0.1",
                                   "--port",          "0",
                                   "--data-dir",      data_dir,
                                   "--threads",       std::to_string(env.threads),
                                   "--gpu-layers",    env.gpu ? "999" : "0"};
  if (parallel > 0) {
    argv.insert(argv.end(), {"--parallel", std::to_string(parallel)});
  }
  argv.insert(argv.end(), env.openbatch_flags.begin(), env.openbatch_flags.end());
  return argv;
}

Result<json> wait_until_done(client::OpenAiClient& api, const std::string& batch_id) {
  while (true) {
    auto batch = api.get_batch(batch_id);
    if (!batch) return batch.status();
    const std::string status = (*batch)["status"].get<std::string>();
    if (status == "completed") return batch;
    if (status == "failed" || status == "expired" || status == "cancelled") {
      return Status::internal("the batch ended " + status + ": " + batch->dump());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// Counts the output file's answers into m; every request that is not there counts as failed.
Status count_output(const std::string& output, const Workload& workload, Measurement& m) {
  std::unordered_map<std::string, int> max_tokens;
  for (const BenchRequest& r : workload.requests) max_tokens[r.custom_id] = r.max_tokens;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("custom_id")) return Status::internal("bad output line: " + line);
    auto it = max_tokens.find(j["custom_id"].get<std::string>());
    if (it == max_tokens.end() || j["response"]["status_code"] != 200) continue;
    count_answer(j["response"]["body"], it->second, m);
  }
  m.failed = static_cast<long>(workload.requests.size()) - m.requests;
  return Status::ok();
}

std::string setting_from_log(const ChildProcess& server, int parallel) {
  if (parallel > 0) return "--parallel " + std::to_string(parallel);
  std::ifstream in(server.log_path());
  std::string line;
  const std::regex ready(R"(ready: (\d+) parallel sequences of \d+ tokens in (\d+) context)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, ready)) {
      return "parallel " + m[1].str() + " in " + m[2].str() + " context" + (m[2].str() == "1" ? "" : "s") +
             " (its own)";
    }
  }
  return "its own parallel";
}

}  // namespace

Result<Measurement> run_openbatch(const BenchEnv& env, const Workload& workload, int parallel) {
  const std::string tag = std::string("openbatch-") + (workload.kind == WorkloadKind::kDistinct ? "d" : "s");
  const std::string data_dir = env.work_dir + "/" + tag + "-data";
  std::filesystem::remove_all(data_dir);
  const std::string input = env.work_dir + "/" + tag + "-input.jsonl";
  if (Status s = write_batch_input(workload, input); !s) return s;

  auto server =
      ChildProcess::start(serve_command(env, data_dir, parallel), env.work_dir + "/" + tag + ".log");
  if (!server) return server.status();
  auto port = (*server)->wait_for_log(std::regex(R"(listening on http://127\.0\.0\.1:(\d+))"),
                                      std::chrono::seconds(300));
  if (!port) return port.status();

  client::ClientOptions options;
  options.base_url = "http://127.0.0.1:" + *port + "/v1";
  client::OpenAiClient api(options);
  Measurement m;
  m.system = "openbatch";
  m.setting = setting_from_log(**server, parallel);
  for (const std::string& flag : env.openbatch_flags) m.setting += " " + flag;

  const auto start = Clock::now();
  auto file = api.upload_file(input, "batch");
  if (!file) return Status::internal("upload failed: " + file.status().message());
  auto batch = api.create_batch((*file)["id"].get<std::string>(), "/v1/chat/completions", "24h", {});
  if (!batch) return Status::internal("create batch failed: " + batch.status().message());
  auto done = wait_until_done(api, (*batch)["id"].get<std::string>());
  if (!done) return done.status();
  std::string output;
  if ((*done)["output_file_id"].is_string()) {
    auto content = api.file_content((*done)["output_file_id"].get<std::string>());
    if (!content) return Status::internal("download failed: " + content.status().message());
    output = std::move(content).value();
  }
  m.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();

  m.peak_rss_kib = (*server)->peak_rss_kib();
  (*server)->stop(std::chrono::seconds(10));
  if (Status s = count_output(output, workload, m); !s) return s;
  return m;
}

}  // namespace openbatch::bench
