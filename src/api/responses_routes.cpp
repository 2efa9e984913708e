// POST /v1/responses: answered whole, or streamed as OpenAI's named server-sent events
// (openai/responses_stream.h). Responses are not stored: nothing to GET, cancel or delete later.
#include <chrono>
#include <mutex>

#include "api/event_stream.h"
#include "api/routes.h"
#include "openai/chat_completion.h"
#include "openai/responses_body.h"
#include "openai/responses_request.h"
#include "openai/responses_stream.h"

namespace openbatch::api {

namespace {

using json = nlohmann::ordered_json;

void stream_response(RouteContext& ctx, openai::ResponsesRequest request, httplib::Response& res) {
  struct Shared {
    std::mutex mu;  // the engine may call from more than one thread
    std::unique_ptr<openai::ResponseEventStream> events;
    std::shared_ptr<EventStream> out = std::make_shared<EventStream>();

    void send(const std::vector<json>& events, bool last = false) {
      std::string bytes;
      for (const json& e : events) bytes += sse(e, e["type"].get<std::string>());
      out->push(std::move(bytes), last);
    }
  };
  auto shared = std::make_shared<Shared>();
  const int64_t created_at =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto req = std::make_shared<const openai::ResponsesRequest>(std::move(request));
  shared->events = std::make_unique<openai::ResponseEventStream>(req, openai::new_id("resp_"), created_at);
  shared->send(shared->events->start());

  auto on_delta = [shared](int /*choice*/, engine::GenerationDelta delta) {
    std::lock_guard lock(shared->mu);
    shared->send(shared->events->delta(delta));
  };
  auto on_done = [shared](Result<std::vector<engine::Generation>> result) {
    std::lock_guard lock(shared->mu);
    if (result) {
      shared->send(shared->events->finish(result->front()), true);
    } else {
      shared->send(shared->events->finish(result.status()), true);
    }
  };
  auto out = shared->out;
  out->set_handles(openai::run_generations(*ctx.engine, req->generation, 1, on_done, on_delta));
  EventStream::serve(out, res);
}

}  // namespace

void register_responses_routes(httplib::Server& server, RouteContext& ctx) {
  server.Post("/v1/responses", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto body = parse_json_object(req);
    if (!body) return send_error(res, body.status());
    const auto ordered = nlohmann::ordered_json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    auto request = openai::parse_responses_request(*body, ctx.engine->model_info(), &ordered);
    if (!request) return send_error(res, request.status());
    if (request->stream) return stream_response(ctx, std::move(request).value(), res);

    send_when_done(res, [&](AnswerCallback done) {
      return openai::run_response(*ctx.engine, std::move(request).value(), std::move(done));
    });
  });
  // Responses are not kept, so there is none to read back: say so rather than a bare 404.
  auto not_stored = [](const httplib::Request& req, httplib::Response& res) {
    send_error(res, Status::not_found("No response with id '" + std::string(req.matches[1]) +
                                          "': this server does not store responses.",
                                      "response_id"));
  };
  server.Get(R"(/v1/responses/([^/]+))", not_stored);
  server.Delete(R"(/v1/responses/([^/]+))", not_stored);
}

}  // namespace openbatch::api
