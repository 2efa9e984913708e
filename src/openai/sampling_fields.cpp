#include "openai/sampling_fields.h"

#include <cstdlib>
#include <string>

#include "openai/field_reader.h"

namespace openbatch::openai {

namespace {

using nlohmann::json;

// `stop`: a string or an array of at most 4.
Status read_stop(const json& body, engine::GenerationRequest& out) {
  auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return Status::ok();
  if (it->is_string()) {
    out.stop.push_back(it->get<std::string>());
    return Status::ok();
  }
  if (!it->is_array()) return invalid_type("stop", "a string or an array of strings", *it);
  if (it->size() > 4) {
    return Status::invalid_request(
        "Invalid 'stop': array too long. Expected an array with maximum length 4, but "
        "got an array with length " +
            std::to_string(it->size()) + " instead.",
        "stop", "array_above_max_length");
  }
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_string()) return invalid_type("stop[" + std::to_string(i) + "]", "a string", (*it)[i]);
    out.stop.push_back((*it)[i].get<std::string>());
  }
  return Status::ok();
}

// `logit_bias`: token id -> -100..100.
Status read_logit_bias(const json& body, engine::GenerationRequest& out) {
  auto it = body.find("logit_bias");
  if (it == body.end() || it->is_null()) return Status::ok();
  if (!it->is_object()) return invalid_type("logit_bias", "an object", *it);
  for (const auto& [key, value] : it->items()) {
    char* end = nullptr;
    long token = std::strtol(key.c_str(), &end, 10);
    if (key.empty() || *end != '\0') {
      return Status::invalid_request("Invalid key in 'logit_bias': " + key + ". Keys must be token ids.",
                                     "logit_bias", "invalid_value");
    }
    if (!value.is_number()) return invalid_type("logit_bias." + key, "a number", value);
    double bias = value.get<double>();
    if (bias < -100 || bias > 100) {
      return Status::invalid_request("Invalid value for 'logit_bias': bias must be between -100 and 100.",
                                     "logit_bias", "invalid_value");
    }
    out.sampling.logit_bias.emplace_back(static_cast<int32_t>(token), static_cast<float>(bias));
  }
  return Status::ok();
}

}  // namespace

Result<SamplingFields> read_sampling_fields(const json& body, const SamplingFieldSet& set,
                                            engine::GenerationRequest& gen) {
  const FieldReader f(body);
  const bool full = set.penalties_n_seed_stop;
  std::optional<double> temperature, top_p, presence, frequency;
  std::optional<int64_t> max_tokens, n, seed;
  std::optional<bool> stream, ignore_eos;
  if (Status s = f.number("temperature", 0, 2, temperature); !s) return s;
  if (Status s = f.number("top_p", 0, 1, top_p); !s) return s;
  if (full) {
    if (Status s = f.number("presence_penalty", -2, 2, presence); !s) return s;
    if (Status s = f.number("frequency_penalty", -2, 2, frequency); !s) return s;
  }
  if (Status s = f.integer(set.max_tokens, set.min_max_tokens, INT32_MAX, max_tokens); !s) return s;
  if (full) {
    if (Status s = f.integer("n", 1, 128, n); !s) return s;
    if (Status s = f.integer("seed", INT64_MIN, INT64_MAX, seed); !s) return s;
  }
  if (Status s = f.boolean("stream", stream); !s) return s;
  if (full) {
    if (Status s = f.boolean("ignore_eos", ignore_eos); !s) return s;
    if (Status s = read_stop(body, gen); !s) return s;
    if (Status s = read_logit_bias(body, gen); !s) return s;
  }

  if (temperature) gen.sampling.temperature = static_cast<float>(*temperature);
  if (top_p) gen.sampling.top_p = static_cast<float>(*top_p);
  if (presence) gen.sampling.presence_penalty = static_cast<float>(*presence);
  if (frequency) gen.sampling.frequency_penalty = static_cast<float>(*frequency);
  if (seed) gen.sampling.seed = static_cast<uint32_t>(static_cast<uint64_t>(*seed));
  if (max_tokens) gen.max_tokens = static_cast<int>(*max_tokens);
  if (ignore_eos) gen.ignore_eos = *ignore_eos;
  SamplingFields out;
  out.max_tokens = max_tokens;
  out.n = n ? static_cast<int>(*n) : 1;
  out.stream = stream.value_or(false);
  return out;
}

Result<const json*> stream_options_of(const json& body, bool stream) {
  auto so = body.find("stream_options");
  if (so == body.end() || so->is_null()) return static_cast<const json*>(nullptr);
  if (!stream) {
    return Status::invalid_request("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                                   "stream_options", "invalid_value");
  }
  if (!so->is_object()) return invalid_type("stream_options", "an object", *so);
  return &*so;
}

Result<bool> read_include_usage(const json& body, bool stream) {
  auto so = stream_options_of(body, stream);
  if (!so) return so.status();
  if (*so == nullptr) return false;
  std::optional<bool> include_usage;
  if (Status s = FieldReader(**so, "stream_options.").boolean("include_usage", include_usage); !s) return s;
  return include_usage.value_or(false);
}

}  // namespace openbatch::openai
