#include "api/server.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "api/api_keys.h"
#include "api/fleet_forwarding.h"
#include "api/http_server.h"
#include "api/routes.h"
#include "batch/batch_service.h"
#include "common/clock.h"
#include "engine/metered_engine.h"
#include "net/ip_address.h"

namespace openbatch::api {

struct Server::Impl {
  ServerOptions options;
  ApiKeyMatcher keys{std::vector<std::string>{}};
  RouteContext ctx;
  StreamRelays stream_relays;  // before http: its threads are joined after the server's
  std::unique_ptr<HttpServer> http;
};

namespace {

// Requests without a configured key get OpenAI's 401 answers (before their bodies are read); /health
// stays open for probes, and the dashboard's files (they hold no data: the page asks the API, and
// /web/data/, with the key the user types).
Status check_api_key(const ApiKeyMatcher& keys, const httplib::Request& req) {
  const bool web_file = req.path.rfind("/web/", 0) == 0 && req.path.rfind("/web/data/", 0) != 0;
  if (req.path == "/health" || req.path == "/" || web_file) return Status::ok();
  const std::string token = bearer_token(req);
  if (token.empty()) {
    return Status::unauthorized(
        "You didn't provide an API key. You need to provide your API key in an Authorization header using "
        "Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
  }
  if (!keys.matches(token)) {
    const std::string shown =
        token.size() > 8 ? token.substr(0, 3) + "*****" + token.substr(token.size() - 4) : "*****";
    return Status::unauthorized("Incorrect API key provided: " + shown + ".");
  }
  return Status::ok();
}

// Where the other nodes reach this one: --advertise-url, else http://HOST:PORT when HOST is an address
// they can use (not a wildcard), else "".
std::string node_url(const ServerOptions& options, int port) {
  std::string url = options.advertise_url;
  if (url.empty()) {
    const std::string& host = options.host;
    if (host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]") return "";
    const bool v6 = host.find(':') != std::string::npos && host.front() != '[';
    url = "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// The host of a Host or Origin value: "[::1]:8080" -> "::1", "Example.org:80" -> "example.org".
std::string host_of(std::string value) {
  if (auto scheme = value.find("://"); scheme != std::string::npos) value.erase(0, scheme + 3);
  std::string host;
  if (!value.empty() && value[0] == '[') {
    const size_t close = value.find(']');
    host = value.substr(1, close == std::string::npos ? std::string::npos : close - 1);
  } else {
    host = value.substr(0, value.find(':'));
  }
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return host;
}

// "host:port" of a Host header or an Origin, for comparing the two; default ports filled in.
std::string authority_of(std::string value) {
  std::string scheme = "http";
  if (auto at = value.find("://"); at != std::string::npos) {
    scheme = value.substr(0, at);
    value.erase(0, at + 3);
  }
  const std::string host = host_of(value);
  const size_t close = value.rfind(']');
  const size_t colon = value.find(':', close == std::string::npos ? 0 : close);
  const std::string port =
      colon == std::string::npos ? (scheme == "https" ? "443" : "80") : value.substr(colon + 1);
  return host + ":" + port;
}

// A server without API keys answers anyone who can reach it, web pages in its operator's browser
// included: it answers only Host names that cannot be an attacker's (IP addresses, localhost, the
// --allowed-host names) and refuses requests from another origin, and bodies a page could send
// cross-site without asking (text/plain, forms) on its JSON routes.
Status check_keyless_request(const ServerOptions& options, const httplib::Request& req) {
  if (req.has_header("Host")) {
    const std::string host = host_of(req.get_header_value("Host"));
    const bool allowed = host == "localhost" || net::parse_ip_address(host).has_value() ||
                         std::find(options.allowed_hosts.begin(), options.allowed_hosts.end(), host) !=
                             options.allowed_hosts.end();
    if (!allowed) {
      return Status(StatusCode::kPermissionDenied, "", "host_not_allowed", "",
                    "This server has no API keys and answers only requests for its own address, not for "
                    "host '" +
                        host.substr(0, 253) + "' (serve --allowed-host NAME to add a name).");
    }
  }
  if (req.has_header("Origin") &&
      authority_of(req.get_header_value("Origin")) != authority_of(req.get_header_value("Host"))) {
    return Status(StatusCode::kPermissionDenied, "", "cross_origin_request", "",
                  "This server has no API keys and takes no requests from another origin's web pages.");
  }
  const bool has_body = req.has_header("Transfer-Encoding") || req.get_header_value("Content-Length") != "0";
  if (req.method == "POST" && req.path != "/v1/files" && has_body) {
    const std::string type = req.get_header_value("Content-Type");
    for (const char* simple : {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}) {
      if (type.rfind(simple, 0) == 0) {
        return Status::unsupported_media(
            "This route takes a JSON body (Content-Type: application/json), not '" + type.substr(0, 64) +
            "'.");
      }
    }
  }
  return Status::ok();
}

// What a request's body may take: the largest upload on the Files API's upload route, the JSON
// limit elsewhere; the pace of the body either way.
BodyBudget body_budget(const ServerOptions& options, const httplib::Request& req) {
  BodyBudget budget;
  budget.min_bytes_per_second = 4096;
  budget.grace = std::chrono::seconds(10);
  if (req.method == "POST" && req.path == "/v1/files") {
    // The upload plus its multipart framing; the Files API's own limit (a 400 file_too_large) comes
    // first.
    budget.max_bytes = static_cast<uint64_t>(options.limits.largest_upload()) + (1u << 20);
  } else {
    budget.max_bytes = static_cast<uint64_t>(options.max_request_body_bytes);
    budget.timeout = std::chrono::seconds(60);
  }
  return budget;
}

}  // namespace

Server::Server(ServerOptions options, engine::MeteredEngine& engine, batch::BatchService& batches)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->keys = ApiKeyMatcher(impl_->options.api_keys);
  impl_->ctx.options = &impl_->options;
  impl_->ctx.engine = &engine;
  impl_->ctx.started_at = SystemClock::instance().now_seconds();
  impl_->ctx.batches = &batches;
  impl_->ctx.stream_relays = &impl_->stream_relays;
  ConnectionLimits limits;
  limits.max_connections = impl_->options.max_connections;
  limits.max_connections_per_address = impl_->options.max_connections_per_address;
  impl_->http = std::make_unique<HttpServer>(limits);
  impl_->ctx.connections = &impl_->http->counts();
  auto& http = *impl_->http;
  // The largest upload (plus its multipart framing) is the most any route takes; each route's own
  // budget (body_budget) is checked before and as the body arrives.
  const int64_t largest_upload = impl_->options.limits.largest_upload();
  http.set_payload_max_length(static_cast<size_t>(largest_upload) + 1024 * 1024);
  const ServerOptions* opts = &impl_->options;
  http.set_body_budget([opts](const httplib::Request& req) { return body_budget(*opts, req); });
  const ApiKeyMatcher* keys = &impl_->keys;
  http.set_request_check([keys, opts](const httplib::Request& req) {
    return keys->empty() ? check_keyless_request(*opts, req) : check_api_key(*keys, req);
  });
  http.set_error_answer([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404) {
      send_error(res, Status::not_found("Invalid URL (" + req.method + " " + req.path + ")"));
    } else if (res.status == 405) {
      send_error(res, Status::method_not_allowed("Method not allowed (" + req.method + " " + req.path + ")"));
    } else if (res.status == 413) {
      send_error(res, Status::too_large("The request body is too large."));
    } else if (res.status == 400) {
      send_error(res, Status::invalid_request("The request could not be read."));
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
  register_web_routes(http, impl_->ctx);
  register_model_routes(http, impl_->ctx);
  register_endpoint_routes(http, impl_->ctx);
  register_responses_routes(http, impl_->ctx);
  register_file_routes(http, impl_->ctx);
  register_batch_routes(http, impl_->ctx);
}

Server::~Server() { stop(); }

Status Server::run() {
  auto& http = *impl_->http;
  int port = impl_->options.port;
  // Port 0 asks for any free port; the log line tells which (tests read it).
  if (!http.bind(impl_->options.host, port)) {
    return Status::internal("cannot listen on " + impl_->options.host + ":" +
                            std::to_string(impl_->options.port));
  }
  // Unfinished batches resume once the port is ours (a second server on the same data fails above).
  impl_->ctx.batches->set_node_url(node_url(impl_->options, port));
  impl_->ctx.batches->start();
  std::fprintf(stderr, "openbatch: listening on http://%s:%d\n", impl_->options.host.c_str(), port);
  http.listen_after_bind();
  // The HTTP server has stopped: the forwarded streams end (their clients are gone), then the batch
  // runner stops before the engine goes (results are kept).
  impl_->stream_relays.stop();
  impl_->ctx.batches->stop();
  return Status::ok();
}

void Server::stop() {
  impl_->http->drain();
  impl_->ctx.batches->stop();
}

void Server::close_connections() { impl_->http->close_connections(); }

}  // namespace openbatch::api
