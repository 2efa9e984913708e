// A server-sent event stream: events made on engine threads, written out on the HTTP connection's
// thread. Shared by the streamed Chat Completions, Completions and Responses routes. Internal to api/.
#pragma once

#include <httplib.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace openbatch::api {

class EventStream {
 public:
  // Queues raw bytes ("data: ...\n\n"); last: nothing follows. Thread-safe; quick.
  void push(std::string bytes, bool last = false);
  // The work behind the stream, cancelled when the client goes away.
  void set_handles(std::vector<std::shared_ptr<engine::GenerationHandle>> handles);

  // Answers res with the stream (text/event-stream, chunked) and writes events as they come.
  static void serve(const std::shared_ptr<EventStream>& stream, httplib::Response& res);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> events_;
  bool finished_ = false;
  std::vector<std::shared_ptr<engine::GenerationHandle>> handles_;
};

// "data: BODY\n\n"; with event_name, "event: NAME\n" first (the Responses API names its events).
std::string sse(const nlohmann::ordered_json& body, const std::string& event_name = "");

}  // namespace openbatch::api
