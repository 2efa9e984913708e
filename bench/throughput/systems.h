// The three systems the throughput benchmark runs the same workload through: openbatch's Batch API
// end to end, llama.cpp's llama-server fed by a concurrent client, and llama-batched-bench (the
// engine's ceiling for the same shapes).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "child_process.h"
#include "common/status.h"
#include "workload.h"

namespace openbatch::bench {

// What one system did with one workload.
struct Measurement {
  std::string system;   // "openbatch", "llama-server", "batched-bench"
  std::string setting;  // the parallelism it ran with
  double wall_seconds = 0;
  long requests = 0;          // answered
  long failed = 0;            // requests without an answer
  long short_answers = 0;     // answers with fewer tokens than their max_tokens
  long prompt_tokens = 0;     // as the usage of the answers reports them
  long cached_tokens = 0;     // prompt tokens served from a cache
  long generated_tokens = 0;  // completion tokens
  long peak_rss_kib = 0;      // of the server or tool process

  double per_second(long count) const { return wall_seconds > 0 ? count / wall_seconds : 0; }
};

// Where the programs and the model are, and how they run.
struct BenchEnv {
  std::string model_path;
  std::string model_id = "bench";
  std::string work_dir;  // logs, batch files and openbatch's data directory
  std::string openbatch_bin;
  std::vector<std::string> openbatch_flags;  // more `openbatch serve` flags (e.g. --cascade off)
  std::string llama_server_bin;
  std::string batched_bench_bin;
  int threads = 1;
  bool gpu = false;
  int ctx_per_sequence = 1024;  // KV cells llama-server and batched-bench give each sequence
};

// Upload, batch, poll, download on a fresh `openbatch serve`. parallel 0: openbatch's own choice.
Result<Measurement> run_openbatch(const BenchEnv& env, const Workload& workload, int parallel);

// `llama-server --parallel P` with prompt caching (its default), fed by 2P concurrent requests.
Result<Measurement> run_llama_server(const BenchEnv& env, const Workload& workload, int parallel);

// A one-slot llama-server on the model that counts tokens of texts in the model's vocabulary (its
// /tokenize), so that the workload's lengths are the model's tokens.
class TokenCountingServer {
 public:
  static Result<std::unique_ptr<TokenCountingServer>> start(const BenchEnv& env);
  Result<int> count(const std::string& text);

 private:
  TokenCountingServer(std::unique_ptr<ChildProcess> server, int port)
      : server_(std::move(server)), port_(port) {}
  std::unique_ptr<ChildProcess> server_;
  int port_;
};

// `llama-batched-bench` at prompt/generation lengths and each parallel size; the fastest is scaled to
// the workload's request count.
Result<Measurement> run_batched_bench(const BenchEnv& env, int requests, int prompt_tokens, int generated,
                                      const std::vector<int>& parallel);

// Adds one answer's usage (a chat.completion body) to m. max_tokens: what the request asked for.
void count_answer(const nlohmann::json& completion, int max_tokens, Measurement& m);

}  // namespace openbatch::bench
