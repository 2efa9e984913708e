// The function-calling and reasoning fields of a Chat Completions body (`tools`, `tool_choice`,
// `parallel_tool_calls`, `reasoning_effort`), checked against OpenAI's rules, and the tool calls of
// an answer in OpenAI's shape.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"

namespace openbatch::openai {

// Reads tools, tool_choice, parallel_tool_calls and reasoning_effort into out. 400s name the param
// (tools[0].function.name, tool_choice, ...).
// ordered: the body in the client's key order (see parse_chat_completion_request), or null.
Status parse_tool_fields(const nlohmann::json& body, engine::GenerationRequest& out,
                         const nlohmann::ordered_json* ordered = nullptr);

// A function's definition: `name` (^[a-zA-Z0-9_-]{1,64}$), `description`, `parameters` (an object;
// absent: no parameters) and `strict`, read from object. prefix names where it is in params
// ("tools[0].function." in Chat Completions, "tools[0]." in the Responses API's flat tools).
Result<engine::Tool> parse_function_definition(const nlohmann::json& object, const std::string& prefix);

// "auto", "required" or "none" (a 400 at param otherwise).
Result<engine::ToolChoice> tool_choice_mode(const std::string& choice, const std::string& param);

// "none", "minimal", "low", "medium" or "high" (a 400 at param otherwise).
Result<engine::ReasoningEffort> reasoning_effort_of(const std::string& effort, const std::string& param);

// The JSON at pointer in ordered, written out in the client's key order; `fallback` when ordered is null
// or holds nothing there.
std::string dump_in_client_order(const nlohmann::ordered_json* ordered, const std::string& pointer,
                                 std::string fallback);

// An assistant message's `tool_calls` (param: where they are, "messages[2].tool_calls").
Result<std::vector<engine::ToolCall>> parse_message_tool_calls(const nlohmann::json& calls,
                                                               const std::string& param);

// The `tool_calls` of an answer: [{id, type: "function", function: {name, arguments}}]; calls without
// an id get a new "call_..." one.
nlohmann::ordered_json tool_calls_json(const std::vector<engine::ToolCall>& calls);

}  // namespace openbatch::openai
