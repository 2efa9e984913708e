#include "openai/chat_completion.h"

#include <chrono>
#include <mutex>

#include "common/random.h"
#include "openai/chat_tools.h"

namespace openbatch::openai {

using json = nlohmann::ordered_json;

namespace {

json bytes_of(const std::string& s) {
  json out = json::array();
  for (unsigned char c : s) out.push_back(static_cast<int>(c));
  return out;
}

}  // namespace

const char* finish_reason_name(engine::FinishReason r) {
  switch (r) {
    case engine::FinishReason::kLength:
      return "length";
    case engine::FinishReason::kToolCalls:
      return "tool_calls";
    case engine::FinishReason::kStop:
      break;
  }
  return "stop";
}

std::string new_id(const std::string& prefix) { return prefix + random_alphanumeric(24); }

json logprobs_json(const std::vector<engine::TokenLogprob>& tokens) {
  json content = json::array();
  for (const auto& t : tokens) {
    json top = json::array();
    for (const auto& alt : t.top) {
      top.push_back({{"token", alt.token}, {"logprob", alt.logprob}, {"bytes", bytes_of(alt.token)}});
    }
    content.push_back(
        {{"token", t.token}, {"logprob", t.logprob}, {"bytes", bytes_of(t.token)}, {"top_logprobs", top}});
  }
  return {{"content", content}, {"refusal", nullptr}};
}

json usage_json(int prompt_tokens, int completion_tokens, int cached_tokens, int reasoning_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens}, {"audio_tokens", 0}}},
          {"completion_tokens_details",
           {{"reasoning_tokens", reasoning_tokens},
            {"audio_tokens", 0},
            {"accepted_prediction_tokens", 0},
            {"rejected_prediction_tokens", 0}}}};
}

json build_chat_completion(const std::string& id, const std::string& model, int64_t created,
                           const std::vector<engine::Generation>& choices, bool with_logprobs) {
  json out_choices = json::array();
  int completion_tokens = 0;
  int reasoning_tokens = 0;
  for (size_t i = 0; i < choices.size(); ++i) {
    const auto& g = choices[i];
    completion_tokens += g.completion_tokens;
    reasoning_tokens += g.reasoning_tokens;
    json message = {{"role", "assistant"},
                    {"content", g.text.empty() && !g.tool_calls.empty() ? json(nullptr) : json(g.text)},
                    {"refusal", nullptr},
                    {"annotations", json::array()}};
    // The name llama-server and DeepSeek's API use for a reasoning model's thinking.
    if (!g.reasoning_content.empty()) message["reasoning_content"] = g.reasoning_content;
    if (!g.tool_calls.empty()) message["tool_calls"] = tool_calls_json(g.tool_calls);
    out_choices.push_back({{"index", i},
                           {"message", std::move(message)},
                           {"logprobs", with_logprobs ? logprobs_json(g.logprobs) : json(nullptr)},
                           {"finish_reason", finish_reason_name(g.finish_reason)}});
  }
  const int prompt_tokens = choices.empty() ? 0 : choices.front().prompt_tokens;
  const int cached_tokens = choices.empty() ? 0 : choices.front().cached_tokens;
  return {{"id", id},
          {"object", "chat.completion"},
          {"created", created},
          {"model", model},
          {"choices", out_choices},
          {"usage", usage_json(prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens)},
          {"service_tier", "default"},
          {"system_fingerprint", kSystemFingerprint}};
}

json build_chat_chunk(const std::string& id, const std::string& model, int64_t created, json choices,
                      json usage) {
  json chunk = {{"id", id},
                {"object", "chat.completion.chunk"},
                {"created", created},
                {"model", model},
                {"service_tier", "default"},
                {"system_fingerprint", kSystemFingerprint},
                {"choices", std::move(choices)}};
  if (!usage.is_discarded()) chunk["usage"] = std::move(usage);
  return chunk;
}

json chunk_choice(int index, json delta, const std::vector<engine::TokenLogprob>* logprobs,
                  const std::optional<engine::FinishReason>& finish) {
  return {{"index", index},
          {"delta", std::move(delta)},
          {"logprobs", logprobs ? logprobs_json(*logprobs) : json(nullptr)},
          {"finish_reason", finish ? json(finish_reason_name(*finish)) : json(nullptr)}};
}

std::vector<std::shared_ptr<engine::GenerationHandle>> run_generations(
    engine::Engine& engine, const engine::GenerationRequest& request, int n, GenerationsDone done,
    ChoiceDeltaCallback on_delta) {
  struct State {
    std::mutex mu;
    std::vector<engine::Generation> choices;
    std::optional<Status> error;
    int remaining = 0;
    GenerationsDone done;
    std::vector<std::shared_ptr<engine::GenerationHandle>> handles;
  };
  auto state = std::make_shared<State>();
  state->choices.resize(n);
  state->remaining = n;
  state->done = std::move(done);
  std::vector<std::shared_ptr<engine::GenerationHandle>> handles;
  for (int i = 0; i < n; ++i) {
    engine::GenerationRequest gen = request;
    if (gen.sampling.seed && i > 0) gen.sampling.seed = *gen.sampling.seed + static_cast<uint32_t>(i);
    engine::GenerationCallbacks cb;
    if (on_delta) {
      cb.on_delta = [on_delta, i](engine::GenerationDelta delta) { on_delta(i, std::move(delta)); };
    }
    cb.on_done = [state, i](Result<engine::Generation> result) {
      std::unique_lock<std::mutex> lock(state->mu);
      if (result) {
        state->choices[i] = std::move(result).value();
      } else if (!state->error) {
        state->error = result.status();
        for (auto& h : state->handles) h->cancel();
      }
      if (--state->remaining > 0) return;
      // The handles hold these callbacks, which hold the state: let go of them to break the cycle.
      auto handles = std::move(state->handles);
      lock.unlock();
      if (state->error) {
        state->done(*state->error);
      } else {
        state->done(std::move(state->choices));
      }
    };
    auto handle = engine.submit(std::move(gen), std::move(cb));
    handles.push_back(handle);
    std::lock_guard<std::mutex> lock(state->mu);
    state->handles.push_back(handle);
  }
  return handles;
}

std::vector<std::shared_ptr<engine::GenerationHandle>> run_chat_completion(engine::Engine& engine,
                                                                           ChatCompletionRequest request,
                                                                           ChatCompletionDone done,
                                                                           ChoiceDeltaCallback on_delta) {
  const int64_t created =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto finish = [done = std::move(done), model = request.model, logprobs = request.generation.logprobs,
                 created](Result<std::vector<engine::Generation>> choices) {
    if (!choices) return done(choices.status());
    done(build_chat_completion(new_id("chatcmpl-"), model, created, *choices, logprobs));
  };
  return run_generations(engine, request.generation, request.n, std::move(finish), std::move(on_delta));
}

}  // namespace openbatch::openai
