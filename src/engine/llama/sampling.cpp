#include "engine/llama/sampling.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <random>
#include <unordered_map>

#include "engine/llama/json_grammar.h"
#include "engine/llama/prompt.h"

namespace openbatch::engine {

namespace {

Result<std::string> grammar_for(const GenerationRequest& request) {
  switch (request.response_format) {
    case ResponseFormat::kJsonObject:
      return json_object_grammar();
    case ResponseFormat::kJsonSchema:
      return json_schema_grammar(request.json_schema);
    case ResponseFormat::kText:
      break;
  }
  return std::string();
}

}  // namespace

Result<std::string> prepare_sampling(const llama_vocab* vocab, const GenerationRequest& request) {
  const int n_vocab = llama_vocab_n_tokens(vocab);
  for (const auto& [token, bias] : request.sampling.logit_bias) {
    if (token < 0 || token >= n_vocab) {
      return Status::invalid_request("Invalid key in 'logit_bias': " + std::to_string(token) +
                                         ". Token ids must be between 0 and " + std::to_string(n_vocab - 1) +
                                         ".",
                                     "logit_bias", "invalid_value");
    }
  }
  if (request.response_format == ResponseFormat::kText) return std::string();
  // A batch repeats one schema thousands of times: compile and check each schema once.
  static std::mutex mu;
  static std::unordered_map<std::string, Result<std::string>> cache;
  const std::string key = request.response_format == ResponseFormat::kJsonObject ? "" : request.json_schema;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  Result<std::string> grammar = grammar_for(request);
  if (grammar && !SamplerPtr(llama_sampler_init_grammar(vocab, grammar->c_str(), "root"))) {
    grammar = Status::invalid_request("The response_format schema cannot be enforced by this server.",
                                      "response_format", "invalid_json_schema");
  }
  std::lock_guard<std::mutex> lock(mu);
  if (cache.size() >= 256) cache.clear();
  cache.emplace(key, grammar);
  return grammar;
}

SamplerPtr make_sampler(const llama_vocab* vocab, const GenerationRequest& request,
                        const std::string& grammar) {
  const SamplingParams& p = request.sampling;
  SamplerPtr chain(llama_sampler_chain_init(llama_sampler_chain_default_params()));
  if (!p.logit_bias.empty()) {
    std::vector<llama_logit_bias> biases;
    for (const auto& [token, bias] : p.logit_bias) biases.push_back({token, bias});
    llama_sampler_chain_add(
        chain.get(), llama_sampler_init_logit_bias(llama_vocab_n_tokens(vocab),
                                                   static_cast<int32_t>(biases.size()), biases.data()));
  }
  if (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    auto* penalties = llama_sampler_init_penalties(llama_vocab_n_tokens(vocab), 4096, 1.0f,
                                                   p.frequency_penalty, p.presence_penalty);
    llama_sampler_chain_add(chain.get(), penalties);
  }
  if (!grammar.empty())
    llama_sampler_chain_add(chain.get(), llama_sampler_init_grammar(vocab, grammar.c_str(), "root"));
  if (p.temperature <= 0.0f) {
    llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
    return chain;
  }
  if (p.top_p < 1.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_p(p.top_p, 1));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(p.temperature));
  const uint32_t seed = p.seed ? *p.seed : std::random_device{}();
  llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(seed));
  return chain;
}

TokenLogprob token_logprob(const llama_vocab* vocab, llama_context* ctx, int i, llama_token token,
                           int top_n) {
  const int n_vocab = llama_vocab_n_tokens(vocab);
  const float* logits = llama_get_logits_ith(ctx, i);
  float max_logit = *std::max_element(logits, logits + n_vocab);
  double sum = 0.0;
  for (int t = 0; t < n_vocab; ++t) sum += std::exp(static_cast<double>(logits[t] - max_logit));
  const float log_z = max_logit + static_cast<float>(std::log(sum));
  TokenLogprob out;
  out.token = token_piece(vocab, token);
  out.logprob = logits[token] - log_z;
  if (top_n > 0) {
    std::vector<int> ids(n_vocab);
    for (int t = 0; t < n_vocab; ++t) ids[t] = t;
    const int k = std::min(top_n, n_vocab);
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                      [&](int a, int b) { return logits[a] > logits[b]; });
    for (int j = 0; j < k; ++j) out.top.push_back({token_piece(vocab, ids[j]), logits[ids[j]] - log_z});
  }
  return out;
}

}  // namespace openbatch::engine
