// The engine runs chat generations on a model. It is the seam between the HTTP/batch layers and the
// inference back-ends: the embedded llama.cpp engine (engine/llama/) and upstream OpenAI-compatible
// servers (engine/upstream/).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace openbatch::engine {

// An image inside a message: it stands at byte `offset` of the message's text, so a message's text
// and images keep the order of the parts they came from.
struct ImagePart {
  size_t offset = 0;  // 0 .. content.size(); images at the same offset keep their order
  std::string url;    // where it comes from (http, https or data:), as the client sent it
  // The encoded file (PNG, JPEG, GIF, BMP, WebP). Filled in by whoever fetches `url` before the
  // request reaches an engine that runs images; null until then.
  std::shared_ptr<const std::string> data;
  // image_url.detail as the client sent it: "auto", "low" or "high"; empty when it sent none. "low"
  // asks for a smaller image (engines that run images shrink it, see VisionEncoder::tokenize);
  // engines that forward requests pass it on as it is.
  std::string detail;
};

// A function call the model made (an assistant message's `tool_calls`).
struct ToolCall {
  std::string id;         // "call_...", as the client or openbatch named it
  std::string name;       // the function
  std::string arguments;  // a JSON object, serialised, as the model wrote it
};

// One message of a conversation, reduced by the OpenAI layer to its text and its images.
struct Message {
  std::string role;  // system, user, assistant, tool (developer is mapped to system)
  std::string content;
  std::vector<ImagePart> images;     // in order of offset
  std::vector<ToolCall> tool_calls;  // an assistant message's calls
  std::string tool_call_id;          // a tool message: the call it answers
  std::string reasoning_content;     // an assistant message's thinking, when the client sends it back
};

// A function the model may call (a `tools` entry of type function).
struct Tool {
  std::string name;
  std::string description;
  std::string parameters;  // a JSON schema, serialised; "{}" when the function takes none
  std::optional<bool> strict;
};

// tool_choice: kAuto lets the model choose, kRequired makes it call one (`function`, when named, is
// the only one it may call), kNone keeps it from calling any.
enum class ToolChoice { kAuto, kRequired, kNone };

// reasoning_effort: kDefault leaves the template's default; kNone turns thinking off where the
// template can; the others are passed to templates that take an effort.
enum class ReasoningEffort { kDefault, kNone, kMinimal, kLow, kMedium, kHigh };

// "none", "minimal", "low", "medium" or "high" as OpenAI spells them; null for kDefault.
const char* reasoning_effort_name(ReasoningEffort effort);

// Whether any message of the request holds an image.
bool has_images(const std::vector<Message>& messages);

struct ModelInfo;
// 400 invalid_request_error image_not_supported: the model takes no image inputs.
Status images_not_supported(const ModelInfo& model);

// 499 request_cancelled: what on_done reports for a generation stopped by GenerationHandle::cancel.
Status request_cancelled();
// 503: what work queued or running gets when the engine shuts down (a batch runs it again later).
Status shutting_down();

// How an image URL is named in an error message: data: URLs are cut short (they can be megabytes).
std::string describe_image_url(const std::string& url);

enum class ResponseFormat { kText, kJsonObject, kJsonSchema };

// Which queue a generation waits in. Interactive calls go ahead of batch work.
enum class Priority { kInteractive = 0, kBatch = 1 };

struct SamplingParams {
  float temperature = 1.0f;
  float top_p = 1.0f;
  std::optional<uint32_t> seed;  // unset: a random seed
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::vector<std::pair<int32_t, float>> logit_bias;  // token id -> bias added to its logit
};

// A prompt the model reads as it is, with no chat template (POST /v1/completions): text (tokenised as
// llama-server tokenises a completion prompt: the model's begin token added, special tokens parsed),
// or token ids when tokens is not empty. echo: the answer's text starts with the prompt.
struct RawPrompt {
  std::string text;
  std::vector<int32_t> tokens;
  bool echo = false;
};

struct GenerationRequest {
  // The model as the client named it (an id or an alias). An engine of one model ignores it; a router
  // (engine/router.h) sends the request to the engine of that model.
  std::string model;
  std::vector<Message> messages;
  // Set: the prompt, instead of messages rendered by the chat template; messages, tools and
  // response_format are then empty (the answer is free text, never parsed for calls or thinking).
  std::optional<RawPrompt> raw_prompt;
  SamplingParams sampling;
  int max_tokens = -1;  // -1: until the end of the context or an end-of-generation token
  std::vector<std::string> stop;
  ResponseFormat response_format = ResponseFormat::kText;
  std::string json_schema;                 // the schema, serialised, when response_format is kJsonSchema
  std::string json_schema_name;            // its name, as the client gave it (forwarded upstream)
  std::optional<bool> json_schema_strict;  // its `strict`, when the client gave one
  std::vector<Tool> tools;
  ToolChoice tool_choice = ToolChoice::kAuto;
  std::string tool_choice_function;  // with kRequired: the one function to call; empty: any
  bool parallel_tool_calls = true;
  ReasoningEffort reasoning_effort = ReasoningEffort::kDefault;
  bool logprobs = false;
  int top_logprobs = 0;
  bool ignore_eos = false;  // never draw end-of-generation (benchmarks: exactly max_tokens), unless
                            // a response_format grammar allows nothing else
  Priority priority = Priority::kInteractive;
};

// The prompt tokens of request as OpenAI's rule of thumb has them, a token per 4 bytes of text
// (rounded up): the messages' content, thinking and tool calls, the tools' definitions, or the raw
// prompt (its token ids counted as they are). Images are not counted. For engines without a tokenizer.
int estimate_prompt_tokens(const GenerationRequest& request);

struct TopLogprob {
  std::string token;
  float logprob = 0.0f;
};

struct TokenLogprob {
  std::string token;
  float logprob = 0.0f;
  std::vector<TopLogprob> top;
};

enum class FinishReason { kStop, kLength, kToolCalls };

// A finished generation.
struct Generation {
  std::string text;               // the answer (`content`), without thinking or tool-call markup
  std::string reasoning_content;  // the thinking of a reasoning model, when it thought
  std::vector<ToolCall> tool_calls;
  FinishReason finish_reason = FinishReason::kStop;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;               // prompt tokens whose KV was reused rather than computed
  int cache_write_tokens = 0;          // prompt tokens computed into a KV cache that later requests may
                                       // reuse (an upstream's own count, where it gives one)
  int forced_tokens = 0;               // completion tokens the grammar forced (decoded without a draw)
  int reasoning_tokens = 0;            // completion tokens spent thinking
  std::vector<TokenLogprob> logprobs;  // one per generated token, when asked for
  // When the first completion token was drawn; unset (the clock's epoch) where the engine does not
  // tell (an upstream answer that was not streamed). For metrics (time to first token).
  std::chrono::steady_clock::time_point first_token_at{};
};

// A piece of a tool call as it is generated: the first delta of a call carries its id and name, the
// next ones further text of its arguments.
struct ToolCallDelta {
  int index = 0;  // which call of the message
  std::string id;
  std::string name;
  std::string arguments;
};

// What a generation step added: answer text, thinking text, tool-call pieces (any may be empty).
struct GenerationDelta {
  std::string content;
  std::string reasoning_content;
  std::vector<ToolCallDelta> tool_calls;
  std::vector<TokenLogprob> logprobs;  // of the tokens behind this delta, when asked for

  bool empty() const {
    return content.empty() && reasoning_content.empty() && tool_calls.empty() && logprobs.empty();
  }
};

// Callbacks run on the engine's thread: they must be quick and must not block.
struct GenerationCallbacks {
  // Newly generated text (whole UTF-8 characters, never part of a stop string), split into answer,
  // thinking and tool calls, with its tokens' log-probabilities when asked for. Optional.
  std::function<void(GenerationDelta delta)> on_delta;
  // Called exactly once, with the finished generation or why it failed.
  std::function<void(Result<Generation>)> on_done;
  // Called at most once, when the generation leaves its queue and starts (a sequence begins reading
  // its prompt, or the request is sent upstream), before any on_delta. Optional; for metrics.
  std::function<void()> on_started;
};

// A submitted generation. Thread-safe.
class GenerationHandle {
 public:
  virtual ~GenerationHandle() = default;
  // Stops the generation soon; on_done then reports a 499-style cancellation Status.
  virtual void cancel() = 0;
};

// Inputs to embed (POST /v1/embeddings). Each input is text or token ids, one of the two.
struct EmbeddingInput {
  std::string text;
  std::vector<int32_t> tokens;  // used when not empty
};

struct EmbeddingRequest {
  std::string model;  // as GenerationRequest::model
  std::vector<EmbeddingInput> inputs;
  Priority priority = Priority::kInteractive;
};

struct Embeddings {
  std::vector<std::vector<float>> vectors;  // one per input, in order, of unit length
  int prompt_tokens = 0;                    // all inputs together
};

using EmbeddingsDone = std::function<void(Result<Embeddings>)>;

// Scales v to length 1 (a zero vector stays zero), as OpenAI's embeddings are.
void scale_to_unit_length(std::vector<float>& v);

// Where a model stands on this server. An engine that serves its models all the time has them all
// loaded; a router that loads on demand (--models-max) has the others unloaded until asked for.
enum class ModelState { kLoaded, kLoading, kUnloaded, kFailed };

// "loaded", "loading", "unloaded", "failed".
const char* model_state_name(ModelState state);

struct ModelInfo {
  std::string id;                    // the name clients use
  std::vector<std::string> aliases;  // further names accepted for the same model
  int context_per_sequence = 0;      // the most tokens (prompt + completion) one request may use
  int parallel = 1;                  // sequences decoded together (over all contexts)
  int contexts = 1;                  // llama.cpp contexts decoding them (data parallelism)
  int64_t created = 0;               // unix time the model was loaded
  bool has_vision = false;
  ModelState state = ModelState::kLoaded;
};

// Whether name is model's id or one of its aliases.
bool is_named(const ModelInfo& model, std::string_view name);

// One server an engine forwards to (an upstream replica), for GET /metrics. Counts since start.
struct ReplicaMetrics {
  std::string model;              // the id of the model it serves here
  std::string url;                // its API root
  bool healthy = true;            // false: taken out after failures, probed until it answers again
  int64_t in_flight = 0;          // requests sent, not yet answered
  int64_t concurrency_limit = 0;  // the most requests in flight it is given now
  int64_t requests = 0;           // calls answered (any status)
  int64_t errors = 0;             // calls that failed: 5xx, 429, timeouts, no connection
  int64_t throttled = 0;          // of errors, 429 and 503 answers (the server said it is busy)
  int64_t prompt_tokens = 0;      // as it reported them
  int64_t cached_tokens = 0;      // of prompt_tokens, read from its prompt cache
  int64_t completion_tokens = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // The engine's model; for an engine of several models (a router) the first of models().
  virtual const ModelInfo& model_info() const = 0;

  // Every model the engine serves, in a stable order (a router's: as configured). This default: the
  // one model_info().
  virtual std::vector<ModelInfo> models() const { return {model_info()}; }

  // The upstream servers the engine forwards to, with their counts; none for an embedded model.
  virtual std::vector<ReplicaMetrics> replicas() const { return {}; }

  // Queues a generation. Errors that can be found up front (a prompt longer than the context, a
  // schema that cannot be compiled) come back through on_done before or soon after this returns.
  // Thread-safe; never blocks on inference.
  virtual std::shared_ptr<GenerationHandle> submit(GenerationRequest request,
                                                   GenerationCallbacks callbacks) = 0;

  // Counts the prompt tokens a request would use, or says why it cannot run; an engine without a
  // tokenizer (upstream servers) answers estimate_prompt_tokens. Thread-safe.
  virtual Result<int> count_prompt_tokens(const GenerationRequest& request) = 0;

  // Computes the embeddings of request's inputs and calls done once with them or the Status that
  // explains why not (400 for an input longer than the context). done runs on an engine thread and
  // must not block. Thread-safe. This default answers that the model has no embeddings.
  virtual void embed(EmbeddingRequest request, EmbeddingsDone done);

  // Stops the engine thread; queued and running generations finish with an "unavailable" Status.
  virtual void shutdown() = 0;
};

// The model of engine named name (its id or an alias); nullopt when the engine serves none of that name.
std::optional<ModelInfo> find_model(const Engine& engine, std::string_view name);

// Blocks until the generation finishes. For callers that do not stream.
Result<Generation> generate(Engine& engine, GenerationRequest request);

}  // namespace openbatch::engine
