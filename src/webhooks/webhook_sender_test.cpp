#include "webhooks/webhook_sender.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "common/fake_clock_for_test.h"
#include "common/temp_dir.h"
#include "store/records_for_test.h"
#include "store/sqlite_store.h"
#include "webhooks/event_waking_store.h"
#include "webhooks/webhook_signature.h"

namespace openbatch::webhooks {
namespace {

using openbatch::testing::FakeClock;

// Answers each POST with the next status of a script (the last one again once the script is over),
// and keeps what it was sent.
class ScriptedTransport final : public WebhookTransport {
 public:
  std::vector<int> answers{200};
  std::vector<WebhookRequest> sent;

  Result<int> post(const WebhookRequest& request, const std::atomic<bool>&) override {
    sent.push_back(request);
    const int status = answers[std::min(sent.size(), answers.size()) - 1];
    if (status == 0) return Status::unavailable("Failed to connect to 127.0.0.1 port 9: Connection refused");
    return status;
  }
};

std::string header(const WebhookRequest& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "";
}

constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

class WebhookSenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::SqliteOptions o;
    o.batch_events = true;
    auto s = store::open_sqlite_store(dir_.path() + "/openbatch.sqlite3", std::move(o));
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    store_ = std::move(s).value();
    ASSERT_TRUE(store_->insert_batch(batch("batch_1")));
    ASSERT_TRUE(store_->fail_batch("batch_1", {{"invalid_json_line", "bad", "", 1}}, clock_.now_seconds()));
    options_.url = "https://hooks.example.com/openbatch";
    options_.key = *decode_webhook_secret(kSecret);
  }

  store::BatchRecord batch(const std::string& id) const {
    store::BatchRecord b = store::test_batch(id);
    b.created_at = clock_.now_seconds();
    b.expires_at = b.created_at + 86400;
    return b;
  }

  store::EventRecord only_event() {
    auto events = store_->batch_events("batch_1");
    EXPECT_TRUE(events.is_ok());
    EXPECT_EQ(events->size(), 1u);
    return events->empty() ? store::EventRecord{} : events->front();
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  ScriptedTransport transport_;
  WebhookSenderOptions options_;
};

TEST_F(WebhookSenderTest, PostsTheEventSignedInOpenAIsShape) {
  WebhookSender sender(*store_, transport_, clock_, options_);
  ASSERT_EQ(*sender.deliver_due(), 1);
  ASSERT_EQ(transport_.sent.size(), 1u);
  const WebhookRequest& r = transport_.sent[0];
  EXPECT_EQ(r.url, options_.url);
  const store::EventRecord event = only_event();
  EXPECT_EQ(event.state, store::EventState::kDelivered);
  EXPECT_EQ(event.attempts, 1);
  EXPECT_EQ(r.body, R"({"id":")" + event.id + R"(","object":"event","type":"batch.failed","created_at":)" +
                        std::to_string(clock_.now_seconds()) + R"(,"data":{"id":"batch_1"}})");
  EXPECT_EQ(header(r, "webhook-id"), webhook_id_of(event));
  EXPECT_EQ(header(r, "webhook-timestamp"), std::to_string(clock_.now_seconds()));
  EXPECT_EQ(header(r, "webhook-signature"),
            sign_webhook(options_.key, header(r, "webhook-id"), clock_.now_seconds(), r.body));
  EXPECT_EQ(header(r, "content-type"), "application/json");
  // Delivered once: nothing more to send.
  clock_.advance(std::chrono::hours(1));
  EXPECT_EQ(*sender.deliver_due(), 0);
}

TEST_F(WebhookSenderTest, RetriesSoonThenDoublingAtMostAMinuteApart) {
  transport_.answers = {500, 0, 503, 500, 500, 500, 500, 200};
  WebhookSender sender(*store_, transport_, clock_, options_);
  ASSERT_EQ(*sender.deliver_due(), 1);
  const std::vector<int64_t> delays_s = {2, 4, 8, 16, 32, 60, 60};
  for (int64_t d : delays_s) {
    clock_.advance(std::chrono::seconds(d) - std::chrono::milliseconds(1));
    EXPECT_EQ(*sender.deliver_due(), 0) << "not due before " << d << " s";
    clock_.advance(std::chrono::milliseconds(1));
    EXPECT_EQ(*sender.deliver_due(), 1) << "due after " << d << " s";
  }
  ASSERT_EQ(transport_.sent.size(), 8u);
  // Every attempt is the same message (one webhook-id, one body), signed at its own time.
  for (const auto& r : transport_.sent) {
    EXPECT_EQ(header(r, "webhook-id"), header(transport_.sent[0], "webhook-id"));
    EXPECT_EQ(r.body, transport_.sent[0].body);
  }
  EXPECT_NE(header(transport_.sent[7], "webhook-timestamp"), header(transport_.sent[0], "webhook-timestamp"));
  const store::EventRecord event = only_event();
  EXPECT_EQ(event.state, store::EventState::kDelivered);
  EXPECT_EQ(event.attempts, 8);
}

TEST_F(WebhookSenderTest, GivesUpAfterADay) {
  transport_.answers = {500};
  WebhookSender sender(*store_, transport_, clock_, options_);
  ASSERT_EQ(*sender.deliver_due(), 1);
  int attempts = 1;
  for (int i = 0; i < 2000 && only_event().state == store::EventState::kPending; ++i) {
    clock_.advance(std::chrono::seconds(60));
    attempts += *sender.deliver_due();
  }
  const store::EventRecord event = only_event();
  EXPECT_EQ(event.state, store::EventState::kFailed);
  EXPECT_EQ(event.attempts, attempts);
  EXPECT_NE(event.last_error.find("HTTP 500"), std::string::npos) << event.last_error;
  // A day of tries at most a minute apart, after the first few shorter ones.
  EXPECT_GE(attempts, 24 * 60 - 5);
  EXPECT_LE(attempts, 24 * 60 + 5);
  clock_.advance(std::chrono::hours(1));
  EXPECT_EQ(*sender.deliver_due(), 0);
}

// The thread's polls come on the clock: the test steps it, and the thread sends what is due at each.
TEST_F(WebhookSenderTest, TheThreadDeliversWhatIsDue) {
  transport_.answers = {500, 200};
  WebhookSender sender(*store_, transport_, clock_, options_);
  sender.start();
  // The round at start: one attempt, then asleep until the next poll.
  ASSERT_TRUE(clock_.wait_for_sleepers(1));
  EXPECT_EQ(only_event().attempts, 1);
  // The poll half a second later finds nothing due: the retry waits first_retry (2 s).
  clock_.advance(options_.poll_interval);
  ASSERT_TRUE(clock_.wait_for_sleepers(1));
  EXPECT_EQ(only_event().attempts, 1);
  EXPECT_EQ(only_event().state, store::EventState::kPending);
  clock_.advance(options_.first_retry - options_.poll_interval);
  ASSERT_TRUE(clock_.wait_for_sleepers(1));
  sender.stop();
  EXPECT_EQ(only_event().state, store::EventState::kDelivered);
  EXPECT_EQ(only_event().attempts, 2);
  EXPECT_EQ(transport_.sent.size(), 2u);
}

// A batch that ends through the EventWakingStore wakes the sender: its event goes out at once, though
// the next poll is an hour away.
TEST_F(WebhookSenderTest, ABatchEndedThroughTheWakingStoreIsSentAtOnceNotAtThePoll) {
  WebhookSenderOptions o = options_;
  o.poll_interval = std::chrono::hours(1);
  std::atomic<WebhookSender*> target{nullptr};
  EventWakingStore waking(std::move(store_), [&target] {
    if (WebhookSender* s = target.load()) s->wake();
  });
  auto state_of = [&waking](const std::string& batch) {
    auto events = waking.batch_events(batch);
    return events.is_ok() && events->size() == 1 ? events->front().state : store::EventState::kFailed;
  };
  WebhookSender sender(waking, transport_, clock_, o);
  target = &sender;
  sender.start();
  // The clock never moves here: every round is the one at start or one that a wake asked for.
  ASSERT_TRUE(clock_.wait_for_sleeps_begun(1));
  EXPECT_EQ(state_of("batch_1"), store::EventState::kDelivered) << "the round at start";
  ASSERT_TRUE(waking.insert_batch(batch("batch_2")));
  ASSERT_TRUE(waking.fail_batch("batch_2", {{"invalid_json_line", "bad", "", 1}}, clock_.now_seconds()));
  ASSERT_TRUE(clock_.wait_for_sleeps_begun(2)) << "no round after the wake";
  EXPECT_EQ(state_of("batch_2"), store::EventState::kDelivered) << "woken, not polled";
  sender.stop();
  target = nullptr;
}

}  // namespace
}  // namespace openbatch::webhooks
