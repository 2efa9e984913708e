#include "openai/batch_objects.h"

#include <gtest/gtest.h>

#include <vector>

namespace openbatch::openai {
namespace {

std::vector<std::string> keys(const nlohmann::ordered_json& o) {
  std::vector<std::string> out;
  for (const auto& [k, v] : o.items()) out.push_back(k);
  return out;
}

TEST(BatchObjectsTest, ABatchHasOpenAIsKeysInOpenAIsOrderAndTheClientsMetadataOrder) {
  store::BatchRecord b;
  b.id = "batch_1";
  b.endpoint = "/v1/chat/completions";
  b.input_file_id = "file-1";
  b.completion_window = "24h";
  b.status = store::BatchStatus::kInProgress;
  b.metadata = nlohmann::ordered_json::parse(R"({"zeta":"1","alpha":"2"})");
  b.usage.input_tokens = 3;
  b.usage.output_tokens = 4;
  const nlohmann::ordered_json o = batch_object(b);
  EXPECT_EQ(keys(o), (std::vector<std::string>{"id",
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
                                               "metadata"}));
  EXPECT_EQ(o["status"], "in_progress");
  EXPECT_TRUE(o["model"].is_null());
  EXPECT_EQ(o["usage"]["total_tokens"], 7);
  EXPECT_EQ(keys(o["usage"]),
            (std::vector<std::string>{"input_tokens", "input_tokens_details", "output_tokens",
                                      "output_tokens_details", "total_tokens"}));
  EXPECT_EQ(o["metadata"].dump(), R"({"zeta":"1","alpha":"2"})");
}

TEST(BatchObjectsTest, FilesAndListsStartWithTheirIdAndObject) {
  store::FileRecord f;
  f.id = "file-1";
  f.filename = "in.jsonl";
  f.purpose = "batch";
  const auto o = file_object(f);
  EXPECT_EQ(keys(o), (std::vector<std::string>{"id", "object", "bytes", "created_at", "expires_at",
                                               "filename", "purpose", "status", "status_details"}));
  nlohmann::ordered_json data = nlohmann::ordered_json::array();
  data.push_back(o);
  const auto list = list_object(data, true);
  EXPECT_EQ(keys(list), (std::vector<std::string>{"object", "data", "first_id", "last_id", "has_more"}));
  EXPECT_EQ(list["first_id"], "file-1");
  EXPECT_TRUE(list_object(nlohmann::ordered_json::array(), false)["first_id"].is_null());
}

TEST(BatchObjectsTest, CreateBodiesAreCheckedAsOpenAIChecksThem) {
  Limits limits;
  auto ok = parse_batch_create(nlohmann::ordered_json::parse(
                                   R"({"input_file_id":"file-1","endpoint":"/v1/chat/completions",
                                       "completion_window":"24h","metadata":{"b":"x","a":"y"},
                                       "output_expires_after":{"anchor":"created_at","seconds":3600}})"),
                               limits);
  ASSERT_TRUE(ok.is_ok()) << ok.status().message();
  EXPECT_EQ(ok->metadata.dump(), R"({"b":"x","a":"y"})");
  EXPECT_EQ(ok->output_expires_after_seconds, 3600);

  struct Case {
    const char* body;
    const char* param;
    const char* code;
  };
  for (
      const Case& c : std::vector<Case>{
          {R"({"endpoint":"/v1/chat/completions","completion_window":"24h"})", "input_file_id",
           "missing_required_parameter"},
          {R"({"input_file_id":7,"endpoint":"/v1/chat/completions","completion_window":"24h"})",
           "input_file_id", "invalid_type"},
          {R"({"input_file_id":"f","endpoint":"/v1/images","completion_window":"24h"})", "endpoint",
           "invalid_value"},
          {R"({"input_file_id":"f","endpoint":"/v1/chat/completions","completion_window":"1h"})",
           "completion_window", "invalid_value"},
          {R"({"input_file_id":"f","endpoint":"/v1/chat/completions","completion_window":"24h","metadata":{"k":1}})",
           "metadata.k", "invalid_type"},
          {R"({"input_file_id":"f","endpoint":"/v1/chat/completions","completion_window":"24h",
                "output_expires_after":{"anchor":"created_at","seconds":60}})",
           "output_expires_after.seconds", "invalid_value"},
      }) {
    auto r = parse_batch_create(nlohmann::ordered_json::parse(c.body), limits);
    ASSERT_FALSE(r.is_ok()) << c.body;
    EXPECT_TRUE(r.status().is_invalid_argument()) << c.body;
    EXPECT_EQ(r.status().param(), c.param) << c.body;
    EXPECT_EQ(r.status().code(), c.code) << c.body;
  }
  // OpenAI's recorded wording.
  auto endpoint = parse_batch_create(
      nlohmann::ordered_json::parse(
          R"({"input_file_id":"f","endpoint":"/v1/moderations","completion_window":"24h"})"),
      limits);
  EXPECT_EQ(
      endpoint.status().message(),
      "Invalid value: '/v1/moderations'. Supported values are: '/v1/chat/completions', '/v1/completions', "
      "'/v1/embeddings', and '/v1/responses'.");
  auto window = parse_batch_create(
      nlohmann::ordered_json::parse(
          R"({"input_file_id":"f","endpoint":"/v1/chat/completions","completion_window":"1h"})"),
      limits);
  EXPECT_EQ(window.status().message(), "Invalid value: '1h'. Supported values are: '24h'.");
  auto tags = parse_batch_create(
      nlohmann::ordered_json::parse(
          R"({"input_file_id":"f","endpoint":"/v1/chat/completions","completion_window":"24h","metadata":{"tags":["a"]}})"),
      limits);
  EXPECT_EQ(tags.status().message(),
            "Invalid type for 'metadata.tags': expected a string, but got an array instead.");
  limits.max_metadata_pairs = 1;
  auto many = parse_batch_create(
      nlohmann::ordered_json::parse(
          R"({"input_file_id":"f","endpoint":"/v1/chat/completions","completion_window":"24h","metadata":{"a":"1","b":"2"}})"),
      limits);
  EXPECT_EQ(many.status().code(), "object_above_max_properties");
  EXPECT_TRUE(check_upload_purpose("batch"));
  EXPECT_EQ(check_upload_purpose("batch_output").param(), "purpose");
  EXPECT_TRUE(check_upload_expires_after(3600, limits));
  EXPECT_FALSE(check_upload_expires_after(59, limits));
}

}  // namespace
}  // namespace openbatch::openai
