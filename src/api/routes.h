// Shared by the route files of api/: what a route needs from the server, and how each resource
// registers its routes. Internal to api/.
#pragma once

#include <httplib.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/connection_pool.h"
#include "api/server.h"
#include "common/status.h"
#include "engine/metered_engine.h"

namespace openbatch::batch {
class BatchService;
}

namespace openbatch::api {

class StreamRelays;

struct RouteContext {
  const ServerOptions* options = nullptr;
  engine::MeteredEngine* engine = nullptr;        // the server's engine, counted for /metrics
  int64_t started_at = 0;                         // unix time the server was made
  batch::BatchService* batches = nullptr;         // files and batches; null until the store is open
  const ConnectionCounts* connections = nullptr;  // the HTTP server's, for /metrics; null in tests
  StreamRelays* stream_relays = nullptr;          // of forwarded streams (fleet_forwarding.h); null in tests
};

// The caller's identity: a keyed digest of the API key it authenticated with
// (BatchService::owner_of_key; "" when the server runs without keys). Files and batches belong to the
// key that created them. REQUIRES: the auth check of the server has accepted req; ctx.batches is set.
std::string request_owner(const RouteContext& ctx, const httplib::Request& req);

// Writes an OpenAI error envelope {"error": {message, type, param, code}} with status's HTTP status.
void send_error(httplib::Response& res, const Status& status);
// Writes a JSON body (HTTP 200 unless told), its keys in the order they were put in: OpenAI's objects
// are built in OpenAI's order.
void send_json(httplib::Response& res, const nlohmann::ordered_json& body, int http_status = 200);
// The OpenAI error envelope for status, as JSON (used in batch error files too).
nlohmann::ordered_json error_body(const Status& status);

// The token of an "Authorization: Bearer TOKEN" header, or "".
std::string bearer_token(const httplib::Request& req);

// Starts work with a callback that takes its answer (a response body or why there is none) and
// answers res with it once it comes; blocks the HTTP thread until then. work returns the handles of
// what it started, held until the answer.
using AnswerCallback = std::function<void(Result<nlohmann::ordered_json>)>;
void send_when_done(
    httplib::Response& res,
    const std::function<std::vector<std::shared_ptr<engine::GenerationHandle>>(AnswerCallback)>& work);

// Parses a JSON request body; a body that is not a JSON object is a 400 naming the problem.
Result<nlohmann::json> parse_json_object(const httplib::Request& req);
// The same, keeping the order of the keys (a batch's metadata keeps the client's order).
Result<nlohmann::ordered_json> parse_ordered_json_object(const httplib::Request& req);

void register_model_routes(httplib::Server& server, RouteContext& ctx);
// POST of each endpoint of openai's endpoint table (chat completions, completions, embeddings, responses).
void register_endpoint_routes(httplib::Server& server, RouteContext& ctx);
// GET and DELETE of a response by id: not stored, said so.
void register_responses_routes(httplib::Server& server, RouteContext& ctx);
// The dashboard's files, and the data it shows beyond the API's objects (/web/data/...).
void register_web_routes(httplib::Server& server, RouteContext& ctx);
void register_file_routes(httplib::Server& server, RouteContext& ctx);
void register_batch_routes(httplib::Server& server, RouteContext& ctx);

}  // namespace openbatch::api
