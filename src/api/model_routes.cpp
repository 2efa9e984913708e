// GET /v1/models, GET /v1/models/{id}, GET /health and GET /metrics.
#include "api/metrics_text.h"
#include "api/routes.h"
#include "batch/batch_service.h"
#include "engine/metered_engine.h"
#include "engine/model_errors.h"

namespace openbatch::api {

namespace {

// A model object of GET /v1/models, named name (the model's id or an alias), with llama-server's
// router-mode status.
nlohmann::ordered_json model_object(const std::string& name, const engine::ModelInfo& model) {
  return {{"id", name},
          {"object", "model"},
          {"created", model.created},
          {"owned_by", "openbatch"},
          {"status", {{"value", engine::model_state_name(model.state)}}}};
}

// A model another live node of the fleet serves (calls of it are forwarded there: fleet_forwarding.h).
nlohmann::ordered_json remote_model_object(const std::string& name) {
  return {{"id", name},
          {"object", "model"},
          {"created", 0},  // not known here
          {"owned_by", "openbatch"},
          {"status", {{"value", "remote"}}}};
}

}  // namespace

void register_model_routes(httplib::Server& server, RouteContext& ctx) {
  server.Get("/health", [&ctx](const httplib::Request&, httplib::Response& res) {
    const auto& info = ctx.engine->model_info();
    nlohmann::ordered_json ids = nlohmann::ordered_json::array();
    for (const engine::ModelInfo& model : ctx.engine->models()) ids.push_back(model.id);
    send_json(res, {{"status", "ok"}, {"model", info.id}, {"parallel", info.parallel}, {"models", ids}});
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
    nlohmann::ordered_json data = nlohmann::ordered_json::array();
    for (const engine::ModelInfo& model : ctx.engine->models()) {
      data.push_back(model_object(model.id, model));
      for (const auto& alias : model.aliases) data.push_back(model_object(alias, model));
    }
    if (ctx.batches) {
      auto remote = ctx.batches->remote_models();
      if (!remote) return send_error(res, remote.status());
      for (const std::string& name : *remote) data.push_back(remote_model_object(name));
    }
    send_json(res, {{"object", "list"}, {"data", data}});
  });
  server.Get(R"(/v1/models/(.+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    std::optional<engine::ModelInfo> model = engine::find_model(*ctx.engine, id);
    if (model) return send_json(res, model_object(id, *model));
    if (ctx.batches) {
      auto nodes = ctx.batches->nodes_serving(id);
      if (!nodes) return send_error(res, nodes.status());
      if (!nodes->empty()) return send_json(res, remote_model_object(id));
    }
    send_error(res, engine::model_not_found(id));
  });
}

}  // namespace openbatch::api
