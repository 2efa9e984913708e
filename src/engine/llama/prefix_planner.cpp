#include "engine/llama/prefix_planner.h"

#include <algorithm>

namespace openbatch::engine {

namespace {

// The sequence other than `except` whose own KV holds the most of the prompt, at least `at_least`.
std::optional<size_t> best_donor(const std::vector<SequenceState>& s, std::optional<size_t> except,
                                 size_t at_least) {
  std::optional<size_t> donor;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i != except && !s[i].linked && s[i].held >= at_least && (!donor || s[i].held > s[*donor].held))
      donor = i;
  }
  return donor;
}

std::optional<Admission> plan_link(const AdmissionInputs& in) {
  const auto& s = in.sequences;
  Admission a;
  a.kind = Admission::Kind::kLink;
  a.shared = in.usable(in.prefix_held);
  const bool any_linked = std::any_of(s.begin(), s.end(), [](const SequenceState& x) { return x.linked; });
  // While nothing reads the shared prefix it may be replaced by a longer one a sequence holds.
  if (a.shared < in.min_copy && !any_linked) {
    const auto donor = best_donor(s, std::nullopt, in.min_copy);
    if (!donor || in.usable(s[*donor].held) < in.min_copy) return std::nullopt;
    a.shared = in.usable(s[*donor].held);
    a.refill_from = donor;
  }
  if (a.shared < in.min_copy) return std::nullopt;
  // The lowest free id: llama.cpp splits a step at every gap between the ids of its sequences.
  a.sequence = static_cast<size_t>(
      std::find_if(s.begin(), s.end(), [](const SequenceState& x) { return x.idle; }) - s.begin());
  return a;
}

}  // namespace

Admission plan_admission(const AdmissionInputs& in) {
  const auto& s = in.sequences;
  size_t available = 0, coming = 0;
  for (const SequenceState& x : s) {
    available = std::max(available, x.held);
    coming = std::max(coming, x.coming);
  }
  if (in.may_wait && coming >= available + in.min_copy) return {Admission::Kind::kWait};
  if (in.cascade) {
    if (auto link = plan_link(in)) return *link;
  }
  Admission a;
  a.kind = Admission::Kind::kStart;
  std::optional<size_t> best;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i].idle && (!best || s[i].held > s[*best].held)) best = i;
  }
  a.sequence = best.value_or(0);
  a.copy_from = best_donor(s, a.sequence, s[a.sequence].held + in.min_copy);
  if (a.copy_from) a.copy_tokens = s[*a.copy_from].held;
  return a;
}

}  // namespace openbatch::engine
