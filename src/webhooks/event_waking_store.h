// A Store that calls on_batch_end after every call that ends a batch here (fail_batch, transition and
// finish_batch into a final status), once the store has it: the webhook sender is woken to deliver
// the event just queued instead of finding it at its next poll. Events of batches that other nodes
// end are still found by the poll.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/forwarding_store.h"

namespace openbatch::webhooks {

class EventWakingStore final : public store::ForwardingStore {
 public:
  // on_batch_end: thread-safe, quick (it runs on the caller's thread: the batch runner's).
  EventWakingStore(std::shared_ptr<store::Store> inner, std::function<void()> on_batch_end)
      : ForwardingStore(std::move(inner)), on_batch_end_(std::move(on_batch_end)) {}

  Status fail_batch(const std::string& id, const std::vector<store::BatchError>& errors,
                    int64_t now) override {
    return ended(ForwardingStore::fail_batch(id, errors, now), store::BatchStatus::kFailed);
  }
  Status transition(const std::string& id, const std::vector<store::BatchStatus>& from, store::BatchStatus to,
                    int64_t now) override {
    return ended(ForwardingStore::transition(id, from, to, now), to);
  }
  Status finish_batch(const std::string& id, const std::vector<store::BatchStatus>& from,
                      store::BatchStatus to, const std::optional<store::FileRecord>& output_file,
                      const std::optional<store::FileRecord>& error_file, int64_t now) override {
    return ended(ForwardingStore::finish_batch(id, from, to, output_file, error_file, now), to);
  }

 private:
  Status ended(Status s, store::BatchStatus to) {
    if (s.is_ok() && store::is_terminal(to)) on_batch_end_();
    return s;
  }

  std::function<void()> on_batch_end_;
};

}  // namespace openbatch::webhooks
