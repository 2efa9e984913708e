#include "engine/upstream/replica_chooser.h"

#include <algorithm>
#include <cmath>
#include <string_view>

namespace openbatch::engine::upstream {

namespace {

constexpr int kPointsPerReplica = 64;

// FNV-1a, then splitmix64's finaliser so that near keys land far apart on the ring.
uint64_t hash_bytes(std::string_view bytes, uint64_t h = 14695981039346656037ull) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::string_view head(const std::string& text) { return std::string_view(text).substr(0, kPrefixKeyBytes); }

}  // namespace

uint64_t prefix_key(const GenerationRequest& request) {
  uint64_t h = hash_bytes("");
  bool keyed = false;
  if (request.raw_prompt) {
    const RawPrompt& p = *request.raw_prompt;
    if (!p.tokens.empty()) {
      const size_t n = std::min(p.tokens.size(), kPrefixKeyBytes / sizeof(int32_t));
      h = hash_bytes(std::string_view(reinterpret_cast<const char*>(p.tokens.data()), n * sizeof(int32_t)));
      keyed = true;
    } else if (!p.text.empty()) {
      h = hash_bytes(head(p.text));
      keyed = true;
    }
  } else {
    size_t bytes = 0;
    for (const Message& m : request.messages) {
      if (m.role != "system" || bytes >= kPrefixKeyBytes) break;
      const std::string_view part = std::string_view(m.content).substr(0, kPrefixKeyBytes - bytes);
      h = hash_bytes(part, h);
      bytes += part.size();
      keyed = true;
    }
    if (!keyed && !request.messages.empty() && !request.messages[0].content.empty()) {
      h = hash_bytes(head(request.messages[0].content));
      keyed = true;
    }
  }
  if (!keyed) return 0;
  const uint64_t key = mix(h);
  return key == 0 ? 1 : key;
}

ReplicaChooser::ReplicaChooser(const std::vector<std::string>& names, Routing routing, double load_factor)
    : routing_(routing),
      load_factor_(std::max(1.0, load_factor)),
      replicas_(names.size()),
      live_keys_(names.size(), 0) {
  for (size_t r = 0; r < names.size(); ++r) {
    for (int i = 0; i < kPointsPerReplica; ++i) {
      ring_.emplace_back(mix(hash_bytes(names[r] + "#" + std::to_string(i))), r);
    }
  }
  std::sort(ring_.begin(), ring_.end());
}

std::optional<size_t> ReplicaChooser::next_round_robin(const std::vector<bool>& allowed) {
  for (size_t i = 0; i < replicas_; ++i) {
    const size_t r = (cursor_ + i) % replicas_;
    if (!allowed[r]) continue;
    cursor_ = r + 1;
    return r;
  }
  return std::nullopt;
}

size_t ReplicaChooser::remember(uint64_t key, size_t replica) {
  auto it = keys_.find(key);
  if (it == keys_.end()) {
    if (keys_.size() >= kStickyKeys) {
      // The key chosen least recently is forgotten: its requests' finished() calls are ignored from now on.
      auto gone = keys_.find(by_use_.back());
      if (gone->second.open > 0) --live_keys_[gone->second.replica];
      keys_.erase(gone);
      by_use_.pop_back();
    }
    by_use_.push_front(key);
    it = keys_.emplace(key, KeyState{0, 0, by_use_.begin()}).first;
  } else {
    by_use_.splice(by_use_.begin(), by_use_, it->second.use);
  }
  KeyState& k = it->second;
  if (k.open > 0) --live_keys_[k.replica];
  k.replica = replica;
  ++k.open;
  ++live_keys_[replica];
  return replica;
}

void ReplicaChooser::finished(uint64_t key) {
  auto it = keys_.find(key);
  if (it == keys_.end() || it->second.open == 0) return;
  if (--it->second.open == 0) --live_keys_[it->second.replica];
}

int64_t ReplicaChooser::key_bound(uint64_t key, const std::vector<bool>& allowed, size_t n) const {
  int64_t live = 1;  // this key
  for (size_t r = 0; r < replicas_; ++r) live += allowed[r] ? live_keys_[r] : 0;
  if (auto it = keys_.find(key); it != keys_.end() && it->second.open > 0 && allowed[it->second.replica])
    --live;
  const double mean = static_cast<double>(live) / static_cast<double>(n);
  return static_cast<int64_t>(std::ceil(mean) + std::floor((load_factor_ - 1) * mean));
}

std::optional<size_t> ReplicaChooser::choose(uint64_t key, const std::vector<ReplicaLoad>& loads,
                                             std::optional<size_t> avoid) {
  std::vector<bool> allowed(replicas_, false);
  size_t eligible = 0;
  for (size_t r = 0; r < replicas_; ++r) {
    allowed[r] = loads[r].eligible;
    eligible += allowed[r] ? 1 : 0;
  }
  if (eligible == 0) return std::nullopt;
  if (avoid && *avoid < replicas_ && allowed[*avoid] && eligible > 1) {
    allowed[*avoid] = false;
    --eligible;
  }
  if (routing_ == Routing::kRoundRobin || key == 0) return next_round_robin(allowed);

  int64_t total = 0;
  for (size_t r = 0; r < replicas_; ++r) total += allowed[r] ? loads[r].load : 0;
  const auto bound = static_cast<int64_t>(
      std::ceil(load_factor_ * static_cast<double>(total + 1) / static_cast<double>(eligible)));
  const int64_t keys_bound = key_bound(key, allowed, eligible);
  // The live keys of r, key's own not counted.
  auto others_live = [&](size_t r) {
    auto it = keys_.find(key);
    const bool own = it != keys_.end() && it->second.open > 0 && it->second.replica == r;
    return live_keys_[r] - (own ? 1 : 0);
  };
  const auto stay_bound = static_cast<int64_t>(
      std::ceil(kStayFactor * static_cast<double>(total + 1) / static_cast<double>(eligible)));
  if (auto last = keys_.find(key); last != keys_.end()) {
    const size_t r = last->second.replica;
    if (allowed[r] && loads[r].load < stay_bound && others_live(r) < keys_bound) return remember(key, r);
  }
  // The first walk wants a replica under both bounds; when none is (the replicas with few keys have
  // many requests), the load decides alone. Some replica is under the load's bound (the mean is
  // below it), so the second walk ends within one turn.
  for (const bool count_keys : {true, false}) {
    auto at = std::lower_bound(ring_.begin(), ring_.end(), std::make_pair(key, size_t{0}));
    for (size_t step = 0; step < ring_.size(); ++step, ++at) {
      if (at == ring_.end()) at = ring_.begin();
      const size_t r = at->second;
      if (allowed[r] && loads[r].load < bound && (!count_keys || others_live(r) < keys_bound)) {
        return remember(key, r);
      }
    }
  }
  return next_round_robin(allowed);
}

}  // namespace openbatch::engine::upstream
