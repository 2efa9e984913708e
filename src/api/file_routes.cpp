// /v1/files: upload (multipart, streamed to disk), list, retrieve, content, delete.
#include <httplib.h>

#include <memory>
#include <optional>
#include <string>

#include "api/list_query.h"
#include "api/routes.h"
#include "batch/batch_service.h"
#include "openai/batch_objects.h"

namespace openbatch::api {
namespace {

constexpr size_t kMaxFieldBytes = 1024;  // text fields of the upload form (purpose, expires_after[...])
constexpr size_t kContentChunk = size_t{256} * 1024;

Status unavailable() {
  return Status::unavailable("Files and batches are not available: the store is not open.");
}

// The last path component of a client-supplied file name: it is only ever shown back, never opened.
std::string base_name(const std::string& filename) {
  const size_t slash = filename.find_last_of("/\\");
  return slash == std::string::npos ? filename : filename.substr(slash + 1);
}

// An error answered before the body was read to its end: the connection cannot carry another request.
void send_error_and_close(httplib::Response& res, const Status& status) {
  res.set_header("Connection", "close");
  send_error(res, status);
}

void upload(RouteContext& ctx, const httplib::Request& req, httplib::Response& res,
            const httplib::ContentReader& content_reader) {
  if (!ctx.batches) return send_error_and_close(res, unavailable());
  if (!req.is_multipart_form_data()) {
    return send_error_and_close(
        res,
        Status::invalid_request("Expected a multipart/form-data body with the fields 'file' and 'purpose'."));
  }
  const std::string owner = request_owner(ctx, req);
  std::unique_ptr<batch::FileUpload> file;
  std::string field;  // the part being read
  std::string purpose, anchor, seconds;
  std::string* text = nullptr;  // where the current text part goes
  Status error;

  const bool read = content_reader(
      [&](const httplib::MultipartFormData& part) {
        field = part.name;
        text = nullptr;
        if (field == "file") {
          if (file) {
            error = Status::invalid_request("Only one 'file' may be uploaded at a time.", "file");
            return false;
          }
          auto started = ctx.batches->begin_upload(owner, base_name(part.filename));
          if (!started) {
            error = started.status();
            return false;
          }
          file = std::move(started).value();
        } else if (field == "purpose") {
          text = &purpose;
        } else if (field == "expires_after[anchor]") {
          text = &anchor;
        } else if (field == "expires_after[seconds]") {
          text = &seconds;
        }
        return true;
      },
      [&](const char* data, size_t n) {
        if (field == "file") {
          error = file->append(std::string_view(data, n));
          return error.is_ok();
        }
        if (text) {
          if (text->size() + n > kMaxFieldBytes) {
            error = Status::invalid_request("The form field '" + field + "' is too long.", field);
            return false;
          }
          text->append(data, n);
        }
        return true;  // unknown fields are ignored, like OpenAI does
      });
  if (!read) {
    return send_error_and_close(
        res, error.is_ok() ? Status::invalid_request("The multipart body could not be read.") : error);
  }
  if (!file) {
    return send_error(res, Status::invalid_request("Missing required parameter: 'file'.", "file",
                                                   "missing_required_parameter"));
  }
  if (purpose.empty()) {
    return send_error(res, Status::invalid_request("Missing required parameter: 'purpose'.", "purpose",
                                                   "missing_required_parameter"));
  }
  std::optional<int64_t> expires_after;
  if (!anchor.empty() || !seconds.empty()) {
    if (anchor != "created_at") {
      return send_error(
          res, Status::invalid_request("Invalid value for 'expires_after[anchor]': expected 'created_at'.",
                                       "expires_after[anchor]", "invalid_value"));
    }
    try {
      size_t used = 0;
      expires_after = std::stoll(seconds, &used);
      if (used != seconds.size()) throw std::invalid_argument(seconds);
    } catch (const std::exception&) {
      return send_error(res, Status::invalid_request("Invalid 'expires_after[seconds]': expected an integer.",
                                                     "expires_after[seconds]", "invalid_type"));
    }
  }
  auto rec = file->finish(purpose, expires_after);
  if (!rec) return send_error(res, rec.status());
  send_json(res, openai::file_object(*rec));
}

void list(RouteContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.batches) return send_error(res, unavailable());
  auto query =
      parse_list_query(req, {/*default_limit=*/10000, /*max_limit=*/10000, /*allow_order_and_purpose=*/true});
  if (!query) return send_error(res, query.status());
  auto page = ctx.batches->list_files(request_owner(ctx, req), *query);
  if (!page) return send_error(res, page.status());
  nlohmann::ordered_json data = nlohmann::ordered_json::array();
  for (const auto& f : page->items) data.push_back(openai::file_object(f));
  send_json(res, openai::list_object(std::move(data), page->has_more));
}

void retrieve(RouteContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.batches) return send_error(res, unavailable());
  auto rec = ctx.batches->get_file(request_owner(ctx, req), req.matches[1]);
  if (!rec) return send_error(res, rec.status());
  send_json(res, openai::file_object(*rec));
}

void content(RouteContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.batches) return send_error(res, unavailable());
  auto opened = ctx.batches->open_file_content(request_owner(ctx, req), req.matches[1]);
  if (!opened) return send_error(res, opened.status());
  std::shared_ptr<blobs::BlobReader> reader = std::move(opened).value();
  const auto size = static_cast<size_t>(reader->size());
  res.status = 200;
  if (size == 0) return res.set_content("", "application/octet-stream");
  // Streamed from disk: a 200 MB file is never held in memory.
  res.set_content_provider(size, "application/octet-stream",
                           [reader](size_t offset, size_t length, httplib::DataSink& sink) {
                             std::string buf(std::min(length, kContentChunk), '\0');
                             auto n = reader->read_at(static_cast<int64_t>(offset), buf.data(), buf.size());
                             if (!n || *n == 0) return false;
                             return sink.write(buf.data(), *n);
                           });
}

void remove(RouteContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.batches) return send_error(res, unavailable());
  const std::string id = req.matches[1];
  if (Status s = ctx.batches->delete_file(request_owner(ctx, req), id); !s) return send_error(res, s);
  nlohmann::ordered_json deleted;
  deleted["id"] = id;
  deleted["object"] = "file";
  deleted["deleted"] = true;
  send_json(res, deleted);
}

}  // namespace

void register_file_routes(httplib::Server& server, RouteContext& ctx) {
  server.Post("/v1/files", [&ctx](const httplib::Request& req, httplib::Response& res,
                                  const httplib::ContentReader& reader) { upload(ctx, req, res, reader); });
  server.Get("/v1/files",
             [&ctx](const httplib::Request& req, httplib::Response& res) { list(ctx, req, res); });
  server.Get(R"(/v1/files/([^/]+))",
             [&ctx](const httplib::Request& req, httplib::Response& res) { retrieve(ctx, req, res); });
  server.Get(R"(/v1/files/([^/]+)/content)",
             [&ctx](const httplib::Request& req, httplib::Response& res) { content(ctx, req, res); });
  server.Delete(R"(/v1/files/([^/]+))",
                [&ctx](const httplib::Request& req, httplib::Response& res) { remove(ctx, req, res); });
}

}  // namespace openbatch::api
