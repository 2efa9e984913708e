#include "batch/fleet_models.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "batch/fake_engine_for_test.h"
#include "common/temp_dir.h"
#include "store/sqlite_store.h"

namespace openbatch::batch {
namespace {

using engine::ModelState;

store::BatchRecord in_progress(const std::string& model) {
  store::BatchRecord b;
  b.id = "batch_1";
  b.model = model;
  b.status = store::BatchStatus::kInProgress;
  return b;
}

TEST(FleetModels, SaysWhyABatchWaitsForItsModel) {
  const std::vector<FleetModel> models = {
      {"here", true, ModelState::kLoaded, std::nullopt, true},
      {"cold", true, ModelState::kUnloaded, std::nullopt, true},
      {"warming", true, ModelState::kLoading, 5, true},
      {"elsewhere", false, ModelState::kLoaded, 5, true},
      {"gone", false, ModelState::kLoaded, 5, false},
  };
  EXPECT_EQ(waiting_reason(in_progress("here"), models), "");
  EXPECT_EQ(waiting_reason(in_progress("elsewhere"), models), "");
  EXPECT_EQ(waiting_reason(in_progress("cold"), models), "waiting for model cold to load");
  EXPECT_EQ(waiting_reason(in_progress("warming"), models), "waiting for model warming to load");
  EXPECT_EQ(waiting_reason(in_progress("gone"), models), "waiting for model gone: no live node serves it");
  EXPECT_EQ(waiting_reason(in_progress("never"), models), "waiting for model never: no live node serves it");
  store::BatchRecord ended = in_progress("gone");
  ended.status = store::BatchStatus::kCompleted;
  EXPECT_EQ(waiting_reason(ended, models), "") << "only a running batch waits";
}

TEST(FleetModels, ThisNodesModelsFirstThenTheFleetsLiveWithinThreeLeasePeriods) {
  TempDir dir;
  auto opened = store::open_sqlite_store(dir.path() + "/openbatch.sqlite3");
  ASSERT_TRUE(opened.is_ok()) << opened.status().message();
  store::Store& store = **opened;
  testing::FakeEngine engine(true);  // "tiny", alias "tiny-alias"
  const std::chrono::milliseconds lease(1000);
  ASSERT_TRUE(record_served_models(store, engine, "node-a", "http://a:1", 10'000, lease));
  ASSERT_TRUE(store.record_node_models("node-b", {"b-model"}, "http://b:1", 7'000, 0));  // 3 s before: live
  ASSERT_TRUE(
      store.record_node_models("node-c", {"c-model"}, "http://c:1", 6'999, 0));  // just past the window
  auto models = fleet_models(store, engine, 10'000, lease);
  ASSERT_TRUE(models.is_ok());
  std::vector<std::string> seen;
  for (const FleetModel& m : *models) {
    seen.push_back(m.name + (m.served_here ? " here " : " ") + std::to_string(m.heartbeat_ms.value_or(-1)) +
                   (m.live ? " live" : ""));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"tiny here 10000 live", "tiny-alias here 10000 live",
                                            "b-model 7000 live", "c-model 6999"}));
  EXPECT_EQ(served_names(engine), (std::vector<std::string>{"tiny", "tiny-alias"}));
  // Where a model's live nodes are reached: b's, not c's, which is gone.
  EXPECT_EQ(*live_node_urls(store, "b-model", 10'000, lease), (std::vector<std::string>{"http://b:1"}));
  EXPECT_TRUE(live_node_urls(store, "c-model", 10'000, lease)->empty());
  EXPECT_EQ(*live_node_urls(store, "tiny-alias", 10'000, lease), (std::vector<std::string>{"http://a:1"}));
}

}  // namespace
}  // namespace openbatch::batch
