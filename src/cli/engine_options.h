// The options that load the embedded engine, shared by `serve` and `run`: the model, its projector
// for images, the engine's sizes, and the limits on fetching image URLs.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "common/status.h"
#include "engine/engine.h"
#include "engine/llama/llama_engine.h"
#include "media/image_loader.h"

namespace openbatch::cli {

struct EngineOptions {
  engine::LlamaEngineOptions llama;
  media::ImageLoaderOptions images;
  double image_timeout_seconds = 30;
  double image_max_mb = 20;
};

// Adds --model, --model-id (with model_id_help), --mmproj, --parallel, --ctx-size, --threads, --cascade,
// --batch-size, --gpu-layers, --image-timeout and --image-max-mb to cmd.
void add_engine_options(CLI::App* cmd, EngineOptions& options, const std::string& model_id_help);

// Loads the model (and projector), wrapped so that requests with image URLs get their images loaded.
Result<std::unique_ptr<engine::Engine>> load_engine(EngineOptions options);

}  // namespace openbatch::cli
