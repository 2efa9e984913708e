#include "api/connection_pool.h"

#include <algorithm>
#include <chrono>

namespace openbatch::api {

namespace {

constexpr auto kIdleExit = std::chrono::seconds(60);
constexpr size_t kKeptThreads = 4;       // never stopped for idleness
constexpr size_t kQuietRefusals = 1024;  // refusals waiting past which connections close unanswered

thread_local bool t_refusing = false;
thread_local bool t_quietly = false;

}  // namespace

ConnectionPool::ConnectionPool(int max_connections, ConnectionCounts& counts)
    : max_connections_(static_cast<size_t>(std::max(1, max_connections))), counts_(counts) {}

ConnectionPool::~ConnectionPool() { shutdown(); }

bool ConnectionPool::refusing() { return t_refusing; }
bool ConnectionPool::quietly() { return t_quietly; }

void ConnectionPool::enqueue(std::function<void()> fn) {
  std::list<std::thread> done;
  {
    std::lock_guard lock(mu_);
    done.splice(done.end(), exited_);
    if (running_ + queued_.size() < max_connections_) {
      queued_.push_back(std::move(fn));
      ++counts_.open;
      if (idle_ >= queued_.size()) {
        work_.notify_one();
      } else {
        threads_.emplace_back();
        threads_.back() = std::thread([this, it = std::prev(threads_.end())] {
          serve();
          std::lock_guard lock(mu_);
          if (!stopping_) exited_.splice(exited_.end(), threads_, it);
        });
      }
    } else {
      ++counts_.refused;
      refusals_.push_back(std::move(fn));
      if (!refuser_.joinable()) refuser_ = std::thread([this] { refuse(); });
      refusal_.notify_one();
    }
  }
  for (auto& t : done) t.join();
}

void ConnectionPool::serve() {
  std::unique_lock lock(mu_);
  for (;;) {
    ++idle_;
    const bool woken = work_.wait_for(lock, kIdleExit, [&] { return !queued_.empty() || stopping_; });
    --idle_;
    if (queued_.empty()) {
      if (stopping_) return;
      if (!woken && threads_.size() > kKeptThreads) return;
      continue;
    }
    std::function<void()> fn = std::move(queued_.front());
    queued_.pop_front();
    ++running_;
    lock.unlock();
    fn();
    fn = nullptr;
    lock.lock();
    --running_;
    --counts_.open;
  }
}

void ConnectionPool::refuse() {
  t_refusing = true;
  std::unique_lock lock(mu_);
  for (;;) {
    refusal_.wait(lock, [&] { return !refusals_.empty() || stopping_; });
    if (refusals_.empty()) return;
    std::function<void()> fn = std::move(refusals_.front());
    refusals_.pop_front();
    t_quietly = refusals_.size() >= kQuietRefusals;
    lock.unlock();
    fn();
    fn = nullptr;
    lock.lock();
  }
}

void ConnectionPool::shutdown() {
  std::list<std::thread> all;
  std::thread refuser;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    all.splice(all.end(), threads_);
    all.splice(all.end(), exited_);
    refuser = std::move(refuser_);
  }
  work_.notify_all();
  refusal_.notify_all();
  for (auto& t : all) t.join();
  if (refuser.joinable()) refuser.join();
}

int ConnectionPool::threads() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(threads_.size());
}

}  // namespace openbatch::api
