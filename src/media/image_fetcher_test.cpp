#include "media/image_fetcher.h"

#include <gtest/gtest.h>

#include "common/http_status.h"
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
    o.destinations.allow_private = true;  // the test server is on loopback
    return o;
  }
  void expect_error(const std::string& url, const std::string& code, const std::string& says) {
    expect_error(fetcher_, url, code, says);
  }
  static void expect_error(const ImageFetcher& fetcher, const std::string& url, const std::string& code,
                           const std::string& says) {
    auto r = fetcher.fetch(url);
    ASSERT_FALSE(r.is_ok()) << url;
    EXPECT_EQ(http_status_of(r.status()), 400) << r.status().message();
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
  EXPECT_EQ(**png, image::testing::png_image(40, 30, 1));
  auto bmp = fetcher_.fetch(server_.url("/photo.bmp"));
  ASSERT_TRUE(bmp.is_ok()) << bmp.status().message();
  auto data = fetcher_.fetch(image::testing::data_url("image/png", image::testing::png_image(3, 3)));
  ASSERT_TRUE(data.is_ok()) << data.status().message();
  EXPECT_EQ(**data, image::testing::png_image(3, 3));
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
  expect_error(image::testing::data_url("image/png", "<html>oops</html>"), "invalid_image_format", "HTML");
}

ImageFetcher fetcher_with(net::DestinationPolicy destinations) {
  FetchOptions o;
  o.connect_timeout = 500ms;
  o.total_timeout = 2s;
  o.destinations = std::move(destinations);
  return ImageFetcher(o);
}

TEST_F(ImageFetcherTest, LoopbackAndOtherNonPublicAddressesAreRefusedByDefault) {
  const ImageFetcher fetcher = fetcher_with({});
  for (const std::string host : {"127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "0x7f000001", "127.1",
                                 "2130706433", "0.0.0.0", "[::1]", "[::]", "[::ffff:7f00:1]"}) {
    expect_error(fetcher, server_.url_on(host, "/good.png"), "invalid_image_url", "address is not allowed");
  }
  expect_error(fetcher, server_.url("/good.png"), "invalid_image_url", "loopback addresses are not fetched");
  expect_error(fetcher, "http://169.254.169.254/latest/meta-data/", "invalid_image_url", "link-local");
  expect_error(fetcher, "http://10.0.0.1:9/x.png", "invalid_image_url", "private");
  expect_error(fetcher, "http://100.64.0.1:9/x.png", "invalid_image_url", "carrier-grade NAT");
  expect_error(fetcher, "http://224.0.0.1:9/x.png", "invalid_image_url", "multicast");
  expect_error(fetcher, "http://255.255.255.255:9/x.png", "invalid_image_url", "broadcast");
  // Refused before connecting: the server never saw a request.
  EXPECT_EQ(server_.hits("/good.png"), 0);
}

TEST_F(ImageFetcherTest, AllowPrivateOrAnAllowedHostOpensLoopback) {
  net::DestinationPolicy open;
  open.allow_private = true;
  auto r = fetcher_with(open).fetch(server_.url_on("localhost", "/good.png"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();

  net::DestinationPolicy by_name;
  by_name.allowed_hosts = {"LocalHost"};
  const ImageFetcher named = fetcher_with(by_name);
  r = named.fetch(server_.url_on("localhost", "/good.png"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  expect_error(named, server_.url("/good.png"), "invalid_image_url", "address is not allowed");

  net::DestinationPolicy by_address;
  by_address.allowed_hosts = {"127.0.0.1"};
  const ImageFetcher addressed = fetcher_with(by_address);
  r = addressed.fetch(server_.url_on("localhost", "/hop/2"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  expect_error(addressed, server_.url_on("[::1]", "/good.png"), "invalid_image_url",
               "address is not allowed");
  EXPECT_EQ(server_.hits("/good.png"), 3);
}

TEST_F(ImageFetcherTest, ARedirectFromAnAllowedHostToARefusedAddressIsRefused) {
  net::DestinationPolicy by_name;
  by_name.allowed_hosts = {"localhost"};
  expect_error(fetcher_with(by_name), server_.url_on("localhost", "/to-address"), "invalid_image_url",
               "it redirects to a host whose address is not allowed");
  EXPECT_EQ(server_.hits("/to-address"), 1);
  EXPECT_EQ(server_.hits("/good.png"), 0);
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
    o.destinations.allow_private = true;
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
  EXPECT_EQ(http_status_of(r.status()), 503);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  server_.release_slow();
}

}  // namespace
}  // namespace openbatch::media
