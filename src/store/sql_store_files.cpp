// SqlStore: files, owners and secrets, and the helpers of the other parts.
#include <utility>

#include "store/record_rows.h"
#include "store/sql_store.h"

namespace openbatch::store {
namespace {

// Statuses in which a batch still reads its input file.
constexpr const char* kActiveStatuses = "('validating','in_progress','finalizing','cancelling')";

}  // namespace

Status file_not_found(const std::string& id) { return Status::not_found("No such File object: " + id, "id"); }

Status batch_not_found(const std::string& id) {
  return Status::not_found("No batch found with id '" + id + "'.", "id");
}

Status insert_file_row(sql::Connection& c, const FileRecord& f) {
  auto r = c.exec(
      "INSERT INTO files (id, owner, filename, purpose, bytes, created_at, expires_at) VALUES "
      "($1,$2,$3,$4,$5,$6,$7)",
      {f.id, f.owner, f.filename, f.purpose, f.bytes, f.created_at, f.expires_at});
  return r ? Status::ok() : r.status();
}

Status SqlStore::write(const std::string& sql, const std::vector<sql::Value>& params) {
  return db_->run([&](sql::Connection& c) -> Status {
    auto r = c.exec(sql, params);
    return r ? Status::ok() : r.status();
  });
}

Result<std::optional<int64_t>> SqlStore::seq_of(sql::Connection& c, const char* table,
                                                const std::string& owner, const std::string& id) {
  std::optional<int64_t> seq;
  auto r = c.exec(std::string("SELECT seq FROM ") + table + " WHERE id=$1 AND owner=$2", {id, owner},
                  [&](const sql::Row& row) {
                    seq = row.i64(0);
                    return false;
                  });
  if (!r) return r.status();
  return seq;
}

Status SqlStore::insert_file(const FileRecord& f) {
  return db_->run([&](sql::Connection& c) { return insert_file_row(c, f); });
}

Result<FileRecord> SqlStore::get_file(const std::string& owner, const std::string& id) {
  return select_one<FileRecord>(
      std::string("SELECT ") + kFileColumns + " FROM files WHERE id=$1 AND owner=$2", {id, owner},
      read_file_row, file_not_found(id));
}

Result<Page<FileRecord>> SqlStore::list_files(const std::string& owner, const ListQuery& query) {
  Page<FileRecord> page;
  Status s = db_->run([&](sql::Connection& c) -> Status {
    page.items.clear();
    std::optional<int64_t> after;
    if (!query.after.empty()) {
      auto seq = seq_of(c, "files", owner, query.after);
      if (!seq) return seq.status();
      if (!*seq) return Status::ok();  // an unknown cursor: an empty page
      after = *seq;
    }
    const std::string sql =
        std::string("SELECT ") + kFileColumns +
        " FROM files WHERE owner=$1 AND ($2='' OR purpose=$2) AND (CAST($3 AS BIGINT) IS NULL "
        "OR seq " +
        (query.ascending ? ">" : "<") + " CAST($3 AS BIGINT)) ORDER BY seq " +
        (query.ascending ? "ASC" : "DESC") + " LIMIT $4";
    auto r = c.exec(sql, {owner, query.purpose, after, query.limit + 1}, [&](const sql::Row& row) {
      page.items.push_back(read_file_row(row));
      return true;
    });
    return r ? Status::ok() : r.status();
  });
  if (!s) return s;
  trim_page(page, query.limit);
  return page;
}

Status SqlStore::delete_file(const std::string& owner, const std::string& id) {
  return db_->transaction([&](sql::Connection& c) -> Status {
    bool found = false;
    auto f = c.exec(std::string("SELECT 1 FROM files WHERE id=$1 AND owner=$2") + d_.for_update, {id, owner},
                    [&](const sql::Row&) {
                      found = true;
                      return false;
                    });
    if (!f) return f.status();
    if (!found) return file_not_found(id);
    Status in_use;
    auto b = c.exec(std::string("SELECT id, status FROM batches WHERE input_file_id=$1 AND status IN ") +
                        kActiveStatuses + " LIMIT 1",
                    {id}, [&](const sql::Row& row) {
                      in_use = Status::conflict(
                          "File '" + id + "' is the input of batch '" + row.text(0) + "', which is still '" +
                          row.text(1) + "'. Delete it once the batch has ended, or cancel the batch.");
                      return false;
                    });
    if (!b) return b.status();
    if (!in_use) return in_use;
    auto d = c.exec("DELETE FROM files WHERE id=$1", {id});
    return d ? Status::ok() : d.status();
  });
}

Result<std::vector<FileRecord>> SqlStore::expired_files(int64_t now, int64_t limit) {
  return select<FileRecord>(
      std::string("SELECT ") + kFileColumns +
          " FROM files f WHERE expires_at IS NOT NULL AND expires_at <= $1 AND NOT EXISTS "
          "(SELECT 1 FROM batches b WHERE b.input_file_id = f.id AND b.status IN " +
          kActiveStatuses + ") ORDER BY seq LIMIT $2",
      {now, limit}, read_file_row);
}

Result<std::vector<std::string>> SqlStore::all_file_ids() {
  return select<std::string>("SELECT id FROM files", {}, [](const sql::Row& row) { return row.text(0); });
}

Result<int64_t> SqlStore::stored_bytes(const std::string& owner) {
  auto sums = select<int64_t>("SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM files WHERE owner=$1",
                              {owner}, [](const sql::Row& row) { return row.i64(0); });
  if (!sums) return sums.status();
  return sums->empty() ? 0 : sums->front();
}

Status SqlStore::change_owners(const std::vector<std::pair<std::string, std::string>>& from_to) {
  return db_->transaction([&](sql::Connection& c) -> Status {
    for (const auto& [from, to] : from_to) {
      for (const char* sql :
           {"UPDATE files SET owner=$1 WHERE owner=$2", "UPDATE batches SET owner=$1 WHERE owner=$2"}) {
        if (auto r = c.exec(sql, {to, from}); !r) return r.status();
      }
    }
    return Status::ok();
  });
}

Result<std::string> SqlStore::keep_secret(const std::string& name, const std::string& candidate) {
  std::optional<std::string> out;
  Status s = db_->run([&](sql::Connection& c) -> Status {
    out.reset();
    auto i = c.exec("INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                    {name, candidate});
    if (!i) return i.status();
    auto r = c.exec("SELECT value FROM secrets WHERE name=$1", {name}, [&](const sql::Row& row) {
      out = row.text(0);
      return false;
    });
    if (!r) return r.status();
    return out ? Status::ok() : Status::internal("secret " + name + " vanished");
  });
  if (!s) return s;
  return std::move(*out);
}

}  // namespace openbatch::store
