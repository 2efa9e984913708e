#include "api/http_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "api/request_framing.h"
#include "common/error_envelope.h"
#include "common/http_status.h"

namespace openbatch::api {

namespace {

constexpr auto kStopCheck = std::chrono::milliseconds(50);  // how soon an idle connection sees a stop

// What the thread serving a connection knows of its request in progress, for the handlers that
// httplib calls on it.
struct RequestState {
  ConnectionStream* stream = nullptr;
  Status refusal;  // the framing check's, answered before routing
  bool framing_known = false;
  BodyFraming framing;
};
thread_local RequestState* t_request = nullptr;

// Whether the request's body was read to its end, so that the next request starts where the
// connection is now.
bool body_consumed(const ConnectionStream& stream, const RequestState& state) {
  if (!state.framing_known || stream.body_refusal() != BodyRefusal::kNone) return false;
  switch (state.framing.kind) {
    case BodyFraming::Kind::kNone:
      return true;
    case BodyFraming::Kind::kLength:
      return stream.body_bytes_read() >= state.framing.length;
    case BodyFraming::Kind::kChunked:
      return stream.body_bytes_read() > 0;  // httplib reads a chunked body to its end when it reads it
  }
  return false;
}

// Closes the sending side and drops what the client still sends for a moment (at most a second and
// 64 MB, as a web server's lingering close does): closing with unread bytes would reset the
// connection, which can destroy the answer before the client has read it. Then the caller closes
// the socket.
void linger(int fd) {
  ::shutdown(fd, SHUT_WR);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  char sink[16 * 1024];
  for (size_t dropped = 0; dropped < (64u << 20);) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    const ssize_t n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n <= 0) break;
    dropped += static_cast<size_t>(n);
  }
}

void answer(httplib::Response& res, const Status& status) {
  res.status = http_status_of(status);
  res.set_content(error_envelope(status).dump(), "application/json");
}

std::string peer_address(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "";
  char host[NI_MAXHOST] = {0};
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof host, nullptr, 0,
                    NI_NUMERICHOST) != 0)
    return "";
  return host;
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
  httplib::Server::set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    Status s = t_request != nullptr ? t_request->refusal : Status::ok();
    if (s && request_check_) s = request_check_(req);
    if (s) return HandlerResponse::Unhandled;
    answer(res, s);
    return HandlerResponse::Handled;
  });
  httplib::Server::set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    const BodyRefusal refusal = t_request != nullptr ? t_request->stream->body_refusal() : BodyRefusal::kNone;
    if (refusal == BodyRefusal::kTooLarge) {
      answer(res, Status::too_large("The request body is too large for this route: it was cut at " +
                                    std::to_string(t_request->stream->body_bytes_read()) + " bytes."));
    } else if (refusal == BodyRefusal::kTooSlow) {
      answer(res, Status::request_timeout("The request body did not arrive in time."));
    }
    if (res.body.empty() && error_answer_) error_answer_(req, res);
  });
}

void HttpServer::set_body_budget(std::function<BodyBudget(const httplib::Request&)> budget_for) {
  budget_for_ = std::move(budget_for);
}

void HttpServer::set_request_check(std::function<Status(const httplib::Request&)> check) {
  request_check_ = std::move(check);
}

void HttpServer::set_error_answer(std::function<void(const httplib::Request&, httplib::Response&)> answer) {
  error_answer_ = std::move(answer);
}

bool HttpServer::client_gone() { return t_request != nullptr && t_request->stream->peer_closed(); }

bool HttpServer::admit_address(const std::string& address) {
  const int cap = limits_.max_connections_per_address > 0
                      ? limits_.max_connections_per_address
                      : std::max(1, limits_.max_connections - limits_.max_connections / 8);
  std::lock_guard lock(address_mu_);
  int& open = per_address_[address];
  if (open >= cap) {
    if (open == 0) per_address_.erase(address);
    return false;
  }
  ++open;
  return true;
}

void HttpServer::release_address(const std::string& address) {
  std::lock_guard lock(address_mu_);
  auto it = per_address_.find(address);
  if (it != per_address_.end() && --it->second <= 0) per_address_.erase(it);
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
    if (!ConnectionPool::quietly())
      refuse(sock, "The server is serving as many connections as it takes (" +
                       std::to_string(limits_.max_connections) + "). Please retry shortly.");
    ::close(sock);
    return true;
  }
  const std::string address = peer_address(sock);
  if (!admit_address(address)) {
    counts_.refused++;
    refuse(sock, "Too many connections from one address at once. Please retry shortly.");
    ::close(sock);
    return true;
  }
  {
    std::lock_guard lock(open_mu_);
    open_.insert(sock);
  }
  ConnectionStream stream(sock, limits_.stream);
  RequestState state;
  state.stream = &stream;
  t_request = &state;
  bool ok = true;
  bool unread_body = false;
  for (int left = std::max(1, limits_.keep_alive_max_requests); left > 0 && ok; --left) {
    if (!wait_for_request(stream)) break;
    stream.begin_request();
    const bool last = left == 1 || stopping();
    bool closed = false;
    bool headers_read = false;
    state.refusal = Status::ok();
    state.framing_known = false;
    ok = process_request(stream, last, closed, [&](httplib::Request& req) {
      headers_read = true;
      const BodyBudget budget = budget_for_ ? budget_for_(req) : BodyBudget{};
      auto framing = check_body_framing(req.headers, budget.max_bytes);
      if (!framing) {
        // Answered before routing; no byte of the body is read.
        state.refusal = framing.status();
        stream.end_headers(BodyBudget{.max_bytes = 0});
        return;
      }
      state.framing = *framing;
      state.framing_known = true;
      // A request with neither header has no body: httplib would otherwise read one to the end of
      // the connection.
      if (framing->kind == BodyFraming::Kind::kNone) req.set_header("Content-Length", "0");
      stream.end_headers(budget);
    });
    // Without headers (malformed, too large, too slow) the request got a 400 and the connection
    // cannot be trusted to be at the start of another.
    if (!headers_read) break;
    // An answer given without reading the whole body (a 401 before an upload, a refusal) leaves the
    // rest where the next request would be read: the connection closes, without reading it first
    // (but lingering, so that the answer is not lost to a reset).
    if (!body_consumed(stream, state)) {
      unread_body = true;
      break;
    }
    if (closed || last) break;
  }
  t_request = nullptr;
  {
    std::lock_guard lock(open_mu_);
    open_.erase(sock);  // before close: close_connections() never touches a number reused since
  }
  if (unread_body) linger(sock);
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  release_address(address);
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

void HttpServer::refuse(int fd, const std::string& why) {
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
  const std::string body = error_envelope(Status::unavailable(why)).dump();
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
