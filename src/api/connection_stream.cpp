#include "api/connection_stream.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace openbatch::api {

namespace {

void name_of(const sockaddr_storage& addr, socklen_t len, std::string& ip, int& port) {
  char host[NI_MAXHOST] = {0};
  char serv[NI_MAXSERV] = {0};
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    ip = host;
    port = std::atoi(serv);
  }
}

}  // namespace

ConnectionStream::ConnectionStream(int fd, StreamLimits limits) : fd_(fd), limits_(limits) {}

void ConnectionStream::begin_request() {
  in_headers_ = true;
  header_clock_started_ = false;
  header_bytes_ = 0;
}

void ConnectionStream::end_headers(const BodyBudget& budget) {
  in_headers_ = false;
  body_bytes_ = 0;
  budget_ = budget;
  body_start_ = Clock::now();
  refusal_ = BodyRefusal::kNone;
}

ConnectionStream::Clock::time_point ConnectionStream::body_deadline() const {
  auto deadline = Clock::time_point::max();
  if (budget_.timeout.count() > 0) deadline = body_start_ + budget_.timeout;
  if (budget_.min_bytes_per_second > 0) {
    // The bytes read so far are on time until bytes / rate seconds after the start, and never
    // before the grace has passed.
    const auto on_time = std::chrono::milliseconds(body_bytes_ * 1000 / budget_.min_bytes_per_second);
    deadline = std::min(deadline, body_start_ + std::max(budget_.grace, on_time));
  }
  return deadline;
}

bool ConnectionStream::poll_for(short events, std::chrono::milliseconds timeout) const {
  if (timeout.count() < 0) return false;
  pollfd p{fd_, events, 0};
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    const int n = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
    if (n > 0) return (p.revents & events) != 0 || (p.revents & (POLLHUP | POLLERR)) == 0;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

std::chrono::milliseconds ConnectionStream::read_wait() const {
  Clock::time_point deadline;
  if (in_headers_) {
    if (!header_clock_started_) return limits_.read_timeout;
    deadline = header_deadline_;
  } else {
    deadline = body_deadline();
    if (deadline == Clock::time_point::max()) return limits_.read_timeout;
  }
  // Rounded up: a poll that ends before the deadline would read as a failure that is not one.
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return std::min(limits_.read_timeout, left.count() < 0 ? std::chrono::milliseconds(-1) : left);
}

bool ConnectionStream::wait_readable(std::chrono::milliseconds timeout) const {
  return buffer_begin_ < buffer_end_ || poll_for(POLLIN, timeout);
}

bool ConnectionStream::peer_closed() const {
  if (buffer_begin_ < buffer_end_) return false;
  pollfd p{fd_, static_cast<short>(POLLIN | POLLRDHUP), 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if ((p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) return true;
  char byte = 0;
  return ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

bool ConnectionStream::is_readable() const { return wait_readable(read_wait()); }

ssize_t ConnectionStream::read(char* ptr, size_t size) {
  if (in_headers_) {
    if (!header_clock_started_) {
      header_clock_started_ = true;
      header_deadline_ = Clock::now() + limits_.header_timeout;
    }
    if (header_bytes_ >= limits_.max_header_bytes || Clock::now() >= header_deadline_) return -1;
    size = std::min(size, limits_.max_header_bytes - header_bytes_);
  } else {
    if (refusal_ != BodyRefusal::kNone) return -1;
    if (body_bytes_ >= budget_.max_bytes) {
      refusal_ = BodyRefusal::kTooLarge;
      return -1;
    }
    if (Clock::now() >= body_deadline()) {
      refusal_ = BodyRefusal::kTooSlow;
      return -1;
    }
    size = static_cast<size_t>(std::min<uint64_t>(size, budget_.max_bytes - body_bytes_));
  }
  ssize_t n = 0;
  if (buffer_begin_ < buffer_end_) {
    n = static_cast<ssize_t>(std::min(size, buffer_end_ - buffer_begin_));
    std::memcpy(ptr, buffer_.data() + buffer_begin_, static_cast<size_t>(n));
    buffer_begin_ += static_cast<size_t>(n);
  } else {
    if (!poll_for(POLLIN, read_wait())) {
      if (!in_headers_ && Clock::now() >= body_deadline()) refusal_ = BodyRefusal::kTooSlow;
      return -1;
    }
    // Small reads (httplib reads headers a byte at a time) go through the buffer, large ones straight.
    char* into = size < buffer_.size() ? buffer_.data() : ptr;
    const size_t want = size < buffer_.size() ? buffer_.size() : size;
    do {
      n = ::recv(fd_, into, want, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return n;
    if (into == buffer_.data()) {
      const size_t given = std::min(size, static_cast<size_t>(n));
      std::memcpy(ptr, buffer_.data(), given);
      buffer_begin_ = given;
      buffer_end_ = static_cast<size_t>(n);
      n = static_cast<ssize_t>(given);
    }
  }
  (in_headers_ ? header_bytes_ : body_bytes_) += static_cast<size_t>(n);
  return n;
}

bool ConnectionStream::is_writable() const {
  if (!poll_for(POLLOUT, limits_.write_timeout)) return false;
  // A client that has gone away shows as readable with nothing to read.
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0 || buffer_begin_ < buffer_end_) return true;
  char byte = 0;
  const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
}

ssize_t ConnectionStream::write(const char* ptr, size_t size) {
  if (!poll_for(POLLOUT, limits_.write_timeout)) return -1;
  ssize_t n = 0;
  do {
    n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n;
}

void ConnectionStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) name_of(addr, len, ip, port);
}

void ConnectionStream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) name_of(addr, len, ip, port);
}

}  // namespace openbatch::api
