// A test double for the batch tests: an engine::Engine that answers without a model (the clock that
// moves only when told is common/fake_clock_for_test.h). Header-only; included by *_test.cpp files only.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/engine.h"

namespace openbatch::testing {

// Each generation answers "ok: <last message>" with 10 prompt tokens (3 cached) and 5 completion tokens.
// A last message containing "TOO_LONG" fails with a 400 context_length_exceeded, as a real engine does
// for a prompt longer than its context.
//
// Auto mode answers every generation at once on a worker thread. Manual mode holds generations until
// complete() is called; cancel() on a held one answers it with the engine's 499 cancellation.
// The first `reject_first` generations are answered 503 (the engine turning work away).
class FakeEngine final : public engine::Engine {
 public:
  explicit FakeEngine(bool auto_complete, int parallel = 2) : auto_(auto_complete) {
    info_.id = "tiny";
    info_.aliases = {"tiny-alias"};
    info_.context_per_sequence = 512;
    info_.parallel = parallel;
    if (auto_) worker_ = std::thread([this] { work(); });
  }
  ~FakeEngine() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
  }

  const engine::ModelInfo& model_info() const override { return models_.empty() ? info_ : models_.front(); }
  std::vector<engine::ModelInfo> models() const override {
    return models_.empty() ? std::vector<engine::ModelInfo>{info_} : models_;
  }

  std::shared_ptr<engine::GenerationHandle> submit(engine::GenerationRequest request,
                                                   engine::GenerationCallbacks callbacks) override {
    auto job = std::make_shared<Job>();
    job->content = request.messages.empty() ? "" : request.messages.back().content;
    job->callbacks = std::move(callbacks);
    {
      std::lock_guard lock(mu_);
      submissions_.push_back(job->content);
      submitted_models_.push_back(request.model);
      if (request.priority != engine::Priority::kBatch) ++non_batch_priority_;
      held_.push_back(job);
      max_held_ = std::max(max_held_, held_.size());
    }
    cv_.notify_all();
    return std::make_shared<Handle>(this, job);
  }

  Result<int> count_prompt_tokens(const engine::GenerationRequest&) override { return 10; }
  void shutdown() override {}

  // ---- for tests
  int reject_first = 0;

  // Serves these models (models(); model_info() is the first) instead of "tiny". REQUIRES: before use.
  void set_models(std::vector<engine::ModelInfo> models) { models_ = std::move(models); }
  // The model each generation named (GenerationRequest::model), in the order submitted.
  std::vector<std::string> submitted_models() const {
    std::lock_guard lock(mu_);
    return submitted_models_;
  }

  std::vector<std::string> submissions() const {
    std::lock_guard lock(mu_);
    return submissions_;
  }
  size_t held() const {
    std::lock_guard lock(mu_);
    return held_.size();
  }
  size_t max_in_flight_seen() const {
    std::lock_guard lock(mu_);
    return max_held_;
  }
  int cancelled() const { return cancelled_.load(); }
  int non_batch_priority() const {
    std::lock_guard lock(mu_);
    return non_batch_priority_;
  }
  // Blocks until at least n generations are held (manual mode) or the timeout passes.
  bool wait_held(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return held_.size() >= n; });
  }
  // Blocks until at least n generations have been submitted, or the timeout passes.
  bool wait_submitted(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return submissions_.size() >= n; });
  }
  // Answers the n oldest held generations.
  void complete(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      std::shared_ptr<Job> job;
      {
        std::lock_guard lock(mu_);
        if (held_.empty()) return;
        job = held_.front();
        held_.pop_front();
      }
      answer(*job);
    }
  }

 private:
  struct Job {
    std::string content;
    engine::GenerationCallbacks callbacks;
  };

  class Handle final : public engine::GenerationHandle {
   public:
    Handle(FakeEngine* engine, std::shared_ptr<Job> job) : engine_(engine), job_(std::move(job)) {}
    void cancel() override { engine_->cancel(job_); }

   private:
    FakeEngine* engine_;
    std::shared_ptr<Job> job_;
  };

  void cancel(const std::shared_ptr<Job>& job) {
    {
      std::lock_guard lock(mu_);
      auto it = std::find(held_.begin(), held_.end(), job);
      if (it == held_.end()) return;  // already answered
      held_.erase(it);
    }
    ++cancelled_;
    job->callbacks.on_done(Status::cancelled("The request was cancelled."));
  }

  void answer(Job& job) {
    bool reject = false;
    {
      std::lock_guard lock(mu_);
      if (answered_++ < reject_first) reject = true;
    }
    if (reject) return job.callbacks.on_done(Status::unavailable("The engine is busy."));
    if (job.content.find("TOO_LONG") != std::string::npos) {
      return job.callbacks.on_done(Status::invalid_request(
          "This model's maximum context length is 512 tokens.", "messages", "context_length_exceeded"));
    }
    engine::Generation g;
    g.text = "ok: " + job.content;
    g.prompt_tokens = 10;
    g.cached_tokens = 3;
    g.completion_tokens = 5;
    job.callbacks.on_done(std::move(g));
  }

  void work() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !held_.empty(); });
      if (stop_) return;
      auto job = held_.front();
      held_.pop_front();
      lock.unlock();
      answer(*job);
      lock.lock();
    }
  }

  engine::ModelInfo info_;
  std::vector<engine::ModelInfo> models_;
  const bool auto_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> held_;
  std::vector<std::string> submissions_;
  std::vector<std::string> submitted_models_;
  size_t max_held_ = 0;
  int answered_ = 0;
  int non_batch_priority_ = 0;
  std::atomic<int> cancelled_{0};
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace openbatch::testing
