// What BatchService checks before the runner has a batch (batch/batch_runner_fixture_for_test.h): the
// parameters of a create, uploads, files in use, owners, and one service per data directory.
#include <gtest/gtest.h>

#include <string>

#include "batch/batch_runner_fixture_for_test.h"
#include "blobs/blobs.h"
#include "common/files_for_test.h"

namespace openbatch::batch {
namespace {

using namespace runner_test;  // NOLINT(google-build-using-namespace): the fixture's helpers

TEST_F(BatchRunnerTest, RejectsBadCreateParameters) {
  FakeEngine engine(true);
  open(engine);
  const std::string file = upload(input_file("t", 1));
  json base = {{"input_file_id", file}, {"endpoint", "/v1/chat/completions"}, {"completion_window", "24h"}};
  json many = json::object();
  for (int i = 0; i < 17; ++i) many["k" + std::to_string(i)] = "v";
  struct Case {
    json patch;
    std::string code, param;  // every one is an invalid request
  } cases[] = {
      {{{"endpoint", "/v1/embeddingz"}}, "invalid_value", "endpoint"},
      {{{"completion_window", "48h"}}, "invalid_value", "completion_window"},
      {{{"metadata", {{"k", 1}}}}, "invalid_type", "metadata.k"},
      {{{"metadata", many}}, "object_above_max_properties", "metadata"},
      {{{"input_file_id", nullptr}}, "missing_required_parameter", "input_file_id"},
      {{{"endpoint", 3}}, "invalid_type", "endpoint"},
      {{{"output_expires_after", {{"anchor", "created_at"}, {"seconds", 10}}}},
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
    EXPECT_TRUE(r.status().is_invalid_argument()) << r.status().message();
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
  EXPECT_TRUE(cancel.status().is_conflict());
  EXPECT_EQ(cancel.status().message(), "Cannot cancel a batch with status 'completed'.");
  EXPECT_TRUE(service_->get_batch("alice", "batch_nope").status().is_not_found());
}

TEST_F(BatchRunnerTest, AnInputFileInUseCannotBeDeleted) {
  FakeEngine engine(false);
  open(engine);
  const std::string file = upload(input_file("t", 2));
  BatchRecord b = create(file);
  ASSERT_TRUE(engine.wait_held(2));
  EXPECT_TRUE(service_->delete_file("alice", file).is_conflict());
  engine.complete(2);
  b = wait_status(b.id, BatchStatus::kCompleted);
  EXPECT_TRUE(service_->delete_file("alice", file));
  EXPECT_TRUE(service_->get_file("alice", file).status().is_not_found());
  EXPECT_TRUE(service_->open_file_content("alice", file).status().is_not_found());
  EXPECT_TRUE(service_->delete_file("alice", b.output_file_id));
}

TEST_F(BatchRunnerTest, OwnersSeeOnlyTheirOwnFilesAndBatches) {
  FakeEngine engine(true);
  open(engine);
  const std::string file = upload(input_file("t", 2), "alice");
  BatchRecord b = wait_status(create(file, "alice").id, BatchStatus::kCompleted);
  EXPECT_TRUE(service_->get_file("bob", file).status().is_not_found());
  EXPECT_TRUE(service_->open_file_content("bob", b.output_file_id).status().is_not_found());
  EXPECT_TRUE(service_->delete_file("bob", file).is_not_found());
  EXPECT_TRUE(service_->get_batch("bob", b.id).status().is_not_found());
  EXPECT_TRUE(service_->cancel_batch("bob", b.id).status().is_not_found());
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
    EXPECT_TRUE((*up)->append("678901").is_invalid_argument());
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
