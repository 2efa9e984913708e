// Power cuts under the local blob store (blobs/power_cut_blob_files_for_test.h): three uploads cut at
// each of their file operations in turn. After each cut, every blob whose commit was acknowledged
// reads back byte for byte, and no other blob is visible except whole.
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "blobs/blob_files.h"
#include "blobs/blobs.h"
#include "blobs/power_cut_blob_files_for_test.h"
#include "common/files_for_test.h"
#include "common/temp_dir.h"

namespace openbatch::blobs {
namespace {

using testing::PowerCutBlobFiles;

// Bytes that differ at every offset, and from blob to blob.
std::string pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i * 131 + i / 7 + static_cast<size_t>(seed) * 17) & 0xff);
  return s;
}

struct Upload {
  std::string key;
  std::string bytes;
};
const std::vector<Upload>& uploads() {
  static const std::vector<Upload> u = {
      {"file-a", pattern(10, 1)}, {"file-b", pattern(3 * (1 << 20) + 5, 2)}, {"file-c", pattern(1000, 3)}};
  return u;
}

// Writes each upload in pieces and commits it; the keys whose commit returned OK, until a call fails.
std::set<std::string> write_uploads(BlobStore& store) {
  std::set<std::string> acked;
  for (const Upload& u : uploads()) {
    auto w = store.create(u.key);
    if (!w) return acked;
    for (size_t at = 0; at < u.bytes.size(); at += 700'000) {
      if (!(*w)->append(std::string_view(u.bytes).substr(at, 700'000))) return acked;
    }
    if (!(*w)->commit()) return acked;
    acked.insert(u.key);
  }
  return acked;
}

std::string read_all(BlobReader& r) {
  std::string out(static_cast<size_t>(r.size()), '\0');
  auto n = r.read_at(0, out.data(), out.size());
  EXPECT_TRUE(n.is_ok());
  return out;
}

// The seam itself: a rename not followed by a folder sync is undone, and unsynced bytes are cut away.
// Without it, the test below could not fail.
TEST(LocalBlobStorePowerCutTest, TheSeamUndoesWhatWasNotSynced) {
  TempDir dir;
  auto files = std::make_shared<PowerCutBlobFiles>();
  auto fd = files->create(dir.path() + "/x.tmp");
  ASSERT_TRUE(fd.is_ok());
  ASSERT_TRUE(files->write(*fd, "synced"));
  ASSERT_TRUE(files->sync(*fd));
  ASSERT_TRUE(files->write(*fd, "+lost"));
  files->close(*fd);
  ASSERT_TRUE(files->sync_folder(dir.path()));
  ASSERT_TRUE(files->rename(dir.path() + "/x.tmp", dir.path() + "/x"));
  files->restore();
  EXPECT_EQ(openbatch::testing::read_file(dir.path() + "/x.tmp"), "synced");
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/x"));
}

// A removal is durable once its folder is synced; before, a cut brings the file back. The store removes
// blobs through the seam.
TEST(LocalBlobStorePowerCutTest, ARemovalNotSyncedComesBackAtACut) {
  TempDir dir;
  auto files = std::make_shared<PowerCutBlobFiles>();
  auto store = open_local_blob_store(dir.path() + "/files", false, files);
  ASSERT_TRUE(store.is_ok());
  for (const std::string key : {"file-kept", "file-gone"}) {
    auto w = (*store)->create(key);
    ASSERT_TRUE(w.is_ok());
    ASSERT_TRUE((*w)->append("bytes of " + key));
    ASSERT_TRUE((*w)->commit());
  }
  ASSERT_TRUE((*store)->remove("file-gone"));
  ASSERT_TRUE(files->sync_folder(dir.path() + "/files"));
  files->arm(1);
  ASSERT_FALSE((*store)->remove("file-kept"));  // the cut: the store's removal went through the seam
  files->arm(0);
  ASSERT_TRUE((*store)->remove("file-kept"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/files/file-kept"));
  files->restore();
  EXPECT_EQ(openbatch::testing::read_file(dir.path() + "/files/file-kept"), "bytes of file-kept");
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/files/file-gone"));
}

TEST(LocalBlobStorePowerCutTest, EveryAcknowledgedBlobSurvivesACutAtAnyFileOperation) {
  auto files = std::make_shared<PowerCutBlobFiles>();
  int64_t total_ops = 0;
  {
    TempDir dir;
    files->arm(0);
    auto store = open_local_blob_store(dir.path() + "/files", false, files);
    ASSERT_TRUE(store.is_ok());
    ASSERT_EQ(write_uploads(**store).size(), uploads().size());
    total_ops = files->ops();
    files->restore();
  }
  ASSERT_GT(total_ops, 10);

  for (int64_t cut_at = 1; cut_at <= total_ops; ++cut_at) {
    TempDir dir;
    const std::string folder = dir.path() + "/files";
    files->arm(cut_at);
    std::set<std::string> acked;
    {
      auto store = open_local_blob_store(folder, false, files);
      ASSERT_TRUE(store.is_ok());
      acked = write_uploads(**store);
    }
    ASSERT_TRUE(files->cut()) << cut_at;
    files->restore();

    auto store = open_local_blob_store(folder);  // the OS's files: what the disk holds
    ASSERT_TRUE(store.is_ok()) << store.status().message();
    for (const Upload& u : uploads()) {
      auto r = (*store)->open(u.key);
      if (acked.count(u.key)) {
        ASSERT_TRUE(r.is_ok()) << "cut at " << cut_at << ": acknowledged " << u.key << " is gone";
        EXPECT_TRUE(read_all(**r) == u.bytes) << "cut at " << cut_at << ": " << u.key << " differs";
      } else if (r) {
        EXPECT_TRUE(read_all(**r) == u.bytes)
            << "cut at " << cut_at << ": " << u.key << " is visible but not whole";
      }
    }
    // Temporaries a cut left are gone at open; nothing else is there.
    for (const std::string& name : openbatch::testing::entries_besides_marker(folder)) {
      EXPECT_EQ(name.find(".tmp"), std::string::npos) << "cut at " << cut_at << ": " << name;
    }
    if (HasFailure()) break;
  }
  std::printf("power cuts: %lld, at every file operation of %zu uploads\n", static_cast<long long>(total_ops),
              uploads().size());
}

}  // namespace
}  // namespace openbatch::blobs
