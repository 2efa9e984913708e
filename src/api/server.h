// The HTTP face of openbatch: an OpenAI-compatible server. Routes live in one file per resource
// (endpoint_routes.cpp, model_routes.cpp, file_routes.cpp, batch_routes.cpp) and register themselves
// on the httplib server through the functions declared in api/routes.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "openai/limits.h"

namespace openbatch::engine {
class Engine;
}

namespace openbatch::api {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::vector<std::string> api_keys;  // empty: no authentication
  std::string data_dir = "./openbatch-data";
  // The metadata store: "" keeps it in data_dir (SQLite, this process alone); postgresql://... shares
  // one PostgreSQL database among many nodes (file bytes too, unless files_dir says where they go).
  std::string db;
  std::string files_dir;      // file bytes in this directory (shared by the nodes); "": data_dir or db
  double lease_seconds = 30;  // how long a node's claim on requests holds without renewal
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
  // Batch options (see batch/).
  openai::Limits limits;
  int64_t completion_window_seconds = 24 * 3600;  // what "24h" means; tests shorten it
  // Webhooks: batch.completed, batch.failed, batch.expired and batch.cancelled posted to webhook_url
  // ("" = none), signed with webhook_secret ("whsec_..."); loopback and private addresses only with
  // webhook_allow_private.
  std::string webhook_url;
  std::string webhook_secret;
  bool webhook_allow_private = false;
};

// OK when the webhook options are usable (a secret with a URL, an http(s) URL whose address is allowed,
// a whsec_ secret); the problem otherwise, naming the flag.
Status check_webhook_options(const ServerOptions& options);

class Server {
 public:
  // REQUIRES: engine outlives the server.
  Server(ServerOptions options, engine::Engine& engine);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, resumes unfinished batches and serves until stop() is called. Returns an error when the
  // data directory cannot be opened or the port cannot be bound.
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
  Status open_status_;  // why the data directory could not be opened, if it could not
};

}  // namespace openbatch::api
