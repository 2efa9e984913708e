// The fixture of the batch runner's tests (batch_runner_*_test.cpp): a BatchService and its runner on a
// fake engine and a fake clock, with the real SQLite store and blob directory in a temporary data dir.
// The clock moves only when a test steps it; the waits here are for the runner's threads to do their
// work, never for time to pass. Included by *_test.cpp files only.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "batch/batch_service.h"
#include "batch/fake_engine_for_test.h"
#include "common/fake_clock_for_test.h"
#include "common/temp_dir.h"

namespace openbatch::batch::runner_test {

using nlohmann::json;
using store::BatchRecord;
using store::BatchStatus;
using testing::FakeClock;
using testing::FakeEngine;

inline std::string request_line(const std::string& custom_id, const json& body_extra = json::object()) {
  json body = {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", custom_id}}}}};
  body.update(body_extra);
  return json{{"custom_id", custom_id}, {"method", "POST"}, {"url", "/v1/chat/completions"}, {"body", body}}
      .dump();
}

// n request lines with custom_ids prefix0..prefix{n-1}; each asks for its own custom_id as content.
inline std::string input_file(const std::string& prefix, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += request_line(prefix + std::to_string(i)) + "\n";
  return out;
}

// Whether pred becomes true within timeout (real time), looking every 5 ms: for what the runner's
// threads do, which no clock step decides.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

class BatchRunnerTest : public ::testing::Test {
 protected:
  // The runner's threads that wait on the clock: the request scheduler and the job thread.
  static constexpr size_t kRunnerThreads = 2;

  void open(engine::Engine& engine) {
    service_.reset();
    options_.data_dir = dir_.path();
    options_.clock = &clock_;
    // Results are stored as soon as the scheduler has them: the fake clock never reaches a flush
    // interval on its own.
    options_.flush_interval = std::chrono::milliseconds(0);
    auto s = BatchService::open(options_, engine);
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    service_ = std::move(s).value();
    service_->start();
    // The scheduler's first round (a renewal, a heartbeat of the engine's models and a poll) is done
    // before the test goes on: after it, the runner touches the engine only for work the test gives it,
    // so an engine that the test body holds may go before the service does.
    ASSERT_TRUE(clock_.wait_for_sleepers(kRunnerThreads)) << "the runner's threads did not go to sleep";
  }

  // Steps the clock by d once both of the runner's threads are asleep on it, so that neither reads the
  // time before the step and then sleeps past it.
  void advance_when_asleep(std::chrono::nanoseconds d) {
    ASSERT_TRUE(clock_.wait_for_sleepers(kRunnerThreads)) << "the runner's threads did not go to sleep";
    clock_.advance(d);
  }
  std::string upload(const std::string& content, const std::string& owner = "alice") {
    auto up = service_->begin_upload(owner, "input.jsonl");
    EXPECT_TRUE(up.is_ok());
    EXPECT_TRUE((*up)->append(content));
    auto rec = (*up)->finish("batch", std::nullopt);
    EXPECT_TRUE(rec.is_ok()) << rec.status().message();
    return rec->id;
  }

  BatchRecord create(const std::string& file_id, const std::string& owner = "alice") {
    auto b = service_->create_batch(
        owner,
        {{"input_file_id", file_id}, {"endpoint", "/v1/chat/completions"}, {"completion_window", "24h"}});
    EXPECT_TRUE(b.is_ok()) << b.status().message();
    EXPECT_EQ(b->status, BatchStatus::kValidating);
    return *b;
  }

  BatchRecord get(const std::string& id, const std::string& owner = "alice") {
    auto b = service_->get_batch(owner, id);
    EXPECT_TRUE(b.is_ok());
    return *b;
  }

  BatchRecord wait_status(const std::string& id, BatchStatus status) {
    BatchRecord b;
    bool reached = eventually([&] {
      b = get(id);
      return b.status == status;
    });
    EXPECT_TRUE(reached) << "status " << store::to_string(b.status) << ", wanted "
                         << store::to_string(status);
    return b;
  }

  void wait_completed_count(const std::string& id, int64_t n) {
    EXPECT_TRUE(eventually([&] { return get(id).request_counts.completed >= n; }));
  }

  std::vector<json> lines_of(const std::string& file_id, const std::string& owner = "alice") {
    std::vector<json> out;
    if (file_id.empty()) return out;
    auto reader = service_->open_file_content(owner, file_id);
    EXPECT_TRUE(reader.is_ok());
    std::string data((*reader)->size(), '\0');
    EXPECT_TRUE((*reader)->read_at(0, data.data(), data.size()).is_ok());
    size_t pos = 0;
    while (pos < data.size()) {
      size_t nl = data.find('\n', pos);
      EXPECT_NE(nl, std::string::npos) << "every line ends with a newline";
      out.push_back(json::parse(data.substr(pos, nl - pos)));
      pos = nl + 1;
    }
    return out;
  }

  // Every custom_id prefix0..prefix{n-1} is in exactly one of the batch's two files, once.
  void expect_each_line_once(const BatchRecord& b, const std::string& prefix, int n) {
    std::multiset<std::string> seen;
    for (const auto& l : lines_of(b.output_file_id)) seen.insert(l["custom_id"].get<std::string>());
    for (const auto& l : lines_of(b.error_file_id)) seen.insert(l["custom_id"].get<std::string>());
    EXPECT_EQ(seen.size(), static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) EXPECT_EQ(seen.count(prefix + std::to_string(i)), 1u) << prefix << i;
    EXPECT_EQ(b.request_counts.total, n);
    EXPECT_EQ(b.request_counts.completed + b.request_counts.failed, n);
  }

  TempDir dir_;
  FakeClock clock_;
  BatchServiceOptions options_;
  std::unique_ptr<BatchService> service_;
};

}  // namespace openbatch::batch::runner_test
