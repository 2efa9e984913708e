// GET /metrics in Prometheus' text format: what the engine has done since the server started (in all
// and per model), its upstream servers, and the batches that have not ended. Internal to api/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/metered_engine.h"
#include "store/store.h"

namespace openbatch::api {

// What /metrics shows, read from the engine and the batch service.
struct MetricsSnapshot {
  std::vector<engine::ModelInfo> models;  // Engine::models()
  engine::EngineMetrics engine;
  std::vector<engine::ReplicaMetrics> replicas;  // Engine::replicas(); none: no upstream families
  std::vector<store::BatchRecord> unfinished_batches;
  int64_t start_time_seconds = 0;
};

// The exposition text (version 0.0.4): openbatch_* counters, gauges and histograms, each family with
// HELP and TYPE. The totals keep their label-free names (openbatch_prompt_tokens_total ...); the same
// counts per model are the openbatch_model_* families, labelled model="<id>"; latency histograms are
// per model and priority; upstream series are labelled model and upstream="<API root>".
std::string metrics_text(const MetricsSnapshot& snapshot);

// The HTTP server's connection gauges: open now, refused (503) since the start.
std::string connection_metrics_text(int open_connections, int64_t refused_connections);

}  // namespace openbatch::api
