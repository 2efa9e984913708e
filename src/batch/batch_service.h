// The Files and Batches service: what the HTTP routes of /v1/files and /v1/batches call. It owns the
// metadata store, the file bytes and the runner that validates batches, runs their requests on the
// engine and writes their output files.
//
// The store and the blob store come from the caller (BatchServiceOptions::store and ::blobs): PostgreSQL
// for many nodes on one database, or anything a test makes. Left out, they are the defaults of one
// process: SQLite at DATA_DIR/openbatch.sqlite3 and files in DATA_DIR/files/, under a lock that keeps
// a second process off the same directory. DATA_DIR and DATA_DIR/files are folders of openbatch's own
// (common/owned_folder.h): created 0700 and marked; a data folder of an older openbatch (its database is
// there) is adopted as it is; any other non-empty folder is refused, with nothing in it touched. The
// database, its WAL and every file are 0600.
//
//   batch::BatchServiceOptions o;
//   o.data_dir = "./openbatch-data";       // or o.store = ..., o.blobs = ... (a shared database)
//   auto service = batch::BatchService::open(std::move(o), engine);
//   if (!service) return service.status();
//   (*service)->start();   // resumes every unfinished batch
//   ... serve ...
//   (*service)->stop();    // after the HTTP server has stopped, before engine.shutdown()
//
// Durability: every method that changes something is durable when it returns OK. A process killed at
// any moment and restarted (open + start) resumes every batch that had not ended: requests whose
// result was stored never run again, and every input line ends in exactly one of the output and error
// files. With many nodes on one store, any node answers any call, and a node that dies leaves its
// requests to the others once their leases lapse.
//
// Ownership: each file and batch belongs to the owner that created it (api::request_owner); methods
// answer 404 for another owner's ids exactly as for unknown ones.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "batch/fleet_models.h"
#include "batch/owner_ids.h"
#include "blobs/blobs.h"
#include "common/clock.h"
#include "common/status.h"
#include "engine/engine.h"
#include "openai/limits.h"
#include "store/store.h"
#include "webhooks/webhook_sender.h"

namespace openbatch::batch {

class BatchRunner;

struct BatchServiceOptions {
  // The metadata store and the file bytes. Null: SQLite and files in data_dir, held by this process
  // alone (DATA_DIR/openbatch.lock).
  std::shared_ptr<store::Store> store;
  std::shared_ptr<blobs::BlobStore> blobs;
  // A store that is this process's alone (Store::exclusive(): an embedded database) has the leases a
  // process that died left ended at open, and blobs without a file record removed.
  std::string data_dir = "./openbatch-data";  // for the defaults; created when absent
  // The API keys the server accepts. Owner ids are keyed digests of them (batch/owner_ids.h) under the
  // installation's secret: DATA_DIR/openbatch.secret with the default store, the store's own
  // (Store::keep_secret) with a given one. At open, what each key owns under the id an older openbatch
  // gave it (OwnerIds::legacy_of) is given to its keyed id.
  std::vector<std::string> api_keys;
  openai::Limits limits;
  int64_t completion_window_seconds = 24 * 3600;  // what "24h" means; tests shorten it
  // This node's name in the store's leases ("" : a new random one). Nodes sharing a store need
  // different names.
  std::string node_id;
  // How long a lease on requests (and on a batch's validation or finalization) holds unless renewed;
  // a node renews its leases every third of it. A node that dies leaves its requests for this long.
  std::chrono::milliseconds lease_duration{30000};
  // How often the store is asked for work other nodes created or left, and for cancels asked of them.
  std::chrono::milliseconds poll_interval{500};
  // Requests handed to the engine at once, all batches together. Each model has its own budget besides
  // (4 x its ModelInfo::parallel), so that one model's batches never hold the places another's need.
  // 0: no cap but the models' budgets.
  int max_in_flight = 0;
  // Group commit of results: a batch of results is stored every flush_interval or every
  // flush_max_results results, whichever comes first.
  std::chrono::milliseconds flush_interval{50};
  size_t flush_max_results = 64;
  // How long a batch the store could not validate or finalize (a full disk) waits to be tried again.
  std::chrono::milliseconds retry_interval{5000};
  const Clock* clock = nullptr;  // null: the system clock. REQUIRES: outlives the service.
  // Webhooks: with webhooks.url set, the store queues an event for every batch that ends (the default
  // store is opened so; a given one must have StoreOptions::batch_events) and a thread of the service
  // posts them through webhook_transport (webhooks/curl_webhook_transport.h). node_id is the service's.
  webhooks::WebhookSenderOptions webhooks;
  std::shared_ptr<webhooks::WebhookTransport> webhook_transport;
  // For tests: wraps the default store (a store that fails chosen calls, through the store seam).
  std::function<std::unique_ptr<store::Store>(std::unique_ptr<store::Store>)> wrap_store;
};

// What GET /v1/batches/{id}/progress answers: the batch, its samples, and the time they were read.
struct BatchProgress {
  store::BatchRecord batch;
  std::vector<store::ProgressSample> samples;
  int64_t now_ms = 0;
};

// What GET /v1/batches/{id}/output answers: result lines stored after a cursor, in the order they
// finished, and the batch as it was once they were read.
struct FinishedLines {
  store::BatchRecord batch;
  std::vector<store::StoredResult> results;
  int64_t cursor = 0;  // the last result's `finished`, or the cursor asked with when there is none
};

// One upload in progress: its bytes go straight to a temporary blob, never all in memory.
// Not thread-safe; destroying it without finish() discards the bytes.
class FileUpload {
 public:
  virtual ~FileUpload() = default;
  // Fails (400) once the upload passes max_upload_bytes.
  virtual Status append(std::string_view data) = 0;
  // Checks purpose (OpenAI's purposes; not "batch_output"), makes the bytes durable and records the
  // file. expires_after_seconds: the file expires this long after its creation (unset: never).
  virtual Result<store::FileRecord> finish(const std::string& purpose,
                                           std::optional<int64_t> expires_after_seconds) = 0;
};

// Thread-safe.
class BatchService {
 public:
  // Takes the store and blob store of options, or opens DATA_DIR's, removing what a crash left
  // half-written (only files named as openbatch names them). Starts nothing. Fails (unavailable) while
  // another process has the same data directory open (DATA_DIR/openbatch.lock); fails (nothing touched)
  // when DATA_DIR is not a folder openbatch may own. Warns on stderr when other users may read DATA_DIR.
  // REQUIRES: engine outlives the service.
  static Result<std::unique_ptr<BatchService>> open(BatchServiceOptions options, engine::Engine& engine);
  ~BatchService();  // stops when running
  BatchService(const BatchService&) = delete;
  BatchService& operator=(const BatchService&) = delete;

  // Resumes every batch that has not ended, and runs new ones from now on; sends the webhook events
  // that are pending, and those to come.
  void start();
  // Stops the runner: running requests are cancelled and finished results stored; unfinished batches
  // stay as they are until the next start(). Methods other than start() keep working. Idempotent.
  void stop();

  // The owner id of the requests made with api_key. Thread-safe.
  std::string owner_of_key(std::string_view api_key) const { return owner_ids_.of(api_key); }

  // ---- files (/v1/files)
  Result<std::unique_ptr<FileUpload>> begin_upload(const std::string& owner, const std::string& filename);
  Result<store::FileRecord> get_file(const std::string& owner, const std::string& id);
  Result<store::Page<store::FileRecord>> list_files(const std::string& owner, const store::ListQuery& query);
  // 409 while a batch that has not ended uses the file as its input.
  Status delete_file(const std::string& owner, const std::string& id);
  // The file's bytes, readable even if the file is deleted meanwhile.
  Result<std::unique_ptr<blobs::BlobReader>> open_file_content(const std::string& owner,
                                                               const std::string& id);

  // ---- batches (/v1/batches)
  // body: the JSON of POST /v1/batches (input_file_id, endpoint, completion_window, metadata,
  // output_expires_after). Returns the new batch, status "validating"; validation and the run follow
  // in the background.
  Result<store::BatchRecord> create_batch(const std::string& owner, const nlohmann::ordered_json& body);
  Result<store::BatchRecord> get_batch(const std::string& owner, const std::string& id);
  Result<store::Page<store::BatchRecord>> list_batches(const std::string& owner,
                                                       const store::ListQuery& query);
  // The batch and its progress samples with at_ms > after_ms (GET /v1/batches/{id}/progress), oldest
  // first, with the clock's time now.
  Result<BatchProgress> batch_progress(const std::string& owner, const std::string& id, int64_t after_ms);
  // The results of a batch stored after cursor `after` (at most limit, and at most kResultPageBytes of
  // them unless the first alone is larger), in the order they finished. Once
  // the batch is finalized there are none: its results are its output and error files.
  Result<FinishedLines> finished_lines(const std::string& owner, const std::string& id, int64_t after,
                                       int64_t limit);
  // Every batch that has not ended (validating, in_progress, finalizing, cancelling), any owner, oldest
  // first: what GET /metrics counts.
  Result<std::vector<store::BatchRecord>> unfinished_batches();
  // The models a batch may name (batch/fleet_models.h): this node's, then the fleet's, as of now.
  Result<std::vector<FleetModel>> models();
  // Where other nodes reach this one's API ("http://host:port"), recorded with its models from the
  // next start() on; call it before start().
  void set_node_url(std::string url);
  // The URLs of the other live nodes that serve model, the latest heartbeat first (none: no other
  // live node serves it, none can be reached, or the store is this process's alone).
  Result<std::vector<std::string>> nodes_serving(const std::string& model);
  // The names of the models other live nodes serve and this one does not, where some such node can
  // be reached (nodes_serving is not empty), by name.
  Result<std::vector<std::string>> remote_models();
  // The owner's batch, and why it waits for its model ("" when it does not; batch/fleet_models.h).
  Result<std::pair<store::BatchRecord, std::string>> batch_waiting(const std::string& owner,
                                                                   const std::string& id);
  // validating/in_progress -> cancelling; the runner then stops its requests and ends it "cancelled".
  // 409 "Cannot cancel a batch with status 'completed'." for any other status.
  Result<store::BatchRecord> cancel_batch(const std::string& owner, const std::string& id);

 private:
  BatchService(BatchServiceOptions options, engine::Engine& engine, int lock_fd, OwnerIds owner_ids);

  const int lock_fd_;            // holds the data directory's lock (flock) while the service lives; -1: none
  BatchServiceOptions options_;  // its store and blobs are moved into store_ and blobs_
  const Clock& clock_;
  const OwnerIds owner_ids_;
  engine::Engine& engine_;
  std::shared_ptr<store::Store> store_;
  std::shared_ptr<blobs::BlobStore> blobs_;
  std::unique_ptr<BatchRunner> runner_;
  std::mutex node_url_mu_;
  std::string node_url_;                                     // set_node_url's
  std::unique_ptr<webhooks::WebhookSender> webhook_sender_;  // null without webhooks
};

}  // namespace openbatch::batch
