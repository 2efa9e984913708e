#include "batch/batch_service.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <unordered_set>
#include <utility>

#include "batch/batch_runner.h"
#include "common/owned_folder.h"
#include "openai/batch_objects.h"
#include "openai/chat_completion.h"
#include "openai/endpoints.h"
#include "openai/jsonl_check.h"
#include "store/sqlite_store.h"
#include "webhooks/event_waking_store.h"

namespace openbatch::batch {
namespace {

// What an upload or a batch of an owner past its storage limit (Limits::max_stored_bytes_per_owner) is
// answered: a 400 in OpenAI's shape that names the limit and the way out.
Status storage_limit_exceeded(int64_t limit) {
  return Status::invalid_request(
      "This API key's files would take more than this server's limit of " + std::to_string(limit >> 20) +
          " MB of stored files per API key (inputs and batch outputs together). Delete files you no longer "
          "need (DELETE /v1/files/{file_id}) and try again.",
      "file", "storage_limit_exceeded");
}

class BlobFileUpload final : public FileUpload {
 public:
  // stored: the bytes the owner's files held when the upload began.
  BlobFileUpload(store::Store& store, blobs::BlobStore& blobs, std::unique_ptr<blobs::BlobWriter> writer,
                 store::FileRecord rec, const openai::Limits& limits, const Clock& clock, int64_t stored)
      : store_(store),
        blobs_(blobs),
        writer_(std::move(writer)),
        rec_(std::move(rec)),
        limits_(limits),
        max_bytes_(limits.largest_upload()),
        clock_(clock),
        stored_(stored) {}

  Status append(std::string_view data) override {
    const int64_t bytes = writer_->bytes_written() + static_cast<int64_t>(data.size());
    if (bytes > max_bytes_) {
      return Status::invalid_request(
          "The file is larger than the maximum of " + std::to_string(max_bytes_) + " bytes.", "file",
          "file_too_large");
    }
    // Checked as the bytes arrive, not once they are all stored.
    const int64_t max_stored = limits_.max_stored_bytes_per_owner;
    if (max_stored > 0 && stored_ + bytes > max_stored) return storage_limit_exceeded(max_stored);
    lines_.feed(data);
    return writer_->append(data);
  }

  Result<store::FileRecord> finish(const std::string& purpose,
                                   std::optional<int64_t> expires_after) override {
    if (Status s = openai::check_upload_purpose(purpose); !s) return s;
    // A batch input file's lines are checked in full at batch create; one that is not even a JSON
    // object is refused now, while the user is still at the upload.
    if (const auto bad = lines_.first_bad_line(); bad && purpose == "batch") {
      return Status::invalid_request(
          "Invalid batch input file: line " + std::to_string(*bad) + " " + lines_.problem() + ".", "file",
          "invalid_file_format");
    }
    if (expires_after) {
      if (Status s = openai::check_upload_expires_after(*expires_after, limits_); !s) return s;
    }
    if (const int64_t max_stored = limits_.max_stored_bytes_per_owner; max_stored > 0) {
      // Again with what the owner's other uploads and batches stored meanwhile.
      auto stored = store_.stored_bytes(rec_.owner);
      if (!stored) return stored.status();
      if (*stored + writer_->bytes_written() > max_stored) return storage_limit_exceeded(max_stored);
    }
    if (Status s = writer_->commit(); !s) return s;
    rec_.purpose = purpose;
    rec_.bytes = writer_->bytes_written();
    rec_.created_at = clock_.now_seconds();
    if (expires_after) rec_.expires_at = rec_.created_at + *expires_after;
    // A crash between the commit above and this insert leaves a blob without a record; open() removes it.
    if (Status s = store_.insert_file(rec_); !s) {
      blobs_.remove(rec_.id);  // the store failed (a full disk): the bytes go too, now
      return s;
    }
    return rec_;
  }

 private:
  store::Store& store_;
  blobs::BlobStore& blobs_;
  std::unique_ptr<blobs::BlobWriter> writer_;
  store::FileRecord rec_;
  openai::JsonlObjectCheck lines_;
  const openai::Limits& limits_;
  const int64_t max_bytes_;
  const Clock& clock_;
  const int64_t stored_;
};

// OK unless the owner's files take its whole storage limit already (none: OK).
Status check_storage(store::Store& store, const openai::Limits& limits, const std::string& owner,
                     int64_t* stored) {
  *stored = 0;
  if (limits.max_stored_bytes_per_owner <= 0) return Status::ok();
  auto bytes = store.stored_bytes(owner);
  if (!bytes) return bytes.status();
  *stored = *bytes;
  if (*bytes >= limits.max_stored_bytes_per_owner)
    return storage_limit_exceeded(limits.max_stored_bytes_per_owner);
  return Status::ok();
}

// The data folder's marker kind (common/owned_folder.h).
constexpr const char* kDataFolderKind = "data";
constexpr const char* kDatabaseName = "openbatch.sqlite3";
// The key of the owner ids: a file of the data folder beside the default database (not in it, so that
// a copy of the database alone tests no API key), or the given store's secret of this name.
constexpr const char* kSecretName = "openbatch.secret";
constexpr const char* kOwnerSecretName = "owner_ids";

// True when dir is a data folder of an openbatch from before folders were marked: it holds the
// database, a regular file that SQLite wrote.
bool holds_old_data_layout(const std::string& dir) {
  const std::string db = dir + "/" + kDatabaseName;
  int fd = ::open(db.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  char header[16] = {};
  const bool sqlite = ::read(fd, header, sizeof header) == sizeof header &&
                      std::memcmp(header, "SQLite format 3", sizeof header) == 0;
  ::close(fd);
  return sqlite;
}

// True for the ids openai::new_id("file-") makes: the only blob names removed as orphans.
bool is_generated_file_id(const std::string& key) {
  constexpr std::string_view kPrefix = "file-";
  if (key.size() != kPrefix.size() + 24 || key.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  return std::all_of(key.begin() + kPrefix.size(), key.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
}

// Removes blobs that have no file record: uploads and output files whose record a crash prevented. Only
// blobs named as openbatch names them (is_generated_file_id) are removed.
// REQUIRES: nothing writes blobs meanwhile.
Status remove_orphan_blobs(store::Store& store, blobs::BlobStore& blobs) {
  auto ids = store.all_file_ids();
  if (!ids) return ids.status();
  auto keys = blobs.list();
  if (!keys) return keys.status();
  std::unordered_set<std::string> known(ids->begin(), ids->end());
  for (const auto& key : *keys) {
    if (!known.count(key) && is_generated_file_id(key)) {
      if (Status s = blobs.remove(key); !s) return s;
    }
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<BatchService>> BatchService::open(BatchServiceOptions options,
                                                         engine::Engine& engine) {
  int lock_fd = -1;
  auto fail = [&lock_fd](Status s) {
    if (lock_fd >= 0) ::close(lock_fd);
    return s;
  };
  if (!options.store || !options.blobs) {
    auto claim = claim_folder(options.data_dir, kDataFolderKind, holds_old_data_layout);
    if (!claim) return claim.status();
    if (claim->others_can_read) {
      std::fprintf(stderr,
                   "openbatch: warning: other local users may read the data folder %s (mode %s); it holds "
                   "every file and result: chmod 700 %s\n",
                   options.data_dir.c_str(), mode_octal(claim->mode).c_str(), options.data_dir.c_str());
    }
  }
  const bool default_store = !options.store;
  if (!options.store) {
    // One process per data directory: two would run the same batches. The kernel drops the lock when
    // the process dies, however it dies.
    const std::string lock_path = options.data_dir + "/openbatch.lock";
    lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0) return Status::internal("cannot open " + lock_path + ": " + std::strerror(errno));
    if (Status s = make_private(lock_fd, lock_path); !s) return fail(s);
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
      return fail(Status::unavailable("the data directory " + options.data_dir +
                                      " is in use by another openbatch process"));
    }
    store::SqliteOptions sqlite;
    sqlite.batch_events = !options.webhooks.url.empty();
    auto store = store::open_sqlite_store(options.data_dir + "/" + kDatabaseName, std::move(sqlite));
    if (!store) return fail(store.status());
    std::unique_ptr<store::Store> opened = std::move(store).value();
    if (options.wrap_store) opened = options.wrap_store(std::move(opened));
    options.store = std::move(opened);
  }
  if (!options.blobs) {
    auto blobs = blobs::open_local_blob_store(options.data_dir + "/files");
    if (!blobs) return fail(blobs.status());
    options.blobs = std::move(blobs).value();
  }
  if (options.store->exclusive()) {
    // Nobody else uses this store: what an earlier process left leased or half-written is nobody's.
    if (Status s = options.store->release_leases(""); !s) return fail(s);
    if (Status s = remove_orphan_blobs(*options.store, *options.blobs); !s) return fail(s);
  }
  auto secret = default_store ? load_or_create_secret_file(options.data_dir + "/" + kSecretName)
                              : options.store->keep_secret(kOwnerSecretName, new_owner_secret());
  if (!secret) return fail(secret.status());
  OwnerIds owner_ids(*secret);
  if (!options.api_keys.empty()) {
    // Records made under the ids of an older openbatch move to the keyed ids; on every start, so that a
    // node not yet upgraded in a fleet loses nothing either.
    std::vector<std::pair<std::string, std::string>> from_to;
    for (const std::string& key : options.api_keys)
      from_to.emplace_back(OwnerIds::legacy_of(key), owner_ids.of(key));
    if (Status s = options.store->change_owners(from_to); !s) return fail(s);
  }
  if (options.node_id.empty()) options.node_id = openai::new_id("node_");
  if (!options.webhooks.url.empty() && !options.webhook_transport) {
    return fail(Status::internal("webhooks need a transport (BatchServiceOptions::webhook_transport)"));
  }
  return std::unique_ptr<BatchService>(
      new BatchService(std::move(options), engine, lock_fd, std::move(owner_ids)));
}

BatchService::BatchService(BatchServiceOptions options, engine::Engine& engine, int lock_fd,
                           OwnerIds owner_ids)
    : lock_fd_(lock_fd),
      options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : SystemClock::instance()),
      owner_ids_(std::move(owner_ids)),
      engine_(engine),
      store_(std::move(options_.store)),
      blobs_(std::move(options_.blobs)) {
  RunnerOptions r;
  r.max_in_flight = std::max(0, options_.max_in_flight);
  r.flush_interval = options_.flush_interval;
  r.flush_max_results = std::max<size_t>(1, options_.flush_max_results);
  r.retry_interval = options_.retry_interval;
  r.limits = options_.limits;
  r.node_id = options_.node_id;
  r.lease_duration = options_.lease_duration;
  r.poll_interval = options_.poll_interval;
  if (!options_.webhooks.url.empty()) {
    // A batch that ends here wakes the sender: its event goes out at once, not at the next poll.
    store_ = std::make_unique<webhooks::EventWakingStore>(std::move(store_), [this] {
      if (webhook_sender_) webhook_sender_->wake();
    });
  }
  runner_ = std::make_unique<BatchRunner>(*store_, *blobs_, engine_, clock_, r);
  if (!options_.webhooks.url.empty()) {
    webhooks::WebhookSenderOptions w = options_.webhooks;
    w.node_id = options_.node_id;
    webhook_sender_ =
        std::make_unique<webhooks::WebhookSender>(*store_, *options_.webhook_transport, clock_, w);
  }
}

BatchService::~BatchService() {
  stop();
  runner_.reset();
  webhook_sender_.reset();
  blobs_.reset();
  store_.reset();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // last: nothing of ours uses the directory any more
}

void BatchService::start() {
  runner_->start();
  if (webhook_sender_) webhook_sender_->start();
}

void BatchService::stop() {
  runner_->stop();
  if (webhook_sender_) webhook_sender_->stop();
}

// ---- files

Result<std::unique_ptr<FileUpload>> BatchService::begin_upload(const std::string& owner,
                                                               const std::string& filename) {
  store::FileRecord rec;
  rec.id = openai::new_id("file-");
  rec.owner = owner;
  rec.filename = filename.empty() ? "file" : filename;
  int64_t stored = 0;
  if (Status s = check_storage(*store_, options_.limits, owner, &stored); !s) return s;
  auto writer = blobs_->create(rec.id);
  if (!writer) return writer.status();
  return std::unique_ptr<FileUpload>(std::make_unique<BlobFileUpload>(
      *store_, *blobs_, std::move(writer).value(), std::move(rec), options_.limits, clock_, stored));
}

Result<store::FileRecord> BatchService::get_file(const std::string& owner, const std::string& id) {
  return store_->get_file(owner, id);
}

Result<store::Page<store::FileRecord>> BatchService::list_files(const std::string& owner,
                                                                const store::ListQuery& query) {
  return store_->list_files(owner, query);
}

Status BatchService::delete_file(const std::string& owner, const std::string& id) {
  if (Status s = store_->delete_file(owner, id); !s) return s;
  // A crash before this line leaves a blob without a record; open() removes it.
  return blobs_->remove(id);
}

Result<std::unique_ptr<blobs::BlobReader>> BatchService::open_file_content(const std::string& owner,
                                                                           const std::string& id) {
  auto rec = store_->get_file(owner, id);
  if (!rec) return rec.status();
  auto reader = blobs_->open(id);
  if (!reader && reader.status().is_not_found()) return Status::not_found("No such File object: " + id, "id");
  return reader;
}

// ---- batches

Result<store::BatchRecord> BatchService::create_batch(const std::string& owner,
                                                      const nlohmann::ordered_json& body) {
  auto request = openai::parse_batch_create(body, options_.limits);
  if (!request) return request.status();
  // Its output and error files will be the owner's too: none is begun by an owner with no room left.
  int64_t stored = 0;
  if (Status s = check_storage(*store_, options_.limits, owner, &stored); !s) return s;
  store::BatchRecord rec;
  rec.id = openai::new_id("batch_");
  rec.owner = owner;
  rec.endpoint = request->endpoint;
  rec.input_file_id = request->input_file_id;
  rec.completion_window = request->completion_window;
  rec.status = store::BatchStatus::kValidating;
  rec.created_at = clock_.now_seconds();
  rec.expires_at = rec.created_at + options_.completion_window_seconds;
  rec.metadata = request->metadata;
  rec.output_expires_after_seconds = request->output_expires_after_seconds;
  if (Status s = store_->insert_batch(rec); !s) return s;
  runner_->submit(rec.id);
  return rec;
}

Result<store::BatchRecord> BatchService::get_batch(const std::string& owner, const std::string& id) {
  return store_->get_batch(owner, id);
}

Result<BatchProgress> BatchService::batch_progress(const std::string& owner, const std::string& id,
                                                   int64_t after_ms) {
  auto rec = store_->get_batch(owner, id);
  if (!rec) return rec.status();
  auto samples = store_->progress_samples(id, after_ms);
  if (!samples) return samples.status();
  return BatchProgress{std::move(rec).value(), std::move(samples).value(), clock_.now_millis()};
}

Result<FinishedLines> BatchService::finished_lines(const std::string& owner, const std::string& id,
                                                   int64_t after, int64_t limit) {
  if (auto rec = store_->get_batch(owner, id); !rec) return rec.status();
  auto results = store_->finished_results(id, after, limit, store::kResultPageBytes);
  if (!results) return results.status();
  // Read after the results: a batch finalized meanwhile (its rows gone) shows as ended.
  auto rec = store_->get_batch(owner, id);
  if (!rec) return rec.status();
  FinishedLines out{std::move(rec).value(), std::move(results).value(), after};
  if (!out.results.empty()) out.cursor = out.results.back().finished;
  return out;
}

Result<std::vector<store::BatchRecord>> BatchService::unfinished_batches() {
  using store::BatchStatus;
  return store_->batches_with_status({BatchStatus::kValidating, BatchStatus::kInProgress,
                                      BatchStatus::kFinalizing, BatchStatus::kCancelling});
}

Result<store::Page<store::BatchRecord>> BatchService::list_batches(const std::string& owner,
                                                                   const store::ListQuery& query) {
  return store_->list_batches(owner, query);
}

Result<std::vector<FleetModel>> BatchService::models() {
  return fleet_models(*store_, engine_, clock_.now_millis(), options_.lease_duration);
}

void BatchService::set_node_url(std::string url) {
  {
    std::lock_guard lock(node_url_mu_);
    node_url_ = url;
  }
  runner_->set_node_url(std::move(url));
}

Result<std::vector<std::string>> BatchService::remote_models() {
  if (store_->exclusive()) return std::vector<std::string>{};
  auto models = fleet_models(*store_, engine_, clock_.now_millis(), options_.lease_duration);
  if (!models) return models.status();
  std::vector<std::string> out;
  for (const FleetModel& m : *models) {
    if (m.served_here || !m.live) continue;
    auto nodes = nodes_serving(m.name);
    if (!nodes) return nodes.status();
    if (!nodes->empty()) out.push_back(m.name);
  }
  return out;
}

Result<std::vector<std::string>> BatchService::nodes_serving(const std::string& model) {
  if (store_->exclusive()) return std::vector<std::string>{};  // no other node: the rows are earlier runs'
  auto urls = live_node_urls(*store_, model, clock_.now_millis(), options_.lease_duration);
  if (!urls) return urls;
  std::lock_guard lock(node_url_mu_);
  std::erase(*urls, node_url_);
  return urls;
}

Result<std::pair<store::BatchRecord, std::string>> BatchService::batch_waiting(const std::string& owner,
                                                                               const std::string& id) {
  auto rec = store_->get_batch(owner, id);
  if (!rec) return rec.status();
  auto all = models();
  if (!all) return all.status();
  std::string why = waiting_reason(*rec, *all);
  return std::pair{std::move(rec).value(), std::move(why)};
}

Result<store::BatchRecord> BatchService::cancel_batch(const std::string& owner, const std::string& id) {
  auto rec = store_->get_batch(owner, id);
  if (!rec) return rec.status();
  Status s = store_->transition(id, {store::BatchStatus::kValidating, store::BatchStatus::kInProgress},
                                store::BatchStatus::kCancelling, clock_.now_seconds());
  if (!s) return s;
  runner_->cancel(id);
  return store_->get_batch(owner, id);
}

}  // namespace openbatch::batch
