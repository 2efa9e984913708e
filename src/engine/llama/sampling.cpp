#include "engine/llama/sampling.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <mutex>
#include <unordered_map>

#include "common/random.h"
#include "engine/llama/chat_template.h"
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

// The grammar of a prompt: the template's (tool calls; a response_format, with room for thinking
// where the model thinks), lazy from its triggers on when the template says so.
struct GrammarSpec {
  std::string gbnf;
  bool lazy = false;
  std::vector<std::string> patterns;
  std::vector<llama_token> tokens;
  std::vector<llama_token> prefill;

  std::string key() const {
    std::string k = gbnf;
    k += lazy ? "\nlazy" : "\neager";
    for (const auto& p : patterns) k += "\np:" + p;
    for (llama_token t : tokens) k += "\nt:" + std::to_string(t);
    k += "\nprefill:";
    for (llama_token t : prefill) k += std::to_string(t) + ",";
    return k;
  }
};

Result<std::shared_ptr<const CompiledGrammar>> compile_grammar(const llama_vocab* vocab,
                                                               const GrammarSpec& spec) {
  auto compiled = std::make_shared<CompiledGrammar>();
  if (spec.lazy) {
    std::vector<const char*> patterns;
    for (const auto& p : spec.patterns) patterns.push_back(p.c_str());
    compiled->prototype.reset(
        llama_sampler_init_grammar_lazy_patterns(vocab, spec.gbnf.c_str(), "root", patterns.data(),
                                                 patterns.size(), spec.tokens.data(), spec.tokens.size()));
  } else {
    compiled->prototype.reset(llama_sampler_init_grammar(vocab, spec.gbnf.c_str(), "root"));
  }
  if (!compiled->prototype) {
    return Status::invalid_request(
        "The response_format schema or the tools' parameters cannot be enforced by "
        "this server.",
        "response_format", "invalid_json_schema");
  }
  for (llama_token t : spec.prefill) llama_sampler_accept(compiled->prototype.get(), t);
  return std::shared_ptr<const CompiledGrammar>(std::move(compiled));
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Where a UTF-8 decoder stands after bytes, from `state` (TokenText::utf8_after); -1: invalid UTF-8
// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
int8_t utf8_after(const std::string& bytes, int state) {
  for (const char ch : bytes) {
    const auto b = static_cast<uint8_t>(ch);
    if (state != 0) {
      // The byte after E0, ED, F0 and F4 has a narrower range than other continuation bytes.
      const uint8_t lo = state == 4 ? 0xA0 : state == 6 ? 0x90 : 0x80;
      const uint8_t hi = state == 5 ? 0x9F : state == 7 ? 0x8F : 0xBF;
      if (b < lo || b > hi) return -1;
      state = state >= 6 ? 2 : state >= 4 ? 1 : state - 1;
    } else if (b < 0x80) {
      continue;
    } else if (b >= 0xC2 && b <= 0xDF) {
      state = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      state = b == 0xE0 ? 4 : b == 0xED ? 5 : 2;
    } else if (b >= 0xF0 && b <= 0xF4) {
      state = b == 0xF0 ? 6 : b == 0xF4 ? 7 : 3;
    } else {
      return -1;
    }
  }
  return static_cast<int8_t>(state);
}

TokenText text_of(const std::string& piece) {
  constexpr size_t kMax = UINT16_MAX;
  TokenText s;
  for (int state = 0; state < 8; ++state) s.utf8_after[state] = utf8_after(piece, state);
  size_t i = 0;
  while (i < piece.size() && is_blank(piece[i])) ++i;
  s.leading = static_cast<uint16_t>(std::min(i, kMax));
  if (i == piece.size()) {
    s.all_blank = true;
    return s;
  }
  size_t run = 0, longest = 0;
  for (; i < piece.size(); ++i) {
    run = is_blank(piece[i]) ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  s.trailing = static_cast<uint16_t>(std::min(run, kMax));
  s.longest_inner = static_cast<uint16_t>(std::min(longest, kMax));
  return s;
}

}  // namespace

Result<std::shared_ptr<const CompiledGrammar>> prepare_sampling(const llama_vocab* vocab,
                                                                const GenerationRequest& request,
                                                                const ChatPrompt& prompt) {
  const int n_vocab = llama_vocab_n_tokens(vocab);
  for (const auto& [token, bias] : request.sampling.logit_bias) {
    if (token < 0 || token >= n_vocab) {
      return Status::invalid_request("Invalid key in 'logit_bias': " + std::to_string(token) +
                                         ". Token ids must be between 0 and " + std::to_string(n_vocab - 1) +
                                         ".",
                                     "logit_bias", "invalid_value");
    }
  }
  GrammarSpec spec;
  if (!prompt.grammar.empty()) {
    spec = {prompt.grammar, prompt.grammar_lazy, prompt.trigger_patterns, prompt.trigger_tokens,
            prompt.grammar_prefill};
  } else if (request.response_format != ResponseFormat::kText) {
    Result<std::string> gbnf = grammar_for(request);
    if (!gbnf) return gbnf.status();
    spec.gbnf = std::move(gbnf).value();
  } else {
    return std::shared_ptr<const CompiledGrammar>();
  }
  // A batch repeats one schema thousands of times: compile and check each grammar once per vocabulary.
  using Entry = Result<std::shared_ptr<const CompiledGrammar>>;
  static std::mutex mu;
  static std::unordered_map<std::string, Entry> cache;
  std::string key = std::to_string(reinterpret_cast<uintptr_t>(vocab)) + '\n' + spec.key();
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  Entry entry = compile_grammar(vocab, spec);
  std::lock_guard<std::mutex> lock(mu);
  if (cache.size() >= 256) cache.clear();
  cache.emplace(key, entry);
  return entry;
}

ByteTokens ByteTokens::of(const llama_vocab* vocab) {
  ByteTokens bytes;
  bytes.of_byte.fill(-1);
  const int n_vocab = llama_vocab_n_tokens(vocab);
  bytes.text.resize(n_vocab);
  for (llama_token t = 0; t < n_vocab; ++t) {
    if (llama_vocab_is_eog(vocab, t)) {
      bytes.end_of_generation.push_back(t);
      bytes.text[t].all_blank = true;
      bytes.text[t].utf8_after = {0, 1, 2, 3, 4, 5, 6, 7};
      continue;
    }
    const std::string piece = token_piece(vocab, t);
    bytes.text[t] = text_of(piece);
    if (piece.size() == 1 && bytes.of_byte[static_cast<uint8_t>(piece[0])] < 0) {
      bytes.of_byte[static_cast<uint8_t>(piece[0])] = t;
    }
  }
  return bytes;
}

RequestSampler::RequestSampler(const llama_vocab* vocab, const GenerationRequest& request,
                               const std::shared_ptr<const CompiledGrammar>& grammar, const ByteTokens* bytes)
    : n_vocab_(llama_vocab_n_tokens(vocab)), bytes_(bytes) {
  const SamplingParams& p = request.sampling;
  temperature_ = p.temperature;
  std::vector<llama_logit_bias> biases;
  for (const auto& [token, bias] : p.logit_bias) biases.push_back({token, bias});
  // ignore_eos forbids end-of-generation tokens, as llama-server and vLLM do.
  if (request.ignore_eos) {
    for (llama_token t : bytes->end_of_generation) biases.push_back({t, -INFINITY});
  }
  if (!biases.empty() || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    pre_.reset(llama_sampler_chain_init(llama_sampler_chain_default_params()));
    if (!biases.empty()) {
      llama_sampler_chain_add(pre_.get(), llama_sampler_init_logit_bias(
                                              n_vocab_, static_cast<int32_t>(biases.size()), biases.data()));
    }
    if (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
      llama_sampler_chain_add(pre_.get(), llama_sampler_init_penalties(
                                              n_vocab_, 4096, 1.0f, p.frequency_penalty, p.presence_penalty));
    }
  }
  chain_.reset(llama_sampler_chain_init(llama_sampler_chain_default_params()));
  if (p.temperature <= 0.0f) {
    llama_sampler_chain_add(chain_.get(), llama_sampler_init_greedy());
  } else {
    if (p.top_p < 1.0f) llama_sampler_chain_add(chain_.get(), llama_sampler_init_top_p(p.top_p, 1));
    llama_sampler_chain_add(chain_.get(), llama_sampler_init_temp(p.temperature));
    const uint32_t seed = p.seed ? *p.seed : static_cast<uint32_t>(random_u64());
    llama_sampler_chain_add(chain_.get(), llama_sampler_init_dist(seed));
  }
  if (grammar) grammar_.reset(llama_sampler_clone(grammar->prototype.get()));
}

void RequestSampler::fill_candidates(const float* logits) {
  candidates_.resize(n_vocab_);
  for (int t = 0; t < n_vocab_; ++t) candidates_[t] = {t, logits[t], 0.0f};
  if (pre_) {
    llama_token_data_array all{candidates_.data(), candidates_.size(), -1, false};
    llama_sampler_apply(pre_.get(), &all);
    candidates_.resize(all.size);
  }
}

float RequestSampler::cut_candidates(float below_best) {
  float best = -INFINITY;
  for (const auto& c : candidates_) best = std::max(best, c.logit);
  if (std::isinf(best)) return best;  // everything forbidden: leave it to the caller
  const float floor = std::min(best - kCutLogits * std::max(temperature_, 0.0f), below_best);
  size_t kept = 0;
  for (const auto& c : candidates_) {
    if (c.logit >= floor) candidates_[kept++] = c;
  }
  candidates_.resize(kept);
  return floor;
}

llama_token RequestSampler::draw_from(llama_token_data_array& candidates) {
  llama_sampler_apply(chain_.get(), &candidates);
  return candidates.data[candidates.selected].id;
}

llama_token RequestSampler::sample(const float* logits) {
  fill_candidates(logits);
  cut_candidates();
  llama_token_data_array cut{candidates_.data(), candidates_.size(), -1, false};
  llama_token token = draw_from(cut);
  if (grammar_) {
    llama_token_data probe{token, 1.0f, 0.0f};
    llama_token_data_array one{&probe, 1, -1, false};
    llama_sampler_apply(grammar_.get(), &one);
    if (std::isinf(probe.logit) || unwanted(token)) token = sample_with_grammar(logits);
    llama_sampler_accept(grammar_.get(), token);
  }
  if (pre_) llama_sampler_accept(pre_.get(), token);
  llama_sampler_accept(chain_.get(), token);
  track_text(token);
  return token;
}

bool RequestSampler::at_structure() const {
  const llama_token tilde = bytes_->of_byte['~'];
  if (tilde < 0) return false;  // no way to tell: unbounded
  llama_token_data probe{tilde, 1.0f, 0.0f};
  llama_token_data_array one{&probe, 1, -1, false};
  llama_sampler_apply(grammar_.get(), &one);
  return std::isinf(probe.logit);
}

int RequestSampler::leading_whitespace_allowed() const {
  return at_structure() ? std::max(0, kMaxStructuralWhitespace - whitespace_run_) : INT_MAX;
}

bool RequestSampler::unwanted(llama_token token) const {
  const TokenText& s = bytes_->text[token];
  if (s.utf8_after[utf8_state_] < 0) return true;
  if (!s.all_blank && s.longest_inner > kMaxStructuralWhitespace) return true;
  if (s.leading == 0 || whitespace_run_ + s.leading <= kMaxStructuralWhitespace) return false;
  return at_structure();
}

bool RequestSampler::mask_unwanted(llama_token_data_array& candidates) const {
  const int allowed = leading_whitespace_allowed();
  bool left = false;
  for (size_t k = 0; k < candidates.size; ++k) {
    llama_token_data& c = candidates.data[k];
    if (std::isinf(c.logit)) continue;
    const TokenText& s = bytes_->text[c.id];
    if (s.utf8_after[utf8_state_] < 0 || (!s.all_blank && s.longest_inner > kMaxStructuralWhitespace) ||
        s.leading > allowed) {
      c.logit = -INFINITY;
    } else {
      left = true;
    }
  }
  return left;
}

void RequestSampler::track_text(llama_token token) {
  const TokenText& s = bytes_->text[token];
  whitespace_run_ = s.all_blank ? whitespace_run_ + s.leading : s.trailing;
  utf8_state_ = std::max<int>(0, s.utf8_after[utf8_state_]);
}

// The draw was rejected: mask the drawable candidates with the grammar and draw again. The cut stays
// exact as long as it reaches kCutLogits * temperature below the best token the grammar allows (every
// token left out is then negligible next to it): when the best allowed one is below the best
// overall, the cut is widened to it. Only when the grammar allows none of the drawable candidates is
// the whole vocabulary masked.
llama_token RequestSampler::sample_with_grammar(const float* logits) {
  auto best_allowed = [](const llama_token_data_array& a) {
    float best = -INFINITY;
    for (size_t k = 0; k < a.size; ++k) best = std::max(best, a.data[k].logit);
    return best;
  };
  fill_candidates(logits);
  const float floor = cut_candidates();
  llama_token_data_array cut{candidates_.data(), candidates_.size(), -1, false};
  llama_sampler_apply(grammar_.get(), &cut);
  mask_unwanted(cut);
  const float allowed = best_allowed(cut);
  if (!std::isinf(allowed)) {
    const float needed = allowed - kCutLogits * std::max(temperature_, 0.0f);
    if (needed < floor) {
      fill_candidates(logits);
      cut_candidates(needed);
      cut = {candidates_.data(), candidates_.size(), -1, false};
      llama_sampler_apply(grammar_.get(), &cut);
      mask_unwanted(cut);
    }
    return draw_from(cut);
  }
  fill_candidates(logits);
  llama_token_data_array all{candidates_.data(), candidates_.size(), -1, false};
  llama_sampler_apply(grammar_.get(), &all);
  // The bounds give way where the grammar allows nothing else.
  std::vector<llama_token_data> unbounded(all.data, all.data + all.size);
  if (!mask_unwanted(all)) std::copy(unbounded.begin(), unbounded.end(), all.data);
  const llama_token eog = only_end_of_generation(all);
  return eog >= 0 ? eog : draw_from(all);
}

// When the grammar's text is complete only end-of-generation may follow, even where the request
// forbids it (ignore_eos): returns that token, or -1 when anything else is allowed.
llama_token RequestSampler::only_end_of_generation(const llama_token_data_array& masked) const {
  llama_token eog = -1;
  for (size_t k = 0; k < masked.size; ++k) {
    if (std::isinf(masked.data[k].logit)) continue;
    const llama_token t = masked.data[k].id;
    if (std::find(bytes_->end_of_generation.begin(), bytes_->end_of_generation.end(), t) ==
        bytes_->end_of_generation.end()) {
      return -1;
    }
    eog = t;
  }
  return eog;
}

std::string RequestSampler::take_forced_text(size_t max_bytes) {
  std::string forced;
  if (!grammar_) return forced;
  std::vector<llama_token_data> probe;
  while (forced.size() < max_bytes) {
    // The grammar works on text: the next character is forced when exactly one single-byte token
    // and no end-of-generation token survives it (a longer token it allows would start with an
    // allowed byte, since every prefix of an allowed text is allowed).
    probe.clear();
    for (llama_token t : bytes_->of_byte) {
      if (t >= 0) probe.push_back({t, 0.0f, 0.0f});
    }
    for (llama_token t : bytes_->end_of_generation) probe.push_back({t, 0.0f, 0.0f});
    llama_token_data_array arr{probe.data(), probe.size(), -1, false};
    llama_sampler_apply(grammar_.get(), &arr);
    int allowed = 0;
    llama_token only = -1;
    for (size_t k = 0; k < arr.size && allowed < 2; ++k) {
      if (!std::isinf(arr.data[k].logit)) {
        ++allowed;
        only = arr.data[k].id;
      }
    }
    if (allowed != 1) break;
    const auto byte = std::find(bytes_->of_byte.begin(), bytes_->of_byte.begin() + 128, only);
    if (byte == bytes_->of_byte.begin() + 128) break;  // end of generation, or a non-ASCII byte
    llama_sampler_accept(grammar_.get(), only);
    track_text(only);
    forced.push_back(static_cast<char>(byte - bytes_->of_byte.begin()));
  }
  return forced;
}

void RequestSampler::accept_forced(const std::vector<llama_token>& tokens) {
  for (llama_token t : tokens) {
    if (pre_) llama_sampler_accept(pre_.get(), t);
    llama_sampler_accept(chain_.get(), t);
  }
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
