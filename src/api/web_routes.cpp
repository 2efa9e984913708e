// GET / and GET /web/NAME: the dashboard, a page that shows the caller's batches and creates new ones
// through the API, with the key the user types into it. The files hold no data, so they need no key.
//
// GET /web/data/...: the data the dashboard shows beyond the API's objects, behind the key like the API:
//   /web/data/models        the models batches may name, this node's and the fleet's (batch/fleet_models.h)
//   /web/data/batches/{id}  the caller's batch: its model, and why it waits for it (null when it does not)
#include "api/routes.h"
#include "api/web_assets.h"
#include "batch/batch_service.h"

namespace openbatch::api {
namespace {

void serve_asset(const httplib::Request& req, httplib::Response& res) {
  const WebAsset* asset = find_web_asset(req.path);
  if (asset == nullptr) {
    return send_error(res, Status::not_found("No dashboard file " + req.path + "."));
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_content(asset->body.data(), asset->body.size(), asset->content_type);
}

nlohmann::ordered_json model_json(const batch::FleetModel& m) {
  nlohmann::ordered_json o = {{"id", m.name}, {"served_here", m.served_here}};
  o["state"] = m.served_here ? nlohmann::ordered_json(engine::model_state_name(m.state)) : nullptr;
  o["last_heartbeat_ms"] = m.heartbeat_ms ? nlohmann::ordered_json(*m.heartbeat_ms) : nullptr;
  o["live"] = m.live;
  return o;
}

}  // namespace

void register_web_routes(httplib::Server& server, RouteContext& ctx) {
  server.Get("/", serve_asset);
  server.Get(R"(/web/[A-Za-z0-9_.-]+)", serve_asset);
  server.Get("/web/data/models", [&ctx](const httplib::Request&, httplib::Response& res) {
    if (!ctx.batches) return send_error(res, Status::unavailable("The store is not open yet."));
    auto models = ctx.batches->models();
    if (!models) return send_error(res, models.status());
    nlohmann::ordered_json data = nlohmann::ordered_json::array();
    for (const batch::FleetModel& m : *models) data.push_back(model_json(m));
    send_json(res, {{"object", "list"}, {"data", data}});
  });
  server.Get(R"(/web/data/batches/([^/]+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    if (!ctx.batches) return send_error(res, Status::unavailable("The store is not open yet."));
    auto waiting = ctx.batches->batch_waiting(request_owner(ctx, req), req.matches[1]);
    if (!waiting) return send_error(res, waiting.status());
    const auto& [batch, why] = *waiting;
    auto or_null = [](const std::string& s) {
      return s.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(s);
    };
    send_json(res, {{"id", batch.id},
                    {"model", or_null(batch.model)},
                    {"status", store::to_string(batch.status)},
                    {"waiting", or_null(why)}});
  });
}

}  // namespace openbatch::api
