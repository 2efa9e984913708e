#include "openai/completions.h"

#include <algorithm>
#include <chrono>
#include <mutex>

#include "openai/field_reader.h"
#include "openai/sampling_fields.h"

namespace openbatch::openai {

namespace {

using nlohmann::json;
using ojson = nlohmann::ordered_json;  // the objects built, keys in OpenAI's order

const char* kHonoured[] = {"model",
                           "prompt",
                           "max_tokens",
                           "temperature",
                           "top_p",
                           "stop",
                           "n",
                           "seed",
                           "logprobs",
                           "echo",
                           "stream",
                           "stream_options",
                           "presence_penalty",
                           "frequency_penalty",
                           "logit_bias",
                           "best_of",
                           "suffix",
                           "ignore_eos"};
const char* kWithoutEffect[] = {"user"};

Result<std::vector<int32_t>> token_ids(const json& array, const std::string& param) {
  std::vector<int32_t> out;
  for (size_t i = 0; i < array.size(); ++i) {
    const json& t = array[i];
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > INT32_MAX) {
      return invalid_type(param + "[" + std::to_string(i) + "]", "a token id (a non-negative integer)", t);
    }
    out.push_back(t.get<int32_t>());
  }
  return out;
}

// `prompt`: a string, an array of strings, an array of token ids, or an array of such arrays.
Result<std::vector<engine::RawPrompt>> parse_prompts(const json& body) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) return missing_parameter("prompt");
  std::vector<engine::RawPrompt> out;
  if (it->is_string()) {
    out.push_back({it->get<std::string>(), {}, false});
    return out;
  }
  const char* expected = "a string, an array of strings, an array of tokens or an array of token arrays";
  if (!it->is_array()) return invalid_type("prompt", expected, *it);
  if (it->empty()) {
    return Status::invalid_request(
        "Invalid 'prompt': empty array. Expected an array with minimum length 1, but got an empty array "
        "instead.",
        "prompt", "empty_array");
  }
  const json& first = (*it)[0];
  if (first.is_number_integer()) {
    auto tokens = token_ids(*it, "prompt");
    if (!tokens) return tokens.status();
    out.push_back({"", std::move(tokens).value(), false});
    return out;
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& p = (*it)[i];
    const std::string param = "prompt[" + std::to_string(i) + "]";
    if (p.is_string() && first.is_string()) {
      out.push_back({p.get<std::string>(), {}, false});
    } else if (p.is_array() && first.is_array()) {
      if (p.empty()) {
        return Status::invalid_request("Invalid '" + param + "': empty array of tokens.", param,
                                       "empty_array");
      }
      auto tokens = token_ids(p, param);
      if (!tokens) return tokens.status();
      out.push_back({"", std::move(tokens).value(), false});
    } else {
      return invalid_type(param, first.is_string() ? "a string" : "an array of tokens", p);
    }
  }
  return out;
}

}  // namespace

Result<CompletionRequest> parse_completion_request(const json& body, const engine::ModelInfo& model) {
  CompletionRequest req;
  engine::GenerationRequest& gen = req.generation;
  auto named = served_model(body, model);
  if (!named) return named.status();
  req.model = std::move(named).value();
  gen.model = req.model;
  for (const auto& [key, value] : body.items()) {
    if (one_of(kHonoured, key) || one_of(kWithoutEffect, key)) continue;
    return Status::invalid_request("Unrecognized request argument supplied: " + key, key,
                                   "unrecognized_argument");
  }
  auto prompts = parse_prompts(body);
  if (!prompts) return prompts.status();
  req.prompts = std::move(prompts).value();

  auto sampling = read_sampling_fields(body, SamplingFieldSet{}, gen);
  if (!sampling) return sampling.status();
  FieldReader f(body);
  std::optional<int64_t> logprobs, best_of;
  std::optional<bool> echo;
  std::optional<std::string> suffix;
  if (Status s = f.integer("best_of", 1, 128, best_of); !s) return s;
  if (Status s = f.integer("logprobs", 0, 5, logprobs); !s) return s;
  if (Status s = f.boolean("echo", echo); !s) return s;
  if (Status s = f.string("suffix", suffix); !s) return s;

  req.n = sampling->n;
  if (best_of && *best_of != req.n) {
    return Status::invalid_request(
        "Only 'best_of' equal to 'n' is supported: this server does not rank extra choices.", "best_of",
        "unsupported_value");
  }
  if (suffix && !suffix->empty()) {
    return Status::invalid_request("The 'suffix' parameter (insertion) is not supported by this server.",
                                   "suffix", "unsupported_parameter");
  }
  if (echo.value_or(false) && logprobs) {
    return Status::invalid_request(
        "'echo' together with 'logprobs' is not supported: this server does not compute the "
        "log-probabilities of prompt tokens.",
        "echo", "unsupported_value");
  }
  gen.max_tokens = static_cast<int>(sampling->max_tokens.value_or(16));  // OpenAI's default for this endpoint
  if (logprobs) {
    req.logprobs = static_cast<int>(*logprobs);
    gen.logprobs = true;
    gen.top_logprobs = static_cast<int>(*logprobs);
  }
  for (auto& p : req.prompts) p.echo = echo.value_or(false);
  req.stream = sampling->stream;
  auto include_usage = read_include_usage(body, req.stream);
  if (!include_usage) return include_usage.status();
  req.include_usage = *include_usage;
  return req;
}

ojson completion_logprobs_json(const std::vector<engine::TokenLogprob>& tokens, size_t text_start) {
  ojson out_tokens = ojson::array(), logprobs = ojson::array(), top = ojson::array(),
        offsets = ojson::array();
  size_t at = text_start;
  for (const auto& t : tokens) {
    out_tokens.push_back(t.token);
    logprobs.push_back(t.logprob);
    ojson alternatives = ojson::object();
    for (const auto& alt : t.top) alternatives[alt.token] = alt.logprob;
    top.push_back(std::move(alternatives));
    offsets.push_back(at);
    at += t.token.size();
  }
  return {
      {"tokens", out_tokens}, {"token_logprobs", logprobs}, {"top_logprobs", top}, {"text_offset", offsets}};
}

ojson build_text_completion(const std::string& id, const std::string& model, int64_t created,
                            const std::vector<engine::Generation>& generations, int n, bool with_logprobs) {
  ojson choices = ojson::array();
  int prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
  for (size_t i = 0; i < generations.size(); ++i) {
    const engine::Generation& g = generations[i];
    if (i % static_cast<size_t>(n) == 0) {
      prompt_tokens += g.prompt_tokens;
      cached_tokens += g.cached_tokens;
    }
    completion_tokens += g.completion_tokens;
    ojson logprobs = nullptr;
    if (with_logprobs) {
      size_t generated = 0;
      for (const auto& t : g.logprobs) generated += t.token.size();
      logprobs =
          completion_logprobs_json(g.logprobs, g.text.size() > generated ? g.text.size() - generated : 0);
    }
    choices.push_back({{"text", g.text},
                       {"index", i},
                       {"logprobs", std::move(logprobs)},
                       {"finish_reason", finish_reason_name(g.finish_reason)}});
  }
  return {{"id", id},
          {"object", "text_completion"},
          {"created", created},
          {"model", model},
          {"system_fingerprint", kSystemFingerprint},
          {"choices", std::move(choices)},
          {"usage", usage_json(prompt_tokens, completion_tokens, cached_tokens)}};
}

ojson build_completion_chunk(const std::string& id, const std::string& model, int64_t created, ojson choices,
                             ojson usage) {
  ojson chunk = {{"id", id},
                 {"object", "text_completion"},
                 {"created", created},
                 {"model", model},
                 {"system_fingerprint", kSystemFingerprint},
                 {"choices", std::move(choices)}};
  if (!usage.is_discarded()) chunk["usage"] = std::move(usage);
  return chunk;
}

std::vector<std::shared_ptr<engine::GenerationHandle>> run_completion(engine::Engine& engine,
                                                                      CompletionRequest request,
                                                                      ChatCompletionDone done,
                                                                      ChoiceDeltaCallback on_delta) {
  struct State {
    std::mutex mu;
    std::vector<engine::Generation> generations;
    std::optional<Status> error;
    size_t remaining = 0;
    ChatCompletionDone done;
  };
  auto state = std::make_shared<State>();
  const size_t prompts = request.prompts.size();
  const int n = request.n;
  state->generations.resize(prompts * n);
  state->remaining = prompts;
  state->done = std::move(done);
  const int64_t created =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const std::string model = request.model;
  const bool logprobs = request.logprobs.has_value();
  std::vector<std::shared_ptr<engine::GenerationHandle>> handles;
  for (size_t p = 0; p < prompts; ++p) {
    engine::GenerationRequest gen = request.generation;
    gen.raw_prompt = std::move(request.prompts[p]);
    ChoiceDeltaCallback deltas;
    if (on_delta) {
      deltas = [on_delta, p, n](int j, engine::GenerationDelta d) {
        on_delta(static_cast<int>(p) * n + j, std::move(d));
      };
    }
    auto finished = [state, p, n, created, model, logprobs](Result<std::vector<engine::Generation>> r) {
      std::unique_lock lock(state->mu);
      if (r) {
        std::move(r->begin(), r->end(), state->generations.begin() + static_cast<std::ptrdiff_t>(p * n));
      } else if (!state->error) {
        state->error = r.status();
      }
      if (--state->remaining > 0) return;
      lock.unlock();
      if (state->error) return state->done(*state->error);
      state->done(build_text_completion(new_id("cmpl-"), model, created, state->generations, n, logprobs));
    };
    auto started = run_generations(engine, gen, n, std::move(finished), std::move(deltas));
    handles.insert(handles.end(), started.begin(), started.end());
  }
  return handles;
}

}  // namespace openbatch::openai
