// The store contract (store/store_contract_fixture_for_test.h) of files, owners and secrets.
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

TEST_P(StoreContractTest, FilesRoundTripAndBelongToTheirOwner) {
  FileRecord f = file("file-a");
  f.expires_at = 5000;
  ASSERT_TRUE(store_->insert_file(f));
  auto got = store_->get_file("alice", "file-a");
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->filename, "file-a.jsonl");
  EXPECT_EQ(got->purpose, "batch");
  EXPECT_EQ(got->bytes, 10);
  EXPECT_EQ(got->expires_at, 5000);
  EXPECT_TRUE(store_->get_file("bob", "file-a").status().is_not_found());
  EXPECT_TRUE(store_->get_file("alice", "file-x").status().is_not_found());
  EXPECT_TRUE(store_->delete_file("bob", "file-a").is_not_found());
  EXPECT_TRUE(store_->delete_file("alice", "file-a"));
  EXPECT_TRUE(store_->get_file("alice", "file-a").status().is_not_found());
}

TEST_P(StoreContractTest, ListsFilesByPageOrderAndPurpose) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store_->insert_file(file("file-" + std::to_string(i))));
  ASSERT_TRUE(store_->insert_file(file("file-out", "alice", "batch_output")));
  ASSERT_TRUE(store_->insert_file(file("file-bob", "bob")));

  ListQuery q;
  q.limit = 2;
  auto page = store_->list_files("alice", q);
  ASSERT_TRUE(page.is_ok());
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0].id, "file-out");  // newest first
  EXPECT_EQ(page->items[1].id, "file-4");
  EXPECT_TRUE(page->has_more);

  q.after = "file-4";
  page = store_->list_files("alice", q);
  EXPECT_EQ(page->items[0].id, "file-3");
  EXPECT_EQ(page->items[1].id, "file-2");
  EXPECT_TRUE(page->has_more);

  q.after = "file-1";
  page = store_->list_files("alice", q);
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].id, "file-0");
  EXPECT_FALSE(page->has_more);

  ListQuery asc;
  asc.ascending = true;
  asc.purpose = "batch";
  asc.limit = 100;
  page = store_->list_files("alice", asc);
  ASSERT_EQ(page->items.size(), 5u);
  EXPECT_EQ(page->items.front().id, "file-0");
  EXPECT_EQ(page->items.back().id, "file-4");
  EXPECT_FALSE(page->has_more);

  ListQuery others;
  others.after = "file-bob";  // another owner's id is no cursor
  EXPECT_TRUE(store_->list_files("alice", others)->items.empty());
}

TEST_P(StoreContractTest, AFileInUseByARunningBatchCannotBeDeleted) {
  ASSERT_TRUE(store_->insert_file(file("file-in")));
  started_batch("batch_1", 2);
  Status s = store_->delete_file("alice", "file-in");
  EXPECT_TRUE(s.is_conflict());
  EXPECT_NE(s.message().find("batch_1"), std::string::npos);
  ASSERT_TRUE(store_->transition("batch_1", {BatchStatus::kInProgress}, BatchStatus::kCancelling, 3000));
  EXPECT_TRUE(store_->delete_file("alice", "file-in").is_conflict());
  ASSERT_TRUE(store_->finish_batch("batch_1", {BatchStatus::kCancelling}, BatchStatus::kCancelled,
                                   std::nullopt, std::nullopt, 3001));
  EXPECT_TRUE(store_->delete_file("alice", "file-in"));
}

TEST_P(StoreContractTest, OwnersChangeWithEverythingTheyOwnInOneStep) {
  ASSERT_TRUE(store_->insert_file(file("file-in", "old-a")));
  ASSERT_TRUE(store_->insert_file(file("file-out", "old-a", "batch_output")));
  ASSERT_TRUE(store_->insert_file(file("file-b", "old-b")));
  ASSERT_TRUE(store_->insert_file(file("file-c", "carol")));
  ASSERT_TRUE(store_->insert_batch(batch("batch_a", "file-in", "old-a")));
  ASSERT_TRUE(store_->change_owners({{"old-a", "new-a"}, {"old-b", "new-b"}, {"nobody", "new-n"}}));
  EXPECT_EQ(store_->list_files("new-a", {})->items.size(), 2u);
  EXPECT_TRUE(store_->get_batch("new-a", "batch_a").is_ok());
  EXPECT_TRUE(store_->get_batch("old-a", "batch_a").status().is_not_found());
  EXPECT_TRUE(store_->get_file("old-a", "file-in").status().is_not_found());
  EXPECT_TRUE(store_->get_file("new-b", "file-b").is_ok());
  EXPECT_TRUE(store_->get_file("carol", "file-c").is_ok());
  EXPECT_TRUE(store_->list_files("new-n", {})->items.empty());
  // Again (the next start): nothing of old-a is left to move.
  ASSERT_TRUE(store_->change_owners({{"old-a", "new-a"}}));
  EXPECT_EQ(store_->list_files("new-a", {})->items.size(), 2u);
}

TEST_P(StoreContractTest, StoredBytesCountEveryFileOfTheOwner) {
  EXPECT_EQ(*store_->stored_bytes("alice"), 0);
  FileRecord big = file("file-big");
  big.bytes = 5'000'000'000;  // past 32 bits
  ASSERT_TRUE(store_->insert_file(big));
  ASSERT_TRUE(store_->insert_file(file("file-out", "alice", "batch_output")));
  ASSERT_TRUE(store_->insert_file(file("file-bob", "bob")));
  EXPECT_EQ(*store_->stored_bytes("alice"), 5'000'000'010);
  ASSERT_TRUE(store_->delete_file("alice", "file-big"));
  EXPECT_EQ(*store_->stored_bytes("alice"), 10);
}

TEST_P(StoreContractTest, ASecretIsKeptOnceForEveryNode) {
  EXPECT_EQ(*store_->keep_secret("owner_ids", "first"), "first");
  auto other = open_again();
  EXPECT_EQ(*other->keep_secret("owner_ids", "second"), "first");
  EXPECT_EQ(*other->keep_secret("another", "third"), "third");
  // Many nodes asking at once for a secret none has yet all get the same one.
  std::vector<std::unique_ptr<Store>> nodes;
  for (int i = 0; i < 4; ++i) nodes.push_back(open_again());
  std::vector<std::string> got(nodes.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < nodes.size(); ++i) {
    threads.emplace_back([&, i] {
      auto s = nodes[i]->keep_secret("raced", "candidate-" + std::to_string(i));
      got[i] = s ? *s : "error: " + s.status().message();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, got[0]);
  EXPECT_EQ(got[0].rfind("candidate-", 0), 0u) << got[0];
}

TEST_P(StoreContractTest, SaysWhetherItIsExclusiveToOneProcess) {
  EXPECT_EQ(store_->exclusive(), GetParam() == "sqlite");
  EXPECT_EQ(open_again()->exclusive(), store_->exclusive());
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContractTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace openbatch::store
