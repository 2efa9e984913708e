// The llama-server side: `llama-server --parallel P` (continuous batching and its per-slot prompt
// cache on, as by default) and a client holding 2P requests in flight over /v1/chat/completions.
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "child_process.h"
#include "systems.h"

namespace openbatch::bench {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::vector<std::string> server_command(const BenchEnv& env, int parallel) {
  const std::string threads = std::to_string(env.threads);
  return {env.llama_server_bin,
          "--model",
          env.model_path,
          "--alias",
          env.model_id,
          "--host",
          "127.0.0.1",
          "--port",
          "0",
          "--parallel",
          std::to_string(parallel),
          "--ctx-size",
          std::to_string(parallel * env.ctx_per_sequence),
          "--threads",
          threads,
          "--threads-batch",
          threads,
          "--n-gpu-layers",
          env.gpu ? "999" : "0"};
}

Status wait_healthy(int port, ChildProcess& server) {
  httplib::Client http("127.0.0.1", port);
  for (int i = 0; i < 6000; ++i) {
    auto res = http.Get("/health");
    if (res && res->status == 200) return Status::ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::internal("llama-server never became healthy. Its log ends with:\n" + server.log_tail());
}

struct StartedServer {
  std::unique_ptr<ChildProcess> process;
  int port = 0;
};

// Starts llama-server and waits until it answers; the log line tells the port it bound.
Result<StartedServer> start_server(const BenchEnv& env, int parallel, const std::string& log) {
  auto server = ChildProcess::start(server_command(env, parallel), log);
  if (!server) return server.status();
  auto port = (*server)->wait_for_log(std::regex(R"(listening on http://127\.0\.0\.1:(\d+))"),
                                      std::chrono::seconds(300));
  if (!port) return port.status();
  StartedServer started{std::move(server).value(), std::stoi(*port)};
  if (Status s = wait_healthy(started.port, *started.process); !s) return s;
  return started;
}

// Sends every request of the workload from `clients` threads, each with one keep-alive connection.
struct ClientRun {
  std::mutex mu;
  Measurement m;
  std::string first_error;
};

void client_thread(int port, const Workload& workload, std::atomic<size_t>& next, ClientRun& run) {
  httplib::Client http("127.0.0.1", port);
  http.set_keep_alive(true);
  http.set_read_timeout(3600, 0);
  while (true) {
    const size_t i = next.fetch_add(1);
    if (i >= workload.requests.size()) return;
    const BenchRequest& r = workload.requests[i];
    auto res = http.Post("/v1/chat/completions", r.body.dump(), "application/json");
    std::lock_guard<std::mutex> lock(run.mu);
    if (!res || res->status != 200) {
      ++run.m.failed;
      if (run.first_error.empty()) {
        run.first_error = res ? std::to_string(res->status) + ": " + res->body.substr(0, 500)
                              : "transport error " + httplib::to_string(res.error());
      }
      continue;
    }
    json body = json::parse(res->body, nullptr, false);
    if (body.is_discarded()) {
      ++run.m.failed;
      continue;
    }
    count_answer(body, r.max_tokens, run.m);
  }
}

}  // namespace

Result<Measurement> run_llama_server(const BenchEnv& env, const Workload& workload, int parallel) {
  auto server =
      start_server(env, parallel, env.work_dir + "/llama-server-" + std::to_string(parallel) + ".log");
  if (!server) return server.status();
  ClientRun run;
  run.m.system = "llama-server";
  run.m.setting = "--parallel " + std::to_string(parallel);
  std::atomic<size_t> next{0};
  std::vector<std::thread> clients;
  const auto start = Clock::now();
  for (int c = 0; c < 2 * parallel; ++c) {
    clients.emplace_back([&] { client_thread(server->port, workload, next, run); });
  }
  for (std::thread& t : clients) t.join();
  run.m.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  run.m.peak_rss_kib = server->process->peak_rss_kib();
  server->process->stop(std::chrono::seconds(10));
  if (run.m.failed > 0) {
    std::fprintf(stderr, "llama-server --parallel %d: %ld requests failed, the first: %s\n", parallel,
                 run.m.failed, run.first_error.c_str());
  }
  return std::move(run.m);
}

Result<std::unique_ptr<TokenCountingServer>> TokenCountingServer::start(const BenchEnv& env) {
  auto server = start_server(env, 1, env.work_dir + "/llama-server-tokenize.log");
  if (!server) return server.status();
  return std::unique_ptr<TokenCountingServer>(
      new TokenCountingServer(std::move(server->process), server->port));
}

Result<int> TokenCountingServer::count(const std::string& text) {
  httplib::Client http("127.0.0.1", port_);
  const json body = {{"content", text}, {"add_special", false}};
  auto res = http.Post("/tokenize", body.dump(), "application/json");
  if (!res || res->status != 200) {
    return Status::internal("llama-server /tokenize failed: " +
                            (res ? res->body.substr(0, 300) : httplib::to_string(res.error())));
  }
  json answer = json::parse(res->body, nullptr, false);
  if (answer.is_discarded() || !answer["tokens"].is_array()) {
    return Status::internal("llama-server /tokenize answered " + res->body.substr(0, 300));
  }
  return static_cast<int>(answer["tokens"].size());
}

}  // namespace openbatch::bench
