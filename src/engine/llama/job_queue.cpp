#include "engine/llama/job_queue.h"

namespace openbatch::engine {

JobQueue::JobQueue(int contexts, int sequences)
    : contexts_(contexts), sequences_(sequences), idle_(std::make_unique<std::atomic<int>[]>(contexts)) {
  for (int c = 0; c < contexts; ++c) idle_[c].store(sequences);
}

bool JobQueue::push(std::shared_ptr<GenerationJob> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    queues_[static_cast<int>(job->request.priority)].push_back(std::move(job));
  }
  cv_.notify_all();  // the context it belongs to (earlier_context_has_room) may not be the one woken first
  return true;
}

bool JobQueue::any_queued() const { return !queues_[0].empty() || !queues_[1].empty(); }

bool JobQueue::wait_for_work(int context, const std::function<bool()>& busy) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return stopping_ || busy() || (any_queued() && !earlier_context_has_room(context)); });
  return !stopping_;
}

std::shared_ptr<GenerationJob> JobQueue::front(int* queue) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int q = 0; q < 2; ++q) {
    if (!queues_[q].empty()) {
      *queue = q;
      return queues_[q].front();
    }
  }
  return nullptr;
}

bool JobQueue::pop(int queue, const std::shared_ptr<GenerationJob>& job) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& q = queues_[queue];
  if (q.empty() || q.front() != job) return false;
  q.pop_front();
  return true;
}

std::vector<std::shared_ptr<GenerationJob>> JobQueue::take_all() {
  std::vector<std::shared_ptr<GenerationJob>> jobs;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& q : queues_) {
    for (auto& job : q) jobs.push_back(std::move(job));
    q.clear();
  }
  return jobs;
}

void JobQueue::set_idle(int context, int idle) {
  const int before = idle_[context].exchange(idle);
  if (before > 0 && idle == 0) {
    // Full now: the next context takes what is queued.
    std::lock_guard<std::mutex> lock(mu_);
    if (any_queued()) cv_.notify_all();
  }
}

bool JobQueue::earlier_context_has_room(int context) const {
  for (int c = 0; c < context; ++c) {
    if (idle_[c].load() > 0) return true;
  }
  return false;
}

bool JobQueue::another_context_busy(int context) const {
  for (int c = 0; c < contexts_; ++c) {
    if (c != context && idle_[c].load() < sequences_) return true;
  }
  return false;
}

bool JobQueue::stop() {
  bool was = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    was = stopping_;
    stopping_ = true;
  }
  cv_.notify_all();
  return was;
}

}  // namespace openbatch::engine
