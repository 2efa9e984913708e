// The models a batch may name, and where they run: those this node's engine serves (Engine::models(),
// each model's id and aliases) and those the fleet's nodes recorded in the store (store::NodeRegistry).
// Each node records its names at start and with every renewal of its leases (a heartbeat); a name whose
// latest heartbeat is within kLiveLeasePeriods lease periods is served by a live node. Validation
// accepts any name the fleet serves or has served; the request scheduler runs only batches of models
// this node serves; a batch whose model no live node serves waits, and the dashboard says so.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "store/store.h"

namespace openbatch::batch {

// A heartbeat older than this many lease periods is a node that is gone (it renews every third of one).
constexpr int kLiveLeasePeriods = 3;

// Every name of engine's models: each model's id, then its aliases, in the engine's order.
std::vector<std::string> served_names(const engine::Engine& engine);

// The model of models named name (is_named), or nullopt.
std::optional<engine::ModelInfo> model_named(const std::vector<engine::ModelInfo>& models,
                                             std::string_view name);

// Records engine's names as node's at now_ms, with the URL other nodes reach it at
// (NodeRegistry::record_node_models), pruning rows that have not been live for kLiveLeasePeriods lease
// periods where a newer row of their name exists.
Status record_served_models(store::Store& store, const engine::Engine& engine, const std::string& node,
                            const std::string& url, int64_t now_ms, std::chrono::milliseconds lease_duration);

// The URLs of the live nodes that serve name (a heartbeat within kLiveLeasePeriods lease periods of
// now_ms), the latest heartbeat first.
Result<std::vector<std::string>> live_node_urls(store::Store& store, const std::string& name, int64_t now_ms,
                                                std::chrono::milliseconds lease_duration);

// One name a batch may name, as the dashboard shows it.
struct FleetModel {
  std::string name;
  bool served_here = false;                                // this node's engine serves it
  engine::ModelState state = engine::ModelState::kLoaded;  // here: where it stands; else unused
  std::optional<int64_t> heartbeat_ms;  // the latest heartbeat of a node that recorded it; none: never
  bool live = false;                    // served here, or a heartbeat within the live window
};

// This node's names and the fleet's, each once (this node's first, in the engine's order, then the
// others by name), as of now_ms.
Result<std::vector<FleetModel>> fleet_models(store::Store& store, const engine::Engine& engine,
                                             int64_t now_ms, std::chrono::milliseconds lease_duration);

// Why batch does not run now, for the dashboard: "waiting for model X: no live node serves it" or
// "waiting for model X to load"; "" when it is not waiting for its model (or has ended).
std::string waiting_reason(const store::BatchRecord& batch, const std::vector<FleetModel>& models);

}  // namespace openbatch::batch
