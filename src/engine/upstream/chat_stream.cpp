#include "engine/upstream/chat_stream.h"

#include "common/json_depth.h"
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
  if (json_nesting_depth(data) > kMaxJsonDepth) return;  // not a chunk this reader could use
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
  GenerationDelta d;
  d.logprobs = std::move(lp);
  if (auto delta = choice.find("delta"); delta != choice.end() && delta->is_object()) {
    auto text_of = [&](const char* name) {
      auto it = delta->find(name);
      return it != delta->end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    d.content = text_of("content");
    d.reasoning_content = text_of("reasoning_content");
    if (auto calls = delta->find("tool_calls"); calls != delta->end() && calls->is_array()) {
      for (const json& call : *calls) {
        if (!call.is_object()) continue;
        ToolCallDelta t;
        t.index = call.value("index", json(0)).is_number_integer() ? call["index"].get<int>() : 0;
        if (t.index < 0 || t.index > 1024) continue;
        if (call.contains("id") && call["id"].is_string()) t.id = call["id"].get<std::string>();
        if (auto f = call.find("function"); f != call.end() && f->is_object()) {
          if (f->contains("name") && (*f)["name"].is_string()) t.name = (*f)["name"].get<std::string>();
          if (f->contains("arguments") && (*f)["arguments"].is_string())
            t.arguments = (*f)["arguments"].get<std::string>();
        }
        while (tool_calls_.size() <= static_cast<size_t>(t.index)) {
          tool_calls_.push_back(
              {{"id", ""}, {"type", "function"}, {"function", {{"name", ""}, {"arguments", ""}}}});
        }
        json& whole = tool_calls_[t.index];
        if (!t.id.empty()) whole["id"] = t.id;
        if (!t.name.empty()) whole["function"]["name"] = t.name;
        whole["function"]["arguments"] = whole["function"]["arguments"].get<std::string>() + t.arguments;
        d.tool_calls.push_back(std::move(t));
      }
    }
  }
  if (d.empty()) return;
  text_ += d.content;
  reasoning_ += d.reasoning_content;
  delivered_ = true;
  if (on_delta_) on_delta_(std::move(d));
}

Result<json> ChatStreamReader::completion() const {
  if (!error_) return error_;
  if (!done_) {
    return Status(StatusCode::kBadGateway, "server_error", "bad_upstream_response", "",
                  "The upstream server's stream ended early.");
  }
  json message = {{"role", "assistant"}, {"content", text_}};
  if (!reasoning_.empty()) message["reasoning_content"] = reasoning_;
  if (!tool_calls_.empty()) message["tool_calls"] = tool_calls_;
  json choice = {{"index", 0},
                 {"message", std::move(message)},
                 {"finish_reason", finish_reason_.is_null() ? json("stop") : finish_reason_}};
  if (!logprobs_.empty()) choice["logprobs"] = {{"content", logprobs_}};
  json completion = {{"object", "chat.completion"}, {"choices", json::array({choice})}};
  if (!usage_.is_null()) completion["usage"] = usage_;
  return completion;
}

}  // namespace openbatch::engine::upstream
