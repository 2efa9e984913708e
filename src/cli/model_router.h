// The composition of a registry's models (cli/model_registry.h) into the engine that serves them: an
// engine::Router whose entries load with the engine options' own fetch_engine_files and load_engine.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "cli/model_registry.h"
#include "common/status.h"
#include "engine/router.h"

namespace openbatch::cli {

// Downloads the files (hub and URL sources) of the models that load at start: every embedded model
// when models_max is 0, none otherwise (those download when they load). stop as in fetch_engine_files.
Status fetch_start_files(std::vector<ModelEntry>& entries, int models_max, std::function<bool()> stop = {});

// Starts the router of entries, each loaded as the flags would load it (fetch_engine_files, then
// load_engine; upstream pools are loaded at start and never count toward models_max). Logs to stderr
// as each model loads. Fails with the first model that fails to load at start.
// REQUIRES: entries is not empty; its names are unique (read_model_registry checked them).
Result<std::unique_ptr<engine::Router>> start_model_router(std::vector<ModelEntry> entries, int models_max);

}  // namespace openbatch::cli
