// Blobs in PostgreSQL: the bytes of an upload in rows of 1 MiB (blob_chunks), written as they come;
// a blob becomes visible under its key (blobs) in the transaction of commit(). Removed blobs and cut
// uploads are swept later (blob_uploads says when each was last touched or removed).
#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>

#include "blobs/blobs.h"
#include "common/random.h"
#include "postgres/connection.h"

namespace openbatch::blobs {
namespace {

using postgres::Connection;
using postgres::Param;

const std::vector<const char*> kMigrations = {
    R"sql(
CREATE TABLE blob_uploads (
  upload_id TEXT PRIMARY KEY,
  touched_ms BIGINT NOT NULL,
  removed_ms BIGINT
);
CREATE TABLE blob_chunks (
  upload_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY (upload_id, seq)
);
CREATE TABLE blobs (
  key TEXT PRIMARY KEY,
  upload_id TEXT NOT NULL,
  size BIGINT NOT NULL
);
)sql",
};

constexpr size_t kChunkBytes = size_t{1} << 20;
// A removed blob stays readable this long for readers that opened it before; an upload untouched this
// long was cut by a crash.
constexpr int64_t kRemovedGraceMs = 10 * 60 * 1000;
constexpr int64_t kAbandonedUploadMs = 60 * 60 * 1000;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status no_blob(const std::string& key) { return Status::not_found("No such blob: '" + key + "'"); }

class PostgresBlobReader final : public BlobReader {
 public:
  PostgresBlobReader(std::shared_ptr<postgres::Database> db, std::string upload_id, int64_t size)
      : db_(std::move(db)), upload_id_(std::move(upload_id)), size_(size) {}
  int64_t size() const override { return size_; }

  Result<size_t> read_at(int64_t offset, char* buf, size_t n) const override {
    if (offset >= size_) return size_t{0};
    n = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(n), size_ - offset));
    std::lock_guard lock(mu_);
    size_t done = 0;
    while (done < n) {
      const int64_t at = offset + static_cast<int64_t>(done);
      const int64_t seq = at / static_cast<int64_t>(kChunkBytes);
      if (Status s = load(seq); !s) return s;
      const size_t within = static_cast<size_t>(at - seq * static_cast<int64_t>(kChunkBytes));
      if (within >= chunk_.size())
        return Status::internal("blob " + upload_id_ + ": chunk " + std::to_string(seq) + " is short");
      const size_t take = std::min(n - done, chunk_.size() - within);
      std::memcpy(buf + done, chunk_.data() + within, take);
      done += take;
    }
    return done;
  }

 private:
  // The chunk seq into chunk_ (the last one read is kept: reads go forward through a file).
  Status load(int64_t seq) const {
    if (seq == chunk_seq_) return Status::ok();
    return db_->run([&](Connection& c) -> Status {
      auto r = c.exec("SELECT data FROM blob_chunks WHERE upload_id=$1 AND seq=$2", {upload_id_, seq},
                      /*binary_results=*/true);
      if (!r) return r.status();
      if (r->size() == 0)
        return Status::not_found("blob " + upload_id_ + ": chunk " + std::to_string(seq) + " is gone");
      chunk_ = r->text(0, 0);
      chunk_seq_ = seq;
      return Status::ok();
    });
  }

  std::shared_ptr<postgres::Database> db_;
  const std::string upload_id_;
  const int64_t size_;
  mutable std::mutex mu_;
  mutable std::string chunk_;
  mutable int64_t chunk_seq_ = -1;
};

class PostgresBlobWriter final : public BlobWriter {
 public:
  PostgresBlobWriter(std::shared_ptr<postgres::Database> db, std::string key, std::string upload_id)
      : db_(std::move(db)), key_(std::move(key)), upload_id_(std::move(upload_id)) {
    buffer_.reserve(kChunkBytes);
  }
  ~PostgresBlobWriter() override {
    if (committed_) return;
    db_->transaction([&](Connection& c) -> Status {
      if (auto r = c.exec("DELETE FROM blob_chunks WHERE upload_id=$1", {upload_id_}); !r) return r.status();
      auto r = c.exec("DELETE FROM blob_uploads WHERE upload_id=$1", {upload_id_});
      return r ? Status::ok() : r.status();
    });  // if this fails, the sweep of abandoned uploads removes them later
  }

  Status append(std::string_view data) override {
    if (committed_) return Status::internal("append after commit");
    while (!data.empty()) {
      const size_t take = std::min(data.size(), kChunkBytes - buffer_.size());
      buffer_.append(data.substr(0, take));
      data.remove_prefix(take);
      bytes_ += static_cast<int64_t>(take);
      if (buffer_.size() == kChunkBytes) {
        if (Status s = flush(); !s) return s;
      }
    }
    return Status::ok();
  }

  int64_t bytes_written() const override { return bytes_; }

  Status commit() override {
    if (committed_) return Status::ok();
    if (!buffer_.empty()) {
      if (Status s = flush(); !s) return s;
    }
    const int64_t now = now_ms();
    Status s = db_->transaction([&](Connection& c) -> Status {
      auto old = c.exec(
          "UPDATE blob_uploads SET removed_ms=$2 WHERE upload_id=(SELECT upload_id FROM blobs WHERE key=$1)",
          {key_, now});
      if (!old) return old.status();
      auto r = c.exec(
          "INSERT INTO blobs (key, upload_id, size) VALUES ($1,$2,$3) ON CONFLICT (key) DO UPDATE SET "
          "upload_id=EXCLUDED.upload_id, size=EXCLUDED.size",
          {key_, upload_id_, bytes_});
      return r ? Status::ok() : r.status();
    });
    if (s) committed_ = true;
    return s;
  }

 private:
  Status flush() {
    Status s = db_->run([&](Connection& c) -> Status {
      auto r = c.exec("INSERT INTO blob_chunks (upload_id, seq, data) VALUES ($1,$2,$3)",
                      {upload_id_, next_seq_, Param::bytes(buffer_)});
      if (!r) return r.status();
      auto t = c.exec("UPDATE blob_uploads SET touched_ms=$2 WHERE upload_id=$1", {upload_id_, now_ms()});
      return t ? Status::ok() : t.status();
    });
    if (!s) return s;
    ++next_seq_;
    buffer_.clear();
    return Status::ok();
  }

  std::shared_ptr<postgres::Database> db_;
  const std::string key_;
  const std::string upload_id_;
  std::string buffer_;
  int64_t next_seq_ = 0;
  int64_t bytes_ = 0;
  bool committed_ = false;
};

class PostgresBlobStore final : public BlobStore {
 public:
  explicit PostgresBlobStore(std::shared_ptr<postgres::Database> db) : db_(std::move(db)) {}

  Result<std::unique_ptr<BlobWriter>> create(const std::string& key) override {
    if (!is_valid_key(key)) return no_blob(key);
    const std::string upload_id = random_alphanumeric(24);
    Status s = db_->run([&](Connection& c) -> Status {
      auto r =
          c.exec("INSERT INTO blob_uploads (upload_id, touched_ms) VALUES ($1,$2)", {upload_id, now_ms()});
      return r ? Status::ok() : r.status();
    });
    if (!s) return s;
    return std::unique_ptr<BlobWriter>(std::make_unique<PostgresBlobWriter>(db_, key, upload_id));
  }

  Result<std::unique_ptr<BlobReader>> open(const std::string& key) override {
    if (!is_valid_key(key)) return no_blob(key);
    std::string upload_id;
    int64_t size = 0;
    Status s = db_->run([&](Connection& c) -> Status {
      auto r = c.exec("SELECT upload_id, size FROM blobs WHERE key=$1", {key});
      if (!r) return r.status();
      if (r->size() == 0) return no_blob(key);
      upload_id = r->text(0, 0);
      size = r->i64(0, 1);
      return Status::ok();
    });
    if (!s) return s;
    return std::unique_ptr<BlobReader>(std::make_unique<PostgresBlobReader>(db_, upload_id, size));
  }

  Status remove(const std::string& key) override {
    if (!is_valid_key(key)) return Status::ok();
    Status s = db_->transaction([&](Connection& c) -> Status {
      auto u = c.exec(
          "UPDATE blob_uploads SET removed_ms=$2 WHERE upload_id=(SELECT upload_id FROM blobs WHERE key=$1)",
          {key, now_ms()});
      if (!u) return u.status();
      auto d = c.exec("DELETE FROM blobs WHERE key=$1", {key});
      return d ? Status::ok() : d.status();
    });
    if (!s) return s;
    return sweep();
  }

  Result<std::vector<std::string>> list() override {
    std::vector<std::string> keys;
    Status s = db_->run([&](Connection& c) -> Status {
      auto r = c.exec("SELECT key FROM blobs");
      if (!r) return r.status();
      for (int i = 0; i < r->size(); ++i) keys.push_back(r->text(i, 0));
      return Status::ok();
    });
    if (!s) return s;
    return keys;
  }

  // Deletes the chunks of blobs removed a while ago and of uploads a crash cut.
  Status sweep() {
    const int64_t now = now_ms();
    return db_->transaction([&](Connection& c) -> Status {
      const std::string gone =
          "SELECT upload_id FROM blob_uploads u WHERE (removed_ms IS NOT NULL AND removed_ms < $1) OR "
          "(removed_ms IS NULL AND touched_ms < $2 AND NOT EXISTS (SELECT 1 FROM blobs b WHERE "
          "b.upload_id=u.upload_id))";
      auto chunks = c.exec("DELETE FROM blob_chunks WHERE upload_id IN (" + gone + ")",
                           {now - kRemovedGraceMs, now - kAbandonedUploadMs});
      if (!chunks) return chunks.status();
      auto uploads = c.exec("DELETE FROM blob_uploads WHERE upload_id IN (" + gone + ")",
                            {now - kRemovedGraceMs, now - kAbandonedUploadMs});
      return uploads ? Status::ok() : uploads.status();
    });
  }

 private:
  std::shared_ptr<postgres::Database> db_;
};

}  // namespace

Result<std::unique_ptr<BlobStore>> open_postgres_blob_store(const std::string& url) {
  auto db = postgres::Database::open(url);
  if (!db) return db.status();
  if (Status s = postgres::migrate(**db, "blobs", kMigrations); !s) return s;
  auto store = std::make_unique<PostgresBlobStore>(std::move(db).value());
  if (Status s = store->sweep(); !s) return s;
  return std::unique_ptr<BlobStore>(std::move(store));
}

}  // namespace openbatch::blobs
