// /v1/files and /v1/batches over real HTTP (cpp-httplib on a loopback port), on a fake engine.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <set>
#include <sstream>
#include <thread>

#include "api/http_server.h"
#include "api/routes.h"
#include "batch/batch_service.h"
#include "batch/fake_engine_for_test.h"
#include "common/error_envelope.h"
#include "common/files_for_test.h"
#include "common/temp_dir.h"
#include "store/failing_store_for_test.h"

namespace openbatch::api {
namespace {

using nlohmann::json;

std::string request_line(const std::string& custom_id) {
  return json{{"custom_id", custom_id},
              {"method", "POST"},
              {"url", "/v1/chat/completions"},
              {"body", {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", custom_id}}}}}}}
      .dump();
}

class BatchApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.api_keys = {"key-alice", "key-bob"};
    batch::BatchServiceOptions o;
    o.data_dir = dir_.path();
    o.flush_interval = std::chrono::milliseconds(5);
    o.retry_interval = std::chrono::milliseconds(20);
    o.wrap_store = [this](std::unique_ptr<store::Store> inner) -> std::unique_ptr<store::Store> {
      auto failing = std::make_unique<store::testing::FailingStore>(std::move(inner));
      store_ = failing.get();
      return failing;
    };
    auto s = batch::BatchService::open(o, metered_);
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    service_ = std::move(s).value();
    service_->start();
    ctx_.options = &options_;
    ctx_.engine = &metered_;
    ctx_.batches = service_.get();
    register_file_routes(http_, ctx_);
    register_batch_routes(http_, ctx_);
    register_model_routes(http_, ctx_);
    ASSERT_TRUE(http_.bind("127.0.0.1", port_));
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    while (!http_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void TearDown() override {
    http_.stop();
    thread_.join();
    service_->stop();
  }

  httplib::Client client(const std::string& key = "key-alice") {
    httplib::Client c("127.0.0.1", port_);
    c.set_bearer_token_auth(key);
    return c;
  }

  json upload(const std::string& content, const std::string& key = "key-alice",
              const std::string& purpose = "batch") {
    httplib::MultipartFormDataItems items = {{"purpose", purpose, "", ""},
                                             {"file", content, "tasks.jsonl", "application/jsonl"}};
    auto res = client(key).Post("/v1/files", items);
    EXPECT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
    return json::parse(res->body);
  }

  json get(const std::string& path, int want_status = 200, const std::string& key = "key-alice") {
    auto res = client(key).Get(path.c_str());
    EXPECT_TRUE(res);
    EXPECT_EQ(res->status, want_status) << path << ": " << res->body;
    return json::parse(res->body);
  }

  json post(const std::string& path, const json& body, int want_status = 200,
            const std::string& key = "key-alice") {
    auto res = client(key).Post(path.c_str(), body.dump(), "application/json");
    EXPECT_TRUE(res);
    EXPECT_EQ(res->status, want_status) << path << ": " << res->body;
    return json::parse(res->body);
  }

  json create_batch(const std::string& file_id) {
    return post(
        "/v1/batches",
        {{"input_file_id", file_id}, {"endpoint", "/v1/chat/completions"}, {"completion_window", "24h"}});
  }

  json wait_batch(const std::string& id, const std::string& status) {
    json b;
    for (int i = 0; i < 2000; ++i) {
      b = get("/v1/batches/" + id);
      if (b["status"] == status) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(b["status"], status);
    return b;
  }

  TempDir dir_;
  testing::FakeEngine engine_{/*auto_complete=*/true};
  engine::MeteredEngine metered_{engine_};
  ServerOptions options_;
  std::unique_ptr<batch::BatchService> service_;
  RouteContext ctx_;
  store::testing::FailingStore* store_ = nullptr;  // fails nothing until a test says so
  HttpServer http_{ConnectionLimits{}};
  int port_ = 0;
  std::thread thread_;
};

TEST_F(BatchApiTest, FilesUploadListRetrieveDownloadDelete) {
  const std::string content = request_line("a") + "\n" + request_line("b") + "\n";
  json f = upload(content);
  EXPECT_EQ(f["id"].get<std::string>().rfind("file-", 0), 0u);
  EXPECT_EQ(f["object"], "file");
  EXPECT_EQ(f["bytes"], content.size());
  EXPECT_EQ(f["filename"], "tasks.jsonl");
  EXPECT_EQ(f["purpose"], "batch");
  EXPECT_TRUE(f["created_at"].is_number_integer());
  EXPECT_TRUE(f.contains("expires_at") && f["expires_at"].is_null());

  EXPECT_EQ(get("/v1/files/" + f["id"].get<std::string>()), f);
  auto res = client().Get(("/v1/files/" + f["id"].get<std::string>() + "/content").c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, content);

  json g = upload("x\n", "key-alice", "user_data");
  json list = get("/v1/files?limit=1");
  EXPECT_EQ(list["object"], "list");
  ASSERT_EQ(list["data"].size(), 1u);
  EXPECT_EQ(list["data"][0]["id"], g["id"]);
  EXPECT_EQ(list["first_id"], g["id"]);
  EXPECT_EQ(list["last_id"], g["id"]);
  EXPECT_EQ(list["has_more"], true);
  list = get("/v1/files?limit=1&after=" + g["id"].get<std::string>());
  EXPECT_EQ(list["data"][0]["id"], f["id"]);
  EXPECT_EQ(list["has_more"], false);
  EXPECT_EQ(get("/v1/files?order=asc")["data"][0]["id"], f["id"]);
  EXPECT_EQ(get("/v1/files?purpose=user_data")["data"].size(), 1u);
  EXPECT_EQ(get("/v1/files?limit=0", 400)["error"]["param"], "limit");
  EXPECT_EQ(get("/v1/files?order=up", 400)["error"]["code"], "invalid_value");

  auto del = client().Delete(("/v1/files/" + g["id"].get<std::string>()).c_str());
  ASSERT_TRUE(del);
  EXPECT_EQ(json::parse(del->body), json({{"id", g["id"]}, {"object", "file"}, {"deleted", true}}));
  json err = get("/v1/files/" + g["id"].get<std::string>(), 404);
  EXPECT_EQ(err["error"]["type"], "invalid_request_error");
}

// The openai npm package streams uploads with Transfer-Encoding: chunked.
TEST_F(BatchApiTest, AcceptsChunkedMultipartUploads) {
  std::string content;
  for (int i = 0; i < 2000; ++i) content += request_line("req-" + std::to_string(i)) + "\n";
  const std::string boundary = "----openbatchtestboundary";
  const std::string body = "--" + boundary +
                           "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jsonl\"\r\n"
                           "Content-Type: application/octet-stream\r\n\r\n" +
                           content + "\r\n--" + boundary +
                           "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--" +
                           boundary + "--\r\n";
  auto res = client().Post(
      "/v1/files",
      [&](size_t offset, httplib::DataSink& sink) {
        if (offset < body.size()) {
          sink.write(body.data() + offset, std::min<size_t>(4093, body.size() - offset));
        } else {
          sink.done();
        }
        return true;
      },
      "multipart/form-data; boundary=" + boundary);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json f = json::parse(res->body);
  ASSERT_TRUE(f["id"].is_string()) << res->body;
  EXPECT_EQ(f["bytes"].get<size_t>(), content.size());
  EXPECT_EQ(f["filename"].get<std::string>(), "big.jsonl");
  auto got = client().Get(("/v1/files/" + f["id"].get<std::string>() + "/content").c_str());
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_TRUE(got->body == content) << got->body.size() << " bytes, not " << content.size();
}

TEST_F(BatchApiTest, RejectsUploadsThatAreNotCompleteForms) {
  // One keep-alive connection: the unread body of the refused upload must not leak into the next request.
  httplib::Client c = client();
  c.set_keep_alive(true);
  auto res = c.Post("/v1/files", std::string(100000, 'x'), "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  res = c.Get("/v1/files");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  httplib::MultipartFormDataItems no_purpose = {{"file", "x", "a.jsonl", ""}};
  res = client().Post("/v1/files", no_purpose);
  EXPECT_EQ(json::parse(res->body)["error"]["param"], "purpose");
  httplib::MultipartFormDataItems no_file = {{"purpose", "batch", "", ""}};
  res = client().Post("/v1/files", no_file);
  EXPECT_EQ(json::parse(res->body)["error"]["param"], "file");
  httplib::MultipartFormDataItems bad_purpose = {{"purpose", "nonsense", "", ""},
                                                 {"file", "x", "a.jsonl", ""}};
  res = client().Post("/v1/files", bad_purpose);
  EXPECT_EQ(res->status, 400);
  EXPECT_TRUE(get("/v1/files")["data"].empty());
}

TEST_F(BatchApiTest, RunsABatchAndServesItsObjects) {
  json f = upload(request_line("a") + "\n" + request_line("b") + "\n");
  json b = create_batch(f["id"]);
  EXPECT_EQ(b["object"], "batch");
  EXPECT_EQ(b["status"], "validating");
  EXPECT_EQ(b["id"].get<std::string>().rfind("batch_", 0), 0u);
  for (const char* key : {"id",
                          "object",
                          "endpoint",
                          "model",
                          "errors",
                          "input_file_id",
                          "completion_window",
                          "status",
                          "output_file_id",
                          "error_file_id",
                          "created_at",
                          "in_progress_at",
                          "expires_at",
                          "finalizing_at",
                          "completed_at",
                          "failed_at",
                          "expired_at",
                          "cancelling_at",
                          "cancelled_at",
                          "request_counts",
                          "usage",
                          "metadata"}) {
    EXPECT_TRUE(b.contains(key)) << key;
  }
  b = wait_batch(b["id"], "completed");
  EXPECT_EQ(b["model"], "tiny");
  EXPECT_EQ(b["request_counts"], json({{"total", 2}, {"completed", 2}, {"failed", 0}}));
  EXPECT_EQ(b["usage"], json({{"input_tokens", 20},
                              {"input_tokens_details", {{"cached_tokens", 6}}},
                              {"output_tokens", 10},
                              {"output_tokens_details", {{"reasoning_tokens", 0}}},
                              {"total_tokens", 30}}));
  EXPECT_TRUE(b["errors"].is_null());
  EXPECT_TRUE(b["error_file_id"].is_null());
  EXPECT_TRUE(b["completed_at"].is_number_integer());

  json out = get("/v1/files/" + b["output_file_id"].get<std::string>());
  EXPECT_EQ(out["purpose"], "batch_output");
  auto res = client().Get(("/v1/files/" + b["output_file_id"].get<std::string>() + "/content").c_str());
  ASSERT_TRUE(res);
  std::set<std::string> ids;
  std::istringstream lines(res->body);
  for (std::string line; std::getline(lines, line);) {
    json l = json::parse(line);
    ids.insert(l["custom_id"].get<std::string>());
    EXPECT_EQ(l["response"]["body"]["choices"][0]["message"]["content"],
              "ok: " + l["custom_id"].get<std::string>());
  }
  EXPECT_EQ(ids, std::set<std::string>({"a", "b"}));

  json conflict = post("/v1/batches/" + b["id"].get<std::string>() + "/cancel", json::object(), 409);
  EXPECT_EQ(conflict["error"]["message"], "Cannot cancel a batch with status 'completed'.");
}

TEST_F(BatchApiTest, ServesTheProgressSamplesOfABatchToItsOwner) {
  json f = upload(request_line("a") + "\n" + request_line("TOO_LONG") + "\n" + request_line("c") + "\n");
  const std::string id = create_batch(f["id"])["id"];
  json b = wait_batch(id, "completed");
  ASSERT_EQ(b["request_counts"], json({{"total", 3}, {"completed", 2}, {"failed", 1}}));

  json p = get("/v1/batches/" + id + "/progress");
  EXPECT_EQ(p["object"], "batch.progress");
  EXPECT_EQ(p["batch_id"], id);
  EXPECT_EQ(p["status"], "completed");
  ASSERT_GE(p["samples"].size(), 1u);
  int64_t at = 0, done = 0;
  for (const json& s : p["samples"]) {
    EXPECT_GT(s["at_ms"].get<int64_t>(), at) << "oldest first";
    EXPECT_GE(s["completed"].get<int64_t>() + s["failed"].get<int64_t>(), done) << "counts only grow";
    at = s["at_ms"];
    done = s["completed"].get<int64_t>() + s["failed"].get<int64_t>();
  }
  const json& last = p["samples"].back();
  EXPECT_EQ(last, json({{"at_ms", at},
                        {"completed", 2},
                        {"failed", 1},
                        {"input_tokens", 20},
                        {"output_tokens", 10},
                        {"cached_tokens", 6}}));
  EXPECT_GE(p["now_ms"].get<int64_t>(), at);
  EXPECT_GE(at, b["in_progress_at"].get<int64_t>() * 1000);

  EXPECT_TRUE(get("/v1/batches/" + id + "/progress?after_ms=" + std::to_string(at))["samples"].empty());
  json bad = get("/v1/batches/" + id + "/progress?after_ms=soon", 400);
  EXPECT_EQ(bad["error"]["code"], "invalid_value");
  EXPECT_EQ(bad["error"]["param"], "after_ms");
  get("/v1/batches/" + id + "/progress", 404, "key-bob");
  get("/v1/batches/batch_nope/progress", 404);
  EXPECT_FALSE(get("/v1/batches/" + id).contains("samples")) << "the batch object stays OpenAI's";
}

TEST_F(BatchApiTest, ReportsValidationErrorsAsAListOnTheBatch) {
  json f =
      upload(request_line("a") + "\n{\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{}}\n");
  json b = wait_batch(create_batch(f["id"])["id"], "failed");
  EXPECT_EQ(b["errors"]["object"], "list");
  ASSERT_EQ(b["errors"]["data"].size(), 1u);
  EXPECT_EQ(b["errors"]["data"][0]["code"], "missing_required_parameter");
  EXPECT_EQ(b["errors"]["data"][0]["line"], 2);
  EXPECT_EQ(b["errors"]["data"][0]["param"], "custom_id");
  EXPECT_TRUE(b["failed_at"].is_number_integer());
}

TEST_F(BatchApiTest, AnUploadWithALineThatIsNotAJsonObjectIsRefusedNamingIt) {
  httplib::MultipartFormDataItems items = {
      {"file", request_line("a") + "\n{oops\n", "tasks.jsonl", "application/jsonl"},
      {"purpose", "batch", "", ""}};
  auto res = client().Post("/v1/files", items);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  json e = json::parse(res->body)["error"];
  EXPECT_EQ(e["code"], "invalid_file_format");
  EXPECT_EQ(e["param"], "file");
  EXPECT_NE(e["message"].get<std::string>().find("line 2"), std::string::npos) << e;
  // Another purpose takes any bytes.
  EXPECT_EQ(upload("{oops\n", "key-alice", "user_data")["purpose"], "user_data");
}

TEST_F(BatchApiTest, ListsBatchesNewestFirstByPage) {
  json f = upload(request_line("a") + "\n");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(create_batch(f["id"])["id"]);
  json page = get("/v1/batches?limit=2");
  ASSERT_EQ(page["data"].size(), 2u);
  EXPECT_EQ(page["data"][0]["id"], ids[2]);
  EXPECT_EQ(page["first_id"], ids[2]);
  EXPECT_EQ(page["last_id"], ids[1]);
  EXPECT_EQ(page["has_more"], true);
  page = get("/v1/batches?limit=2&after=" + ids[1]);
  ASSERT_EQ(page["data"].size(), 1u);
  EXPECT_EQ(page["data"][0]["id"], ids[0]);
  EXPECT_EQ(page["has_more"], false);
  EXPECT_EQ(get("/v1/batches?limit=101", 400)["error"]["code"], "integer_above_max_value");
  for (const auto& id : ids) wait_batch(id, "completed");
}

TEST_F(BatchApiTest, AnswersCreateErrorsWithOpenAIsEnvelope) {
  json f = upload(request_line("a") + "\n");
  json err =
      post("/v1/batches",
           {{"input_file_id", f["id"]}, {"endpoint", "/v1/moderations"}, {"completion_window", "24h"}}, 400);
  EXPECT_EQ(err["error"]["code"], "invalid_value");
  EXPECT_EQ(err["error"]["param"], "endpoint");
  EXPECT_EQ(err["error"]["type"], "invalid_request_error");
  err = post("/v1/batches",
             {{"input_file_id", f["id"]},
              {"endpoint", "/v1/chat/completions"},
              {"completion_window", "24h"},
              {"metadata", {{"n", 1}}}},
             400);
  EXPECT_EQ(err["error"]["code"], "invalid_type");
  auto res = client().Post("/v1/batches", "{not json", "application/json");
  EXPECT_EQ(res->status, 400);
  get("/v1/batches/batch_nope", 404);
  post("/v1/batches/batch_nope/cancel", json::object(), 404);
}

TEST_F(BatchApiTest, EachKeySeesOnlyItsOwnFilesAndBatches) {
  json f = upload(request_line("a") + "\n", "key-alice");
  json b = create_batch(f["id"]);
  const std::string fid = f["id"], bid = b["id"];
  get("/v1/files/" + fid, 404, "key-bob");
  get("/v1/files/" + fid + "/content", 404, "key-bob");
  get("/v1/batches/" + bid, 404, "key-bob");
  post("/v1/batches/" + bid + "/cancel", json::object(), 404, "key-bob");
  EXPECT_TRUE(get("/v1/files", 200, "key-bob")["data"].empty());
  EXPECT_TRUE(get("/v1/batches", 200, "key-bob")["data"].empty());
  auto del = client("key-bob").Delete(("/v1/files/" + fid).c_str());
  EXPECT_EQ(del->status, 404);
  wait_batch(bid, "completed");
}

TEST_F(BatchApiTest, IdsNeverReachOutsideTheDataDir) {
  for (const char* path :
       {"/v1/files/..%2F..%2Fetc%2Fpasswd", "/v1/files/..%2Fopenbatch.sqlite3/content",
        "/v1/files/.%2E/content", "/v1/files/openbatch.sqlite3/content", "/v1/files/file-x%00/content"}) {
    auto res = client().Get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 404) << path;
    EXPECT_EQ(res->body.find("SQLite"), std::string::npos);
  }
}

}  // namespace
TEST_F(BatchApiTest, MetricsCountTheBatchsGenerationsAndTokens) {
  std::string content;
  for (int i = 0; i < 3; ++i) content += request_line("m" + std::to_string(i)) + "\n";
  content += request_line("TOO_LONG") + "\n";  // the fake engine fails it with a 400
  json b = create_batch(upload(content)["id"]);
  wait_batch(b["id"], "completed");
  auto res = client().Get("/metrics");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u);
  const std::string& text = res->body;
  for (const char* line :
       {"openbatch_model_info{model=\"tiny\",state=\"loaded\"} 1\n", "openbatch_parallel 2\n",
        "openbatch_model_generations_total{model=\"tiny\",priority=\"batch\",outcome=\"ok\"} 3\n",
        "openbatch_generation_duration_seconds_count{model=\"tiny\",priority=\"batch\"} 3\n",
        "openbatch_generations_total{priority=\"batch\",outcome=\"ok\"} 3\n",
        "openbatch_generations_total{priority=\"batch\",outcome=\"error\"} 1\n",
        "openbatch_generations_total{priority=\"interactive\",outcome=\"ok\"} 0\n",
        "openbatch_generations_in_flight{priority=\"batch\"} 0\n", "openbatch_prompt_tokens_total 30\n",
        "openbatch_prompt_tokens_cached_total 9\n", "openbatch_completion_tokens_total 15\n",
        "openbatch_batches{status=\"in_progress\"} 0\n",
        "# TYPE openbatch_completion_tokens_total counter\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << " not in:\n" << text;
  }
}

namespace {

// What a client sees of a store that fails (a full disk): a 500 with OpenAI's generic message, never
// the server's paths or database errors, and nothing half done.
void expect_generic_500(const httplib::Result& res) {
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500) << res->body;
  const json body = json::parse(res->body);
  EXPECT_EQ(body["error"]["type"], "server_error");
  EXPECT_EQ(body["error"]["message"], kInternalErrorMessage);
  EXPECT_EQ(res->body.find("sqlite"), std::string::npos) << res->body;
}

TEST_F(BatchApiTest, AnUploadTheStoreCannotRecordIsA500AndLeavesNoFileBehind) {
  store_->fail("insert_file");
  httplib::MultipartFormDataItems items = {{"purpose", "batch", "", ""},
                                           {"file", request_line("a") + "\n", "tasks.jsonl", ""}};
  auto res = client().Post("/v1/files", items);
  expect_generic_500(res);
  EXPECT_EQ(res->body.find(dir_.path()), std::string::npos) << "the data directory shows: " << res->body;
  EXPECT_EQ(store_->failed("insert_file"), 1);
  EXPECT_TRUE(get("/v1/files")["data"].empty());
  EXPECT_TRUE(openbatch::testing::entries_besides_marker(dir_.path() + "/files").empty())
      << "the upload's bytes stayed on disk";
  // Once the store takes writes again, uploads work.
  EXPECT_TRUE(upload(request_line("a") + "\n")["id"].is_string());
}

TEST_F(BatchApiTest, ABatchTheStoreCannotCreateIsA500AndNotListed) {
  json f = upload(request_line("a") + "\n");
  store_->fail("insert_batch");
  expect_generic_500(client().Post(
      "/v1/batches",
      json{{"input_file_id", f["id"]}, {"endpoint", "/v1/chat/completions"}, {"completion_window", "24h"}}
          .dump(),
      "application/json"));
  EXPECT_TRUE(get("/v1/batches")["data"].empty());
}

TEST_F(BatchApiTest, ABatchTheStoreCannotStartOrFinishWaitsAndThenCompletesWhole) {
  std::string content;
  for (int i = 0; i < 20; ++i) content += request_line("r" + std::to_string(i)) + "\n";
  json f = upload(content);
  // Validation cannot start it twice, results cannot be stored once, the output cannot be recorded once.
  store_->fail("start_batch", 2);
  store_->fail("record_results", 1);
  store_->fail("finish_batch", 1);
  json b = create_batch(f["id"]);
  EXPECT_EQ(b["status"], "validating");
  b = wait_batch(b["id"], "completed");
  EXPECT_EQ(store_->failed("start_batch"), 2);
  EXPECT_EQ(store_->failed("record_results"), 1);
  EXPECT_EQ(store_->failed("finish_batch"), 1);
  EXPECT_EQ(b["request_counts"], json({{"total", 20}, {"completed", 20}, {"failed", 0}}));
  auto out = client().Get(("/v1/files/" + b["output_file_id"].get<std::string>() + "/content").c_str());
  ASSERT_TRUE(out);
  std::set<std::string> ids;
  std::istringstream lines(out->body);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_TRUE(ids.insert(json::parse(line)["custom_id"].get<std::string>()).second) << "twice: " << line;
  }
  EXPECT_EQ(ids.size(), 20u);
}

TEST_F(BatchApiTest, AStoreThatCannotBeReadAnswersA500) {
  json f = upload(request_line("a") + "\n");
  json b = create_batch(f["id"]);
  store_->fail("get_batch");
  expect_generic_500(client().Get(("/v1/batches/" + b["id"].get<std::string>()).c_str()));
  EXPECT_EQ(get("/v1/batches/" + b["id"].get<std::string>())["id"], b["id"]);
}

}  // namespace
}  // namespace openbatch::api
