#include "store/migrations.h"

#include <iterator>
#include <utility>

namespace openbatch::store {
namespace {

// Each entry moves the schema one version on. Append only; never edit a shipped entry (an entry's
// words, once expanded for a dialect, are what databases of that version ran).
//
// Where the dialects differ the text names a word in braces: {key} a table's increasing primary key,
// {int} a 64-bit integer column, {offset} batch_requests' byte offset (a reserved word in
// PostgreSQL), {rowid} SQLite's WITHOUT ROWID.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE files (
  seq {key},
  id TEXT NOT NULL UNIQUE,
  owner TEXT NOT NULL,
  filename TEXT NOT NULL,
  purpose TEXT NOT NULL,
  bytes {int} NOT NULL,
  created_at {int} NOT NULL,
  expires_at {int}
);
CREATE INDEX files_by_owner ON files(owner, seq);
CREATE TABLE batches (
  seq {key},
  id TEXT NOT NULL UNIQUE,
  owner TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  model TEXT NOT NULL,
  input_file_id TEXT NOT NULL,
  completion_window TEXT NOT NULL,
  status TEXT NOT NULL,
  output_file_id TEXT,
  error_file_id TEXT,
  created_at {int} NOT NULL,
  expires_at {int} NOT NULL,
  in_progress_at {int}, finalizing_at {int}, completed_at {int}, failed_at {int},
  expired_at {int}, cancelling_at {int}, cancelled_at {int},
  errors TEXT,
  metadata TEXT,
  output_expires_after {int},
  total {int} NOT NULL DEFAULT 0,
  completed {int} NOT NULL DEFAULT 0,
  failed {int} NOT NULL DEFAULT 0,
  input_tokens {int} NOT NULL DEFAULT 0,
  output_tokens {int} NOT NULL DEFAULT 0,
  cached_tokens {int} NOT NULL DEFAULT 0,
  reasoning_tokens {int} NOT NULL DEFAULT 0
);
CREATE INDEX batches_by_owner ON batches(owner, seq);
CREATE INDEX batches_by_status ON batches(status);
CREATE INDEX batches_by_input ON batches(input_file_id);
CREATE TABLE batch_requests (
  batch_id TEXT NOT NULL,
  line {int} NOT NULL,
  custom_id TEXT NOT NULL,
  {offset} {int} NOT NULL,
  length {int} NOT NULL,
  outcome INTEGER NOT NULL DEFAULT 0,
  result TEXT,
  PRIMARY KEY (batch_id, line)
){rowid};
)sql",
    R"sql(
CREATE TABLE batch_progress (
  batch_id TEXT NOT NULL,
  at_ms {int} NOT NULL,
  completed {int} NOT NULL,
  failed {int} NOT NULL,
  input_tokens {int} NOT NULL,
  output_tokens {int} NOT NULL,
  cached_tokens {int} NOT NULL,
  PRIMARY KEY (batch_id, at_ms)
){rowid};
)sql",
    // Leases: the requests and the jobs of a batch shared among nodes.
    R"sql(
ALTER TABLE batch_requests ADD COLUMN lease_node TEXT;
ALTER TABLE batch_requests ADD COLUMN lease_until {int};
ALTER TABLE batch_requests ADD COLUMN lease_token {int} NOT NULL DEFAULT 0;
CREATE INDEX batch_requests_unfinished ON batch_requests(batch_id, line) WHERE outcome=0;
CREATE INDEX batch_requests_leased ON batch_requests(lease_node) WHERE outcome=0;
ALTER TABLE batches ADD COLUMN job_node TEXT;
ALTER TABLE batches ADD COLUMN job_until {int};
)sql",
    R"sql(
ALTER TABLE batch_requests ADD COLUMN finished {int};
CREATE INDEX batch_requests_finished ON batch_requests(batch_id, finished) WHERE outcome<>0;
)sql",
    // Enqueued-token quotas (serve --max-enqueued-tokens): the prompt tokens a batch holds until it ends.
    R"sql(
ALTER TABLE batches ADD COLUMN enqueued_tokens {int} NOT NULL DEFAULT 0;
)sql",
    // The webhooks' outbox (EventRecord).
    R"sql(
CREATE TABLE webhook_events (
  seq {key},
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  batch_id TEXT NOT NULL,
  created_at {int} NOT NULL,
  state INTEGER NOT NULL DEFAULT 0,
  attempts {int} NOT NULL DEFAULT 0,
  next_attempt_at {int} NOT NULL,
  lease_node TEXT,
  lease_token {int} NOT NULL DEFAULT 0,
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
    // The models each node serves (NodeRegistry): one row a name, with the node's last heartbeat.
    R"sql(
CREATE TABLE node_models (
  node_id TEXT NOT NULL,
  model TEXT NOT NULL,
  heartbeat_at {int} NOT NULL,
  PRIMARY KEY (node_id, model)
){rowid};
CREATE INDEX node_models_by_model ON node_models(model, heartbeat_at);
)sql",
    // Where each node is reached (NodeRegistry::node_urls): interactive calls of a model another node
    // serves are forwarded there.
    R"sql(
ALTER TABLE node_models ADD COLUMN url TEXT NOT NULL DEFAULT '';
)sql",
};

// PostgreSQL's version 1 is the first this many entries.
constexpr size_t kFirstPostgresVersion = 3;

// text with each {word} replaced by engine's words for it.
std::string expand(const std::string& text, SqlEngine engine) {
  const bool sqlite = engine == SqlEngine::kSqlite;
  const std::pair<const char*, const char*> words[] = {
      {"{key}", sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY"},
      {"{int}", sqlite ? "INTEGER" : "BIGINT"},
      {"{offset}", sqlite ? "offset" : "byte_offset"},
      {"{rowid}", sqlite ? " WITHOUT ROWID" : ""},
  };
  std::string out = text;
  for (const auto& [word, replacement] : words) {
    const std::string w = word;
    for (size_t at = out.find(w); at != std::string::npos; at = out.find(w, at)) {
      out.replace(at, w.size(), replacement);
      at += std::string(replacement).size();
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> schema_migrations(SqlEngine engine) {
  std::vector<std::string> out;
  const size_t first_step = engine == SqlEngine::kSqlite ? 1 : kFirstPostgresVersion;
  std::string step;
  for (size_t i = 0; i < std::size(kMigrations); ++i) {
    step += expand(kMigrations[i], engine);
    if (i + 1 >= first_step) out.push_back(std::exchange(step, std::string()));
  }
  return out;
}

}  // namespace openbatch::store
