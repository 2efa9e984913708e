#include "api/http_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "common/error_envelope.h"

namespace openbatch::api {

namespace {

constexpr auto kStopCheck = std::chrono::milliseconds(50);  // how soon an idle connection sees a stop

constexpr size_t kMaxSkippedBody = 1 << 20;

struct Body {
  bool chunked = false;
  size_t length = 0;
};

Body body_of(const httplib::Request& req) {
  Body b;
  b.chunked = req.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos;
  const std::string length = req.get_header_value("Content-Length");
  if (!length.empty()) b.length = static_cast<size_t>(std::strtoull(length.c_str(), nullptr, 10));
  return b;
}

// Reads what is left of the request's body; false when the connection must close instead.
bool skip_unread_body(ConnectionStream& stream, const Body& body) {
  const size_t read = stream.body_bytes_read();
  if (body.chunked) return read > 0;  // httplib reads a chunked body to its end when it reads it at all
  if (read >= body.length) return true;
  if (body.length - read > kMaxSkippedBody) return false;
  char sink[4096];
  for (size_t left = body.length - read; left > 0;) {
    const ssize_t n = stream.read(sink, std::min(left, sizeof sink));
    if (n <= 0) return false;
    left -= static_cast<size_t>(n);
  }
  return true;
}

time_t whole_seconds(std::chrono::milliseconds d) {
  return static_cast<time_t>(std::max<int64_t>(1, (d.count() + 999) / 1000));
}

}  // namespace

HttpServer::HttpServer(ConnectionLimits limits) : limits_(limits) {
  new_task_queue = [this] { return new ConnectionPool(limits_.max_connections, counts_); };
  set_tcp_nodelay(true);
  set_keep_alive_max_count(static_cast<size_t>(std::max(1, limits_.keep_alive_max_requests)));
  set_keep_alive_timeout(whole_seconds(limits_.keep_alive_timeout));
  // httplib sets these as SO_RCVTIMEO and SO_SNDTIMEO on each accepted socket: a bound on a blocking
  // send of a large answer, beside the waits of ConnectionStream.
  set_read_timeout(whole_seconds(limits_.stream.read_timeout));
  set_write_timeout(whole_seconds(limits_.stream.write_timeout));
}

HttpServer::~HttpServer() = default;

bool HttpServer::bind(const std::string& host, int& port) {
  const bool bound = port == 0 ? (port = bind_to_any_port(host)) > 0 : bind_to_port(host, port);
  // httplib listens with a backlog of 5: a burst of new connections past it waits for SYN retries (1 s
  // and more). Listening again on the socket only deepens its queue.
  if (bound) ::listen(svr_sock_, limits_.listen_backlog);
  return bound;
}

bool HttpServer::wait_for_request(const ConnectionStream& stream) const {
  const auto deadline = std::chrono::steady_clock::now() + limits_.keep_alive_timeout;
  while (!stopping()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (stream.wait_readable(std::min(left, kStopCheck))) return true;
  }
  return false;
}

bool HttpServer::process_and_close_socket(socket_t sock) {
  // Listening sockets pass TCP_NODELAY on to their connections on Linux, not everywhere: set it here.
  const int one = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (ConnectionPool::refusing()) {
    if (!ConnectionPool::quietly()) refuse(sock);
    ::close(sock);
    return true;
  }
  {
    std::lock_guard lock(open_mu_);
    open_.insert(sock);
  }
  ConnectionStream stream(sock, limits_.stream);
  bool ok = true;
  for (int left = std::max(1, limits_.keep_alive_max_requests); left > 0 && ok; --left) {
    if (!wait_for_request(stream)) break;
    stream.begin_request();
    const bool last = left == 1 || stopping();
    bool closed = false;
    bool headers_read = false;
    Body body;
    ok = process_request(stream, last, closed, [&](httplib::Request& req) {
      headers_read = true;
      body = body_of(req);
      stream.end_headers();
    });
    // Without headers (malformed, too large, too slow) the request got a 400 and the connection
    // cannot be trusted to be at the start of another.
    if (closed || last || !headers_read) break;
    // An answer given without reading the body (a 401 before an upload) leaves the body where the
    // next request would be read: skip a small one, close the connection after a large one.
    if (!skip_unread_body(stream, body)) break;
  }
  {
    std::lock_guard lock(open_mu_);
    open_.erase(sock);  // before close: close_connections() never touches a number reused since
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

void HttpServer::drain() {
  if (draining_.exchange(true)) return;
  // accept() then fails and the listen loop ends, closing the socket itself; svr_sock_ stays set, so
  // that httplib goes on writing the answers in progress.
  const socket_t listening = svr_sock_;
  if (listening == INVALID_SOCKET) {
    draining_ = false;  // not bound yet: a later drain() does it
    return;
  }
  ::shutdown(listening, SHUT_RDWR);
}

void HttpServer::close_connections() {
  std::lock_guard lock(open_mu_);
  for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
}

void HttpServer::refuse(int fd) {
  StreamLimits quick = limits_.stream;
  quick.read_timeout = quick.header_timeout = quick.write_timeout = std::chrono::milliseconds(1000);
  ConnectionStream stream(fd, quick);
  // The request's headers first, so that the client is reading when the answer comes.
  stream.begin_request();
  std::string head;
  char c = 0;
  while (head.size() < 4 || head.compare(head.size() - 4, 4, "\r\n\r\n") != 0) {
    if (stream.read(&c, 1) != 1) break;
    head += c;
  }
  const std::string body =
      error_envelope(Status::unavailable("The server is serving as many connections as it takes (" +
                                         std::to_string(limits_.max_connections) +
                                         "). Please retry shortly."))
          .dump();
  const std::string response =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + body;
  for (size_t sent = 0; sent < response.size();) {
    const ssize_t n = stream.write(response.data() + sent, response.size() - sent);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
  // Read what the client still sends (a body) before closing, or the close would reset the
  // connection and could destroy the answer before the client reads it.
  ::shutdown(fd, SHUT_WR);
  stream.end_headers();
  char sink[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (size_t drained = 0; drained < (1u << 20) && std::chrono::steady_clock::now() < deadline;) {
    const ssize_t n = stream.read(sink, sizeof sink);
    if (n <= 0) break;
    drained += static_cast<size_t>(n);
  }
}

}  // namespace openbatch::api
