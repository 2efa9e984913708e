#include "api/event_stream.h"

#include <chrono>

namespace openbatch::api {

void EventStream::push(std::string bytes, bool last) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!bytes.empty()) events_.push_back(std::move(bytes));  // an empty chunk would end the stream
    finished_ = finished_ || last;
  }
  cv_.notify_one();
}

void EventStream::set_handles(std::vector<std::shared_ptr<engine::GenerationHandle>> handles) {
  std::lock_guard<std::mutex> lock(mu_);
  handles_ = std::move(handles);
}

void EventStream::serve(const std::shared_ptr<EventStream>& stream, httplib::Response& res) {
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [stream](size_t /*offset*/, httplib::DataSink& sink) {
        std::unique_lock<std::mutex> lock(stream->mu_);
        stream->cv_.wait_for(lock, std::chrono::seconds(1),
                             [&] { return !stream->events_.empty() || stream->finished_; });
        while (!stream->events_.empty()) {
          std::string event = std::move(stream->events_.front());
          stream->events_.pop_front();
          lock.unlock();
          if (!sink.write(event.data(), event.size())) return false;
          lock.lock();
        }
        if (stream->finished_) sink.done();
        return true;
      },
      [stream](bool success) {
        std::lock_guard<std::mutex> lock(stream->mu_);
        // The client went away: stop generating for it.
        if (!success) {
          for (auto& h : stream->handles_) h->cancel();
        }
        // The handles hold callbacks that hold this stream: let go of them to break the cycle.
        stream->handles_.clear();
      });
}

std::string sse(const nlohmann::ordered_json& body, const std::string& event_name) {
  std::string out = event_name.empty() ? "" : "event: " + event_name + "\n";
  return out + "data: " + body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}

}  // namespace openbatch::api
