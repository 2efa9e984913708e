// Throughput side by side: the same guide-shaped requests through openbatch's Batch API (upload to
// output downloaded), through llama.cpp's llama-server at the --parallel that suits it best, and
// through llama-batched-bench at the same prompt and generation lengths (the engine's ceiling). Every
// answer is forced to its max_tokens (ignore_eos), so all sides generate the same tokens.
//
//   throughput_bench [--requests 512] [--workload both] [--runs 1] [--shape bench-512x8] [--gpu]
//
// See scripts/bench-throughput.sh and the README's Performance section.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "throughput/child_process.h"
#include "throughput/report.h"
#include "throughput/systems.h"
#include "throughput/workload.h"

using namespace openbatch;
using namespace openbatch::bench;

namespace {

struct Options {
  std::string model;
  std::string shape;
  std::string quantize = "q8_0";
  int requests = 512;
  std::string workload = "both";
  int runs = 1;
  bool gpu = false;
  int openbatch_parallel = 0;
  std::vector<int> server_parallel;
  std::vector<std::string> systems = {"openbatch", "llama-server", "batched-bench"};
  int threads = 0;
  int busy = 0;
  std::string format = "json_schema";
  int generated = 0;
  std::string overviews = OPENBATCH_SOURCE_DIR "/examples/data/movies.csv";
  uint32_t seed = 1;
  std::string work_dir = OPENBATCH_BENCH_WORK_DIR;
  BenchEnv env;
};

// The model file: --model, or one make-model writes once into the work directory.
Result<std::string> model_file(const Options& o) {
  if (!o.model.empty()) return o.model;
  const std::string path = o.work_dir + "/models/" + o.shape + "-" + o.quantize + ".gguf";
  if (std::filesystem::exists(path)) return path;
  std::filesystem::create_directories(o.work_dir + "/models");
  std::fprintf(stderr, "throughput_bench: writing %s\n", path.c_str());
  auto tool = ChildProcess::start(
      {o.env.openbatch_bin, "make-model", "--shape", o.shape, "--quantize", o.quantize, "--output", path},
      o.work_dir + "/make-model.log");
  if (!tool) return tool.status();
  auto exit = (*tool)->wait(std::chrono::seconds(3600));
  if (!exit) return exit.status();
  if (exit->status != 0) return Status::internal("make-model failed:\n" + (*tool)->log_tail());
  return path;
}

void keep_best(Row& row, Result<Measurement> m) {
  if (!m) {
    std::fprintf(stderr, "throughput_bench: %s, %s: %s\n", row.workload.c_str(), row.system.c_str(),
                 m.status().message().c_str());
    if (!row.best) row.error = m.status().message();
    return;
  }
  std::fprintf(stderr, "throughput_bench: %s, %s %s: %.1f s, %ld requests, %ld generated\n",
               row.workload.c_str(), m->system.c_str(), m->setting.c_str(), m->wall_seconds, m->requests,
               m->generated_tokens);
  // A run with failures never beats a complete one.
  const auto rank = [](const Measurement& x) { return std::make_pair(x.failed, x.wall_seconds); };
  if (!row.best || rank(*m) < rank(*row.best)) row.best = std::move(m).value();
}

// The servers' runs in alternating order (a machine's drift favours neither), then the ceiling at the
// mean prompt length they reported.
bool runs_system(const Options& o, const std::string& system) {
  return std::find(o.systems.begin(), o.systems.end(), system) != o.systems.end();
}

std::vector<Row> bench_workload(const Options& o, const Workload& w) {
  const std::string name = workload_name(w.kind);
  Row ob{name, "openbatch", {}, ""}, ls{name, "llama-server", {}, ""}, ceiling{name, "batched-bench", {}, ""};
  const int n = static_cast<int>(w.requests.size());
  const int generated = static_cast<int>((w.total_max_tokens() + n / 2) / n);
  for (int run = 0; run < o.runs; ++run) {
    auto run_openbatch_once = [&] {
      if (runs_system(o, "openbatch")) keep_best(ob, run_openbatch(o.env, w, o.openbatch_parallel));
    };
    auto run_servers = [&] {
      if (!runs_system(o, "llama-server")) return;
      for (int p : o.server_parallel) keep_best(ls, run_llama_server(o.env, w, p));
    };
    if (run % 2 == 0) {
      run_openbatch_once();
      run_servers();
    } else {
      run_servers();
      run_openbatch_once();
    }
    // The ceiling needs fixed lengths.
    if (o.format == "json_object" || !runs_system(o, "batched-bench")) continue;
    const Measurement* measured = ls.best ? &*ls.best : ob.best ? &*ob.best : nullptr;
    if (!measured || measured->requests == 0) {
      ceiling.error = "no prompt length measured (both servers failed)";
      continue;
    }
    const int prompt =
        static_cast<int>((measured->prompt_tokens + measured->requests / 2) / measured->requests);
    keep_best(ceiling, run_batched_bench(o.env, n, prompt, generated, o.server_parallel));
  }
  std::vector<Row> rows;
  for (Row* r : {&ob, &ls, &ceiling}) {
    if (!runs_system(o, r->system)) continue;
    if (r == &ceiling && o.format == "json_object") continue;  // no ceiling without fixed lengths
    rows.push_back(std::move(*r));
  }
  return rows;
}

void add_options(CLI::App& app, Options& o) {
  app.add_option("--model", o.model, "GGUF model (default: one make-model writes, see --shape)");
  app.add_option("--shape", o.shape, "make-model shape (default: bench-512x8, qwen2.5-0.5b with --gpu)");
  app.add_option("--quantize", o.quantize, "make-model type")
      ->check(CLI::IsMember({"q8_0", "q4_k_m"}))
      ->capture_default_str();
  app.add_option("--requests", o.requests, "requests a workload")
      ->check(CLI::Range(1, 50000))
      ->capture_default_str();
  app.add_option("--workload", o.workload,
                 "shared, distinct, both, or guide (the guide's prompt verbatim and real overviews)")
      ->check(CLI::IsMember({"shared", "distinct", "both", "guide"}))
      ->capture_default_str();
  app.add_option("--runs", o.runs, "runs a system (alternating order); the best counts")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_flag("--gpu", o.gpu, "offload every layer to the GPU (a CUDA build)");
  app.add_option("--openbatch-parallel", o.openbatch_parallel,
                 "openbatch serve --parallel (default: its own)");
  app.add_option("--server-parallel", o.server_parallel,
                 "llama-server --parallel values tried, also the ceiling's -npl (default: 8,16,32; "
                 "16,32,64 with --gpu)")
      ->delimiter(',');
  app.add_option("--systems", o.systems,
                 "the systems measured, of openbatch, llama-server and batched-bench (default: all; the "
                 "ratios need the peers)")
      ->delimiter(',')
      ->check(CLI::IsMember({"openbatch", "llama-server", "batched-bench"}))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads of every system (default: all cores)");
  app.add_option("--seed", o.seed, "workload seed")->capture_default_str();
  app.add_option("--format", o.format,
                 "what answers are: json_schema (the guide's shape, forced to max_tokens), text (forced to "
                 "max_tokens) or json_object (the guide's own mode: answers end when their JSON does)")
      ->capture_default_str();
  app.add_option("--generated", o.generated, "every answer's max_tokens (default: 64 to 128 at random)");
  app.add_option("--busy", o.busy,
                 "background processes spinning on a core during every run of every system (a machine "
                 "that is not idle)")
      ->capture_default_str();
  app.add_option("--overviews", o.overviews,
                 "CSV with an Overview column: the guide workload's user messages")
      ->capture_default_str();
  app.add_option("--work-dir", o.work_dir, "models, logs and batch files")->capture_default_str();
  app.add_option("--ctx-per-sequence", o.env.ctx_per_sequence,
                 "KV cells a sequence in llama-server and llama-batched-bench")
      ->capture_default_str();
  o.env.openbatch_bin = OPENBATCH_BIN;
  o.env.llama_server_bin = std::string(OPENBATCH_LLAMA_PREFIX) + "/bin/llama-server";
  o.env.batched_bench_bin = std::string(OPENBATCH_LLAMA_PREFIX) + "/bin/llama-batched-bench";
  app.add_option("--openbatch", o.env.openbatch_bin, "openbatch binary")->capture_default_str();
  app.add_option("--openbatch-flag", o.env.openbatch_flags,
                 "a further `openbatch serve` argument, repeated for each (e.g. --openbatch-flag=--cascade "
                 "--openbatch-flag=off)");
  app.add_option("--llama-server", o.env.llama_server_bin, "llama-server binary")->capture_default_str();
  app.add_option("--batched-bench", o.env.batched_bench_bin, "llama-batched-bench binary")
      ->capture_default_str();
}

void resolve_defaults(Options& o) {
  if (o.shape.empty()) o.shape = o.gpu ? "qwen2.5-0.5b" : "bench-512x8";
  if (o.server_parallel.empty()) {
    o.server_parallel = o.gpu ? std::vector<int>{16, 32, 64} : std::vector<int>{8, 16, 32};
  }
  o.env.threads =
      o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  o.env.gpu = o.gpu;
  o.env.work_dir = o.work_dir;
}

std::vector<WorkloadKind> workload_kinds(const std::string& which) {
  if (which == "shared") return {WorkloadKind::kSharedPrefix};
  if (which == "distinct") return {WorkloadKind::kDistinct};
  if (which == "guide") return {WorkloadKind::kGuide};
  return {WorkloadKind::kSharedPrefix, WorkloadKind::kDistinct};
}

int run(Options& o) {
  resolve_defaults(o);
  std::filesystem::create_directories(o.work_dir);
  auto model = model_file(o);
  if (!model) {
    std::fprintf(stderr, "throughput_bench: %s\n", model.status().message().c_str());
    return 1;
  }
  o.env.model_path = *model;
  auto tokenizer = TokenCountingServer::start(o.env);
  if (!tokenizer) {
    std::fprintf(stderr, "throughput_bench: %s\n", tokenizer.status().message().c_str());
    return 1;
  }
  std::vector<Workload> workloads;
  for (WorkloadKind kind : workload_kinds(o.workload)) {
    WorkloadOptions wo;
    wo.requests = o.requests;
    wo.model_id = o.env.model_id;
    wo.seed = o.seed;
    auto format = format_by_name(o.format);
    if (!format) {
      std::fprintf(stderr, "throughput_bench: %s\n", format.status().message().c_str());
      return 2;
    }
    wo.format = *format;
    if (o.generated > 0) wo.min_generated = wo.max_generated = std::min(o.generated, kMaxGenerated);
    if (kind == WorkloadKind::kGuide) {
      auto overviews = read_overviews(o.overviews);
      if (!overviews) {
        std::fprintf(stderr, "throughput_bench: %s\n", overviews.status().message().c_str());
        return 1;
      }
      wo.overviews = std::move(overviews).value();
    }
    auto w = make_workload(kind, wo, [&](const std::string& text) { return (*tokenizer)->count(text); });
    if (!w) {
      std::fprintf(stderr, "throughput_bench: %s\n", w.status().message().c_str());
      return 1;
    }
    workloads.push_back(std::move(w).value());
  }
  tokenizer->reset();  // stopped before any measurement

  // The load every system meets alike: processes that spin on a core until the benchmark ends.
  std::vector<std::unique_ptr<ChildProcess>> spinners;
  for (int i = 0; i < o.busy; ++i) {
    auto spinner = ChildProcess::start({"/bin/sh", "-c", "while :; do :; done"}, o.work_dir + "/busy.log");
    if (!spinner) {
      std::fprintf(stderr, "throughput_bench: %s\n", spinner.status().message().c_str());
      return 1;
    }
    spinners.push_back(std::move(spinner).value());
  }
  std::vector<Row> rows;
  std::vector<std::string> warnings;
  for (const Workload& w : workloads) {
    std::vector<Row> got = bench_workload(o, w);
    for (const std::string& line : validity_warnings(got, w.total_max_tokens(), o.format != "json_object")) {
      warnings.push_back(line);
    }
    rows.insert(rows.end(), got.begin(), got.end());
  }
  spinners.clear();
  std::printf(
      "\nmodel %s, %d requests a workload, %s, %d threads%s, %d busy process(es), best of %d run(s); logs in "
      "%s\n\n",
      o.env.model_path.c_str(), o.requests, o.format.c_str(), o.env.threads,
      o.gpu ? ", all layers on the GPU" : "", o.busy, o.runs, o.work_dir.c_str());
  std::printf("%s", format_table(rows).c_str());
  for (const std::string& line : warnings) std::printf("WARNING: %s\n", line.c_str());
  return warnings.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"openbatch against llama-server and llama-batched-bench on the same requests"};
  Options o;
  add_options(app, o);
  CLI11_PARSE(app, argc, argv);
  kill_children_on_signals();
  try {
    return run(o);
  } catch (const std::exception& e) {
    // Unwinding has stopped every child already.
    std::fprintf(stderr, "throughput_bench: %s\n", e.what());
    return 1;
  }
}
