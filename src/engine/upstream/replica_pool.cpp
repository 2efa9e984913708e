#include "engine/upstream/replica_pool.h"

#include <algorithm>

namespace openbatch::engine::upstream {

namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t usage_count(const nlohmann::json& usage, const char* name) {
  auto it = usage.find(name);
  return it != usage.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

}  // namespace

ReplicaPool::ReplicaPool(PoolOptions options, std::function<void(size_t)> spawn)
    : options_(std::move(options)),
      urls_(options_.urls),
      spawn_(std::move(spawn)),
      chooser_(urls_, options_.routing) {
  for (size_t r = 0; r < urls_.size(); ++r) {
    replicas_.push_back(std::make_unique<Replica>(options_));
    replicas_.back()->counts.model = options_.model_id;
    replicas_.back()->counts.url = urls_[r];
  }
}

int ReplicaPool::capacity() const {
  std::lock_guard lock(mu_);
  int total = 0;
  for (const auto& rep : replicas_) total += rep->limit.ceiling();
  return total;
}

void ReplicaPool::set_slots(size_t replica, int slots) {
  std::lock_guard lock(mu_);
  replicas_[replica]->limit.cap(slots);
}

bool ReplicaPool::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

bool ReplicaPool::any_healthy() const {
  return std::any_of(replicas_.begin(), replicas_.end(), [](const auto& r) { return r->health.healthy(); });
}

// A replica in rotation sends up to its limit; one taken out sends only while every replica is out,
// once its probe is due (the requests are the probes then, and their failures push the next one back).
bool ReplicaPool::may_send(size_t r, TimePoint now) const {
  const Replica& rep = *replicas_[r];
  if (rep.in_flight >= rep.limit.limit()) return false;
  return rep.health.healthy() || (!any_healthy() && now >= rep.health.probe_at());
}

void ReplicaPool::place(const std::shared_ptr<Job>& job) {
  const bool healthy_exists = any_healthy();
  std::vector<ReplicaLoad> loads(replicas_.size());
  for (size_t r = 0; r < replicas_.size(); ++r) {
    loads[r].eligible = !healthy_exists || replicas_[r]->health.healthy();
    loads[r].load = replicas_[r]->in_flight + static_cast<int64_t>(replicas_[r]->queue_size);
  }
  const size_t r = chooser_.choose(job->key, loads, job->failed_on).value_or(0);
  Replica& rep = *replicas_[r];
  rep.queued[static_cast<int>(job->priority)].emplace(job->order, job);
  ++rep.queue_size;
  job->state = Job::State::kQueued;
  job->queued_on = r;
}

// The queued jobs of the other replicas that r may take: those of replicas that cannot send them now.
int64_t ReplicaPool::stealable(size_t r) const {
  const TimePoint now = SteadyClock::now();
  int64_t n = 0;
  for (size_t v = 0; v < replicas_.size(); ++v) {
    if (v == r || replicas_[v]->queue_size == 0) continue;
    if (!may_send(v, now) || replicas_[v]->idle == 0) n += static_cast<int64_t>(replicas_[v]->queue_size);
  }
  return n;
}

std::shared_ptr<Job> ReplicaPool::pop(size_t r, uint64_t last_key) {
  size_t from = r;
  if (replicas_[r]->queue_size == 0) {
    // r's own queue is empty: the oldest job of the longest queue that waits on a busy replica.
    if (stealable(r) == 0) return nullptr;
    const TimePoint now = SteadyClock::now();
    size_t longest = 0;
    for (size_t v = 0; v < replicas_.size(); ++v) {
      const Replica& victim = *replicas_[v];
      if (v == r || (may_send(v, now) && victim.idle > 0)) continue;
      if (victim.queue_size > longest) {
        longest = victim.queue_size;
        from = v;
      }
    }
    if (longest == 0) return nullptr;
  }
  Replica& rep = *replicas_[from];
  for (auto& queue : rep.queued) {
    if (queue.empty()) continue;
    auto at = queue.begin();
    if (last_key != 0 && options_.routing == Routing::kAffinity && at->second->key != last_key &&
        at->second->passed_over < kMaxPassOvers) {
      auto it = std::next(at);
      for (int i = 1; i < kSameKeyWindow && it != queue.end(); ++i, ++it) {
        if (it->second->key != last_key) continue;
        ++at->second->passed_over;
        at = it;
        break;
      }
    }
    auto job = at->second;
    queue.erase(at);
    --rep.queue_size;
    return job;
  }
  return nullptr;
}

void ReplicaPool::staff() {
  if (stopping_) return;
  const TimePoint now = SteadyClock::now();
  for (size_t r = 0; r < replicas_.size(); ++r) {
    Replica& rep = *replicas_[r];
    if (!may_send(r, now)) continue;
    const int64_t want = std::min<int64_t>(rep.limit.limit() - rep.in_flight,
                                           static_cast<int64_t>(rep.queue_size) + stealable(r));
    for (int64_t i = 0; i < std::min<int64_t>(want, rep.idle); ++i) rep.cv.notify_one();
    for (int64_t need = want - rep.idle; need > 0 && rep.workers < rep.limit.limit(); --need) {
      ++rep.workers;
      ++rep.idle;
      spawn_(r);
    }
  }
}

void ReplicaPool::hand_over(size_t r) {
  if (!any_healthy()) return;  // nowhere better: the jobs wait for r's probe
  Replica& rep = *replicas_[r];
  std::vector<std::shared_ptr<Job>> jobs;
  for (auto& queue : rep.queued) {
    for (auto& [order, job] : queue) jobs.push_back(job);
    queue.clear();
  }
  rep.queue_size = 0;
  for (auto& job : jobs) {
    chooser_.finished(job->key);
    place(job);
  }
}

bool ReplicaPool::enqueue(const std::shared_ptr<Job>& job) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  job->order = next_order_++;
  place(job);
  staff();
  return true;
}

bool ReplicaPool::retry_later(const std::shared_ptr<Job>& job, std::chrono::milliseconds wait) {
  std::lock_guard lock(mu_);
  if (stopping_ || job->cancelled) return false;
  job->state = Job::State::kDelayed;
  job->delayed_at = delayed_.emplace(SteadyClock::now() + wait, job);
  timer_cv_.notify_all();
  return true;
}

bool ReplicaPool::cancel(Job& job) {
  std::lock_guard lock(mu_);
  if (job.state == Job::State::kQueued) {
    Replica& rep = *replicas_[job.queued_on];
    if (rep.queued[static_cast<int>(job.priority)].erase(job.order) > 0) --rep.queue_size;
    chooser_.finished(job.key);
  } else if (job.state == Job::State::kDelayed) {
    delayed_.erase(job.delayed_at);
  } else {
    return false;
  }
  job.state = Job::State::kDone;
  return true;
}

std::shared_ptr<Job> ReplicaPool::take(size_t r, uint64_t last_key) {
  std::unique_lock lock(mu_);
  Replica& rep = *replicas_[r];
  const TimePoint idle_until = SteadyClock::now() + options_.worker_idle;
  while (!stopping_) {
    const TimePoint now = SteadyClock::now();
    if (may_send(r, now)) {
      if (auto job = pop(r, last_key)) {
        --rep.idle;
        ++rep.in_flight;
        job->state = Job::State::kRunning;
        job->sent_epoch = rep.limit.epoch();
        job->sent_at = now;
        staff();
        return job;
      }
    }
    if (now >= idle_until) {  // nothing to send for worker_idle: this worker ends
      --rep.idle;
      --rep.workers;
      return nullptr;
    }
    TimePoint wake = idle_until;
    if (!rep.health.healthy() && !any_healthy() && now < rep.health.probe_at()) {
      wake = std::min(wake, rep.health.probe_at());
    }
    rep.cv.wait_until(lock, wake);
  }
  return nullptr;
}

void ReplicaPool::attempt_done(size_t r, Job& job, AttemptEnd end, long http_status,
                               const nlohmann::json* usage) {
  std::lock_guard lock(mu_);
  Replica& rep = *replicas_[r];
  --rep.in_flight;
  ++rep.idle;
  chooser_.finished(job.key);
  const TimePoint now = SteadyClock::now();
  const bool was_healthy = rep.health.healthy();
  ReplicaMetrics& c = rep.counts;
  if (http_status != 0) ++c.requests;
  switch (end) {
    case AttemptEnd::kAnswered:
      rep.limit.on_success(std::chrono::duration_cast<std::chrono::milliseconds>(now - job.sent_at));
      rep.health.on_answer();
      if (usage && usage->is_object()) {
        c.prompt_tokens += usage_count(*usage, "prompt_tokens");
        c.completion_tokens += usage_count(*usage, "completion_tokens");
        auto details = usage->find("prompt_tokens_details");
        if (details != usage->end() && details->is_object())
          c.cached_tokens += usage_count(*details, "cached_tokens");
      }
      break;
    case AttemptEnd::kRefused:
      rep.health.on_answer();
      break;
    case AttemptEnd::kServerError:
      ++c.errors;
      break;
    case AttemptEnd::kOverloaded:
      ++c.errors;
      ++c.throttled;
      rep.limit.on_overload(job.sent_epoch);
      rep.health.on_answer();
      break;
    case AttemptEnd::kTimedOut:
      ++c.errors;
      rep.limit.on_overload(job.sent_epoch);
      rep.health.on_failure(now, false);
      break;
    case AttemptEnd::kFailed:
    case AttemptEnd::kUnreachable:
      ++c.errors;
      rep.health.on_failure(now, end == AttemptEnd::kUnreachable);
      break;
    case AttemptEnd::kAborted:
      break;
  }
  if (was_healthy && !rep.health.healthy()) hand_over(r);
  if (!rep.health.healthy()) timer_cv_.notify_all();  // the prober has a server to watch
  staff();
}

void ReplicaPool::run_timers() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const TimePoint now = SteadyClock::now();
    bool moved = false;
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      auto job = delayed_.begin()->second;
      delayed_.erase(delayed_.begin());
      place(job);
      moved = true;
    }
    if (moved) staff();
    if (delayed_.empty()) {
      timer_cv_.wait(lock);
    } else {
      timer_cv_.wait_until(lock, delayed_.begin()->first);
    }
  }
}

std::optional<size_t> ReplicaPool::next_probe() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const TimePoint now = SteadyClock::now();
    std::optional<size_t> soonest;
    for (size_t r = 0; r < replicas_.size(); ++r) {
      const Replica& rep = *replicas_[r];
      // While every replica is out, one with requests waiting is probed by them (when its probe is
      // due, they are sent), so that they use up their attempts rather than wait behind probes.
      if (rep.health.healthy() || rep.probing || (!any_healthy() && rep.queue_size > 0)) continue;
      if (!soonest || rep.health.probe_at() < replicas_[*soonest]->health.probe_at()) soonest = r;
    }
    if (soonest && replicas_[*soonest]->health.probe_at() <= now) {
      replicas_[*soonest]->probing = true;
      return soonest;
    }
    if (soonest) {
      timer_cv_.wait_until(lock, replicas_[*soonest]->health.probe_at());
    } else {
      timer_cv_.wait(lock);
    }
  }
  return std::nullopt;
}

void ReplicaPool::probe_done(size_t r, bool answered) {
  std::lock_guard lock(mu_);
  Replica& rep = *replicas_[r];
  rep.probing = false;
  if (!rep.health.healthy()) rep.health.on_probe(SteadyClock::now(), answered);
  if (rep.health.healthy()) rep.cv.notify_all();
  staff();
  timer_cv_.notify_all();
}

std::vector<std::shared_ptr<Job>> ReplicaPool::stop() {
  std::vector<std::shared_ptr<Job>> waiting;
  std::lock_guard lock(mu_);
  stopping_ = true;
  for (auto& rep : replicas_) {
    for (auto& queue : rep->queued) {
      for (auto& [order, job] : queue) waiting.push_back(job);
      queue.clear();
    }
    rep->queue_size = 0;
    rep->cv.notify_all();
  }
  for (auto& [when, job] : delayed_) waiting.push_back(job);
  delayed_.clear();
  for (auto& job : waiting) job->state = Job::State::kDone;
  timer_cv_.notify_all();
  return waiting;
}

std::vector<ReplicaMetrics> ReplicaPool::metrics() const {
  std::lock_guard lock(mu_);
  std::vector<ReplicaMetrics> out;
  for (const auto& rep : replicas_) {
    ReplicaMetrics m = rep->counts;
    m.healthy = rep->health.healthy();
    m.in_flight = rep->in_flight;
    m.concurrency_limit = rep->limit.limit();
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace openbatch::engine::upstream
