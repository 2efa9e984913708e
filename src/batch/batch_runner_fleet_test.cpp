// The batch runner in a fleet of nodes serving different models (batch/fleet_models.h): validation
// accepts the models the fleet serves or served, each node runs only the batches of its own models,
// a batch whose model no live node serves waits for one, and each model has its own in-flight budget.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "batch/batch_runner_fixture_for_test.h"
#include "blobs/blobs.h"
#include "store/sqlite_store.h"

namespace openbatch::batch {
namespace {

using namespace runner_test;  // NOLINT(google-build-using-namespace): the fixture's helpers

engine::ModelInfo model(const std::string& id, int parallel = 1) {
  engine::ModelInfo m;
  m.id = id;
  m.parallel = parallel;
  return m;
}

// n lines for model, custom_ids prefix0..prefix{n-1}.
std::string lines_for(const std::string& model_name, const std::string& prefix, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += request_line(prefix + std::to_string(i), {{"model", model_name}}) + "\n";
  return out;
}

// How many of names start with prefix.
size_t count_prefix(const std::vector<std::string>& names, const std::string& prefix) {
  return static_cast<size_t>(std::count_if(names.begin(), names.end(),
                                           [&](const std::string& n) { return n.rfind(prefix, 0) == 0; }));
}

class FleetRunnerTest : public BatchRunnerTest {
 protected:
  // Both nodes share one store and one blob store, as nodes on one PostgreSQL do.
  void share_store() {
    auto s = store::open_sqlite_store(dir_.path() + "/shared.sqlite3");
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    store_ = std::move(s).value();
    auto b = blobs::open_local_blob_store(dir_.path() + "/files");
    ASSERT_TRUE(b.is_ok()) << b.status().message();
    blobs_ = std::move(b).value();
    options_.store = store_;
    options_.blobs = blobs_;
  }

  std::shared_ptr<store::Store> store_;
  std::shared_ptr<blobs::BlobStore> blobs_;
};

TEST_F(FleetRunnerTest, EachNodeRunsOnlyItsModelsBatchesAndABatchWaitsForANodeOfItsModel) {
  share_store();
  // node-b served "other" once and is gone: its heartbeat is ten minutes old.
  ASSERT_TRUE(store_->record_node_models("node-b", {"other"}, "", clock_.now_millis() - 600'000, 0));
  FakeEngine engine_a(true);  // "tiny"
  options_.node_id = "node-a";
  open(engine_a);

  const BatchRecord waits = create(upload(lines_for("other", "o", 3)));
  const BatchRecord runs = create(upload(lines_for("tiny", "t", 3)));
  const BatchRecord unknown = create(upload(lines_for("nobody", "n", 1)));
  wait_status(runs.id, BatchStatus::kCompleted);
  const BatchRecord failed = wait_status(unknown.id, BatchStatus::kFailed);
  ASSERT_EQ(failed.errors.size(), 1u);
  EXPECT_EQ(failed.errors[0].code, "model_not_found");

  // The batch of "other" was accepted (the fleet served it) and waits: node-a ran none of it.
  BatchRecord b = get(waits.id);
  EXPECT_EQ(b.status, BatchStatus::kInProgress);
  EXPECT_EQ(b.model, "other");
  EXPECT_EQ(b.request_counts.completed + b.request_counts.failed, 0);
  EXPECT_EQ(count_prefix(engine_a.submissions(), "o"), 0u);
  EXPECT_EQ(count_prefix(engine_a.submissions(), "t"), 3u);
  auto why = service_->batch_waiting("alice", waits.id);
  ASSERT_TRUE(why.is_ok());
  EXPECT_EQ(why->second, "waiting for model other: no live node serves it");
  EXPECT_EQ(service_->batch_waiting("alice", runs.id)->second, "");

  // node-b comes back: it records its model at start and runs the batch.
  FakeEngine engine_b(true);
  engine_b.set_models({model("other")});
  BatchServiceOptions b_options = options_;
  b_options.node_id = "node-b";
  auto node_b = BatchService::open(b_options, engine_b);
  ASSERT_TRUE(node_b.is_ok()) << node_b.status().message();
  (*node_b)->start();
  const BatchRecord done = wait_status(waits.id, BatchStatus::kCompleted);
  EXPECT_EQ(done.request_counts.completed, 3);
  EXPECT_EQ(count_prefix(engine_b.submissions(), "o"), 3u);
  EXPECT_EQ(count_prefix(engine_b.submissions(), "t"), 0u);
  EXPECT_EQ(count_prefix(engine_a.submissions(), "o"), 0u);
  // Each request named its model, so that an engine of many models runs it on that one.
  for (const std::string& m : engine_b.submitted_models()) EXPECT_EQ(m, "other");

  auto models = service_->models();
  ASSERT_TRUE(models.is_ok());
  std::vector<std::string> live;
  for (const FleetModel& m : *models) {
    if (m.live) live.push_back(m.name + (m.served_here ? " here" : ""));
  }
  EXPECT_EQ(live, (std::vector<std::string>{"tiny here", "tiny-alias here", "other"}));
  (*node_b)->stop();
}

TEST_F(FleetRunnerTest, ABatchOfAModelServedElsewhereCountsItsPromptTokensByTheEstimate) {
  share_store();
  ASSERT_TRUE(store_->record_node_models("node-b", {"other"}, "", clock_.now_millis(), 0));
  FakeEngine engine(true);  // counts 10 tokens a prompt; the estimate of "o0" is 1
  options_.limits.max_enqueued_tokens = 5;
  open(engine);
  const BatchRecord elsewhere = create(upload(lines_for("other", "o", 3)));
  const BatchRecord here = create(upload(lines_for("tiny", "t", 3)));
  EXPECT_EQ(wait_status(here.id, BatchStatus::kFailed).errors.at(0).code, "token_limit_exceeded");
  wait_status(elsewhere.id, BatchStatus::kInProgress);
}

TEST_F(FleetRunnerTest, EachModelHasItsOwnInFlightBudget) {
  FakeEngine engine(false);                            // held until completed
  engine.set_models({model("tiny"), model("other")});  // each 4 x 1 in flight
  open(engine);
  const BatchRecord first = create(upload(lines_for("tiny", "t", 10)));
  ASSERT_TRUE(engine.wait_held(4));
  // The first model's batch has its four in flight and six waiting: the second model's batch still gets
  // its own four.
  const BatchRecord second = create(upload(lines_for("other", "o", 10)));
  ASSERT_TRUE(engine.wait_held(8));
  EXPECT_EQ(count_prefix(engine.submissions(), "t"), 4u);
  EXPECT_EQ(count_prefix(engine.submissions(), "o"), 4u);
  EXPECT_EQ(engine.max_in_flight_seen(), 8u);
  engine.complete(8);
  ASSERT_TRUE(engine.wait_submitted(16));
  engine.complete(8);
  ASSERT_TRUE(engine.wait_submitted(20));
  engine.complete(4);
  expect_each_line_once(wait_status(first.id, BatchStatus::kCompleted), "t", 10);
  expect_each_line_once(wait_status(second.id, BatchStatus::kCompleted), "o", 10);
}

}  // namespace
}  // namespace openbatch::batch
