// The records of the metadata store (store/store.h): files, batches, the requests of a batch and
// their results, progress samples and webhook events, with the small values they are made of.
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

// A model name some node of the fleet serves or has served (NodeRegistry), and the latest heartbeat of
// the nodes that recorded it.
struct ServedModel {
  std::string name;          // a model's id or one of its aliases
  int64_t heartbeat_ms = 0;  // Unix milliseconds of the recording node's clock
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

}  // namespace openbatch::store
