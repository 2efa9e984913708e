#include "systems.h"

namespace openbatch::bench {

using nlohmann::json;

void count_answer(const json& completion, int max_tokens, Measurement& m) {
  const json usage = completion.value("usage", json::object());
  const long generated = usage.value("completion_tokens", 0L);
  ++m.requests;
  m.prompt_tokens += usage.value("prompt_tokens", 0L);
  m.generated_tokens += generated;
  if (generated < max_tokens) ++m.short_answers;
  auto details = usage.find("prompt_tokens_details");
  if (details != usage.end() && details->is_object()) m.cached_tokens += details->value("cached_tokens", 0L);
}

}  // namespace openbatch::bench
