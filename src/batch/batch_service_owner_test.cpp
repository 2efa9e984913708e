// Owner ids at the batch service: keyed digests of the API keys, stable across restarts, and records
// that an older openbatch stored under its unkeyed ids moved to them at open.
#include <gtest/gtest.h>

#include <filesystem>

#include "batch/batch_service.h"
#include "batch/fake_engine_for_test.h"
#include "batch/owner_ids.h"
#include "common/temp_dir.h"

namespace openbatch::batch {
namespace {

class BatchServiceOwnerTest : public ::testing::Test {
 protected:
  std::unique_ptr<BatchService> open(std::vector<std::string> keys) {
    BatchServiceOptions o;
    o.data_dir = dir_.path();
    o.api_keys = std::move(keys);
    auto s = BatchService::open(std::move(o), engine_);
    EXPECT_TRUE(s.is_ok()) << s.status().message();
    return s ? std::move(s).value() : nullptr;
  }

  std::string upload(BatchService& service, const std::string& owner) {
    auto up = service.begin_upload(owner, "in.jsonl");
    EXPECT_TRUE(up.is_ok());
    EXPECT_TRUE((*up)->append("{\"a\":1}\n"));
    auto rec = (*up)->finish("batch", std::nullopt);
    EXPECT_TRUE(rec.is_ok()) << rec.status().message();
    return rec->id;
  }

  testing::FakeEngine engine_{true};
  TempDir dir_;
};

TEST_F(BatchServiceOwnerTest, OwnerIdsAreKeyedAndStableAcrossRestarts) {
  std::string id, owner;
  {
    auto service = open({"sk-alice"});
    owner = service->owner_of_key("sk-alice");
    EXPECT_EQ(owner.rfind("kh-", 0), 0u) << owner;
    EXPECT_NE(owner, OwnerIds::legacy_of("sk-alice"));
    id = upload(*service, owner);
  }
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/openbatch.secret"));
  auto service = open({"sk-alice"});
  EXPECT_EQ(service->owner_of_key("sk-alice"), owner);
  EXPECT_TRUE(service->get_file(owner, id).is_ok());
}

TEST_F(BatchServiceOwnerTest, WhatAnOlderOpenbatchStoredForAKeyMovesToItsKeyedIdAndStaysApart) {
  std::string alice_file, bob_file, batch_id, unknown_file;
  {
    // As an older openbatch stored them: owners "key-" + FNV-1a-64 of the keys.
    auto service = open({});
    alice_file = upload(*service, OwnerIds::legacy_of("sk-alice"));
    bob_file = upload(*service, OwnerIds::legacy_of("sk-bob"));
    unknown_file = upload(*service, OwnerIds::legacy_of("sk-removed"));
    auto b = service->create_batch(
        OwnerIds::legacy_of("sk-alice"),
        {{"input_file_id", alice_file}, {"endpoint", "/v1/chat/completions"}, {"completion_window", "24h"}});
    ASSERT_TRUE(b.is_ok()) << b.status().message();
    batch_id = b->id;
  }
  auto service = open({"sk-alice", "sk-bob"});
  const std::string alice = service->owner_of_key("sk-alice"), bob = service->owner_of_key("sk-bob");
  EXPECT_TRUE(service->get_file(alice, alice_file).is_ok());
  EXPECT_TRUE(service->get_batch(alice, batch_id).is_ok());
  EXPECT_TRUE(service->get_file(bob, bob_file).is_ok());
  EXPECT_TRUE(service->get_file(bob, alice_file).status().is_not_found());
  EXPECT_TRUE(service->get_file(OwnerIds::legacy_of("sk-alice"), alice_file).status().is_not_found());
  // A key no longer configured keeps its records under its old id: nothing is lost, and it finds them
  // again when it is configured once more.
  EXPECT_TRUE(service->get_file(OwnerIds::legacy_of("sk-removed"), unknown_file).is_ok());
}

}  // namespace
}  // namespace openbatch::batch
