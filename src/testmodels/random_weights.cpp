#include "testmodels/random_weights.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string_view>

#include "ggml-backend.h"
#include "ggml.h"
#include "testmodels/byte_bpe_vocab.h"

namespace openbatch::testmodels {
namespace {

// Residual stream at the input: channel 0 is kEmbdChannel0 for every token; the other channels hold
// token noise of total norm kEmbdNoise. The layers add about kLayerGain more (all layers together),
// enough to make the output depend on context, too little to move channel 0 after the final norm.
constexpr double kEmbdChannel0 = 1.0;
constexpr double kEmbdNoise = 0.5;
constexpr double kLayerGain = 0.3;
// Standard deviation of the context-dependent part of each logit.
constexpr double kLogitNoise = 0.5;

// Logit biases (see token_logit_bias and context_logit_bias). Tuned with a ~540-token vocabulary at
// temperature 1: a JSON string closes after a handful of tokens, free text stops after ~40 tokens on
// average. Right after a marker token every channel-0 bias is about 3/4 of its value (the marker
// channel takes its share of the norm); kEndAfterQuoteLogit lifts <|im_end|> past '}' and ']' there,
// and kQuoteAfterCloseLogit makes '"' the sure choice after '}' or ']', so that greedy decoding,
// whichever of the three it starts with, ends within three tokens.
constexpr float kQuoteLogit = 4.0f;
constexpr float kCloseLogit = 3.0f;
constexpr float kEndLogit = 1.7f;
constexpr float kNeverLogit = -20.0f;
constexpr float kEndAfterNewlineLogit = -10.0f;
constexpr float kQuoteAfterQuoteLogit = -10.0f;
constexpr float kEndAfterQuoteLogit = 2.6f;
constexpr float kQuoteAfterCloseLogit = 3.0f;
constexpr float kThinkAfterNewlineLogit = 14.0f;
constexpr float kThinkEndLogit = 3.0f;

// Normal deviates from mt19937 by Box-Muller: std::normal_distribution differs between standard
// libraries, and a seed must give the same model everywhere.
class NormalSource {
 public:
  explicit NormalSource(uint32_t seed) : gen_(seed) {}

  double next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    constexpr double kTwoPi = 6.283185307179586;
    const double u1 = (static_cast<double>(gen_()) + 1.0) / 4294967296.0;  // (0, 1]
    const double u2 = static_cast<double>(gen_()) / 4294967296.0;
    const double radius = std::sqrt(-2.0 * std::log(u1));
    spare_ = radius * std::sin(kTwoPi * u2);
    has_spare_ = true;
    return radius * std::cos(kTwoPi * u2);
  }

 private:
  std::mt19937 gen_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

uint32_t fnv1a(std::string_view s) {
  uint32_t h = 2166136261u;
  for (const char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;
  }
  return h;
}

// Squared norm of the residual stream's noise (all but channel 0 and the marker channels), relative
// to channel 0.
double normed_rest2() {
  return (kEmbdNoise * kEmbdNoise + kLayerGain * kLayerGain) / (kEmbdChannel0 * kEmbdChannel0);
}
// Channel 0 of the residual stream after the final RMS norm (whose weight is 1), and the norm of
// the noise channels there.
double normed_channel0(int64_t n_embd) {
  return std::sqrt(static_cast<double>(n_embd) / (1.0 + normed_rest2()));
}
double normed_rest(int64_t n_embd) { return std::sqrt(normed_rest2()) * normed_channel0(n_embd); }
// A marker channel after the final norm, right after its token (which has two channels at
// kEmbdChannel0).
double normed_marker(int64_t n_embd) {
  return std::sqrt(static_cast<double>(n_embd) / (2.0 + normed_rest2()));
}

// The marker tokens of the context biases, in order: marker i owns hidden channel 1 + i.
std::vector<int32_t> marker_tokens(const std::vector<ContextLogitBias>& context_bias) {
  std::vector<int32_t> markers;
  for (const ContextLogitBias& b : context_bias) {
    if (std::find(markers.begin(), markers.end(), b.after) == markers.end()) markers.push_back(b.after);
  }
  return markers;
}

}  // namespace

LogitLandmarks landmarks_of(const ByteBpeVocab& vocab) {
  LogitLandmarks l;
  l.n_vocab = static_cast<int32_t>(vocab.tokens.size());
  l.quote = '"';
  l.close_brace = '}';
  l.close_bracket = ']';
  l.newline = '\n';
  l.end = vocab.im_end_id;
  for (int b = 0; b < 256; ++b) {
    const bool control = (b < 0x20 && b != '\n' && b != '\t') || b == 0x7F;
    if (control || b >= 0x80) l.never.push_back(b);
  }
  l.never.push_back(vocab.endoftext_id);
  l.never.push_back(vocab.im_start_id);
  return l;
}

namespace {

// How much more a steered token must be lifted on a vocabulary of n tokens than on the ~540 tokens
// the constants were tuned with.
float vocab_lift(int32_t n_vocab) {
  constexpr double kTunedVocab = 537.0;
  return n_vocab > kTunedVocab ? static_cast<float>(std::log(n_vocab / kTunedVocab)) : 0.0f;
}

}  // namespace

std::vector<float> token_logit_bias(const LogitLandmarks& vocab) {
  std::vector<float> bias(vocab.n_vocab, 0.0f);
  const float lift = vocab_lift(vocab.n_vocab);
  for (int32_t t : vocab.never) {
    if (t >= 0 && t < vocab.n_vocab) bias[t] = kNeverLogit;
  }
  bias[vocab.quote] = kQuoteLogit + lift;
  bias[vocab.close_brace] = kCloseLogit + lift;
  bias[vocab.close_bracket] = kCloseLogit + lift;
  bias[vocab.end] = kEndLogit + lift;
  if (vocab.think_end >= 0) bias[vocab.think_end] = kThinkEndLogit + lift;
  return bias;
}

std::vector<ContextLogitBias> context_logit_bias(const LogitLandmarks& vocab) {
  std::vector<ContextLogitBias> biases = {
      {vocab.newline, vocab.end, kEndAfterNewlineLogit},
      {vocab.quote, vocab.quote, kQuoteAfterQuoteLogit},
      {vocab.quote, vocab.end, kEndAfterQuoteLogit},
      {vocab.close_brace, vocab.quote, kQuoteAfterCloseLogit},
      {vocab.close_bracket, vocab.quote, kQuoteAfterCloseLogit},
  };
  if (vocab.think_start >= 0 && vocab.think_end >= 0) {
    biases.push_back({vocab.newline, vocab.think_start, kThinkAfterNewlineLogit});
    biases.push_back({vocab.think_start, vocab.think_end, kEndAfterNewlineLogit});  // never an empty thought
  }
  return biases;
}

std::vector<float> normal_values(uint32_t seed, std::string_view name, size_t n, double stdev) {
  NormalSource normal(seed ^ fnv1a(name));
  std::vector<float> values(n);
  for (float& v : values) v = static_cast<float>(stdev * normal.next());
  return values;
}

void fill_random_tensor(ggml_tensor* tensor, void* userdata) {
  const auto& params = *static_cast<const RandomWeightsParams*>(userdata);
  const std::string_view name = ggml_get_name(tensor);
  const int64_t n = ggml_nelements(tensor);
  const int64_t n_in = tensor->ne[0];
  const int64_t n_embd = params.n_embd;
  std::vector<float> data(n);
  NormalSource normal(params.seed ^ fnv1a(name));

  auto fill_normal = [&](double stdev) {
    for (float& v : data) v = static_cast<float>(stdev * normal.next());
  };
  const int64_t n_rows = n / n_in;
  const std::vector<int32_t> markers = marker_tokens(params.context_bias);
  if (params.untamed) {
    fill_normal(kUntamedStdev);
  } else if (name == "token_embd.weight") {
    fill_normal(kEmbdNoise / std::sqrt(static_cast<double>(n_embd)));
    for (int64_t row = 0; row < n_rows; ++row) {
      data[row * n_in] = static_cast<float>(kEmbdChannel0);
      for (size_t i = 0; i < markers.size(); ++i) {
        data[row * n_in + 1 + i] = row == markers[i] ? static_cast<float>(kEmbdChannel0) : 0.0f;
      }
    }
  } else if (name == "output.weight") {
    fill_normal(kLogitNoise / normed_rest(n_embd));
    for (int64_t row = 0; row < n_rows; ++row) {
      const float bias = row < static_cast<int64_t>(params.logit_bias.size()) ? params.logit_bias[row] : 0.0f;
      data[row * n_in] = static_cast<float>(bias / normed_channel0(n_embd));
      for (size_t i = 0; i < markers.size(); ++i) data[row * n_in + 1 + i] = 0.0f;
    }
    for (const ContextLogitBias& b : params.context_bias) {
      const auto channel = std::find(markers.begin(), markers.end(), b.after) - markers.begin();
      data[b.token * n_in + 1 + channel] += static_cast<float>(b.logit / normed_marker(n_embd));
    }
  } else if (name.find("_norm") != std::string_view::npos || name.ends_with(".scale") ||
             name.ends_with(".input_scale") || name.starts_with("rope_")) {
    std::fill(data.begin(), data.end(), 1.0f);
  } else if (name.ends_with(".bias")) {
    std::fill(data.begin(), data.end(), 0.0f);
  } else if (name.ends_with("attn_output.weight") || name.ends_with("ffn_down.weight")) {
    // Each of the 2 * n_layer output projections adds a vector of norm ~kLayerGain / sqrt(2 * n_layer)
    // to the residual; their inputs have entries of about unit size.
    const double n_out = static_cast<double>(tensor->ne[1]);
    fill_normal(kLayerGain / std::sqrt(2.0 * params.n_layer * static_cast<double>(n_in) * n_out));
  } else {
    // Input projections (q, k, v, gate, up) keep unit gain from the normed residual.
    fill_normal(1.0 / std::sqrt(static_cast<double>(n_in)));
  }
  ggml_backend_tensor_set(tensor, data.data(), 0, ggml_nbytes(tensor));
}

}  // namespace openbatch::testmodels
