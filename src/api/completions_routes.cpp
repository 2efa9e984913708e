// POST /v1/completions: a raw prompt continued, answered whole or streamed as `text_completion` chunks.
#include <chrono>

#include "api/event_stream.h"
#include "api/routes.h"
#include "openai/completions.h"

namespace openbatch::api {

namespace {

using json = nlohmann::ordered_json;

void stream_completion(RouteContext& ctx, openai::CompletionRequest request, httplib::Response& res) {
  auto out = std::make_shared<EventStream>();
  const std::string id = openai::new_id("cmpl-");
  const std::string model = request.model;
  const int64_t created =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const bool include_usage = request.include_usage;
  const bool logprobs = request.logprobs.has_value();
  const json no_usage = include_usage ? json(nullptr) : json(json::value_t::discarded);
  // Where the next token of each choice starts in its text (the logprobs' text_offset).
  auto offsets = std::make_shared<std::vector<size_t>>(request.prompts.size() * request.n, 0);
  auto on_delta = [out, id, model, created, logprobs, no_usage, offsets](int choice,
                                                                         engine::GenerationDelta delta) {
    json lp = nullptr;
    size_t& at = (*offsets)[choice];
    if (logprobs && !delta.logprobs.empty()) {
      size_t generated = 0;
      for (const auto& t : delta.logprobs) generated += t.token.size();
      // An echo comes first, without tokens of its own.
      if (delta.content.size() > generated) at += delta.content.size() - generated;
      lp = openai::completion_logprobs_json(delta.logprobs, at);
      at += generated;
    } else {
      at += delta.content.size();
    }
    json c = {
        {"text", delta.content}, {"index", choice}, {"logprobs", std::move(lp)}, {"finish_reason", nullptr}};
    out->push(sse(openai::build_completion_chunk(id, model, created, json::array({std::move(c)}), no_usage)));
  };
  auto on_done = [out, id, model, created, include_usage, no_usage](Result<json> result) {
    if (!result) {
      out->push(sse(error_body(result.status())) + "data: [DONE]\n\n", true);
      return;
    }
    for (const auto& choice : (*result)["choices"]) {
      json c = {{"text", ""},
                {"index", choice["index"]},
                {"logprobs", nullptr},
                {"finish_reason", choice["finish_reason"]}};
      out->push(
          sse(openai::build_completion_chunk(id, model, created, json::array({std::move(c)}), no_usage)));
    }
    if (include_usage) {
      out->push(sse(openai::build_completion_chunk(id, model, created, json::array(), (*result)["usage"])));
    }
    out->push("data: [DONE]\n\n", true);
  };
  out->set_handles(openai::run_completion(*ctx.engine, std::move(request), on_done, on_delta));
  EventStream::serve(out, res);
}

}  // namespace

void register_completions_routes(httplib::Server& server, RouteContext& ctx) {
  server.Post("/v1/completions", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto body = parse_json_object(req);
    if (!body) return send_error(res, body.status());
    auto request = openai::parse_completion_request(*body, ctx.engine->model_info());
    if (!request) return send_error(res, request.status());
    if (request->stream) return stream_completion(ctx, std::move(request).value(), res);

    send_when_done(res, [&](AnswerCallback done) {
      return openai::run_completion(*ctx.engine, std::move(request).value(), std::move(done));
    });
  });
}

}  // namespace openbatch::api
