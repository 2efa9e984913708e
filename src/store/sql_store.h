// The Store on an SQL database (store/sql_database.h): every algorithm of the store written once, for
// SQLite and PostgreSQL alike. An operation that writes more than one row runs in one transaction;
// rows a transaction reads and then changes are locked as the Dialect says (nothing to do on SQLite,
// whose transactions exclude each other). Internal to store/: open it with open_store,
// open_sqlite_store or open_postgres_store.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store/sql_database.h"
#include "store/store.h"

namespace openbatch::store {

class SqlStore final : public Store {
 public:
  SqlStore(std::unique_ptr<sql::Database> db, const StoreOptions& options)
      : db_(std::move(db)), d_(db_->dialect()), batch_events_(options.batch_events) {}

  bool exclusive() const override { return db_->exclusive(); }

  // ---- files (sql_store_files.cpp)
  Status insert_file(const FileRecord& rec) override;
  Result<FileRecord> get_file(const std::string& owner, const std::string& id) override;
  Result<Page<FileRecord>> list_files(const std::string& owner, const ListQuery& query) override;
  Status delete_file(const std::string& owner, const std::string& id) override;
  Result<std::vector<FileRecord>> expired_files(int64_t now, int64_t limit) override;
  Result<std::vector<std::string>> all_file_ids() override;
  Result<int64_t> stored_bytes(const std::string& owner) override;
  Status change_owners(const std::vector<std::pair<std::string, std::string>>& from_to) override;
  Result<std::string> keep_secret(const std::string& name, const std::string& candidate) override;

  // ---- batches (sql_store_batches.cpp)
  Status insert_batch(const BatchRecord& rec) override;
  Result<BatchRecord> get_batch(const std::string& owner, const std::string& id) override;
  Result<BatchRecord> get_batch_any_owner(const std::string& id) override;
  Result<Page<BatchRecord>> list_batches(const std::string& owner, const ListQuery& query) override;
  Result<std::vector<BatchRecord>> batches_with_status(const std::vector<BatchStatus>& statuses) override;
  Status start_batch(const std::string& id, const std::string& model,
                     const std::vector<RequestRecord>& requests, int64_t now,
                     const TokenQuota& quota) override;
  Status fail_batch(const std::string& id, const std::vector<BatchError>& errors, int64_t now) override;
  Status transition(const std::string& id, const std::vector<BatchStatus>& from, BatchStatus to,
                    int64_t now) override;
  Status finish_batch(const std::string& id, const std::vector<BatchStatus>& from, BatchStatus to,
                      const std::optional<FileRecord>& output_file,
                      const std::optional<FileRecord>& error_file, int64_t now) override;

  // ---- requests, their leases and results (sql_store_requests.cpp)
  Result<std::vector<RequestRecord>> pending_requests(const std::string& batch_id) override;
  Status record_results(const std::vector<RequestResult>& results) override;
  Result<std::vector<RequestRecord>> claim_requests(const std::string& batch_id, const std::string& node,
                                                    int64_t limit, int64_t now_ms,
                                                    int64_t lease_until_ms) override;
  Status renew_leases(const std::string& node, int64_t lease_until_ms) override;
  Status release_batch(const std::string& batch_id, const std::string& node) override;
  Status release_leases(const std::string& node) override;
  Result<RequestTally> request_tally(const std::string& batch_id, int64_t now_ms) override;
  Result<bool> lease_batch(const std::string& batch_id, const std::string& node, int64_t now_ms,
                           int64_t lease_until_ms) override;
  Result<std::vector<StoredResult>> stored_results(const std::string& batch_id, int64_t after_line,
                                                   int64_t limit, int64_t max_bytes) override;
  Result<std::vector<StoredResult>> finished_results(const std::string& batch_id, int64_t after,
                                                     int64_t limit, int64_t max_bytes) override;

  // ---- progress and webhook events (sql_store_events.cpp)
  Status sample_progress(const std::string& batch_id, int64_t at_ms) override;
  Result<std::vector<ProgressSample>> progress_samples(const std::string& batch_id,
                                                       int64_t after_ms) override;
  Result<std::vector<EventRecord>> claim_events(const std::string& node, int64_t limit, int64_t now_ms,
                                                int64_t lease_until_ms) override;
  Result<bool> record_event_attempt(const EventAttempt& attempt) override;
  Result<std::vector<EventRecord>> batch_events(const std::string& batch_id) override;

  // ---- the models of the fleet's nodes (sql_store_nodes.cpp)
  Status record_node_models(const std::string& node, const std::vector<std::string>& names,
                            const std::string& url, int64_t now_ms, int64_t prune_before_ms) override;
  Result<std::vector<ServedModel>> served_models() override;
  Result<std::vector<std::string>> node_urls(const std::string& name, int64_t since_ms) override;

 private:
  // The records the rows of one statement (run on its own) make, read by read_row.
  template <typename T, typename ReadRow>
  Result<std::vector<T>> select(const std::string& sql, const std::vector<sql::Value>& params,
                                ReadRow read_row) {
    std::vector<T> out;
    Status s = db_->run([&](sql::Connection& c) -> Status {
      out.clear();
      auto r = c.exec(sql, params, [&](const sql::Row& row) {
        out.push_back(read_row(row));
        return true;
      });
      return r ? Status::ok() : r.status();
    });
    if (!s) return s;
    return out;
  }
  // The record of the first row of one statement; `absent` when it returns none.
  template <typename T, typename ReadRow>
  Result<T> select_one(const std::string& sql, const std::vector<sql::Value>& params, ReadRow read_row,
                       const Status& absent) {
    auto rows = select<T>(sql, params, read_row);
    if (!rows) return rows.status();
    if (rows->empty()) return absent;
    return std::move(rows->front());
  }
  // Runs one statement on its own, its rows ignored.
  Status write(const std::string& sql, const std::vector<sql::Value>& params);
  // Stored results the query selects (line, outcome, result, finished), while their text stays within
  // max_bytes together (the first always). order_by: the column the query orders them by.
  Result<std::vector<StoredResult>> read_results(const std::string& query,
                                                 const std::vector<sql::Value>& params, const char* order_by,
                                                 int64_t max_bytes);

  // In a transaction: OK when batch id is in one of the statuses `from` (its row locked until the
  // transaction ends); otherwise the conflict a move to `to` meets, or NotFound.
  Status expect_status(sql::Connection& c, const std::string& id, const std::vector<BatchStatus>& from,
                       BatchStatus to);
  // Sets the status (and its timestamp), and queues the event of a batch that ends.
  Status set_status(sql::Connection& c, const std::string& id, BatchStatus to, int64_t now);
  // Queues the event of batch id ending with status `to` (nothing for a status that does not end it,
  // or without batch_events), in the transaction that ends the batch.
  Status queue_event(sql::Connection& c, const std::string& id, BatchStatus to, int64_t now);
  // NotFound unless batch id exists.
  Status expect_batch(sql::Connection& c, const std::string& id);
  // The seq of the owner's record id in table, for a page that starts after it; nullopt when absent.
  Result<std::optional<int64_t>> seq_of(sql::Connection& c, const char* table, const std::string& owner,
                                        const std::string& id);

  const std::unique_ptr<sql::Database> db_;
  const sql::Dialect& d_;
  const bool batch_events_;  // StoreOptions::batch_events
};

// Helpers of the files above.
Status insert_file_row(sql::Connection& c, const FileRecord& f);
Status file_not_found(const std::string& id);
Status batch_not_found(const std::string& id);
template <typename T>
void trim_page(Page<T>& page, int64_t limit) {
  if (static_cast<int64_t>(page.items.size()) > limit) {
    page.items.resize(static_cast<size_t>(limit));
    page.has_more = true;
  }
}

}  // namespace openbatch::store
