// A loopback OpenAI-compatible server for the upstream engine's tests. It answers
//   GET  /v1/models             {"data": [{"id": "upstream-model"}]}
//   POST /v1/embeddings         a vector {input length, 1, 0} per input, listed in reverse
//   POST /v1/chat/completions   a chat.completion whose text is the last message's content, reversed,
//                               with usage (cached tokens 2) and one logprob a character when asked;
//                               streamed as one chunk a character when asked
//   POST /v1/completions        a text_completion whose text is the prompt reversed (a string
//                               prompt; "N tokens" for token ids), the prompt first with echo
// and can be told to answer the next calls with an error status (and Retry-After), or to hold calls
// until released. Records every chat body it gets, in order.
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace openbatch::engine::upstream::testing {

class UpstreamServer {
 public:
  UpstreamServer() {
    server_.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"object":"list","data":[{"id":"upstream-model","object":"model"}]})",
                      "application/json");
    });
    // As llama-server: its slots at the root's /props (set_slots); 404 while none are set.
    server_.Get("/props", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mu_);
      if (slots_ == 0) {
        res.status = 404;
        return;
      }
      res.set_content(nlohmann::json({{"total_slots", slots_}, {"model_alias", "upstream-model"}}).dump(),
                      "application/json");
    });
    server_.Post("/v1/chat/completions",
                 [this](const httplib::Request& req, httplib::Response& res) { answer(req, res); });
    server_.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
      {
        std::lock_guard lock(mu_);
        bodies_.push_back(body);
      }
      const nlohmann::json& prompt = body["prompt"];
      const std::string p = prompt.is_string() ? prompt.get<std::string>() : "";
      std::string text =
          prompt.is_string() ? std::string(p.rbegin(), p.rend()) : std::to_string(prompt.size()) + " tokens";
      if (body.value("echo", false)) text = p + text;
      nlohmann::json choice = {
          {"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", "length"}};
      if (body.contains("logprobs")) {
        choice["logprobs"] = {{"tokens", {text.substr(0, 1)}},
                              {"token_logprobs", {-0.25}},
                              {"top_logprobs", {{{text.substr(0, 1), -0.25}}}},
                              {"text_offset", {0}}};
      }
      res.set_content(
          nlohmann::json({{"id", "cmpl-up"},
                          {"object", "text_completion"},
                          {"choices", {choice}},
                          {"usage", {{"prompt_tokens", 4}, {"completion_tokens", 3}, {"total_tokens", 7}}}})
              .dump(),
          "application/json");
    });
    // Each input's vector is {its length (characters or token ids), 1, 0}; listed last input first.
    server_.Post("/v1/embeddings", [this](const httplib::Request& req, httplib::Response& res) {
      nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
      {
        std::lock_guard lock(mu_);
        bodies_.push_back(body);
      }
      nlohmann::json data = nlohmann::json::array();
      const nlohmann::json& input = body["input"];
      for (size_t i = input.size(); i-- > 0;) {
        const double n = input[i].is_string() ? static_cast<double>(input[i].get<std::string>().size())
                                              : static_cast<double>(input[i].size());
        data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", {n, 1.0, 0.0}}});
      }
      res.set_content(
          nlohmann::json(
              {{"object", "list"}, {"data", data}, {"usage", {{"prompt_tokens", 11}, {"total_tokens", 11}}}})
              .dump(),
          "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~UpstreamServer() {
    release();
    server_.stop();
    thread_.join();
  }

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

  // The next n chat calls are answered with status and body (Retry-After: retry_after when not empty).
  void fail_next(int n, int status, std::string body = "", std::string retry_after = "") {
    std::lock_guard lock(mu_);
    for (int i = 0; i < n; ++i) failures_.push_back({status, body, retry_after});
  }
  // GET /props answers {"total_slots": slots} from now on (0: 404 again).
  void set_slots(int slots) {
    std::lock_guard lock(mu_);
    slots_ = slots;
  }
  // Chat calls wait until release() (or the server stops) before answering.
  void hold() {
    std::lock_guard lock(mu_);
    holding_ = true;
  }
  void release() {
    {
      std::lock_guard lock(mu_);
      holding_ = false;
    }
    cv_.notify_all();
  }
  // Waits until n chat calls have arrived (answered or held).
  void wait_for_calls(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return bodies_.size() >= n; });
  }
  std::vector<nlohmann::json> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }

 private:
  struct Failure {
    int status;
    std::string body;
    std::string retry_after;
  };

  void answer(const httplib::Request& req, httplib::Response& res) {
    nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
    std::unique_lock lock(mu_);
    bodies_.push_back(body);
    cv_.notify_all();
    if (!failures_.empty()) {
      Failure f = failures_.front();
      failures_.pop_front();
      res.status = f.status;
      if (!f.retry_after.empty()) res.set_header("Retry-After", f.retry_after);
      res.set_content(f.body, "application/json");
      return;
    }
    cv_.wait(lock, [&] { return !holding_; });
    lock.unlock();
    std::string last;
    if (body.is_object() && body["messages"].is_array() && !body["messages"].empty() &&
        body["messages"].back()["content"].is_string()) {
      last = body["messages"].back()["content"].get<std::string>();
    }
    std::string text(last.rbegin(), last.rend());
    nlohmann::json choice = {{"index", 0},
                             {"message", {{"role", "assistant"}, {"content", text}}},
                             {"finish_reason", body.value("max_tokens", 100) < 5 ? "length" : "stop"}};
    if (body.value("logprobs", false)) {
      nlohmann::json content = nlohmann::json::array();
      for (char c : text) {
        content.push_back({{"token", std::string(1, c)},
                           {"logprob", -0.5},
                           {"top_logprobs", {{{"token", std::string(1, c)}, {"logprob", -0.5}}}}});
      }
      choice["logprobs"] = {{"content", content}};
    }
    nlohmann::json completion = {{"id", "chatcmpl-up"},
                                 {"object", "chat.completion"},
                                 {"choices", {choice}},
                                 {"usage",
                                  {{"prompt_tokens", 7},
                                   {"completion_tokens", static_cast<int>(text.size())},
                                   {"total_tokens", 7 + static_cast<int>(text.size())},
                                   {"prompt_tokens_details", {{"cached_tokens", 2}}}}}};
    if (!body.value("stream", false)) {
      res.set_content(completion.dump(), "application/json");
      return;
    }
    // Streamed: a chunk a character (with its logprob), then finish_reason, usage and [DONE].
    std::string events;
    auto send = [&events](const nlohmann::json& chunk) { events += "data: " + chunk.dump() + "\n\n"; };
    for (size_t i = 0; i < text.size(); ++i) {
      nlohmann::json c = {
          {"index", 0}, {"delta", {{"content", text.substr(i, 1)}}}, {"finish_reason", nullptr}};
      if (choice.contains("logprobs")) c["logprobs"] = {{"content", {choice["logprobs"]["content"][i]}}};
      send({{"object", "chat.completion.chunk"}, {"choices", {c}}});
    }
    send({{"object", "chat.completion.chunk"},
          {"choices",
           {{{"index", 0},
             {"delta", nlohmann::json::object()},
             {"finish_reason", choice["finish_reason"]}}}}});
    send({{"object", "chat.completion.chunk"},
          {"choices", nlohmann::json::array()},
          {"usage", completion["usage"]}});
    res.set_content(events + "data: [DONE]\n\n", "text/event-stream");
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Failure> failures_;
  bool holding_ = false;
  int slots_ = 0;
  std::vector<nlohmann::json> bodies_;
};

}  // namespace openbatch::engine::upstream::testing
