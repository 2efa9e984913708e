// GET /metrics in Prometheus' text format: what the engine has done since the server started and the
// batches that have not ended. Internal to api/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/metered_engine.h"
#include "store/store.h"

namespace openbatch::api {

// The exposition text (version 0.0.4): openbatch_* counters and gauges, each with HELP and TYPE.
std::string metrics_text(const engine::ModelInfo& model, const engine::EngineMetrics& engine,
                         const std::vector<store::BatchRecord>& unfinished_batches,
                         int64_t start_time_seconds);

// The HTTP server's connection gauges: open now, refused (503) since the start.
std::string connection_metrics_text(int open_connections, int64_t refused_connections);

}  // namespace openbatch::api
