// The HTTP face of openbatch: an OpenAI-compatible server. Routes live in one file per resource
// (endpoint_routes.cpp, model_routes.cpp, file_routes.cpp, batch_routes.cpp) and register themselves
// on the httplib server through the functions declared in api/routes.h. HTTP only: the engine and the
// batch service come from the caller (cli/serve.cpp, the composition root), opened on whatever store.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "openai/limits.h"

namespace openbatch::engine {
class MeteredEngine;
}
namespace openbatch::batch {
class BatchService;
}

namespace openbatch::api {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::vector<std::string> api_keys;  // empty: no authentication
  // Connections served at once, each on a thread of its own; one more is answered 503 at once.
  int max_connections = 512;
  // Connections from one client address at once; 0: seven eighths of max_connections.
  int max_connections_per_address = 0;
  // The body of a request to a JSON route (every route but the uploads, which take the largest
  // upload); more is answered 413 as it arrives.
  int64_t max_request_body_bytes = 32LL << 20;
  // Without API keys: the Host names the server answers besides IP addresses and localhost (a page
  // of another site that rebinds its name to this address is refused).
  std::vector<std::string> allowed_hosts;
  // The Files API's largest upload (Limits::largest_upload) sets the upload route's body budget.
  openai::Limits limits;
  // Where the other nodes of a fleet reach this one ("http://host:port"), recorded with its models so
  // that they forward interactive calls of those models here. Empty: http://HOST:PORT when host is an
  // address (not 0.0.0.0 or ::), else none (this node's models are not forwarded to).
  std::string advertise_url;
};

class Server {
 public:
  // REQUIRES: engine and batches outlive the server; batches runs its requests on engine (so that
  // /metrics counts them) and has not been started.
  Server(ServerOptions options, engine::MeteredEngine& engine, batch::BatchService& batches);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, resumes unfinished batches (batches.start()) and serves until stop() is called; the batch
  // service is stopped when it returns. Returns an error when the port cannot be bound.
  Status run();
  // Starts a drain and makes run() return once it is over: no new connection is taken, idle ones
  // close, the batch runner stops (finished results are stored, the requests it had on the engine
  // run again on the next start); requests in progress are answered first. Returns when the batch
  // runner has stopped. Thread-safe.
  void stop();
  // Cuts the connections still open after stop(), for a drain that has run out of time (their
  // requests' generations end with the engine's shutdown). Thread-safe.
  void close_connections();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace openbatch::api
