#include "api/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

namespace openbatch::api {
namespace {

using namespace std::chrono_literals;

// A raw client connection, to hold connections open, send slowly and read answers as they are.
class RawClient {
 public:
  explicit RawClient(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawClient() { ::close(fd_); }
  bool connected() const { return connected_; }
  bool send(const std::string& s) {
    return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == ssize_t(s.size());
  }
  // One answer with a Content-Length body, or "" when the connection closes or timeout passes first.
  std::string answer(std::chrono::milliseconds timeout = 3000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const size_t end = buffer_.find("\r\n\r\n");
      if (end != std::string::npos) {
        const size_t cl = buffer_.find("Content-Length: ");
        const size_t length = cl < end ? std::stoul(buffer_.substr(cl + 16)) : 0;
        if (buffer_.size() >= end + 4 + length) {
          std::string out = buffer_.substr(0, end + 4 + length);
          buffer_.erase(0, end + 4 + length);
          return out;
        }
      }
      if (!read_some(deadline)) return "";
    }
  }
  // Everything read and not yet taken by answer().
  const std::string& received() const { return buffer_; }
  // Whether the server closes the connection before timeout.
  bool closed_within(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (read_some(deadline)) {
    }
    return eof_;
  }

 private:
  bool read_some(std::chrono::steady_clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  bool connected_ = false;
  bool eof_ = false;
  std::string buffer_;
};

const std::string kGet = "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n";

class HttpServerTest : public ::testing::Test {
 protected:
  void start(ConnectionLimits limits) {
    server_ = std::make_unique<HttpServer>(limits);
    server_->Get("/ping", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("pong", "text/plain");
    });
    // Ten chunks, 30 ms apart.
    server_->Get("/stream", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/plain", [](size_t offset, httplib::DataSink& sink) {
        if (offset >= 10) {
          sink.done();
          return true;
        }
        std::this_thread::sleep_for(30ms);
        return sink.write("x", 1);
      });
    });
    // The size of the body it read.
    server_->Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(std::to_string(req.body.size()), "text/plain");
    });
    // Waits for its client to hang up (at most 3 s), and says whether it saw it.
    server_->Get("/wait", [this](const httplib::Request&, httplib::Response& res) {
      const auto deadline = std::chrono::steady_clock::now() + 3s;
      while (!HttpServer::client_gone() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
      saw_hang_up_ = HttpServer::client_gone();
      res.set_content("done", "text/plain");
    });
    // Answered before its body is read, as the API key check answers.
    server_->set_request_check([](const httplib::Request& req) {
      return req.path == "/guarded" ? Status::unauthorized("no") : Status::ok();
    });
    server_->set_body_budget([](const httplib::Request&) { return budget_; });
    ASSERT_TRUE(server_->bind("127.0.0.1", port_));
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(1ms);
  }
  void SetUp() override { budget_ = BodyBudget{}; }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  // limits() with room for connections that are still closing when the next one comes.
  static ConnectionLimits many_connections() {
    ConnectionLimits l = limits();
    l.max_connections = 16;
    return l;
  }
  static ConnectionLimits limits() {
    ConnectionLimits l;
    l.max_connections = 2;
    l.keep_alive_timeout = 2000ms;
    l.stream.read_timeout = 1000ms;
    l.stream.header_timeout = 400ms;
    l.stream.max_header_bytes = 4096;
    return l;
  }

  static inline BodyBudget budget_;
  std::atomic<bool> saw_hang_up_{false};
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(HttpServerTest, KeepAliveRequestsAnswerWithoutTheDelayedAckWait) {
  start(limits());
  RawClient c(port_);
  ASSERT_TRUE(c.connected());
  // Without TCP_NODELAY each answer after the first waits ~40 ms for the client's delayed ACK.
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(c.send(kGet));
    const std::string a = c.answer();
    ASSERT_NE(a.find("200 OK"), std::string::npos) << a;
    ASSERT_NE(a.find("pong"), std::string::npos) << a;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 300ms);
}

TEST_F(HttpServerTest, AConnectionPastTheLimitGetsA503AtOnceAndOthersGoOn) {
  start(limits());
  RawClient a(port_), b(port_);
  ASSERT_TRUE(a.send(kGet));
  ASSERT_NE(a.answer().find("200 OK"), std::string::npos);
  ASSERT_TRUE(b.send(kGet));
  ASSERT_NE(b.answer().find("200 OK"), std::string::npos);
  // a and b stay open, idle: a third is one too many.
  RawClient c(port_);
  ASSERT_TRUE(c.send(kGet));
  const auto asked = std::chrono::steady_clock::now();
  const std::string refused = c.answer();
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 500ms);
  ASSERT_NE(refused.find("HTTP/1.1 503"), std::string::npos) << refused;
  EXPECT_NE(refused.find("Connection: close"), std::string::npos);
  EXPECT_NE(refused.find("Retry-After: 1"), std::string::npos);
  const auto body = nlohmann::json::parse(refused.substr(refused.find("\r\n\r\n") + 4));
  EXPECT_EQ(body["error"]["type"], "server_error");
  EXPECT_TRUE(c.closed_within(1000ms));
  EXPECT_EQ(server_->counts().refused.load(), 1);
  EXPECT_EQ(server_->counts().open.load(), 2);
  // The open ones are served as before; once one closes, a new connection is taken.
  ASSERT_TRUE(a.send(kGet));
  EXPECT_NE(a.answer().find("200 OK"), std::string::npos);
  ASSERT_TRUE(b.send("GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  EXPECT_NE(b.answer().find("200 OK"), std::string::npos);
  EXPECT_TRUE(b.closed_within(1000ms));
  for (int i = 0; i < 100 && server_->counts().open.load() > 1; ++i) std::this_thread::sleep_for(5ms);
  RawClient d(port_);
  ASSERT_TRUE(d.send(kGet));
  EXPECT_NE(d.answer().find("200 OK"), std::string::npos);
}

TEST_F(HttpServerTest, SlowOrOversizedHeadersAndIdleConnectionsAreCut) {
  start(limits());
  // Headers sent a little at a time, each within the read timeout, but past the header budget.
  RawClient slow(port_);
  ASSERT_TRUE(slow.send("GET /ping HTTP/1.1\r\n"));
  const auto started = std::chrono::steady_clock::now();
  bool cut = false;
  for (int i = 0; i < 20 && !cut; ++i) {
    std::this_thread::sleep_for(100ms);
    cut = !slow.send("X-Slow: " + std::to_string(i) + "\r\n");
    cut = cut || slow.closed_within(1ms);
  }
  EXPECT_TRUE(cut || slow.closed_within(500ms)) << "a client trickling headers keeps its thread";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);

  RawClient big(port_);
  ASSERT_TRUE(big.send("GET /ping HTTP/1.1\r\nHost: x\r\n"));
  for (int i = 0; i < 100; ++i)
    big.send("X-Filler-" + std::to_string(i) + ": " + std::string(100, 'a') + "\r\n");
  big.send("\r\n");
  const std::string a = big.answer(1000ms);
  EXPECT_EQ(a.find("200 OK"), std::string::npos) << "10 KB of headers past a 4 KB budget: " << a;
  EXPECT_TRUE(big.closed_within(1000ms));

  // A keep-alive connection left idle is closed after the keep-alive timeout, not held.
  RawClient idle(port_);
  ASSERT_TRUE(idle.send(kGet));
  ASSERT_NE(idle.answer().find("200 OK"), std::string::npos);
  const auto idle_since = std::chrono::steady_clock::now();
  EXPECT_TRUE(idle.closed_within(4000ms));
  EXPECT_GE(std::chrono::steady_clock::now() - idle_since, 1500ms);
}

TEST_F(HttpServerTest, AnAnswerGivenBeforeTheBodyIsReadClosesTheConnection) {
  start(many_connections());
  RawClient c(port_);
  const std::string body = R"({"model": "x", "messages": []})";
  ASSERT_TRUE(c.send("POST /guarded HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\n\r\n" + body));
  EXPECT_NE(c.answer().find("401"), std::string::npos);
  EXPECT_TRUE(c.closed_within(1500ms)) << "the connection stayed open to read a body nobody wants";

  // One that sends its body slowly is not waited for either.
  RawClient slow(port_);
  ASSERT_TRUE(slow.send("POST /guarded HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\nx"));
  EXPECT_NE(slow.answer().find("401"), std::string::npos);
  EXPECT_TRUE(slow.closed_within(1500ms));

  // A body read to its end keeps the connection for the next request.
  RawClient kept(port_);
  ASSERT_TRUE(kept.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + kGet));
  EXPECT_NE(kept.answer().find("\r\n\r\n5"), std::string::npos);
  EXPECT_NE(kept.answer().find("pong"), std::string::npos);
}

TEST_F(HttpServerTest, BodiesArePassedOrRefusedByTheirFramingBeforeTheyAreRead) {
  budget_.max_bytes = 1000;
  start(many_connections());
  const auto post = [&](const std::string& headers, const std::string& body = "") {
    RawClient c(port_);
    c.send("POST /echo HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n" + body);
    return c.answer();
  };
  EXPECT_NE(post("Content-Length: 3\r\n", "abc").find("200 OK"), std::string::npos);
  // Compressed bodies are never inflated.
  for (const char* coding : {"gzip", "deflate", "br", "GZIP"}) {
    const std::string a =
        post(std::string("Content-Encoding: ") + coding + "\r\nContent-Length: 3\r\n", "abc");
    EXPECT_NE(a.find("415"), std::string::npos) << coding << ": " << a;
    EXPECT_NE(a.find("unsupported_media_type"), std::string::npos) << a;
  }
  EXPECT_NE(post("Content-Encoding: identity\r\nContent-Length: 3\r\n", "abc").find("200 OK"),
            std::string::npos);
  // Content-Length is one decimal number or the request is refused.
  for (const char* length : {"1e9", "5, 5", "-1", "+5", "0x10", "5 5", "99999999999999999999"}) {
    const std::string a = post(std::string("Content-Length: ") + length + "\r\n", "abcde");
    EXPECT_NE(a.find("400"), std::string::npos) << length << ": " << a;
  }
  EXPECT_NE(post("Content-Length: 5\r\nContent-Length: 5\r\n", "abcde").find("400"), std::string::npos);
  EXPECT_NE(post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "abcde").find("400"),
            std::string::npos);
  EXPECT_NE(post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n").find("400"), std::string::npos);
  // A declared length past the budget is refused at once, without waiting for the body.
  const std::string large = post("Content-Length: 1000000\r\n");
  EXPECT_NE(large.find("413"), std::string::npos) << large;
  // No length at all: no body (not "read to the end of the connection").
  EXPECT_NE(post("").find("\r\n\r\n0"), std::string::npos);
}

TEST_F(HttpServerTest, AChunkedBodyIsCutAtItsBudgetAsItArrives) {
  budget_.max_bytes = 1000;
  start(many_connections());
  RawClient ok(port_);
  ASSERT_TRUE(
      ok.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
  EXPECT_NE(ok.answer().find("\r\n\r\n5"), std::string::npos);

  RawClient endless(port_);
  ASSERT_TRUE(endless.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
  for (int i = 0; i < 20 && endless.send("100\r\n" + std::string(256, 'x') + "\r\n"); ++i) {
  }
  const std::string a = endless.answer();
  EXPECT_NE(a.find("413"), std::string::npos) << a;
  EXPECT_TRUE(endless.closed_within(1500ms));
}

TEST_F(HttpServerTest, ABodyThatDripsIsCutWithA408) {
  budget_.min_bytes_per_second = 1000;
  budget_.grace = 300ms;
  start(many_connections());
  RawClient c(port_);
  const auto begin = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nx"));
  std::string a;
  for (int i = 0; i < 30 && a.empty(); ++i) {
    c.send("x");  // a byte every 100 ms: 10 bytes a second
    a = c.answer(100ms);
  }
  EXPECT_NE(a.find("408"), std::string::npos) << a;
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);
}

TEST_F(HttpServerTest, OneAddressCannotTakeEveryConnection) {
  ConnectionLimits l = limits();
  l.max_connections = 4;
  l.max_connections_per_address = 2;
  start(l);
  // One at a time: connection threads take their connections in any order.
  RawClient a(port_);
  ASSERT_TRUE(a.send(kGet));
  EXPECT_NE(a.answer().find("pong"), std::string::npos);
  RawClient b(port_);
  ASSERT_TRUE(b.send(kGet));
  EXPECT_NE(b.answer().find("pong"), std::string::npos);
  RawClient c(port_);
  ASSERT_TRUE(c.send(kGet));
  const std::string refused = c.answer();
  EXPECT_NE(refused.find("503"), std::string::npos) << refused;
  EXPECT_NE(refused.find("one address"), std::string::npos) << refused;
  // Another address of the loopback is served.
  const int other = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr.s_addr = htonl(0x7f000002);  // 127.0.0.2
  ASSERT_EQ(::bind(other, reinterpret_cast<sockaddr*>(&from), sizeof from), 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port_));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(other, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  ASSERT_EQ(::send(other, kGet.data(), kGet.size(), MSG_NOSIGNAL), ssize_t(kGet.size()));
  std::string got;
  for (int i = 0; i < 30 && got.find("pong") == std::string::npos; ++i) {
    pollfd p{other, POLLIN, 0};
    if (::poll(&p, 1, 100) != 1) continue;
    char buf[512];
    const ssize_t n = ::recv(other, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_NE(got.find("pong"), std::string::npos) << got;
  ::close(other);
}

TEST_F(HttpServerTest, AHandlerSeesItsClientHangUp) {
  start(many_connections());
  {
    RawClient c(port_);
    ASSERT_TRUE(c.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::this_thread::sleep_for(100ms);
  }  // closed
  for (int i = 0; i < 100 && !saw_hang_up_; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(saw_hang_up_);
}

TEST_F(HttpServerTest, ADrainTakesNoNewConnectionAndLetsAStreamInProgressEnd) {
  start(limits());
  RawClient idle(port_);
  ASSERT_TRUE(idle.send(kGet));
  ASSERT_NE(idle.answer().find("200 OK"), std::string::npos);
  RawClient streaming(port_);
  ASSERT_TRUE(streaming.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::this_thread::sleep_for(60ms);
  server_->drain();
  server_->drain();  // idempotent
  EXPECT_TRUE(idle.closed_within(500ms)) << "an idle connection closes at once";
  // The stream runs to its end: ten chunks and the last, empty one.
  EXPECT_TRUE(streaming.closed_within(2000ms));
  const std::string& got = streaming.received();
  size_t chunks = 0;
  for (size_t at = got.find("1\r\nx\r\n"); at != std::string::npos; at = got.find("1\r\nx\r\n", at + 1))
    ++chunks;
  EXPECT_EQ(chunks, 10u) << got;
  EXPECT_NE(got.find("0\r\n\r\n"), std::string::npos) << "the stream was cut: " << got;
  thread_.join();
  RawClient late(port_);
  EXPECT_FALSE(late.connected()) << "a connection after the drain";
}

TEST_F(HttpServerTest, StopClosesIdleConnectionsAtOnce) {
  ConnectionLimits l = limits();
  l.keep_alive_timeout = 60000ms;
  start(l);
  RawClient c(port_);
  ASSERT_TRUE(c.send(kGet));
  ASSERT_NE(c.answer().find("200 OK"), std::string::npos);
  const auto stopping = std::chrono::steady_clock::now();
  server_->stop();
  thread_.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, 1000ms);
  EXPECT_TRUE(c.closed_within(500ms));
}

}  // namespace
}  // namespace openbatch::api
