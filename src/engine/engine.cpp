#include "engine/engine.h"

#include <cmath>
#include <future>

namespace openbatch::engine {

bool has_images(const std::vector<Message>& messages) {
  for (const Message& m : messages) {
    if (!m.images.empty()) return true;
  }
  return false;
}

Status images_not_supported(const ModelInfo& model) {
  return Status::invalid_request("The model `" + model.id +
                                     "` does not accept images: image_url content parts need a vision model "
                                     "served with its projector (openbatch serve --mmproj).",
                                 "", "image_not_supported");
}

void scale_to_unit_length(std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  if (sum <= 0) return;
  const double norm = std::sqrt(sum);
  for (float& x : v) x = static_cast<float>(x / norm);
}

int estimate_prompt_tokens(const GenerationRequest& request) {
  size_t bytes = 0;
  if (request.raw_prompt) {
    if (!request.raw_prompt->tokens.empty()) return static_cast<int>(request.raw_prompt->tokens.size());
    bytes = request.raw_prompt->text.size();
  }
  for (const Message& m : request.messages) {
    bytes += m.content.size() + m.reasoning_content.size();
    for (const ToolCall& call : m.tool_calls) bytes += call.name.size() + call.arguments.size();
  }
  for (const Tool& tool : request.tools)
    bytes += tool.name.size() + tool.description.size() + tool.parameters.size();
  return static_cast<int>((bytes + 3) / 4);
}

Status shutting_down() { return Status::unavailable("The server is shutting down."); }

Status request_cancelled() { return Status::cancelled("The request was cancelled."); }

std::string describe_image_url(const std::string& url) {
  constexpr size_t kShown = 48;
  if (url.rfind("data:", 0) == 0 && url.size() > kShown) return url.substr(0, kShown) + "...";
  return url;
}

void Engine::embed(EmbeddingRequest, EmbeddingsDone done) {
  done(Status::invalid_request("The model `" + model_info().id + "` does not support embeddings.", "model",
                               "model_not_supported"));
}

const char* model_state_name(ModelState state) {
  switch (state) {
    case ModelState::kLoaded:
      return "loaded";
    case ModelState::kLoading:
      return "loading";
    case ModelState::kUnloaded:
      return "unloaded";
    case ModelState::kFailed:
      return "failed";
  }
  return "unknown";
}

bool is_named(const ModelInfo& model, std::string_view name) {
  if (model.id == name) return true;
  for (const std::string& alias : model.aliases) {
    if (alias == name) return true;
  }
  return false;
}

std::optional<ModelInfo> find_model(const Engine& engine, std::string_view name) {
  for (ModelInfo& model : engine.models()) {
    if (is_named(model, name)) return std::move(model);
  }
  return std::nullopt;
}

Result<Generation> generate(Engine& engine, GenerationRequest request) {
  auto promise = std::make_shared<std::promise<Result<Generation>>>();
  auto future = promise->get_future();
  GenerationCallbacks callbacks;
  callbacks.on_done = [promise](Result<Generation> result) { promise->set_value(std::move(result)); };
  engine.submit(std::move(request), std::move(callbacks));
  return future.get();
}

const char* reasoning_effort_name(ReasoningEffort effort) {
  switch (effort) {
    case ReasoningEffort::kNone:
      return "none";
    case ReasoningEffort::kMinimal:
      return "minimal";
    case ReasoningEffort::kLow:
      return "low";
    case ReasoningEffort::kMedium:
      return "medium";
    case ReasoningEffort::kHigh:
      return "high";
    case ReasoningEffort::kDefault:
      break;
  }
  return nullptr;
}

}  // namespace openbatch::engine
