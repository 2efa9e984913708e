#include "openai/responses_body.h"

#include <algorithm>
#include <chrono>

#include "openai/chat_completion.h"

namespace openbatch::openai {

using nlohmann::json;

namespace {

void name_if_empty(std::string& id, const char* prefix) {
  if (id.empty()) id = new_id(prefix);
}

}  // namespace

json output_text_part(const std::string& text) {
  return {
      {"type", "output_text"}, {"text", text}, {"annotations", json::array()}, {"logprobs", json::array()}};
}

json reasoning_text_part(const std::string& text) { return {{"type", "reasoning_text"}, {"text", text}}; }

json reasoning_item(const std::string& id, const std::string& text, bool with_part) {
  json content = json::array();
  if (with_part) content.push_back(reasoning_text_part(text));
  return {{"id", id}, {"type", "reasoning"}, {"summary", json::array()}, {"content", std::move(content)}};
}

json message_item(const std::string& id, const std::string& status, const std::string* text) {
  json content = json::array();
  if (text) content.push_back(output_text_part(*text));
  return {{"id", id},
          {"type", "message"},
          {"status", status},
          {"role", "assistant"},
          {"content", std::move(content)}};
}

json function_call_item(const std::string& id, const std::string& status, const std::string& call_id,
                        const std::string& name, const std::string& arguments) {
  return {{"id", id},     {"type", "function_call"}, {"status", status}, {"call_id", call_id},
          {"name", name}, {"arguments", arguments}};
}

json response_output(const engine::Generation& g, ResponseItemIds& ids) {
  const std::string status = g.finish_reason == engine::FinishReason::kLength ? "incomplete" : "completed";
  json output = json::array();
  if (!g.reasoning_content.empty()) {
    name_if_empty(ids.reasoning, "rs_");
    output.push_back(reasoning_item(ids.reasoning, g.reasoning_content, true));
  }
  if (!g.text.empty() || g.tool_calls.empty()) {
    name_if_empty(ids.message, "msg_");
    output.push_back(message_item(ids.message, status, &g.text));
  }
  ids.calls.resize(std::max(ids.calls.size(), g.tool_calls.size()));
  ids.call_ids.resize(std::max(ids.call_ids.size(), g.tool_calls.size()));
  for (size_t i = 0; i < g.tool_calls.size(); ++i) {
    const engine::ToolCall& call = g.tool_calls[i];
    name_if_empty(ids.calls[i], "fc_");
    if (ids.call_ids[i].empty()) ids.call_ids[i] = call.id;
    name_if_empty(ids.call_ids[i], "call_");
    output.push_back(function_call_item(ids.calls[i], status, ids.call_ids[i], call.name, call.arguments));
  }
  return output;
}

json response_usage(const engine::Generation& g) {
  return {{"input_tokens", g.prompt_tokens},
          {"input_tokens_details", {{"cached_tokens", g.cached_tokens}}},
          {"output_tokens", g.completion_tokens},
          {"output_tokens_details", {{"reasoning_tokens", g.reasoning_tokens}}},
          {"total_tokens", g.prompt_tokens + g.completion_tokens}};
}

json response_object(const ResponsesRequest& request, const std::string& id, int64_t created_at,
                     const std::string& status, json output, json usage, json error) {
  json out = request.echo;
  out["id"] = id;
  out["object"] = "response";
  out["created_at"] = created_at;
  out["status"] = status;
  out["model"] = request.model;
  out["output"] = std::move(output);
  out["usage"] = std::move(usage);
  out["error"] = std::move(error);
  out["incomplete_details"] = status == "incomplete" ? json{{"reason", "max_output_tokens"}} : json(nullptr);
  return out;
}

json build_response(const ResponsesRequest& request, const std::string& id, int64_t created_at,
                    const engine::Generation& g) {
  ResponseItemIds ids;
  const std::string status = g.finish_reason == engine::FinishReason::kLength ? "incomplete" : "completed";
  return response_object(request, id, created_at, status, response_output(g, ids), response_usage(g));
}

std::vector<std::shared_ptr<engine::GenerationHandle>> run_response(engine::Engine& engine,
                                                                    ResponsesRequest request,
                                                                    std::function<void(Result<json>)> done) {
  const int64_t created_at =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto shared = std::make_shared<ResponsesRequest>(std::move(request));
  auto finish = [shared, created_at, done = std::move(done)](Result<std::vector<engine::Generation>> g) {
    if (!g) return done(g.status());
    done(build_response(*shared, new_id("resp_"), created_at, g->front()));
  };
  return run_generations(engine, shared->generation, 1, std::move(finish));
}

}  // namespace openbatch::openai
