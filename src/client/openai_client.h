// A small client for any server that speaks the OpenAI Files and Batches API (openbatch or OpenAI
// itself). It reads OPENAI_BASE_URL (default https://api.openai.com/v1) and OPENAI_API_KEY as the
// official SDKs do. libcurl carries the requests, so both http:// and https:// base URLs work.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace openbatch::client {

struct ClientOptions {
  std::string base_url;  // ends in /v1, no trailing slash
  std::string api_key;   // empty: no Authorization header
  long timeout_seconds = 600;
};

// The options the official SDKs would use: OPENAI_BASE_URL and OPENAI_API_KEY.
ClientOptions options_from_environment();

// Not thread-safe; one per thread.
class OpenAiClient {
 public:
  explicit OpenAiClient(ClientOptions options);

  // POST /files (multipart), streaming the file from disk. Returns the file object.
  Result<nlohmann::json> upload_file(const std::string& path, const std::string& purpose);
  // POST /batches. metadata may be empty.
  Result<nlohmann::json> create_batch(const std::string& input_file_id, const std::string& endpoint,
                                      const std::string& completion_window,
                                      const std::map<std::string, std::string>& metadata);
  Result<nlohmann::json> get_batch(const std::string& id);
  Result<nlohmann::json> cancel_batch(const std::string& id);
  // Every batch, following `after` pagination; newest first.
  Result<nlohmann::json> list_batches();
  Result<nlohmann::json> list_files();
  Result<nlohmann::json> get_file(const std::string& id);
  Result<nlohmann::json> delete_file(const std::string& id);
  // GET /files/{id}/content: the raw bytes.
  Result<std::string> file_content(const std::string& id);

  // GET /batches/{id}/output?after=CURSOR (openbatch's own): the result lines stored after the cursor,
  // in the order they finished, while the batch runs.
  struct FinishedLines {
    std::string jsonl;   // whole lines, each ending in a newline
    int64_t cursor = 0;  // the `after` of the next call (the openbatch-cursor header)
    std::string status;  // the batch's status when they were read (openbatch-batch-status)
  };
  Result<FinishedLines> batch_output(const std::string& id, int64_t after);

  const ClientOptions& options() const { return options_; }

 private:
  struct Response {
    long status = 0;
    std::string body;
    std::map<std::string, std::string> headers;  // names in lower case
  };
  // Sends one request; a transport failure is a 503 Status. A JSON body is sent when json_body is set.
  Result<Response> send(const std::string& method, const std::string& path, const nlohmann::json* json_body,
                        const std::string* upload_path = nullptr, const std::string* purpose = nullptr);
  // send() and then the JSON of a 2xx answer, or a Status with the server's error message.
  Result<nlohmann::json> call(const std::string& method, const std::string& path,
                              const nlohmann::json* json_body = nullptr);
  Result<nlohmann::json> list_all(const std::string& path);

  ClientOptions options_;
};

}  // namespace openbatch::client
