// One accepted TCP connection as httplib reads and writes it, with openbatch's limits: every read and
// write waits at most its timeout, and the request line and headers of each request must arrive
// within a time and a size budget, so that a client that sends slowly or too much holds a connection
// thread for a bounded time. Internal to api/.
#pragma once

#include <httplib.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace openbatch::api {

struct StreamLimits {
  std::chrono::milliseconds read_timeout{30000};    // a read that gets no byte for this long fails
  std::chrono::milliseconds write_timeout{30000};   // a write the client does not take for this long
  std::chrono::milliseconds header_timeout{10000};  // request line and headers, from their first byte
  size_t max_header_bytes = 64 * 1024;              // request line and headers together
};

// What one request's body may take, set once its headers are in.
struct BodyBudget {
  uint64_t max_bytes = UINT64_MAX;       // bytes read as the body (a chunked body's framing included)
  std::chrono::milliseconds timeout{0};  // the whole body, from the end of the headers; 0: no limit
  // After `grace`, the body must keep coming at this rate on average (bytes a second; 0: no limit):
  // a client that drips its body cannot hold a connection thread for long.
  uint64_t min_bytes_per_second = 0;
  std::chrono::milliseconds grace{10000};
};

// Why a read of the body failed on a budget.
enum class BodyRefusal { kNone, kTooLarge, kTooSlow };

class ConnectionStream final : public httplib::Stream {
 public:
  // REQUIRES: fd is a connected socket; it stays the caller's to close.
  ConnectionStream(int fd, StreamLimits limits);

  // Starts the header budget of a new request: reads past max_header_bytes, or after header_timeout
  // from the first byte, fail until end_headers().
  void begin_request();
  // The headers are in: the body is read under the read timeout and `budget` (reads past it fail).
  void end_headers(const BodyBudget& budget = {});
  // Why the last read of the body failed on its budget (kNone: it did not).
  BodyRefusal body_refusal() const { return refusal_; }
  // Bytes read since end_headers(): how much of the request's body its handler took.
  size_t body_bytes_read() const { return body_bytes_; }
  // Whether the client has closed its side of the connection (nothing more will come). Does not wait.
  bool peer_closed() const;
  // Whether bytes are waiting (buffered here or on the socket) within timeout.
  bool wait_readable(std::chrono::milliseconds timeout) const;

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }

 private:
  using Clock = std::chrono::steady_clock;
  // Waits for events on the socket for up to timeout; false on a timeout or an error.
  bool poll_for(short events, std::chrono::milliseconds timeout) const;
  // The latest time the body may still be read under its budget.
  Clock::time_point body_deadline() const;
  // The read timeout, cut to what is left of the header or body budget; negative once it has run out.
  std::chrono::milliseconds read_wait() const;

  const int fd_;
  const StreamLimits limits_;
  std::array<char, 16 * 1024> buffer_{};
  size_t buffer_begin_ = 0;
  size_t buffer_end_ = 0;
  bool in_headers_ = false;
  bool header_clock_started_ = false;
  Clock::time_point header_deadline_{};
  size_t header_bytes_ = 0;
  size_t body_bytes_ = 0;
  BodyBudget budget_;
  Clock::time_point body_start_{};
  BodyRefusal refusal_ = BodyRefusal::kNone;
};

}  // namespace openbatch::api
