// SqlStore: progress samples and the webhooks' outbox.
#include <algorithm>
#include <utility>

#include "store/record_rows.h"
#include "store/sql_store.h"

namespace openbatch::store {

Status SqlStore::sample_progress(const std::string& batch_id, int64_t at_ms) {
  int64_t sampled = 0;
  Status s = db_->run([&](sql::Connection& c) -> Status {
    auto r = c.exec(
        "INSERT INTO batch_progress (batch_id, at_ms, completed, failed, input_tokens, output_tokens, "
        "cached_tokens) SELECT id, $1, completed, failed, input_tokens, output_tokens, cached_tokens FROM "
        "batches WHERE id=$2 ON CONFLICT (batch_id, at_ms) DO UPDATE SET completed=excluded.completed, "
        "failed=excluded.failed, input_tokens=excluded.input_tokens, output_tokens=excluded.output_tokens, "
        "cached_tokens=excluded.cached_tokens",
        {at_ms, batch_id});
    if (!r) return r.status();
    sampled = *r;
    return Status::ok();
  });
  if (!s) return s;
  return sampled == 0 ? batch_not_found(batch_id) : Status::ok();
}

Result<std::vector<ProgressSample>> SqlStore::progress_samples(const std::string& batch_id,
                                                               int64_t after_ms) {
  return select<ProgressSample>(
      "SELECT at_ms, completed, failed, input_tokens, output_tokens, cached_tokens FROM batch_progress "
      "WHERE batch_id=$1 AND at_ms>$2 ORDER BY at_ms",
      {batch_id, after_ms}, [](const sql::Row& row) {
        ProgressSample p;
        p.at_ms = row.i64(0);
        p.completed = row.i64(1);
        p.failed = row.i64(2);
        p.usage.input_tokens = row.i64(3);
        p.usage.output_tokens = row.i64(4);
        p.usage.cached_tokens = row.i64(5);
        return p;
      });
}

Status SqlStore::queue_event(sql::Connection& c, const std::string& id, BatchStatus to, int64_t now) {
  if (!batch_events_ || !is_terminal(to)) return Status::ok();
  auto r = c.exec(
      "INSERT INTO webhook_events (id, type, batch_id, created_at, next_attempt_at) VALUES ($1,$2,$3,$4,$5)",
      {new_event_id(), std::string("batch.") + to_string(to), id, now, now * 1000});
  return r ? Status::ok() : r.status();
}

Result<std::vector<EventRecord>> SqlStore::claim_events(const std::string& node, int64_t limit,
                                                        int64_t now_ms, int64_t lease_until_ms) {
  // Events another node is claiming right now are skipped, not waited for. The rows to take are a
  // MATERIALIZED CTE, chosen once (see claim_requests: a subquery in FROM can be run again per row).
  auto claimed = select<std::pair<int64_t, EventRecord>>(
      std::string("WITH d AS MATERIALIZED (SELECT seq AS due FROM webhook_events WHERE state=0 AND "
                  "next_attempt_at<=$3 ORDER BY seq LIMIT $4") +
          d_.skip_locked +
          ") UPDATE webhook_events SET lease_node=$1, next_attempt_at=$2, lease_token=lease_token+1 FROM d "
          "WHERE seq=d.due RETURNING " +
          kEventColumns + ", seq",
      {node, lease_until_ms, now_ms, limit},
      [](const sql::Row& row) { return std::make_pair(row.i64(9), read_event_row(row)); });
  if (!claimed) return claimed.status();
  std::sort(claimed->begin(), claimed->end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<EventRecord> out;
  for (auto& e : *claimed) out.push_back(std::move(e.second));
  return out;
}

Result<bool> SqlStore::record_event_attempt(const EventAttempt& a) {
  bool stored = false;
  Status s = db_->run([&](sql::Connection& c) -> Status {
    auto r = c.exec(
        "UPDATE webhook_events SET state=$1, attempts=attempts+1, next_attempt_at=$2, last_error=$3, "
        "lease_node=NULL WHERE id=$4 AND lease_token=$5 AND state=0 AND lease_node IS NOT NULL",
        {static_cast<int64_t>(a.state), a.next_attempt_ms, sql::Value::null_if_empty(a.error), a.event_id,
         a.lease_token});
    if (!r) return r.status();
    stored = *r == 1;
    return Status::ok();
  });
  if (!s) return s;
  return stored;
}

Result<std::vector<EventRecord>> SqlStore::batch_events(const std::string& batch_id) {
  return select<EventRecord>(
      std::string("SELECT ") + kEventColumns + " FROM webhook_events WHERE batch_id=$1 ORDER BY seq",
      {batch_id}, read_event_row);
}

}  // namespace openbatch::store
