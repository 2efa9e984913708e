#include "store/postgres_store.h"

#include <algorithm>
#include <map>
#include <utility>

#include "postgres/connection.h"
#include "store/record_rows.h"

namespace openbatch::store {
namespace {

using postgres::Connection;
using postgres::Param;
using postgres::Rows;

// Each entry moves the schema from version i to i+1. Append only; never edit a shipped entry.
const std::vector<const char*> kMigrations = {
    R"sql(
CREATE TABLE files (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  owner TEXT NOT NULL,
  filename TEXT NOT NULL,
  purpose TEXT NOT NULL,
  bytes BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT
);
CREATE INDEX files_by_owner ON files(owner, seq);
CREATE TABLE batches (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  owner TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  model TEXT NOT NULL,
  input_file_id TEXT NOT NULL,
  completion_window TEXT NOT NULL,
  status TEXT NOT NULL,
  output_file_id TEXT,
  error_file_id TEXT,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  in_progress_at BIGINT, finalizing_at BIGINT, completed_at BIGINT, failed_at BIGINT,
  expired_at BIGINT, cancelling_at BIGINT, cancelled_at BIGINT,
  errors TEXT,
  metadata TEXT,
  output_expires_after BIGINT,
  total BIGINT NOT NULL DEFAULT 0,
  completed BIGINT NOT NULL DEFAULT 0,
  failed BIGINT NOT NULL DEFAULT 0,
  input_tokens BIGINT NOT NULL DEFAULT 0,
  output_tokens BIGINT NOT NULL DEFAULT 0,
  cached_tokens BIGINT NOT NULL DEFAULT 0,
  reasoning_tokens BIGINT NOT NULL DEFAULT 0,
  job_node TEXT,
  job_until BIGINT
);
CREATE INDEX batches_by_owner ON batches(owner, seq);
CREATE INDEX batches_by_status ON batches(status);
CREATE INDEX batches_by_input ON batches(input_file_id);
CREATE TABLE batch_requests (
  batch_id TEXT NOT NULL,
  line BIGINT NOT NULL,
  custom_id TEXT NOT NULL,
  byte_offset BIGINT NOT NULL,
  length BIGINT NOT NULL,
  outcome INTEGER NOT NULL DEFAULT 0,
  result TEXT,
  lease_node TEXT,
  lease_until BIGINT,
  lease_token BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (batch_id, line)
);
CREATE INDEX batch_requests_unfinished ON batch_requests(batch_id, line) WHERE outcome=0;
CREATE INDEX batch_requests_leased ON batch_requests(lease_node) WHERE outcome=0;
CREATE TABLE batch_progress (
  batch_id TEXT NOT NULL,
  at_ms BIGINT NOT NULL,
  completed BIGINT NOT NULL,
  failed BIGINT NOT NULL,
  input_tokens BIGINT NOT NULL,
  output_tokens BIGINT NOT NULL,
  cached_tokens BIGINT NOT NULL,
  PRIMARY KEY (batch_id, at_ms)
);
)sql",
    R"sql(
ALTER TABLE batch_requests ADD COLUMN finished BIGINT;
CREATE INDEX batch_requests_finished ON batch_requests(batch_id, finished) WHERE outcome<>0;
)sql",
    // Enqueued-token quotas (serve --max-enqueued-tokens): the prompt tokens a batch holds until it ends.
    R"sql(
ALTER TABLE batches ADD COLUMN enqueued_tokens BIGINT NOT NULL DEFAULT 0;
)sql",
    // The webhooks' outbox (EventRecord).
    R"sql(
CREATE TABLE webhook_events (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  batch_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  state INTEGER NOT NULL DEFAULT 0,
  attempts BIGINT NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  lease_node TEXT,
  lease_token BIGINT NOT NULL DEFAULT 0,
  last_error TEXT
);
CREATE INDEX webhook_events_due ON webhook_events(next_attempt_at) WHERE state=0;
CREATE INDEX webhook_events_by_batch ON webhook_events(batch_id);
)sql",
    // Secrets of the installation (keep_secret): the key of the owner ids every node computes.
    R"sql(
CREATE TABLE secrets (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql",
};

// The first key of the advisory locks that serialize the quota checks of one owner's batches (the
// second is a hash of the owner): "ob" + "qt" in ASCII, out of the way of other users of the database.
constexpr int64_t kQuotaLockClass = 0x6f62'7174;

constexpr const char* kActiveStatuses = "('validating','in_progress','finalizing','cancelling')";

// One row of a result, as the record readers (store/record_rows.h) read rows.
struct PgRow {
  const Rows& rows;
  int row;
  std::string text(int col) const { return rows.text(row, col); }
  int64_t i64(int col) const { return rows.i64(row, col); }
  std::optional<int64_t> opt_i64(int col) const { return rows.opt_i64(row, col); }
};
FileRecord read_file(const Rows& r, int row) { return read_file_row(PgRow{r, row}); }
BatchRecord read_batch(const Rows& r, int row) { return read_batch_row(PgRow{r, row}); }
EventRecord read_event(const Rows& r, int row) { return read_event_row(PgRow{r, row}); }

// Queues the event of batch id ending with status `to` (nothing for a status that does not end it, or
// when batch_events is off), in the transaction that ends the batch.
Status queue_event(Connection& c, bool batch_events, const std::string& id, BatchStatus to, int64_t now) {
  if (!batch_events || !is_terminal(to)) return Status::ok();
  auto r = c.exec(
      "INSERT INTO webhook_events (id, type, batch_id, created_at, next_attempt_at) VALUES ($1,$2,$3,$4,$5)",
      {new_event_id(), std::string("batch.") + to_string(to), id, now, now * 1000});
  return r ? Status::ok() : r.status();
}

Status file_not_found(const std::string& id) { return Status::not_found("No such File object: " + id, "id"); }
Status batch_not_found(const std::string& id) {
  return Status::not_found("No batch found with id '" + id + "'.", "id");
}

template <typename T>
void trim_page(Page<T>& page, int64_t limit) {
  if (static_cast<int64_t>(page.items.size()) > limit) {
    page.items.resize(static_cast<size_t>(limit));
    page.has_more = true;
  }
}

// The status of batch id, its row locked until the transaction ends; NotFound when absent.
Result<std::string> lock_status(Connection& c, const std::string& id) {
  auto r = c.exec("SELECT status FROM batches WHERE id=$1 FOR UPDATE", {id});
  if (!r) return r.status();
  if (r->size() == 0) return batch_not_found(id);
  return r->text(0, 0);
}

// OK when the locked batch is in one of `from`; otherwise the conflict a move to `to` meets.
Status expect_status(Connection& c, const std::string& id, const std::vector<BatchStatus>& from,
                     BatchStatus to) {
  auto current = lock_status(c, id);
  if (!current) return current.status();
  for (BatchStatus s : from) {
    if (*current == to_string(s)) return Status::ok();
  }
  if (to == BatchStatus::kCancelling || to == BatchStatus::kCancelled) {
    return Status::conflict("Cannot cancel a batch with status '" + *current + "'.");
  }
  return Status::conflict("Cannot move a batch with status '" + *current + "' to '" + to_string(to) + "'.");
}

// Sets the status (and its timestamp), and queues the event of a batch that ends (batch_events).
Status set_status(Connection& c, bool batch_events, const std::string& id, BatchStatus to, int64_t now) {
  const char* column = timestamp_column(to);
  if (column) {
    auto r = c.exec(std::string("UPDATE batches SET status=$1, ") + column + "=$2 WHERE id=$3",
                    {to_string(to), now, id});
    if (!r) return r.status();
  } else {
    auto r = c.exec("UPDATE batches SET status=$1 WHERE id=$2", {to_string(to), id});
    if (!r) return r.status();
  }
  return queue_event(c, batch_events, id, to, now);
}

Status insert_file_on(Connection& c, const FileRecord& f) {
  auto r = c.exec(
      "INSERT INTO files (id, owner, filename, purpose, bytes, created_at, expires_at) VALUES "
      "($1,$2,$3,$4,$5,$6,$7)",
      {f.id, f.owner, f.filename, f.purpose, f.bytes, f.created_at, f.expires_at});
  return r ? Status::ok() : r.status();
}

class PostgresStore final : public Store {
 public:
  PostgresStore(std::shared_ptr<postgres::Database> db, const StoreOptions& options)
      : db_(std::move(db)), batch_events_(options.batch_events) {}

  // ---- files

  Status insert_file(const FileRecord& f) override {
    return db_->run([&](Connection& c) { return insert_file_on(c, f); });
  }

  Result<FileRecord> get_file(const std::string& owner, const std::string& id) override {
    std::optional<FileRecord> out;
    Status s = db_->run([&](Connection& c) -> Status {
      auto r =
          c.exec(std::string("SELECT ") + kFileColumns + " FROM files WHERE id=$1 AND owner=$2", {id, owner});
      if (!r) return r.status();
      if (r->size() == 0) return file_not_found(id);
      out = read_file(*r, 0);
      return Status::ok();
    });
    if (!s) return s;
    return std::move(*out);
  }

  Result<Page<FileRecord>> list_files(const std::string& owner, const ListQuery& query) override {
    Page<FileRecord> page;
    Status s = db_->run([&](Connection& c) -> Status {
      std::optional<int64_t> after;
      if (!query.after.empty()) {
        auto a = c.exec("SELECT seq FROM files WHERE id=$1 AND owner=$2", {query.after, owner});
        if (!a) return a.status();
        if (a->size() == 0) return Status::ok();
        after = a->i64(0, 0);
      }
      const std::string sql =
          std::string("SELECT ") + kFileColumns +
          " FROM files WHERE owner=$1 AND ($2='' OR purpose=$2) AND ($3::bigint IS NULL OR seq " +
          (query.ascending ? ">" : "<") + " $3::bigint) ORDER BY seq " + (query.ascending ? "ASC" : "DESC") +
          " LIMIT $4";
      auto r = c.exec(sql, {owner, query.purpose, after, query.limit + 1});
      if (!r) return r.status();
      for (int i = 0; i < r->size(); ++i) page.items.push_back(read_file(*r, i));
      return Status::ok();
    });
    if (!s) return s;
    trim_page(page, query.limit);
    return page;
  }

  Status delete_file(const std::string& owner, const std::string& id) override {
    return db_->transaction([&](Connection& c) -> Status {
      auto f = c.exec("SELECT 1 FROM files WHERE id=$1 AND owner=$2 FOR UPDATE", {id, owner});
      if (!f) return f.status();
      if (f->size() == 0) return file_not_found(id);
      auto b = c.exec(std::string("SELECT id, status FROM batches WHERE input_file_id=$1 AND status IN ") +
                          kActiveStatuses + " LIMIT 1",
                      {id});
      if (!b) return b.status();
      if (b->size() > 0) {
        return Status::conflict("File '" + id + "' is the input of batch '" + b->text(0, 0) +
                                "', which is still '" + b->text(0, 1) +
                                "'. Delete it once the batch has ended, or cancel the batch.");
      }
      auto d = c.exec("DELETE FROM files WHERE id=$1", {id});
      return d ? Status::ok() : d.status();
    });
  }

  Result<std::vector<FileRecord>> expired_files(int64_t now, int64_t limit) override {
    std::vector<FileRecord> out;
    Status s = db_->run([&](Connection& c) -> Status {
      auto r = c.exec(std::string("SELECT ") + kFileColumns +
                          " FROM files f WHERE expires_at IS NOT NULL AND expires_at <= $1 AND NOT EXISTS "
                          "(SELECT 1 FROM batches b WHERE b.input_file_id = f.id AND b.status IN " +
                          kActiveStatuses + ") ORDER BY seq LIMIT $2",
                      {now, limit});
      if (!r) return r.status();
      for (int i = 0; i < r->size(); ++i) out.push_back(read_file(*r, i));
      return Status::ok();
    });
    if (!s) return s;
    return out;
  }

  Result<std::vector<std::string>> all_file_ids() override {
    std::vector<std::string> out;
    Status s = db_->run([&](Connection& c) -> Status {
      auto r = c.exec("SELECT id FROM files");
      if (!r) return r.status();
      for (int i = 0; i < r->size(); ++i) out.push_back(r->text(i, 0));
      return Status::ok();
    });
    if (!s) return s;
    return out;
  }

  Result<int64_t> stored_bytes(const std::string& owner) override {
    int64_t out = 0;
    Status s = db_->run([&](Connection& c) -> Status {
      auto r = c.exec("SELECT COALESCE(SUM(bytes), 0)::bigint FROM files WHERE owner=$1", {owner});
      if (!r) return r.status();
      out = r->i64(0, 0);
      return Status::ok();
    });
    if (!s) return s;
    return out;
  }

  // ---- owners

  Status change_owners(const std::vector<std::pair<std::string, std::string>>& from_to) override {
    return db_->transaction([&](Connection& c) -> Status {
      for (const auto& [from, to] : from_to) {
        for (const char* sql :
             {"UPDATE files SET owner=$1 WHERE owner=$2", "UPDATE batches SET owner=$1 WHERE owner=$2"}) {
          auto r = c.exec(sql, {to, from});
          if (!r) return r.status();
        }
      }
      return Status::ok();
    });
  }

  Result<std::string> keep_secret(const std::string& name, const std::string& candidate) override {
    std::string out;
    Status s = db_->run([&](Connection& c) -> Status {
      auto i = c.exec("INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                      {name, candidate});
      if (!i) return i.status();
      auto r = c.exec("SELECT value FROM secrets WHERE name=$1", {name});
      if (!r) return r.status();
      if (r->size() == 0) return Status::internal("secret " + name + " vanished");
      out = r->text(0, 0);
      return Status::ok();
    });
    if (!s) return s;
    return out;
  }

  // ---- batches

  Status insert_batch(const BatchRecord& b) override {
    return db_->run([&](Connection& c) -> Status {
      auto r = c.exec(
          "INSERT INTO batches (id, owner, endpoint, model, input_file_id, completion_window, status, "
          "created_at, expires_at, errors, metadata, output_expires_after, total) "
          "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
          {b.id, b.owner, b.endpoint, b.model, b.input_file_id, b.completion_window, to_string(b.status),
           b.created_at, b.expires_at, Param::null_if_empty(errors_to_text(b.errors)),
           Param::null_if_empty(b.metadata.is_null() ? std::string() : b.metadata.dump()),
           b.output_expires_after_seconds, b.request_counts.total});
      return r ? Status::ok() : r.status();
    });
  }

  Result<BatchRecord> get_batch(const std::string& owner, const std::string& id) override {
    return read_one_batch(std::string("SELECT ") + kBatchColumns + " FROM batches WHERE id=$1 AND owner=$2",
                          {id, owner}, id);
  }

  Result<BatchRecord> get_batch_any_owner(const std::string& id) override {
    return read_one_batch(std::string("SELECT ") + kBatchColumns + " FROM batches WHERE id=$1", {id}, id);
  }

  Result<Page<BatchRecord>> list_batches(const std::string& owner, const ListQuery& query) override {
    Page<BatchRecord> page;
    Status s = db_->run([&](Connection& c) -> Status {
      std::optional<int64_t> after;
      if (!query.after.empty()) {
        auto a = c.exec("SELECT seq FROM batches WHERE id=$1 AND owner=$2", {query.after, owner});
        if (!a) return a.status();
        if (a->size() == 0) return Status::ok();
        after = a->i64(0, 0);
      }
      auto r =
          c.exec(std::string("SELECT ") + kBatchColumns +
                     " FROM batches WHERE owner=$1 AND ($2::bigint IS NULL OR seq < $2::bigint) ORDER BY seq "
                     "DESC LIMIT $3",
                 {owner, after, query.limit + 1});
      if (!r) return r.status();
      for (int i = 0; i < r->size(); ++i) page.items.push_back(read_batch(*r, i));
      return Status::ok();
    });
    if (!s) return s;
    trim_page(page, query.limit);
    return page;
  }

  Result<std::vector<BatchRecord>> batches_with_status(const std::vector<BatchStatus>& statuses) override {
    std::vector<BatchRecord> out;
    Status s = db_->run([&](Connection& c) -> Status {
      for (BatchStatus st : statuses) {
        auto r = c.exec(std::string("SELECT ") + kBatchColumns + " FROM batches WHERE status=$1 ORDER BY seq",
                        {to_string(st)});
        if (!r) return r.status();
        for (int i = 0; i < r->size(); ++i) out.push_back(read_batch(*r, i));
      }
      return Status::ok();
    });
    if (!s) return s;
    return out;
  }

  Status start_batch(const std::string& id, const std::string& model,
                     const std::vector<RequestRecord>& requests, int64_t now,
                     const TokenQuota& quota) override {
    return db_->transaction([&](Connection& c) -> Status {
      if (Status s = expect_status(c, id, {BatchStatus::kValidating}, BatchStatus::kInProgress); !s) return s;
      if (quota.max_enqueued_tokens > 0) {
        // One owner's batches take their turn here, whichever node starts them: the lock holds until
        // the transaction ends, and the sum below (READ COMMITTED: a statement sees what was committed
        // before it began) counts every batch started before it.
        if (auto r = c.exec("SELECT pg_advisory_xact_lock($1::int, hashtext(owner)) FROM batches WHERE id=$2",
                            {kQuotaLockClass, id});
            !r) {
          return r.status();
        }
        auto r =
            c.exec(std::string("SELECT COALESCE(SUM(enqueued_tokens), 0) FROM batches WHERE owner=(SELECT "
                               "owner FROM batches WHERE id=$1) AND id<>$1 AND status IN ") +
                       kEnqueuedStatusesSql,
                   {id});
        if (!r) return r.status();
        if (r->i64(0, 0) + quota.prompt_tokens > quota.max_enqueued_tokens) {
          return enqueued_token_limit_exceeded(quota.max_enqueued_tokens);
        }
      }
      // Many rows a statement: a round trip per 1,000 requests, not per request.
      constexpr size_t kRowsPerInsert = 1000;
      for (size_t at = 0; at < requests.size(); at += kRowsPerInsert) {
        const size_t end = std::min(requests.size(), at + kRowsPerInsert);
        std::string sql =
            "INSERT INTO batch_requests (batch_id, line, custom_id, byte_offset, length) VALUES ";
        std::vector<Param> params;
        params.reserve(1 + 4 * (end - at));
        params.emplace_back(id);
        for (size_t i = at; i < end; ++i) {
          const RequestRecord& r = requests[i];
          const size_t p = params.size();
          sql += (i == at ? "" : ",");
          sql += "($1,$" + std::to_string(p + 1) + ",$" + std::to_string(p + 2) + ",$" +
                 std::to_string(p + 3) + ",$" + std::to_string(p + 4) + ")";
          params.emplace_back(r.line);
          params.emplace_back(r.custom_id);
          params.emplace_back(r.offset);
          params.emplace_back(r.length);
        }
        if (auto r = c.exec(sql, params); !r) return r.status();
      }
      auto r = c.exec(
          "UPDATE batches SET status='in_progress', in_progress_at=$1, model=$2, total=$3, "
          "enqueued_tokens=$4 WHERE id=$5",
          {now, model, static_cast<int64_t>(requests.size()), quota.prompt_tokens, id});
      return r ? Status::ok() : r.status();
    });
  }

  Status fail_batch(const std::string& id, const std::vector<BatchError>& errors, int64_t now) override {
    return db_->transaction([&](Connection& c) -> Status {
      if (Status s = expect_status(c, id, {BatchStatus::kValidating}, BatchStatus::kFailed); !s) return s;
      auto r = c.exec("UPDATE batches SET status='failed', failed_at=$1, errors=$2 WHERE id=$3",
                      {now, Param::null_if_empty(errors_to_text(errors)), id});
      if (!r) return r.status();
      return queue_event(c, batch_events_, id, BatchStatus::kFailed, now);
    });
  }

  Status transition(const std::string& id, const std::vector<BatchStatus>& from, BatchStatus to,
                    int64_t now) override {
    return db_->transaction([&](Connection& c) -> Status {
      if (Status s = expect_status(c, id, from, to); !s) return s;
      return set_status(c, batch_events_, id, to, now);
    });
  }

  Result<std::vector<RequestRecord>> pending_requests(const std::string& batch_id) override {
    std::vector<RequestRecord> out;
    Status s = db_->run([&](Connection& c) -> Status {
      auto r = c.exec(
          "SELECT line, custom_id, byte_offset, length, lease_token FROM batch_requests WHERE batch_id=$1 "
          "AND "
          "outcome=0 ORDER BY line",
          {batch_id});
      if (!r) return r.status();
      for (int i = 0; i < r->size(); ++i) {
        out.push_back({r->i64(i, 0), r->text(i, 1), r->i64(i, 2), r->i64(i, 3), r->i64(i, 4)});
      }
      return Status::ok();
    });
    if (!s) return s;
    return out;
  }

  Status record_results(const std::vector<RequestResult>& results) override {
    if (results.empty()) return Status::ok();
    return db_->transaction([&](Connection& c) -> Status {
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
        auto b = c.exec("SELECT completed+failed FROM batches WHERE id=$1 FOR UPDATE", {batch_id});
        if (!b) return b.status();
        n = b->size() == 1 ? b->i64(0, 0) : 0;
      }
      for (const auto& r : results) {
        auto u = c.exec(
            "UPDATE batch_requests SET outcome=$1, result=$2, lease_node=NULL, lease_until=NULL, finished=$6 "
            "WHERE batch_id=$3 AND line=$4 AND outcome=0 AND ($5::bigint=0 OR lease_token=$5::bigint)",
            {static_cast<int64_t>(r.outcome), r.result_line, r.batch_id, r.line, r.lease_token,
             finished[r.batch_id] + 1});
        if (!u) return u.status();
        if (u->affected() != 1) continue;  // already has a result, another node's lease, or gone
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

  Result<std::vector<RequestRecord>> claim_requests(const std::string& batch_id, const std::string& node,
                                                    int64_t limit, int64_t now_ms,
                                                    int64_t lease_until_ms) override {
    std::vector<RequestRecord> out;
    Status s = db_->run([&](Connection& c) -> Status {
      out.clear();
      // Rows another node is claiming right now are skipped, not waited for; a row claimed and
      // committed meanwhile is checked again against its new lease (read committed). The rows to take
      // are a MATERIALIZED CTE, chosen once: as a subquery in FROM, a nested-loop plan ran it again for
      // every row of the batch, each run locking the next rows, and one claim took the whole batch.
      auto r = c.exec(
          "WITH c AS MATERIALIZED (SELECT line FROM batch_requests WHERE batch_id=$1 AND outcome=0 AND "
          "(lease_until IS NULL OR lease_until<=$4) AND EXISTS (SELECT 1 FROM batches WHERE id=$1 AND "
          "status='in_progress') ORDER BY line LIMIT $5 FOR UPDATE SKIP LOCKED) "
          "UPDATE batch_requests r SET lease_node=$2, lease_until=$3, lease_token=r.lease_token+1 FROM c "
          "WHERE r.batch_id=$1 AND r.line=c.line "
          "RETURNING r.line, r.custom_id, r.byte_offset, r.length, r.lease_token",
          {batch_id, node, lease_until_ms, now_ms, limit});
      if (!r) return r.status();
      for (int i = 0; i < r->size(); ++i) {
        out.push_back({r->i64(i, 0), r->text(i, 1), r->i64(i, 2), r->i64(i, 3), r->i64(i, 4)});
      }
      if (out.empty()) {
        auto e = c.exec("SELECT 1 FROM batches WHERE id=$1", {batch_id});
        if (!e) return e.status();
        if (e->size() == 0) return batch_not_found(batch_id);
      }
      return Status::ok();
    });
    if (!s) return s;
    std::sort(out.begin(), out.end(),
              [](const RequestRecord& a, const RequestRecord& b) { return a.line < b.line; });
    return out;
  }

  Status renew_leases(const std::string& node, int64_t lease_until_ms) override {
    return db_->transaction([&](Connection& c) -> Status {
      auto r = c.exec("UPDATE batch_requests SET lease_until=$1 WHERE lease_node=$2 AND outcome=0",
                      {lease_until_ms, node});
      if (!r) return r.status();
      auto b = c.exec("UPDATE batches SET job_until=$1 WHERE job_node=$2", {lease_until_ms, node});
      return b ? Status::ok() : b.status();
    });
  }

  Status release_batch(const std::string& batch_id, const std::string& node) override {
    return db_->transaction([&](Connection& c) -> Status {
      auto r = c.exec(
          "UPDATE batch_requests SET lease_node=NULL, lease_until=NULL WHERE batch_id=$1 AND lease_node=$2",
          {batch_id, node});
      if (!r) return r.status();
      auto b = c.exec("UPDATE batches SET job_node=NULL, job_until=NULL WHERE id=$1 AND job_node=$2",
                      {batch_id, node});
      return b ? Status::ok() : b.status();
    });
  }

  Status release_leases(const std::string& node) override {
    return db_->transaction([&](Connection& c) -> Status {
      auto r = c.exec(
          "UPDATE batch_requests SET lease_node=NULL, lease_until=NULL WHERE lease_node IS NOT NULL AND "
          "($1='' OR lease_node=$1)",
          {node});
      if (!r) return r.status();
      auto b = c.exec(
          "UPDATE batches SET job_node=NULL, job_until=NULL WHERE job_node IS NOT NULL AND ($1='' OR "
          "job_node=$1)",
          {node});
      if (!b) return b.status();
      // A claimed event is due again at once (its claim's end is its next attempt).
      auto e = c.exec(
          "UPDATE webhook_events SET lease_node=NULL, next_attempt_at=0 WHERE state=0 AND lease_node IS NOT "
          "NULL AND ($1='' OR lease_node=$1)",
          {node});
      return e ? Status::ok() : e.status();
    });
  }

  Result<RequestTally> request_tally(const std::string& batch_id, int64_t now_ms) override {
    RequestTally t;
    Status s = db_->run([&](Connection& c) -> Status {
      auto r = c.exec(
          "SELECT count(*), count(*) FILTER (WHERE lease_until IS NOT NULL AND lease_until>$2) FROM "
          "batch_requests WHERE batch_id=$1 AND outcome=0",
          {batch_id, now_ms});
      if (!r) return r.status();
      t.unfinished = r->i64(0, 0);
      t.leased = r->i64(0, 1);
      return Status::ok();
    });
    if (!s) return s;
    return t;
  }

  Result<bool> lease_batch(const std::string& batch_id, const std::string& node, int64_t now_ms,
                           int64_t lease_until_ms) override {
    bool held = false;
    Status s = db_->run([&](Connection& c) -> Status {
      auto r = c.exec(
          "UPDATE batches SET job_node=$1, job_until=$2 WHERE id=$3 AND (job_node IS NULL OR job_node=$1 OR "
          "job_until<=$4)",
          {node, lease_until_ms, batch_id, now_ms});
      if (!r) return r.status();
      held = r->affected() == 1;
      if (held) return Status::ok();
      auto e = c.exec("SELECT 1 FROM batches WHERE id=$1", {batch_id});
      if (!e) return e.status();
      return e->size() == 0 ? batch_not_found(batch_id) : Status::ok();
    });
    if (!s) return s;
    return held;
  }

  Result<std::vector<StoredResult>> finished_results(const std::string& batch_id, int64_t after,
                                                     int64_t limit, int64_t max_bytes) override {
    std::vector<StoredResult> out;
    Status s = db_->run([&](Connection& c) -> Status {
      out.clear();
      // Rows while their results stay within max_bytes together (the first always), counted in the
      // database: the rows past the budget never come over the connection.
      auto r = c.exec(
          "SELECT line, outcome, result, finished FROM (SELECT line, outcome, result, finished, "
          "SUM(octet_length(result)) OVER (ORDER BY finished ROWS UNBOUNDED PRECEDING) AS upto, "
          "ROW_NUMBER() OVER (ORDER BY finished) AS n FROM (SELECT line, outcome, result, finished FROM "
          "batch_requests WHERE batch_id=$1 AND outcome<>0 AND finished>$2 ORDER BY finished LIMIT $3) page) "
          "counted WHERE n=1 OR upto<=$4 ORDER BY finished",
          {batch_id, after, limit, max_bytes});
      if (!r) return r.status();
      for (int i = 0; i < r->size(); ++i) {
        out.push_back({r->i64(i, 0), static_cast<Outcome>(r->i64(i, 1)), r->text(i, 2), r->i64(i, 3)});
      }
      return Status::ok();
    });
    if (!s) return s;
    return out;
  }

  Result<std::vector<StoredResult>> stored_results(const std::string& batch_id, int64_t after_line,
                                                   int64_t limit, int64_t max_bytes) override {
    std::vector<StoredResult> out;
    Status s = db_->run([&](Connection& c) -> Status {
      auto r = c.exec(
          "SELECT line, outcome, result FROM (SELECT line, outcome, result, "
          "SUM(octet_length(result)) OVER (ORDER BY line ROWS UNBOUNDED PRECEDING) AS upto, "
          "ROW_NUMBER() OVER (ORDER BY line) AS n FROM (SELECT line, outcome, result FROM batch_requests "
          "WHERE batch_id=$1 AND line>$2 AND outcome<>0 ORDER BY line LIMIT $3) page) counted "
          "WHERE n=1 OR upto<=$4 ORDER BY line",
          {batch_id, after_line, limit, max_bytes});
      if (!r) return r.status();
      for (int i = 0; i < r->size(); ++i) {
        out.push_back({r->i64(i, 0), static_cast<Outcome>(r->i64(i, 1)), r->text(i, 2)});
      }
      return Status::ok();
    });
    if (!s) return s;
    return out;
  }

  Status sample_progress(const std::string& batch_id, int64_t at_ms) override {
    return db_->run([&](Connection& c) -> Status {
      auto r = c.exec(
          "INSERT INTO batch_progress (batch_id, at_ms, completed, failed, input_tokens, output_tokens, "
          "cached_tokens) SELECT id, $1, completed, failed, input_tokens, output_tokens, cached_tokens FROM "
          "batches WHERE id=$2 ON CONFLICT (batch_id, at_ms) DO UPDATE SET completed=EXCLUDED.completed, "
          "failed=EXCLUDED.failed, input_tokens=EXCLUDED.input_tokens, output_tokens=EXCLUDED.output_tokens, "
          "cached_tokens=EXCLUDED.cached_tokens",
          {at_ms, batch_id});
      if (!r) return r.status();
      return r->affected() == 0 ? batch_not_found(batch_id) : Status::ok();
    });
  }

  Result<std::vector<ProgressSample>> progress_samples(const std::string& batch_id,
                                                       int64_t after_ms) override {
    std::vector<ProgressSample> out;
    Status s = db_->run([&](Connection& c) -> Status {
      auto r = c.exec(
          "SELECT at_ms, completed, failed, input_tokens, output_tokens, cached_tokens FROM batch_progress "
          "WHERE batch_id=$1 AND at_ms>$2 ORDER BY at_ms",
          {batch_id, after_ms});
      if (!r) return r.status();
      for (int i = 0; i < r->size(); ++i) {
        ProgressSample p;
        p.at_ms = r->i64(i, 0);
        p.completed = r->i64(i, 1);
        p.failed = r->i64(i, 2);
        p.usage.input_tokens = r->i64(i, 3);
        p.usage.output_tokens = r->i64(i, 4);
        p.usage.cached_tokens = r->i64(i, 5);
        out.push_back(p);
      }
      return Status::ok();
    });
    if (!s) return s;
    return out;
  }

  Status finish_batch(const std::string& id, const std::vector<BatchStatus>& from, BatchStatus to,
                      const std::optional<FileRecord>& output_file,
                      const std::optional<FileRecord>& error_file, int64_t now) override {
    return db_->transaction([&](Connection& c) -> Status {
      if (Status s = expect_status(c, id, from, to); !s) return s;
      for (const auto* f : {&output_file, &error_file}) {
        if (!f->has_value()) continue;
        if (Status s = insert_file_on(c, **f); !s) return s;
      }
      auto u = c.exec("UPDATE batches SET output_file_id=$1, error_file_id=$2 WHERE id=$3",
                      {Param::null_if_empty(output_file ? output_file->id : ""),
                       Param::null_if_empty(error_file ? error_file->id : ""), id});
      if (!u) return u.status();
      if (Status s = set_status(c, batch_events_, id, to, now); !s) return s;
      auto d = c.exec("DELETE FROM batch_requests WHERE batch_id=$1", {id});
      return d ? Status::ok() : d.status();
    });
  }

  // ---- webhook events

  Result<std::vector<EventRecord>> claim_events(const std::string& node, int64_t limit, int64_t now_ms,
                                                int64_t lease_until_ms) override {
    std::vector<EventRecord> out;
    Status s = db_->run([&](Connection& c) -> Status {
      out.clear();
      // Events another node is claiming right now are skipped, not waited for. The rows to take are a
      // MATERIALIZED CTE, chosen once (see claim_requests: a subquery in FROM can be run again per row).
      auto r = c.exec(
          "WITH d AS MATERIALIZED (SELECT seq FROM webhook_events WHERE state=0 AND next_attempt_at<=$3 "
          "ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED) "
          "UPDATE webhook_events e SET lease_node=$1, next_attempt_at=$2, lease_token=e.lease_token+1 FROM d "
          "WHERE e.seq=d.seq RETURNING e.id, e.type, e.batch_id, e.created_at, e.state, e.attempts, "
          "e.next_attempt_at, e.lease_token, e.last_error, e.seq",
          {node, lease_until_ms, now_ms, limit});
      if (!r) return r.status();
      std::vector<std::pair<int64_t, EventRecord>> claimed;
      for (int i = 0; i < r->size(); ++i) claimed.emplace_back(r->i64(i, 9), read_event(*r, i));
      std::sort(claimed.begin(), claimed.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (auto& e : claimed) out.push_back(std::move(e.second));
      return Status::ok();
    });
    if (!s) return s;
    return out;
  }

  Result<bool> record_event_attempt(const EventAttempt& a) override {
    bool stored = false;
    Status s = db_->run([&](Connection& c) -> Status {
      auto r = c.exec(
          "UPDATE webhook_events SET state=$1, attempts=attempts+1, next_attempt_at=$2, last_error=$3, "
          "lease_node=NULL WHERE id=$4 AND lease_token=$5 AND state=0 AND lease_node IS NOT NULL",
          {static_cast<int64_t>(a.state), a.next_attempt_ms, Param::null_if_empty(a.error), a.event_id,
           a.lease_token});
      if (!r) return r.status();
      stored = r->affected() == 1;
      return Status::ok();
    });
    if (!s) return s;
    return stored;
  }

  Result<std::vector<EventRecord>> batch_events(const std::string& batch_id) override {
    std::vector<EventRecord> out;
    Status s = db_->run([&](Connection& c) -> Status {
      out.clear();
      auto r = c.exec(
          std::string("SELECT ") + kEventColumns + " FROM webhook_events WHERE batch_id=$1 ORDER BY seq",
          {batch_id});
      if (!r) return r.status();
      for (int i = 0; i < r->size(); ++i) out.push_back(read_event(*r, i));
      return Status::ok();
    });
    if (!s) return s;
    return out;
  }

 private:
  Result<BatchRecord> read_one_batch(const std::string& sql, const std::vector<Param>& params,
                                     const std::string& id) {
    std::optional<BatchRecord> out;
    Status s = db_->run([&](Connection& c) -> Status {
      auto r = c.exec(sql, params);
      if (!r) return r.status();
      if (r->size() == 0) return batch_not_found(id);
      out = read_batch(*r, 0);
      return Status::ok();
    });
    if (!s) return s;
    return std::move(*out);
  }

  std::shared_ptr<postgres::Database> db_;
  const bool batch_events_;  // StoreOptions::batch_events
};

}  // namespace

Result<std::unique_ptr<Store>> open_postgres_store(const std::string& url, const StoreOptions& options) {
  auto db = postgres::Database::open(url);
  if (!db) return db.status();
  if (Status s = postgres::migrate(**db, "store", kMigrations); !s) return s;
  return std::unique_ptr<Store>(std::make_unique<PostgresStore>(std::move(db).value(), options));
}

}  // namespace openbatch::store
