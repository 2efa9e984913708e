// The metadata store: files, batches and the requests of each batch. One interface, implemented on
// SQLite (store/sqlite_store.h: one process) and PostgreSQL (store/postgres_store.h: many nodes on one
// database); nothing here names a particular database.
//
// Every method is thread-safe and atomic: it either happens wholly or not at all, and it is durable when
// it returns OK. Records belong to an owner (a digest of an API key, "" without keys); methods that take
// an owner treat another owner's record as absent. A database that cannot be reached (restarting, the
// network away) is an unavailable Status; the caller tries again later.
//
// Many nodes share the work of a batch through leases: a node claims requests that have no result for
// a while (claim_requests), renews its leases while it works (renew_leases), and stores results fenced by
// the lease (record_results): a request's result is written once, and a node whose lease lapsed and was
// taken by another cannot write it. Validation and finalization of a batch are leased the same way, one
// node at a time (lease_batch). Times of leases are Unix milliseconds of the nodes' clocks.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace openbatch::store {

struct FileRecord {
  std::string id;  // "file-…"; also the file's blob key
  std::string owner;
  std::string filename;
  std::string purpose;  // "batch" for inputs, "batch_output" for output and error files
  int64_t bytes = 0;
  int64_t created_at = 0;
  std::optional<int64_t> expires_at;
};

enum class BatchStatus {
  kValidating,
  kFailed,
  kInProgress,
  kFinalizing,
  kCompleted,
  kExpired,
  kCancelling,
  kCancelled
};

// OpenAI's name of status ("in_progress"), and back (nullopt for an unknown name).
const char* to_string(BatchStatus status);
std::optional<BatchStatus> batch_status_from_string(std::string_view name);
// completed, failed, expired and cancelled: nothing will happen to the batch any more.
bool is_terminal(BatchStatus status);

// One entry of a batch's `errors.data` (input validation).
struct BatchError {
  std::string code;
  std::string message;
  std::string param;            // "" = null
  std::optional<int64_t> line;  // 1-based line of the input file
};

struct RequestCounts {
  int64_t total = 0;
  int64_t completed = 0;  // results in the output file
  int64_t failed = 0;     // results in the error file
};

struct Usage {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t cached_tokens = 0;
  int64_t reasoning_tokens = 0;
};

struct BatchRecord {
  std::string id;  // "batch_…"
  std::string owner;
  std::string endpoint;
  std::string model;  // the model the input lines name; "" until validated
  std::string input_file_id;
  std::string completion_window;
  BatchStatus status = BatchStatus::kValidating;
  std::string output_file_id;  // "" = null
  std::string error_file_id;   // "" = null
  int64_t created_at = 0;
  int64_t expires_at = 0;
  std::optional<int64_t> in_progress_at, finalizing_at, completed_at, failed_at, expired_at, cancelling_at,
      cancelled_at;
  std::vector<BatchError> errors;
  nlohmann::ordered_json metadata;  // an object of string values (in the client's order), or null
  std::optional<int64_t> output_expires_after_seconds;  // output files expire this long after creation
  RequestCounts request_counts;
  Usage usage;
};

// A batch's counts and usage at one moment of its run. The runner records them as results are stored
// (GET /v1/batches/{id}/progress), so that a client can chart requests and tokens a second.
struct ProgressSample {
  int64_t at_ms = 0;  // Unix time in milliseconds
  int64_t completed = 0;
  int64_t failed = 0;
  Usage usage;  // reasoning_tokens are not sampled
};

// One input line of a batch: where its bytes are in the input file. The body itself stays in the file.
struct RequestRecord {
  int64_t line = 0;  // 1-based
  std::string custom_id;
  int64_t offset = 0;  // byte offset of the line in the input file
  int64_t length = 0;  // bytes of the line, without its newline
  // The lease under which a node runs the request (claim_requests); its result must carry it. 0: none.
  int64_t lease_token = 0;
};

enum class Outcome { kPending = 0, kOutput = 1, kError = 2 };

// The finished result of one request: the JSONL line destined for the output or the error file.
struct RequestResult {
  std::string batch_id;
  int64_t line = 0;
  Outcome outcome = Outcome::kOutput;  // kOutput or kError
  std::string result_line;             // one JSON object, no newline
  Usage usage;                         // added to the batch's usage
  // The lease the request ran under (RequestRecord::lease_token): the result is stored only while the
  // request's lease is still this one. 0 stores it whatever the lease (a request that never ran, ended
  // by its batch's cancel or expiry).
  int64_t lease_token = 0;
};

// A batch's requests that have no result yet, and how many of them are under a lease that has not
// lapsed.
struct RequestTally {
  int64_t unfinished = 0;
  int64_t leased = 0;
};

// The result text one read of stored results takes at most (the first result always, however
// large): what bounds the memory of an /output page and of each step of a finalize.
constexpr int64_t kResultPageBytes = 8LL << 20;

struct StoredResult {
  int64_t line = 0;
  Outcome outcome = Outcome::kOutput;
  std::string result_line;
  int64_t finished = 0;  // the result's place in the order the batch's results were stored, from 1
};

// What a batch claims of its owner's enqueued-token limit when it starts (serve --max-enqueued-tokens):
// its prompt tokens, counted at validation, held until the batch ends.
struct TokenQuota {
  int64_t prompt_tokens = 0;
  int64_t max_enqueued_tokens = 0;  // the most an owner's unfinished batches may hold; 0: no limit
};

// What start_batch answers for a batch past its owner's limit: 429 rate-limited, code
// token_limit_exceeded, naming the limit.
Status enqueued_token_limit_exceeded(int64_t max_enqueued_tokens);
// The statuses whose batches hold enqueued tokens, as SQL: "('validating','in_progress','finalizing')".
extern const char* const kEnqueuedStatusesSql;

// A webhook event in the outbox: queued in the same transaction that ends its batch (StoreOptions::
// batch_events), then delivered by whichever node claims it (claim_events).
enum class EventState { kPending = 0, kDelivered = 1, kFailed = 2 };

struct EventRecord {
  std::string id;          // "evt_…"
  std::string type;        // "batch.completed", "batch.failed", "batch.expired" or "batch.cancelled"
  std::string batch_id;    // data.id
  int64_t created_at = 0;  // Unix seconds: when the batch ended (its completed_at, failed_at...)
  EventState state = EventState::kPending;
  int64_t attempts = 0;         // deliveries tried and ended (record_event_attempt)
  int64_t next_attempt_ms = 0;  // pending: when it is due (while claimed, when its claim lapses)
  int64_t lease_token = 0;      // the claim under which a node delivers it (claim_events)
  std::string last_error;       // why the last attempt failed; "" if none did
};

// How one delivery attempt of a claimed event ended.
struct EventAttempt {
  std::string event_id;
  int64_t lease_token = 0;                  // the claim it was made under
  EventState state = EventState::kPending;  // kDelivered, kFailed (given up) or kPending (retry)
  int64_t next_attempt_ms = 0;              // kPending: when to try again
  std::string error;                        // "" on delivery
};

// What a store does beyond keeping records, chosen when it is opened.
struct StoreOptions {
  // Queue an event (EventRecord) for every batch that ends, in the transaction that ends it: the
  // outbox of the webhooks (--webhook-url). Off, no event is queued.
  bool batch_events = false;
};

// A new event id: "evt_" and 32 random hex digits, as OpenAI's. Thread-safe.
std::string new_event_id();

// A page of a list, newest first unless asked otherwise.
struct ListQuery {
  std::string after;  // the id after which the page starts; "" = from the start
  int64_t limit = 20;
  bool ascending = false;  // files only: order=asc
  std::string purpose;     // files only: "" = any
};

template <typename T>
struct Page {
  std::vector<T> items;
  bool has_more = false;
};

class Store {
 public:
  virtual ~Store() = default;

  // ---- files
  // REQUIRES: no file with rec.id exists.
  virtual Status insert_file(const FileRecord& rec) = 0;
  // NotFound when absent or owned by someone else.
  virtual Result<FileRecord> get_file(const std::string& owner, const std::string& id) = 0;
  virtual Result<Page<FileRecord>> list_files(const std::string& owner, const ListQuery& query) = 0;
  // Deletes the record unless a batch that is not terminal uses the file as its input (then a 409).
  virtual Status delete_file(const std::string& owner, const std::string& id) = 0;
  // Files whose expires_at is at or before now and that no unfinished batch uses. Any owner.
  virtual Result<std::vector<FileRecord>> expired_files(int64_t now, int64_t limit) = 0;
  // Every file id, any owner (used to find blobs that lost their record in a crash).
  virtual Result<std::vector<std::string>> all_file_ids() = 0;
  // The bytes of every file of owner together (inputs, and the output and error files of its batches).
  virtual Result<int64_t> stored_bytes(const std::string& owner) = 0;

  // ---- owners
  // Gives every file and batch of owner `from` to owner `to`, for each pair, in one transaction (owner
  // ids computed a new way). A pair whose `from` owns nothing changes nothing.
  virtual Status change_owners(const std::vector<std::pair<std::string, std::string>>& from_to) = 0;
  // The secret stored under name; candidate is stored and returned when none is. Nodes asking at once
  // all get the same one.
  virtual Result<std::string> keep_secret(const std::string& name, const std::string& candidate) = 0;

  // ---- batches
  virtual Status insert_batch(const BatchRecord& rec) = 0;
  virtual Result<BatchRecord> get_batch(const std::string& owner, const std::string& id) = 0;
  // The same, whoever owns it (the runner's view).
  virtual Result<BatchRecord> get_batch_any_owner(const std::string& id) = 0;
  virtual Result<Page<BatchRecord>> list_batches(const std::string& owner, const ListQuery& query) = 0;
  // Batches in any of statuses, oldest first, any owner.
  virtual Result<std::vector<BatchRecord>> batches_with_status(const std::vector<BatchStatus>& statuses) = 0;

  // validating -> in_progress: inserts one row per request, sets model, request_counts.total,
  // in_progress_at and the batch's enqueued tokens (quota.prompt_tokens). Conflict (409) when the batch
  // is no longer validating (it was cancelled).
  // With quota.max_enqueued_tokens > 0 the batch starts only if its prompt tokens and the enqueued tokens
  // of its owner's other unfinished batches (validating, in_progress, finalizing) are together at most
  // the limit; otherwise nothing changes and the answer is rate-limited (429, code
  // token_limit_exceeded). The sum is taken under a lock on the owner, so that batches of one owner
  // started at once, by any number of nodes, never pass the limit together.
  virtual Status start_batch(const std::string& id, const std::string& model,
                             const std::vector<RequestRecord>& requests, int64_t now,
                             const TokenQuota& quota) = 0;
  // validating -> failed with errors. Conflict when the batch is no longer validating.
  virtual Status fail_batch(const std::string& id, const std::vector<BatchError>& errors, int64_t now) = 0;
  // Sets status to `to` (and the timestamp that goes with it: in_progress_at, finalizing_at,
  // cancelling_at, cancelled_at...) when the current status is one of `from`. Conflict otherwise,
  // with OpenAI's message for a cancel ("Cannot cancel a batch with status 'completed'.").
  virtual Status transition(const std::string& id, const std::vector<BatchStatus>& from, BatchStatus to,
                            int64_t now) = 0;

  // Requests of a batch that have no result yet, in line order.
  virtual Result<std::vector<RequestRecord>> pending_requests(const std::string& batch_id) = 0;
  // Stores results in one transaction. A request that already has a result keeps it, and one whose lease
  // is no longer the result's lease_token (another node took it) is not written: the new result is
  // ignored. Each stored result adds one to request_counts.completed (kOutput) or .failed (kError) and its
  // usage to the batch's usage, in the same transaction.
  virtual Status record_results(const std::vector<RequestResult>& results) = 0;

  // ---- leases
  // Claims for node up to limit requests of the batch, in line order, that have no result and no lease
  // that holds at now_ms (none, or one that lapsed): each gets a new lease_token and a lease until
  // lease_until_ms. Nothing while the batch is not in_progress. Many nodes may claim at once; each
  // request goes to one of them.
  virtual Result<std::vector<RequestRecord>> claim_requests(const std::string& batch_id,
                                                            const std::string& node, int64_t limit,
                                                            int64_t now_ms, int64_t lease_until_ms) = 0;
  // Extends every lease node holds (requests and batch jobs) to lease_until_ms.
  virtual Status renew_leases(const std::string& node, int64_t lease_until_ms) = 0;
  // Ends node's leases of the batch (its requests' and its job's), so that another node may take them at
  // once.
  virtual Status release_batch(const std::string& batch_id, const std::string& node) = 0;
  // Ends every lease node holds (its claims on events too: they are due at once); node "" ends every
  // lease of every node (for a store that one process holds alone, when it starts: the leases of an
  // earlier process that died are nobody's).
  virtual Status release_leases(const std::string& node) = 0;
  virtual Result<RequestTally> request_tally(const std::string& batch_id, int64_t now_ms) = 0;
  // Takes the batch's job lease (its validation or finalization) for node until lease_until_ms, unless
  // another node holds it at now_ms. True when node holds it now. NotFound for an unknown batch.
  virtual Result<bool> lease_batch(const std::string& batch_id, const std::string& node, int64_t now_ms,
                                   int64_t lease_until_ms) = 0;
  // Stored results of a batch with line > after_line, in line order, at most limit of them and no more
  // result text than max_bytes together (the first result always, however large).
  virtual Result<std::vector<StoredResult>> stored_results(const std::string& batch_id, int64_t after_line,
                                                           int64_t limit, int64_t max_bytes) = 0;
  // Stored results of a batch with finished > after, in the order they were stored, at most limit of
  // them (GET /v1/batches/{id}/output while the batch runs). A result's `finished` is given when it is
  // stored, one more than the batch's last, under the batch's lock: a result is never seen before one
  // stored earlier, so `after` is a cursor that misses nothing. Empty once the batch is finalized (its
  // results are then its output and error files). max_bytes bounds the result text as above.
  virtual Result<std::vector<StoredResult>> finished_results(const std::string& batch_id, int64_t after,
                                                             int64_t limit, int64_t max_bytes) = 0;

  // Records the batch's request counts and usage as stored now, at time at_ms; a sample already at
  // at_ms is replaced. NotFound for an unknown batch.
  virtual Status sample_progress(const std::string& batch_id, int64_t at_ms) = 0;
  // The batch's samples with at_ms > after_ms, oldest first. Samples stay after the batch has ended.
  virtual Result<std::vector<ProgressSample>> progress_samples(const std::string& batch_id,
                                                               int64_t after_ms) = 0;

  // Ends a batch in one transaction: inserts the output and error file records (either may be absent),
  // sets output_file_id/error_file_id, status `to` with its timestamp, and forgets the request rows.
  // Conflict when the status is not one of `from` (the batch was finalized already).
  virtual Status finish_batch(const std::string& id, const std::vector<BatchStatus>& from, BatchStatus to,
                              const std::optional<FileRecord>& output_file,
                              const std::optional<FileRecord>& error_file, int64_t now) = 0;

  // ---- webhook events (the outbox; queued by the calls that end a batch when batch_events is on:
  // fail_batch, finish_batch and a transition to an ending status, in their own transaction)
  // Claims for node up to limit pending events due at now_ms, oldest first: each gets a new
  // lease_token and is not due again before lease_until_ms (should the node die delivering it). Many
  // nodes may claim at once; each event goes to one of them.
  virtual Result<std::vector<EventRecord>> claim_events(const std::string& node, int64_t limit,
                                                        int64_t now_ms, int64_t lease_until_ms) = 0;
  // Ends one attempt: adds one to attempts and records the outcome (a pending event is due again at
  // next_attempt_ms). False, and nothing written, when the event is no longer under attempt.lease_token
  // (its claim lapsed and another node took it), its claim has ended (the attempt was recorded already,
  // or release_leases ended it) or it is no longer pending.
  virtual Result<bool> record_event_attempt(const EventAttempt& attempt) = 0;
  // The events of a batch, oldest first (any state).
  virtual Result<std::vector<EventRecord>> batch_events(const std::string& batch_id) = 0;
};

// Opens the store a URL names: postgresql://... or postgres://... (libpq's connection URIs, unix sockets
// included: postgresql:///DB?host=/run/postgresql) on PostgreSQL, anything else as the path of a SQLite
// database file.
Result<std::unique_ptr<Store>> open_store(const std::string& url, const StoreOptions& options = {});
// True when url names a PostgreSQL database.
bool is_postgres_url(const std::string& url);

}  // namespace openbatch::store
