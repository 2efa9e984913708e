#include "engine/upstream/completions_body.h"

#include "engine/upstream/chat_body.h"

namespace openbatch::engine::upstream {

using nlohmann::json;

json completions_body(const GenerationRequest& r, const std::string& model) {
  const RawPrompt& prompt = *r.raw_prompt;
  json body = {{"model", model}};
  body["prompt"] = prompt.tokens.empty() ? json(prompt.text) : json(prompt.tokens);
  if (prompt.echo) body["echo"] = true;
  add_sampling_fields(r, body);
  if (r.logprobs) body["logprobs"] = r.top_logprobs;
  return body;
}

Result<Generation> parse_text_completion(const json& completion) {
  Result<const json*> first = first_choice(completion);
  if (!first) return first.status();
  const json& choice = **first;
  auto text = choice.find("text");
  if (text == choice.end() || !text->is_string()) return bad_upstream_answer("has no text");
  Generation g;
  g.text = text->get<std::string>();
  g.finish_reason =
      choice.value("finish_reason", json("stop")) == "length" ? FinishReason::kLength : FinishReason::kStop;
  read_usage(completion, g);
  auto lp = choice.find("logprobs");
  if (lp != choice.end() && lp->is_object() && (*lp)["tokens"].is_array() &&
      (*lp)["token_logprobs"].is_array()) {
    const json& tokens = (*lp)["tokens"];
    const json& logprobs = (*lp)["token_logprobs"];
    const json top = lp->value("top_logprobs", json::array());
    for (size_t i = 0; i < tokens.size() && i < logprobs.size(); ++i) {
      TokenLogprob t;
      t.token = tokens[i].is_string() ? tokens[i].get<std::string>() : "";
      t.logprob = logprobs[i].is_number() ? logprobs[i].get<float>() : 0.0f;
      if (top.is_array() && i < top.size() && top[i].is_object()) {
        for (const auto& [token, value] : top[i].items()) {
          if (value.is_number()) t.top.push_back({token, value.get<float>()});
        }
      }
      g.logprobs.push_back(std::move(t));
    }
  }
  return g;
}

}  // namespace openbatch::engine::upstream
