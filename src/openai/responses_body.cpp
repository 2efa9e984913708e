#include "openai/responses_body.h"

#include <algorithm>
#include <chrono>

#include "openai/chat_completion.h"

namespace openbatch::openai {

using json = nlohmann::ordered_json;

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
          {"input_tokens_details",
           {{"cached_tokens", g.cached_tokens}, {"cache_write_tokens", g.cache_write_tokens}}},
          {"output_tokens", g.completion_tokens},
          {"output_tokens_details", {{"reasoning_tokens", g.reasoning_tokens}}},
          {"total_tokens", g.prompt_tokens + g.completion_tokens}};
}

json response_object(const ResponsesRequest& request, const std::string& id, int64_t created_at,
                     const std::string& status, json output, json usage, json error) {
  // The keys in the order of OpenAI's API reference; the request's echoed fields in their places,
  // any other echoed field before `metadata`, which comes last.
  json fields = {
      {"error", std::move(error)},
      {"incomplete_details", status == "incomplete" ? json{{"reason", "max_output_tokens"}} : json(nullptr)},
      {"model", request.model},
      {"output", std::move(output)},
      {"usage", std::move(usage)}};
  for (const auto& [key, value] : request.echo.items()) fields[key] = value;
  static const char* const kOrder[] = {"background",
                                       "error",
                                       "incomplete_details",
                                       "instructions",
                                       "max_output_tokens",
                                       "max_tool_calls",
                                       "model",
                                       "output",
                                       "parallel_tool_calls",
                                       "previous_response_id",
                                       "reasoning",
                                       "service_tier",
                                       "store",
                                       "temperature",
                                       "text",
                                       "tool_choice",
                                       "tools",
                                       "top_logprobs",
                                       "top_p",
                                       "truncation",
                                       "usage",
                                       "user"};
  json out = {{"id", id}, {"object", "response"}, {"created_at", created_at}, {"status", status}};
  for (const char* key : kOrder) {
    if (auto it = fields.find(key); it != fields.end()) out[key] = std::move(*it);
  }
  for (auto& [key, value] : fields.items()) {
    if (!out.contains(key) && key != "metadata") out[key] = std::move(value);
  }
  if (auto it = fields.find("metadata"); it != fields.end()) out["metadata"] = std::move(*it);
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
