// Where an admitted request starts, decided over plain data (no model): which free sequence it takes,
// whether it first copies a prefix's KV from another sequence, links to the shared prefix sequence
// (cascade attention), or waits a step for a prefix another sequence is computing right now.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

namespace openbatch::engine {

// What the engine knows of one sequence when a request is admitted.
struct SequenceState {
  bool idle = false;
  bool linked = false;  // reads a shared prefix in place: its own KV holds no prefix to give
  size_t held = 0;      // tokens of the request's prompt its own KV holds (their common prefix)
  size_t coming = 0;    // while it prefills: tokens of the request's prompt it will hold soon
};

struct AdmissionInputs {
  std::vector<SequenceState> sequences;  // at least one idle
  bool cascade = false;                  // there is a shared prefix sequence
  size_t prefix_held = 0;                // tokens of the prompt the shared prefix sequence holds
  // The most of n prompt tokens a sequence may take from elsewhere: never the last one (decoded again
  // for the first draw's logits), never part of an image.
  std::function<size_t(size_t)> usable;
  size_t min_copy = 64;  // below this many tokens, computing them again costs about as much as a copy
  bool may_wait = true;  // false: the request starts now whatever is coming
};

struct Admission {
  enum class Kind { kWait, kLink, kStart };
  Kind kind = Kind::kStart;
  size_t sequence = 0;
  // kLink: the prompt's first `shared` tokens are read from the shared prefix sequence, which first
  // takes them from sequence refill_from when set.
  size_t shared = 0;
  std::optional<size_t> refill_from;
  // kStart: the sequence first takes the KV of copy_tokens tokens from copy_from when set.
  std::optional<size_t> copy_from;
  size_t copy_tokens = 0;
};

// Waits when a prefilling sequence will soon hold min_copy more of the prompt than any holds now;
// with cascade, links when the shared prefix holds (or a sequence can give it) min_copy tokens; else
// takes the idle sequence holding the most of the prompt, copying from another that holds min_copy
// more.
Admission plan_admission(const AdmissionInputs& in);

}  // namespace openbatch::engine
