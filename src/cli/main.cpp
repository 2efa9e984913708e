// The openbatch binary: dispatches to the subcommands registered in cli/commands.h.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "cli/openmp_policy.h"

int main(int argc, char** argv) {
  openbatch::cli::restart_with_short_openmp_spin(argc, argv);
  CLI::App app{"openbatch: a self-hosted, OpenAI-compatible Batch API on llama.cpp"};
  app.require_subcommand(1);
  openbatch::cli::register_serve(app);
  openbatch::cli::register_make_model(app);
  openbatch::cli::register_prepare(app);
  openbatch::cli::register_submit(app);
  openbatch::cli::register_batches(app);
  openbatch::cli::register_files(app);
  openbatch::cli::register_results(app);
  openbatch::cli::register_run(app);
  openbatch::cli::register_retry(app);
  openbatch::cli::expand_hf_short_option(argc, argv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a subcommand's own exit code (cli/exit_codes.h); it has said why
  } catch (const CLI::ParseError& e) {
    // --help exits 0; every usage error exits 2, as scripts expect of a command line.
    return app.exit(e) == 0 ? 0 : 2;
  }
  return 0;
}
