// Interactive calls of a model this node does not serve, forwarded to a live node of the fleet that
// does (batch::BatchService::nodes_serving: each node records the URL it is reached at with its
// models). The call goes as the client sent it (its path, body and API key) with an
// `OpenBatch-Forwarded` header, and its answer comes back as that node gave it: a JSON body with its
// status, or, for a stream, the server-sent events as they come. A forwarded call is never forwarded
// again. Internal to api/.
#pragma once

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/event_stream.h"
#include "api/routes.h"
#include "engine/upstream/upstream_http.h"

namespace openbatch::api {

// A forwarded stream: its call runs on a thread of StreamRelays, which passes the events on to out as
// they come, until the call ends or the client goes (cancel()).
struct StreamRelay final : engine::GenerationHandle {
  void cancel() override { cancelled = true; }

  std::shared_ptr<EventStream> out = std::make_shared<EventStream>();
  std::atomic<bool> cancelled{false};
  std::mutex mu;
  std::condition_variable cv;
  bool streaming = false;  // the node answered 2xx and its events have begun
  bool done = false;       // the call has ended; reply holds how (its body when it did not stream)
  engine::upstream::HttpReply reply;
};

// The threads that pass forwarded streams on, one a stream: each ends with its call, or when its
// client goes. Thread-safe.
class StreamRelays {
 public:
  ~StreamRelays() { stop(); }
  // Runs run on a thread of relay's; false, nothing run, once stopped.
  bool start(const std::shared_ptr<StreamRelay>& relay, std::function<void()> run);
  // Cancels the relays still running and joins every thread; later start()s are refused.
  void stop();

 private:
  struct Running {
    std::shared_ptr<StreamRelay> relay;
    std::thread thread;
  };
  void reap();  // REQUIRES mu_ held: joins the threads that have ended

  std::mutex mu_;
  std::list<Running> running_;
  std::vector<std::thread::id> ended_;
  bool stopped_ = false;
};

// The header a forwarded call carries.
inline constexpr char kForwardedHeader[] = "OpenBatch-Forwarded";
// The longest a forwarded call may take, and the largest answer taken back whole (a stream's events
// are passed on as they come).
inline constexpr int kForwardTimeoutSeconds = 600;
inline constexpr size_t kMaxForwardedAnswerBytes = 256u << 20;

// Answers req by forwarding it to another live node that serves model, trying the next such node when
// one cannot be connected to; true when res holds the answer (a 503 when no such node answered). False,
// res untouched, when no other live node serves model, the fleet is not known, or req was forwarded
// to this node already (or, for a stream, the server has no ctx.stream_relays). stream: the body asks
// for server-sent events, passed on by a thread of ctx.stream_relays.
bool forward_to_fleet(RouteContext& ctx, const httplib::Request& req, httplib::Response& res,
                      const std::string& model, bool stream);

}  // namespace openbatch::api
