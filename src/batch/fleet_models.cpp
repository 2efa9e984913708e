#include "batch/fleet_models.h"

#include <algorithm>
#include <utility>

namespace openbatch::batch {
namespace {

int64_t live_window_ms(std::chrono::milliseconds lease_duration) {
  return kLiveLeasePeriods * static_cast<int64_t>(lease_duration.count());
}

}  // namespace

std::vector<std::string> served_names(const engine::Engine& engine) {
  std::vector<std::string> out;
  for (const engine::ModelInfo& m : engine.models()) {
    out.push_back(m.id);
    out.insert(out.end(), m.aliases.begin(), m.aliases.end());
  }
  return out;
}

std::optional<engine::ModelInfo> model_named(const std::vector<engine::ModelInfo>& models,
                                             std::string_view name) {
  for (const engine::ModelInfo& m : models) {
    if (engine::is_named(m, name)) return m;
  }
  return std::nullopt;
}

Status record_served_models(store::Store& store, const engine::Engine& engine, const std::string& node,
                            const std::string& url, int64_t now_ms,
                            std::chrono::milliseconds lease_duration) {
  return store.record_node_models(node, served_names(engine), url, now_ms,
                                  now_ms - live_window_ms(lease_duration));
}

Result<std::vector<std::string>> live_node_urls(store::Store& store, const std::string& name, int64_t now_ms,
                                                std::chrono::milliseconds lease_duration) {
  return store.node_urls(name, now_ms - live_window_ms(lease_duration));
}

Result<std::vector<FleetModel>> fleet_models(store::Store& store, const engine::Engine& engine,
                                             int64_t now_ms, std::chrono::milliseconds lease_duration) {
  auto recorded = store.served_models();
  if (!recorded) return recorded.status();
  std::vector<FleetModel> out;
  for (const engine::ModelInfo& m : engine.models()) {
    std::vector<std::string> names{m.id};
    names.insert(names.end(), m.aliases.begin(), m.aliases.end());
    for (std::string& name : names) out.push_back({std::move(name), true, m.state, std::nullopt, true});
  }
  const size_t here = out.size();
  for (const store::ServedModel& r : *recorded) {
    auto mine = std::find_if(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(here),
                             [&](const FleetModel& f) { return f.name == r.name; });
    if (mine != out.begin() + static_cast<std::ptrdiff_t>(here)) {
      mine->heartbeat_ms = r.heartbeat_ms;
      continue;
    }
    FleetModel f;
    f.name = r.name;
    f.heartbeat_ms = r.heartbeat_ms;
    f.live = now_ms - r.heartbeat_ms <= live_window_ms(lease_duration);
    out.push_back(std::move(f));
  }
  return out;
}

std::string waiting_reason(const store::BatchRecord& batch, const std::vector<FleetModel>& models) {
  if (batch.status != store::BatchStatus::kInProgress || batch.model.empty()) return "";
  auto it =
      std::find_if(models.begin(), models.end(), [&](const FleetModel& f) { return f.name == batch.model; });
  if (it == models.end() || !it->live) return "waiting for model " + batch.model + ": no live node serves it";
  if (it->served_here &&
      (it->state == engine::ModelState::kUnloaded || it->state == engine::ModelState::kLoading)) {
    return "waiting for model " + batch.model + " to load";
  }
  return "";
}

}  // namespace openbatch::batch
