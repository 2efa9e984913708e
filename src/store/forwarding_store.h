// A Store that passes every call to another one: the base of stores that add something to a few
// calls (cli/run.cpp appends stored results to its output files) and leave the rest as they are.
#pragma once

#include <memory>
#include <utility>

#include "store/store.h"

namespace openbatch::store {

class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(std::shared_ptr<Store> inner) : inner_(std::move(inner)) {}

  bool exclusive() const override { return inner_->exclusive(); }

  Status insert_file(const FileRecord& rec) override { return inner_->insert_file(rec); }
  Result<FileRecord> get_file(const std::string& owner, const std::string& id) override {
    return inner_->get_file(owner, id);
  }
  Result<Page<FileRecord>> list_files(const std::string& owner, const ListQuery& query) override {
    return inner_->list_files(owner, query);
  }
  Status delete_file(const std::string& owner, const std::string& id) override {
    return inner_->delete_file(owner, id);
  }
  Result<std::vector<FileRecord>> expired_files(int64_t now, int64_t limit) override {
    return inner_->expired_files(now, limit);
  }
  Result<std::vector<std::string>> all_file_ids() override { return inner_->all_file_ids(); }
  Result<int64_t> stored_bytes(const std::string& owner) override { return inner_->stored_bytes(owner); }
  Status change_owners(const std::vector<std::pair<std::string, std::string>>& from_to) override {
    return inner_->change_owners(from_to);
  }
  Result<std::string> keep_secret(const std::string& name, const std::string& candidate) override {
    return inner_->keep_secret(name, candidate);
  }
  Status insert_batch(const BatchRecord& rec) override { return inner_->insert_batch(rec); }
  Result<BatchRecord> get_batch(const std::string& owner, const std::string& id) override {
    return inner_->get_batch(owner, id);
  }
  Result<BatchRecord> get_batch_any_owner(const std::string& id) override {
    return inner_->get_batch_any_owner(id);
  }
  Result<Page<BatchRecord>> list_batches(const std::string& owner, const ListQuery& query) override {
    return inner_->list_batches(owner, query);
  }
  Result<std::vector<BatchRecord>> batches_with_status(const std::vector<BatchStatus>& statuses) override {
    return inner_->batches_with_status(statuses);
  }
  Status start_batch(const std::string& id, const std::string& model,
                     const std::vector<RequestRecord>& requests, int64_t now,
                     const TokenQuota& quota) override {
    return inner_->start_batch(id, model, requests, now, quota);
  }
  Status fail_batch(const std::string& id, const std::vector<BatchError>& errors, int64_t now) override {
    return inner_->fail_batch(id, errors, now);
  }
  Status transition(const std::string& id, const std::vector<BatchStatus>& from, BatchStatus to,
                    int64_t now) override {
    return inner_->transition(id, from, to, now);
  }
  Result<std::vector<RequestRecord>> pending_requests(const std::string& batch_id) override {
    return inner_->pending_requests(batch_id);
  }
  Status record_results(const std::vector<RequestResult>& results) override {
    return inner_->record_results(results);
  }
  Result<std::vector<RequestRecord>> claim_requests(const std::string& batch_id, const std::string& node,
                                                    int64_t limit, int64_t now_ms,
                                                    int64_t lease_until_ms) override {
    return inner_->claim_requests(batch_id, node, limit, now_ms, lease_until_ms);
  }
  Status renew_leases(const std::string& node, int64_t lease_until_ms) override {
    return inner_->renew_leases(node, lease_until_ms);
  }
  Status release_batch(const std::string& batch_id, const std::string& node) override {
    return inner_->release_batch(batch_id, node);
  }
  Status release_leases(const std::string& node) override { return inner_->release_leases(node); }
  Result<RequestTally> request_tally(const std::string& batch_id, int64_t now_ms) override {
    return inner_->request_tally(batch_id, now_ms);
  }
  Result<bool> lease_batch(const std::string& batch_id, const std::string& node, int64_t now_ms,
                           int64_t lease_until_ms) override {
    return inner_->lease_batch(batch_id, node, now_ms, lease_until_ms);
  }
  Result<std::vector<StoredResult>> stored_results(const std::string& batch_id, int64_t after_line,
                                                   int64_t limit, int64_t max_bytes) override {
    return inner_->stored_results(batch_id, after_line, limit, max_bytes);
  }
  Result<std::vector<StoredResult>> finished_results(const std::string& batch_id, int64_t after,
                                                     int64_t limit, int64_t max_bytes) override {
    return inner_->finished_results(batch_id, after, limit, max_bytes);
  }
  Status sample_progress(const std::string& batch_id, int64_t at_ms) override {
    return inner_->sample_progress(batch_id, at_ms);
  }
  Result<std::vector<ProgressSample>> progress_samples(const std::string& batch_id,
                                                       int64_t after_ms) override {
    return inner_->progress_samples(batch_id, after_ms);
  }
  Status finish_batch(const std::string& id, const std::vector<BatchStatus>& from, BatchStatus to,
                      const std::optional<FileRecord>& output_file,
                      const std::optional<FileRecord>& error_file, int64_t now) override {
    return inner_->finish_batch(id, from, to, output_file, error_file, now);
  }

  Result<std::vector<EventRecord>> claim_events(const std::string& node, int64_t limit, int64_t now_ms,
                                                int64_t lease_until_ms) override {
    return inner_->claim_events(node, limit, now_ms, lease_until_ms);
  }
  Result<bool> record_event_attempt(const EventAttempt& attempt) override {
    return inner_->record_event_attempt(attempt);
  }
  Result<std::vector<EventRecord>> batch_events(const std::string& batch_id) override {
    return inner_->batch_events(batch_id);
  }
  Status record_node_models(const std::string& node, const std::vector<std::string>& names,
                            const std::string& url, int64_t now_ms, int64_t prune_before_ms) override {
    return inner_->record_node_models(node, names, url, now_ms, prune_before_ms);
  }
  Result<std::vector<ServedModel>> served_models() override { return inner_->served_models(); }
  Result<std::vector<std::string>> node_urls(const std::string& name, int64_t since_ms) override {
    return inner_->node_urls(name, since_ms);
  }

 protected:
  Store& inner() { return *inner_; }

 private:
  std::shared_ptr<Store> inner_;
};

}  // namespace openbatch::store
