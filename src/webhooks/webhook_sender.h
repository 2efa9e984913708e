// Delivers the webhook events of the store's outbox (store::EventRecord: batch.completed,
// batch.failed, batch.expired, batch.cancelled) to one URL, signed as OpenAI signs them
// (webhooks/webhook_signature.h), and tries again while the receiver answers anything but 2xx or
// cannot be reached: the first retry after first_retry, each next one twice as late, at most
// max_retry apart, until give_up_after has passed since the batch ended (then the event is marked
// failed and logged).
//
// With many nodes on one store, each event is delivered by one node at a time: a node claims due
// events (Store::claim_events) for claim_duration, and an event whose node died is due again when
// the claim lapses. A restarted server finds what is pending in the store and sends it.
//
//   webhooks::WebhookSender sender(store, transport, clock, options);
//   sender.start();  // a thread: deliver_due() every poll_interval (on the clock), at once after wake()
//   ...
//   sender.stop();
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "store/store.h"

namespace openbatch::webhooks {

// One POST of an event: the URL, the headers (webhook-id, webhook-timestamp, webhook-signature,
// content-type) and the JSON body.
struct WebhookRequest {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Where the sender's POSTs go: libcurl (webhooks/curl_webhook_transport.h), or a test's fake.
class WebhookTransport {
 public:
  virtual ~WebhookTransport() = default;
  // The HTTP status the receiver answered, or an error saying why there was none (refused address,
  // connection refused, timeout). Ends early, with an error, once *abort becomes true. Thread-safe.
  virtual Result<int> post(const WebhookRequest& request, const std::atomic<bool>& abort) = 0;
};

struct WebhookSenderOptions {
  std::string url;  // where every event goes
  std::string key;  // the secret's bytes (decode_webhook_secret)
  std::string node_id = "node";
  std::chrono::milliseconds poll_interval{500};     // how often the store is asked for due events
  std::chrono::milliseconds claim_duration{60000};  // longer than one POST may take
  std::chrono::milliseconds first_retry{2000};
  std::chrono::milliseconds max_retry{60000};
  std::chrono::milliseconds give_up_after{std::chrono::hours(24)};
  int64_t claim_limit = 16;  // events claimed at once
};

// The JSON an event is delivered as, in OpenAI's shape:
// {"id":"evt_…","object":"event","type":"batch.completed","created_at":N,"data":{"id":"batch_…"}}.
std::string event_body(const store::EventRecord& event);
// The webhook-id header of an event: the same on every attempt, "wh_" and the event id's digits.
std::string webhook_id_of(const store::EventRecord& event);

class WebhookSender {
 public:
  // REQUIRES: store, transport and clock outlive the sender.
  WebhookSender(store::Store& store, WebhookTransport& transport, const Clock& clock,
                WebhookSenderOptions options);
  ~WebhookSender();  // stops
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // One round: claims the events due now and tries each once, recording the outcome. Returns how many
  // were tried, or the store's error. Not to be called while the thread runs.
  Result<int> deliver_due();

  // The delay before the next attempt of an event that has failed `attempts` times (1 or more).
  std::chrono::milliseconds retry_delay(int64_t attempts) const;

  // Thread-safe, as is stop().
  void start();
  // Asks the thread for a round now (a batch has just ended here), not at the next poll. Thread-safe.
  void wake();
  // Ends the thread, and the attempt in progress (it is due again at once, for the next start).
  // Idempotent.
  void stop();

 private:
  void run();

  store::Store& store_;
  WebhookTransport& transport_;
  const Clock& clock_;
  const WebhookSenderOptions options_;
  std::mutex lifecycle_mu_;  // one start() or stop() at a time (stop() may come from two threads)
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;              // wake(): a round is asked for
  std::atomic<bool> abort_{false};  // stop(): the POST in progress ends
  std::thread thread_;
};

}  // namespace openbatch::webhooks
