// The server-sent events of a streamed answer, as the endpoints of openai/ build them and the HTTP
// layer writes them: Chat Completions' and Completions' chunks (then "data: [DONE]"), the Responses
// API's named events.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.h"

namespace openbatch::openai {

struct StreamEvent {
  std::string name;                                        // the `event:` line; empty for none
  nlohmann::ordered_json data = nlohmann::ordered_json();  // the `data:` line's JSON
  bool done_marker = false;  // "data: [DONE]", the end of a chunk stream (name and data unused)
};

// Takes the events of one stream in order; last: nothing follows. Called from engine threads, one
// call at a time; must not block.
using StreamSink = std::function<void(std::vector<StreamEvent> events, bool last)>;

// A stream's builder of events (ChatChunkStream, CompletionChunkStream, ResponseEventStream, none of
// them thread-safe) and the sink its events go to, shared by the engine's callbacks: one call at a time
// builds events and hands them on, so they reach the sink in the order they were built.
template <class Builder>
class SerializedStream {
 public:
  SerializedStream(Builder builder, StreamSink sink) : builder_(std::move(builder)), sink_(std::move(sink)) {}

  // Builds events with make(builder) and hands them to the sink (not when there are none and more
  // follow). Thread-safe.
  template <class Make>
  void emit(Make&& make, bool last = false) {
    std::lock_guard lock(mu_);
    std::vector<StreamEvent> events = make(builder_);
    if (events.empty() && !last) return;
    sink_(std::move(events), last);
  }

 private:
  std::mutex mu_;
  Builder builder_;
  StreamSink sink_;
};

// Runs work as a stream of builder's events (ChatChunkStream, CompletionChunkStream): builder.start()'s
// go to sink now, builder.delta(choice, delta)'s as the engine reports pieces, builder.finish(result)'s
// last. run(done, on_delta) starts the work (run_chat_completion's shape) and returns its handles.
template <class Builder, class Run>
auto run_as_stream(Builder builder, StreamSink sink, Run run) {
  auto stream = std::make_shared<SerializedStream<Builder>>(std::move(builder), std::move(sink));
  stream->emit([](Builder& b) { return b.start(); });
  return run(
      [stream](const auto& result) {
        stream->emit([&](Builder& b) { return b.finish(result); }, /*last=*/true);
      },
      [stream](int choice, engine::GenerationDelta delta) {
        stream->emit([&](Builder& b) { return b.delta(choice, delta); });
      });
}

}  // namespace openbatch::openai
