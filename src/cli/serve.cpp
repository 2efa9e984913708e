// `openbatch serve`: loads a model and serves the OpenAI-compatible API until SIGINT or SIGTERM, then
// drains (no new work, requests in progress finish within --shutdown-grace) and exits.
#include <CLI/CLI.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>

#include "api/api_keys.h"
#include "api/server.h"
#include "cli/batch_storage.h"
#include "cli/commands.h"
#include "cli/engine_options.h"
#include "cli/exit_codes.h"
#include "cli/model_router.h"
#include "engine/metered_engine.h"
#include "store/store.h"

namespace openbatch::cli {

namespace {

struct ServeOptions {
  EngineOptions engine;
  std::string models_file;          // --models: the registry; empty: the engine flags' one model
  int models_max = 0;               // --models-max
  std::vector<ModelEntry> entries;  // the models served, read from models_file or the flags
  api::ServerOptions server;
  BatchStorageOptions storage;
  std::vector<std::string> api_key_files;
  double shutdown_grace_seconds = 8;
  int64_t max_request_mb = 32;
  bool verbose = false;
};

// Adds the keys of --api-key-file and $OPENBATCH_API_KEYS to those of --api-key. Throws a usage error
// when a key file cannot be read.
void gather_api_keys(ServeOptions& opts) {
  for (const std::string& path : opts.api_key_files) {
    auto keys = api::read_api_key_file(path);
    if (!keys) throw CLI::ValidationError("--api-key-file", keys.status().message());
    opts.server.api_keys.insert(opts.server.api_keys.end(), keys->begin(), keys->end());
  }
  if (const char* env = std::getenv("OPENBATCH_API_KEYS")) {
    auto keys = api::split_api_key_list(env);
    opts.server.api_keys.insert(opts.server.api_keys.end(), keys.begin(), keys.end());
  }
}

int serve(ServeOptions opts) {
  if (!opts.verbose) engine::set_llama_log_level_warn();
  // Downloads come first, while SIGINT and SIGTERM still end the process (a partial download is kept
  // and resumed by the next start).
  if (Status s = fetch_start_files(opts.entries, opts.models_max); !s) {
    std::fprintf(stderr, "openbatch: %s\n", s.message().c_str());
    return kExitError;
  }
  // Block the stop signals in every thread; one thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // from run()'s failure to the waiter
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Every model is served through the router, which sends each request to the engine of its model.
  auto engine = start_model_router(std::move(opts.entries), opts.models_max);
  if (!engine) {
    std::fprintf(stderr, "openbatch: %s\n", engine.status().message().c_str());
    return kExitError;
  }
  // Everything runs on the metered engine, so that /metrics counts batch work too.
  engine::MeteredEngine metered(**engine);
  auto batches = open_batch_service(opts.storage, opts.server.api_keys, opts.server.limits, metered);
  if (!batches) {
    std::fprintf(stderr, "openbatch: %s\n", batches.status().message().c_str());
    (*engine)->shutdown();
    return kExitError;
  }
  api::Server server(opts.server, metered, **batches);

  // The drain: a stop signal stops new work at once and gives the requests in progress until the
  // grace runs out; then their generations end (503) and their connections are cut.
  std::mutex mu;
  std::condition_variable cv;
  bool served = false;  // run() has returned
  std::thread waiter([&, signals] {
    int sig = 0;
    for (;;) {
      sigwait(&signals, &sig);
      if (sig != SIGUSR1) break;
      std::lock_guard lock(mu);
      if (served) return;  // run() failed: nothing to stop
    }
    const auto grace = std::chrono::milliseconds(static_cast<int64_t>(opts.shutdown_grace_seconds * 1000));
    std::fprintf(stderr, "openbatch: signal %d, draining (at most %.3g s)\n", sig,
                 opts.shutdown_grace_seconds);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    std::unique_lock lock(mu);
    do {
      lock.unlock();
      server.stop();  // again until run() returns: a stop just before it listened would be lost
      lock.lock();
    } while (!cv.wait_until(
                 lock, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(200)),
                 [&] { return served; }) &&
             std::chrono::steady_clock::now() < deadline);
    if (served) return;
    lock.unlock();
    std::fprintf(stderr, "openbatch: requests still in progress after the grace: ending them\n");
    (*engine)->shutdown();
    server.close_connections();
    // Whatever still holds on (it should not) does not keep the process: everything stored is
    // durable already, and what was not stored runs again on the next start.
    lock.lock();
    if (!cv.wait_for(lock, std::chrono::seconds(1), [&] { return served; })) {
      std::fprintf(stderr, "openbatch: still not stopped; exiting\n");
      std::_Exit(kExitError);
    }
  });
  Status status = server.run();
  {
    std::lock_guard lock(mu);
    served = true;
  }
  cv.notify_all();
  if (!status) {
    std::fprintf(stderr, "openbatch: %s\n", status.message().c_str());
    pthread_kill(waiter.native_handle(), SIGUSR1);
    waiter.join();
    return 1;
  }
  waiter.join();
  (*engine)->shutdown();
  std::fprintf(stderr, "openbatch: stopped\n");
  return 0;
}

}  // namespace

void register_serve(CLI::App& app) {
  auto opts = std::make_shared<ServeOptions>();
  CLI::App* cmd =
      app.add_subcommand("serve", "Serve the OpenAI-compatible API (chat completions, files, batches)");
  cmd->footer(
      "Example:\n  openbatch serve --model models/qwen2.5-0.5b-instruct-q8_0.gguf --model-id gpt-4o-mini "
      "--port 8080\n"
      "  openbatch serve --model llava-v1.5-7b-q4_k.gguf --mmproj mmproj-llava-v1.5-7b-f16.gguf --model-id "
      "gpt-4o-mini\n"
      "  openbatch serve --hf-repo Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q8_0 --model-id gpt-4o-mini\n"
      "  openbatch serve --models models.json --models-max 2   (docs/models.md: the registry)");
  // Later occurrences of a single-valued option win, as with most servers' flags.
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  add_engine_options(cmd, opts->engine,
                     "Name clients use for the model; repeat to add aliases (default: the file's stem)");
  CLI::Option* models =
      cmd->add_option("--models", opts->models_file,
                      "Serve the models of this JSON registry, {\"models\": [{\"id\": ..., \"model\": ...}, "
                      "...]}: each entry an id, its aliases and these engine options as keys (\"hf_repo\", "
                      "\"mmproj\", \"parallel\", \"upstream\"...); requests go to the model they name. "
                      "Engine options given as flags are the entries' defaults")
          ->check(CLI::ExistingFile);
  for (const char* source :
       {"--model", "--hf-repo", "--hf-file", "--model-url", "--model-id", "--mmproj", "--hf-mmproj-file",
        "--mmproj-url", "--no-mmproj", "--upstream", "--upstream-model"}) {
    models->excludes(cmd->get_option(source));
  }
  cmd->add_option("--models-max", opts->models_max,
                  "With --models: embedded models loaded at once; a request for another waits until the "
                  "least recently used one with no work in flight is unloaded (0: all load at start)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--host", opts->server.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", opts->server.port, "Port to listen on")->capture_default_str();
  cmd->add_option("--api-key", opts->server.api_keys,
                  "Accepted API key; repeat for several (default: none, open). Other local users see "
                  "the command line: prefer --api-key-file or $OPENBATCH_API_KEYS")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--api-key-file", opts->api_key_files,
                  "File of accepted API keys, one a line (blank lines and # comments skipped); repeat "
                  "for several. $OPENBATCH_API_KEYS adds a comma-separated list")
      ->check(CLI::ExistingFile)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--max-connections", opts->server.max_connections,
                  "HTTP connections served at once (each holds a thread while open; keep-alive "
                  "connections close after 5 s idle); past it a connection gets a 503 at once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-connections-per-address", opts->server.max_connections_per_address,
                  "HTTP connections from one client address at once; past it a connection gets a 503 at "
                  "once (default: 0, seven eighths of --max-connections, so that others always find room)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--max-request-mb", opts->max_request_mb,
                  "The body of a request to a JSON route (all but uploads, which take the largest upload), "
                  "in MB; a larger one is answered 413 as it arrives")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--allowed-host", opts->server.allowed_hosts,
                  "Without API keys: a Host name the server answers besides IP addresses and localhost; "
                  "repeat for several (others are refused, against DNS rebinding)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--advertise-url", opts->server.advertise_url,
                  "With --db: where the other nodes of the fleet reach this one (http://HOST:PORT); they "
                  "forward here the chat, completions, responses and embeddings calls of the models this "
                  "node serves and they do not (default: http://HOST:PORT of --host and --port unless "
                  "--host is 0.0.0.0 or ::, then none)")
      ->check([](const std::string& url) {
        return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0
                   ? std::string()
                   : std::string("an http:// or https:// URL");
      });
  cmd->add_option("--data-dir", opts->storage.data_dir,
                  "Where files and batches are kept: a folder openbatch creates (0700) and marks as its "
                  "own; an existing one that is not empty and not openbatch's is refused")
      ->capture_default_str();
  cmd->add_option("--db", opts->storage.db,
                  "Keep files and batches in this PostgreSQL database (a libpq URI: "
                  "postgresql://USER@HOST:5432/DB, postgresql:///DB?host=/run/postgresql), shared by every "
                  "node that names it: any node answers any call and runs any batch's requests (default: "
                  "SQLite in --data-dir, this process alone)")
      ->check([](const std::string& url) {
        return store::is_postgres_url(url) ? std::string() : "expected a postgresql:// or postgres:// URI";
      });
  cmd->add_option("--files-dir", opts->storage.files_dir,
                  "Keep file bytes in this directory (shared by the nodes, e.g. a network file system) "
                  "instead of in the database (--db) or --data-dir; they go in a folder openbatch makes in "
                  "it, openbatch-files, and nothing else there is touched");
  cmd->add_option("--lease-seconds", opts->storage.lease_seconds,
                  "How long this node's claim on batch requests holds without renewal (renewed every third "
                  "of it while they run); the requests of a node that dies go to the others after it")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--completion-window-seconds", opts->storage.completion_window_seconds,
                  "How long the \"24h\" completion window lasts (for testing expiry)")
      ->capture_default_str();
  cmd->add_option("--max-enqueued-tokens", opts->server.limits.max_enqueued_tokens,
                  "The prompt tokens each API key's unfinished batches (validating, in_progress, "
                  "finalizing) may hold together, counted at validation with the model's tokenizer (an "
                  "estimate of a token per 4 bytes of text with --upstream); a batch past it fails with "
                  "token_limit_exceeded, as OpenAI's does. Without --api-key every client shares one "
                  "limit (default: 0, none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option_function<int64_t>(
         "--max-stored-mb-per-key",
         [opts](int64_t mb) { opts->server.limits.max_stored_bytes_per_owner = mb << 20; },
         "The megabytes of files each API key may keep (its uploads and its batches' output and error "
         "files); past it an upload or a new batch gets a 400 storage_limit_exceeded until files are "
         "deleted. Outputs of running batches are always written (default: 0, none)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  cmd->add_option("--shutdown-grace", opts->shutdown_grace_seconds,
                  "Seconds that requests in progress get to finish after SIGTERM or SIGINT (no new work "
                  "is taken meanwhile; a running batch keeps its stored results and resumes on the next "
                  "start); then they end with a 503")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--webhook-url", opts->storage.webhook_url,
                  "POST a signed event (OpenAI's batch.completed, batch.failed, batch.expired, "
                  "batch.cancelled) to this http(s) URL when a batch ends; retried until the receiver "
                  "answers 2xx (for 24 h). Public addresses only, unless --webhook-allow-private");
  cmd->add_option("--webhook-secret", opts->storage.webhook_secret,
                  "The whsec_... secret the events are signed with (Standard Webhooks, as OpenAI signs "
                  "them; the receiver checks with client.webhooks.unwrap). Other local users see the "
                  "command line: prefer $OPENBATCH_WEBHOOK_SECRET");
  cmd->add_flag("--webhook-allow-private", opts->storage.webhook_allow_private,
                "Let --webhook-url reach loopback, private and link-local addresses");
  cmd->add_flag("--verbose,-v", opts->verbose, "Log llama.cpp's own messages");
  cmd->callback([opts] {
    if (opts->models_file.empty()) {
      require_model_source(opts->engine);
      opts->entries = {ModelEntry{opts->engine}};
    } else {
      auto entries = read_model_registry(opts->models_file, opts->engine);
      if (!entries) throw CLI::ValidationError("--models", entries.status().message());
      opts->entries = std::move(entries).value();
    }
    gather_api_keys(*opts);
    opts->server.max_request_body_bytes = opts->max_request_mb << 20;
    if (const char* env = std::getenv("OPENBATCH_WEBHOOK_SECRET");
        env && opts->storage.webhook_secret.empty()) {
      opts->storage.webhook_secret = env;
    }
    if (Status s = check_webhook_options(opts->storage); !s) {
      throw CLI::ValidationError(s.message());
    }
    int rc = serve(*opts);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace openbatch::cli
