// POST of every endpoint of the table (openai/endpoint_table.h): /v1/chat/completions, /v1/completions,
// /v1/embeddings, /v1/responses. Each is answered whole, or, when the body asks for a stream, as the
// server-sent events its endpoint builds.
#include "api/event_stream.h"
#include "api/fleet_forwarding.h"
#include "api/routes.h"
#include "openai/endpoint_table.h"

namespace openbatch::api {

namespace {

// Answers res with the events of call's stream as the engine makes them.
void serve_stream(RouteContext& ctx, openai::EndpointCall& call, httplib::Response& res) {
  auto out = std::make_shared<EventStream>();
  out->set_handles(call.run_streamed(*ctx.engine, [out](std::vector<openai::StreamEvent> events, bool last) {
    std::string bytes;
    for (const openai::StreamEvent& e : events)
      bytes += e.done_marker ? "data: [DONE]\n\n" : sse(e.data, e.name);
    out->push(std::move(bytes), last);
  }));
  EventStream::serve(out, res);
}

}  // namespace

void register_endpoint_routes(httplib::Server& server, RouteContext& ctx) {
  for (const openai::Endpoint& endpoint : openai::endpoints()) {
    server.Post(endpoint.path, [&ctx, &endpoint](const httplib::Request& req, httplib::Response& res) {
      auto body = parse_json_object(req);
      if (!body) return send_error(res, body.status());
      nlohmann::ordered_json ordered;
      if (endpoint.keeps_key_order) ordered = nlohmann::ordered_json::parse(req.body, nullptr, false);
      auto call = openai::parse_endpoint_call(endpoint, *ctx.engine, *body,
                                              endpoint.keeps_key_order ? &ordered : nullptr);
      if (!call) {
        // A model another node of the fleet serves, and this one does not: that node answers.
        const auto model = body->find("model");
        if (call.status().code() == "model_not_found" && model != body->end() && model->is_string()) {
          const auto stream = body->find("stream");
          const bool streamed = stream != body->end() && stream->is_boolean() && stream->get<bool>();
          if (forward_to_fleet(ctx, req, res, model->get<std::string>(), streamed)) return;
        }
        return send_error(res, call.status());
      }
      if (call->stream && call->run_streamed) return serve_stream(ctx, *call, res);

      send_when_done(res, [&](AnswerCallback done) {
        return call->run(*ctx.engine, engine::Priority::kInteractive, std::move(done));
      });
    });
  }
}

}  // namespace openbatch::api
