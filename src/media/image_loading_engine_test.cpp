#include "media/image_loading_engine.h"

#include <gtest/gtest.h>

#include <future>

#include "common/http_status.h"
#include "media/image_server_for_test.h"

namespace openbatch::media {
namespace {

using namespace std::chrono_literals;

// Answers every request at once with the sizes of the images it received, in order.
class RecordingEngine final : public engine::Engine {
 public:
  explicit RecordingEngine(bool vision) {
    info_.id = "m";
    info_.has_vision = vision;
  }
  const engine::ModelInfo& model_info() const override { return info_; }
  std::shared_ptr<engine::GenerationHandle> submit(engine::GenerationRequest request,
                                                   engine::GenerationCallbacks callbacks) override {
    ++submitted;
    engine::Generation g;
    for (const auto& m : request.messages) {
      for (const auto& image : m.images) {
        g.text += (image.data ? std::to_string(image.data->size()) : "null") + " ";
      }
    }
    callbacks.on_done(std::move(g));
    return nullptr;
  }
  Result<int> count_prompt_tokens(const engine::GenerationRequest& request) override {
    int n = 0;
    for (const auto& m : request.messages) {
      for (const auto& image : m.images) n += image.data ? 100 : 0;
    }
    return n;
  }
  void shutdown() override {}
  std::atomic<int> submitted{0};

 private:
  engine::ModelInfo info_;
};

engine::GenerationRequest request_with(const std::vector<std::string>& urls) {
  engine::GenerationRequest r;
  engine::Message m{"user", "describe", {}};
  for (const auto& u : urls) m.images.push_back({m.content.size(), u, nullptr});
  r.messages.push_back(m);
  return r;
}

Result<engine::Generation> run(engine::Engine& e, engine::GenerationRequest r) {
  return engine::generate(e, std::move(r));
}

ImageLoaderOptions fast_options() {
  ImageLoaderOptions o;
  o.fetch.total_timeout = 2s;
  o.fetch.destinations.allow_private = true;  // the test server is on loopback
  return o;
}

TEST(ImageLoadingEngineTest, LoadsEveryImageBeforeTheEngineSeesTheRequest) {
  testing::ImageServer server;
  auto inner = std::make_unique<RecordingEngine>(true);
  RecordingEngine* recorder = inner.get();
  ImageLoadingEngine e(std::move(inner), fast_options());
  const std::string png = image::testing::png_image(40, 30, 1);
  const std::string small = image::testing::png_image(3, 3);
  auto g = run(e, request_with({server.url("/good.png"), image::testing::data_url("image/png", small),
                                server.url("/good.png")}));
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  EXPECT_EQ(g->text, std::to_string(png.size()) + " " + std::to_string(small.size()) + " " +
                         std::to_string(png.size()) + " ");
  EXPECT_EQ(server.hits("/good.png"), 1);
  auto count = e.count_prompt_tokens(request_with({server.url("/good.png")}));
  ASSERT_TRUE(count.is_ok());
  EXPECT_EQ(*count, 100);
  // Text-only requests pass straight through.
  engine::GenerationRequest text;
  text.messages.push_back({"user", "hi", {}});
  ASSERT_TRUE(run(e, text).is_ok());
  EXPECT_EQ(recorder->submitted, 2);
}

TEST(ImageLoadingEngineTest, ARequestWhoseImageFailsEndsWithThatImagesError) {
  testing::ImageServer server;
  auto inner = std::make_unique<RecordingEngine>(true);
  RecordingEngine* recorder = inner.get();
  ImageLoadingEngine e(std::move(inner), fast_options());
  auto g =
      run(e, request_with({server.url("/good.png"), server.url("/missing.png"), server.url("/page.html")}));
  ASSERT_FALSE(g.is_ok());
  EXPECT_EQ(http_status_of(g.status()), 400);
  EXPECT_NE(g.status().message().find(server.url("/missing.png")), std::string::npos) << g.status().message();
  EXPECT_EQ(recorder->submitted, 0);
}

TEST(ImageLoadingEngineTest, AModelWithoutVisionSaysItTakesNoImages) {
  ImageLoadingEngine e(std::make_unique<RecordingEngine>(false), fast_options());
  auto g = run(e, request_with({"https://example.invalid/a.png"}));
  ASSERT_FALSE(g.is_ok());
  EXPECT_EQ(http_status_of(g.status()), 400);
  EXPECT_EQ(g.status().code(), "image_not_supported");
  EXPECT_NE(g.status().message().find("does not accept images"), std::string::npos);
}

TEST(ImageLoadingEngineTest, ACancelWhileLoadingEndsTheRequestWithoutTheEngine) {
  testing::ImageServer server;
  auto inner = std::make_unique<RecordingEngine>(true);
  RecordingEngine* recorder = inner.get();
  ImageLoadingEngine e(std::move(inner), fast_options());
  auto done = std::make_shared<std::promise<Result<engine::Generation>>>();
  engine::GenerationCallbacks cb;
  cb.on_done = [done](Result<engine::Generation> r) { done->set_value(std::move(r)); };
  auto handle = e.submit(request_with({server.url("/slow.png")}), cb);
  handle->cancel();
  server.release_slow();
  auto r = done->get_future().get();
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(http_status_of(r.status()), 499);
  EXPECT_EQ(recorder->submitted, 0);
}

}  // namespace
}  // namespace openbatch::media
