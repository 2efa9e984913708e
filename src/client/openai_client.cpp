#include "client/openai_client.h"

#include <curl/curl.h>

#include <cctype>
#include <cstdlib>
#include <memory>

#include "common/curl_global.h"
#include "common/http_status.h"

namespace openbatch::client {
namespace {

// CURLOPT_HEADERFUNCTION: "Name: value\r\n" into a map with the name in lower case.
size_t collect_header(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  const std::string line(data, size * n);
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const size_t start = line.find_first_not_of(" \t", colon + 1);
    const size_t end = line.find_last_not_of("\r\n \t");
    (*headers)[name] = start == std::string::npos || end < start ? "" : line.substr(start, end - start + 1);
  }
  return size * n;
}

size_t append_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// The error message of an OpenAI error envelope, or the body itself.
Status error_status(long http_status, const std::string& body) {
  std::string message = body;
  std::string code;
  std::string param;
  std::string type = "api_error";
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const auto& e = j["error"];
    if (e.contains("message") && e["message"].is_string()) message = e["message"].get<std::string>();
    if (e.contains("code") && e["code"].is_string()) code = e["code"].get<std::string>();
    if (e.contains("param") && e["param"].is_string()) param = e["param"].get<std::string>();
    if (e.contains("type") && e["type"].is_string()) type = e["type"].get<std::string>();
  }
  if (message.empty()) message = "HTTP " + std::to_string(http_status);
  return status_from_http(static_cast<int>(http_status), type, code, param, message);
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

}  // namespace

ClientOptions options_from_environment() {
  ClientOptions o;
  const char* base = std::getenv("OPENAI_BASE_URL");
  o.base_url = base && *base ? base : "https://api.openai.com/v1";
  while (!o.base_url.empty() && o.base_url.back() == '/') o.base_url.pop_back();
  const char* key = std::getenv("OPENAI_API_KEY");
  o.api_key = key ? key : "";
  return o;
}

OpenAiClient::OpenAiClient(ClientOptions options) : options_(std::move(options)) { init_curl_once(); }

Result<OpenAiClient::Response> OpenAiClient::send(const std::string& method, const std::string& path,
                                                  const nlohmann::json* json_body,
                                                  const std::string* upload_path,
                                                  const std::string* purpose) {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return Status::internal("curl_easy_init failed");
  CURL* c = curl.get();
  const std::string url = options_.base_url + path;
  Response response;
  std::string payload;
  curl_slist* headers = nullptr;
  curl_mime* mime = nullptr;
  if (!options_.api_key.empty())
    headers = curl_slist_append(headers, ("Authorization: Bearer " + options_.api_key).c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &response.headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, options_.timeout_seconds);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "openbatch-cli");
  if (upload_path) {
    mime = curl_mime_init(c);
    curl_mimepart* part = curl_mime_addpart(mime);
    curl_mime_name(part, "purpose");
    curl_mime_data(part, purpose->c_str(), CURL_ZERO_TERMINATED);
    part = curl_mime_addpart(mime);
    curl_mime_name(part, "file");
    curl_mime_type(part, "application/jsonl");
    if (curl_mime_filedata(part, upload_path->c_str()) != CURLE_OK) {
      curl_mime_free(mime);
      curl_slist_free_all(headers);
      return Status::invalid_request("cannot read " + *upload_path);
    }
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
  } else if (json_body) {
    payload = json_body->dump();
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
  } else if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
  }
  if (method != "GET" && method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  const CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  if (mime) curl_mime_free(mime);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    return Status::unavailable(method + " " + url + ": " + curl_easy_strerror(rc));
  }
  return response;
}

Result<nlohmann::json> OpenAiClient::call(const std::string& method, const std::string& path,
                                          const nlohmann::json* json_body) {
  Result<Response> r = send(method, path, json_body);
  if (!r) return r.status();
  if (r->status < 200 || r->status >= 300) return error_status(r->status, r->body);
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded()) return Status::internal(method + " " + path + ": the answer is not JSON");
  return j;
}

Result<nlohmann::json> OpenAiClient::upload_file(const std::string& path, const std::string& purpose) {
  Result<Response> r = send("POST", "/files", nullptr, &path, &purpose);
  if (!r) return r.status();
  if (r->status < 200 || r->status >= 300) return error_status(r->status, r->body);
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object()) return Status::internal("POST /files: the answer is not a JSON object");
  return j;
}

Result<nlohmann::json> OpenAiClient::create_batch(const std::string& input_file_id,
                                                  const std::string& endpoint,
                                                  const std::string& completion_window,
                                                  const std::map<std::string, std::string>& metadata) {
  nlohmann::json body = {
      {"input_file_id", input_file_id}, {"endpoint", endpoint}, {"completion_window", completion_window}};
  if (!metadata.empty()) body["metadata"] = metadata;
  return call("POST", "/batches", &body);
}

Result<nlohmann::json> OpenAiClient::get_batch(const std::string& id) {
  return call("GET", "/batches/" + id);
}
Result<nlohmann::json> OpenAiClient::cancel_batch(const std::string& id) {
  return call("POST", "/batches/" + id + "/cancel");
}
Result<nlohmann::json> OpenAiClient::get_file(const std::string& id) { return call("GET", "/files/" + id); }
Result<nlohmann::json> OpenAiClient::delete_file(const std::string& id) {
  return call("DELETE", "/files/" + id);
}

Result<nlohmann::json> OpenAiClient::list_all(const std::string& path) {
  nlohmann::json all = nlohmann::json::array();
  std::string after;
  for (int page = 0; page < 1000; ++page) {
    std::string query = path + "?limit=100";
    if (!after.empty()) query += "&after=" + after;
    Result<nlohmann::json> r = call("GET", query);
    if (!r) return r.status();
    const nlohmann::json& data = (*r)["data"];
    if (!data.is_array()) return Status::internal("GET " + path + ": no data array");
    for (const auto& item : data) all.push_back(item);
    if (!r->value("has_more", false) || data.empty() || !data.back().contains("id")) break;
    after = data.back()["id"].get<std::string>();
  }
  return all;
}

Result<nlohmann::json> OpenAiClient::list_batches() { return list_all("/batches"); }
Result<nlohmann::json> OpenAiClient::list_files() { return list_all("/files"); }

Result<OpenAiClient::FinishedLines> OpenAiClient::batch_output(const std::string& id, int64_t after) {
  Result<Response> r = send("GET", "/batches/" + id + "/output?after=" + std::to_string(after), nullptr);
  if (!r) return r.status();
  if (r->status < 200 || r->status >= 300) return error_status(r->status, r->body);
  FinishedLines out;
  out.jsonl = std::move(r->body);
  out.status = r->headers["openbatch-batch-status"];
  try {
    out.cursor = std::stoll(r->headers["openbatch-cursor"]);
  } catch (const std::exception&) {
    return Status::internal("GET /batches/" + id +
                            "/output: no openbatch-cursor header (not an openbatch server?)");
  }
  return out;
}

Result<std::string> OpenAiClient::file_content(const std::string& id) {
  Result<Response> r = send("GET", "/files/" + id + "/content", nullptr);
  if (!r) return r.status();
  if (r->status < 200 || r->status >= 300) return error_status(r->status, r->body);
  return std::move(r->body);
}

}  // namespace openbatch::client
