// httplib's HTTP server with openbatch's own handling of connections: TCP_NODELAY on each (no 40 ms
// wait for the delayed ACK before an answer goes out), at most max_connections served at once (one
// more gets a 503 at once, in OpenAI's envelope), every read and write under a timeout, request
// headers under a size and time budget, keep-alive with a limit on requests and on idle time, and a
// listen backlog deep enough for bursts. Every body is checked where it arrives: its framing before a
// byte of it is read (api/request_framing.h), then its size and pace as it comes (BodyBudget), and a
// connection whose body was not read to its end is closed after the answer, never drained. Routes
// and handlers are httplib's as ever. Internal to api/.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "api/connection_pool.h"
#include "api/connection_stream.h"
#include "common/status.h"

namespace openbatch::api {

struct ConnectionLimits {
  int max_connections = 512;
  // Connections from one client address at once (0: seven eighths of max_connections), so that one
  // address cannot take every connection; the next gets the same 503 as one past max_connections.
  int max_connections_per_address = 0;
  std::chrono::milliseconds keep_alive_timeout{5000};  // an idle keep-alive connection is closed after
  int keep_alive_max_requests = 10000;                 // then the connection is closed, to be reopened
  StreamLimits stream;
  int listen_backlog = 1024;
};

class HttpServer final : public httplib::Server {
 public:
  explicit HttpServer(ConnectionLimits limits);
  ~HttpServer() override;

  // The budget of a request's body, by its method, path and headers (called once its headers are
  // in, before any of the body is read). Default: no budget. Call before bind().
  void set_body_budget(std::function<BodyBudget(const httplib::Request&)> budget_for);
  // Checks every request once its headers are in, before its body is read: a refusal is answered
  // with its OpenAI error and the connection closed. Runs after the framing check. Replaces
  // httplib's pre-routing handler (which this class uses itself); call before bind().
  void set_request_check(std::function<Status(const httplib::Request&)> check);
  // Fills in the body of an error answer that has none (httplib's 404, 405, a failed body read),
  // after this class has turned a body past its budget into its 413 or 408. Replaces httplib's error
  // handler; call before bind().
  void set_error_answer(std::function<void(const httplib::Request&, httplib::Response&)> answer);

  // Whether the client of the request being served on this thread has gone (closed its side of the
  // connection), for a handler that works long before it answers. False on other threads.
  static bool client_gone();

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

  // Serves one accepted connection on the calling thread, as a connection thread serves it, and
  // closes it (for tests and the fuzz target; the listen loop calls it itself).
  void serve_connection(int fd) { process_and_close_socket(fd); }

  // Connections served now, and refused (answered 503) since the start. Thread-safe.
  const ConnectionCounts& counts() const { return counts_; }

 private:
  // Serves the requests of one connection until it closes, stays idle past the keep-alive timeout,
  // reaches the request limit or the server stops (stop(): an idle connection closes at once, one
  // with a request in progress after its answer). Called by httplib on a ConnectionPool thread.
  bool process_and_close_socket(socket_t sock) override;
  // Answers a connection past max_connections with a 503 once its request's headers are in.
  void refuse(int fd, const std::string& why);
  // Takes a connection from address into the per-address count; false when it has too many.
  bool admit_address(const std::string& address);
  void release_address(const std::string& address);
  // Waits for the next request's first byte; false when the connection should close instead.
  bool wait_for_request(const ConnectionStream& stream) const;
  // drain() or stop() was called.
  bool stopping() const { return draining_ || svr_sock_ == INVALID_SOCKET; }

  const ConnectionLimits limits_;
  std::function<BodyBudget(const httplib::Request&)> budget_for_;
  std::function<Status(const httplib::Request&)> request_check_;
  std::function<void(const httplib::Request&, httplib::Response&)> error_answer_;
  std::mutex address_mu_;
  std::unordered_map<std::string, int> per_address_;
  ConnectionCounts counts_;
  std::atomic<bool> draining_{false};
  std::mutex open_mu_;
  std::unordered_set<int> open_;  // sockets being served, for close_connections()

  // httplib's own handlers are this class's: reach them through set_request_check and
  // set_error_answer.
  using httplib::Server::set_error_handler;
  using httplib::Server::set_pre_routing_handler;
};

}  // namespace openbatch::api
