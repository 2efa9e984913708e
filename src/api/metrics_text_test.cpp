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

engine::ModelInfo model(std::string id, int parallel,
                        engine::ModelState state = engine::ModelState::kLoaded) {
  engine::ModelInfo m;
  m.id = std::move(id);
  m.parallel = parallel;
  m.state = state;
  return m;
}

void expect_lines(const std::string& text, std::initializer_list<const char*> lines) {
  for (const char* line : lines)
    EXPECT_NE(text.find(line), std::string::npos) << line << " not in:\n" << text;
}

TEST(MetricsTextTest, CountsUnfinishedBatchesAndTheirPendingRequests) {
  MetricsSnapshot s;
  s.models = {model("a \"quoted\"\\name", 16)};
  s.engine.by_priority[1].in_flight = 5;
  s.engine.by_priority[0].seconds = 1.5;
  s.unfinished_batches = {
      batch(store::BatchStatus::kInProgress, 100, 40, 2), batch(store::BatchStatus::kInProgress, 10, 0, 0),
      batch(store::BatchStatus::kValidating, 0, 0, 0), batch(store::BatchStatus::kCancelling, 50, 1, 0)};
  s.start_time_seconds = 1'700'000'000;
  expect_lines(
      metrics_text(s),
      {"openbatch_model_info{model=\"a \\\"quoted\\\"\\\\name\",state=\"loaded\"} 1\n",
       "openbatch_parallel 16\n", "openbatch_batches{status=\"in_progress\"} 2\n",
       "openbatch_batches{status=\"validating\"} 1\n", "openbatch_batches{status=\"cancelling\"} 1\n",
       "openbatch_batches{status=\"finalizing\"} 0\n", "openbatch_batch_requests_pending 68\n",
       "openbatch_generations_in_flight{priority=\"batch\"} 5\n",
       "openbatch_generation_seconds_total{priority=\"interactive\"} 1.5\n",
       "openbatch_start_time_seconds 1700000000\n"});
}

TEST(MetricsTextTest, ListsEveryModelWithItsStateAndCountsEachBesideTheTotals) {
  MetricsSnapshot s;
  s.models = {model("small", 4), model("large", 8, engine::ModelState::kUnloaded),
              model("vision", 2, engine::ModelState::kLoading)};
  engine::ModelMetrics small;
  small.model = "small";
  small.counts.by_priority[1].ok = 7;
  small.counts.by_priority[0].in_flight = 2;
  small.counts.prompt_tokens = 70;
  small.counts.cached_tokens = 30;
  engine::ModelMetrics large;
  large.model = "large";
  large.counts.by_priority[1].cancelled = 1;
  large.counts.completion_tokens = 12;
  large.counts.embedding_inputs = 3;
  s.engine.models = {small, large};
  s.engine.by_priority[1].ok = 7;
  s.engine.prompt_tokens = 70;
  const std::string text = metrics_text(s);
  expect_lines(
      text,
      {
          "openbatch_model_info{model=\"small\",state=\"loaded\"} 1\n",
          "openbatch_model_info{model=\"large\",state=\"unloaded\"} 1\n",
          "openbatch_model_info{model=\"vision\",state=\"loading\"} 1\n",
          "openbatch_model_parallel{model=\"large\"} 8\n",
          "openbatch_parallel 4\n",  // only "small" is loaded
          "# TYPE openbatch_model_generations_total counter\n",
          "openbatch_model_generations_total{model=\"small\",priority=\"batch\",outcome=\"ok\"} 7\n",
          "openbatch_model_generations_total{model=\"large\",priority=\"batch\",outcome=\"cancelled\"} 1\n",
          "openbatch_model_generations_in_flight{model=\"small\",priority=\"interactive\"} 2\n",
          "openbatch_model_prompt_tokens_total{model=\"small\"} 70\n",
          "openbatch_model_prompt_tokens_cached_total{model=\"small\"} 30\n",
          "openbatch_model_completion_tokens_total{model=\"large\"} 12\n",
          "openbatch_model_embedding_inputs_total{model=\"large\"} 3\n",
          "openbatch_generations_total{priority=\"batch\",outcome=\"ok\"} 7\n",
          "openbatch_prompt_tokens_total 70\n",
      });
  // The totals' families keep their label-free samples: no model label leaks into them.
  EXPECT_EQ(text.find("openbatch_prompt_tokens_total{"), std::string::npos);
  // No upstream servers: no upstream families.
  EXPECT_EQ(text.find("openbatch_upstream_"), std::string::npos);
}

TEST(MetricsTextTest, WritesAHistogramAsCumulativeBucketsThenSumAndCount) {
  MetricsSnapshot s;
  s.models = {model("m", 1)};
  engine::ModelMetrics m;
  m.model = "m";
  engine::LatencyHistogram& h = m.latency[0].first_token;
  // Observations: 0.003, 0.2, 0.2, 700 (above every bound).
  for (size_t b = 0; b < h.buckets.size(); ++b) {
    h.buckets[b] = engine::kLatencyBuckets[b] < 0.2 ? 1 : 3;
  }
  h.count = 4;
  h.sum = 700.403;
  s.engine.models = {m};
  const std::string text = metrics_text(s);
  const size_t at = text.find("# TYPE openbatch_time_to_first_token_seconds histogram\n");
  ASSERT_NE(at, std::string::npos) << text;
  const std::string labels = "model=\"m\",priority=\"interactive\"";
  std::string want = "# TYPE openbatch_time_to_first_token_seconds histogram\n";
  const char* le[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
                      "2.5",   "5",    "10",    "25",   "50",  "100",  "250", "600"};
  const int counts[] = {1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3};
  for (size_t b = 0; b < 16; ++b) {
    want += "openbatch_time_to_first_token_seconds_bucket{" + labels + ",le=\"" + le[b] + "\"} " +
            std::to_string(counts[b]) + "\n";
  }
  want += "openbatch_time_to_first_token_seconds_bucket{" + labels + ",le=\"+Inf\"} 4\n";
  want += "openbatch_time_to_first_token_seconds_sum{" + labels + "} 700.403\n";
  want += "openbatch_time_to_first_token_seconds_count{" + labels + "} 4\n";
  want += "openbatch_time_to_first_token_seconds_bucket{model=\"m\",priority=\"batch\",le=\"0.005\"} 0\n";
  EXPECT_EQ(text.substr(at, want.size()), want);
  expect_lines(
      text, {"# TYPE openbatch_queue_wait_seconds histogram\n",
             "openbatch_queue_wait_seconds_count{model=\"m\",priority=\"batch\"} 0\n",
             "# TYPE openbatch_generation_duration_seconds histogram\n",
             "openbatch_generation_duration_seconds_bucket{model=\"m\",priority=\"batch\",le=\"+Inf\"} 0\n"});
}

TEST(MetricsTextTest, LabelsEachUpstreamByModelAndEscapedUrl) {
  MetricsSnapshot s;
  s.models = {model("big", 32)};
  engine::ReplicaMetrics a;
  a.model = "big";
  a.url = "http://10.0.0.1:8000/v1";
  a.in_flight = 17;
  a.concurrency_limit = 24;
  a.requests = 1000;
  a.errors = 12;
  a.throttled = 10;
  a.prompt_tokens = 5000;
  a.cached_tokens = 4000;
  a.completion_tokens = 900;
  engine::ReplicaMetrics b;
  b.model = "big";
  b.url = "http://h/\"odd\"\\";
  b.healthy = false;
  s.replicas = {a, b};
  const std::string l = "{model=\"big\",upstream=\"http://10.0.0.1:8000/v1\"} ";
  const std::string text = metrics_text(s);
  for (const std::string& line : std::vector<std::string>{
           "# TYPE openbatch_upstream_healthy gauge\n",
           "openbatch_upstream_healthy" + l + "1\n",
           "openbatch_upstream_healthy{model=\"big\",upstream=\"http://h/\\\"odd\\\"\\\\\"} 0\n",
           "# TYPE openbatch_upstream_in_flight gauge\n",
           "openbatch_upstream_in_flight" + l + "17\n",
           "# TYPE openbatch_upstream_concurrency_limit gauge\n",
           "openbatch_upstream_concurrency_limit" + l + "24\n",
           "# TYPE openbatch_upstream_requests_total counter\n",
           "openbatch_upstream_requests_total" + l + "1000\n",
           "openbatch_upstream_errors_total" + l + "12\n",
           "openbatch_upstream_throttled_total" + l + "10\n",
           "openbatch_upstream_prompt_tokens_total" + l + "5000\n",
           "openbatch_upstream_prompt_tokens_cached_total" + l + "4000\n",
           "openbatch_upstream_completion_tokens_total" + l + "900\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << " not in:\n" << text;
  }
}

}  // namespace
}  // namespace openbatch::api
