// The ceiling: llama-batched-bench decodes P sequences of the workload's mean prompt and generation
// lengths with nothing above the engine (no HTTP, no sampling, every prompt computed in full).
#include <chrono>
#include <fstream>
#include <sstream>

#include "child_process.h"
#include "systems.h"

namespace openbatch::bench {

namespace {

using nlohmann::json;

std::string join(const std::vector<int>& values) {
  std::string s;
  for (int v : values) s += (s.empty() ? "" : ",") + std::to_string(v);
  return s;
}

std::vector<std::string> tool_command(const BenchEnv& env, int prompt_tokens, int generated,
                                      const std::vector<int>& parallel) {
  const int most = *std::max_element(parallel.begin(), parallel.end());
  const std::string threads = std::to_string(env.threads);
  return {env.batched_bench_bin,
          "--model",
          env.model_path,
          "--ctx-size",
          std::to_string(most * (prompt_tokens + generated) + 256),
          "-npp",
          std::to_string(prompt_tokens),
          "-ntg",
          std::to_string(generated),
          "-npl",
          join(parallel),
          "--threads",
          threads,
          "--threads-batch",
          threads,
          "--n-gpu-layers",
          env.gpu ? "999" : "0",
          "--output-format",
          "jsonl"};
}

// The rows of the tool's JSONL output: {"pp", "tg", "pl", "t", ...} a parallel size.
std::vector<json> result_rows(const std::string& log_path) {
  std::ifstream in(log_path);
  std::vector<json> rows;
  std::string line;
  while (std::getline(in, line)) {
    const size_t brace = line.find("{\"n_kv_max\"");
    if (brace == std::string::npos) continue;
    json row = json::parse(line.substr(brace), nullptr, false);
    if (!row.is_discarded() && row.contains("pl") && row.contains("t")) rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

Result<Measurement> run_batched_bench(const BenchEnv& env, int requests, int prompt_tokens, int generated,
                                      const std::vector<int>& parallel) {
  const std::string log = env.work_dir + "/batched-bench-" + std::to_string(prompt_tokens) + ".log";
  auto tool = ChildProcess::start(tool_command(env, prompt_tokens, generated, parallel), log);
  if (!tool) return tool.status();
  auto exit = (*tool)->wait(std::chrono::seconds(3600));
  if (!exit) return exit.status();
  if (exit->status != 0) {
    return Status::internal("llama-batched-bench ended with " + exit->description + ". Its log ends with:\n" +
                            (*tool)->log_tail());
  }
  const std::vector<json> rows = result_rows(log);
  if (rows.empty()) {
    return Status::internal("no results in llama-batched-bench's output. Its log ends with:\n" +
                            (*tool)->log_tail());
  }
  // The parallel size with the most requests a second, scaled to the workload's request count.
  const json* best = &rows.front();
  for (const json& row : rows) {
    if (row["pl"].get<double>() / row["t"].get<double>() >
        (*best)["pl"].get<double>() / (*best)["t"].get<double>()) {
      best = &row;
    }
  }
  Measurement m;
  m.system = "batched-bench";
  m.setting = "-npl " + std::to_string((*best)["pl"].get<int>());
  m.requests = requests;
  m.wall_seconds = requests * (*best)["t"].get<double>() / (*best)["pl"].get<double>();
  m.prompt_tokens = static_cast<long>(requests) * prompt_tokens;
  m.generated_tokens = static_cast<long>(requests) * generated;
  m.peak_rss_kib = exit->max_rss_kib;
  return m;
}

}  // namespace openbatch::bench
