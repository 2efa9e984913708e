#include "api/fleet_forwarding.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <utility>

#include "api/event_stream.h"
#include "api/http_server.h"
#include "batch/batch_service.h"
#include "engine/upstream/upstream_http.h"

namespace openbatch::api {

namespace {

using engine::upstream::HttpReply;
using engine::upstream::UpstreamConnection;

constexpr std::chrono::seconds kTimeout{kForwardTimeoutSeconds};

void mark_forwarded(UpstreamConnection& c) { c.set_headers({std::string(kForwardedHeader) + ": 1"}); }

// A forwarded stream: its call runs on a thread of StreamRelays, which passes the events on to out as
// they come, until the call ends, the client goes (cancel()) or the relays stop.
struct StreamRelay final : engine::GenerationHandle {
  void cancel() override { cancelled = true; }

  std::shared_ptr<EventStream> out = std::make_shared<EventStream>();
  std::atomic<bool> cancelled{false};
  std::mutex mu;
  std::condition_variable cv;
  bool streaming = false;  // the node answered 2xx and its events have begun
  bool done = false;       // the call has ended; reply holds how (its body when it did not stream)
  HttpReply reply;
};

// Answers res with a reply that came whole (or with why none came). False when the node could not be
// connected to (the next may be tried).
bool answer_with(httplib::Response& res, const HttpReply& reply, const std::string& node) {
  if (reply.status != 0) {
    res.status = static_cast<int>(reply.status);
    res.set_content(reply.body, "application/json");
    return true;
  }
  if (reply.connect_failed) return false;
  if (reply.aborted) {
    res.status = 499;  // nobody reads it: the client has gone
    return true;
  }
  send_error(res, Status::unavailable("The node of this fleet that serves the model (" + node +
                                      ") did not answer: " + reply.transport_error));
  return true;
}

// Forwards a stream to url: true when res holds the answer (events, or a reply that came whole).
bool forward_stream(StreamRelays& relays, const std::string& url, const std::string& body,
                    const std::string& key, httplib::Response& res, const std::string& node) {
  auto relay = std::make_shared<StreamRelay>();
  const bool started = relays.start([&relays, relay, url, body, key] {
    HttpReply reply;
    {
      UpstreamConnection connection;
      mark_forwarded(connection);
      reply = connection.call(
          url, body, key, kTimeout, [&] { return relay->cancelled.load() || relays.stopping(); },
          [&relay](std::string_view bytes) {
            {
              std::lock_guard lock(relay->mu);
              relay->streaming = true;
            }
            relay->cv.notify_all();
            relay->out->push(std::string(bytes));
          });
    }
    {
      std::lock_guard lock(relay->mu);
      relay->reply = std::move(reply);
      relay->done = true;
    }
    relay->cv.notify_all();
    relay->out->push("", true);
  });
  if (!started) {
    send_error(res, Status::unavailable("The server is shutting down."));
    return true;
  }
  std::unique_lock lock(relay->mu);
  while (!relay->cv.wait_for(lock, std::chrono::milliseconds(50),
                             [&] { return relay->streaming || relay->done; })) {
    if (HttpServer::client_gone()) relay->cancel();
  }
  if (relay->streaming) {
    lock.unlock();
    relay->out->set_handles({relay});
    EventStream::serve(relay->out, res);
    return true;
  }
  return answer_with(res, relay->reply, node);
}

}  // namespace

bool forward_to_fleet(RouteContext& ctx, const httplib::Request& req, httplib::Response& res,
                      const std::string& model, bool stream) {
  if (ctx.batches == nullptr || req.has_header(kForwardedHeader)) return false;
  if (stream && ctx.stream_relays == nullptr) return false;
  auto nodes = ctx.batches->nodes_serving(model);
  if (!nodes || nodes->empty()) return false;
  const std::string key = bearer_token(req);
  for (const std::string& node : *nodes) {
    const std::string url = node + req.path;
    if (stream) {
      if (forward_stream(*ctx.stream_relays, url, req.body, key, res, node)) return true;
      continue;
    }
    UpstreamConnection connection;
    mark_forwarded(connection);
    const HttpReply reply = connection.call(
        url, req.body, key, kTimeout, [] { return HttpServer::client_gone(); }, nullptr,
        kMaxForwardedAnswerBytes);
    if (answer_with(res, reply, node)) return true;
  }
  send_error(res, Status::unavailable("No node of this fleet that serves the model '" + model +
                                      "' could be reached; try again later."));
  return true;
}

}  // namespace openbatch::api
