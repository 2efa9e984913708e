// libFuzzer target: the framing of HTTP requests as the server reads them off one connection (the
// request line, headers, Content-Length, chunked bodies, Content-Encoding, several requests kept
// alive), through the real HttpServer, ConnectionStream and cpp-httplib over a socket pair. Beyond not
// crashing: every answer starts with a status line, no handler ever gets more of a body than its
// budget, and a request with a compressed body never reaches a handler.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>

#include "api/http_server.h"

namespace {

using openbatch::api::BodyBudget;
using openbatch::api::ConnectionLimits;
using openbatch::api::HttpServer;

constexpr uint64_t kBudget = 256;

HttpServer& server() {
  static HttpServer* s = [] {
    ConnectionLimits limits;
    limits.keep_alive_timeout = std::chrono::milliseconds(50);
    limits.stream.read_timeout = std::chrono::milliseconds(50);
    limits.stream.header_timeout = std::chrono::milliseconds(200);
    limits.stream.max_header_bytes = 4096;
    auto* server = new HttpServer(limits);
    server->set_body_budget([](const httplib::Request&) {
      BodyBudget b;
      b.max_bytes = kBudget;
      return b;
    });
    server->set_request_check([](const httplib::Request& req) {
      return req.path == "/guarded" ? openbatch::Status::unauthorized("no") : openbatch::Status::ok();
    });
    const auto check_body = [](const httplib::Request& req, httplib::Response& res) {
      if (req.body.size() > kBudget) std::abort();  // a body past its budget reached a handler
      if (req.has_header("Content-Encoding") && req.get_header_value("Content-Encoding") != "identity" &&
          !req.get_header_value("Content-Encoding").empty())
        std::abort();  // a compressed body reached a handler
      res.set_content(std::to_string(req.body.size()), "text/plain");
    };
    server->Post("/echo", check_body);
    server->Put("/echo", check_body);
    server->Get("/echo", check_body);
    server->Delete("/echo", check_body);
    server->Post("/upload", [](const httplib::Request& req, httplib::Response& res,
                               const httplib::ContentReader& reader) {
      size_t taken = 0;
      reader([&](const char*, size_t n) {
        taken += n;
        return true;
      });
      if (taken > kBudget) std::abort();
      res.set_content(std::to_string(taken), "text/plain");
    });
    return server;
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return 0;
  std::string answers;
  std::thread client([&] {
    for (size_t sent = 0; sent < size;) {
      const ssize_t n = ::send(fds[0], data + sent, size - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    ::shutdown(fds[0], SHUT_WR);
    char buf[4096];
    for (ssize_t n; (n = ::recv(fds[0], buf, sizeof buf, 0)) > 0;)
      answers.append(buf, static_cast<size_t>(n));
  });
  server().serve_connection(fds[1]);  // closes fds[1]
  client.join();
  ::close(fds[0]);
  if (!answers.empty() && answers.rfind("HTTP/1.1 ", 0) != 0) std::abort();
  return 0;
}
