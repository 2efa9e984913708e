// The server-sent events of a streamed response (POST /v1/responses with stream: true), in OpenAI's
// sequence: response.created, response.in_progress, then for each output item
// response.output_item.added, its content (response.content_part.added, response.output_text.delta /
// response.reasoning_text.delta / response.function_call_arguments.delta, their .done events,
// response.content_part.done) and response.output_item.done, and last response.completed (or
// response.incomplete at max_output_tokens, response.failed when the generation fails). Every event
// carries its sequence_number, from 0. Not thread-safe: one stream, one caller at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "openai/responses_body.h"
#include "openai/responses_request.h"
#include "openai/stream_event.h"

namespace openbatch::openai {

class ResponseEventStream {
 public:
  ResponseEventStream(std::shared_ptr<const ResponsesRequest> request, std::string id, int64_t created_at);

  // response.created and response.in_progress.
  std::vector<nlohmann::ordered_json> start();
  // The events for a piece of the answer: an item opens when its kind first shows (the one before it
  // is then done), its text grows by deltas.
  std::vector<nlohmann::ordered_json> delta(const engine::GenerationDelta& delta);
  // The remaining events: what the finished generation holds that the deltas did not show, the done
  // events of open items with their final text, and the final response; or response.failed.
  std::vector<nlohmann::ordered_json> finish(const Result<engine::Generation>& result);

 private:
  enum class Kind { kReasoning, kMessage, kCall };
  struct Item {
    Kind kind;
    std::string id;
    std::string text;  // reasoning or answer text, or a call's arguments
    std::string call_id, name;
    bool open = true;
  };

  nlohmann::ordered_json event(const char* type);
  nlohmann::ordered_json item_json(const Item& item, const std::string& status) const;
  size_t open_item(Kind kind, std::vector<nlohmann::ordered_json>& out, std::string call_id = "",
                   std::string name = "");
  void append(size_t index, const std::string& text, std::vector<nlohmann::ordered_json>& out);
  void close(size_t index, const std::string& status, std::vector<nlohmann::ordered_json>& out);
  // The open item of kind (reasoning or message), or -1.
  int open_of(Kind kind) const;

  std::shared_ptr<const ResponsesRequest> request_;
  std::string id_;
  int64_t created_at_;
  int sequence_ = 0;
  std::vector<Item> items_;
  std::vector<int> call_items_;  // by call index: its item
};

// Runs request on engine as a stream: sink gets response.created and response.in_progress before this
// returns, then the rest as the engine makes it (each event named after its type), the last call with
// last = true. Returns handles that cancel the work. Thread-safe.
std::vector<std::shared_ptr<engine::GenerationHandle>> stream_response(engine::Engine& engine,
                                                                       ResponsesRequest request,
                                                                       StreamSink sink);

}  // namespace openbatch::openai
