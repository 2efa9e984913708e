// The settings of the batch runner (batch/batch_runner.h), and what its two threads (the request
// scheduler and the job thread) share. Internal to batch/.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "blobs/blobs.h"
#include "common/clock.h"
#include "common/failure_log.h"
#include "engine/engine.h"
#include "openai/limits.h"
#include "store/store.h"

namespace openbatch::batch {

struct RunnerOptions {
  // Requests on the engine at once, all batches together; 0: no cap but each model's own budget
  // (in_flight_budget).
  int max_in_flight = 0;
  std::chrono::milliseconds flush_interval{50};
  size_t flush_max_results = 64;
  openai::Limits limits;
  std::string node_id = "node";  // this runner's name in the store's leases
  // Where other nodes reach this one's API ("http://host:port"; "": they cannot), recorded with the
  // models it serves (NodeRegistry) so that they forward interactive calls of those models here.
  std::string node_url;
  std::chrono::milliseconds lease_duration{30000};
  std::chrono::milliseconds poll_interval{500};
  // How long a validation or finalization the store could not take waits before it is tried again; the
  // wait doubles while it keeps failing, to 12 times this.
  std::chrono::milliseconds retry_interval{5000};
};

// What both threads of a runner work with. REQUIRES: everything it names outlives the threads.
struct RunnerContext {
  store::Store& store;
  blobs::BlobStore& blobs;
  engine::Engine& engine;
  const Clock& clock;
  const RunnerOptions& options;
  FailureLog& failures;  // retried work that fails: logged once per change, not per try
};

// Requests of batches of model on the engine at once, all its batches together: its own budget, so that
// the batches of one model never hold the places another model's batches need.
inline int in_flight_budget(const engine::ModelInfo& model) { return 4 * std::max(1, model.parallel); }

// When a lease taken now ends, in the store's milliseconds since the epoch.
inline int64_t lease_until_ms(const Clock& clock, const RunnerOptions& options) {
  return clock.now_millis() + static_cast<int64_t>(options.lease_duration.count());
}

}  // namespace openbatch::batch
