// /v1/batches: create, retrieve, cancel, list (the batch object: openai/batch_objects.h).
// GET /v1/batches/{id}/progress is openbatch's own: the batch's progress samples, for the dashboard's
// chart; the batch object itself stays OpenAI's. So is GET /v1/batches/{id}/output?after=CURSOR: the
// result lines finished so far while the batch runs (`openbatch results --follow`).
#include <httplib.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <string>

#include "api/list_query.h"
#include "api/routes.h"
#include "batch/batch_service.h"
#include "openai/batch_objects.h"

namespace openbatch::api {
namespace {

Status unavailable() {
  return Status::unavailable("Files and batches are not available: the store is not open.");
}

void create(RouteContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.batches) return send_error(res, unavailable());
  auto body = parse_ordered_json_object(req);
  if (!body) return send_error(res, body.status());
  auto rec = ctx.batches->create_batch(request_owner(ctx, req), *body);
  if (!rec) return send_error(res, rec.status());
  send_json(res, openai::batch_object(*rec));
}

void list(RouteContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.batches) return send_error(res, unavailable());
  auto query =
      parse_list_query(req, {/*default_limit=*/20, /*max_limit=*/100, /*allow_order_and_purpose=*/false});
  if (!query) return send_error(res, query.status());
  auto page = ctx.batches->list_batches(request_owner(ctx, req), *query);
  if (!page) return send_error(res, page.status());
  nlohmann::ordered_json data = nlohmann::ordered_json::array();
  for (const auto& b : page->items) data.push_back(openai::batch_object(b));
  send_json(res, openai::list_object(std::move(data), page->has_more));
}

void retrieve(RouteContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.batches) return send_error(res, unavailable());
  auto rec = ctx.batches->get_batch(request_owner(ctx, req), req.matches[1]);
  if (!rec) return send_error(res, rec.status());
  send_json(res, openai::batch_object(*rec));
}

// The integer query parameter `name` (absent: fallback), or a 400 naming it.
Result<int64_t> integer_param(const httplib::Request& req, const char* name, int64_t fallback) {
  if (!req.has_param(name)) return fallback;
  const std::string v = req.get_param_value(name);
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v.size() || value < 0) {
    return Status::invalid_request(
        "Invalid '" + std::string(name) + "': expected a non-negative integer, but got '" + v + "' instead.",
        name, "invalid_value");
  }
  return value;
}

// after_ms: only samples after this time (a client that polls asks for what is new since its last).
void progress(RouteContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.batches) return send_error(res, unavailable());
  auto after_ms = integer_param(req, "after_ms", 0);
  if (!after_ms) return send_error(res, after_ms.status());
  auto p = ctx.batches->batch_progress(request_owner(ctx, req), req.matches[1], *after_ms);
  if (!p) return send_error(res, p.status());
  nlohmann::ordered_json samples = nlohmann::ordered_json::array();
  for (const store::ProgressSample& s : p->samples) {
    samples.push_back({{"at_ms", s.at_ms},
                       {"completed", s.completed},
                       {"failed", s.failed},
                       {"input_tokens", s.usage.input_tokens},
                       {"output_tokens", s.usage.output_tokens},
                       {"cached_tokens", s.usage.cached_tokens}});
  }
  send_json(res, {{"object", "batch.progress"},
                  {"batch_id", p->batch.id},
                  {"status", store::to_string(p->batch.status)},
                  {"now_ms", p->now_ms},
                  {"samples", std::move(samples)}});
}

// JSONL of the result lines (output and error lines alike) stored after `after`, in the order they
// finished, `limit` at most (default and most 1000); the headers openbatch-cursor (the next call's
// `after`) and openbatch-batch-status. Once the batch has ended the lines are in its files instead.
void output(RouteContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.batches) return send_error(res, unavailable());
  auto after = integer_param(req, "after", 0);
  if (!after) return send_error(res, after.status());
  auto limit = integer_param(req, "limit", 1000);
  if (!limit) return send_error(res, limit.status());
  auto lines = ctx.batches->finished_lines(request_owner(ctx, req), req.matches[1], *after,
                                           std::clamp<int64_t>(*limit, 1, 1000));
  if (!lines) return send_error(res, lines.status());
  std::string body;
  for (const store::StoredResult& r : lines->results) {
    body += r.result_line;
    body += '\n';
  }
  res.set_header("openbatch-cursor", std::to_string(lines->cursor));
  res.set_header("openbatch-batch-status", store::to_string(lines->batch.status));
  res.set_content(body, "application/jsonl");
}

void cancel(RouteContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.batches) return send_error(res, unavailable());
  auto rec = ctx.batches->cancel_batch(request_owner(ctx, req), req.matches[1]);
  if (!rec) return send_error(res, rec.status());
  send_json(res, openai::batch_object(*rec));
}

}  // namespace

void register_batch_routes(httplib::Server& server, RouteContext& ctx) {
  server.Post("/v1/batches",
              [&ctx](const httplib::Request& req, httplib::Response& res) { create(ctx, req, res); });
  server.Get("/v1/batches",
             [&ctx](const httplib::Request& req, httplib::Response& res) { list(ctx, req, res); });
  server.Get(R"(/v1/batches/([^/]+))",
             [&ctx](const httplib::Request& req, httplib::Response& res) { retrieve(ctx, req, res); });
  server.Get(R"(/v1/batches/([^/]+)/progress)",
             [&ctx](const httplib::Request& req, httplib::Response& res) { progress(ctx, req, res); });
  server.Get(R"(/v1/batches/([^/]+)/output)",
             [&ctx](const httplib::Request& req, httplib::Response& res) { output(ctx, req, res); });
  server.Post(R"(/v1/batches/([^/]+)/cancel)",
              [&ctx](const httplib::Request& req, httplib::Response& res) { cancel(ctx, req, res); });
}

}  // namespace openbatch::api
