// The data folder of BatchService's defaults: ours alone, private, and what an older openbatch left in
// it still there.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "batch/batch_service.h"
#include "batch/fake_engine_for_test.h"
#include "common/files_for_test.h"
#include "common/owned_folder.h"
#include "common/temp_dir.h"

namespace openbatch::batch {
namespace {

namespace fs = std::filesystem;

using openbatch::testing::mode_of;
using openbatch::testing::read_file;
using openbatch::testing::ScopedUmask;
using openbatch::testing::write_file;

class BatchServiceFolderTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<BatchService>> open(const std::string& data_dir) {
    BatchServiceOptions o;
    o.data_dir = data_dir;
    return BatchService::open(std::move(o), engine_);
  }

  std::string upload(BatchService& service, const std::string& content) {
    auto up = service.begin_upload("alice", "in.jsonl");
    EXPECT_TRUE(up.is_ok());
    EXPECT_TRUE((*up)->append(content));
    auto rec = (*up)->finish("batch", std::nullopt);
    EXPECT_TRUE(rec.is_ok()) << rec.status().message();
    return rec->id;
  }

  std::string content(BatchService& service, const std::string& id) {
    auto r = service.open_file_content("alice", id);
    EXPECT_TRUE(r.is_ok()) << r.status().message();
    if (!r) return "";
    std::string out(static_cast<size_t>((*r)->size()), '\0');
    EXPECT_TRUE((*r)->read_at(0, out.data(), out.size()).is_ok());
    return out;
  }

  testing::FakeEngine engine_{true};
  TempDir dir_;
};

TEST_F(BatchServiceFolderTest, RefusesAFolderOfOtherFilesAndTouchesNothing) {
  openbatch::testing::put_foreign_files(dir_.path());
  auto service = open(dir_.path());
  ASSERT_FALSE(service.is_ok());
  EXPECT_NE(service.status().message().find("not empty"), std::string::npos) << service.status().message();
  openbatch::testing::expect_foreign_files_kept(dir_.path());
  EXPECT_FALSE(fs::exists(dir_.path() + "/openbatch.sqlite3"));
  EXPECT_FALSE(fs::exists(dir_.path() + "/openbatch.lock"));
}

TEST_F(BatchServiceFolderTest, ANewDataFolderAndEverythingInItIsPrivateWhateverTheUmask) {
  ScopedUmask umask(0);
  const std::string data = dir_.path() + "/data";
  {
    auto service = open(data);
    ASSERT_TRUE(service.is_ok()) << service.status().message();
    const std::string id = upload(**service, "{\"a\":1}\n");
    EXPECT_EQ(mode_of(data), 0700u);
    EXPECT_EQ(mode_of(data + "/files"), 0700u);
    EXPECT_EQ(mode_of(data + "/files/" + id), 0600u);
    for (const char* name :
         {"openbatch.sqlite3", "openbatch.sqlite3-wal", "openbatch.sqlite3-shm", "openbatch.lock"}) {
      ASSERT_TRUE(fs::exists(data + "/" + name)) << name;
      EXPECT_EQ(mode_of(data + "/" + name), 0600u) << name;
    }
  }
}

TEST_F(BatchServiceFolderTest, TheDatabaseOfAnOlderOpenbatchBecomesPrivate) {
  const std::string data = dir_.path() + "/data";
  { ASSERT_TRUE(open(data).is_ok()); }
  ::chmod((data + "/openbatch.sqlite3").c_str(), 0644);
  auto service = open(data);
  ASSERT_TRUE(service.is_ok());
  EXPECT_EQ(mode_of(data + "/openbatch.sqlite3"), 0600u);
  EXPECT_EQ(mode_of(data + "/openbatch.sqlite3-wal"), 0600u);
}

TEST_F(BatchServiceFolderTest, WarnsWhenOthersMayReadAnExistingDataFolder) {
  ::chmod(dir_.path().c_str(), 0755);
  ::testing::internal::CaptureStderr();
  { ASSERT_TRUE(open(dir_.path()).is_ok()); }
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("warning: other local users may read the data folder " + dir_.path() + " (mode 0755)"),
            std::string::npos)
      << log;
  ::chmod(dir_.path().c_str(), 0700);
  ::testing::internal::CaptureStderr();
  { ASSERT_TRUE(open(dir_.path()).is_ok()); }
  EXPECT_EQ(::testing::internal::GetCapturedStderr().find("warning"), std::string::npos);
}

// A data folder as an openbatch from before marked folders left it: the database, the lock and the
// blobs in files/, no markers. It opens with every file there.
TEST_F(BatchServiceFolderTest, AdoptsTheDataFolderOfAnOlderOpenbatchWithEveryFile) {
  const std::string data = dir_.path() + "/data";
  std::string id;
  {
    auto service = open(data);
    ASSERT_TRUE(service.is_ok());
    id = upload(**service, "{\"kept\":true}\n");
  }
  fs::remove(data + "/" + kMarkerName);
  fs::remove(data + "/files/" + kMarkerName);
  write_file(data + "/files/" + id + ".99-1.tmp", "a crash's temporary");
  ::chmod(data.c_str(), 0755);

  auto service = open(data);
  ASSERT_TRUE(service.is_ok()) << service.status().message();
  EXPECT_EQ(*folder_kind(data), "data");
  EXPECT_EQ(*folder_kind(data + "/files"), "files");
  EXPECT_EQ(content(**service, id), "{\"kept\":true}\n");
  EXPECT_FALSE(fs::exists(data + "/files/" + id + ".99-1.tmp"));
}

TEST_F(BatchServiceFolderTest, RemovesOnlyOrphansNamedAsItNamesFiles) {
  const std::string data = dir_.path() + "/data";
  { ASSERT_TRUE(open(data).is_ok()); }
  const std::string orphan = data + "/files/file-ABCDEFGHIJKLMNOPQRSTUVWX";  // a crash before its record
  write_file(orphan, "x");
  write_file(data + "/files/notes", "someone's");
  write_file(data + "/files/file-short", "someone's");
  { ASSERT_TRUE(open(data).is_ok()); }
  EXPECT_FALSE(fs::exists(orphan));
  EXPECT_EQ(read_file(data + "/files/notes"), "someone's");
  EXPECT_EQ(read_file(data + "/files/file-short"), "someone's");
}

}  // namespace
}  // namespace openbatch::batch
