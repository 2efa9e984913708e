// The options that load the embedded engine, shared by `serve` and `run`: where the model comes from
// (a file, a hub repository or a URL), its projector for images, the engine's sizes, and the limits on
// fetching image URLs.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "engine/engine.h"
#include "engine/llama/llama_engine.h"
#include "engine/upstream/upstream_engine.h"
#include "media/image_loader.h"
#include "models/model_source.h"

namespace openbatch::cli {

struct EngineOptions {
  models::ModelSource source;
  std::string models_dir;            // empty: models::hub_options_from_env()'s
  engine::LlamaEngineOptions llama;  // model_path and mmproj_path: set by fetch_engine_files
  // Requests go to these servers instead of a model loaded here when upstream.base_urls is set.
  engine::upstream::UpstreamOptions upstream;
  media::ImageLoaderOptions images;
  double image_timeout_seconds = 30;
  double image_max_mb = 20;
  std::string chat_template_file;  // a Jinja template replacing the model's own; empty: the model's
};

// Adds --model, --hf-repo, --hf-file, --model-url, --models-dir, --model-id (with model_id_help),
// --mmproj, --hf-mmproj-file, --mmproj-url, --no-mmproj, --parallel, --ctx-size, --threads, --cascade,
// --batch-size, --gpu-layers, --chat-template-file, --image-timeout, --image-max-mb,
// --image-allow-private, --image-allow-host, --upstream, --upstream-model,
// --upstream-api-key, --upstream-retries, --upstream-max-parallel and --upstream-routing to cmd.
void add_engine_options(CLI::App* cmd, EngineOptions& options, const std::string& model_id_help);

// Throws CLI::ValidationError (a usage error) unless a model source or an upstream was given (the
// options exclude each other, so there is one at most) or when a repository or file name is not a safe name.
void require_model_source(const EngineOptions& options);

// CLI11 takes one-character short options only; llama.cpp's tools spell --hf-repo `-hf`. Rewrites
// `-hf` to `--hf-repo` in the arguments of `serve` and `run`.
void expand_hf_short_option(int argc, char** argv);

// Sets options.llama's model_path and mmproj_path to local files: the given paths, or the cached
// copies of hub and URL files, downloaded first when missing (progress on stderr). Nothing to do for
// an upstream. stop is polled
// during downloads (true: stop, keeping the partial file for the next run).
Status fetch_engine_files(EngineOptions& options, std::function<bool()> stop = {});

// Loads the model (and projector), wrapped so that requests with image URLs get their images loaded;
// or starts the engine that forwards to options.upstream (image URLs go to the upstream as they are).
// REQUIRES: fetch_engine_files(options) succeeded.
Result<std::unique_ptr<engine::Engine>> load_engine(EngineOptions options);

// What is being served, for log lines: the model file or the upstream servers.
std::string describe_engine_source(const EngineOptions& options);

}  // namespace openbatch::cli
