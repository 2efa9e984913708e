// Each subcommand of the `openbatch` binary lives in its own file under cli/ and registers itself here.
#pragma once

namespace CLI {
class App;
}

namespace openbatch::cli {

// Adds `openbatch serve` (the HTTP server) to app.
void register_serve(CLI::App& app);
// Adds `openbatch make-model` (writes small random-weight GGUF models for tests and benchmarks).
void register_make_model(CLI::App& app);
// Adds `openbatch prepare` (rows of a CSV or JSONL file to a batch input file).
void register_prepare(CLI::App& app);
// Adds `openbatch submit` (upload, create a batch, optionally watch it).
void register_submit(CLI::App& app);
// Adds `openbatch batches ls|show|cancel|wait`.
void register_batches(CLI::App& app);
// Adds `openbatch files ls|show|rm`.
void register_files(CLI::App& app);
// Adds `openbatch results` (download results, optionally joined to the input rows).
void register_results(CLI::App& app);
// Adds `openbatch run` (a batch input file on the embedded engine, no server).
void register_run(CLI::App& app);
// Adds `openbatch retry` (a new batch of the lines of a finished batch that failed or never ran).
void register_retry(CLI::App& app);

}  // namespace openbatch::cli
