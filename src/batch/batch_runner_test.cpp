// The batch lifecycle end to end below HTTP: BatchService and its runner on a fake engine and a fake
// clock, with the real SQLite store and blob directory in a temporary data dir.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "batch/batch_service.h"
#include "batch/fake_engine_for_test.h"
#include "blobs/blobs.h"
#include "common/files_for_test.h"
#include "common/http_status.h"
#include "common/temp_dir.h"
#include "store/sqlite_store.h"

namespace openbatch::batch {
namespace {

using nlohmann::json;
using store::BatchRecord;
using store::BatchStatus;
using testing::FakeClock;
using testing::FakeEngine;

std::string request_line(const std::string& custom_id, const json& body_extra = json::object()) {
  json body = {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", custom_id}}}}};
  body.update(body_extra);
  return json{{"custom_id", custom_id}, {"method", "POST"}, {"url", "/v1/chat/completions"}, {"body", body}}
      .dump();
}

// n request lines with custom_ids prefix0..prefix{n-1}; each asks for its own custom_id as content.
std::string input_file(const std::string& prefix, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += request_line(prefix + std::to_string(i)) + "\n";
  return out;
}

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
  void open(engine::Engine& engine) {
    service_.reset();
    options_.data_dir = dir_.path();
    options_.clock = &clock_;
    options_.flush_interval = std::chrono::milliseconds(5);
    auto s = BatchService::open(options_, engine);
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    service_ = std::move(s).value();
    service_->start();
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

TEST_F(BatchRunnerTest, RunsEveryRequestAndWritesEachLineOnce) {
  FakeEngine engine(/*auto_complete=*/true);
  open(engine);
  std::string input = input_file("t", 200);
  // Two requests fail when run: a body the chat endpoint rejects, and a prompt the engine rejects.
  input += request_line("bad-max-tokens", {{"max_tokens", -1}}) + "\n";
  input += request_line("TOO_LONG") + "\n";
  BatchRecord b = create(upload(input));
  b = wait_status(b.id, BatchStatus::kCompleted);

  EXPECT_EQ(b.model, "tiny");
  EXPECT_EQ(b.request_counts.total, 202);
  EXPECT_EQ(b.request_counts.completed, 200);
  EXPECT_EQ(b.request_counts.failed, 2);
  EXPECT_EQ(b.usage.input_tokens, 200 * 10);
  EXPECT_EQ(b.usage.output_tokens, 200 * 5);
  EXPECT_EQ(b.usage.cached_tokens, 200 * 3);
  EXPECT_TRUE(b.in_progress_at && b.finalizing_at && b.completed_at);
  EXPECT_LE(engine.max_in_flight_seen(), 8u);  // 4 x parallel
  EXPECT_EQ(engine.non_batch_priority(), 0);
  EXPECT_EQ(engine.submissions().size(), 201u);  // the bad body never reaches the engine

  auto out = lines_of(b.output_file_id);
  ASSERT_EQ(out.size(), 200u);
  for (const auto& l : out) {
    EXPECT_EQ(l["id"].get<std::string>().rfind("batch_req_", 0), 0u);
    EXPECT_EQ(l["response"]["status_code"], 200);
    EXPECT_FALSE(l["response"]["request_id"].get<std::string>().empty());
    EXPECT_EQ(l["response"]["body"]["object"], "chat.completion");
    EXPECT_EQ(l["response"]["body"]["choices"][0]["message"]["content"],
              "ok: " + l["custom_id"].get<std::string>());
    EXPECT_TRUE(l["error"].is_null());
  }
  auto errors = lines_of(b.error_file_id);
  ASSERT_EQ(errors.size(), 2u);
  for (const auto& l : errors) {
    EXPECT_EQ(l["response"]["status_code"], 400);
    EXPECT_EQ(l["response"]["body"]["error"]["type"], "invalid_request_error");
    EXPECT_TRUE(l["error"].is_null());
  }
  EXPECT_EQ(errors[0]["custom_id"], "bad-max-tokens");
  EXPECT_EQ(errors[0]["response"]["body"]["error"]["param"], "max_tokens");
  EXPECT_EQ(errors[1]["custom_id"], "TOO_LONG");
  EXPECT_EQ(errors[1]["response"]["body"]["error"]["code"], "context_length_exceeded");

  auto file = service_->get_file("alice", b.output_file_id);
  ASSERT_TRUE(file.is_ok());
  EXPECT_EQ(file->purpose, "batch_output");
  EXPECT_EQ(file->filename, b.id + "_output.jsonl");
  EXPECT_EQ(service_->get_file("alice", b.error_file_id)->filename, b.id + "_error.jsonl");
}

TEST_F(BatchRunnerTest, NoErrorFileWhenNothingFails) {
  FakeEngine engine(true);
  open(engine);
  BatchRecord b = wait_status(create(upload(input_file("t", 3))).id, BatchStatus::kCompleted);
  EXPECT_FALSE(b.output_file_id.empty());
  EXPECT_TRUE(b.error_file_id.empty());
}

TEST_F(BatchRunnerTest, FailsValidationNamingEachBadLine) {
  FakeEngine engine(true);
  open(engine);
  BatchRecord b =
      create(upload(request_line("a") + "\n{\"method\":\"POST\",\"body\":{}}\n" + request_line("a") + "\n"));
  b = wait_status(b.id, BatchStatus::kFailed);
  ASSERT_EQ(b.errors.size(), 2u);
  EXPECT_EQ(b.errors[0].code, "missing_required_parameter");
  EXPECT_EQ(b.errors[0].line, 2);
  EXPECT_EQ(b.errors[1].code, "duplicate_custom_id");
  EXPECT_EQ(b.errors[1].line, 3);
  EXPECT_TRUE(b.failed_at.has_value());
  EXPECT_TRUE(b.output_file_id.empty());
  EXPECT_TRUE(engine.submissions().empty());
}

TEST_F(BatchRunnerTest, FailsValidationWhenTheInputFileIsMissing) {
  FakeEngine engine(true);
  open(engine);
  BatchRecord b = wait_status(create("file-doesnotexist").id, BatchStatus::kFailed);
  ASSERT_EQ(b.errors.size(), 1u);
  EXPECT_EQ(b.errors[0].code, "invalid_request");
  EXPECT_EQ(b.errors[0].param, "file_id");
  EXPECT_EQ(b.errors[0].message,
            "Cannot find file file-doesnotexist, or this API key does not have access to it.");  // OpenAI's
  EXPECT_FALSE(b.errors[0].line.has_value());
}

TEST_F(BatchRunnerTest, FailsValidationOverTheConfiguredLimits) {
  FakeEngine engine(true);
  options_.limits.max_batch_requests = 3;
  open(engine);
  BatchRecord b = wait_status(create(upload(input_file("t", 4))).id, BatchStatus::kFailed);
  ASSERT_EQ(b.errors.size(), 1u);
  EXPECT_EQ(b.errors[0].code, "too_many_requests");
  EXPECT_EQ(b.errors[0].line, 4);
}

TEST_F(BatchRunnerTest, ABatchPastItsOwnersEnqueuedTokenLimitFailsUntilEarlierOnesEnd) {
  FakeEngine engine(/*auto_complete=*/false);  // every prompt counts 10 tokens
  options_.limits.max_enqueued_tokens = 25;    // below 1,000: no thousands separator in the message
  open(engine);
  BatchRecord first = create(upload(input_file("a", 2)));  // 20 tokens: fits
  ASSERT_TRUE(engine.wait_held(2));
  EXPECT_EQ(get(first.id).status, BatchStatus::kInProgress);

  BatchRecord second = wait_status(create(upload(input_file("b", 1))).id, BatchStatus::kFailed);
  ASSERT_EQ(second.errors.size(), 1u);
  EXPECT_EQ(second.errors[0].code, "token_limit_exceeded");
  EXPECT_EQ(second.errors[0].message,
            "Enqueued token limit reached for tiny. Limit: 25 enqueued tokens. Please try again once some "
            "in_progress batches have been completed.");
  EXPECT_EQ(second.errors[0].param, "");
  EXPECT_FALSE(second.errors[0].line.has_value());
  EXPECT_TRUE(second.failed_at.has_value());

  // Another owner has a limit of its own.
  BatchRecord other = create(upload(input_file("c", 2), "bob"), "bob");
  EXPECT_TRUE(eventually([&] { return get(other.id, "bob").status == BatchStatus::kInProgress; }));

  ASSERT_TRUE(engine.wait_held(4));
  engine.complete(4);
  wait_status(first.id, BatchStatus::kCompleted);
  EXPECT_TRUE(eventually([&] { return get(other.id, "bob").status == BatchStatus::kCompleted; }));
  // The first one's tokens are free again; a batch past the limit on its own never fits.
  BatchRecord third = create(upload(input_file("d", 2)));
  ASSERT_TRUE(engine.wait_held(2));
  EXPECT_EQ(get(third.id).status, BatchStatus::kInProgress);
  const std::string alone = create(upload(input_file("e", 3), "carol"), "carol").id;
  EXPECT_TRUE(eventually([&] { return get(alone, "carol").status == BatchStatus::kFailed; }));
  EXPECT_EQ(get(alone, "carol").errors.at(0).code, "token_limit_exceeded");
  engine.complete(2);
  wait_status(third.id, BatchStatus::kCompleted);
}

TEST_F(BatchRunnerTest, ALargeBatchsPromptTokensAreCountedWhole) {
  FakeEngine engine(/*auto_complete=*/true);  // 10 tokens a line
  options_.limits.max_enqueued_tokens = 2999;
  open(engine);
  // 300 lines are counted on several threads (where there are cores): together exactly 3,000.
  BatchRecord over = wait_status(create(upload(input_file("a", 300))).id, BatchStatus::kFailed);
  EXPECT_EQ(over.errors.at(0).code, "token_limit_exceeded");
  EXPECT_NE(over.errors.at(0).message.find("Limit: 2,999 enqueued tokens."), std::string::npos);
  EXPECT_TRUE(engine.submissions().empty());
  options_.limits.max_enqueued_tokens = 3000;
  open(engine);
  wait_status(create(upload(input_file("b", 300))).id, BatchStatus::kCompleted);
}

TEST_F(BatchRunnerTest, RejectsBadCreateParameters) {
  FakeEngine engine(true);
  open(engine);
  const std::string file = upload(input_file("t", 1));
  json base = {{"input_file_id", file}, {"endpoint", "/v1/chat/completions"}, {"completion_window", "24h"}};
  json many = json::object();
  for (int i = 0; i < 17; ++i) many["k" + std::to_string(i)] = "v";
  struct Case {
    json patch;
    int http_status;
    std::string code, param;
  } cases[] = {
      {{{"endpoint", "/v1/embeddingz"}}, 400, "invalid_value", "endpoint"},
      {{{"completion_window", "48h"}}, 400, "invalid_value", "completion_window"},
      {{{"metadata", {{"k", 1}}}}, 400, "invalid_type", "metadata.k"},
      {{{"metadata", many}}, 400, "object_above_max_properties", "metadata"},
      {{{"input_file_id", nullptr}}, 400, "missing_required_parameter", "input_file_id"},
      {{{"endpoint", 3}}, 400, "invalid_type", "endpoint"},
      {{{"output_expires_after", {{"anchor", "created_at"}, {"seconds", 10}}}},
       400,
       "invalid_value",
       "output_expires_after.seconds"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.patch.dump());
    json body = base;
    body.merge_patch(c.patch);
    if (c.patch.contains("input_file_id")) body.erase("input_file_id");
    auto r = service_->create_batch("alice", body);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(http_status_of(r.status()), c.http_status);
    EXPECT_EQ(r.status().code(), c.code);
    EXPECT_EQ(r.status().param(), c.param);
  }
  json ok = base;
  ok["metadata"] = {{"project", "x"}};
  ok["output_expires_after"] = {{"anchor", "created_at"}, {"seconds", 3600}};
  auto b = service_->create_batch("alice", ok);
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(b->metadata["project"], "x");
  EXPECT_EQ(b->expires_at, b->created_at + 24 * 3600);
  BatchRecord done = wait_status(b->id, BatchStatus::kCompleted);
  EXPECT_EQ(service_->get_file("alice", done.output_file_id)->expires_at, done.completed_at.value() + 3600);

  auto cancel = service_->cancel_batch("alice", b->id);
  ASSERT_FALSE(cancel.is_ok());
  EXPECT_EQ(http_status_of(cancel.status()), 409);
  EXPECT_EQ(cancel.status().message(), "Cannot cancel a batch with status 'completed'.");
  EXPECT_EQ(http_status_of(service_->get_batch("alice", "batch_nope").status()), 404);
}

TEST_F(BatchRunnerTest, CancelStopsRunningRequestsAndKeepsFinishedOnes) {
  FakeEngine engine(/*auto_complete=*/false);
  options_.max_in_flight = 4;
  open(engine);
  BatchRecord b = create(upload(input_file("t", 20)));
  ASSERT_TRUE(engine.wait_held(4));
  engine.complete(2);
  wait_completed_count(b.id, 2);
  ASSERT_TRUE(engine.wait_held(4));

  auto cancelling = service_->cancel_batch("alice", b.id);
  ASSERT_TRUE(cancelling.is_ok());
  EXPECT_EQ(cancelling->status, BatchStatus::kCancelling);
  EXPECT_TRUE(cancelling->cancelling_at.has_value());
  b = wait_status(b.id, BatchStatus::kCancelled);
  EXPECT_EQ(engine.held(), 0u);
  EXPECT_EQ(engine.cancelled(), 4);  // the running ones were stopped, not waited for
  EXPECT_EQ(engine.submissions().size(), 6u);
  EXPECT_TRUE(b.cancelled_at.has_value());
  EXPECT_EQ(b.request_counts.completed, 2);
  EXPECT_EQ(b.request_counts.failed, 18);
  expect_each_line_once(b, "t", 20);
  for (const auto& l : lines_of(b.error_file_id)) {
    EXPECT_TRUE(l["response"].is_null());
    EXPECT_EQ(l["error"]["code"], "batch_cancelled");
  }
  EXPECT_EQ(http_status_of(service_->cancel_batch("alice", b.id).status()), 409);
}

TEST_F(BatchRunnerTest, SamplesProgressWhenItStartsAsResultsAreStoredAndWhenItEnds) {
  FakeEngine engine(/*auto_complete=*/false);
  options_.max_in_flight = 4;
  open(engine);
  const int64_t t0 = clock_.now_seconds() * 1000;
  BatchRecord b = create(upload(input_file("t", 4)));
  ASSERT_TRUE(engine.wait_held(4));
  auto samples = [&] {
    auto p = service_->batch_progress("alice", b.id, 0);
    EXPECT_TRUE(p.is_ok());
    return p->samples;
  };
  auto last_completed = [&] {
    auto s = samples();
    return s.empty() ? int64_t{-1} : s.back().completed;
  };
  ASSERT_TRUE(eventually([&] { return last_completed() == 0; })) << "a sample when the batch starts";
  for (int64_t done = 1; done <= 2; ++done) {
    clock_.advance(1);
    engine.complete(1);
    ASSERT_TRUE(eventually([&] { return last_completed() == done; }));
  }
  clock_.advance(1);
  engine.complete(2);
  b = wait_status(b.id, BatchStatus::kCompleted);

  auto all = samples();
  ASSERT_EQ(all.size(), 4u);
  const int64_t want_completed[] = {0, 1, 2, 4};
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].at_ms, t0 + 1000 * static_cast<int64_t>(i)) << i;
    EXPECT_EQ(all[i].completed, want_completed[i]) << i;
    EXPECT_EQ(all[i].failed, 0);
    EXPECT_EQ(all[i].usage.output_tokens, 5 * want_completed[i]) << i;
    EXPECT_EQ(all[i].usage.input_tokens, 10 * want_completed[i]) << i;
  }
  auto newer = service_->batch_progress("alice", b.id, t0 + 1000);
  ASSERT_TRUE(newer.is_ok());
  EXPECT_EQ(newer->samples.size(), 2u);
  EXPECT_EQ(newer->batch.status, BatchStatus::kCompleted);
  EXPECT_EQ(newer->now_ms, t0 + 3000);
  EXPECT_EQ(http_status_of(service_->batch_progress("bob", b.id, 0).status()), 404);
}

TEST_F(BatchRunnerTest, ExpiresWhenTheCompletionWindowPasses) {
  FakeEngine engine(false);
  options_.max_in_flight = 2;
  options_.completion_window_seconds = 100;
  open(engine);
  BatchRecord b = create(upload(input_file("t", 10)));
  EXPECT_EQ(b.expires_at, b.created_at + 100);
  ASSERT_TRUE(engine.wait_held(2));
  engine.complete(2);
  wait_completed_count(b.id, 2);
  ASSERT_TRUE(engine.wait_held(2));

  clock_.advance(101);
  b = wait_status(b.id, BatchStatus::kExpired);
  EXPECT_TRUE(b.expired_at.has_value());
  EXPECT_EQ(engine.held(), 0u);
  EXPECT_EQ(b.request_counts.completed, 2);
  expect_each_line_once(b, "t", 10);
  auto errors = lines_of(b.error_file_id);
  ASSERT_EQ(errors.size(), 8u);
  for (const auto& l : errors) EXPECT_EQ(l["error"]["code"], "batch_expired");
}

TEST_F(BatchRunnerTest, ResumesAfterRestartWithoutRerunningFinishedRequests) {
  std::string batch_id;
  std::set<std::string> finished;
  {
    FakeEngine engine(false);
    options_.max_in_flight = 4;
    open(engine);
    batch_id = create(upload(input_file("t", 30))).id;
    for (int round = 0; round < 2; ++round) {
      ASSERT_TRUE(engine.wait_submitted(4 * (round + 1)));
      ASSERT_TRUE(engine.wait_held(4));
      engine.complete(4);
    }
    wait_completed_count(batch_id, 8);
    auto subs = engine.submissions();
    finished.insert(subs.begin(), subs.begin() + 8);
    service_->stop();  // running requests are cancelled; the batch stays in progress
    EXPECT_EQ(get(batch_id).status, BatchStatus::kInProgress);
    service_.reset();
  }
  FakeEngine engine(true);
  open(engine);
  BatchRecord b = wait_status(batch_id, BatchStatus::kCompleted);
  for (const auto& s : engine.submissions()) EXPECT_EQ(finished.count(s), 0u) << s << " ran twice";
  EXPECT_EQ(engine.submissions().size(), 22u);
  EXPECT_EQ(b.request_counts.completed, 30);
  expect_each_line_once(b, "t", 30);
}

// A crash between writing the output blob and recording it: the blob is an orphan, the batch still
// finalizing. Reopening removes the orphan and finalizes once.
TEST_F(BatchRunnerTest, FinishesAnInterruptedFinalizationExactlyOnce) {
  const std::string data = input_file("t", 3);
  const std::string kOrphan = "file-ORPHAN" + std::string(18, 'x');  // named as openai::new_id names files
  {
    auto store = store::open_sqlite_store(dir_.path() + "/openbatch.sqlite3");
    auto blobs = blobs::open_local_blob_store(dir_.path() + "/files");
    ASSERT_TRUE(store.is_ok() && blobs.is_ok());
    auto w = (*blobs)->create("file-input");
    ASSERT_TRUE((*w)->append(data) && (*w)->commit());
    ASSERT_TRUE(
        (*store)->insert_file({"file-input", "alice", "in.jsonl", "batch", (int64_t)data.size(), 1, {}}));
    BatchRecord rec;
    rec.id = "batch_x";
    rec.owner = "alice";
    rec.endpoint = "/v1/chat/completions";
    rec.input_file_id = "file-input";
    rec.completion_window = "24h";
    rec.created_at = clock_.now_seconds();
    rec.expires_at = rec.created_at + 86400;
    ASSERT_TRUE((*store)->insert_batch(rec));
    ASSERT_TRUE(
        (*store)->start_batch("batch_x", "tiny", {{1, "t0", 0, 1}, {2, "t1", 0, 1}, {3, "t2", 0, 1}}, 1, {}));
    ASSERT_TRUE(
        (*store)->record_results({{"batch_x", 1, store::Outcome::kOutput, R"({"custom_id":"t0"})", {}},
                                  {"batch_x", 2, store::Outcome::kOutput, R"({"custom_id":"t1"})", {}},
                                  {"batch_x", 3, store::Outcome::kError, R"({"custom_id":"t2"})", {}}}));
    ASSERT_TRUE((*store)->transition("batch_x", {BatchStatus::kInProgress}, BatchStatus::kFinalizing, 2));
    auto orphan = (*blobs)->create(kOrphan);
    ASSERT_TRUE((*orphan)->append("{\"custom_id\":\"t0\"}\n") && (*orphan)->commit());
  }
  FakeEngine engine(true);
  open(engine);
  BatchRecord b = wait_status("batch_x", BatchStatus::kCompleted);
  expect_each_line_once(b, "t", 3);
  EXPECT_TRUE(engine.submissions().empty());
  auto blobs = blobs::open_local_blob_store(dir_.path() + "/files");
  auto keys = (*blobs)->list();
  EXPECT_EQ(std::count(keys->begin(), keys->end(), kOrphan), 0);
  EXPECT_EQ(keys->size(), 3u);  // input, output, error
}

TEST_F(BatchRunnerTest, SharesTheEngineRoundRobinBetweenBatches) {
  FakeEngine engine(false);
  options_.max_in_flight = 2;
  open(engine);
  BatchRecord a = create(upload(input_file("a", 10)));
  ASSERT_TRUE(engine.wait_held(2));
  BatchRecord b = create(upload(input_file("b", 10)));
  wait_status(b.id, BatchStatus::kInProgress);
  for (size_t done = 0; done < 20; ++done) {
    engine.complete(1);
    ASSERT_TRUE(engine.wait_submitted(std::min<size_t>(20, done + 3)));
  }
  wait_status(a.id, BatchStatus::kCompleted);
  wait_status(b.id, BatchStatus::kCompleted);
  auto subs = engine.submissions();
  ASSERT_EQ(subs.size(), 20u);
  // From b's first request on, the two alternate until a runs out.
  const size_t first_b =
      std::find_if(subs.begin(), subs.end(), [](const std::string& s) { return s[0] == 'b'; }) - subs.begin();
  const size_t a_left = 10 - first_b;
  ASSERT_LT(first_b + 2 * a_left, subs.size());
  for (size_t i = first_b + 1; i <= first_b + 2 * a_left; ++i) {
    EXPECT_NE(subs[i][0], subs[i - 1][0]) << "submission " << i;
  }
}

TEST_F(BatchRunnerTest, RetriesRequestsTheEngineTurnsAway) {
  FakeEngine engine(true);
  engine.reject_first = 3;
  open(engine);
  BatchRecord b = wait_status(create(upload(input_file("t", 5))).id, BatchStatus::kCompleted);
  EXPECT_EQ(b.request_counts.completed, 5);
  EXPECT_EQ(b.request_counts.failed, 0);
  EXPECT_EQ(engine.submissions().size(), 8u);
}

TEST_F(BatchRunnerTest, AnInputFileInUseCannotBeDeleted) {
  FakeEngine engine(false);
  open(engine);
  const std::string file = upload(input_file("t", 2));
  BatchRecord b = create(file);
  ASSERT_TRUE(engine.wait_held(2));
  EXPECT_EQ(http_status_of(service_->delete_file("alice", file)), 409);
  engine.complete(2);
  b = wait_status(b.id, BatchStatus::kCompleted);
  EXPECT_TRUE(service_->delete_file("alice", file));
  EXPECT_EQ(http_status_of(service_->get_file("alice", file).status()), 404);
  EXPECT_EQ(http_status_of(service_->open_file_content("alice", file).status()), 404);
  EXPECT_TRUE(service_->delete_file("alice", b.output_file_id));
}

TEST_F(BatchRunnerTest, OwnersSeeOnlyTheirOwnFilesAndBatches) {
  FakeEngine engine(true);
  open(engine);
  const std::string file = upload(input_file("t", 2), "alice");
  BatchRecord b = wait_status(create(file, "alice").id, BatchStatus::kCompleted);
  EXPECT_EQ(http_status_of(service_->get_file("bob", file).status()), 404);
  EXPECT_EQ(http_status_of(service_->open_file_content("bob", b.output_file_id).status()), 404);
  EXPECT_EQ(http_status_of(service_->delete_file("bob", file)), 404);
  EXPECT_EQ(http_status_of(service_->get_batch("bob", b.id).status()), 404);
  EXPECT_EQ(http_status_of(service_->cancel_batch("bob", b.id).status()), 404);
  EXPECT_TRUE(service_->list_files("bob", {})->items.empty());
  EXPECT_TRUE(service_->list_batches("bob", {})->items.empty());
  // Bob cannot run a batch on Alice's file either: to him it does not exist.
  auto theirs = service_->create_batch(
      "bob", {{"input_file_id", file}, {"endpoint", "/v1/chat/completions"}, {"completion_window", "24h"}});
  ASSERT_TRUE(theirs.is_ok());
  auto failed = eventually([&] { return get(theirs->id, "bob").status == BatchStatus::kFailed; });
  EXPECT_TRUE(failed);
}

TEST_F(BatchRunnerTest, OneServicePerDataDirectory) {
  FakeEngine engine(true);
  open(engine);
  auto second = BatchService::open(options_, engine);
  ASSERT_FALSE(second.is_ok());
  EXPECT_NE(second.status().message().find("in use"), std::string::npos);
  service_.reset();
  EXPECT_TRUE(BatchService::open(options_, engine).is_ok());
}

TEST_F(BatchRunnerTest, UploadsAreCheckedAndDiscardedUploadsLeaveNothing) {
  FakeEngine engine(true);
  options_.limits.max_upload_bytes = 10;
  options_.limits.max_batch_input_bytes = 10;
  open(engine);
  {
    auto up = service_->begin_upload("alice", "x.jsonl");
    ASSERT_TRUE(up.is_ok());
    EXPECT_TRUE((*up)->append("12345"));
    EXPECT_EQ(http_status_of((*up)->append("678901")), 400);
  }
  {
    auto up = service_->begin_upload("alice", "x.jsonl");
    ASSERT_TRUE((*up)->append("1"));
    auto rec = (*up)->finish("batch_output", std::nullopt);
    EXPECT_EQ(rec.status().code(), "invalid_value");
    EXPECT_EQ(rec.status().param(), "purpose");
  }
  EXPECT_TRUE(service_->list_files("alice", {})->items.empty());
  auto blobs = blobs::open_local_blob_store(dir_.path() + "/files");
  EXPECT_TRUE((*blobs)->list()->empty());
  EXPECT_TRUE(openbatch::testing::entries_besides_marker(dir_.path() + "/files").empty());
}

}  // namespace
}  // namespace openbatch::batch
