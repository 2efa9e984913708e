// Which upstream replica a request goes to.
//   - affinity (the default): requests with the same prefix key go to the same replica, so that its
//     prompt cache holds what they share. Consistent hashing with bounded load (Mirrokni, Thorup and
//     Zadimoghaddam, 2018): each replica owns points on a ring; a key walks the ring from its hash and
//     takes the first replica whose load (in flight + queued) is under ceil(load_factor x the mean load
//     of the replicas, this request counted); a replica added or gone moves only its own keys. The
//     live keys (those with requests chosen and not yet finished) are bounded the same way: a key
//     new to the walk passes a replica that has more than its share of them (ceil(m) + floor((
//     load_factor - 1) x m), m the mean live keys a replica, this key counted), so that a few keys
//     (4 system prompts over 2 replicas) spread evenly rather than as their hashes fall (3 and 1),
//     which would send the busier replica's overflow to the other, a key split over both. A key
//     stays where it went (the choices of the last kStickyKeys keys are kept) while that replica's
//     load is under ceil(kStayFactor x the mean) and its share of live keys allows: keys that had to
//     move are moved whole, and the queues' random drift (the pool's idle replicas take work from
//     busy ones) does not move a key whose replica's slots hold its prefix.
//   - round-robin: each request the next replica, whatever its prompt.
// Requests without a key (embeddings) go round-robin in both.
#pragma once

#include <cstdint>
#include <list>
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
  // With affinity, a keyed request chosen is open until finished(key) is called for it.
  std::optional<size_t> choose(uint64_t key, const std::vector<ReplicaLoad>& loads,
                               std::optional<size_t> avoid = std::nullopt);
  // A request of key that choose() placed is done there: answered, failed, cancelled, or about to be
  // chosen again. Unknown keys (0, round-robin, forgotten) are ignored.
  void finished(uint64_t key);

  // The keys remembered (at most kStickyKeys: past it the key chosen least recently is forgotten), and
  // whether key is one of them.
  size_t remembered() const { return keys_.size(); }
  bool remembers(uint64_t key) const { return keys_.contains(key); }

 private:
  struct KeyState {
    size_t replica = 0;                 // where its last request went
    int64_t open = 0;                   // its requests chosen and not finished: live while > 0
    std::list<uint64_t>::iterator use;  // its place in by_use_
  };

  std::optional<size_t> next_round_robin(const std::vector<bool>& allowed);
  size_t remember(uint64_t key, size_t replica);
  // The most live keys a replica may hold for key to go there, of n eligible replicas.
  int64_t key_bound(uint64_t key, const std::vector<bool>& allowed, size_t n) const;

  Routing routing_;
  double load_factor_;
  std::vector<std::pair<uint64_t, size_t>> ring_;  // (point, replica), sorted by point
  size_t replicas_ = 0;
  size_t cursor_ = 0;
  std::unordered_map<uint64_t, KeyState> keys_;  // at most kStickyKeys
  std::list<uint64_t> by_use_;                   // keys_, the one chosen last first
  std::vector<int64_t> live_keys_;               // per replica: its keys with open > 0
};

inline constexpr size_t kStickyKeys = 4096;
inline constexpr double kStayFactor = 1.5;

}  // namespace openbatch::engine::upstream
