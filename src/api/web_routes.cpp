// GET / and GET /web/NAME: the dashboard, a page that shows the caller's batches and creates new ones
// through the API, with the key the user types into it. The files hold no data, so they need no key.
#include "api/routes.h"
#include "api/web_assets.h"

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

}  // namespace

void register_web_routes(httplib::Server& server) {
  server.Get("/", serve_asset);
  server.Get(R"(/web/[A-Za-z0-9_.-]+)", serve_asset);
}

}  // namespace openbatch::api
