#include "engine/upstream/chat_stream.h"

#include "engine/upstream/chat_body.h"

namespace openbatch::engine::upstream {

using nlohmann::json;

void ChatStreamReader::feed(std::string_view bytes) {
  pending_.append(bytes);
  size_t start = 0;
  for (size_t end; (end = pending_.find('\n', start)) != std::string::npos; start = end + 1) {
    std::string_view line(pending_.data() + start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.rfind("data:", 0) != 0) continue;  // blank separators, comments, other fields
    line.remove_prefix(5);
    if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    event(line);
  }
  pending_.erase(0, start);
}

void ChatStreamReader::event(std::string_view data) {
  if (data == "[DONE]") {
    done_ = true;
    return;
  }
  json chunk = json::parse(data, nullptr, false);
  if (!chunk.is_object()) return;
  if (chunk.contains("error")) {
    error_ = upstream_error(500, json{{"error", chunk["error"]}}.dump(), "the upstream server");
    done_ = true;
    return;
  }
  if (chunk.contains("usage") && chunk["usage"].is_object()) usage_ = chunk["usage"];
  if (!chunk.contains("choices") || !chunk["choices"].is_array() || chunk["choices"].empty()) return;
  const json& choice = chunk["choices"][0];
  if (!choice.is_object()) return;
  if (choice.contains("finish_reason") && !choice["finish_reason"].is_null())
    finish_reason_ = choice["finish_reason"];
  std::vector<TokenLogprob> lp;
  if (auto l = choice.find("logprobs"); l != choice.end() && l->is_object() && (*l)["content"].is_array()) {
    for (const json& entry : (*l)["content"]) logprobs_.push_back(entry);
    lp = parse_logprobs(*l);
  }
  std::string piece;
  if (auto delta = choice.find("delta"); delta != choice.end() && delta->is_object()) {
    if (auto content = delta->find("content"); content != delta->end() && content->is_string()) {
      piece = content->get<std::string>();
    }
  }
  if (piece.empty() && lp.empty()) return;
  text_ += piece;
  delivered_ = true;
  if (on_delta_) on_delta_(piece, std::move(lp));
}

Result<json> ChatStreamReader::completion() const {
  if (!error_) return error_;
  if (!done_) {
    return Status(502, "server_error", "bad_upstream_response", "",
                  "The upstream server's stream ended early.");
  }
  json choice = {{"index", 0},
                 {"message", {{"role", "assistant"}, {"content", text_}}},
                 {"finish_reason", finish_reason_.is_null() ? json("stop") : finish_reason_}};
  if (!logprobs_.empty()) choice["logprobs"] = {{"content", logprobs_}};
  json completion = {{"object", "chat.completion"}, {"choices", json::array({choice})}};
  if (!usage_.is_null()) completion["usage"] = usage_;
  return completion;
}

}  // namespace openbatch::engine::upstream
