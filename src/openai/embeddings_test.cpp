#include "openai/embeddings.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>

namespace openbatch::openai {
namespace {

using nlohmann::json;

engine::ModelInfo model() {
  engine::ModelInfo m;
  m.id = "embedder";
  return m;
}

Status error_of(const std::string& body) {
  auto r = parse_embeddings_request(json::parse(body), model());
  EXPECT_FALSE(r) << body;
  return r ? Status::ok() : r.status();
}

TEST(EmbeddingsRequestTest, TakesEveryInputShape) {
  auto one = parse_embeddings_request(json::parse(R"({"model":"embedder","input":"a chair"})"), model());
  ASSERT_TRUE(one);
  ASSERT_EQ(one->embedding.inputs.size(), 1u);
  EXPECT_EQ(one->embedding.inputs[0].text, "a chair");
  auto ids = parse_embeddings_request(json::parse(R"({"model":"embedder","input":[5,6,7]})"), model());
  ASSERT_TRUE(ids);
  EXPECT_EQ(ids->embedding.inputs[0].tokens, (std::vector<int32_t>{5, 6, 7}));
  auto mixed = parse_embeddings_request(
      json::parse(R"({"model":"embedder","input":["a",[1,2]],"encoding_format":"base64","dimensions":2})"),
      model());
  ASSERT_TRUE(mixed);
  EXPECT_EQ(mixed->embedding.inputs.size(), 2u);
  EXPECT_TRUE(mixed->base64);
  EXPECT_EQ(mixed->dimensions, 2);
}

TEST(EmbeddingsRequestTest, RefusesWhatOpenAIRefuses) {
  EXPECT_EQ(error_of(R"({"model":"embedder"})").code(), "missing_required_parameter");
  EXPECT_EQ(error_of(R"({"model":"embedder","input":""})").param(), "input");
  EXPECT_EQ(error_of(R"({"model":"embedder","input":[]})").param(), "input");
  EXPECT_EQ(error_of(R"({"model":"embedder","input":[[]]})").param(), "input");
  EXPECT_EQ(error_of(R"({"model":"embedder","input":[1,-2]})").param(), "input");
  EXPECT_EQ(error_of(R"({"model":"embedder","input":{"a":1}})").code(), "invalid_type");
  EXPECT_EQ(error_of(R"({"model":"embedder","input":"x","encoding_format":"int8"})").param(),
            "encoding_format");
  EXPECT_EQ(error_of(R"({"model":"embedder","input":"x","dimensions":0})").param(), "dimensions");
  EXPECT_TRUE(error_of(R"({"model":"other","input":"x"})").is_not_found());
  json many = {{"model", "embedder"}, {"input", json::array()}};
  for (int i = 0; i < 2049; ++i) many["input"].push_back("x");
  EXPECT_FALSE(parse_embeddings_request(many, model()));
}

TEST(EmbeddingsResponseTest, ShortensAndEncodesAsOpenAIDoes) {
  EmbeddingsApiRequest request;
  request.model = "embedder";
  request.dimensions = 2;
  engine::Embeddings e;
  e.vectors = {{0.6f, 0.0f, 0.8f}};
  e.prompt_tokens = 3;
  auto floats = build_embeddings_response(request, e);
  ASSERT_TRUE(floats);
  EXPECT_EQ((*floats)["object"], "list");
  EXPECT_EQ((*floats)["data"][0]["object"], "embedding");
  EXPECT_EQ((*floats)["data"][0]["index"], 0);
  EXPECT_EQ((*floats)["data"][0]["embedding"], json::parse("[1.0, 0.0]"));
  EXPECT_EQ((*floats)["usage"], json::parse(R"({"prompt_tokens":3,"total_tokens":3})"));

  request.dimensions.reset();
  request.base64 = true;
  auto encoded = build_embeddings_response(request, e);
  ASSERT_TRUE(encoded);
  const std::string b64 = (*encoded)["data"][0]["embedding"];
  unsigned char raw[64];
  const int n =
      EVP_DecodeBlock(raw, reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  ASSERT_GE(n, 12);
  float back[3];
  std::memcpy(back, raw, sizeof back);
  EXPECT_EQ(back[0], 0.6f);
  EXPECT_EQ(back[2], 0.8f);

  request.dimensions = 4;
  EXPECT_EQ(build_embeddings_response(request, e).status().param(), "dimensions");
}

}  // namespace
}  // namespace openbatch::openai
