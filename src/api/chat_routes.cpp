// POST /v1/chat/completions: answered whole, or streamed as server-sent events in OpenAI's chunk format.
#include <chrono>

#include "api/event_stream.h"
#include "api/routes.h"
#include "engine/engine.h"
#include "openai/chat_completion.h"

namespace openbatch::api {

namespace {

using json = nlohmann::ordered_json;

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void stream_completion(RouteContext& ctx, openai::ChatCompletionRequest request, httplib::Response& res) {
  auto state = std::make_shared<EventStream>();
  const std::string id = openai::new_id("chatcmpl-");
  const std::string model = request.model;
  const int64_t created = now_seconds();
  const bool include_usage = request.include_usage;
  const bool logprobs = request.generation.logprobs;
  const int n = request.n;

  // The first chunk of each choice carries the role, as OpenAI's do.
  for (int i = 0; i < n; ++i) {
    state->push(sse(openai::build_chat_chunk(
        id, model, created,
        json::array({openai::chunk_choice(i, {{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}},
                                          nullptr, std::nullopt)}),
        include_usage ? json(nullptr) : json(json::value_t::discarded))));
  }
  // Each tool call gets its id with its first piece; later pieces carry only its index and arguments.
  auto call_ids = std::make_shared<std::vector<std::vector<std::string>>>(n);
  auto on_delta = [state, id, model, created, include_usage, logprobs, call_ids](int choice,
                                                                                engine::GenerationDelta delta) {
    json d = json::object();
    if (!delta.content.empty() || (delta.reasoning_content.empty() && delta.tool_calls.empty())) {
      d["content"] = delta.content;
    }
    if (!delta.reasoning_content.empty()) d["reasoning_content"] = delta.reasoning_content;
    if (!delta.tool_calls.empty()) {
      std::vector<std::string>& ids = (*call_ids)[choice];
      json calls = json::array();
      for (const auto& t : delta.tool_calls) {
        json call = {{"index", t.index}};
        if (t.index >= static_cast<int>(ids.size())) {
          ids.resize(t.index + 1);
          ids[t.index] = t.id.empty() ? openai::new_id("call_") : t.id;
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
    state->push(sse(openai::build_chat_chunk(
        id, model, created,
        json::array({openai::chunk_choice(choice, std::move(d), logprobs ? &delta.logprobs : nullptr, std::nullopt)}),
        include_usage ? json(nullptr) : json(json::value_t::discarded))));
  };
  auto on_done = [state, id, model, created, include_usage](Result<json> result) {
    if (!result) {
      state->push(sse(error_body(result.status())) + "data: [DONE]\n\n", true);
      return;
    }
    const json& completion = *result;
    for (const auto& choice : completion["choices"]) {
      state->push(sse(openai::build_chat_chunk(
          id, model, created,
          json::array(
              {openai::chunk_choice(choice["index"].get<int>(), json::object(), nullptr,
                                    choice["finish_reason"] == "length"       ? engine::FinishReason::kLength
                                    : choice["finish_reason"] == "tool_calls" ? engine::FinishReason::kToolCalls
                                                                              : engine::FinishReason::kStop)}),
          include_usage ? json(nullptr) : json(json::value_t::discarded))));
    }
    if (include_usage) {
      state->push(sse(openai::build_chat_chunk(id, model, created, json::array(), completion["usage"])));
    }
    state->push("data: [DONE]\n\n", true);
  };
  state->set_handles(openai::run_chat_completion(*ctx.engine, std::move(request), on_done, on_delta));
  EventStream::serve(state, res);
}

}  // namespace

void register_chat_routes(httplib::Server& server, RouteContext& ctx) {
  server.Post("/v1/chat/completions", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto body = parse_json_object(req);
    if (!body) return send_error(res, body.status());
    const auto ordered = nlohmann::ordered_json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    auto request = openai::parse_chat_completion_request(*body, ctx.engine->model_info(), &ordered);
    if (!request) return send_error(res, request.status());
    if (request->stream) return stream_completion(ctx, std::move(request).value(), res);

    send_when_done(res, [&](AnswerCallback done) {
      return openai::run_chat_completion(*ctx.engine, std::move(request).value(), std::move(done));
    });
  });
}

}  // namespace openbatch::api
