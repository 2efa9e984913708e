#include "media/image_fetcher.h"

#include <gtest/gtest.h>

#include "media/image_server_for_test.h"

namespace openbatch::media {
namespace {

using namespace std::chrono_literals;

class ImageFetcherTest : public ::testing::Test {
 protected:
  static FetchOptions options() {
    FetchOptions o;
    o.connect_timeout = 500ms;
    o.total_timeout = 500ms;
    o.max_bytes = 64 * 1024;
    return o;
  }
  void expect_error(const std::string& url, const std::string& code, const std::string& says) {
    auto r = fetcher_.fetch(url);
    ASSERT_FALSE(r.is_ok()) << url;
    EXPECT_EQ(r.status().http_status(), 400) << r.status().message();
    EXPECT_EQ(r.status().type(), "invalid_request_error");
    EXPECT_EQ(r.status().code(), code) << r.status().message();
    EXPECT_NE(r.status().message().find(says), std::string::npos) << r.status().message();
    if (url.rfind("data:", 0) != 0) {
      EXPECT_NE(r.status().message().find(url), std::string::npos)
          << "names the URL: " << r.status().message();
    }
  }

  testing::ImageServer server_;
  ImageFetcher fetcher_{options()};
};

TEST_F(ImageFetcherTest, FetchesImagesOverHttpAndFromDataUrls) {
  auto png = fetcher_.fetch(server_.url("/good.png"));
  ASSERT_TRUE(png.is_ok()) << png.status().message();
  EXPECT_EQ(**png, testing::png_image(40, 30, 1));
  auto bmp = fetcher_.fetch(server_.url("/photo.bmp"));
  ASSERT_TRUE(bmp.is_ok()) << bmp.status().message();
  auto data = fetcher_.fetch(testing::data_url("image/png", testing::png_image(3, 3)));
  ASSERT_TRUE(data.is_ok()) << data.status().message();
  EXPECT_EQ(**data, testing::png_image(3, 3));
}

TEST_F(ImageFetcherTest, FollowsUpToThreeRedirects) {
  auto r = fetcher_.fetch(server_.url("/hop/3"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(server_.hits("/good.png"), 1);
  expect_error(server_.url("/hop/4"), "invalid_image_url", "more than 3 redirects");
}

TEST_F(ImageFetcherTest, EachFailureIsA400ThatNamesTheUrlAndItsProblem) {
  expect_error(server_.url("/missing.png"), "invalid_image_url", "HTTP 404");
  expect_error(server_.url("/page.html"), "invalid_image_format", "HTML");
  expect_error(server_.url("/huge.png"), "image_too_large", "larger than the 0.06 MB limit");
  expect_error(server_.url("/huge-chunked.png"), "image_too_large", "larger than");
  expect_error(server_.url("/giant.png"), "image_too_large", "pixels");
  expect_error(server_.url("/to-file"), "invalid_image_url", "not http:// or https://");
  expect_error("http://127.0.0.1:" + std::to_string(testing::closed_port()) + "/x.png", "invalid_image_url",
               "unreachable");
  expect_error("ftp://127.0.0.1/x.png", "invalid_image_url", "only http://, https:// and data: URLs");
  expect_error("file:///etc/passwd", "invalid_image_url", "only http://");
  expect_error("data:text/html;base64,PGh0bWw+", "invalid_image_url", "media type 'text/html'");
  expect_error(testing::data_url("image/png", "<html>oops</html>"), "invalid_image_format", "HTML");
}

TEST_F(ImageFetcherTest, ASlowServerTimesOut) {
  const auto start = std::chrono::steady_clock::now();
  expect_error(server_.url("/slow.png"), "invalid_image_url", "timed out");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  server_.release_slow();
}

TEST_F(ImageFetcherTest, AnAbortStopsADownloadInProgress) {
  std::atomic<bool> abort{false};
  ImageFetcher patient([] {
    FetchOptions o;
    o.total_timeout = 20s;
    return o;
  }());
  std::thread stopper([&] {
    std::this_thread::sleep_for(200ms);
    abort = true;
  });
  const auto start = std::chrono::steady_clock::now();
  auto r = patient.fetch(server_.url("/slow.png"), &abort);
  stopper.join();
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().http_status(), 503);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  server_.release_slow();
}

}  // namespace
}  // namespace openbatch::media
