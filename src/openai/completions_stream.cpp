#include "openai/completions_stream.h"

#include "common/error_envelope.h"
#include "openai/chat_stream.h"

namespace openbatch::openai {

using json = nlohmann::ordered_json;

CompletionChunkStream::CompletionChunkStream(const CompletionRequest& request, std::string id,
                                             int64_t created)
    : id_(std::move(id)),
      model_(request.model),
      created_(created),
      include_usage_(request.include_usage),
      logprobs_(request.logprobs.has_value()),
      offsets_(request.prompts.size() * request.n, 0) {}

StreamEvent CompletionChunkStream::chunk(json choice) const {
  // With include_usage every chunk but the last carries "usage": null, as OpenAI's do.
  return {"", build_completion_chunk(id_, model_, created_, json::array({std::move(choice)}),
                                     include_usage_ ? json(nullptr) : json(json::value_t::discarded))};
}

std::vector<StreamEvent> CompletionChunkStream::delta(int choice, const engine::GenerationDelta& delta) {
  json lp = nullptr;
  size_t& at = offsets_[choice];
  if (logprobs_ && !delta.logprobs.empty()) {
    size_t generated = 0;
    for (const auto& t : delta.logprobs) generated += t.token.size();
    // An echo comes first, without tokens of its own.
    if (delta.content.size() > generated) at += delta.content.size() - generated;
    lp = completion_logprobs_json(delta.logprobs, at);
    at += generated;
  } else {
    at += delta.content.size();
  }
  return {chunk(
      {{"text", delta.content}, {"index", choice}, {"logprobs", std::move(lp)}, {"finish_reason", nullptr}})};
}

std::vector<StreamEvent> CompletionChunkStream::finish(const Result<json>& completion) {
  std::vector<StreamEvent> out;
  if (!completion) {
    out.push_back({"", error_envelope(completion.status())});
  } else {
    for (const auto& choice : (*completion)["choices"]) {
      out.push_back(chunk({{"text", ""},
                           {"index", choice["index"]},
                           {"logprobs", nullptr},
                           {"finish_reason", choice["finish_reason"]}}));
    }
    if (include_usage_) {
      out.push_back(
          {"", build_completion_chunk(id_, model_, created_, json::array(), (*completion)["usage"])});
    }
  }
  out.push_back({"", json(), true});
  return out;
}

std::vector<std::shared_ptr<engine::GenerationHandle>> stream_completion(engine::Engine& engine,
                                                                         CompletionRequest request,
                                                                         StreamSink sink) {
  return run_as_stream(CompletionChunkStream(request, new_id("cmpl-"), unix_now()), std::move(sink),
                       [&](ChatCompletionDone done, ChoiceDeltaCallback on_delta) {
                         return run_completion(engine, std::move(request), std::move(done),
                                               std::move(on_delta));
                       });
}

}  // namespace openbatch::openai
