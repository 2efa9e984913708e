// The store contract (store/store_contract_fixture_for_test.h) of the request queue: results, claims
// and leases.
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "postgres/connection.h"
#include "store/store_contract_fixture_for_test.h"

namespace openbatch::store {
namespace {

TEST_P(StoreContractTest, AResultIsStoredAndCountedOnlyOnce) {
  started_batch("batch_1", 4);
  ASSERT_TRUE(store_->record_results(
      {result("batch_1", 1, Outcome::kOutput, 10), result("batch_1", 2, Outcome::kError)}));
  // Line 1 again (a request that ran twice): ignored, counts unchanged.
  ASSERT_TRUE(store_->record_results(
      {result("batch_1", 1, Outcome::kError, 99), result("batch_1", 3, Outcome::kOutput, 5)}));
  auto b = store_->get_batch("alice", "batch_1");
  EXPECT_EQ(b->request_counts.completed, 2);
  EXPECT_EQ(b->request_counts.failed, 1);
  EXPECT_EQ(b->usage.input_tokens, 15);
  EXPECT_EQ(b->usage.output_tokens, 30);
  EXPECT_EQ(b->usage.cached_tokens, 3);

  auto pending = store_->pending_requests("batch_1");
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].line, 4);
  EXPECT_EQ((*pending)[0].custom_id, "c4");
  EXPECT_EQ((*pending)[0].offset, 300);
  EXPECT_EQ((*pending)[0].length, 99);

  auto rows = store_->stored_results("batch_1", 0, 2, kResultPageBytes);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].line, 1);
  EXPECT_EQ((*rows)[0].outcome, Outcome::kOutput);
  EXPECT_EQ((*rows)[0].result_line, "{\"line\":1}");
  EXPECT_EQ((*rows)[1].outcome, Outcome::kError);
  rows = store_->stored_results("batch_1", 2, 2, kResultPageBytes);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].line, 3);
}

TEST_P(StoreContractTest, AReadOfResultsStopsAtItsByteBudget) {
  started_batch("batch_1", 3);
  ASSERT_TRUE(
      store_->record_results({result("batch_1", 1, Outcome::kOutput), result("batch_1", 2, Outcome::kError),
                              result("batch_1", 3, Outcome::kOutput)}));
  // Each result line is {"line":N}: 10 bytes.
  auto rows = store_->stored_results("batch_1", 0, 10, 25);
  ASSERT_TRUE(rows.is_ok()) << rows.status().message();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[1].line, 2);
  rows = store_->stored_results("batch_1", 0, 10, 1);  // the first comes however large it is
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].line, 1);
  rows = store_->stored_results("batch_1", 1, 10, 30);
  ASSERT_EQ(rows->size(), 2u);
  auto finished = store_->finished_results("batch_1", 0, 10, 20);
  ASSERT_TRUE(finished.is_ok()) << finished.status().message();
  ASSERT_EQ(finished->size(), 2u);
  finished = store_->finished_results("batch_1", 2, 10, 1);
  ASSERT_EQ(finished->size(), 1u);
  EXPECT_EQ((*finished)[0].line, 3);
}

TEST_P(StoreContractTest, AClaimTakesAtMostItsLimitWhateverThePlan) {
  started_batch("batch_old", 2000);
  if (GetParam() == "postgres") {
    auto db = postgres::Database::open(url_, 1);
    ASSERT_TRUE(db.is_ok()) << db.status().message();
    Status s = (*db)->run([](postgres::Connection& c) -> Status {
      for (const char* sql : {"UPDATE batch_requests SET outcome=1", "ANALYZE"}) {
        auto r = c.exec(sql);
        if (!r) return r.status();
      }
      return Status::ok();
    });
    ASSERT_TRUE(s) << s.message();
  }
  started_batch("batch_1", 300);
  for (int i = 0; i < 3; ++i) {
    auto a = store_->claim_requests("batch_1", "node-a", 16, 1000, 31000);
    ASSERT_TRUE(a.is_ok()) << a.status().message();
    ASSERT_EQ(a->size(), 16u);
    EXPECT_EQ(a->front().line, 1 + 16 * i);
  }
  EXPECT_EQ(store_->request_tally("batch_1", 1000)->leased, 48);
}

TEST_P(StoreContractTest, NodesClaimDifferentRequestsUnderLeases) {
  started_batch("batch_1", 5);
  auto a = store_->claim_requests("batch_1", "node-a", 2, 1000, 31000);
  ASSERT_TRUE(a.is_ok()) << a.status().message();
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[0].line, 1);
  EXPECT_EQ((*a)[1].line, 2);
  EXPECT_EQ((*a)[0].custom_id, "c1");
  EXPECT_GT((*a)[0].lease_token, 0);
  std::unique_ptr<Store> other = open_again();
  auto b = other->claim_requests("batch_1", "node-b", 10, 1000, 31000);
  ASSERT_EQ(b->size(), 3u) << "what node-a holds is not claimed again";
  EXPECT_EQ((*b)[0].line, 3);
  EXPECT_TRUE(store_->claim_requests("batch_1", "node-c", 10, 1000, 31000)->empty());
  auto tally = store_->request_tally("batch_1", 1000);
  EXPECT_EQ(tally->unfinished, 5);
  EXPECT_EQ(tally->leased, 5);
  EXPECT_EQ(store_->request_tally("batch_1", 31000)->leased, 0) << "lapsed at the deadline";
}

TEST_P(StoreContractTest, ALapsedLeaseGoesToAnotherNodeAndFencesTheFirst) {
  started_batch("batch_1", 2);
  auto first = store_->claim_requests("batch_1", "node-a", 1, 1000, 2000);
  ASSERT_EQ(first->size(), 1u);
  EXPECT_TRUE(store_->claim_requests("batch_1", "node-b", 1, 1500, 2500)->at(0).line == 2);
  // node-a stops renewing; at 2000 its lease has lapsed and node-b takes line 1.
  auto second = store_->claim_requests("batch_1", "node-b", 5, 2000, 9000);
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].line, 1);
  EXPECT_NE((*second)[0].lease_token, (*first)[0].lease_token);
  // The late result of node-a is dropped; node-b's is stored and counted, once.
  RequestResult late = result("batch_1", 1, Outcome::kOutput, 7);
  late.lease_token = (*first)[0].lease_token;
  ASSERT_TRUE(store_->record_results({late}));
  EXPECT_EQ(store_->get_batch("alice", "batch_1")->request_counts.completed, 0);
  RequestResult current = result("batch_1", 1, Outcome::kOutput, 3);
  current.lease_token = (*second)[0].lease_token;
  ASSERT_TRUE(store_->record_results({current, current}));
  auto b = store_->get_batch("alice", "batch_1");
  EXPECT_EQ(b->request_counts.completed, 1);
  EXPECT_EQ(b->usage.input_tokens, 3);
  EXPECT_EQ(store_->request_tally("batch_1", 2000)->unfinished, 1);
}

TEST_P(StoreContractTest, RenewedLeasesHoldAndReleasedOnesAreFreeAtOnce) {
  started_batch("batch_1", 3);
  ASSERT_EQ(store_->claim_requests("batch_1", "node-a", 3, 1000, 2000)->size(), 3u);
  ASSERT_TRUE(store_->lease_batch("batch_1", "node-a", 1000, 2000).value());
  ASSERT_TRUE(store_->renew_leases("node-a", 60000));
  EXPECT_TRUE(store_->claim_requests("batch_1", "node-b", 3, 5000, 9000)->empty()) << "renewed until 60000";
  EXPECT_FALSE(store_->lease_batch("batch_1", "node-b", 5000, 9000).value());
  ASSERT_TRUE(store_->release_batch("batch_1", "node-a"));
  EXPECT_EQ(store_->request_tally("batch_1", 5000)->leased, 0);
  EXPECT_TRUE(store_->lease_batch("batch_1", "node-b", 5000, 9000).value());
  EXPECT_EQ(store_->claim_requests("batch_1", "node-b", 3, 5000, 9000)->size(), 3u);
  ASSERT_TRUE(store_->release_leases("node-b"));
  EXPECT_EQ(store_->claim_requests("batch_1", "node-c", 3, 5000, 9000)->size(), 3u);
  ASSERT_TRUE(store_->release_leases(""));
  EXPECT_EQ(store_->request_tally("batch_1", 5000)->leased, 0);
  EXPECT_TRUE(store_->lease_batch("batch_nope", "node-a", 1, 2).status().is_not_found());
}

TEST_P(StoreContractTest, NothingIsClaimedUnlessTheBatchIsInProgress) {
  started_batch("batch_1", 2);
  ASSERT_TRUE(store_->transition("batch_1", {BatchStatus::kInProgress}, BatchStatus::kCancelling, 5));
  EXPECT_TRUE(store_->claim_requests("batch_1", "node-a", 5, 1000, 2000)->empty());
  // The finalizer's lines for requests that never ran carry no lease: they are stored.
  RequestResult unexecuted = result("batch_1", 1, Outcome::kError);
  ASSERT_TRUE(store_->record_results({unexecuted}));
  EXPECT_EQ(store_->get_batch("alice", "batch_1")->request_counts.failed, 1);
}

TEST_P(StoreContractTest, ManyNodesClaimingAtOnceGetEachRequestOnce) {
  constexpr int kRequests = 400;
  started_batch("batch_1", kRequests);
  std::vector<std::thread> nodes;
  std::vector<std::vector<int64_t>> got(4);
  for (int n = 0; n < 4; ++n) {
    nodes.emplace_back([&, n] {
      std::unique_ptr<Store> s = open_again();
      for (;;) {
        auto c = s->claim_requests("batch_1", "node-" + std::to_string(n), 7, 1000, 60000);
        if (!c.is_ok()) continue;  // SQLite may be busy for a moment
        if (c->empty()) return;
        for (const auto& r : *c) got[n].push_back(r.line);
      }
    });
  }
  for (auto& t : nodes) t.join();
  std::multiset<int64_t> all;
  for (const auto& g : got) all.insert(g.begin(), g.end());
  ASSERT_EQ(all.size(), static_cast<size_t>(kRequests));
  for (int i = 1; i <= kRequests; ++i) EXPECT_EQ(all.count(i), 1u) << i;
}

TEST_P(StoreContractTest, FinishedResultsComeInTheOrderTheyWereStored) {
  started_batch("batch_1", 5);
  ASSERT_TRUE(store_->record_results(
      {result("batch_1", 4, Outcome::kOutput), result("batch_1", 2, Outcome::kError)}));
  ASSERT_TRUE(store_->record_results({result("batch_1", 4, Outcome::kError)}));  // a second result: ignored
  ASSERT_TRUE(store_->record_results({result("batch_1", 1, Outcome::kOutput)}));
  auto rows = store_->finished_results("batch_1", 0, 10, kResultPageBytes);
  ASSERT_TRUE(rows.is_ok()) << rows.status().message();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].line, 4);
  EXPECT_EQ((*rows)[0].finished, 1);
  EXPECT_EQ((*rows)[0].outcome, Outcome::kOutput);
  EXPECT_EQ((*rows)[1].line, 2);
  EXPECT_EQ((*rows)[1].finished, 2);
  EXPECT_EQ((*rows)[2].line, 1);
  EXPECT_EQ((*rows)[2].finished, 3);
  // The cursor: what came after the last one seen, a page at a time.
  rows = store_->finished_results("batch_1", 1, 1, kResultPageBytes);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].line, 2);
  EXPECT_TRUE(store_->finished_results("batch_1", 3, 10, kResultPageBytes)->empty());
  ASSERT_TRUE(store_->record_results({result("batch_1", 5, Outcome::kOutput)}));
  rows = store_->finished_results("batch_1", 3, 10, kResultPageBytes);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].line, 5);
  EXPECT_EQ((*rows)[0].finished, 4);
}

// Nodes storing results of one batch at once: the places are 1..n, each once, and a reader following
// the cursor meanwhile never skips one (it would if a later place committed before an earlier one).

TEST_P(StoreContractTest, ResultsStoredByManyNodesAtOnceGetEachPlaceOnce) {
  constexpr int kRequests = 120;
  started_batch("batch_1", kRequests);
  std::vector<std::thread> nodes;
  for (int n = 0; n < 3; ++n) {
    nodes.emplace_back([&, n] {
      std::unique_ptr<Store> s = open_again();
      for (int line = 1 + n; line <= kRequests; line += 3) {
        while (!s->record_results({result("batch_1", line, Outcome::kOutput)})) {
        }  // SQLite may be busy for a moment
      }
    });
  }
  std::set<int64_t> seen_lines;
  int64_t cursor = 0;
  std::unique_ptr<Store> reader = open_again();
  while (static_cast<int>(seen_lines.size()) < kRequests) {
    auto rows = reader->finished_results("batch_1", cursor, 7, kResultPageBytes);
    if (!rows.is_ok()) continue;
    for (const auto& r : *rows) {
      EXPECT_EQ(r.finished, cursor + 1);
      cursor = r.finished;
      EXPECT_TRUE(seen_lines.insert(r.line).second) << r.line;
    }
  }
  for (auto& t : nodes) t.join();
  EXPECT_EQ(cursor, kRequests);
}

}  // namespace
}  // namespace openbatch::store
