#include "webhooks/webhook_sender.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "webhooks/webhook_signature.h"

namespace openbatch::webhooks {

std::string event_body(const store::EventRecord& event) {
  nlohmann::ordered_json body;
  body["id"] = event.id;
  body["object"] = "event";
  body["type"] = event.type;
  body["created_at"] = event.created_at;
  body["data"] = {{"id", event.batch_id}};
  return body.dump();
}

std::string webhook_id_of(const store::EventRecord& event) {
  const std::string& id = event.id;
  return "wh_" + (id.rfind("evt_", 0) == 0 ? id.substr(4) : id);
}

WebhookSender::WebhookSender(store::Store& store, WebhookTransport& transport, const Clock& clock,
                             WebhookSenderOptions options)
    : store_(store), transport_(transport), clock_(clock), options_(std::move(options)) {}

WebhookSender::~WebhookSender() { stop(); }

std::chrono::milliseconds WebhookSender::retry_delay(int64_t attempts) const {
  std::chrono::milliseconds delay = options_.first_retry;
  for (int64_t i = 1; i < attempts && delay < options_.max_retry; ++i) delay *= 2;
  return std::min(delay, options_.max_retry);
}

Result<int> WebhookSender::deliver_due() {
  const int64_t now_ms = clock_.now_millis();
  auto claimed = store_.claim_events(options_.node_id, options_.claim_limit, now_ms,
                                     now_ms + options_.claim_duration.count());
  if (!claimed) return claimed.status();
  for (const store::EventRecord& event : *claimed) {
    WebhookRequest request;
    request.url = options_.url;
    request.body = event_body(event);
    const std::string webhook_id = webhook_id_of(event);
    const int64_t timestamp = clock_.now_seconds();
    request.headers = {
        {"content-type", "application/json"},
        {"webhook-id", webhook_id},
        {"webhook-timestamp", std::to_string(timestamp)},
        {"webhook-signature", sign_webhook(options_.key, webhook_id, timestamp, request.body)}};
    auto answer = transport_.post(request, abort_);
    store::EventAttempt attempt;
    attempt.event_id = event.id;
    attempt.lease_token = event.lease_token;
    if (answer && *answer >= 200 && *answer < 300) {
      attempt.state = store::EventState::kDelivered;
      attempt.next_attempt_ms = clock_.now_millis();
    } else {
      attempt.error =
          answer ? "the receiver answered HTTP " + std::to_string(*answer) : answer.status().message();
      const int64_t ended_ms = clock_.now_millis();
      // An attempt cut short by stop() is due again at once, for the next start (or another node).
      const int64_t next_ms = ended_ms + (abort_ ? 0 : retry_delay(event.attempts + 1).count());
      if (!abort_ && next_ms - event.created_at * 1000 > options_.give_up_after.count()) {
        attempt.state = store::EventState::kFailed;
        attempt.next_attempt_ms = ended_ms;
        std::fprintf(stderr, "openbatch: webhook %s (%s of %s) given up after %lld attempts: %s\n",
                     event.id.c_str(), event.type.c_str(), event.batch_id.c_str(),
                     static_cast<long long>(event.attempts + 1), attempt.error.c_str());
      } else {
        attempt.state = store::EventState::kPending;
        attempt.next_attempt_ms = next_ms;
        std::fprintf(stderr, "openbatch: webhook %s (%s of %s) to %s: %s; next try in %lld ms\n",
                     event.id.c_str(), event.type.c_str(), event.batch_id.c_str(), options_.url.c_str(),
                     attempt.error.c_str(), static_cast<long long>(next_ms - ended_ms));
      }
    }
    // Not stored: the claim lapsed and another node has the event now (it sends it again: a receiver
    // tells repeats by webhook-id). A store error leaves the claim to lapse, and the event is retried.
    auto stored = store_.record_event_attempt(attempt);
    if (!stored) return stored.status();
  }
  return static_cast<int>(claimed->size());
}

void WebhookSender::start() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (thread_.joinable()) return;
  std::lock_guard lock(mu_);
  stopping_ = false;
  abort_ = false;
  thread_ = std::thread([this] { run(); });
}

void WebhookSender::stop() {
  std::lock_guard lifecycle(lifecycle_mu_);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  abort_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WebhookSender::run() {
  for (;;) {
    auto tried = deliver_due();
    if (!tried) std::fprintf(stderr, "openbatch: webhooks: %s\n", tried.status().message().c_str());
    std::unique_lock lock(mu_);
    if (stopping_) return;
    // A full round may have left more due events: go on at once.
    if (tried && *tried >= options_.claim_limit) continue;
    if (clock_.wait_for(lock, cv_, options_.poll_interval, [this] { return stopping_ || woken_; }) &&
        stopping_)
      return;
    woken_ = false;
  }
}

void WebhookSender::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

}  // namespace openbatch::webhooks
