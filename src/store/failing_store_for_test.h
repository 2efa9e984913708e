// A Store for tests that forwards to a real one and fails the calls a test chooses, as a full disk
// fails them: the seam through which tests show that what sits on the store leaves nothing half done
// and reports the error. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "store/store.h"

namespace openbatch::store::testing {

class FailingStore final : public Store {
 public:
  explicit FailingStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}

  // The next `times` calls of method (its name: "insert_file", "start_batch"...) fail with a 500
  // that names a database error, without reaching the inner store.
  void fail(const std::string& method, int times = 1) {
    std::lock_guard lock(mu_);
    failures_[method] = times;
  }
  // Calls of method that were failed so far.
  int failed(const std::string& method) {
    std::lock_guard lock(mu_);
    return failed_[method];
  }

  bool exclusive() const override { return inner_->exclusive(); }

  Status insert_file(const FileRecord& rec) override {
    if (Status s = check("insert_file"); !s) return s;
    return inner_->insert_file(rec);
  }
  Result<FileRecord> get_file(const std::string& owner, const std::string& id) override {
    if (Status s = check("get_file"); !s) return s;
    return inner_->get_file(owner, id);
  }
  Result<Page<FileRecord>> list_files(const std::string& owner, const ListQuery& query) override {
    if (Status s = check("list_files"); !s) return s;
    return inner_->list_files(owner, query);
  }
  Status delete_file(const std::string& owner, const std::string& id) override {
    if (Status s = check("delete_file"); !s) return s;
    return inner_->delete_file(owner, id);
  }
  Result<std::vector<FileRecord>> expired_files(int64_t now, int64_t limit) override {
    if (Status s = check("expired_files"); !s) return s;
    return inner_->expired_files(now, limit);
  }
  Result<std::vector<std::string>> all_file_ids() override {
    if (Status s = check("all_file_ids"); !s) return s;
    return inner_->all_file_ids();
  }
  Result<int64_t> stored_bytes(const std::string& owner) override {
    if (Status s = check("stored_bytes"); !s) return s;
    return inner_->stored_bytes(owner);
  }
  Status change_owners(const std::vector<std::pair<std::string, std::string>>& from_to) override {
    if (Status s = check("change_owners"); !s) return s;
    return inner_->change_owners(from_to);
  }
  Result<std::string> keep_secret(const std::string& name, const std::string& candidate) override {
    if (Status s = check("keep_secret"); !s) return s;
    return inner_->keep_secret(name, candidate);
  }
  Status insert_batch(const BatchRecord& rec) override {
    if (Status s = check("insert_batch"); !s) return s;
    return inner_->insert_batch(rec);
  }
  Result<BatchRecord> get_batch(const std::string& owner, const std::string& id) override {
    if (Status s = check("get_batch"); !s) return s;
    return inner_->get_batch(owner, id);
  }
  Result<BatchRecord> get_batch_any_owner(const std::string& id) override {
    if (Status s = check("get_batch_any_owner"); !s) return s;
    return inner_->get_batch_any_owner(id);
  }
  Result<Page<BatchRecord>> list_batches(const std::string& owner, const ListQuery& query) override {
    if (Status s = check("list_batches"); !s) return s;
    return inner_->list_batches(owner, query);
  }
  Result<std::vector<BatchRecord>> batches_with_status(const std::vector<BatchStatus>& statuses) override {
    if (Status s = check("batches_with_status"); !s) return s;
    return inner_->batches_with_status(statuses);
  }
  Status start_batch(const std::string& id, const std::string& model,
                     const std::vector<RequestRecord>& requests, int64_t now,
                     const TokenQuota& quota) override {
    if (Status s = check("start_batch"); !s) return s;
    return inner_->start_batch(id, model, requests, now, quota);
  }
  Status fail_batch(const std::string& id, const std::vector<BatchError>& errors, int64_t now) override {
    if (Status s = check("fail_batch"); !s) return s;
    return inner_->fail_batch(id, errors, now);
  }
  Status transition(const std::string& id, const std::vector<BatchStatus>& from, BatchStatus to,
                    int64_t now) override {
    if (Status s = check("transition"); !s) return s;
    return inner_->transition(id, from, to, now);
  }
  Result<std::vector<RequestRecord>> pending_requests(const std::string& batch_id) override {
    if (Status s = check("pending_requests"); !s) return s;
    return inner_->pending_requests(batch_id);
  }
  Status record_results(const std::vector<RequestResult>& results) override {
    if (Status s = check("record_results"); !s) return s;
    return inner_->record_results(results);
  }
  Result<std::vector<RequestRecord>> claim_requests(const std::string& batch_id, const std::string& node,
                                                    int64_t limit, int64_t now_ms,
                                                    int64_t lease_until_ms) override {
    if (Status s = check("claim_requests"); !s) return s;
    return inner_->claim_requests(batch_id, node, limit, now_ms, lease_until_ms);
  }
  Status renew_leases(const std::string& node, int64_t lease_until_ms) override {
    if (Status s = check("renew_leases"); !s) return s;
    return inner_->renew_leases(node, lease_until_ms);
  }
  Status release_batch(const std::string& batch_id, const std::string& node) override {
    if (Status s = check("release_batch"); !s) return s;
    return inner_->release_batch(batch_id, node);
  }
  Status release_leases(const std::string& node) override {
    if (Status s = check("release_leases"); !s) return s;
    return inner_->release_leases(node);
  }
  Result<RequestTally> request_tally(const std::string& batch_id, int64_t now_ms) override {
    if (Status s = check("request_tally"); !s) return s;
    return inner_->request_tally(batch_id, now_ms);
  }
  Result<bool> lease_batch(const std::string& batch_id, const std::string& node, int64_t now_ms,
                           int64_t lease_until_ms) override {
    if (Status s = check("lease_batch"); !s) return s;
    return inner_->lease_batch(batch_id, node, now_ms, lease_until_ms);
  }
  Result<std::vector<StoredResult>> stored_results(const std::string& batch_id, int64_t after_line,
                                                   int64_t limit, int64_t max_bytes) override {
    if (Status s = check("stored_results"); !s) return s;
    return inner_->stored_results(batch_id, after_line, limit, max_bytes);
  }
  Result<std::vector<StoredResult>> finished_results(const std::string& batch_id, int64_t after,
                                                     int64_t limit, int64_t max_bytes) override {
    if (Status s = check("finished_results"); !s) return s;
    return inner_->finished_results(batch_id, after, limit, max_bytes);
  }
  Status sample_progress(const std::string& batch_id, int64_t at_ms) override {
    if (Status s = check("sample_progress"); !s) return s;
    return inner_->sample_progress(batch_id, at_ms);
  }
  Result<std::vector<ProgressSample>> progress_samples(const std::string& batch_id,
                                                       int64_t after_ms) override {
    if (Status s = check("progress_samples"); !s) return s;
    return inner_->progress_samples(batch_id, after_ms);
  }
  Status finish_batch(const std::string& id, const std::vector<BatchStatus>& from, BatchStatus to,
                      const std::optional<FileRecord>& output_file,
                      const std::optional<FileRecord>& error_file, int64_t now) override {
    if (Status s = check("finish_batch"); !s) return s;
    return inner_->finish_batch(id, from, to, output_file, error_file, now);
  }
  Result<std::vector<EventRecord>> claim_events(const std::string& node, int64_t limit, int64_t now_ms,
                                                int64_t lease_until_ms) override {
    if (Status s = check("claim_events"); !s) return s;
    return inner_->claim_events(node, limit, now_ms, lease_until_ms);
  }
  Result<bool> record_event_attempt(const EventAttempt& attempt) override {
    if (Status s = check("record_event_attempt"); !s) return s;
    return inner_->record_event_attempt(attempt);
  }
  Result<std::vector<EventRecord>> batch_events(const std::string& batch_id) override {
    if (Status s = check("batch_events"); !s) return s;
    return inner_->batch_events(batch_id);
  }
  Status record_node_models(const std::string& node, const std::vector<std::string>& names,
                            const std::string& url, int64_t now_ms, int64_t prune_before_ms) override {
    if (Status s = check("record_node_models"); !s) return s;
    return inner_->record_node_models(node, names, url, now_ms, prune_before_ms);
  }
  Result<std::vector<ServedModel>> served_models() override {
    if (Status s = check("served_models"); !s) return s;
    return inner_->served_models();
  }
  Result<std::vector<std::string>> node_urls(const std::string& name, int64_t since_ms) override {
    if (Status s = check("node_urls"); !s) return s;
    return inner_->node_urls(name, since_ms);
  }

 private:
  Status check(const char* method) {
    std::lock_guard lock(mu_);
    auto it = failures_.find(method);
    if (it == failures_.end() || it->second <= 0) return Status::ok();
    --it->second;
    ++failed_[method];
    return Status::internal(std::string("sqlite ") + method + ": database or disk is full");
  }

  std::unique_ptr<Store> inner_;
  std::mutex mu_;
  std::map<std::string, int> failures_;
  std::map<std::string, int> failed_;
};

}  // namespace openbatch::store::testing
