// The batch lifecycle below HTTP (batch/batch_runner_fixture_for_test.h): requests run and stored once
// each, validation, the enqueued-token limit, cancels, restarts and the engine shared between batches.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "batch/batch_runner_fixture_for_test.h"
#include "blobs/blobs.h"
#include "store/sqlite_store.h"

namespace openbatch::batch {
namespace {

using namespace runner_test;  // NOLINT(google-build-using-namespace): the fixture's helpers

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
  EXPECT_TRUE(service_->cancel_batch("alice", b.id).status().is_conflict());
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

}  // namespace
}  // namespace openbatch::batch
