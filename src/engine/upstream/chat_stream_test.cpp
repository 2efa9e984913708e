#include "engine/upstream/chat_stream.h"

#include <gtest/gtest.h>

namespace openbatch::engine::upstream {
namespace {

const char kStream[] =
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\r\n\r\n"
    ": a comment\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"length\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\n"
    "data: [DONE]\n\n";

TEST(ChatStreamReaderTest, PiecesSplitAnywhereMakeUpTheWholeAnswer) {
  const std::string stream = kStream;
  for (size_t cut = 1; cut < stream.size(); cut += 7) {
    std::vector<std::string> pieces;
    ChatStreamReader reader([&pieces](GenerationDelta d) { pieces.emplace_back(d.content); });
    reader.feed(std::string_view(stream).substr(0, cut));
    reader.feed(std::string_view(stream).substr(cut));
    EXPECT_EQ(pieces, (std::vector<std::string>{"Hel", "lo"})) << cut;
    EXPECT_TRUE(reader.delivered());
    auto completion = reader.completion();
    ASSERT_TRUE(completion) << completion.status().message();
    EXPECT_EQ((*completion)["choices"][0]["message"]["content"], "Hello");
    EXPECT_EQ((*completion)["choices"][0]["finish_reason"], "length");
    EXPECT_EQ((*completion)["usage"]["prompt_tokens"], 4);
  }
}

TEST(ChatStreamReaderTest, AnErrorEventOrACutStreamFails) {
  ChatStreamReader failed(nullptr);
  failed.feed("data: {\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\"}}\n\n");
  EXPECT_TRUE(failed.completion().status().is_internal());
  EXPECT_NE(failed.completion().status().message().find("out of memory"), std::string::npos);
  ChatStreamReader cut(nullptr);
  cut.feed("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n");
  EXPECT_EQ(cut.completion().status().status_code(), StatusCode::kBadGateway);
}

}  // namespace
}  // namespace openbatch::engine::upstream
