// httplib's HTTP server with openbatch's own handling of connections: TCP_NODELAY on each (no 40 ms
// wait for the delayed ACK before an answer goes out), at most max_connections served at once (one
// more gets a 503 at once, in OpenAI's envelope), every read and write under a timeout, request
// headers under a size and time budget, keep-alive with a limit on requests and on idle time, and a
// listen backlog deep enough for bursts. Routes and handlers are httplib's as ever. Internal to api/.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_set>

#include "api/connection_pool.h"
#include "api/connection_stream.h"

namespace openbatch::api {

struct ConnectionLimits {
  int max_connections = 512;
  std::chrono::milliseconds keep_alive_timeout{5000};  // an idle keep-alive connection is closed after
  int keep_alive_max_requests = 10000;                 // then the connection is closed, to be reopened
  StreamLimits stream;
  int listen_backlog = 1024;
};

class HttpServer final : public httplib::Server {
 public:
  explicit HttpServer(ConnectionLimits limits);
  ~HttpServer() override;

  // Binds host:port (port 0: any free port, written back to port). False when it cannot.
  bool bind(const std::string& host, int& port);

  // Stops taking connections (the listen loop ends) and lets the open ones finish what they are doing:
  // an idle keep-alive connection closes at once, a busy one after the answer in progress (a stream
  // to its end; httplib's stop() would cut streams short). listen_after_bind() returns once every
  // connection has closed. Idempotent; thread-safe.
  void drain();

  // Cuts every open connection (shutdown(2) of its socket): a request being read or answered fails
  // at once and its thread ends. For a stop that cannot wait any longer. Thread-safe.
  void close_connections();

  // Connections served now, and refused (answered 503) since the start. Thread-safe.
  const ConnectionCounts& counts() const { return counts_; }

 private:
  // Serves the requests of one connection until it closes, stays idle past the keep-alive timeout,
  // reaches the request limit or the server stops (stop(): an idle connection closes at once, one
  // with a request in progress after its answer). Called by httplib on a ConnectionPool thread.
  bool process_and_close_socket(socket_t sock) override;
  // Answers a connection past max_connections with a 503 once its request's headers are in.
  void refuse(int fd);
  // Waits for the next request's first byte; false when the connection should close instead.
  bool wait_for_request(const ConnectionStream& stream) const;
  // drain() or stop() was called.
  bool stopping() const { return draining_ || svr_sock_ == INVALID_SOCKET; }

  const ConnectionLimits limits_;
  ConnectionCounts counts_;
  std::atomic<bool> draining_{false};
  std::mutex open_mu_;
  std::unordered_set<int> open_;  // sockets being served, for close_connections()
};

}  // namespace openbatch::api
