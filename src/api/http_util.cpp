// The one place where a Status becomes an OpenAI error response.
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <string_view>

#include "api/http_server.h"
#include "api/routes.h"
#include "batch/batch_service.h"
#include "common/error_envelope.h"
#include "common/http_status.h"
#include "common/json_depth.h"

namespace openbatch::api {

nlohmann::ordered_json error_body(const Status& status) { return error_envelope(status); }

void send_error(httplib::Response& res, const Status& status) {
  res.status = status.is_ok() ? 500 : http_status_of(status);
  res.set_content(error_body(status).dump(), "application/json");
}

void send_when_done(
    httplib::Response& res,
    const std::function<std::vector<std::shared_ptr<engine::GenerationHandle>>(AnswerCallback)>& work) {
  auto promise = std::make_shared<std::promise<Result<nlohmann::ordered_json>>>();
  auto future = promise->get_future();
  auto handles = work([promise](Result<nlohmann::ordered_json> r) { promise->set_value(std::move(r)); });
  // A client that hangs up gets nothing more: its generations stop within a step, and free their
  // sequences for the others.
  bool cancelled = false;
  while (future.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (cancelled || !HttpServer::client_gone()) continue;
    cancelled = true;
    for (const auto& handle : handles)
      if (handle) handle->cancel();
  }
  Result<nlohmann::ordered_json> result = future.get();
  if (!result) return send_error(res, result.status());
  send_json(res, *result);
}

void send_json(httplib::Response& res, const nlohmann::ordered_json& body, int http_status) {
  res.status = http_status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

namespace {

template <typename Json>
Result<Json> parse_object(const httplib::Request& req) {
  if (Status s = check_json_depth(req.body); !s) return s;
  Json body = Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    return Status::invalid_request(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
        "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid "
        "JSON.)");
  }
  if (!body.is_object()) {
    return Status::invalid_request("The request body must be a JSON object.");
  }
  return body;
}

}  // namespace

Result<nlohmann::json> parse_json_object(const httplib::Request& req) {
  return parse_object<nlohmann::json>(req);
}

Result<nlohmann::ordered_json> parse_ordered_json_object(const httplib::Request& req) {
  return parse_object<nlohmann::ordered_json>(req);
}

std::string bearer_token(const httplib::Request& req) {
  const std::string auth = req.get_header_value("Authorization");
  constexpr std::string_view kPrefix = "Bearer ";
  if (auth.size() <= kPrefix.size() || auth.compare(0, kPrefix.size(), kPrefix) != 0) return "";
  return auth.substr(kPrefix.size());
}

std::string request_owner(const RouteContext& ctx, const httplib::Request& req) {
  if (ctx.options->api_keys.empty()) return "";
  return ctx.batches->owner_of_key(bearer_token(req));
}

}  // namespace openbatch::api
