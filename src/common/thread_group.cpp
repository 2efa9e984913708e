#include "common/thread_group.h"

#include <algorithm>
#include <utility>

namespace openbatch {

bool ThreadGroup::start(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  if (closed_) return false;
  reap();
  threads_.emplace_back([this, fn = std::move(fn)] {
    fn();
    std::lock_guard ended(mu_);
    ended_.push_back(std::this_thread::get_id());
  });
  return true;
}

void ThreadGroup::reap() {
  for (const std::thread::id id : ended_) {
    auto it = std::find_if(threads_.begin(), threads_.end(),
                           [id](const std::thread& t) { return t.get_id() == id; });
    if (it == threads_.end()) continue;
    it->join();  // it has nothing left to run but its return
    threads_.erase(it);
  }
  ended_.clear();
}

void ThreadGroup::join_all() {
  std::list<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    threads.swap(threads_);
    ended_.clear();
  }
  // Outside the lock, which an ending thread takes.
  for (std::thread& t : threads) t.join();
}

}  // namespace openbatch
