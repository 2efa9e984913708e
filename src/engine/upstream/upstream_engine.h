// An Engine whose generations run on upstream OpenAI-compatible servers (llama-server, vLLM, SGLang,
// OpenAI itself): each is sent as a Chat Completions request, spread over the servers (ReplicaPool:
// prefix affinity, a concurrency found per server, servers that fail taken out and probed back),
// retried when a server is busy or away.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "engine/upstream/replica_chooser.h"

namespace openbatch::engine::upstream {

// The largest max_parallel: a thread for each request in flight.
inline constexpr int kMaxUpstreamParallel = 1024;

struct UpstreamOptions {
  std::vector<std::string> base_urls;  // each the server's API root, as OPENAI_BASE_URL: http://host:8080/v1
  std::string api_key;                 // sent as a bearer token to every upstream; empty: none
  std::string model;                   // the model's name upstream; empty: the first of GET /models
  std::vector<std::string> model_ids;  // the names clients use; empty: model
  // Requests in flight on each upstream: > 0, that many; 0, found per upstream (ConcurrencyController:
  // from a few, up while the server answers well, down on 429, 503 and timeouts), at most max_parallel.
  int parallel = 0;
  int max_parallel = 256;
  Routing routing = Routing::kAffinity;  // which upstream a request goes to (ReplicaChooser)
  // A call that meets a busy or unreachable server (429, 5xx, no connection) is tried this many times
  // in all, waiting as Retry-After says or twice as long as the time before; then a 503 (a batch
  // runs it again later) or the server's own 500.
  int max_attempts = 5;
  std::chrono::milliseconds first_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  std::chrono::seconds timeout{600};  // for one call, generation included
  // A connection (and its thread) idle this long is closed; another is opened as work comes.
  std::chrono::milliseconds worker_idle{60'000};
};

// Starts an engine forwarding to options.base_urls. With parallel 0 each upstream is first asked for
// its slots (GET /props at its root, as llama-server serves it: server_props.h); one that says caps its
// found limit there, at start and when it is probed back. Its ModelInfo::parallel is the most requests
// its upstreams may hold at once (parallel, else each one's slots or max_parallel, summed), so that the
// batch runner keeps enough on it for a server that takes hundreds. When options.model is empty the
// first upstream is asked for its models, so an unreachable server or a refused key is an error here.
Result<std::unique_ptr<Engine>> start_upstream_engine(UpstreamOptions options);

}  // namespace openbatch::engine::upstream
