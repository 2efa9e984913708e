// /v1/batches: create, retrieve, cancel, list. The batch object has every field OpenAI's has.
// GET /v1/batches/{id}/progress is openbatch's own: the batch's progress samples, for the dashboard's
// chart; the batch object itself stays OpenAI's.
#include <httplib.h>

#include <exception>
#include <optional>
#include <string>

#include "api/list_query.h"
#include "api/routes.h"
#include "batch/batch_service.h"

namespace openbatch::api {
namespace {

nlohmann::json nullable(const std::optional<int64_t>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}
nlohmann::json nullable(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

nlohmann::json batch_object(const store::BatchRecord& b) {
  nlohmann::json errors = nullptr;
  if (!b.errors.empty()) {
    nlohmann::json data = nlohmann::json::array();
    for (const auto& e : b.errors) {
      data.push_back({{"code", e.code},
                      {"message", e.message},
                      {"param", nullable(e.param)},
                      {"line", nullable(e.line)}});
    }
    errors = {{"object", "list"}, {"data", std::move(data)}};
  }
  const store::Usage& u = b.usage;
  return {{"id", b.id},
          {"object", "batch"},
          {"endpoint", b.endpoint},
          {"model", nullable(b.model)},
          {"errors", std::move(errors)},
          {"input_file_id", b.input_file_id},
          {"completion_window", b.completion_window},
          {"status", store::to_string(b.status)},
          {"output_file_id", nullable(b.output_file_id)},
          {"error_file_id", nullable(b.error_file_id)},
          {"created_at", b.created_at},
          {"in_progress_at", nullable(b.in_progress_at)},
          {"expires_at", b.expires_at},
          {"finalizing_at", nullable(b.finalizing_at)},
          {"completed_at", nullable(b.completed_at)},
          {"failed_at", nullable(b.failed_at)},
          {"expired_at", nullable(b.expired_at)},
          {"cancelling_at", nullable(b.cancelling_at)},
          {"cancelled_at", nullable(b.cancelled_at)},
          {"request_counts",
           {{"total", b.request_counts.total},
            {"completed", b.request_counts.completed},
            {"failed", b.request_counts.failed}}},
          {"usage",
           {{"input_tokens", u.input_tokens},
            {"input_tokens_details", {{"cached_tokens", u.cached_tokens}}},
            {"output_tokens", u.output_tokens},
            {"output_tokens_details", {{"reasoning_tokens", u.reasoning_tokens}}},
            {"total_tokens", u.input_tokens + u.output_tokens}}},
          {"metadata", b.metadata.is_null() ? nlohmann::json(nullptr) : b.metadata}};
}

Status unavailable() {
  return Status::unavailable("Files and batches are not available: the store is not open.");
}

void create(RouteContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.batches) return send_error(res, unavailable());
  auto body = parse_json_object(req);
  if (!body) return send_error(res, body.status());
  auto rec = ctx.batches->create_batch(request_owner(ctx, req), *body);
  if (!rec) return send_error(res, rec.status());
  send_json(res, batch_object(*rec));
}

void list(RouteContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.batches) return send_error(res, unavailable());
  auto query =
      parse_list_query(req, {/*default_limit=*/20, /*max_limit=*/100, /*allow_order_and_purpose=*/false});
  if (!query) return send_error(res, query.status());
  auto page = ctx.batches->list_batches(request_owner(ctx, req), *query);
  if (!page) return send_error(res, page.status());
  nlohmann::json data = nlohmann::json::array();
  for (const auto& b : page->items) data.push_back(batch_object(b));
  send_json(res, list_object(std::move(data), page->has_more));
}

void retrieve(RouteContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.batches) return send_error(res, unavailable());
  auto rec = ctx.batches->get_batch(request_owner(ctx, req), req.matches[1]);
  if (!rec) return send_error(res, rec.status());
  send_json(res, batch_object(*rec));
}

// after_ms: only samples after this time (a client that polls asks for what is new since its last).
void progress(RouteContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.batches) return send_error(res, unavailable());
  int64_t after_ms = 0;
  if (req.has_param("after_ms")) {
    const std::string v = req.get_param_value("after_ms");
    size_t used = 0;
    try {
      after_ms = std::stoll(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != v.size()) {
      return send_error(res, Status::invalid_request(
                                 "Invalid 'after_ms': expected an integer, but got '" + v + "' instead.",
                                 "after_ms", "invalid_value"));
    }
  }
  auto p = ctx.batches->batch_progress(request_owner(ctx, req), req.matches[1], after_ms);
  if (!p) return send_error(res, p.status());
  nlohmann::json samples = nlohmann::json::array();
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

void cancel(RouteContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.batches) return send_error(res, unavailable());
  auto rec = ctx.batches->cancel_batch(request_owner(ctx, req), req.matches[1]);
  if (!rec) return send_error(res, rec.status());
  send_json(res, batch_object(*rec));
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
  server.Post(R"(/v1/batches/([^/]+)/cancel)",
              [&ctx](const httplib::Request& req, httplib::Response& res) { cancel(ctx, req, res); });
}

}  // namespace openbatch::api
