#include "engine/upstream/chat_body.h"

#include "common/http_status.h"
#include "common/json_depth.h"

namespace openbatch::engine::upstream {

namespace {

using nlohmann::json;

// A message's content: plain text, or text and image parts in their order when it holds images.
json message_content(const Message& m) {
  if (m.images.empty()) return m.content;
  json parts = json::array();
  size_t at = 0;
  auto add_text = [&](size_t end) {
    if (end > at) parts.push_back({{"type", "text"}, {"text", m.content.substr(at, end - at)}});
    at = std::max(at, end);
  };
  for (const ImagePart& image : m.images) {
    add_text(std::min(image.offset, m.content.size()));
    json image_url = {{"url", image.url}};
    if (!image.detail.empty()) image_url["detail"] = image.detail;
    parts.push_back({{"type", "image_url"}, {"image_url", std::move(image_url)}});
  }
  add_text(m.content.size());
  return parts;
}

json response_format(const GenerationRequest& r) {
  switch (r.response_format) {
    case ResponseFormat::kText:
      return nullptr;
    case ResponseFormat::kJsonObject:
      return {{"type", "json_object"}};
    case ResponseFormat::kJsonSchema: {
      json schema = {{"name", r.json_schema_name.empty() ? "response" : r.json_schema_name},
                     {"schema", json::parse(r.json_schema.empty() ? "{}" : r.json_schema)}};
      if (r.json_schema_strict) schema["strict"] = *r.json_schema_strict;
      return {{"type", "json_schema"}, {"json_schema", std::move(schema)}};
    }
  }
  return nullptr;
}

TokenLogprob token_logprob(const json& entry) {
  TokenLogprob t;
  t.token = entry.value("token", "");
  t.logprob = entry.value("logprob", 0.0f);
  if (auto top = entry.find("top_logprobs"); top != entry.end() && top->is_array()) {
    for (const json& alt : *top) t.top.push_back({alt.value("token", ""), alt.value("logprob", 0.0f)});
  }
  return t;
}

int int_field(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_number_integer() ? it->get<int>() : 0;
}

json message_json(const Message& m) {
  json out = {{"role", m.role}, {"content", message_content(m)}};
  if (!m.tool_calls.empty()) {
    json calls = json::array();
    for (const ToolCall& c : m.tool_calls) {
      calls.push_back(
          {{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
    }
    out["tool_calls"] = std::move(calls);
    if (m.content.empty() && m.images.empty()) out["content"] = nullptr;
  }
  if (m.role == "tool") out["tool_call_id"] = m.tool_call_id;
  return out;
}

void add_tools(const GenerationRequest& r, json& body) {
  if (r.tools.empty()) return;
  json tools = json::array();
  for (const Tool& t : r.tools) {
    json function = {{"name", t.name},
                     {"parameters", json::parse(t.parameters.empty() ? "{}" : t.parameters)}};
    if (!t.description.empty()) function["description"] = t.description;
    if (t.strict) function["strict"] = *t.strict;
    tools.push_back({{"type", "function"}, {"function", std::move(function)}});
  }
  body["tools"] = std::move(tools);
  if (!r.tool_choice_function.empty()) {
    body["tool_choice"] = {{"type", "function"}, {"function", {{"name", r.tool_choice_function}}}};
  } else {
    body["tool_choice"] = r.tool_choice == ToolChoice::kRequired ? "required"
                          : r.tool_choice == ToolChoice::kNone   ? "none"
                                                                 : "auto";
  }
  if (!r.parallel_tool_calls) body["parallel_tool_calls"] = false;
}

}  // namespace

json chat_body(const GenerationRequest& r, const std::string& model) {
  json messages = json::array();
  for (const Message& m : r.messages) messages.push_back(message_json(m));
  json body = {{"model", model}, {"messages", std::move(messages)}};
  add_tools(r, body);
  if (const char* effort = reasoning_effort_name(r.reasoning_effort)) body["reasoning_effort"] = effort;
  add_sampling_fields(r, body);
  if (json format = response_format(r); !format.is_null()) body["response_format"] = std::move(format);
  if (r.logprobs) {
    body["logprobs"] = true;
    if (r.top_logprobs > 0) body["top_logprobs"] = r.top_logprobs;
  }
  return body;
}

void add_sampling_fields(const GenerationRequest& r, json& body) {
  const SamplingParams& s = r.sampling;
  body["temperature"] = s.temperature;
  body["top_p"] = s.top_p;
  if (s.seed) body["seed"] = *s.seed;
  if (s.presence_penalty != 0.0f) body["presence_penalty"] = s.presence_penalty;
  if (s.frequency_penalty != 0.0f) body["frequency_penalty"] = s.frequency_penalty;
  if (!s.logit_bias.empty()) {
    json bias = json::object();
    for (const auto& [token, value] : s.logit_bias) bias[std::to_string(token)] = value;
    body["logit_bias"] = std::move(bias);
  }
  // max_tokens rather than max_completion_tokens: every OpenAI-compatible server reads it.
  if (r.max_tokens >= 0) body["max_tokens"] = r.max_tokens;
  if (!r.stop.empty()) body["stop"] = r.stop;
  if (r.ignore_eos) body["ignore_eos"] = true;
}

Status bad_upstream_answer(const std::string& why) {
  return Status(StatusCode::kBadGateway, "server_error", "bad_upstream_response", "",
                "The upstream server's answer " + why + ".");
}

Result<const json*> first_choice(const json& answer) {
  if (!answer.is_object()) return bad_upstream_answer("is not a JSON object");
  auto choices = answer.find("choices");
  if (choices == answer.end() || !choices->is_array() || choices->empty() || !(*choices)[0].is_object()) {
    return bad_upstream_answer("has no choices");
  }
  return &(*choices)[0];
}

void read_usage(const json& answer, Generation& g) {
  auto usage = answer.find("usage");
  if (usage == answer.end() || !usage->is_object()) return;
  g.prompt_tokens = int_field(*usage, "prompt_tokens");
  g.completion_tokens = int_field(*usage, "completion_tokens");
  if (auto details = usage->find("prompt_tokens_details"); details != usage->end() && details->is_object()) {
    g.cached_tokens = int_field(*details, "cached_tokens");
    g.cache_write_tokens = int_field(*details, "cache_write_tokens");
  }
  if (auto details = usage->find("completion_tokens_details");
      details != usage->end() && details->is_object()) {
    g.reasoning_tokens = int_field(*details, "reasoning_tokens");
  }
}

Result<Generation> parse_chat_completion(const json& completion) {
  Result<const json*> first = first_choice(completion);
  if (!first) return first.status();
  const json& choice = **first;
  auto message = choice.find("message");
  if (message == choice.end() || !message->is_object()) return bad_upstream_answer("has no message");
  Generation g;
  if (auto content = message->find("content"); content != message->end() && content->is_string()) {
    g.text = content->get<std::string>();
  }
  if (auto r = message->find("reasoning_content"); r != message->end() && r->is_string()) {
    g.reasoning_content = r->get<std::string>();
  }
  if (auto calls = message->find("tool_calls"); calls != message->end() && calls->is_array()) {
    for (const json& call : *calls) {
      if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) {
        return bad_upstream_answer("has a tool call without a function");
      }
      const json& f = call["function"];
      ToolCall c;
      c.id = call.value("id", json("")).is_string() ? call["id"].get<std::string>() : "";
      c.name = f.value("name", json("")).is_string() ? f["name"].get<std::string>() : "";
      c.arguments = f.value("arguments", json("")).is_string() ? f["arguments"].get<std::string>() : "{}";
      g.tool_calls.push_back(std::move(c));
    }
  }
  // OpenAI's other reasons (content_filter) end the text as a stop does.
  const json reason = choice.value("finish_reason", json("stop"));
  g.finish_reason = reason == "length"                                ? FinishReason::kLength
                    : reason == "tool_calls" || !g.tool_calls.empty() ? FinishReason::kToolCalls
                                                                      : FinishReason::kStop;
  read_usage(completion, g);
  if (auto lp = choice.find("logprobs"); lp != choice.end()) g.logprobs = parse_logprobs(*lp);
  return g;
}

std::vector<TokenLogprob> parse_logprobs(const json& logprobs) {
  std::vector<TokenLogprob> out;
  if (!logprobs.is_object()) return out;
  if (auto content = logprobs.find("content"); content != logprobs.end() && content->is_array()) {
    for (const json& entry : *content) {
      if (entry.is_object()) out.push_back(token_logprob(entry));
    }
  }
  return out;
}

json embeddings_body(const EmbeddingRequest& r, const std::string& model) {
  json input = json::array();
  for (const EmbeddingInput& in : r.inputs) {
    if (in.tokens.empty()) {
      input.push_back(in.text);
    } else {
      input.push_back(in.tokens);
    }
  }
  return {{"model", model}, {"input", std::move(input)}, {"encoding_format", "float"}};
}

Result<Embeddings> parse_embeddings(const json& answer, size_t inputs) {
  auto bad = [](const std::string& why) {
    return Status(StatusCode::kBadGateway, "server_error", "bad_upstream_response", "",
                  "The upstream server's embeddings " + why + ".");
  };
  if (!answer.is_object() || !answer.contains("data") || !answer["data"].is_array())
    return bad("are missing");
  const json& data = answer["data"];
  if (data.size() != inputs) return bad("do not match the inputs in number");
  Embeddings e;
  e.vectors.resize(inputs);
  for (size_t i = 0; i < data.size(); ++i) {
    const json& item = data[i];
    const size_t index = item.is_object() && item.value("index", json()).is_number_unsigned()
                             ? item["index"].get<size_t>()
                             : i;
    if (index >= inputs || !item.is_object() || !item.value("embedding", json()).is_array()) {
      return bad("are not float arrays");
    }
    std::vector<float>& v = e.vectors[index];
    for (const json& x : item["embedding"]) {
      if (!x.is_number()) return bad("are not float arrays");
      v.push_back(x.get<float>());
    }
    scale_to_unit_length(v);
  }
  if (auto usage = answer.find("usage"); usage != answer.end() && usage->is_object()) {
    e.prompt_tokens = int_field(*usage, "prompt_tokens");
  }
  return e;
}

Status upstream_error(long http_status, const std::string& body, const std::string& upstream) {
  const int status = static_cast<int>(http_status);
  const std::string type = status >= 500 ? "server_error" : "invalid_request_error";
  json parsed = json_nesting_depth(body) > kMaxJsonDepth ? json() : json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_object()) {
    const json& e = parsed["error"];
    auto text = [&](const char* name, const std::string& fallback) {
      auto it = e.find(name);
      return it != e.end() && it->is_string() ? it->get<std::string>() : fallback;
    };
    // The request's own fault reads as the upstream wrote it; a server failure says which server.
    const std::string message = text("message", "HTTP " + std::to_string(status));
    return status_from_http(status, text("type", type), text("code", ""), text("param", ""),
                            status >= 500 ? upstream + ": " + message : message);
  }
  constexpr size_t kShown = 200;
  std::string start = body.substr(0, kShown);
  return status_from_http(
      status, type, "", "",
      upstream + " answered HTTP " + std::to_string(status) + (start.empty() ? "" : ": " + start));
}

}  // namespace openbatch::engine::upstream
