// Generated tokens per second for 1, 4 and 16 concurrent requests on one model: what continuous
// batching buys. Each level runs the same number of requests; every request generates exactly
// --tokens tokens (end-of-generation ignored), so the levels do equal work.
//
//   engine_concurrency_bench --model build/models/bench-512x8.gguf [--requests 16] [--tokens 64]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <vector>

#include "engine/llama/llama_engine.h"

using namespace openbatch;

namespace {

struct Run {
  double seconds = 0;
  long generated = 0;
};

Run run_level(engine::Engine& eng, int concurrency, int requests, int tokens) {
  std::vector<std::future<Result<engine::Generation>>> inflight;
  Run run;
  const auto start = std::chrono::steady_clock::now();
  int submitted = 0;
  auto submit_one = [&] {
    engine::GenerationRequest r;
    r.messages.resize(2);
    r.messages[0].role = "system";
    r.messages[0].content = "You write short product descriptions.";
    r.messages[1].role = "user";
    r.messages[1].content = "Describe item number " + std::to_string(submitted) + " of the catalogue.";
    r.max_tokens = tokens;
    r.ignore_eos = true;
    r.sampling.seed = static_cast<uint32_t>(submitted);
    r.priority = engine::Priority::kBatch;
    ++submitted;
    auto p = std::make_shared<std::promise<Result<engine::Generation>>>();
    inflight.push_back(p->get_future());
    engine::GenerationCallbacks cb;
    cb.on_done = [p](Result<engine::Generation> g) { p->set_value(std::move(g)); };
    eng.submit(std::move(r), std::move(cb));
  };
  // Keep `concurrency` requests in flight until all are done (a client with that many connections).
  size_t next_wait = 0;
  while (submitted < concurrency && submitted < requests) submit_one();
  while (next_wait < inflight.size()) {
    auto g = inflight[next_wait++].get();
    if (g) run.generated += g->completion_tokens;
    if (submitted < requests) submit_one();
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Generated tokens/s at 1, 4 and 16 concurrent requests"};
  std::string model;
  int requests = 16, tokens = 64, repeats = 2, threads = 0;
  app.add_option("--model", model, "GGUF model")->required();
  app.add_option("--requests", requests, "requests per level")->capture_default_str();
  app.add_option("--tokens", tokens, "tokens generated per request")->capture_default_str();
  app.add_option("--repeats", repeats, "runs per level; the best is reported")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0: all)");
  CLI11_PARSE(app, argc, argv);

  engine::set_llama_log_level_warn();
  engine::LlamaEngineOptions opts;
  opts.model_path = model;
  opts.parallel = 16;
  opts.ctx_size = 16 * 1024;
  opts.threads = threads;
  auto eng = engine::LlamaEngine::load(opts);
  if (!eng) {
    std::fprintf(stderr, "%s\n", eng.status().message().c_str());
    return 1;
  }
  run_level(**eng, 4, 4, 8);  // warm-up
  const int levels[] = {1, 4, 16};
  double best[3] = {0, 0, 0};
  // Alternate the levels across repeats so that machine noise hits them alike.
  for (int rep = 0; rep < repeats; ++rep) {
    for (int i = 0; i < 3; ++i) {
      Run r = run_level(**eng, levels[i], requests, tokens);
      best[i] = std::max(best[i], r.generated / r.seconds);
    }
  }
  std::printf("model: %s, %d requests x %d generated tokens, best of %d\n", model.c_str(), requests, tokens,
              repeats);
  std::printf("%-12s %14s %10s\n", "concurrency", "gen tok/s", "vs 1");
  for (int i = 0; i < 3; ++i) {
    std::printf("%-12d %14.1f %9.2fx\n", levels[i], best[i], best[i] / best[0]);
  }
  (*eng)->shutdown();
  return 0;
}
