#include "engine/upstream/replica_health.h"

namespace openbatch::engine::upstream {

void ReplicaHealth::on_answer() {
  failures_ = 0;
  healthy_ = true;
  backoff_.succeeded();
}

void ReplicaHealth::on_failure(TimePoint now, bool unreachable) {
  ++failures_;
  if (!healthy_ || unreachable || failures_ >= options_.failures_to_remove) take_out(now);
}

void ReplicaHealth::on_probe(TimePoint now, bool answered) {
  if (answered) {
    on_answer();
  } else {
    take_out(now);
  }
}

void ReplicaHealth::take_out(TimePoint now) {
  healthy_ = false;
  probe_at_ = now + backoff_.failed();
}

}  // namespace openbatch::engine::upstream
