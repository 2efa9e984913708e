// The threads that serve connections, one a connection for its whole life (httplib's model): started
// as connections come, up to max_connections, and stopped after a minute idle. A connection past the
// limit is not queued behind the others: it runs on a thread of its own that answers it at once (see
// refusing()), so that a flood of clients slows nobody already connected. Internal to api/.
#pragma once

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace openbatch::api {

// Kept by the server, outside the pool that each listen loop makes, so that they outlive it.
struct ConnectionCounts {
  std::atomic<int> open{0};         // admitted and not yet closed
  std::atomic<int64_t> refused{0};  // answered 503 (or closed) for being one too many
};

class ConnectionPool final : public httplib::TaskQueue {
 public:
  // REQUIRES: max_connections >= 1; counts outlives the pool.
  ConnectionPool(int max_connections, ConnectionCounts& counts);
  ~ConnectionPool() override;  // shutdown()

  // Runs fn (which serves one connection and closes it) on a connection thread when fewer than
  // max_connections are open, else on the refusal thread, where refusing() is true. Every fn runs.
  // Thread-safe.
  void enqueue(std::function<void()> fn) override;
  // Waits until every connection given so far has been served. Idempotent.
  void shutdown() override;

  // True on the refusal thread: the connection being served is one too many. When the refusal queue
  // itself is long, quietly() is true too: close it without a word.
  static bool refusing();
  static bool quietly();

  int threads() const;  // connection threads alive now

 private:
  void serve();
  void refuse();

  const size_t max_connections_;
  mutable std::mutex mu_;
  std::condition_variable work_;
  std::condition_variable refusal_;
  std::deque<std::function<void()>> queued_;
  std::deque<std::function<void()>> refusals_;
  ConnectionCounts& counts_;
  size_t running_ = 0;
  size_t idle_ = 0;
  bool stopping_ = false;
  std::list<std::thread> threads_;
  std::list<std::thread> exited_;  // joined by the next enqueue or by shutdown
  std::thread refuser_;
};

}  // namespace openbatch::api
