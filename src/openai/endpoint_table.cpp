#include "openai/endpoint_table.h"

#include <utility>

#include "openai/chat_stream.h"
#include "openai/completions.h"
#include "openai/completions_stream.h"
#include "openai/embeddings.h"
#include "openai/endpoints.h"
#include "openai/field_reader.h"
#include "openai/responses_body.h"
#include "openai/responses_request.h"
#include "openai/responses_stream.h"

namespace openbatch::openai {

namespace {

using nlohmann::json;

// The prompt tokens of a generation request.
Result<int64_t> count_generation(engine::Engine& engine, const engine::GenerationRequest& request) {
  auto n = engine.count_prompt_tokens(request);
  if (!n) return n.status();
  return static_cast<int64_t>(*n);
}

// The tokens of a prompt the model reads as it is (an embedding input, a completions prompt): its token
// ids as they are, its text as the engine counts it.
Result<int64_t> count_raw(engine::Engine& engine, engine::RawPrompt prompt) {
  if (!prompt.tokens.empty()) return static_cast<int64_t>(prompt.tokens.size());
  engine::GenerationRequest request;
  request.raw_prompt = std::move(prompt);
  return count_generation(engine, request);
}

// Each endpoint's functions on its own request type, made into an EndpointCall by parse_call. A
// definition has Request, parse, run and count_prompt_tokens; stream when the endpoint streams.

struct ChatCompletions {
  using Request = ChatCompletionRequest;
  static Result<Request> parse(const json& body, const engine::ModelInfo& model,
                               const nlohmann::ordered_json* o) {
    return parse_chat_completion_request(body, model, o);
  }
  static GenerationHandles run(engine::Engine& e, Request r, engine::Priority p, ChatCompletionDone done) {
    r.generation.priority = p;
    return run_chat_completion(e, std::move(r), std::move(done));
  }
  static GenerationHandles stream(engine::Engine& e, Request r, StreamSink sink) {
    return stream_chat_completion(e, std::move(r), std::move(sink));
  }
  // The rendered prompt once, whatever n.
  static Result<int64_t> count_prompt_tokens(engine::Engine& e, const Request& r) {
    return count_generation(e, r.generation);
  }
};

struct Completions {
  using Request = CompletionRequest;
  static Result<Request> parse(const json& body, const engine::ModelInfo& model,
                               const nlohmann::ordered_json*) {
    return parse_completion_request(body, model);
  }
  static GenerationHandles run(engine::Engine& e, Request r, engine::Priority p, ChatCompletionDone done) {
    r.generation.priority = p;
    return run_completion(e, std::move(r), std::move(done));
  }
  static GenerationHandles stream(engine::Engine& e, Request r, StreamSink sink) {
    return stream_completion(e, std::move(r), std::move(sink));
  }
  // Each prompt once, whatever n.
  static Result<int64_t> count_prompt_tokens(engine::Engine& e, const Request& r) {
    int64_t total = 0;
    for (const engine::RawPrompt& prompt : r.prompts) {
      auto n = count_raw(e, prompt);
      if (!n) return n.status();
      total += *n;
    }
    return total;
  }
};

struct Embeddings {
  using Request = EmbeddingsApiRequest;
  static Result<Request> parse(const json& body, const engine::ModelInfo& model,
                               const nlohmann::ordered_json*) {
    return parse_embeddings_request(body, model);
  }
  static GenerationHandles run(engine::Engine& e, Request r, engine::Priority p, ChatCompletionDone done) {
    r.embedding.priority = p;
    run_embeddings(e, std::move(r), std::move(done));
    return {};
  }
  // Each input.
  static Result<int64_t> count_prompt_tokens(engine::Engine& e, const Request& r) {
    int64_t total = 0;
    for (const auto& input : r.embedding.inputs) {
      auto n = count_raw(e, {input.text, input.tokens, false});
      if (!n) return n.status();
      total += *n;
    }
    return total;
  }
};

struct Responses {
  using Request = ResponsesRequest;
  static Result<Request> parse(const json& body, const engine::ModelInfo& model,
                               const nlohmann::ordered_json* o) {
    return parse_responses_request(body, model, o);
  }
  static GenerationHandles run(engine::Engine& e, Request r, engine::Priority p, ChatCompletionDone done) {
    r.generation.priority = p;
    return run_response(e, std::move(r), std::move(done));
  }
  static GenerationHandles stream(engine::Engine& e, Request r, StreamSink sink) {
    return stream_response(e, std::move(r), std::move(sink));
  }
  static Result<int64_t> count_prompt_tokens(engine::Engine& e, const Request& r) {
    return count_generation(e, r.generation);
  }
};

template <class Def>
Result<EndpointCall> parse_call(const json& body, const engine::ModelInfo& model,
                                const nlohmann::ordered_json* ordered) {
  auto parsed = Def::parse(body, model, ordered);
  if (!parsed) return parsed.status();
  // Shared by the functions, of which one runs, once: it may take the request.
  auto request = std::make_shared<typename Def::Request>(std::move(parsed).value());
  EndpointCall call;
  call.run = [request](engine::Engine& e, engine::Priority p, ChatCompletionDone done) {
    return Def::run(e, std::move(*request), p, std::move(done));
  };
  call.count_prompt_tokens = [request](engine::Engine& e) { return Def::count_prompt_tokens(e, *request); };
  if constexpr (requires { &Def::stream; }) {
    call.stream = request->stream;
    call.run_streamed = [request](engine::Engine& e, StreamSink sink) {
      return Def::stream(e, std::move(*request), std::move(sink));
    };
  }
  return call;
}

// The bodies of one-prompt requests (PromptRequest), in each endpoint's own fields.

json chat_prompt_body(const PromptRequest& r) {
  json body = {{"model", r.model}};
  if (r.temperature) body["temperature"] = *r.temperature;
  if (r.max_tokens) body["max_tokens"] = *r.max_tokens;
  if (!r.response_format.is_null()) body["response_format"] = r.response_format;
  json messages = json::array();
  if (!r.system.empty()) messages.push_back({{"role", "system"}, {"content", r.system}});
  if (r.image_url.empty()) {
    messages.push_back({{"role", "user"}, {"content", r.user}});
  } else {
    messages.push_back({{"role", "user"},
                        {"content",
                         {{{"type", "text"}, {"text", r.user}},
                          {{"type", "image_url"}, {"image_url", {{"url", r.image_url}}}}}}});
  }
  body["messages"] = std::move(messages);
  return body;
}

// The system prompt, a blank line, and the user's text: one prompt.
json completions_prompt_body(const PromptRequest& r) {
  json body = {{"model", r.model}};
  if (r.temperature) body["temperature"] = *r.temperature;
  if (r.max_tokens) body["max_tokens"] = *r.max_tokens;
  body["prompt"] = r.system.empty() ? r.user : r.system + "\n\n" + r.user;
  return body;
}

json embeddings_prompt_body(const PromptRequest& r) { return {{"model", r.model}, {"input", r.user}}; }

json responses_prompt_body(const PromptRequest& r) {
  json body = {{"model", r.model}};
  if (r.temperature) body["temperature"] = *r.temperature;
  if (r.max_tokens) body["max_output_tokens"] = *r.max_tokens;
  if (!r.response_format.is_null()) {
    // text.format carries json_schema's name, schema and strict beside its type.
    json format = {{"type", r.response_format["type"]}};
    if (r.response_format.contains("json_schema")) format.update(r.response_format["json_schema"]);
    body["text"] = {{"format", format}};
  }
  if (!r.system.empty()) body["instructions"] = r.system;
  if (r.image_url.empty()) {
    body["input"] = r.user;
  } else {
    body["input"] = {{{"role", "user"},
                      {"content",
                       {{{"type", "input_text"}, {"text", r.user}},
                        {{"type", "input_image"}, {"image_url", r.image_url}}}}}};
  }
  return body;
}

// In the order OpenAI's messages name them.
const Endpoint kEndpoints[] = {
    {.path = kChatCompletionsEndpoint,
     .api_name = "Chat Completions",
     .required_field = "messages",
     .required_array = true,
     .generates = true,
     .takes_images = true,
     .takes_response_format = true,
     .keeps_key_order = true,
     .parse = parse_call<ChatCompletions>,
     .prompt_body = chat_prompt_body},
    {.path = kCompletionsEndpoint,
     .api_name = "Completions",
     .required_field = "prompt",
     .required_array = false,
     .generates = true,
     .takes_images = false,
     .takes_response_format = false,
     .keeps_key_order = false,
     .parse = parse_call<Completions>,
     .prompt_body = completions_prompt_body},
    {.path = kEmbeddingsEndpoint,
     .api_name = "Embeddings",
     .required_field = "input",
     .required_array = false,
     .generates = false,
     .takes_images = false,
     .takes_response_format = false,
     .keeps_key_order = false,
     .parse = parse_call<Embeddings>,
     .prompt_body = embeddings_prompt_body},
    {.path = kResponsesEndpoint,
     .api_name = "Responses",
     .required_field = "input",
     .required_array = false,
     .generates = true,
     .takes_images = true,
     .takes_response_format = true,
     .keeps_key_order = true,
     .parse = parse_call<Responses>,
     .prompt_body = responses_prompt_body},
};

}  // namespace

std::span<const Endpoint> endpoints() { return kEndpoints; }

Result<EndpointCall> parse_endpoint_call(const Endpoint& endpoint, const engine::Engine& engine,
                                         const nlohmann::json& body, const nlohmann::ordered_json* ordered) {
  auto model = named_model(engine, body);
  if (!model) return model.status();
  return endpoint.parse(body, *model, ordered);
}

const Endpoint* find_endpoint(std::string_view path) {
  for (const Endpoint& e : kEndpoints) {
    if (path == e.path) return &e;
  }
  return nullptr;
}

}  // namespace openbatch::openai
