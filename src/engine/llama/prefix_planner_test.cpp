#include "engine/llama/prefix_planner.h"

#include <gtest/gtest.h>

namespace openbatch::engine {
namespace {

constexpr size_t kPrompt = 400;

AdmissionInputs inputs(std::vector<SequenceState> sequences, bool cascade = false, size_t prefix_held = 0) {
  AdmissionInputs in;
  in.sequences = std::move(sequences);
  in.cascade = cascade;
  in.prefix_held = prefix_held;
  in.usable = [](size_t n) { return std::min(n, kPrompt - 1); };
  return in;
}

SequenceState idle(size_t held = 0) { return {true, false, held, 0}; }
SequenceState busy(size_t held = 0, size_t coming = 0) { return {false, false, held, coming}; }

TEST(PrefixPlannerTest, TakesTheIdleSequenceHoldingMostOfThePrompt) {
  const Admission a = plan_admission(inputs({idle(10), busy(), idle(300), idle(300)}));
  EXPECT_EQ(a.kind, Admission::Kind::kStart);
  EXPECT_EQ(a.sequence, 2u);  // the first of the longest
  EXPECT_FALSE(a.copy_from);
}

TEST(PrefixPlannerTest, CopiesALongerPrefixFromABusySequence) {
  const Admission a = plan_admission(inputs({idle(10), busy(300)}));
  EXPECT_EQ(a.kind, Admission::Kind::kStart);
  EXPECT_EQ(a.sequence, 0u);
  ASSERT_TRUE(a.copy_from);
  EXPECT_EQ(*a.copy_from, 1u);
  EXPECT_EQ(a.copy_tokens, 300u);
  // Not worth it below min_copy more than the sequence holds.
  EXPECT_FALSE(plan_admission(inputs({idle(250), busy(300)})).copy_from);
}

TEST(PrefixPlannerTest, WaitsForAPrefixBeingComputed) {
  EXPECT_EQ(plan_admission(inputs({idle(0), busy(0, 300)})).kind, Admission::Kind::kWait);
  EXPECT_EQ(plan_admission(inputs({idle(260), busy(0, 300)})).kind, Admission::Kind::kStart);
  AdmissionInputs now = inputs({idle(0), busy(0, 300)});
  now.may_wait = false;
  EXPECT_EQ(plan_admission(now).kind, Admission::Kind::kStart);
}

TEST(PrefixPlannerTest, LinksToTheSharedPrefix) {
  const Admission a = plan_admission(inputs({busy(), idle(), idle()}, /*cascade=*/true, /*prefix_held=*/300));
  EXPECT_EQ(a.kind, Admission::Kind::kLink);
  EXPECT_EQ(a.sequence, 1u);  // the lowest free id
  EXPECT_EQ(a.shared, 300u);
  EXPECT_FALSE(a.refill_from);
}

TEST(PrefixPlannerTest, RefillsTheSharedPrefixOnlyWhileNothingReadsIt) {
  const Admission a = plan_admission(inputs({busy(320), idle()}, true, /*prefix_held=*/0));
  EXPECT_EQ(a.kind, Admission::Kind::kLink);
  ASSERT_TRUE(a.refill_from);
  EXPECT_EQ(*a.refill_from, 0u);
  EXPECT_EQ(a.shared, 320u);

  SequenceState reader = busy();
  reader.linked = true;
  const Admission b = plan_admission(inputs({reader, busy(320), idle()}, true, 0));
  EXPECT_EQ(b.kind, Admission::Kind::kStart);  // the prefix is in use: copy instead
  ASSERT_TRUE(b.copy_from);
  EXPECT_EQ(*b.copy_from, 1u);
}

TEST(PrefixPlannerTest, NeverSharesTheLastPromptToken) {
  AdmissionInputs in = inputs({idle()}, true, /*prefix_held=*/kPrompt);
  const Admission a = plan_admission(in);
  EXPECT_EQ(a.kind, Admission::Kind::kLink);
  EXPECT_EQ(a.shared, kPrompt - 1);
}

}  // namespace
}  // namespace openbatch::engine
