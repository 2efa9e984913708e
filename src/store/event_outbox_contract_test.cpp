// The store contract (store/store_contract_fixture_for_test.h) of progress samples and the webhooks'
// outbox.
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "store/store_contract_fixture_for_test.h"

namespace openbatch::store {
namespace {

TEST_P(StoreContractTest, ProgressSamplesSnapshotTheStoredCountsAndOutliveTheBatch) {
  ASSERT_TRUE(store_->insert_file(file("file-in")));
  started_batch("batch_1", 3);
  ASSERT_TRUE(store_->sample_progress("batch_1", 10'000));
  ASSERT_TRUE(store_->record_results({result("batch_1", 1, Outcome::kOutput, 4)}));
  ASSERT_TRUE(store_->sample_progress("batch_1", 10'500));
  ASSERT_TRUE(store_->record_results({result("batch_1", 2, Outcome::kError)}));
  ASSERT_TRUE(store_->sample_progress("batch_1", 11'000));
  ASSERT_TRUE(store_->record_results({result("batch_1", 3, Outcome::kOutput, 2)}));
  ASSERT_TRUE(store_->sample_progress("batch_1", 11'000)) << "a second sample at the same time replaces it";
  ASSERT_TRUE(store_->finish_batch("batch_1", {BatchStatus::kInProgress}, BatchStatus::kCompleted,
                                   std::nullopt, std::nullopt, 2002));
  reopen();

  auto all = store_->progress_samples("batch_1", 0);
  ASSERT_TRUE(all.is_ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].at_ms, 10'000);
  EXPECT_EQ((*all)[0].completed, 0);
  EXPECT_EQ((*all)[1].completed, 1);
  EXPECT_EQ((*all)[1].usage.input_tokens, 4);
  EXPECT_EQ((*all)[1].usage.output_tokens, 8);
  EXPECT_EQ((*all)[1].usage.cached_tokens, 1);
  EXPECT_EQ((*all)[2].at_ms, 11'000);
  EXPECT_EQ((*all)[2].completed, 2);
  EXPECT_EQ((*all)[2].failed, 1);
  EXPECT_EQ((*all)[2].usage.input_tokens, 6);

  auto later = store_->progress_samples("batch_1", 10'000);
  ASSERT_TRUE(later.is_ok());
  ASSERT_EQ(later->size(), 2u) << "only samples after after_ms";
  EXPECT_EQ(later->front().at_ms, 10'500);
  EXPECT_TRUE(store_->progress_samples("batch_2", 0)->empty());
  EXPECT_TRUE(store_->sample_progress("batch_2", 1).is_not_found());
}

StoreOptions with_events() {
  StoreOptions o;
  o.batch_events = true;
  return o;
}

TEST_P(StoreContractTest, EveryWayABatchEndsQueuesItsEventWithTheEnd) {
  std::unique_ptr<Store> s = open_again(with_events());
  ASSERT_TRUE(s);
  store_ = std::move(s);
  ASSERT_TRUE(store_->insert_batch(batch("batch_f")));
  ASSERT_TRUE(store_->fail_batch("batch_f", {{"invalid_json_line", "bad", "", 1}}, 2500));
  started_batch("batch_c", 1);
  ASSERT_TRUE(store_->transition("batch_c", {BatchStatus::kInProgress}, BatchStatus::kFinalizing, 2600));
  ASSERT_TRUE(store_->finish_batch("batch_c", {BatchStatus::kFinalizing}, BatchStatus::kCompleted,
                                   std::nullopt, std::nullopt, 2601));
  started_batch("batch_x", 1);
  ASSERT_TRUE(store_->finish_batch("batch_x", {BatchStatus::kInProgress}, BatchStatus::kExpired, std::nullopt,
                                   std::nullopt, 2700));
  started_batch("batch_k", 1);
  ASSERT_TRUE(store_->transition("batch_k", {BatchStatus::kInProgress}, BatchStatus::kCancelling, 2800));
  EXPECT_TRUE(store_->batch_events("batch_k")->empty()) << "cancelling is not an end";
  ASSERT_TRUE(store_->finish_batch("batch_k", {BatchStatus::kCancelling}, BatchStatus::kCancelled,
                                   std::nullopt, std::nullopt, 2801));
  // A second end is refused (409), and queues nothing.
  EXPECT_TRUE(store_
                  ->finish_batch("batch_k", {BatchStatus::kCancelling}, BatchStatus::kCancelled, std::nullopt,
                                 std::nullopt, 2900)
                  .is_conflict());
  const std::vector<std::tuple<std::string, std::string, int64_t>> want = {
      {"batch_f", "batch.failed", 2500},
      {"batch_c", "batch.completed", 2601},
      {"batch_x", "batch.expired", 2700},
      {"batch_k", "batch.cancelled", 2801}};
  std::set<std::string> ids;
  for (const auto& [batch_id, type, at] : want) {
    auto events = store_->batch_events(batch_id);
    ASSERT_TRUE(events.is_ok()) << events.status().message();
    ASSERT_EQ(events->size(), 1u) << batch_id;
    const EventRecord& e = events->front();
    EXPECT_EQ(e.id.rfind("evt_", 0), 0u) << e.id;
    EXPECT_EQ(e.type, type);
    EXPECT_EQ(e.batch_id, batch_id);
    EXPECT_EQ(e.created_at, at);
    EXPECT_EQ(e.state, EventState::kPending);
    EXPECT_EQ(e.attempts, 0);
    EXPECT_EQ(e.next_attempt_ms, at * 1000);
    ids.insert(e.id);
  }
  EXPECT_EQ(ids.size(), 4u);
  // Oldest first, to whoever claims them; a store without batch_events reads them too (another node).
  auto claimed = open_again()->claim_events("node-a", 10, 3000 * 1000, 3000 * 1000 + 60000);
  ASSERT_TRUE(claimed.is_ok()) << claimed.status().message();
  ASSERT_EQ(claimed->size(), 4u);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ((*claimed)[i].batch_id, std::get<0>(want[i]));
}

TEST_P(StoreContractTest, WithoutBatchEventsNoEventIsQueued) {
  ASSERT_TRUE(store_->insert_batch(batch("batch_f")));
  ASSERT_TRUE(store_->fail_batch("batch_f", {{"invalid_json_line", "bad", "", 1}}, 2500));
  EXPECT_TRUE(store_->batch_events("batch_f")->empty());
  EXPECT_TRUE(store_->claim_events("node-a", 10, 9'000'000, 9'060'000)->empty());
}

TEST_P(StoreContractTest, AnEventIsDeliveredByOneNodeAtATimeAndFencedByItsClaim) {
  store_ = open_again(with_events());
  ASSERT_TRUE(store_->insert_batch(batch("batch_f")));
  ASSERT_TRUE(store_->fail_batch("batch_f", {}, 2500));
  const int64_t now = 2500 * 1000;
  std::unique_ptr<Store> b = open_again();
  EXPECT_TRUE(store_->claim_events("node-a", 10, now - 1, now + 1000)->empty()) << "not due yet";
  auto a_claim = store_->claim_events("node-a", 10, now, now + 1000);
  ASSERT_EQ(a_claim->size(), 1u);
  EXPECT_TRUE(b->claim_events("node-b", 10, now + 999, now + 2000)->empty()) << "node-a holds it";
  auto b_claim = b->claim_events("node-b", 10, now + 1000, now + 2000);  // node-a's claim lapsed
  ASSERT_EQ(b_claim->size(), 1u);
  EXPECT_NE(b_claim->front().lease_token, a_claim->front().lease_token);

  EventAttempt late{a_claim->front().id, a_claim->front().lease_token, EventState::kDelivered, now + 1500,
                    ""};
  EXPECT_FALSE(*store_->record_event_attempt(late)) << "node-a's claim was taken";
  EventAttempt retry{b_claim->front().id, b_claim->front().lease_token, EventState::kPending, now + 5000,
                     "the receiver answered HTTP 500"};
  EXPECT_TRUE(*b->record_event_attempt(retry));
  EXPECT_FALSE(*b->record_event_attempt(retry)) << "one attempt, one record";
  auto e = store_->batch_events("batch_f")->front();
  EXPECT_EQ(e.state, EventState::kPending);
  EXPECT_EQ(e.attempts, 1);
  EXPECT_EQ(e.next_attempt_ms, now + 5000);
  EXPECT_EQ(e.last_error, "the receiver answered HTTP 500");

  EXPECT_TRUE(store_->claim_events("node-a", 10, now + 4999, now + 9000)->empty());
  auto again = store_->claim_events("node-a", 10, now + 5000, now + 9000);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().attempts, 1);
  EXPECT_TRUE(*store_->record_event_attempt(
      {again->front().id, again->front().lease_token, EventState::kDelivered, now + 5100, ""}));
  e = b->batch_events("batch_f")->front();
  EXPECT_EQ(e.state, EventState::kDelivered);
  EXPECT_EQ(e.attempts, 2);
  EXPECT_TRUE(store_->claim_events("node-a", 10, now + 999'999'999, now + 999'999'999)->empty());
}

TEST_P(StoreContractTest, AFailedEventIsNeverClaimedAgainAndReleasedClaimsAreDueAtOnce) {
  store_ = open_again(with_events());
  ASSERT_TRUE(store_->insert_batch(batch("batch_1")));
  ASSERT_TRUE(store_->fail_batch("batch_1", {}, 2500));
  ASSERT_TRUE(store_->insert_batch(batch("batch_2")));
  ASSERT_TRUE(store_->fail_batch("batch_2", {}, 2500));
  const int64_t now = 2500 * 1000;
  auto claimed = store_->claim_events("node-a", 10, now, now + 60000);
  ASSERT_EQ(claimed->size(), 2u);
  EXPECT_TRUE(*store_->record_event_attempt(
      {claimed->at(0).id, claimed->at(0).lease_token, EventState::kFailed, now, "gave up"}));
  // A process that died holding a claim: a store used by one process alone ends its claims at start.
  ASSERT_TRUE(open_again()->release_leases("node-a"));
  auto after = store_->claim_events("node-b", 10, now + 1, now + 60000);
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ(after->front().batch_id, "batch_2");
  EXPECT_EQ(store_->batch_events("batch_1")->front().state, EventState::kFailed);
}

TEST_P(StoreContractTest, NodesClaimingAtOnceGetEachEventOnce) {
  store_ = open_again(with_events());
  constexpr int kEvents = 40;
  for (int i = 0; i < kEvents; ++i) {
    const std::string id = "batch_" + std::to_string(i);
    ASSERT_TRUE(store_->insert_batch(batch(id)));
    ASSERT_TRUE(store_->fail_batch(id, {}, 2500));
  }
  std::mutex mu;
  std::multiset<std::string> delivered;
  std::vector<std::thread> nodes;
  for (int n = 0; n < 3; ++n) {
    nodes.emplace_back([&, n] {
      std::unique_ptr<Store> s = open_again();
      const std::string node = "node-" + std::to_string(n);
      for (int round = 0; round < 1000; ++round) {
        auto claimed = s->claim_events(node, 3, 3'000'000, 9'000'000);
        if (!claimed.is_ok()) continue;  // SQLite may be busy for a moment
        if (claimed->empty()) break;
        for (const auto& e : *claimed) {
          while (!s->record_event_attempt({e.id, e.lease_token, EventState::kDelivered, 3'000'000, ""})) {
          }
          std::lock_guard lock(mu);
          delivered.insert(e.id);
        }
      }
    });
  }
  for (auto& t : nodes) t.join();
  EXPECT_EQ(delivered.size(), static_cast<size_t>(kEvents));
  EXPECT_EQ(std::set<std::string>(delivered.begin(), delivered.end()).size(), static_cast<size_t>(kEvents));
}

}  // namespace
}  // namespace openbatch::store
