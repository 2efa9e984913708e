// The model registry of `openbatch serve --models FILE`: the models a server serves, each with the
// names clients use and where it runs (an embedded GGUF or an upstream pool). The file is JSON:
//
//   {"models": [{"id": "gpt-4o-mini", "aliases": ["mini"], "model": "qwen.gguf", "parallel": 4},
//               {"id": "big", "upstream": ["http://gpu1:8000/v1", "http://gpu2:8000/v1"]}]}
//
// An entry's other keys are serve's engine options (cli/engine_options.h) without the leading dashes
// and with '_' for '-': it is read by the very options the flags are, so an entry means exactly what
// its flags would. The single-model flags (--model, --upstream, --model-id, ...) are a registry of one.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/engine_options.h"
#include "common/status.h"

namespace openbatch::cli {

struct ModelEntry {
  // The options of the model as the flags would set them; llama.model_ids holds its id, then its
  // aliases (empty for a model given by flags without --model-id: the engine names it).
  EngineOptions engine;
  bool upstream() const { return !engine.upstream.base_urls.empty(); }
};

// The entries of registry, the parsed contents of the file at path (path names the file in messages;
// relative paths of entries are relative to base_dir). defaults: the engine options of the command
// line, which an entry's keys override (its sizes, image limits...). A malformed registry is a 400
// whose message names the file, the entry and the key: an unknown key, a value of the wrong type, a
// missing or duplicate id or alias (across entries too), an entry with neither a model nor an upstream.
Result<std::vector<ModelEntry>> parse_model_registry(const nlohmann::json& registry, const std::string& path,
                                                     const std::string& base_dir,
                                                     const EngineOptions& defaults);

// Reads and parses the file at path (as parse_model_registry, base_dir its folder). An unreadable file
// or one that is not JSON is a 400 too.
Result<std::vector<ModelEntry>> read_model_registry(const std::string& path, const EngineOptions& defaults);

// Most entries a registry may hold.
inline constexpr size_t kMaxRegistryModels = 256;

}  // namespace openbatch::cli
