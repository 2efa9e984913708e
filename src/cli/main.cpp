// The openbatch binary: dispatches to the subcommands registered in cli/commands.h.
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"openbatch: a self-hosted, OpenAI-compatible Batch API on llama.cpp"};
  app.require_subcommand(1);
  openbatch::cli::register_serve(app);
  openbatch::cli::register_make_model(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}
