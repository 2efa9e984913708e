// SqlStore: the requests of a batch, their leases and their results.
#include <algorithm>
#include <map>

#include "store/sql_store.h"

namespace openbatch::store {
namespace {

RequestRecord read_request_row(const sql::Row& row) {
  return {row.i64(0), row.text(1), row.i64(2), row.i64(3), row.i64(4)};
}

}  // namespace

Result<std::vector<RequestRecord>> SqlStore::pending_requests(const std::string& batch_id) {
  return select<RequestRecord>(
      std::string("SELECT line, custom_id, ") + d_.offset_column +
          ", length, lease_token FROM batch_requests WHERE batch_id=$1 AND outcome=0 "
          "ORDER BY line",
      {batch_id}, read_request_row);
}

Status SqlStore::record_results(const std::vector<RequestResult>& results) {
  if (results.empty()) return Status::ok();
  return db_->transaction([&](sql::Connection& c) -> Status {
    struct Delta {
      RequestCounts counts;
      Usage usage;
    };
    std::map<std::string, Delta> deltas;  // reset on each attempt: this body may run again
    // Each stored result's place in its batch's order of results (one more than the batch's count),
    // taken under the batch row's lock, held to the commit: the places of a batch are given out in
    // commit order, so a reader never sees a later one before an earlier one. The batches are locked
    // in id order (std::map), so two nodes' transactions cannot wait for each other.
    std::map<std::string, int64_t> finished;
    for (const auto& r : results) finished[r.batch_id] = 0;
    for (auto& [batch_id, n] : finished) {
      auto b = c.exec(std::string("SELECT completed+failed FROM batches WHERE id=$1") + d_.for_update,
                      {batch_id}, [&n = n](const sql::Row& row) {
                        n = row.i64(0);
                        return false;
                      });
      if (!b) return b.status();
    }
    for (const auto& r : results) {
      auto u = c.exec(
          "UPDATE batch_requests SET outcome=$1, result=$2, lease_node=NULL, lease_until=NULL, finished=$6 "
          "WHERE batch_id=$3 AND line=$4 AND outcome=0 AND (CAST($5 AS BIGINT)=0 OR lease_token=CAST($5 AS "
          "BIGINT))",
          {static_cast<int64_t>(r.outcome), r.result_line, r.batch_id, r.line, r.lease_token,
           finished[r.batch_id] + 1});
      if (!u) return u.status();
      if (*u != 1) continue;  // already has a result, another node's lease, or gone
      ++finished[r.batch_id];
      Delta& d = deltas[r.batch_id];
      (r.outcome == Outcome::kOutput ? d.counts.completed : d.counts.failed)++;
      d.usage.input_tokens += r.usage.input_tokens;
      d.usage.output_tokens += r.usage.output_tokens;
      d.usage.cached_tokens += r.usage.cached_tokens;
      d.usage.reasoning_tokens += r.usage.reasoning_tokens;
    }
    for (const auto& [batch_id, d] : deltas) {
      auto b = c.exec(
          "UPDATE batches SET completed=completed+$1, failed=failed+$2, input_tokens=input_tokens+$3, "
          "output_tokens=output_tokens+$4, cached_tokens=cached_tokens+$5, "
          "reasoning_tokens=reasoning_tokens+$6 WHERE id=$7",
          {d.counts.completed, d.counts.failed, d.usage.input_tokens, d.usage.output_tokens,
           d.usage.cached_tokens, d.usage.reasoning_tokens, batch_id});
      if (!b) return b.status();
    }
    return Status::ok();
  });
}

Result<std::vector<RequestRecord>> SqlStore::claim_requests(const std::string& batch_id,
                                                            const std::string& node, int64_t limit,
                                                            int64_t now_ms, int64_t lease_until_ms) {
  std::vector<RequestRecord> out;
  Status s = db_->run([&](sql::Connection& c) -> Status {
    out.clear();
    // Rows another node is claiming right now are skipped, not waited for; a row claimed and
    // committed meanwhile is checked again against its new lease (read committed). The rows to take
    // are a MATERIALIZED CTE, chosen once: as a subquery in FROM, a nested-loop plan ran it again for
    // every row of the batch, each run locking the next rows, and one claim took the whole batch.
    auto r = c.exec(
        std::string("WITH c AS MATERIALIZED (SELECT line AS claimed FROM batch_requests WHERE "
                    "batch_id=$1 AND outcome=0 AND (lease_until IS NULL OR lease_until<=$4) AND EXISTS "
                    "(SELECT 1 FROM batches WHERE id=$1 AND status='in_progress') ORDER BY line LIMIT "
                    "$5") +
            d_.skip_locked +
            ") UPDATE batch_requests SET lease_node=$2, lease_until=$3, lease_token=lease_token+1 "
            "FROM c WHERE batch_id=$1 AND line=c.claimed RETURNING line, custom_id, " +
            d_.offset_column + ", length, lease_token",
        {batch_id, node, lease_until_ms, now_ms, limit}, [&](const sql::Row& row) {
          out.push_back(read_request_row(row));
          return true;
        });
    if (!r) return r.status();
    return out.empty() ? expect_batch(c, batch_id) : Status::ok();
  });
  if (!s) return s;
  std::sort(out.begin(), out.end(),
            [](const RequestRecord& a, const RequestRecord& b) { return a.line < b.line; });
  return out;
}

Status SqlStore::renew_leases(const std::string& node, int64_t lease_until_ms) {
  return db_->transaction([&](sql::Connection& c) -> Status {
    auto r = c.exec("UPDATE batch_requests SET lease_until=$1 WHERE lease_node=$2 AND outcome=0",
                    {lease_until_ms, node});
    if (!r) return r.status();
    auto b = c.exec("UPDATE batches SET job_until=$1 WHERE job_node=$2", {lease_until_ms, node});
    return b ? Status::ok() : b.status();
  });
}

Status SqlStore::release_batch(const std::string& batch_id, const std::string& node) {
  return db_->transaction([&](sql::Connection& c) -> Status {
    auto r = c.exec(
        "UPDATE batch_requests SET lease_node=NULL, lease_until=NULL WHERE batch_id=$1 AND lease_node=$2",
        {batch_id, node});
    if (!r) return r.status();
    auto b = c.exec("UPDATE batches SET job_node=NULL, job_until=NULL WHERE id=$1 AND job_node=$2",
                    {batch_id, node});
    return b ? Status::ok() : b.status();
  });
}

Status SqlStore::release_leases(const std::string& node) {
  return db_->transaction([&](sql::Connection& c) -> Status {
    for (const char* sql : {
             "UPDATE batch_requests SET lease_node=NULL, lease_until=NULL WHERE lease_node IS NOT NULL AND "
             "($1='' OR lease_node=$1)",
             "UPDATE batches SET job_node=NULL, job_until=NULL WHERE job_node IS NOT NULL AND ($1='' OR "
             "job_node=$1)",
             // A claimed event is due again at once (its claim's end is its next attempt).
             "UPDATE webhook_events SET lease_node=NULL, next_attempt_at=0 WHERE state=0 AND lease_node IS "
             "NOT "
             "NULL AND ($1='' OR lease_node=$1)",
         }) {
      if (auto r = c.exec(sql, {node}); !r) return r.status();
    }
    return Status::ok();
  });
}

Result<RequestTally> SqlStore::request_tally(const std::string& batch_id, int64_t now_ms) {
  auto tallies = select<RequestTally>(
      "SELECT count(*), count(*) FILTER (WHERE lease_until IS NOT NULL AND lease_until>$2) FROM "
      "batch_requests "
      "WHERE batch_id=$1 AND outcome=0",
      {batch_id, now_ms}, [](const sql::Row& row) {
        return RequestTally{row.i64(0), row.i64(1)};
      });
  if (!tallies) return tallies.status();
  return tallies->empty() ? RequestTally{} : tallies->front();
}

Result<bool> SqlStore::lease_batch(const std::string& batch_id, const std::string& node, int64_t now_ms,
                                   int64_t lease_until_ms) {
  bool held = false;
  Status s = db_->run([&](sql::Connection& c) -> Status {
    auto r = c.exec(
        "UPDATE batches SET job_node=$1, job_until=$2 WHERE id=$3 AND (job_node IS NULL OR job_node=$1 OR "
        "job_until<=$4)",
        {node, lease_until_ms, batch_id, now_ms});
    if (!r) return r.status();
    held = *r == 1;
    return held ? Status::ok() : expect_batch(c, batch_id);
  });
  if (!s) return s;
  return held;
}

Result<std::vector<StoredResult>> SqlStore::stored_results(const std::string& batch_id, int64_t after_line,
                                                           int64_t limit, int64_t max_bytes) {
  return read_results(
      "SELECT line, outcome, result, finished FROM batch_requests WHERE batch_id=$1 AND line>$2 AND "
      "outcome<>0 "
      "ORDER BY line LIMIT $3",
      {batch_id, after_line, limit}, "line", max_bytes);
}

Result<std::vector<StoredResult>> SqlStore::finished_results(const std::string& batch_id, int64_t after,
                                                             int64_t limit, int64_t max_bytes) {
  return read_results(
      "SELECT line, outcome, result, finished FROM batch_requests WHERE batch_id=$1 AND outcome<>0 AND "
      "finished>$2 ORDER BY finished LIMIT $3",
      {batch_id, after, limit}, "finished", max_bytes);
}

Result<std::vector<StoredResult>> SqlStore::read_results(const std::string& query,
                                                         const std::vector<sql::Value>& params,
                                                         const char* order_by, int64_t max_bytes) {
  std::string sql = query;
  std::vector<sql::Value> with_budget = params;
  if (d_.budget_in_sql) {
    // Rows while their results stay within the budget together (the first always), counted in the
    // database: the rows past it never come over the connection.
    const std::string o = order_by;
    sql =
        "SELECT line, outcome, result, finished FROM (SELECT line, outcome, result, finished, "
        "SUM(octet_length(result)) OVER (ORDER BY " +
        o + " ROWS UNBOUNDED PRECEDING) AS upto, ROW_NUMBER() OVER (ORDER BY " + o + ") AS n FROM (" + query +
        ") page) counted WHERE n=1 OR upto<=$" + std::to_string(params.size() + 1) + " ORDER BY " + o;
    with_budget.emplace_back(max_bytes);
  }
  // Rows are read one at a time: where the database steps them, the ones past the budget are never read.
  std::vector<StoredResult> out;
  Status s = db_->run([&](sql::Connection& c) -> Status {
    out.clear();
    int64_t bytes = 0;
    auto r = c.exec(sql, with_budget, [&](const sql::Row& row) {
      bytes += row.bytes(2);
      if (!out.empty() && bytes > max_bytes) return false;
      out.push_back({row.i64(0), static_cast<Outcome>(row.i64(1)), row.text(2), row.i64(3)});
      return true;
    });
    return r ? Status::ok() : r.status();
  });
  if (!s) return s;
  return out;
}

}  // namespace openbatch::store
