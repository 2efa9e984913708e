#include "cli/model_router.h"

#include <cstdio>
#include <utility>

namespace openbatch::cli {

namespace {

// Whether the entry names a projector, or a hub repository that may hold one (which is known only
// once fetched): images are then accepted, and refused by the engine if it turns out to have none.
bool may_have_vision(const models::ModelSource& src) {
  return !src.mmproj_path.empty() || !src.hf_mmproj_file.empty() || !src.mmproj_url.empty() ||
         (!src.hf_repo.empty() && !src.no_mmproj);
}

void log_ready(const ModelEntry& entry, const engine::ModelInfo& info) {
  if (!entry.upstream()) {
    std::fprintf(stderr,
                 "openbatch: model '%s' ready: %d parallel sequences of %d tokens in %d context%s%s\n",
                 info.id.c_str(), info.parallel, info.context_per_sequence, info.contexts,
                 info.contexts == 1 ? "" : "s", info.has_vision ? ", images" : "");
  } else {
    std::fprintf(stderr, "openbatch: model '%s' ready on %s: %d requests in flight\n", info.id.c_str(),
                 describe_engine_source(entry.engine).c_str(), info.parallel);
  }
}

engine::RoutedModel routed_model(ModelEntry entry, bool only) {
  engine::RoutedModel m;
  const std::vector<std::string>& names = entry.engine.llama.model_ids;
  if (!names.empty()) {
    m.info.id = names.front();
    m.info.aliases.assign(names.begin() + 1, names.end());
  }
  m.info.has_vision = may_have_vision(entry.engine.source);
  m.info.parallel = entry.engine.llama.parallel;
  // A server of one model keeps it, whatever --models-max says.
  m.counts_toward_limit = !entry.upstream() && !only;
  m.load = [entry = std::move(entry)]() -> Result<std::unique_ptr<engine::Engine>> {
    EngineOptions options = entry.engine;
    if (!entry.upstream() && options.llama.model_path.empty()) {
      if (Status s = fetch_engine_files(options); !s) return s;
    }
    std::fprintf(stderr, "openbatch: loading %s\n", describe_engine_source(options).c_str());
    auto engine = load_engine(std::move(options));
    if (engine) log_ready(entry, (*engine)->model_info());
    return engine;
  };
  return m;
}

}  // namespace

Status fetch_start_files(std::vector<ModelEntry>& entries, int models_max, std::function<bool()> stop) {
  if (models_max > 0 && entries.size() > 1) return Status::ok();
  for (ModelEntry& entry : entries) {
    if (Status s = fetch_engine_files(entry.engine, stop); !s) return s;
  }
  return Status::ok();
}

Result<std::unique_ptr<engine::Router>> start_model_router(std::vector<ModelEntry> entries, int models_max) {
  const bool only = entries.size() == 1;
  std::vector<engine::RoutedModel> models;
  for (ModelEntry& entry : entries) models.push_back(routed_model(std::move(entry), only));
  engine::RouterOptions options;
  options.models_max = models_max;
  options.log = [](const std::string& line) { std::fprintf(stderr, "openbatch: %s\n", line.c_str()); };
  return engine::Router::start(std::move(models), std::move(options));
}

}  // namespace openbatch::cli
