// `openbatch run`: runs a batch input file on the embedded engine with no server, writing the same
// output lines the server's output file holds. Re-running continues where an interrupted run stopped:
// custom_ids already in the output are skipped, and only whole lines are ever appended.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "batch/input_validator.h"
#include "batch/result_lines.h"
#include "cli/commands.h"
#include "cli/engine_options.h"
#include "cli/exit_codes.h"
#include "cli/input_table.h"
#include "cli/output_folder.h"
#include "cli/progress_line.h"
#include "openai/chat_completion.h"
#include "openai/endpoints.h"

namespace openbatch::cli {
namespace {

struct RunOptions {
  std::string input;
  std::string output;
  std::string errors_output;  // empty: failures go to output too
  EngineOptions engine;
  int in_flight = 0;  // 0: twice --parallel
  bool verbose = false;
};

volatile std::sig_atomic_t g_stop = 0;
void on_stop_signal(int) { g_stop = 1; }

// An output file opened for appending whole lines.
class LineAppender {
 public:
  // Opens path, cutting off a last line that an interrupted run left without its newline, and adds the
  // custom_id of every line in it to done.
  static Result<std::unique_ptr<LineAppender>> open(const std::string& path,
                                                    std::unordered_set<std::string>& done) {
    if (Status s = create_parent_folder(path); !s) return s;
    Result<std::string> existing = read_file(path);
    const std::string text = existing ? std::move(*existing) : std::string();
    const size_t keep = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Status::internal("cannot open " + path + " for writing");
    if (keep < text.size() && ::ftruncate(fd, static_cast<off_t>(keep)) != 0) {
      ::close(fd);
      return Status::internal("cannot truncate " + path);
    }
    ::lseek(fd, 0, SEEK_END);
    std::istringstream lines(text.substr(0, keep));
    std::string line;
    while (std::getline(lines, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("custom_id") && j["custom_id"].is_string()) {
        done.insert(j["custom_id"].get<std::string>());
      }
    }
    return std::unique_ptr<LineAppender>(new LineAppender(fd));
  }
  ~LineAppender() {
    sync();
    ::close(fd_);
  }

  // One write() of the line and its newline, so a kill leaves whole lines (or, at worst, a cut last
  // line that the next open() removes).
  Status append(std::string line) {
    line += '\n';
    size_t off = 0;
    while (off < line.size()) {
      const ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::internal("write failed");
      }
      off += static_cast<size_t>(n);
    }
    ++unsynced_;
    return Status::ok();
  }
  void sync() {
    if (unsynced_ > 0) ::fdatasync(fd_);
    unsynced_ = 0;
  }

 private:
  explicit LineAppender(int fd) : fd_(fd) {}
  int fd_;
  int unsynced_ = 0;
};

struct Done {
  std::string custom_id;
  std::string request_id;
  Result<nlohmann::json> result;
};

// The first request line that parses: its model is the one the engine answers to, its url the
// endpoint every line must call.
nlohmann::json first_request(const std::string& data) {
  std::istringstream lines(data);
  std::string line;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("body") && j["body"].is_object()) return j;
  }
  return nlohmann::json::object();
}

int run(RunOptions o) {
  // From here on SIGINT and SIGTERM end the run cleanly (whole lines, synced) with kExitInterrupted.
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  Result<std::string> data = read_file(o.input);
  if (!data) return report_failure("run", data.status());
  const nlohmann::json first = first_request(*data);
  const nlohmann::json model =
      first.contains("body") ? first["body"].value("model", nlohmann::json()) : nlohmann::json();
  if (o.engine.llama.model_ids.empty() && model.is_string())
    o.engine.llama.model_ids.push_back(model.get<std::string>());
  batch::ValidationLimits limits;
  const nlohmann::json url = first.value("url", nlohmann::json());
  if (url.is_string() && openai::is_batch_endpoint(url.get<std::string>()))
    limits.endpoint = url.get<std::string>();
  limits.models = o.engine.llama.model_ids;
  limits.max_requests = 1'000'000'000;
  limits.max_bytes = int64_t{1} << 40;
  batch::ValidatedInput input = batch::validate_input(*data, limits);
  if (!input.errors.empty()) {
    for (const store::BatchError& e : input.errors) {
      std::fprintf(stderr, "run: %s: line %lld: %s: %s\n", o.input.c_str(),
                   static_cast<long long>(e.line.value_or(0)), e.code.c_str(), e.message.c_str());
    }
    return kExitUsage;
  }

  std::unordered_set<std::string> done_ids;
  Result<std::unique_ptr<LineAppender>> out = LineAppender::open(o.output, done_ids);
  if (!out) return report_failure("run", out.status());
  std::unique_ptr<LineAppender> errors_out;
  if (!o.errors_output.empty()) {
    Result<std::unique_ptr<LineAppender>> e = LineAppender::open(o.errors_output, done_ids);
    if (!e) return report_failure("run", e.status());
    errors_out = std::move(*e);
  }
  std::deque<store::RequestRecord> todo;
  for (store::RequestRecord& r : input.requests) {
    if (!done_ids.count(r.custom_id)) todo.push_back(std::move(r));
  }
  const int64_t total = static_cast<int64_t>(input.requests.size());
  const int64_t skipped = total - static_cast<int64_t>(todo.size());
  if (skipped > 0)
    std::fprintf(stderr, "run: %lld of %lld requests already in %s; continuing\n",
                 static_cast<long long>(skipped), static_cast<long long>(total), o.output.c_str());
  if (todo.empty()) return kExitOk;

  if (!o.verbose) engine::set_llama_log_level_warn();
  if (Status s = fetch_engine_files(o.engine, [] { return g_stop != 0; }); !s) {
    report_failure("run", s);
    return g_stop != 0 ? kExitInterrupted : kExitError;
  }
  auto loaded = load_engine(o.engine);
  if (!loaded) return report_failure("run", loaded.status());
  engine::Engine& engine = **loaded;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Done> finished;
  // The handles of requests in flight (to cancel them on a stop), by custom_id. in_flight and handles
  // belong to this thread; only finished is shared with the engine's thread.
  std::unordered_map<std::string, std::vector<std::shared_ptr<engine::GenerationHandle>>> handles;
  const int limit = o.in_flight > 0 ? o.in_flight : 2 * engine.model_info().parallel;
  int in_flight = 0;
  Progress progress{o.input, "running", 0, 0, total, 0};
  progress.done = skipped;  // earlier runs' lines count as done
  ProgressLine line(stderr, is_terminal(STDERR_FILENO));
  auto last_sync = std::chrono::steady_clock::now();
  int rc = kExitOk;

  auto submit_one = [&](const store::RequestRecord& req) {
    const std::string request_id = openai::new_id("req_");
    const std::string bytes = data->substr(static_cast<size_t>(req.offset), static_cast<size_t>(req.length));
    nlohmann::json line_json = nlohmann::json::parse(bytes, nullptr, false);
    const nlohmann::ordered_json ordered = nlohmann::ordered_json::parse(bytes, nullptr, false);
    ++in_flight;
    // No lock held here: on_done may run before run_endpoint_request returns, on this thread.
    auto hs = openai::run_endpoint_request(
        engine, limits.endpoint, line_json["body"], engine::Priority::kBatch,
        [&mu, &cv, &finished, id = req.custom_id, request_id](Result<nlohmann::json> r) {
          std::lock_guard lock(mu);
          finished.push_back({id, request_id, std::move(r)});
          cv.notify_one();
        },
        ordered.is_object() && ordered.contains("body") ? &ordered["body"] : nullptr);
    if (!hs) {
      std::lock_guard lock(mu);
      finished.push_back({req.custom_id, request_id, hs.status()});
      return;
    }
    handles[req.custom_id] = std::move(hs).value();
  };

  while (!g_stop && (!todo.empty() || in_flight > 0)) {
    while (!todo.empty() && in_flight < limit) {
      submit_one(todo.front());
      todo.pop_front();
    }
    std::deque<Done> batch;
    {
      std::unique_lock lock(mu);
      cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return !finished.empty(); });
      batch.swap(finished);
      in_flight -= static_cast<int>(batch.size());
    }
    for (Done& d : batch) {
      handles.erase(d.custom_id);
      Status s;
      if (d.result) {
        s = (*out)->append(batch::output_line(d.custom_id, d.request_id, *d.result));
        ++progress.done;
        progress.output_tokens += batch::usage_of(*d.result).output_tokens;
      } else {
        LineAppender& dest = errors_out ? *errors_out : **out;
        s = dest.append(batch::failed_line(d.custom_id, d.request_id, d.result.status()));
        ++progress.failed;
      }
      if (!s) {
        std::fprintf(stderr, "run: %s\n", s.message().c_str());
        g_stop = 1;
        rc = kExitError;
      }
    }
    if (!batch.empty()) line.update(progress);
    if (std::chrono::steady_clock::now() - last_sync > std::chrono::seconds(2)) {
      (*out)->sync();
      if (errors_out) errors_out->sync();
      last_sync = std::chrono::steady_clock::now();
    }
  }
  const bool stopped = g_stop && rc == kExitOk;
  if (g_stop) {
    for (auto& [id, hs] : handles) {
      for (auto& h : hs) h->cancel();
    }
  }
  engine.shutdown();
  (*out)->sync();
  if (errors_out) errors_out->sync();
  progress.status = stopped ? "interrupted" : "done";
  line.update(progress, true);
  line.finish();
  if (stopped) {
    std::fprintf(stderr, "run: interrupted; run the same command again to continue\n");
    return kExitInterrupted;
  }
  return rc;
}

}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  o->engine.llama.parallel = 8;
  CLI::App* cmd = app.add_subcommand("run",
                                     "Run a batch input file on a local GGUF model (or an upstream server) "
                                     "with no server of its own, writing the server's output lines");
  cmd->footer(
      "Example:\n"
      "  openbatch run tasks.jsonl -o results.jsonl --model models/qwen2.5-0.5b-instruct-q8_0.gguf "
      "--parallel 16\n"
      "  openbatch run tasks.jsonl -o results.jsonl --hf-repo Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q8_0\n"
      "Run it again after an interruption: requests whose custom_id is already in the output are skipped.\n"
      "Exit codes: 0 every request ran (failed requests are lines with their status code), 1 model or file\n"
      "error, 2 bad arguments or an invalid input file, 130 interrupted (SIGINT/SIGTERM).");
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("input", o->input, "Batch input file (JSONL)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--output,-o", o->output, "Output file (JSONL); appended to, so a re-run continues")
      ->required();
  cmd->add_option("--errors-output", o->errors_output, "Write failed requests here instead of to --output");
  add_engine_options(cmd, o->engine,
                     "Model name the requests must use (default: the one the first request names)");
  cmd->add_flag("--verbose,-v", o->verbose, "Log llama.cpp's own messages");
  cmd->callback([o] {
    require_model_source(o->engine);
    if (const int rc = run(*o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace openbatch::cli
