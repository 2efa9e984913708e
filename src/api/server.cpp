#include "api/server.h"

#include <httplib.h>

#include <algorithm>
#include <cstdio>

#include "api/api_keys.h"
#include "api/http_server.h"
#include "api/routes.h"
#include "batch/batch_service.h"
#include "blobs/blobs.h"
#include "common/clock.h"
#include "engine/metered_engine.h"
#include "store/store.h"
#include "webhooks/curl_webhook_transport.h"
#include "webhooks/webhook_signature.h"
#include "webhooks/webhook_url.h"

namespace openbatch::api {

struct Server::Impl {
  ServerOptions options;
  ApiKeyMatcher keys{std::vector<std::string>{}};
  RouteContext ctx;
  std::unique_ptr<engine::MeteredEngine> engine;  // before batches: it outlives their requests
  std::unique_ptr<batch::BatchService> batches;
  std::unique_ptr<HttpServer> http;
};

namespace {

// Requests without a configured key get OpenAI's 401 answers; /health stays open for probes, and the
// dashboard's files (they hold no data: the page asks the API with the key the user types).
httplib::Server::HandlerResponse check_api_key(const ApiKeyMatcher& keys, const httplib::Request& req,
                                               httplib::Response& res) {
  if (keys.empty() || req.path == "/health" || req.path == "/" || req.path.rfind("/web/", 0) == 0)
    return httplib::Server::HandlerResponse::Unhandled;
  const std::string token = bearer_token(req);
  if (token.empty()) {
    send_error(res, Status::unauthorized(
                        "You didn't provide an API key. You need to provide your API key in an Authorization "
                        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."));
    return httplib::Server::HandlerResponse::Handled;
  }
  if (!keys.matches(token)) {
    const std::string shown =
        token.size() > 8 ? token.substr(0, 3) + "*****" + token.substr(token.size() - 4) : "*****";
    send_error(res, Status::unauthorized("Incorrect API key provided: " + shown + "."));
    return httplib::Server::HandlerResponse::Handled;
  }
  return httplib::Server::HandlerResponse::Unhandled;
}

// The batch service on the store the options name: PostgreSQL (file bytes in it, or in files_dir) or,
// by default, SQLite and files in the data directory.
Result<std::unique_ptr<batch::BatchService>> open_batch_service(const ServerOptions& options,
                                                                engine::Engine& engine) {
  batch::BatchServiceOptions o;
  o.data_dir = options.data_dir;
  o.api_keys = options.api_keys;
  o.limits = options.limits;
  o.completion_window_seconds = options.completion_window_seconds;
  o.lease_duration = std::chrono::milliseconds(static_cast<int64_t>(options.lease_seconds * 1000));
  store::StoreOptions store_options;
  if (!options.webhook_url.empty()) {
    if (Status s = check_webhook_options(options); !s) return s;
    o.webhooks.url = options.webhook_url;
    o.webhooks.key = *webhooks::decode_webhook_secret(options.webhook_secret);
    webhooks::CurlTransportOptions transport;
    transport.destinations.allow_private = options.webhook_allow_private;
    o.webhook_transport = webhooks::make_curl_webhook_transport(transport);
    store_options.batch_events = true;
  }
  if (!options.db.empty()) {
    auto store = store::open_store(options.db, store_options);
    if (!store) return store.status();
    o.store = std::move(store).value();
    o.exclusive = !store::is_postgres_url(options.db);
  }
  if (!options.files_dir.empty()) {
    auto blobs = blobs::open_local_blob_store(blobs::blob_folder_in(options.files_dir),
                                              /*shared=*/store::is_postgres_url(options.db));
    if (!blobs) return blobs.status();
    o.blobs = std::move(blobs).value();
  } else if (store::is_postgres_url(options.db)) {
    auto blobs = blobs::open_postgres_blob_store(options.db);
    if (!blobs) return blobs.status();
    o.blobs = std::move(blobs).value();
  }
  return batch::BatchService::open(std::move(o), engine);
}

}  // namespace

Status check_webhook_options(const ServerOptions& options) {
  if (options.webhook_url.empty()) {
    if (!options.webhook_secret.empty())
      return Status::invalid_request("--webhook-secret needs --webhook-url");
    return Status::ok();
  }
  if (options.webhook_secret.empty()) {
    return Status::invalid_request(
        "--webhook-url needs a secret to sign the events with: --webhook-secret whsec_... or "
        "$OPENBATCH_WEBHOOK_SECRET");
  }
  if (auto key = webhooks::decode_webhook_secret(options.webhook_secret); !key) {
    return Status::invalid_request("--webhook-secret: " + key.status().message());
  }
  media::DestinationPolicy policy;
  policy.allow_private = options.webhook_allow_private;
  return webhooks::check_webhook_url(options.webhook_url, policy);
}

Server::Server(ServerOptions options, engine::Engine& engine) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->keys = ApiKeyMatcher(impl_->options.api_keys);
  impl_->ctx.options = &impl_->options;
  impl_->engine = std::make_unique<engine::MeteredEngine>(engine);
  impl_->ctx.engine = impl_->engine.get();
  impl_->ctx.started_at = SystemClock::instance().now_seconds();
  auto service = open_batch_service(impl_->options, *impl_->engine);
  if (service) {
    impl_->batches = std::move(service).value();
    impl_->ctx.batches = impl_->batches.get();
  } else {
    open_status_ = service.status();
  }
  ConnectionLimits limits;
  limits.max_connections = impl_->options.max_connections;
  impl_->http = std::make_unique<HttpServer>(limits);
  impl_->ctx.connections = &impl_->http->counts();
  auto& http = *impl_->http;
  // A body larger than the largest upload (plus its multipart framing) is answered 413 without being
  // kept (httplib reads past it); the Files API's own limit (a 400 file_too_large) comes first.
  const int64_t largest_upload = impl_->options.limits.largest_upload();
  http.set_payload_max_length(static_cast<size_t>(largest_upload) + 1024 * 1024);
  const ApiKeyMatcher* keys = &impl_->keys;
  http.set_pre_routing_handler(
      [keys](const httplib::Request& req, httplib::Response& res) { return check_api_key(*keys, req, res); });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      send_error(res, Status::not_found("Invalid URL (" + req.method + " " + req.path + ")"));
    } else if (res.status == 405) {
      send_error(res, Status::method_not_allowed("Method not allowed (" + req.method + " " + req.path + ")"));
    } else if (res.status == 413) {
      send_error(res, Status::too_large("The request body is too large."));
    }
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, Status::internal(what));  // the client sees a generic message, the log says what
  });
  http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    std::fprintf(stderr, "openbatch: %s %s -> %d\n", req.method.c_str(), req.path.c_str(), res.status);
  });
  register_web_routes(http);
  register_model_routes(http, impl_->ctx);
  register_chat_routes(http, impl_->ctx);
  register_embeddings_routes(http, impl_->ctx);
  register_responses_routes(http, impl_->ctx);
  register_completions_routes(http, impl_->ctx);
  if (impl_->batches) {
    register_file_routes(http, impl_->ctx);
    register_batch_routes(http, impl_->ctx);
  }
}

Server::~Server() {
  stop();
  if (impl_->batches) impl_->batches->stop();
}

Status Server::run() {
  if (!open_status_) return open_status_;
  auto& http = *impl_->http;
  int port = impl_->options.port;
  // Port 0 asks for any free port; the log line tells which (tests read it).
  if (!http.bind(impl_->options.host, port)) {
    return Status::internal("cannot listen on " + impl_->options.host + ":" +
                            std::to_string(impl_->options.port));
  }
  // Unfinished batches resume once the port is ours (a second server on the same data fails above).
  impl_->batches->start();
  std::fprintf(stderr, "openbatch: listening on http://%s:%d\n", impl_->options.host.c_str(), port);
  http.listen_after_bind();
  // The HTTP server has stopped: stop the batch runner before the engine goes (results are kept).
  impl_->batches->stop();
  return Status::ok();
}

void Server::stop() {
  impl_->http->drain();
  if (impl_->batches) impl_->batches->stop();
}

void Server::close_connections() { impl_->http->close_connections(); }

}  // namespace openbatch::api
