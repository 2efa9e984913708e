// POST /v1/embeddings.
#include <future>

#include "api/routes.h"
#include "openai/embeddings.h"

namespace openbatch::api {

void register_embeddings_routes(httplib::Server& server, RouteContext& ctx) {
  server.Post("/v1/embeddings", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto body = parse_json_object(req);
    if (!body) return send_error(res, body.status());
    auto request = openai::parse_embeddings_request(*body, ctx.engine->model_info());
    if (!request) return send_error(res, request.status());
    auto promise = std::make_shared<std::promise<Result<nlohmann::ordered_json>>>();
    auto future = promise->get_future();
    openai::run_embeddings(*ctx.engine, std::move(request).value(),
                           [promise](Result<nlohmann::ordered_json> r) { promise->set_value(std::move(r)); });
    Result<nlohmann::ordered_json> result = future.get();
    if (!result) return send_error(res, result.status());
    send_json(res, *result);
  });
}

}  // namespace openbatch::api
