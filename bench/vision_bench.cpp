// Images per second for a batch of captioning requests (the guide's Example 2: a system prompt, the
// item's title and its image), with 1 sequence and with N parallel sequences. Every request has its own
// image (no cache hits) and generates exactly --tokens tokens, so both runs do the same work: image
// decoding, projector encoding, prefill of the image embeddings, generation.
//
//   openbatch make-model --shape bench-vision --output build/models/bench-vision.gguf
//       --mmproj-output build/models/bench-vision-mmproj.gguf
//   vision_bench --model build/models/bench-vision.gguf --mmproj build/models/bench-vision-mmproj.gguf
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <future>
#include <vector>

#include "engine/llama/llama_engine.h"
#include "image/test_images_for_test.h"

using namespace openbatch;

namespace {

constexpr const char* kCaptionPrompt =
    "Your goal is to generate short, descriptive captions for images of items.\n"
    "You will be provided with an item image and the name of that item and you will output a caption that "
    "captures the most important information about the item.\nKeep it short and to the point.";

struct Run {
  double seconds = 0;
  int images = 0;
  int failed = 0;
  long prompt_tokens = 0;
};

// Runs every request, keeping `in_flight` on the engine at once (as the batch runner does).
Run run_batch(engine::Engine& eng, const std::vector<std::shared_ptr<const std::string>>& images,
              int in_flight, int tokens) {
  Run run;
  const auto start = std::chrono::steady_clock::now();
  std::deque<std::future<Result<engine::Generation>>> pending;
  size_t next = 0;
  auto submit = [&] {
    engine::GenerationRequest r;
    engine::Message system;
    system.role = "system";
    system.content = kCaptionPrompt;
    r.messages.push_back(std::move(system));
    engine::Message user;
    user.role = "user";
    user.content = "Item " + std::to_string(next) + ": oak chair with a woven seat";
    engine::ImagePart image;
    image.offset = user.content.size();
    image.url = "bench://" + std::to_string(next);
    image.data = images[next];
    user.images.push_back(std::move(image));
    r.messages.push_back(std::move(user));
    r.max_tokens = tokens;
    r.ignore_eos = true;
    r.sampling.temperature = 0.2f;
    r.sampling.seed = static_cast<uint32_t>(next);
    r.priority = engine::Priority::kBatch;
    auto p = std::make_shared<std::promise<Result<engine::Generation>>>();
    pending.push_back(p->get_future());
    engine::GenerationCallbacks cb;
    cb.on_done = [p](Result<engine::Generation> g) { p->set_value(std::move(g)); };
    eng.submit(std::move(r), std::move(cb));
    ++next;
  };
  while (next < images.size() && static_cast<int>(pending.size()) < in_flight) submit();
  while (!pending.empty()) {
    auto g = pending.front().get();
    pending.pop_front();
    if (g) {
      ++run.images;
      run.prompt_tokens += g->prompt_tokens;
    } else {
      ++run.failed;
      std::fprintf(stderr, "request failed: %s\n", g.status().message().c_str());
    }
    if (next < images.size()) submit();
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Captioned images/s with 1 and with N parallel sequences"};
  std::string model, mmproj;
  int requests = 32, parallel = 8, tokens = 16, image_side = 256, threads = 0, gpu_layers = -1;
  app.add_option("--model", model, "GGUF text model")->required();
  app.add_option("--mmproj", mmproj, "its projector (mmproj GGUF)")->required();
  app.add_option("--requests", requests, "captioning requests, one image each")->capture_default_str();
  app.add_option("--parallel", parallel, "sequences of the parallel run")->capture_default_str();
  app.add_option("--tokens", tokens, "tokens generated per caption")->capture_default_str();
  app.add_option("--image-side", image_side, "pixels on a side of each (BMP) image")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0: all)");
  app.add_option("--gpu-layers", gpu_layers, "layers on the GPU (-1: all)");
  CLI11_PARSE(app, argc, argv);

  engine::set_llama_log_level_warn();
  std::vector<std::shared_ptr<const std::string>> images;
  for (int i = 0; i < requests; ++i) {
    const auto side = static_cast<uint32_t>(image_side);
    images.push_back(std::make_shared<const std::string>(image::testing::bmp_image(side, side, i + 1)));
  }
  std::vector<std::shared_ptr<const std::string>> warm(images.begin(),
                                                       images.begin() + std::min(requests, 2));

  const int levels[] = {1, parallel};
  Run runs[2];
  for (int i = 0; i < 2; ++i) {
    engine::LlamaEngineOptions opts;
    opts.model_path = model;
    opts.mmproj_path = mmproj;
    opts.parallel = levels[i];
    opts.ctx_size = 2048 * levels[i];
    opts.threads = threads;
    opts.gpu_layers = gpu_layers;
    auto eng = engine::LlamaEngine::load(opts);
    if (!eng) {
      std::fprintf(stderr, "%s\n", eng.status().message().c_str());
      return 1;
    }
    run_batch(**eng, warm, levels[i], tokens);  // warm-up
    runs[i] = run_batch(**eng, images, 4 * levels[i], tokens);
    (*eng)->shutdown();
    if (runs[i].failed > 0) return 1;
  }
  std::printf(
      "model: %s + %s\n%d requests, one %dx%d image each, %d generated tokens, %ld prompt tokens a request\n",
      model.c_str(), mmproj.c_str(), requests, image_side, image_side, tokens,
      runs[0].prompt_tokens / std::max(1, runs[0].images));
  std::printf("%-12s %12s %10s\n", "sequences", "images/s", "vs 1");
  for (int i = 0; i < 2; ++i) {
    const double rate = runs[i].images / runs[i].seconds;
    std::printf("%-12d %12.2f %9.2fx\n", levels[i], rate, rate / (runs[0].images / runs[0].seconds));
  }
  return 0;
}
