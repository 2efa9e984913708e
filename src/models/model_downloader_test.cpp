#include "models/model_downloader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "common/http_status.h"
#include "common/temp_dir.h"
#include "media/image_server_for_test.h"
#include "models/hub_server_for_test.h"

namespace openbatch::models {
namespace {

namespace fs = std::filesystem;
using testing::file_bytes;
using testing::gguf_bytes;

void write(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

class ModelDownloaderTest : public ::testing::Test {
 protected:
  ModelDownloaderTest() {
    server_.add_file("owner/name", "model.gguf", model_);
    server_.add_file("owner/name", "page.gguf", "<!doctype html><html>an error page</html>");
  }
  DownloadOptions options() {
    DownloadOptions o;
    o.log = [this](const std::string& line) { log_.push_back(line); };
    o.progress_interval = std::chrono::milliseconds(0);
    return o;
  }
  std::string resolve_url(const std::string& file) { return server_.url("/owner/name/resolve/main/" + file); }
  bool logged(const std::string& part) const {
    for (const std::string& line : log_) {
      if (line.find(part) != std::string::npos) return true;
    }
    return false;
  }

  const std::string model_ = gguf_bytes(200 * 1000);
  testing::HubServer server_;
  TempDir dir_;
  const std::string path_ = dir_.path() + "/owner/name/model.gguf";
  std::vector<std::string> log_;
  ModelDownloader downloader_{options()};
};

TEST_F(ModelDownloaderTest, DownloadsThroughARedirectAndRenamesTheCompleteFile) {
  ASSERT_TRUE(downloader_.download(resolve_url("model.gguf"), path_)) << log_.back();
  EXPECT_EQ(file_bytes(path_), model_);
  EXPECT_FALSE(fs::exists(path_ + ".part"));
  EXPECT_EQ(server_.hits("/owner/name/resolve/main/model.gguf"), 1);
  EXPECT_EQ(server_.hits("/cdn/owner/name/model.gguf"), 1);
  EXPECT_TRUE(logged("100% (0.2 MB of 0.2 MB")) << "progress with the announced size";
  EXPECT_TRUE(logged("saved " + path_));
}

TEST_F(ModelDownloaderTest, ACompleteFileIsReusedWithNoRequest) {
  ASSERT_TRUE(downloader_.download(resolve_url("model.gguf"), path_));
  const int hits = server_.total_hits();
  ASSERT_TRUE(downloader_.download(resolve_url("model.gguf"), path_));
  ASSERT_TRUE(
      downloader_.download("http://127.0.0.1:" + std::to_string(media::testing::closed_port()) + "/x", path_))
      << "no network needed";
  EXPECT_EQ(server_.total_hits(), hits);
}

TEST_F(ModelDownloaderTest, ResumesAPartialFileWithARangeRequest) {
  write(path_ + ".part", model_.substr(0, 70000));
  ASSERT_TRUE(downloader_.download(resolve_url("model.gguf"), path_));
  EXPECT_EQ(server_.range("/cdn/owner/name/model.gguf"), "bytes=70000-");
  EXPECT_EQ(file_bytes(path_), model_);
  EXPECT_FALSE(fs::exists(path_ + ".part"));
  EXPECT_TRUE(logged("resuming model.gguf at 0.1 MB"));
  EXPECT_FALSE(logged("does not resume")) << "answered 206";
}

TEST_F(ModelDownloaderTest, StartsOverWhenTheServerIgnoresTheRange) {
  write(path_ + ".part", model_.substr(0, 70000));
  ASSERT_TRUE(downloader_.download(server_.url("/no-range/owner/name/model.gguf"), path_));
  EXPECT_EQ(server_.range("/no-range/owner/name/model.gguf"), "bytes=70000-");
  EXPECT_EQ(file_bytes(path_), model_);
  EXPECT_TRUE(logged("does not resume"));
}

TEST_F(ModelDownloaderTest, APartialFileThatIsNotGgufIsNotResumed) {
  write(path_ + ".part", "<html>");
  ASSERT_TRUE(downloader_.download(resolve_url("model.gguf"), path_));
  EXPECT_EQ(server_.range("/cdn/owner/name/model.gguf"), "");
  EXPECT_EQ(file_bytes(path_), model_);
}

TEST_F(ModelDownloaderTest, A404IsNotFoundAndLeavesNoFile) {
  Status s = downloader_.download(resolve_url("missing.gguf"), path_);
  ASSERT_FALSE(s);
  EXPECT_EQ(http_status_of(s), 404);
  EXPECT_NE(s.message().find("HTTP 404"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(resolve_url("missing.gguf")), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_FALSE(fs::exists(path_ + ".part"));
}

TEST_F(ModelDownloaderTest, ABodyThatIsNotGgufIsRejected) {
  Status s = downloader_.download(resolve_url("page.gguf"), path_);
  ASSERT_FALSE(s);
  EXPECT_EQ(http_status_of(s), 400);
  EXPECT_NE(s.message().find("not a GGUF file"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_FALSE(fs::exists(path_ + ".part"));
  // A file that someone put in the cache is checked too.
  write(path_, "not gguf");
  s = downloader_.download(resolve_url("model.gguf"), path_);
  EXPECT_NE(s.message().find("is not a GGUF file; remove it"), std::string::npos) << s.message();
}

TEST_F(ModelDownloaderTest, ASizeOtherThanAnnouncedIsRejected) {
  server_.set_linked_size(static_cast<int64_t>(model_.size()) + 1);
  Status s = downloader_.download(resolve_url("model.gguf"), path_);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("got 200000 bytes where the server announced 200001"), std::string::npos)
      << s.message();
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_FALSE(fs::exists(path_ + ".part"));
}

TEST_F(ModelDownloaderTest, AnUnreachableServerIsUnavailable) {
  Status s = downloader_.download(
      "http://127.0.0.1:" + std::to_string(media::testing::closed_port()) + "/m.gguf", path_);
  ASSERT_FALSE(s);
  EXPECT_EQ(http_status_of(s), 503);
  EXPECT_NE(s.message().find("unreachable"), std::string::npos) << s.message();
  s = downloader_.download("ftp://127.0.0.1/m.gguf", path_);
  EXPECT_NE(s.message().find("only http:// and https://"), std::string::npos) << s.message();
}

TEST_F(ModelDownloaderTest, StopEndsADownloadAsUnavailable) {
  DownloadOptions o = options();
  o.stop = [] { return true; };
  Status s = ModelDownloader(o).download(resolve_url("model.gguf"), path_);
  ASSERT_FALSE(s);
  EXPECT_EQ(http_status_of(s), 503);
  EXPECT_NE(s.message().find("interrupted"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(path_));
}

TEST_F(ModelDownloaderTest, TheTokenGoesToTheHubButNotToAnotherHostAfterARedirect) {
  server_.set_cdn_base("http://localhost:" + std::to_string(server_.port()));
  DownloadOptions o = options();
  o.bearer_token = "hf_secret";
  ASSERT_TRUE(ModelDownloader(o).download(resolve_url("model.gguf"), path_)) << log_.back();
  EXPECT_EQ(server_.authorization("/owner/name/resolve/main/model.gguf"), "Bearer hf_secret");
  EXPECT_EQ(server_.hits("/cdn/owner/name/model.gguf"), 1);
  EXPECT_EQ(server_.authorization("/cdn/owner/name/model.gguf"), "");
}

TEST_F(ModelDownloaderTest, GetReadsASmallAnswer) {
  auto listing = downloader_.get(server_.url("/api/models/owner/name"));
  ASSERT_TRUE(listing) << listing.status().message();
  EXPECT_NE(listing->find(R"("rfilename":"model.gguf")"), std::string::npos) << *listing;
  auto missing = downloader_.get(server_.url("/api/models/owner/other"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(http_status_of(missing.status()), 404);
  auto large = downloader_.get(resolve_url("model.gguf"), 1000);
  ASSERT_FALSE(large);
  EXPECT_NE(large.status().message().find("larger than"), std::string::npos) << large.status().message();
}

}  // namespace
}  // namespace openbatch::models
