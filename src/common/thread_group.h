// Threads that end on their own (a worker idle long enough, a relay whose call is over), joined without
// waiting on one that still runs: a thread that has ended is joined by the next start(), and
// join_all() joins the rest, waiting for them.
//
//   ThreadGroup workers;
//   workers.start([this] { work(); });  // work() returns when it has nothing more to do
//   ...
//   stop_the_work();
//   workers.join_all();
#pragma once

#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

namespace openbatch {

// Thread-safe.
class ThreadGroup {
 public:
  ThreadGroup() = default;
  ~ThreadGroup() { join_all(); }
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;

  // Runs fn on a new thread, first joining the threads that have ended; false, fn not run, once
  // join_all() has been called. fn must not call start() or join_all() of this group.
  bool start(std::function<void()> fn);
  // Refuses later start()s, then joins every thread (those still running: once they return).
  void join_all();

 private:
  void reap();  // REQUIRES mu_ held

  std::mutex mu_;
  std::list<std::thread> threads_;
  std::vector<std::thread::id> ended_;  // of threads_: those whose fn has returned
  bool closed_ = false;
};

}  // namespace openbatch
