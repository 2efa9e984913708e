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

}  // namespace openbatch::cli
