#include "engine/llama/reasoning_counter.h"

#include <gtest/gtest.h>

namespace openbatch::engine {
namespace {

ChatPrompt thinking_format(bool open) {
  ChatPrompt chat;
  chat.thinking_open = open;
  chat.thinking_start_tag = "<think>";
  chat.thinking_end_tags = {"</think>"};
  return chat;
}

TEST(ReasoningCounterTest, CountsFromTheOpenedBlockToItsEndTag) {
  const ChatPrompt chat = thinking_format(/*open=*/true);
  ReasoningCounter counter(chat);
  int reasoning = 0;
  counter.update(chat, "Let me", 2, reasoning);
  EXPECT_EQ(reasoning, 2);
  counter.update(chat, "Let me see.</think>", 6, reasoning);
  EXPECT_EQ(reasoning, 6);  // the token that completes the end tag counts
  counter.update(chat, "Let me see.</think>Four.", 8, reasoning);
  EXPECT_EQ(reasoning, 6);
}

TEST(ReasoningCounterTest, ABlockTheModelOpensCountsFromItsStart) {
  const ChatPrompt chat = thinking_format(/*open=*/false);
  ReasoningCounter counter(chat);
  int reasoning = 0;
  counter.update(chat, "  ", 1, reasoning);      // blanks decide nothing
  counter.update(chat, "  <thi", 2, reasoning);  // could still be the tag
  EXPECT_EQ(reasoning, 0);
  counter.update(chat, "  <think>hm", 4, reasoning);
  EXPECT_EQ(reasoning, 4);
  counter.update(chat, "  <think>hm</think>ok", 7, reasoning);
  EXPECT_EQ(reasoning, 7);
  counter.update(chat, "  <think>hm</think>ok more", 9, reasoning);
  EXPECT_EQ(reasoning, 7);
}

TEST(ReasoningCounterTest, AnAnswerWithoutTheTagOrAFormatWithoutThinkingCountsNothing) {
  const ChatPrompt chat = thinking_format(/*open=*/false);
  ReasoningCounter counter(chat);
  int reasoning = 0;
  counter.update(chat, "<b>", 1, reasoning);
  counter.update(chat, "<b><think>", 3, reasoning);  // too late: the answer did not start with it
  EXPECT_EQ(reasoning, 0);

  const ChatPrompt plain;  // no end tags: no thinking
  ReasoningCounter none(plain);
  none.update(plain, "<think>x</think>", 5, reasoning);
  EXPECT_EQ(reasoning, 0);
}

}  // namespace
}  // namespace openbatch::engine
