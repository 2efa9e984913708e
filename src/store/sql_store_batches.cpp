// SqlStore: batches and their lifecycle.
#include <algorithm>
#include <utility>

#include "store/record_rows.h"
#include "store/sql_store.h"

namespace openbatch::store {

Status SqlStore::insert_batch(const BatchRecord& b) {
  return write(
      "INSERT INTO batches (id, owner, endpoint, model, input_file_id, completion_window, status, "
      "created_at, expires_at, errors, metadata, output_expires_after, total) "
      "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
      {b.id, b.owner, b.endpoint, b.model, b.input_file_id, b.completion_window, to_string(b.status),
       b.created_at, b.expires_at, sql::Value::null_if_empty(errors_to_text(b.errors)),
       sql::Value::null_if_empty(b.metadata.is_null() ? std::string() : b.metadata.dump()),
       b.output_expires_after_seconds, b.request_counts.total});
}

Result<BatchRecord> SqlStore::get_batch(const std::string& owner, const std::string& id) {
  return select_one<BatchRecord>(
      std::string("SELECT ") + kBatchColumns + " FROM batches WHERE id=$1 AND owner=$2", {id, owner},
      read_batch_row, batch_not_found(id));
}

Result<BatchRecord> SqlStore::get_batch_any_owner(const std::string& id) {
  return select_one<BatchRecord>(std::string("SELECT ") + kBatchColumns + " FROM batches WHERE id=$1", {id},
                                 read_batch_row, batch_not_found(id));
}

Result<Page<BatchRecord>> SqlStore::list_batches(const std::string& owner, const ListQuery& query) {
  Page<BatchRecord> page;
  Status s = db_->run([&](sql::Connection& c) -> Status {
    page.items.clear();
    std::optional<int64_t> after;
    if (!query.after.empty()) {
      auto seq = seq_of(c, "batches", owner, query.after);
      if (!seq) return seq.status();
      if (!*seq) return Status::ok();  // an unknown cursor: an empty page
      after = *seq;
    }
    auto r = c.exec(
        std::string("SELECT ") + kBatchColumns +
            " FROM batches WHERE owner=$1 AND (CAST($2 AS BIGINT) IS NULL OR seq < CAST($2 AS BIGINT)) "
            "ORDER BY seq DESC LIMIT $3",
        {owner, after, query.limit + 1}, [&](const sql::Row& row) {
          page.items.push_back(read_batch_row(row));
          return true;
        });
    return r ? Status::ok() : r.status();
  });
  if (!s) return s;
  trim_page(page, query.limit);
  return page;
}

Result<std::vector<BatchRecord>> SqlStore::batches_with_status(const std::vector<BatchStatus>& statuses) {
  std::vector<BatchRecord> out;
  Status s = db_->run([&](sql::Connection& c) -> Status {
    out.clear();
    // One status at a time keeps the statement the same (cached); the lists are short.
    for (BatchStatus st : statuses) {
      auto r = c.exec(std::string("SELECT ") + kBatchColumns + " FROM batches WHERE status=$1 ORDER BY seq",
                      {to_string(st)}, [&](const sql::Row& row) {
                        out.push_back(read_batch_row(row));
                        return true;
                      });
      if (!r) return r.status();
    }
    return Status::ok();
  });
  if (!s) return s;
  return out;
}

Status SqlStore::start_batch(const std::string& id, const std::string& model,
                             const std::vector<RequestRecord>& requests, int64_t now,
                             const TokenQuota& quota) {
  return db_->transaction([&](sql::Connection& c) -> Status {
    if (Status s = expect_status(c, id, {BatchStatus::kValidating}, BatchStatus::kInProgress); !s) return s;
    if (quota.max_enqueued_tokens > 0) {
      // The batches of one owner take their turn here, whichever node starts them.
      if (d_.lock_owner_quota) {
        if (auto r = c.exec(d_.lock_owner_quota, {id}); !r) return r.status();
      }
      int64_t enqueued = 0;
      auto r = c.exec(std::string("SELECT COALESCE(SUM(enqueued_tokens), 0) FROM batches WHERE owner=(SELECT "
                                  "owner FROM batches WHERE id=$1) AND id<>$1 AND status IN ") +
                          kEnqueuedStatusesSql,
                      {id}, [&](const sql::Row& row) {
                        enqueued = row.i64(0);
                        return false;
                      });
      if (!r) return r.status();
      if (enqueued + quota.prompt_tokens > quota.max_enqueued_tokens) {
        return enqueued_token_limit_exceeded(quota.max_enqueued_tokens);
      }
    }
    for (size_t at = 0; at < requests.size(); at += d_.rows_per_insert) {
      const size_t end = std::min(requests.size(), at + d_.rows_per_insert);
      std::string sql = std::string("INSERT INTO batch_requests (batch_id, line, custom_id, ") +
                        d_.offset_column + ", length) VALUES ";
      std::vector<sql::Value> params;
      params.reserve(1 + 4 * (end - at));
      params.emplace_back(id);
      for (size_t i = at; i < end; ++i) {
        const RequestRecord& r = requests[i];
        const size_t p = params.size();
        sql += (i == at ? "" : ",");
        sql += "($1,$" + std::to_string(p + 1) + ",$" + std::to_string(p + 2) + ",$" + std::to_string(p + 3) +
               ",$" + std::to_string(p + 4) + ")";
        params.emplace_back(r.line);
        params.emplace_back(r.custom_id);
        params.emplace_back(r.offset);
        params.emplace_back(r.length);
      }
      if (auto r = c.exec(sql, params); !r) return r.status();
    }
    auto r = c.exec(
        "UPDATE batches SET status='in_progress', in_progress_at=$1, model=$2, total=$3, enqueued_tokens=$4 "
        "WHERE id=$5",
        {now, model, static_cast<int64_t>(requests.size()), quota.prompt_tokens, id});
    return r ? Status::ok() : r.status();
  });
}

Status SqlStore::fail_batch(const std::string& id, const std::vector<BatchError>& errors, int64_t now) {
  return db_->transaction([&](sql::Connection& c) -> Status {
    if (Status s = expect_status(c, id, {BatchStatus::kValidating}, BatchStatus::kFailed); !s) return s;
    auto r = c.exec("UPDATE batches SET status='failed', failed_at=$1, errors=$2 WHERE id=$3",
                    {now, sql::Value::null_if_empty(errors_to_text(errors)), id});
    if (!r) return r.status();
    return queue_event(c, id, BatchStatus::kFailed, now);
  });
}

Status SqlStore::transition(const std::string& id, const std::vector<BatchStatus>& from, BatchStatus to,
                            int64_t now) {
  return db_->transaction([&](sql::Connection& c) -> Status {
    if (Status s = expect_status(c, id, from, to); !s) return s;
    return set_status(c, id, to, now);
  });
}

Status SqlStore::finish_batch(const std::string& id, const std::vector<BatchStatus>& from, BatchStatus to,
                              const std::optional<FileRecord>& output_file,
                              const std::optional<FileRecord>& error_file, int64_t now) {
  const Status finished = db_->transaction([&](sql::Connection& c) -> Status {
    if (Status s = expect_status(c, id, from, to); !s) return s;
    for (const auto* f : {&output_file, &error_file}) {
      if (!f->has_value()) continue;
      if (Status s = insert_file_row(c, **f); !s) return s;
    }
    auto u = c.exec("UPDATE batches SET output_file_id=$1, error_file_id=$2 WHERE id=$3",
                    {sql::Value::null_if_empty(output_file ? output_file->id : ""),
                     sql::Value::null_if_empty(error_file ? error_file->id : ""), id});
    if (!u) return u.status();
    if (Status s = set_status(c, id, to, now); !s) return s;
    auto d = c.exec("DELETE FROM batch_requests WHERE batch_id=$1", {id});
    return d ? Status::ok() : d.status();
  });
  if (finished) db_->reclaim_space();
  return finished;
}

Status SqlStore::expect_status(sql::Connection& c, const std::string& id,
                               const std::vector<BatchStatus>& from, BatchStatus to) {
  std::optional<std::string> current;
  auto r = c.exec(std::string("SELECT status FROM batches WHERE id=$1") + d_.for_update, {id},
                  [&](const sql::Row& row) {
                    current = row.text(0);
                    return false;
                  });
  if (!r) return r.status();
  if (!current) return batch_not_found(id);
  for (BatchStatus s : from) {
    if (*current == to_string(s)) return Status::ok();
  }
  if (to == BatchStatus::kCancelling || to == BatchStatus::kCancelled) {
    return Status::conflict("Cannot cancel a batch with status '" + *current + "'.");
  }
  return Status::conflict("Cannot move a batch with status '" + *current + "' to '" + to_string(to) + "'.");
}

Status SqlStore::set_status(sql::Connection& c, const std::string& id, BatchStatus to, int64_t now) {
  const char* column = timestamp_column(to);
  auto r = column ? c.exec(std::string("UPDATE batches SET status=$1, ") + column + "=$2 WHERE id=$3",
                           {to_string(to), now, id})
                  : c.exec("UPDATE batches SET status=$1 WHERE id=$2", {to_string(to), id});
  if (!r) return r.status();
  return queue_event(c, id, to, now);
}

Status SqlStore::expect_batch(sql::Connection& c, const std::string& id) {
  bool found = false;
  auto r = c.exec("SELECT 1 FROM batches WHERE id=$1", {id}, [&](const sql::Row&) {
    found = true;
    return false;
  });
  if (!r) return r.status();
  return found ? Status::ok() : batch_not_found(id);
}

}  // namespace openbatch::store
