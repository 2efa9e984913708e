// Which upstream replica a request goes to.
//   - affinity (the default): requests with the same prefix key go to the same replica, so that its
//     prompt cache holds what they share. Consistent hashing with bounded load (Mirrokni, Thorup and
//     Zadimoghaddam, 2018): each replica owns points on a ring; a key walks the ring from its hash and
//     takes the first replica whose load (in flight + queued) is under ceil(load_factor x the mean load
//     of the replicas, this request counted); a replica added or gone moves only its own keys. A key
//     that had to move on stays where it went while that replica's load allows (the choices of the
//     last kStickyKeys keys are kept), so that few keys end up split over replicas whole, not each
//     request of them wherever the load was lowest.
//   - round-robin: each request the next replica, whatever its prompt.
// Requests without a key (embeddings) go round-robin in both.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/engine.h"

namespace openbatch::engine::upstream {

enum class Routing { kAffinity, kRoundRobin };

// The prefix key of a request: a hash of its leading system messages' text (the system or developer
// prompt, up to kPrefixKeyBytes), else of the first kPrefixKeyBytes of its first message's text, else of
// its raw prompt's first kPrefixKeyBytes (or token ids). 0: nothing to key on.
inline constexpr size_t kPrefixKeyBytes = 2048;
uint64_t prefix_key(const GenerationRequest& request);

struct ReplicaLoad {
  bool eligible = true;  // false: not to be chosen (taken out of rotation)
  int64_t load = 0;      // its requests in flight and queued
};

// Not thread-safe (round-robin keeps a cursor): the engine calls it under its lock.
class ReplicaChooser {
 public:
  // names: the replicas (their URLs) in order; they place the replicas on the ring.
  ReplicaChooser(const std::vector<std::string>& names, Routing routing, double load_factor = 1.25);

  // The replica for a request of key, given every replica's load (loads.size() == names.size()).
  // avoid, when set, is taken only when no other replica is eligible (a request that just failed there).
  // nullopt when no replica is eligible.
  std::optional<size_t> choose(uint64_t key, const std::vector<ReplicaLoad>& loads,
                               std::optional<size_t> avoid = std::nullopt);

 private:
  std::optional<size_t> next_round_robin(const std::vector<bool>& allowed);
  size_t remember(uint64_t key, size_t replica);

  Routing routing_;
  double load_factor_;
  std::vector<std::pair<uint64_t, size_t>> ring_;  // (point, replica), sorted by point
  size_t replicas_ = 0;
  size_t cursor_ = 0;
  std::unordered_map<uint64_t, size_t> last_;  // key -> the replica its last request went to
};

inline constexpr size_t kStickyKeys = 4096;

}  // namespace openbatch::engine::upstream
