// Loads the images of many requests at once: at most `concurrency` downloads run together, on the
// loader's own threads, and a URL fetched a moment ago (or still being fetched) is not fetched
// again; its bytes, or its error, are shared by every request that names it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "media/image_fetcher.h"

namespace openbatch::media {

struct ImageLoaderOptions {
  FetchOptions fetch;
  int concurrency = 8;                     // downloads in flight at once
  size_t cache_bytes = 256 * 1024 * 1024;  // images kept for later requests
  std::chrono::seconds cache_ttl{600};     // how long a fetched image is reused
  std::chrono::seconds error_ttl{30};      // how long a failed URL's error is reused
};

class ImageLoader {
 public:
  using Done = std::function<void(Result<ImageBytes>)>;

  explicit ImageLoader(ImageLoaderOptions options);
  ~ImageLoader();  // shutdown()
  ImageLoader(const ImageLoader&) = delete;
  ImageLoader& operator=(const ImageLoader&) = delete;

  // Loads url and calls done exactly once with the image or the 400 that explains why there is none
  // (see ImageFetcher::fetch). done runs on a loader thread, or before load returns for data: URLs
  // and cached URLs; it must not block. After shutdown(), done gets a 503. Thread-safe.
  void load(const std::string& url, Done done);

  // Blocking form of load(). Thread-safe.
  Result<ImageBytes> load_now(const std::string& url);

  // Stops the downloads in progress and the loader threads; waiting loads get a 503. Idempotent.
  void shutdown();

  // Downloads started so far (cache hits and data: URLs are not downloads). For tests.
  int64_t downloads() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    bool loading = true;
    Result<ImageBytes> result = Status::internal("not loaded");
    Clock::time_point expires{};
    std::vector<Done> waiters;
    std::list<std::string>::iterator lru;
  };

  void worker();
  void evict_locked();

  ImageFetcher fetcher_;
  const ImageLoaderOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;     // finished entries, most recently used first
  std::deque<std::string> queue_;  // URLs waiting for a loader thread
  size_t cached_bytes_ = 0;
  int64_t downloads_ = 0;
  bool stopping_ = false;
  std::atomic<bool> abort_{false};  // makes downloads in progress stop at shutdown
  std::vector<std::thread> threads_;
};

}  // namespace openbatch::media
