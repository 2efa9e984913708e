#include "media/image_loader.h"

#include <gtest/gtest.h>

#include <future>
#include <vector>

#include "common/http_status.h"
#include "media/image_server_for_test.h"

namespace openbatch::media {
namespace {

using namespace std::chrono_literals;

ImageLoaderOptions options(int concurrency = 4) {
  ImageLoaderOptions o;
  o.fetch.total_timeout = 5s;
  o.fetch.destinations.allow_private = true;  // the test server is on loopback
  o.concurrency = concurrency;
  return o;
}

TEST(ImageLoaderTest, TheSameUrlIsFetchedOnceForManyRequests) {
  testing::ImageServer server;
  ImageLoader loader(options());
  // Many loads of a slow URL while its download is in progress, then more once it is cached.
  std::vector<std::future<Result<ImageBytes>>> waiting;
  for (int i = 0; i < 20; ++i) {
    auto p = std::make_shared<std::promise<Result<ImageBytes>>>();
    waiting.push_back(p->get_future());
    loader.load(server.url("/slow.png"), [p](Result<ImageBytes> r) { p->set_value(std::move(r)); });
  }
  std::this_thread::sleep_for(100ms);
  server.release_slow();
  for (auto& f : waiting) ASSERT_TRUE(f.get().is_ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(loader.load_now(server.url("/slow.png")).is_ok());
  EXPECT_EQ(server.hits("/slow.png"), 1);
  EXPECT_EQ(loader.downloads(), 1);

  ASSERT_TRUE(loader.load_now(server.url("/good.png")).is_ok());
  EXPECT_EQ(server.hits("/good.png"), 1);
  EXPECT_EQ(loader.downloads(), 2);
}

TEST(ImageLoaderTest, AFailedUrlIsNotFetchedAgainForAWhile) {
  testing::ImageServer server;
  ImageLoader loader(options());
  for (int i = 0; i < 3; ++i) {
    auto r = loader.load_now(server.url("/missing.png"));
    ASSERT_FALSE(r.is_ok());
    EXPECT_NE(r.status().message().find("HTTP 404"), std::string::npos);
  }
  EXPECT_EQ(server.hits("/missing.png"), 1);
}

TEST(ImageLoaderTest, DownloadsRunConcurrentlyUpToTheLimit) {
  testing::ImageServer server;
  ImageLoader loader(options(2));
  // Two slow downloads take both loader threads: a third URL waits for one of them.
  std::promise<void> slow_done;
  int slow_left = 2;
  std::mutex mu;
  loader.load(server.url("/slow.png"), [&](Result<ImageBytes>) {
    std::lock_guard lock(mu);
    if (--slow_left == 0) slow_done.set_value();
  });
  loader.load(server.url("/slow.png?second"), [&](Result<ImageBytes>) {
    std::lock_guard lock(mu);
    if (--slow_left == 0) slow_done.set_value();
  });
  auto good = std::async(std::launch::async, [&] { return loader.load_now(server.url("/good.png")); });
  EXPECT_EQ(good.wait_for(300ms), std::future_status::timeout);
  EXPECT_EQ(server.hits("/good.png"), 0);
  server.release_slow();
  ASSERT_TRUE(good.get().is_ok());
  slow_done.get_future().wait();
  EXPECT_EQ(server.hits("/slow.png"), 2);
}

TEST(ImageLoaderTest, ShutdownEndsWaitingLoadsWithA503) {
  testing::ImageServer server;
  auto loader = std::make_unique<ImageLoader>(options(1));
  auto first = std::make_shared<std::promise<Result<ImageBytes>>>();
  auto second = std::make_shared<std::promise<Result<ImageBytes>>>();
  loader->load(server.url("/slow.png"), [first](Result<ImageBytes> r) { first->set_value(std::move(r)); });
  loader->load(server.url("/good.png"), [second](Result<ImageBytes> r) { second->set_value(std::move(r)); });
  std::this_thread::sleep_for(100ms);
  const auto start = std::chrono::steady_clock::now();
  loader->shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
  EXPECT_EQ(http_status_of(first->get_future().get().status()), 503);
  EXPECT_EQ(http_status_of(second->get_future().get().status()), 503);
  EXPECT_EQ(http_status_of(loader->load_now(server.url("/good.png")).status()), 503);
}

}  // namespace
}  // namespace openbatch::media
