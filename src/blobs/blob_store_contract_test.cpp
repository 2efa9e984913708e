// The behaviour every BlobStore must have, run against each of them: a local directory, and
// PostgreSQL on a server the test starts itself.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "blobs/blobs.h"
#include "common/temp_dir.h"
#include "store/postgres_server_for_test.h"

namespace openbatch::blobs {
namespace {

store::testing::PostgresServer* postgres_server(std::string* error) {
  static std::string start_error;
  static std::unique_ptr<store::testing::PostgresServer> server = [] {
    auto s = store::testing::PostgresServer::start();
    if (!s) {
      start_error = s.status().message();
      return std::unique_ptr<store::testing::PostgresServer>();
    }
    return std::move(s).value();
  }();
  *error = start_error;
  return server.get();
}

class BlobStoreContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres") {
      std::string error;
      auto* server = postgres_server(&error);
      ASSERT_TRUE(server) << error;
      auto url = server->create_database();
      ASSERT_TRUE(url.is_ok()) << url.status().message();
      open_ = [url = *url] { return open_postgres_blob_store(url); };
    } else {
      open_ = [dir = dir_.path()] { return open_local_blob_store(dir + "/files"); };
    }
    auto s = open_();
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    blobs_ = std::move(s).value();
  }

  // Bytes that differ at every offset (so a chunk read at the wrong place shows).
  static std::string pattern(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
    return s;
  }

  std::string read_all(BlobReader& r, size_t piece) {
    std::string out;
    std::string buf(piece, '\0');
    for (;;) {
      auto n = r.read_at(static_cast<int64_t>(out.size()), buf.data(), buf.size());
      EXPECT_TRUE(n.is_ok()) << n.status().message();
      if (!n || *n == 0) return out;
      out.append(buf.data(), *n);
    }
  }

  TempDir dir_;
  std::function<Result<std::unique_ptr<BlobStore>>()> open_;
  std::unique_ptr<BlobStore> blobs_;
};

TEST_P(BlobStoreContractTest, ABlobWrittenInPiecesReadsBackAtAnyOffset) {
  const std::string data = pattern((5u << 20) / 2 + 123);  // 2.5 MiB: three chunks of a database store
  auto w = blobs_->create("file-big");
  ASSERT_TRUE(w.is_ok());
  for (size_t at = 0; at < data.size(); at += 70000)
    ASSERT_TRUE((*w)->append(std::string_view(data).substr(at, 70000)));
  EXPECT_EQ((*w)->bytes_written(), static_cast<int64_t>(data.size()));
  EXPECT_FALSE(blobs_->open("file-big").is_ok()) << "nothing is visible before commit";
  ASSERT_TRUE((*w)->commit());
  auto r = blobs_->open("file-big");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ((*r)->size(), static_cast<int64_t>(data.size()));
  EXPECT_EQ(read_all(**r, 256 * 1024), data);
  std::string across(100, '\0');  // across the border of the first two chunks
  auto n = (*r)->read_at((1 << 20) - 50, across.data(), across.size());
  ASSERT_TRUE(n.is_ok());
  EXPECT_EQ(*n, 100u);
  EXPECT_EQ(across, data.substr((1 << 20) - 50, 100));
  n = (*r)->read_at(static_cast<int64_t>(data.size()) - 10, across.data(), across.size());
  EXPECT_EQ(*n, 10u) << "short only at the end";
}

TEST_P(BlobStoreContractTest, UncommittedWritersLeaveNothingAndEmptyBlobsExist) {
  {
    auto w = blobs_->create("file-gone");
    ASSERT_TRUE((*w)->append(pattern(3 << 20)));
  }
  EXPECT_FALSE(blobs_->open("file-gone").is_ok());
  auto empty = blobs_->create("file-empty");
  ASSERT_TRUE((*empty)->commit());
  auto r = blobs_->open("file-empty");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ((*r)->size(), 0);
  auto keys = blobs_->list();
  ASSERT_TRUE(keys.is_ok());
  EXPECT_EQ(*keys, std::vector<std::string>{"file-empty"});
}

TEST_P(BlobStoreContractTest, AReaderKeepsReadingARemovedBlobAndAnotherStoreSeesIt) {
  const std::string data = pattern(1500000);
  auto w = blobs_->create("file-a");
  ASSERT_TRUE((*w)->append(data));
  ASSERT_TRUE((*w)->commit());
  auto other = open_();  // another process on the same directory or database
  ASSERT_TRUE(other.is_ok());
  auto r = (*other)->open("file-a");
  ASSERT_TRUE(r.is_ok());
  ASSERT_TRUE(blobs_->remove("file-a"));
  EXPECT_FALSE(blobs_->open("file-a").is_ok());
  EXPECT_EQ(read_all(**r, 300000), data);
  EXPECT_TRUE(blobs_->remove("file-a")) << "removing what is gone is OK";
  EXPECT_FALSE(blobs_->create("../etc").is_ok()) << "keys are checked";
}

INSTANTIATE_TEST_SUITE_P(BlobStores, BlobStoreContractTest, ::testing::Values("local", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace openbatch::blobs
