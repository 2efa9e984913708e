#include "api/metrics_text.h"

#include <gtest/gtest.h>

namespace openbatch::api {
namespace {

store::BatchRecord batch(store::BatchStatus status, int64_t total, int64_t completed, int64_t failed) {
  store::BatchRecord b;
  b.status = status;
  b.request_counts = {total, completed, failed};
  return b;
}

TEST(MetricsTextTest, CountsUnfinishedBatchesAndTheirPendingRequests) {
  engine::ModelInfo model;
  model.id = "a \"quoted\"\\name";
  model.parallel = 16;
  engine::EngineMetrics m;
  m.by_priority[1].in_flight = 5;
  m.by_priority[0].seconds = 1.5;
  const std::string text = metrics_text(
      model, m,
      {batch(store::BatchStatus::kInProgress, 100, 40, 2), batch(store::BatchStatus::kInProgress, 10, 0, 0),
       batch(store::BatchStatus::kValidating, 0, 0, 0), batch(store::BatchStatus::kCancelling, 50, 1, 0)},
      1'700'000'000);
  for (const char* line :
       {"openbatch_model_info{model=\"a \\\"quoted\\\"\\\\name\"} 1\n",
        "openbatch_batches{status=\"in_progress\"} 2\n", "openbatch_batches{status=\"validating\"} 1\n",
        "openbatch_batches{status=\"cancelling\"} 1\n", "openbatch_batches{status=\"finalizing\"} 0\n",
        "openbatch_batch_requests_pending 68\n", "openbatch_generations_in_flight{priority=\"batch\"} 5\n",
        "openbatch_generation_seconds_total{priority=\"interactive\"} 1.5\n",
        "openbatch_start_time_seconds 1700000000\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << " not in:\n" << text;
  }
}

}  // namespace
}  // namespace openbatch::api
