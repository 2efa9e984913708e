// A streamed chat completion (POST /v1/chat/completions with stream: true): OpenAI's
// `chat.completion.chunk` events. Each choice opens with a chunk carrying its role, its text comes as
// content (reasoning_content, tool-call pieces) deltas, then one chunk per choice with its
// finish_reason, with stream_options.include_usage a last chunk with the usage and no choices, and
// "data: [DONE]". A failure is an error envelope, then [DONE].
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "openai/chat_completion.h"
#include "openai/stream_event.h"

namespace openbatch::openai {

// The events of one streamed chat completion, built from what the engine reports. Not thread-safe.
class ChatChunkStream {
 public:
  // id: the chunks' id ("chatcmpl-..."); created: their unix time.
  ChatChunkStream(const ChatCompletionRequest& request, std::string id, int64_t created);

  // The first chunk of each choice, with its role.
  std::vector<StreamEvent> start();
  // The chunk of a piece of choice's answer. A tool call carries its id, type and name with its first
  // piece only; later pieces only its index and arguments.
  std::vector<StreamEvent> delta(int choice, const engine::GenerationDelta& delta);
  // The finish chunks, the usage chunk when asked for, and [DONE]; or the error and [DONE].
  // completion: the finished `chat.completion` (run_chat_completion's answer) or the failure.
  std::vector<StreamEvent> finish(const Result<nlohmann::ordered_json>& completion);

 private:
  StreamEvent chunk(nlohmann::ordered_json choices) const;

  std::string id_;
  std::string model_;
  int64_t created_;
  int n_;
  bool include_usage_;
  bool logprobs_;
  std::vector<std::vector<std::string>> call_ids_;  // by choice, by tool-call index: the call's id
};

// Runs request (all its choices) on engine as a stream: sink gets the role chunks before this returns,
// then the rest as the engine makes it, the last call with last = true. Returns handles that cancel the
// work. Thread-safe.
std::vector<std::shared_ptr<engine::GenerationHandle>> stream_chat_completion(engine::Engine& engine,
                                                                              ChatCompletionRequest request,
                                                                              StreamSink sink);

// The current unix time in seconds: a stream's `created`.
int64_t unix_now();

}  // namespace openbatch::openai
