#include "engine/upstream/replica_chooser.h"

#include <gtest/gtest.h>

#include <map>

namespace openbatch::engine::upstream {
namespace {

Message message(std::string role, std::string content) {
  Message m;
  m.role = std::move(role);
  m.content = std::move(content);
  return m;
}

GenerationRequest chat(std::string system, std::string user) {
  GenerationRequest r;
  if (!system.empty()) r.messages.push_back(message("system", std::move(system)));
  r.messages.push_back(message("user", std::move(user)));
  return r;
}

const std::vector<std::string> kThree = {"http://a/v1", "http://b/v1", "http://c/v1"};

std::vector<ReplicaLoad> idle(size_t n) { return std::vector<ReplicaLoad>(n); }

TEST(PrefixKeyTest, KeysOnTheSystemPromptElseTheFirstMessagesBeginning) {
  EXPECT_EQ(prefix_key(chat("You sort films.", "Alien")), prefix_key(chat("You sort films.", "Heat")));
  EXPECT_NE(prefix_key(chat("You sort films.", "Alien")), prefix_key(chat("You sort books.", "Alien")));
  const std::string shared(kPrefixKeyBytes, 'x');
  EXPECT_EQ(prefix_key(chat("", shared + "one")), prefix_key(chat("", shared + "two")));
  EXPECT_NE(prefix_key(chat("", "one")), prefix_key(chat("", "two")));
  EXPECT_EQ(prefix_key(chat(shared + "a", "q")), prefix_key(chat(shared + "b", "q")));  // its first bytes
  GenerationRequest raw;
  raw.raw_prompt = RawPrompt{"Once upon a time", {}, false};
  EXPECT_NE(prefix_key(raw), 0u);
  EXPECT_EQ(prefix_key(GenerationRequest{}), 0u);  // nothing to key on
}

TEST(ReplicaChooserTest, TheSameKeyGoesToTheSameReplicaAndKeysSpreadOverAll) {
  ReplicaChooser chooser(kThree, Routing::kAffinity);
  std::map<size_t, int> per_replica;
  for (int i = 0; i < 300; ++i) {
    const uint64_t key = prefix_key(chat("system prompt " + std::to_string(i), "q"));
    const auto first = chooser.choose(key, idle(3));
    ASSERT_TRUE(first);
    EXPECT_EQ(chooser.choose(key, idle(3)), first);
    ++per_replica[*first];
  }
  ASSERT_EQ(per_replica.size(), 3u);
  for (const auto& [replica, keys] : per_replica) EXPECT_GT(keys, 50) << replica;
}

TEST(ReplicaChooserTest, AKeyMovesOnWhenItsReplicaIsOverTheBoundAndStaysWhereItWent) {
  ReplicaChooser chooser(kThree, Routing::kAffinity, 1.25);
  const uint64_t key = prefix_key(chat("shared", "q"));
  const size_t home = *chooser.choose(key, idle(3));
  std::vector<ReplicaLoad> loads = idle(3);
  loads[home].load = 4;  // others 0: the bound is ceil(1.25 x 5 / 3) = 3
  const auto moved = chooser.choose(key, loads);
  ASSERT_TRUE(moved);
  EXPECT_NE(*moved, home);
  for (auto& l : loads) l.load = 4;              // all even: under the bound to stay, ceil(1.5 x 13 / 3)
  EXPECT_EQ(chooser.choose(key, loads), moved);  // it stays where it went while the load allows
  loads[*moved].load = 8;                        // under ceil(1.5 x 17 / 3) = 9: stays
  EXPECT_EQ(chooser.choose(key, loads), moved);
  loads[*moved].load = 9;                       // not under ceil(1.5 x 18 / 3) = 9
  EXPECT_EQ(chooser.choose(key, loads), home);  // over: the walk from its hash again
  loads[*moved].load = 4;
  EXPECT_EQ(chooser.choose(key, loads), home);  // and stays there
}

TEST(ReplicaChooserTest, AReplicaTakenOutMovesOnlyItsOwnKeys) {
  // Two choosers that have seen nothing, one with c out: each key's one request is finished before
  // the next key comes, so only the ring decides.
  ReplicaChooser all(kThree, Routing::kAffinity), two(kThree, Routing::kAffinity);
  std::vector<ReplicaLoad> without_c = idle(3);
  without_c[2].eligible = false;
  std::map<size_t, int> moved;
  for (int i = 0; i < 100; ++i) {
    const uint64_t key = prefix_key(chat("prompt " + std::to_string(i), "q"));
    const size_t home = *all.choose(key, idle(3));
    const size_t now = *two.choose(key, without_c);
    all.finished(key);
    two.finished(key);
    EXPECT_NE(now, 2u);
    if (home != 2) {
      EXPECT_EQ(now, home);
    } else {
      ++moved[now];
    }
  }
  EXPECT_EQ(moved.size(), 2u);  // c's keys spread over a and b
}

TEST(ReplicaChooserTest, AFewLiveKeysSpreadEvenlyWhateverTheirHashes) {
  const std::vector<std::string> two = {"http://127.0.0.1:8080/v1", "http://127.0.0.1:8081/v1"};
  int uneven_by_hash = 0;
  for (int set = 0; set < 40; ++set) {
    ReplicaChooser chooser(two, Routing::kAffinity), ring_only(two, Routing::kAffinity);
    std::map<size_t, int> keys_on, hashed_on;
    for (int p = 0; p < 4; ++p) {
      const uint64_t key =
          prefix_key(chat("set " + std::to_string(set) + " prompt " + std::to_string(p), "q"));
      ++keys_on[*chooser.choose(key, idle(2))];  // stays open: live
      ++hashed_on[*ring_only.choose(key, idle(2))];
      ring_only.finished(key);
      EXPECT_EQ(chooser.choose(key, idle(2)), chooser.choose(key, idle(2)));  // and stays there
    }
    EXPECT_EQ(keys_on[0], 2) << set;
    EXPECT_EQ(keys_on[1], 2) << set;
    uneven_by_hash += hashed_on[0] != 2 ? 1 : 0;
  }
  EXPECT_GT(uneven_by_hash, 10);  // as the hashes fall, most sets of 4 split unevenly
}

TEST(ReplicaChooserTest, AKeyWhoseRequestsAllFinishedNoLongerCountsAsLive) {
  const std::vector<std::string> two = {"http://a/v1", "http://b/v1"};
  ReplicaChooser chooser(two, Routing::kAffinity);
  // Keys that the ring sends to a (the same replica as the first).
  const uint64_t first = prefix_key(chat("first", "q"));
  const size_t home = *chooser.choose(first, idle(2));
  chooser.finished(first);
  std::vector<uint64_t> same_home;
  for (int i = 0; same_home.size() < 2 && i < 1000; ++i) {
    const uint64_t key = prefix_key(chat("key " + std::to_string(i), "q"));
    ReplicaChooser probe(two, Routing::kAffinity);
    if (*probe.choose(key, idle(2)) == home) same_home.push_back(key);
  }
  ASSERT_EQ(same_home.size(), 2u);
  EXPECT_EQ(chooser.choose(same_home[0], idle(2)), home);  // first finished: home holds no live key
  EXPECT_NE(chooser.choose(same_home[1], idle(2)), home);  // home has its one live key: the other
  chooser.finished(same_home[0]);
  chooser.finished(same_home[1]);
  chooser.finished(same_home[1]);  // more than it had open: ignored
  EXPECT_EQ(chooser.choose(first, idle(2)), home);
}

// More prompts than it remembers (each client's own system prompt, say): the keys stay bounded, and the
// one forgotten is the one chosen least recently, not a key in use.
TEST(ReplicaChooserTest, RemembersAtMostkStickyKeysForgettingTheLeastRecentlyChosen) {
  const std::vector<std::string> two = {"http://a/v1", "http://b/v1"};
  ReplicaChooser chooser(two, Routing::kAffinity);
  const uint64_t hot = prefix_key(chat("the hot prompt", "q"));
  const uint64_t first_cold = prefix_key(chat("cold 0", "q"));
  for (size_t i = 0; i < kStickyKeys + 1000; ++i) {
    const uint64_t key = prefix_key(chat("cold " + std::to_string(i), "q"));
    ASSERT_TRUE(chooser.choose(key, idle(2)));
    chooser.finished(key);
    if (i % 1000 == 0) {
      ASSERT_TRUE(chooser.choose(hot, idle(2)));  // in use all along
      chooser.finished(hot);
    }
    ASSERT_LE(chooser.remembered(), kStickyKeys);
  }
  EXPECT_EQ(chooser.remembered(), kStickyKeys);
  EXPECT_TRUE(chooser.remembers(hot));
  EXPECT_FALSE(chooser.remembers(first_cold));
  EXPECT_TRUE(chooser.remembers(prefix_key(chat("cold " + std::to_string(kStickyKeys + 999), "q"))));
}

TEST(ReplicaChooserTest, AvoidsTheReplicaAFailedRequestCameFromWhileAnotherIsEligible) {
  ReplicaChooser chooser(kThree, Routing::kAffinity);
  const uint64_t key = prefix_key(chat("shared", "q"));
  const size_t home = *chooser.choose(key, idle(3));
  EXPECT_NE(chooser.choose(key, idle(3), home), home);
  std::vector<ReplicaLoad> only_home = idle(3);
  for (size_t r = 0; r < 3; ++r) only_home[r].eligible = r == home;
  EXPECT_EQ(chooser.choose(key, only_home, home), home);
  for (auto& l : only_home) l.eligible = false;
  EXPECT_EQ(chooser.choose(key, only_home), std::nullopt);
}

TEST(ReplicaChooserTest, RoundRobinTakesEachEligibleReplicaInTurn) {
  ReplicaChooser chooser(kThree, Routing::kRoundRobin);
  std::vector<ReplicaLoad> loads = idle(3);
  loads[1].eligible = false;
  const uint64_t key = prefix_key(chat("shared", "q"));
  std::vector<size_t> order;
  for (int i = 0; i < 4; ++i) order.push_back(*chooser.choose(key, loads));
  EXPECT_EQ(order, (std::vector<size_t>{0, 2, 0, 2}));
}

TEST(ReplicaChooserTest, RequestsWithoutAKeyGoRoundRobin) {
  ReplicaChooser chooser(kThree, Routing::kAffinity);
  std::vector<size_t> order;
  for (int i = 0; i < 3; ++i) order.push_back(*chooser.choose(0, idle(3)));
  EXPECT_EQ(order, (std::vector<size_t>{0, 1, 2}));
}

}  // namespace
}  // namespace openbatch::engine::upstream
