#include "batch/batch_service.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unordered_set>
#include <utility>

#include "batch/batch_runner.h"
#include "openai/chat_completion.h"
#include "openai/endpoints.h"
#include "store/sqlite_store.h"

namespace openbatch::batch {
namespace {

constexpr size_t kMaxMetadataPairs = 16;
constexpr size_t kMaxMetadataKey = 64;
constexpr size_t kMaxMetadataValue = 512;
// OpenAI's bounds for expires_after / output_expires_after: one hour to 30 days.
constexpr int64_t kMinExpiresAfter = 3600;
constexpr int64_t kMaxExpiresAfter = 30LL * 24 * 3600;

const char* json_type_name(const nlohmann::json& j) {
  if (j.is_number_integer()) return "an integer";
  if (j.is_number()) return "a decimal";
  if (j.is_boolean()) return "a boolean";
  if (j.is_array()) return "an array";
  if (j.is_object()) return "an object";
  if (j.is_null()) return "null";
  return "a string";
}

Status invalid_type(const std::string& param, const std::string& expected, const nlohmann::json& got) {
  return Status::invalid_request("Invalid type for '" + param + "': expected " + expected + ", but got " +
                                     json_type_name(got) + " instead.",
                                 param, "invalid_type");
}

Status invalid_value(const std::string& param, const std::string& message) {
  return Status::invalid_request(message, param, "invalid_value");
}

// A required string field of body.
Result<std::string> required_string(const nlohmann::json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    return Status::invalid_request(std::string("Missing required parameter: '") + name + "'.", name,
                                   "missing_required_parameter");
  }
  if (!it->is_string()) return invalid_type(name, "a string", *it);
  return it->get<std::string>();
}

Status check_metadata(const nlohmann::json& metadata) {
  if (metadata.is_null()) return Status::ok();
  if (!metadata.is_object()) return invalid_type("metadata", "an object", metadata);
  if (metadata.size() > kMaxMetadataPairs) {
    return Status::invalid_request(
        "Invalid 'metadata': too many properties. Expected an object with at most " +
            std::to_string(kMaxMetadataPairs) + " properties, but got an object with " +
            std::to_string(metadata.size()) + " properties instead.",
        "metadata", "object_above_max_properties");
  }
  for (const auto& [key, value] : metadata.items()) {
    const std::string param = "metadata." + key;
    if (key.size() > kMaxMetadataKey) {
      return Status::invalid_request(
          "Invalid 'metadata': keys may have at most " + std::to_string(kMaxMetadataKey) + " characters.",
          "metadata", "string_above_max_length");
    }
    if (!value.is_string()) return invalid_type(param, "a string", value);
    if (value.get_ref<const std::string&>().size() > kMaxMetadataValue) {
      return Status::invalid_request("Invalid '" + param +
                                         "': string too long. Expected a string with maximum length " +
                                         std::to_string(kMaxMetadataValue) + ".",
                                     param, "string_above_max_length");
    }
  }
  return Status::ok();
}

// output_expires_after: {"anchor": "created_at", "seconds": N}. Returns the seconds, or nullopt when absent.
Result<std::optional<int64_t>> parse_expires_after(const nlohmann::json& body, const std::string& name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::optional<int64_t>();
  if (!it->is_object()) return invalid_type(name, "an object", *it);
  auto anchor = it->find("anchor");
  if (anchor == it->end() || !anchor->is_string() || *anchor != "created_at") {
    return invalid_value(name + ".anchor", "Invalid value for '" + name + ".anchor': expected 'created_at'.");
  }
  auto seconds = it->find("seconds");
  if (seconds == it->end() || !seconds->is_number_integer()) {
    return invalid_type(name + ".seconds", "an integer", seconds == it->end() ? nlohmann::json() : *seconds);
  }
  const int64_t s = seconds->get<int64_t>();
  if (s < kMinExpiresAfter || s > kMaxExpiresAfter) {
    return invalid_value(name + ".seconds", "Invalid '" + name + ".seconds': expected a value between " +
                                                std::to_string(kMinExpiresAfter) + " and " +
                                                std::to_string(kMaxExpiresAfter) + ".");
  }
  return std::optional<int64_t>(s);
}

bool is_upload_purpose(const std::string& purpose) {
  static const std::unordered_set<std::string> kPurposes = {"batch",  "assistants", "fine-tune",
                                                            "vision", "user_data",  "evals"};
  return kPurposes.count(purpose) > 0;
}

class BlobFileUpload final : public FileUpload {
 public:
  BlobFileUpload(store::Store& store, blobs::BlobStore& blobs, std::unique_ptr<blobs::BlobWriter> writer,
                 store::FileRecord rec, int64_t max_bytes, const Clock& clock)
      : store_(store),
        blobs_(blobs),
        writer_(std::move(writer)),
        rec_(std::move(rec)),
        max_bytes_(max_bytes),
        clock_(clock) {}

  Status append(std::string_view data) override {
    if (writer_->bytes_written() + static_cast<int64_t>(data.size()) > max_bytes_) {
      return Status::invalid_request(
          "The file is larger than the maximum of " + std::to_string(max_bytes_) + " bytes.", "file",
          "file_too_large");
    }
    return writer_->append(data);
  }

  Result<store::FileRecord> finish(const std::string& purpose,
                                   std::optional<int64_t> expires_after) override {
    if (!is_upload_purpose(purpose)) {
      return invalid_value("purpose",
                           "Invalid value for 'purpose': '" + purpose +
                               "'. Supported values are: 'batch', 'assistants', 'fine-tune', 'vision', "
                               "'user_data' and 'evals'.");
    }
    if (expires_after && (*expires_after < kMinExpiresAfter || *expires_after > kMaxExpiresAfter)) {
      return invalid_value("expires_after[seconds]",
                           "Invalid 'expires_after[seconds]': expected a value between " +
                               std::to_string(kMinExpiresAfter) + " and " + std::to_string(kMaxExpiresAfter) +
                               ".");
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
  const int64_t max_bytes_;
  const Clock& clock_;
};

// Removes blobs that have no file record: uploads and output files whose record a crash prevented.
// REQUIRES: nothing writes blobs meanwhile.
Status remove_orphan_blobs(store::Store& store, blobs::BlobStore& blobs) {
  auto ids = store.all_file_ids();
  if (!ids) return ids.status();
  auto keys = blobs.list();
  if (!keys) return keys.status();
  std::unordered_set<std::string> known(ids->begin(), ids->end());
  for (const auto& key : *keys) {
    if (!known.count(key)) {
      if (Status s = blobs.remove(key); !s) return s;
    }
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<BatchService>> BatchService::open(const BatchServiceOptions& options,
                                                         engine::Engine& engine) {
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return Status::internal("cannot create the data directory " + options.data_dir + ": " + ec.message());
  }
  // One process per data directory: two would run the same batches. The kernel drops the lock when
  // the process dies, however it dies.
  const std::string lock_path = options.data_dir + "/openbatch.lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) return Status::internal("cannot open " + lock_path + ": " + std::strerror(errno));
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    return Status::unavailable("the data directory " + options.data_dir +
                               " is in use by another openbatch process");
  }
  auto fail = [lock_fd](Status s) {
    ::close(lock_fd);
    return s;
  };
  auto store = store::open_sqlite_store(options.data_dir + "/openbatch.sqlite3");
  if (!store) return fail(store.status());
  if (options.wrap_store) store = options.wrap_store(std::move(store).value());
  auto blobs = blobs::open_local_blob_store(options.data_dir + "/files");
  if (!blobs) return fail(blobs.status());
  if (Status s = remove_orphan_blobs(**store, **blobs); !s) return fail(s);
  return std::unique_ptr<BatchService>(
      new BatchService(options, engine, std::move(store).value(), std::move(blobs).value(), lock_fd));
}

BatchService::BatchService(BatchServiceOptions options, engine::Engine& engine,
                           std::unique_ptr<store::Store> store, std::unique_ptr<blobs::BlobStore> blobs,
                           int lock_fd)
    : lock_fd_(lock_fd),
      options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : SystemClock::instance()),
      engine_(engine),
      store_(std::move(store)),
      blobs_(std::move(blobs)) {
  RunnerOptions r;
  r.max_in_flight =
      options_.max_in_flight > 0 ? options_.max_in_flight : 4 * std::max(1, engine_.model_info().parallel);
  r.flush_interval = options_.flush_interval;
  r.flush_max_results = std::max<size_t>(1, options_.flush_max_results);
  r.retry_interval = options_.retry_interval;
  r.max_batch_requests = options_.max_batch_requests;
  r.max_file_bytes = options_.max_file_bytes;
  runner_ = std::make_unique<BatchRunner>(*store_, *blobs_, engine_, clock_, r);
}

BatchService::~BatchService() {
  stop();
  runner_.reset();
  blobs_.reset();
  store_.reset();
  ::close(lock_fd_);  // last: nothing of ours uses the directory any more
}

void BatchService::start() { runner_->start(); }
void BatchService::stop() { runner_->stop(); }

// ---- files

Result<std::unique_ptr<FileUpload>> BatchService::begin_upload(const std::string& owner,
                                                               const std::string& filename) {
  store::FileRecord rec;
  rec.id = openai::new_id("file-");
  rec.owner = owner;
  rec.filename = filename.empty() ? "file" : filename;
  auto writer = blobs_->create(rec.id);
  if (!writer) return writer.status();
  const int64_t max_upload = std::max(options_.max_upload_bytes, options_.max_file_bytes);
  return std::unique_ptr<FileUpload>(std::make_unique<BlobFileUpload>(
      *store_, *blobs_, std::move(writer).value(), std::move(rec), max_upload, clock_));
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
  if (!reader) return Status::not_found("No such File object: " + id, "id");
  return reader;
}

// ---- batches

Result<store::BatchRecord> BatchService::create_batch(const std::string& owner, const nlohmann::json& body) {
  if (!body.is_object()) return Status::invalid_request("The request body must be a JSON object.");
  auto input_file_id = required_string(body, "input_file_id");
  if (!input_file_id) return input_file_id.status();
  auto endpoint = required_string(body, "endpoint");
  if (!endpoint) return endpoint.status();
  if (!openai::is_batch_endpoint(*endpoint)) {
    return invalid_value("endpoint", "Invalid value: '" + *endpoint + "'. Supported values are: " +
                                         openai::batch_endpoints_phrase() + ".");
  }
  auto window = required_string(body, "completion_window");
  if (!window) return window.status();
  if (*window != "24h") {
    return invalid_value("completion_window",
                         "Invalid value: '" + *window + "'. Supported values are: '24h'.");
  }
  const nlohmann::json metadata = body.value("metadata", nlohmann::json());
  if (Status s = check_metadata(metadata); !s) return s;
  auto output_expires_after = parse_expires_after(body, "output_expires_after");
  if (!output_expires_after) return output_expires_after.status();

  store::BatchRecord rec;
  rec.id = openai::new_id("batch_");
  rec.owner = owner;
  rec.endpoint = *endpoint;
  rec.input_file_id = *input_file_id;
  rec.completion_window = *window;
  rec.status = store::BatchStatus::kValidating;
  rec.created_at = clock_.now_seconds();
  rec.expires_at = rec.created_at + options_.completion_window_seconds;
  rec.metadata = metadata;
  rec.output_expires_after_seconds = *output_expires_after;
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

Result<std::vector<store::BatchRecord>> BatchService::unfinished_batches() {
  using store::BatchStatus;
  return store_->batches_with_status({BatchStatus::kValidating, BatchStatus::kInProgress,
                                      BatchStatus::kFinalizing, BatchStatus::kCancelling});
}

Result<store::Page<store::BatchRecord>> BatchService::list_batches(const std::string& owner,
                                                                   const store::ListQuery& query) {
  return store_->list_batches(owner, query);
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
