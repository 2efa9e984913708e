// GET /v1/models, GET /v1/models/{id}, GET /health and GET /metrics.
#include "api/metrics_text.h"
#include "api/routes.h"
#include "batch/batch_service.h"
#include "engine/metered_engine.h"

namespace openbatch::api {

namespace {

nlohmann::ordered_json model_object(const std::string& id, int64_t created) {
  return {{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "openbatch"}};
}

}  // namespace

void register_model_routes(httplib::Server& server, RouteContext& ctx) {
  server.Get("/health", [&ctx](const httplib::Request&, httplib::Response& res) {
    const auto& info = ctx.engine->model_info();
    send_json(res, {{"status", "ok"}, {"model", info.id}, {"parallel", info.parallel}});
  });
  server.Get("/metrics", [&ctx](const httplib::Request&, httplib::Response& res) {
    MetricsSnapshot snapshot;
    if (ctx.batches) {
      auto batches = ctx.batches->unfinished_batches();
      if (!batches) return send_error(res, batches.status());
      snapshot.unfinished_batches = std::move(batches).value();
    }
    snapshot.models = ctx.engine->models();
    snapshot.engine = ctx.engine->metrics();
    snapshot.replicas = ctx.engine->replicas();
    snapshot.start_time_seconds = ctx.started_at;
    std::string text = metrics_text(snapshot);
    if (ctx.connections) {
      text += connection_metrics_text(ctx.connections->open.load(), ctx.connections->refused.load());
    }
    res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/v1/models", [&ctx](const httplib::Request&, httplib::Response& res) {
    const auto& info = ctx.engine->model_info();
    nlohmann::ordered_json data = nlohmann::ordered_json::array({model_object(info.id, info.created)});
    for (const auto& alias : info.aliases) data.push_back(model_object(alias, info.created));
    send_json(res, {{"object", "list"}, {"data", data}});
  });
  server.Get(R"(/v1/models/(.+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    const auto& info = ctx.engine->model_info();
    const std::string id = req.matches[1];
    bool known = id == info.id;
    for (const auto& alias : info.aliases) known = known || id == alias;
    if (!known) {
      send_error(res, Status::not_found("The model '" + id + "' does not exist", "model", "model_not_found"));
      return;
    }
    send_json(res, model_object(id, info.created));
  });
}

}  // namespace openbatch::api
