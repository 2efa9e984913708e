#include "media/image_loader.h"

#include <future>

#include "engine/engine.h"
#include "media/data_url.h"

namespace openbatch::media {

namespace {

Status stopped() { return engine::shutting_down(); }

}  // namespace

ImageLoader::ImageLoader(ImageLoaderOptions options) : fetcher_(options.fetch), options_(options) {
  const int n = std::max(1, options_.concurrency);
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { worker(); });
}

ImageLoader::~ImageLoader() { shutdown(); }

void ImageLoader::shutdown() {
  std::vector<Done> orphans;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    abort_.store(true);
    for (const std::string& url : queue_) {
      auto it = entries_.find(url);
      if (it == entries_.end()) continue;
      for (Done& d : it->second.waiters) orphans.push_back(std::move(d));
      entries_.erase(it);
    }
    queue_.clear();
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  for (Done& d : orphans) d(stopped());
}

int64_t ImageLoader::downloads() const {
  std::lock_guard lock(mu_);
  return downloads_;
}

void ImageLoader::load(const std::string& url, Done done) {
  // data: URLs carry their bytes: decoding them is quick, and caching them would keep big keys.
  if (is_data_url(url)) return done(fetcher_.fetch(url));
  std::unique_lock lock(mu_);
  if (stopping_) {
    lock.unlock();
    return done(stopped());
  }
  auto it = entries_.find(url);
  if (it != entries_.end() && !it->second.loading && Clock::now() >= it->second.expires) {
    lru_.erase(it->second.lru);
    if (it->second.result) cached_bytes_ -= (*it->second.result)->size();
    entries_.erase(it);
    it = entries_.end();
  }
  if (it == entries_.end()) {
    Entry& e = entries_[url];
    e.waiters.push_back(std::move(done));
    queue_.push_back(url);
    ++downloads_;
    lock.unlock();
    cv_.notify_one();
    return;
  }
  Entry& e = it->second;
  if (e.loading) {
    e.waiters.push_back(std::move(done));
    return;
  }
  lru_.splice(lru_.begin(), lru_, e.lru);
  Result<ImageBytes> result = e.result;
  lock.unlock();
  done(std::move(result));
}

Result<ImageBytes> ImageLoader::load_now(const std::string& url) {
  auto promise = std::make_shared<std::promise<Result<ImageBytes>>>();
  auto future = promise->get_future();
  load(url, [promise](Result<ImageBytes> r) { promise->set_value(std::move(r)); });
  return future.get();
}

void ImageLoader::worker() {
  for (;;) {
    std::string url;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      url = std::move(queue_.front());
      queue_.pop_front();
    }
    Result<ImageBytes> result = fetcher_.fetch(url, &abort_);
    std::vector<Done> waiters;
    {
      std::lock_guard lock(mu_);
      Entry& e = entries_[url];
      waiters.swap(e.waiters);
      e.loading = false;
      e.result = result;
      const bool ok = result.is_ok();
      e.expires = Clock::now() + (ok ? options_.cache_ttl : options_.error_ttl);
      lru_.push_front(url);
      e.lru = lru_.begin();
      if (ok) cached_bytes_ += (*result)->size();
      evict_locked();
    }
    for (Done& d : waiters) d(result);
  }
}

// Drops the least recently used finished entries until the cached bytes fit (always keeping the
// newest, so an image larger than the whole cache still serves the requests that wait for it now).
// Errors take no bytes: their number is bounded too.
void ImageLoader::evict_locked() {
  constexpr size_t kMaxEntries = 4096;
  while ((cached_bytes_ > options_.cache_bytes && lru_.size() > 1) || lru_.size() > kMaxEntries) {
    auto it = entries_.find(lru_.back());
    lru_.pop_back();
    if (it->second.result) cached_bytes_ -= (*it->second.result)->size();
    entries_.erase(it);
  }
}

}  // namespace openbatch::media
