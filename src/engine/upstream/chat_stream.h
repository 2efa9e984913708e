// Reads a streamed Chat Completions answer (server-sent events of `chat.completion.chunk`s) as it
// arrives: each piece of text goes on at once, and at the end the pieces make up the same
// `chat.completion` a whole answer would have been.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"

namespace openbatch::engine::upstream {

class ChatStreamReader {
 public:
  using OnDelta = std::function<void(GenerationDelta delta)>;
  explicit ChatStreamReader(OnDelta on_delta) : on_delta_(std::move(on_delta)) {}

  // Takes the next bytes of the stream (events may be split anywhere).
  void feed(std::string_view bytes);
  // Whether any text has gone to on_delta (then the call cannot be tried again).
  bool delivered() const { return delivered_; }
  // The whole answer as a `chat.completion` (first choice, usage when the server sent it), or the
  // error the stream carried; a stream cut before `[DONE]` is a 502.
  Result<nlohmann::json> completion() const;

 private:
  void event(std::string_view data);

  OnDelta on_delta_;
  std::string pending_;  // bytes of an event not yet complete
  std::string text_;
  std::string reasoning_;
  nlohmann::json tool_calls_ = nlohmann::json::array();  // the message's calls, pieced together
  nlohmann::json logprobs_ = nlohmann::json::array();
  nlohmann::json finish_reason_ = nullptr;
  nlohmann::json usage_ = nullptr;
  Status error_;
  bool done_ = false;
  bool delivered_ = false;
};

}  // namespace openbatch::engine::upstream
