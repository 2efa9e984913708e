// GET /: the dashboard, a page that lists the caller's batches through the API with the caller's key.
#include "api/routes.h"
#include "api/web_assets.h"

namespace openbatch::api {

void register_web_routes(httplib::Server& server) {
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-cache");
    res.set_content(kIndexHtml, "text/html; charset=utf-8");
  });
}

}  // namespace openbatch::api
