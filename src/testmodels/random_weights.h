// Random weights for the test and benchmark models of make-model, shaped so that a model with no
// training still behaves usefully: at temperature 1 it ends free text by itself after a few dozen
// tokens, under a JSON grammar it closes strings, objects and arrays quickly, and greedy decoding
// stops at once instead of repeating a token until the context is full.
//
// How: every token embedding has the constant kEmbdChannel0 in hidden channel 0 and small noise
// elsewhere, and the layers add little to the residual stream, so after the final RMS norm channel 0
// is close to the same value at every position. Column 0 of output.weight then acts as a fixed
// per-token logit bias (token_logit_bias); the rest of output.weight adds a context-dependent noise
// of about 0.5. A few more channels each mark one token of the embedding ("marker" tokens) and add
// the logit changes of context_logit_bias right after it. output.weight is its own tensor (not tied
// to token_embd).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

struct ggml_tensor;

namespace openbatch::testmodels {

struct ByteBpeVocab;

// Where a vocabulary keeps the tokens the random weights steer.
struct LogitLandmarks {
  int32_t n_vocab = 0;
  int32_t quote = -1;          // '"' alone
  int32_t close_brace = -1;    // '}'
  int32_t close_bracket = -1;  // ']'
  int32_t newline = -1;        // '\n'
  int32_t end = -1;            // the end of an assistant's turn (<|im_end|>, <|eot_id|>)
  int32_t think_start = -1;    // <think> of a thinking model's vocabulary, -1 without (or when the
                               // template opens the thinking block itself)
  int32_t think_end = -1;      // </think>
  std::vector<int32_t> never;  // tokens never to generate (other control tokens, lone bytes that are
                               // not UTF-8)
};

// The landmarks of make-model's own byte-level vocabulary.
LogitLandmarks landmarks_of(const ByteBpeVocab& vocab);

// A logit change for `token` that applies only when the previous token is `after`.
struct ContextLogitBias {
  int32_t after = -1;
  int32_t token = -1;
  float logit = 0.0f;
};

struct RandomWeightsParams {
  uint32_t seed = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  std::vector<float> logit_bias;               // one per token, see token_logit_bias()
  std::vector<ContextLogitBias> context_bias;  // see context_logit_bias()
  // Every tensor (norms included) plain N(0, kUntamedStdev), as llama.cpp writes its own test models
  // (tests/test-llama-archs.cpp), instead of the shaping above: next-token choices are near uniform,
  // as a weak or badly quantised model's are, so answers do not end by themselves.
  bool untamed = false;
};

inline constexpr double kUntamedStdev = 0.02;

// The logit each token gets from channel 0, whatever the context: strongly up for '"', moderately up
// for '}' and ']' and the end token, far down for tokens that should never be generated. On a larger
// vocabulary than make-model's own the lifts grow by the log of the ratio, so that the steered tokens
// keep their share of the probability against the many more others.
std::vector<float> token_logit_bias(const LogitLandmarks& vocab);

// After a newline <|im_end|> is far down: chat prompts end in "assistant\n", so a completion is never
// empty. After '"' the quote is far down and <|im_end|> up past '}' and ']'; after '}' or ']' the
// quote is up. Greedy decoding therefore writes '"' (or '}"', ']"') and stops, instead of repeating
// one token to the end of the context.
// With thinking tags, a model opens <think> right after the prompt's last newline and closes it after
// a dozen tokens or so, as a reasoning model does.
std::vector<ContextLogitBias> context_logit_bias(const LogitLandmarks& vocab);

// n normal deviates of standard deviation stdev, deterministic in (seed, name) on every platform.
std::vector<float> normal_values(uint32_t seed, std::string_view name, size_t n, double stdev);

// Fills one F32 tensor of the model, chosen by its name. Deterministic in (params.seed, tensor name).
// REQUIRES: tensor is F32 and allocated; userdata points to a RandomWeightsParams whose n_embd
// exceeds the number of marker tokens. Matches llama_model_set_tensor_data_t.
void fill_random_tensor(ggml_tensor* tensor, void* userdata);

}  // namespace openbatch::testmodels
