// The endpoint table: one row a path, found by it; each row's parse makes a call that runs whole, as a
// stream where the endpoint streams, and counts its prompt; each row's prompt body is a body its own
// parse accepts.
#include "openai/endpoint_table.h"

#include <gtest/gtest.h>

#include <set>

#include "openai/endpoints.h"
#include "openai/error_cases_for_test.h"

namespace openbatch::openai {
namespace {

using nlohmann::json;

TEST(EndpointTableTest, OneRowAPathInOpenAIsOrder) {
  std::vector<std::string> paths;
  for (const Endpoint& e : endpoints()) {
    paths.push_back(e.path);
    EXPECT_EQ(find_endpoint(e.path), &e);
    EXPECT_NE(std::string(e.required_field), "") << e.path;
    EXPECT_NE(std::string(e.api_name), "") << e.path;
  }
  EXPECT_EQ(paths, (std::vector<std::string>{kChatCompletionsEndpoint, kCompletionsEndpoint,
                                             kEmbeddingsEndpoint, kResponsesEndpoint}));
  EXPECT_EQ(find_endpoint("/v1/moderations"), nullptr);
  EXPECT_EQ(find_endpoint("/v1/chat/completions/"), nullptr);
  EXPECT_EQ(batch_endpoints_phrase(),
            "'/v1/chat/completions', '/v1/completions', '/v1/embeddings', and '/v1/responses'");
}

TEST(EndpointTableTest, ACallStreamsOnlyWhereTheBodyAsksAndTheEndpointCan) {
  const engine::ModelInfo model = request_test_model("alias");
  const json chat = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"stream", true}};
  auto c = find_endpoint(kChatCompletionsEndpoint)->parse(chat, model, nullptr);
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  EXPECT_TRUE(c->stream);
  EXPECT_TRUE(c->run_streamed);
  EXPECT_TRUE(c->run);
  EXPECT_TRUE(c->count_prompt_tokens);

  auto whole = find_endpoint(kResponsesEndpoint)->parse({{"model", "m"}, {"input", "hi"}}, model, nullptr);
  ASSERT_TRUE(whole.is_ok()) << whole.status().message();
  EXPECT_FALSE(whole->stream);
  EXPECT_TRUE(whole->run_streamed);

  auto embeddings =
      find_endpoint(kEmbeddingsEndpoint)->parse({{"model", "m"}, {"input", "hi"}}, model, nullptr);
  ASSERT_TRUE(embeddings.is_ok()) << embeddings.status().message();
  EXPECT_FALSE(embeddings->stream);
  EXPECT_FALSE(embeddings->run_streamed);

  auto bad = find_endpoint(kCompletionsEndpoint)->parse({{"model", "m"}}, model, nullptr);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_TRUE(bad.status().is_invalid_argument());
  EXPECT_EQ(bad.status().param(), "prompt");
}

TEST(EndpointTableTest, EachPromptBodyIsOneItsEndpointAccepts) {
  engine::ModelInfo model = request_test_model("alias");
  model.has_vision = true;
  for (const Endpoint& e : endpoints()) {
    PromptRequest r;
    r.model = "m";
    r.user = "Say json {x}";
    if (e.generates) {
      r.system = "Be brief.";
      r.temperature = 0.5;
      r.max_tokens = 20;
    }
    if (e.takes_images) r.image_url = "https://example.com/a.png";
    if (e.takes_response_format) r.response_format = {{"type", "json_object"}};
    const json body = e.prompt_body(r);
    EXPECT_TRUE(body.contains(e.required_field)) << e.path << " " << body.dump();
    auto call = e.parse(body, model, nullptr);
    EXPECT_TRUE(call.is_ok()) << e.path << " " << body.dump() << ": " << call.status().message();
  }
  // Each endpoint in its own fields.
  PromptRequest r{"m", "S", "U", "", 0.2, 7, json(nullptr)};
  EXPECT_EQ(find_endpoint(kCompletionsEndpoint)->prompt_body(r),
            json({{"model", "m"}, {"temperature", 0.2}, {"max_tokens", 7}, {"prompt", "S\n\nU"}}));
  EXPECT_EQ(find_endpoint(kResponsesEndpoint)->prompt_body(r), json({{"model", "m"},
                                                                     {"temperature", 0.2},
                                                                     {"max_output_tokens", 7},
                                                                     {"instructions", "S"},
                                                                     {"input", "U"}}));
  EXPECT_EQ(find_endpoint(kEmbeddingsEndpoint)->prompt_body(PromptRequest{"m", "", "U", "", {}, {}, nullptr}),
            json({{"model", "m"}, {"input", "U"}}));
}

}  // namespace
}  // namespace openbatch::openai
