#include "openai/chat_stream.h"

#include <chrono>

#include "common/error_envelope.h"

namespace openbatch::openai {

namespace {

using json = nlohmann::ordered_json;

engine::FinishReason finish_reason_of(const json& name) {
  if (name == "length") return engine::FinishReason::kLength;
  if (name == "tool_calls") return engine::FinishReason::kToolCalls;
  return engine::FinishReason::kStop;
}

}  // namespace

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ChatChunkStream::ChatChunkStream(const ChatCompletionRequest& request, std::string id, int64_t created)
    : id_(std::move(id)),
      model_(request.model),
      created_(created),
      n_(request.n),
      include_usage_(request.include_usage),
      logprobs_(request.generation.logprobs),
      call_ids_(request.n) {}

StreamEvent ChatChunkStream::chunk(json choices) const {
  // With include_usage every chunk but the last carries "usage": null, as OpenAI's do.
  return {"", build_chat_chunk(id_, model_, created_, std::move(choices),
                               include_usage_ ? json(nullptr) : json(json::value_t::discarded))};
}

std::vector<StreamEvent> ChatChunkStream::start() {
  std::vector<StreamEvent> out;
  for (int i = 0; i < n_; ++i) {
    out.push_back(chunk(json::array({chunk_choice(
        i, {{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}}, nullptr, std::nullopt)})));
  }
  return out;
}

std::vector<StreamEvent> ChatChunkStream::delta(int choice, const engine::GenerationDelta& delta) {
  json d = json::object();
  if (!delta.content.empty() || (delta.reasoning_content.empty() && delta.tool_calls.empty())) {
    d["content"] = delta.content;
  }
  if (!delta.reasoning_content.empty()) d["reasoning_content"] = delta.reasoning_content;
  if (!delta.tool_calls.empty()) {
    std::vector<std::string>& ids = call_ids_[choice];
    json calls = json::array();
    for (const auto& t : delta.tool_calls) {
      json call = {{"index", t.index}};
      if (t.index >= static_cast<int>(ids.size())) {
        ids.resize(t.index + 1);
        ids[t.index] = t.id.empty() ? new_id("call_") : t.id;
        call["id"] = ids[t.index];
        call["type"] = "function";
        call["function"] = {{"name", t.name}, {"arguments", t.arguments}};
      } else {
        call["function"] = {{"arguments", t.arguments}};
      }
      calls.push_back(std::move(call));
    }
    d["tool_calls"] = std::move(calls);
  }
  return {chunk(json::array(
      {chunk_choice(choice, std::move(d), logprobs_ ? &delta.logprobs : nullptr, std::nullopt)}))};
}

std::vector<StreamEvent> ChatChunkStream::finish(const Result<json>& completion) {
  std::vector<StreamEvent> out;
  if (!completion) {
    out.push_back({"", error_envelope(completion.status())});
  } else {
    for (const auto& choice : (*completion)["choices"]) {
      out.push_back(chunk(json::array({chunk_choice(choice["index"].get<int>(), json::object(), nullptr,
                                                    finish_reason_of(choice["finish_reason"]))})));
    }
    if (include_usage_) {
      out.push_back({"", build_chat_chunk(id_, model_, created_, json::array(), (*completion)["usage"])});
    }
  }
  out.push_back({"", json(), true});
  return out;
}

std::vector<std::shared_ptr<engine::GenerationHandle>> stream_chat_completion(engine::Engine& engine,
                                                                              ChatCompletionRequest request,
                                                                              StreamSink sink) {
  return run_as_stream(ChatChunkStream(request, new_id("chatcmpl-"), unix_now()), std::move(sink),
                       [&](ChatCompletionDone done, ChoiceDeltaCallback on_delta) {
                         return run_chat_completion(engine, std::move(request), std::move(done),
                                                    std::move(on_delta));
                       });
}

}  // namespace openbatch::openai
