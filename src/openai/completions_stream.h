// A streamed completion (POST /v1/completions with stream: true): OpenAI's `text_completion` chunks.
// Each piece of a choice's text is a chunk (with its logprobs when asked for), then one chunk per
// choice with its finish_reason, with stream_options.include_usage a last chunk with the usage and no
// choices, and "data: [DONE]". A failure is an error envelope, then [DONE].
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "openai/completions.h"
#include "openai/stream_event.h"

namespace openbatch::openai {

// The events of one streamed completion, built from what the engine reports. Not thread-safe.
class CompletionChunkStream {
 public:
  // id: the chunks' id ("cmpl-..."); created: their unix time.
  CompletionChunkStream(const CompletionRequest& request, std::string id, int64_t created);

  // Nothing: a completion stream opens with its first piece of text.
  std::vector<StreamEvent> start() { return {}; }
  // The chunk of a piece of choice's text (choice = prompt * n + j). Its logprobs' text_offset counts
  // from the start of the choice's text, an echoed prompt included.
  std::vector<StreamEvent> delta(int choice, const engine::GenerationDelta& delta);
  // The finish chunks, the usage chunk when asked for, and [DONE]; or the error and [DONE].
  // completion: the finished `text_completion` (run_completion's answer) or the failure.
  std::vector<StreamEvent> finish(const Result<nlohmann::ordered_json>& completion);

 private:
  StreamEvent chunk(nlohmann::ordered_json choice) const;

  std::string id_;
  std::string model_;
  int64_t created_;
  bool include_usage_;
  bool logprobs_;
  std::vector<size_t> offsets_;  // by choice: where its next token starts in its text
};

// Runs request (every prompt's choices) on engine as a stream: sink gets the events as the engine makes
// them, the last call with last = true. Returns handles that cancel the work. Thread-safe.
std::vector<std::shared_ptr<engine::GenerationHandle>> stream_completion(engine::Engine& engine,
                                                                         CompletionRequest request,
                                                                         StreamSink sink);

}  // namespace openbatch::openai
