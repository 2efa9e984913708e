#include "batch/scheduler_inbox.h"

#include <utility>

namespace openbatch::batch {

void SchedulerInbox::push(SchedulerEvent e) {
  {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(e));
  }
  cv_.notify_one();
}

void SchedulerInbox::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

SchedulerInbox::Taken SchedulerInbox::take_until(const Clock& clock, Clock::TimePoint deadline) {
  Taken taken;
  std::unique_lock lock(mu_);
  clock.wait_until(lock, cv_, deadline, [this] { return closed_ || !events_.empty(); });
  taken.events.swap(events_);
  taken.closed = closed_;
  return taken;
}

std::deque<SchedulerEvent> SchedulerInbox::drain_until(const Clock& clock, Clock::TimePoint deadline) {
  std::deque<SchedulerEvent> events;
  std::unique_lock lock(mu_);
  clock.wait_until(lock, cv_, deadline, [this] { return !events_.empty(); });
  events.swap(events_);
  return events;
}

}  // namespace openbatch::batch
