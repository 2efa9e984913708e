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
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "batch/batch_service.h"
#include "batch/input_validator.h"
#include "blobs/blobs.h"
#include "cli/commands.h"
#include "cli/engine_options.h"
#include "cli/exit_codes.h"
#include "cli/input_table.h"
#include "cli/output_folder.h"
#include "cli/progress_line.h"
#include "common/clock.h"
#include "common/temp_dir.h"
#include "openai/endpoints.h"
#include "store/forwarding_store.h"
#include "store/sqlite_store.h"

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

// The run's store: an embedded SQLite database that only this run uses, whose stored results are
// also appended to the output files as they are stored (the files, not the database, are what a later
// run continues from). Everything else goes to the database as it is.
class OutputFileStore final : public store::ForwardingStore {
 public:
  OutputFileStore(std::unique_ptr<store::Store> inner, LineAppender& out, LineAppender* errors)
      : ForwardingStore(std::move(inner)), out_(out), errors_(errors) {}

  Status record_results(const std::vector<store::RequestResult>& results) override {
    // The database first: when it fails, the runner stores the same results again, and the lines must
    // not be in the file twice.
    if (Status s = inner().record_results(results); !s) return s;
    std::lock_guard lock(mu_);
    for (const store::RequestResult& r : results) {
      LineAppender& dest = r.outcome == store::Outcome::kError && errors_ ? *errors_ : out_;
      if (Status s = dest.append(r.result_line); !s) {
        write_failure_ = s;
        g_stop = 1;
        return Status::ok();  // stored; the run stops with the write error
      }
    }
    if (std::chrono::steady_clock::now() - last_sync_ > std::chrono::seconds(2)) {
      out_.sync();
      if (errors_) errors_->sync();
      last_sync_ = std::chrono::steady_clock::now();
    }
    return Status::ok();
  }

  Status write_failure() {
    std::lock_guard lock(mu_);
    return write_failure_;
  }

 private:
  LineAppender& out_;
  LineAppender* errors_;
  std::mutex mu_;
  Status write_failure_;
  std::chrono::steady_clock::time_point last_sync_ = std::chrono::steady_clock::now();
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

// SIGINT and SIGTERM end the run cleanly from here on (whole lines, synced) with kExitInterrupted.
void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// The input file, read and validated as a batch's input is (any size), and its endpoint.
struct RunInput {
  std::string data;
  std::string endpoint;
  batch::ValidatedInput validated;
};

// Reads and validates o.input. The model the engine answers to is the first request's, unless named.
// Returns kExitOk to go on, or the exit code after printing why not.
int read_input(RunOptions& o, RunInput& in) {
  Result<std::string> data = read_file(o.input);
  if (!data) return report_failure("run", data.status());
  in.data = std::move(data).value();
  const nlohmann::json first = first_request(in.data);
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
  in.endpoint = limits.endpoint;
  in.validated = batch::validate_input(in.data, limits);
  if (in.validated.errors.empty()) return kExitOk;
  for (const store::BatchError& e : in.validated.errors) {
    std::fprintf(stderr, "run: %s: line %lld: %s: %s\n", o.input.c_str(),
                 static_cast<long long>(e.line.value_or(0)), e.code.c_str(), e.message.c_str());
  }
  return kExitUsage;
}

// Records the input file and a batch of the requests still to do in the run's own store, as an upload
// and a create would on a server; batch.id names it.
Status record_run_batch(const RunOptions& o, const RunInput& in, const std::deque<store::RequestRecord>& todo,
                        store::Store& db, blobs::BlobStore& blobs, store::BatchRecord& batch) {
  const int64_t now = SystemClock::instance().now_seconds();
  store::FileRecord file;
  file.id = "file-input";
  file.filename = o.input;
  file.purpose = "batch";
  file.bytes = static_cast<int64_t>(in.data.size());
  file.created_at = now;
  batch.id = "batch_run";
  batch.endpoint = in.endpoint;
  batch.input_file_id = file.id;
  batch.completion_window = "24h";
  batch.created_at = now;
  batch.expires_at = now + 100LL * 365 * 24 * 3600;  // a run has no completion window
  auto w = blobs.create(file.id);
  if (!w) return w.status();
  if (Status s = (*w)->append(in.data); !s) return s;
  if (Status s = (*w)->commit(); !s) return s;
  if (Status s = db.insert_file(file); !s) return s;
  if (Status s = db.insert_batch(batch); !s) return s;
  const std::vector<store::RequestRecord> requests(todo.begin(), todo.end());
  return db.start_batch(batch.id, in.validated.model, requests, now, {});
}

// Shows the batch's progress until it ends or a stop signal comes.
void watch(batch::BatchService& service, const std::string& batch_id, int64_t skipped, Progress& progress,
           ProgressLine& line) {
  for (;;) {
    auto b = service.get_batch("", batch_id);
    if (b) {
      progress.done = skipped + b->request_counts.completed;
      progress.failed = b->request_counts.failed;
      progress.output_tokens = b->usage.output_tokens;
      line.update(progress);
      if (store::is_terminal(b->status)) return;
    }
    if (g_stop) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int run(RunOptions o) {
  install_stop_handlers();
  RunInput in;
  if (const int rc = read_input(o, in); rc != kExitOk) return rc;

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
  for (store::RequestRecord& r : in.validated.requests) {
    if (!done_ids.count(r.custom_id)) todo.push_back(std::move(r));
  }
  const int64_t total = static_cast<int64_t>(in.validated.requests.size());
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

  // The same batch loop as the server's, on an embedded store in a folder of its own: requests the
  // engine turns away (an upstream busy after its retries) run again, and each result is appended as
  // it is stored.
  TempDir work;
  auto db = store::open_sqlite_store(work.path() + "/run.sqlite3");
  if (!db) return report_failure("run", db.status());
  auto blobs = blobs::open_local_blob_store(work.path() + "/files");
  if (!blobs) return report_failure("run", blobs.status());
  auto output_store = std::make_unique<OutputFileStore>(std::move(db).value(), **out, errors_out.get());
  OutputFileStore& outputs = *output_store;
  store::BatchRecord batch_rec;
  if (Status s = record_run_batch(o, in, todo, *output_store, **blobs, batch_rec); !s)
    return report_failure("run", s);
  batch::BatchServiceOptions service_options;
  service_options.store = std::move(output_store);
  service_options.blobs = std::move(blobs).value();
  service_options.max_in_flight = o.in_flight > 0 ? o.in_flight : 2 * engine.model_info().parallel;
  auto service = batch::BatchService::open(std::move(service_options), engine);
  if (!service) return report_failure("run", service.status());

  Progress progress{o.input, "running", 0, 0, total, 0};
  ProgressLine line(stderr, is_terminal(STDERR_FILENO));
  (*service)->start();
  watch(**service, batch_rec.id, skipped, progress, line);
  // Stores (and appends) what finished; what did not runs on the next run.
  (*service)->stop();
  engine.shutdown();
  (*out)->sync();
  if (errors_out) errors_out->sync();
  int rc = kExitOk;
  if (Status s = outputs.write_failure(); !s) {
    std::fprintf(stderr, "run: %s\n", s.message().c_str());
    rc = kExitError;
  }
  const bool stopped = g_stop && rc == kExitOk;
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
