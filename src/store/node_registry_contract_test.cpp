// The store contract (store/store_contract_fixture_for_test.h) of the models each node serves.
#include <gtest/gtest.h>

#include <barrier>
#include <string>
#include <thread>
#include <vector>

#include "store/store_contract_fixture_for_test.h"

namespace openbatch::store {
namespace {

// The served models as "name@heartbeat", in order.
std::vector<std::string> served(Store& store) {
  std::vector<std::string> out;
  auto models = store.served_models();
  EXPECT_TRUE(models.is_ok()) << models.status().message();
  if (models) {
    for (const ServedModel& m : *models) out.push_back(m.name + "@" + std::to_string(m.heartbeat_ms));
  }
  return out;
}

TEST_P(StoreContractTest, RecordsTheModelsOfEachNodeWithTheLatestHeartbeat) {
  EXPECT_TRUE(served(*store_).empty());
  ASSERT_TRUE(store_->record_node_models("node-a", {"model-a", "alias-a"}, "", 100, 0));
  auto other = open_again();  // another node on the same database
  ASSERT_TRUE(other->record_node_models("node-b", {"model-b", "model-a"}, "", 150, 0));
  EXPECT_EQ(served(*store_), (std::vector<std::string>{"alias-a@100", "model-a@150", "model-b@150"}));
  // A heartbeat moves the node's names on; the latest of the nodes serving a name is its heartbeat.
  ASSERT_TRUE(store_->record_node_models("node-a", {"model-a", "alias-a"}, "", 200, 0));
  EXPECT_EQ(served(*other), (std::vector<std::string>{"alias-a@200", "model-a@200", "model-b@150"}));
}

TEST_P(StoreContractTest, ANameANodeNoLongerServesGoesUnlessNoOtherRowRemembersIt) {
  ASSERT_TRUE(store_->record_node_models("node-a", {"model-a", "model-x"}, "", 100, 0));
  ASSERT_TRUE(store_->record_node_models("node-b", {"model-a"}, "", 300, 0));
  // node-a restarts serving model-c only: its model-a row goes (node-b's stays); model-x, which no
  // other node served, is remembered with its last heartbeat.
  ASSERT_TRUE(store_->record_node_models("node-a", {"model-c"}, "", 400, 0));
  EXPECT_EQ(served(*store_), (std::vector<std::string>{"model-a@300", "model-c@400", "model-x@100"}));
  reopen();
  EXPECT_EQ(served(*store_), (std::vector<std::string>{"model-a@300", "model-c@400", "model-x@100"}));
}

TEST_P(StoreContractTest, OldRowsArePrunedWhereANewerRowOfTheNameExists) {
  // Nodes that came and went (a new random node id each start): one row a name is left of them.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        store_->record_node_models("node-" + std::to_string(i), {"model-a", "model-b"}, "", 100 + i, 0));
  }
  ASSERT_TRUE(store_->record_node_models("node-9", {"model-a"}, "", 1000, 500));
  EXPECT_EQ(served(*store_), (std::vector<std::string>{"model-a@1000", "model-b@104"}));
  // Rows newer than the cutoff stay (a node that heartbeats less often than another is still live).
  ASSERT_TRUE(store_->record_node_models("node-8", {"model-a"}, "", 900, 500));
  ASSERT_TRUE(store_->record_node_models("node-9", {"model-a"}, "", 1100, 500));
  ASSERT_TRUE(store_->record_node_models("node-9", {}, "", 1200, 500));  // node-9 serves nothing now
  EXPECT_EQ(served(*store_), (std::vector<std::string>{"model-a@900", "model-b@104"}));
}

TEST_P(StoreContractTest, NodeUrlsAreTheLiveNodesServingANameLatestFirst) {
  ASSERT_TRUE(store_->record_node_models("node-a", {"model-a", "alias-a"}, "http://10.0.0.1:8080", 100, 0));
  ASSERT_TRUE(store_->record_node_models("node-b", {"model-a"}, "http://10.0.0.2:8080", 300, 0));
  ASSERT_TRUE(store_->record_node_models("node-c", {"model-a"}, "", 400, 0));  // reached by nobody
  ASSERT_TRUE(store_->record_node_models("node-d", {"model-d"}, "http://10.0.0.4:8080", 400, 0));
  auto urls = store_->node_urls("model-a", 100);
  ASSERT_TRUE(urls.is_ok()) << urls.status().message();
  EXPECT_EQ(*urls, (std::vector<std::string>{"http://10.0.0.2:8080", "http://10.0.0.1:8080"}));
  EXPECT_EQ(*store_->node_urls("alias-a", 100), (std::vector<std::string>{"http://10.0.0.1:8080"}));
  EXPECT_EQ(*store_->node_urls("model-a", 101),
            (std::vector<std::string>{"http://10.0.0.2:8080"}));  // a's is old
  EXPECT_TRUE(store_->node_urls("model-x", 0)->empty());
  // A node that moves records its new address with its next heartbeat.
  ASSERT_TRUE(store_->record_node_models("node-a", {"model-a"}, "http://10.0.0.9:8080", 500, 0));
  EXPECT_EQ(*store_->node_urls("model-a", 0),
            (std::vector<std::string>{"http://10.0.0.9:8080", "http://10.0.0.2:8080"}));
}

// Two nodes that stop serving the same name at the same moment: one of them must keep the row, or the
// fleet would forget the name was ever served. Each round both nodes serve the name, then both drop it
// at once, from their own connections.
TEST_P(StoreContractTest, TwoNodesDroppingANameAtOnceLeaveItRemembered) {
  auto a = open_again();
  auto b = open_again();
  constexpr int kRounds = 60;
  std::barrier sync(2);
  std::vector<std::string> lost;
  auto node = [&](Store& store, const std::string& id, bool record_losses) {
    for (int round = 0; round < kRounds; ++round) {
      const int64_t t = 1000 + 10 * round;
      EXPECT_TRUE(store.record_node_models(id, {"model-m", "model-" + id}, "", t, 0));
      sync.arrive_and_wait();
      EXPECT_TRUE(store.record_node_models(id, {"model-" + id}, "", t + 1, 0));
      sync.arrive_and_wait();
      if (record_losses) {
        bool remembered = false;
        for (const std::string& m : served(store)) remembered = remembered || m.rfind("model-m@", 0) == 0;
        if (!remembered) lost.push_back("round " + std::to_string(round));
      }
      sync.arrive_and_wait();
    }
  };
  std::thread other([&] { node(*b, "b", false); });
  node(*a, "a", true);
  other.join();
  EXPECT_TRUE(lost.empty()) << "model-m forgotten in " << lost.size() << " of " << kRounds
                            << " rounds, first " << lost.front();
}

}  // namespace
}  // namespace openbatch::store
