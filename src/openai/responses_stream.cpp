#include "openai/responses_stream.h"

#include "openai/chat_completion.h"
#include "openai/chat_stream.h"

namespace openbatch::openai {

using json = nlohmann::ordered_json;

ResponseEventStream::ResponseEventStream(std::shared_ptr<const ResponsesRequest> request, std::string id,
                                         int64_t created_at)
    : request_(std::move(request)), id_(std::move(id)), created_at_(created_at) {}

json ResponseEventStream::event(const char* type) {
  return {{"type", type}, {"sequence_number", sequence_++}};
}

std::vector<json> ResponseEventStream::start() {
  std::vector<json> out;
  const json response = response_object(*request_, id_, created_at_, "in_progress", json::array(), nullptr);
  for (const char* type : {"response.created", "response.in_progress"}) {
    json e = event(type);
    e["response"] = response;
    out.push_back(std::move(e));
  }
  return out;
}

json ResponseEventStream::item_json(const Item& item, const std::string& status) const {
  const bool done = status != "in_progress";
  switch (item.kind) {
    case Kind::kReasoning:
      return reasoning_item(item.id, item.text, done);
    case Kind::kMessage:
      return message_item(item.id, status, done ? &item.text : nullptr);
    case Kind::kCall:
      break;
  }
  return function_call_item(item.id, status, item.call_id, item.name, done ? item.text : "");
}

int ResponseEventStream::open_of(Kind kind) const {
  for (size_t i = 0; i < items_.size(); ++i) {
    if (items_[i].kind == kind && items_[i].open) return static_cast<int>(i);
  }
  return -1;
}

size_t ResponseEventStream::open_item(Kind kind, std::vector<json>& out, std::string call_id,
                                      std::string name) {
  // One item is written at a time, as OpenAI's streams do: the one before is done.
  for (size_t i = 0; i < items_.size(); ++i) {
    if (items_[i].open) close(i, "completed", out);
  }
  Item item{kind,
            new_id(kind == Kind::kReasoning ? "rs_"
                   : kind == Kind::kMessage ? "msg_"
                                            : "fc_"),
            "", std::move(call_id), std::move(name)};
  const size_t index = items_.size();
  items_.push_back(item);
  json added = event("response.output_item.added");
  added["output_index"] = index;
  added["item"] = item_json(item, "in_progress");
  out.push_back(std::move(added));
  if (kind != Kind::kCall) {
    json part = event("response.content_part.added");
    part["item_id"] = item.id;
    part["output_index"] = index;
    part["content_index"] = 0;
    part["part"] = kind == Kind::kMessage ? output_text_part("") : reasoning_text_part("");
    out.push_back(std::move(part));
  }
  return index;
}

void ResponseEventStream::append(size_t index, const std::string& text, std::vector<json>& out) {
  if (text.empty()) return;
  Item& item = items_[index];
  item.text += text;
  const char* type = item.kind == Kind::kMessage     ? "response.output_text.delta"
                     : item.kind == Kind::kReasoning ? "response.reasoning_text.delta"
                                                     : "response.function_call_arguments.delta";
  json e = event(type);
  e["item_id"] = item.id;
  e["output_index"] = index;
  if (item.kind != Kind::kCall) e["content_index"] = 0;
  e["delta"] = text;
  if (item.kind == Kind::kMessage) e["logprobs"] = json::array();
  out.push_back(std::move(e));
}

void ResponseEventStream::close(size_t index, const std::string& status, std::vector<json>& out) {
  Item& item = items_[index];
  item.open = false;
  auto with_place = [&](const char* type) {
    json e = event(type);
    e["item_id"] = item.id;
    e["output_index"] = index;
    return e;
  };
  if (item.kind == Kind::kCall) {
    json e = with_place("response.function_call_arguments.done");
    e["name"] = item.name;
    e["arguments"] = item.text;
    out.push_back(std::move(e));
  } else {
    const bool message = item.kind == Kind::kMessage;
    json e = with_place(message ? "response.output_text.done" : "response.reasoning_text.done");
    e["content_index"] = 0;
    e["text"] = item.text;
    if (message) e["logprobs"] = json::array();
    out.push_back(std::move(e));
    json part = with_place("response.content_part.done");
    part["content_index"] = 0;
    part["part"] = message ? output_text_part(item.text) : reasoning_text_part(item.text);
    out.push_back(std::move(part));
  }
  json done = event("response.output_item.done");
  done["output_index"] = index;
  done["item"] = item_json(item, status);
  out.push_back(std::move(done));
}

std::vector<json> ResponseEventStream::delta(const engine::GenerationDelta& d) {
  std::vector<json> out;
  if (!d.reasoning_content.empty()) {
    int at = open_of(Kind::kReasoning);
    if (at < 0) at = static_cast<int>(open_item(Kind::kReasoning, out));
    append(at, d.reasoning_content, out);
  }
  if (!d.content.empty()) {
    int at = open_of(Kind::kMessage);
    if (at < 0) at = static_cast<int>(open_item(Kind::kMessage, out));
    append(at, d.content, out);
  }
  for (const engine::ToolCallDelta& call : d.tool_calls) {
    if (call.index < 0) continue;
    if (call.index >= static_cast<int>(call_items_.size())) {
      call_items_.resize(call.index + 1, -1);
    }
    if (call_items_[call.index] < 0) {
      call_items_[call.index] = static_cast<int>(
          open_item(Kind::kCall, out, call.id.empty() ? new_id("call_") : call.id, call.name));
    }
    const size_t at = call_items_[call.index];
    if (items_[at].open) append(at, call.arguments, out);
  }
  return out;
}

std::vector<json> ResponseEventStream::finish(const Result<engine::Generation>& result) {
  std::vector<json> out;
  if (!result) {
    json output = json::array();
    for (const Item& item : items_) output.push_back(item_json(item, "incomplete"));
    const Status& s = result.status();
    json e = event("response.failed");
    e["response"] =
        response_object(*request_, id_, created_at_, "failed", std::move(output), nullptr,
                        {{"code", s.code().empty() ? "server_error" : s.code()}, {"message", s.message()}});
    out.push_back(std::move(e));
    return out;
  }
  const engine::Generation& g = *result;
  const std::string status = g.finish_reason == engine::FinishReason::kLength ? "incomplete" : "completed";
  // What the deltas did not show: an open item takes the finished text (the parse of the whole answer
  // is the one that counts); a part the deltas never opened is written now, whole.
  auto settle = [&](Kind kind, const std::string& text, bool wanted) {
    bool seen = false;
    for (const Item& item : items_) seen = seen || item.kind == kind;
    if (int at = open_of(kind); at >= 0) {
      const std::string& have = items_[at].text;
      if (text.size() > have.size() && text.compare(0, have.size(), have) == 0) {
        append(at, text.substr(have.size()), out);
      } else {
        items_[at].text = text;
      }
    } else if (!seen && wanted) {
      append(open_item(kind, out), text, out);
    }
  };
  settle(Kind::kReasoning, g.reasoning_content, !g.reasoning_content.empty());
  settle(Kind::kMessage, g.text, !g.text.empty() || g.tool_calls.empty());
  for (size_t i = 0; i < g.tool_calls.size(); ++i) {
    const engine::ToolCall& call = g.tool_calls[i];
    if (i >= call_items_.size()) call_items_.resize(i + 1, -1);
    if (call_items_[i] < 0) {
      call_items_[i] = static_cast<int>(
          open_item(Kind::kCall, out, call.id.empty() ? new_id("call_") : call.id, call.name));
    }
    Item& item = items_[call_items_[i]];
    if (!item.open) continue;
    if (call.arguments.size() > item.text.size() &&
        call.arguments.compare(0, item.text.size(), item.text) == 0) {
      append(call_items_[i], call.arguments.substr(item.text.size()), out);
    } else {
      item.text = call.arguments;
    }
  }
  for (size_t i = 0; i < items_.size(); ++i) {
    if (items_[i].open) close(i, status, out);
  }
  json output = json::array();
  for (const Item& item : items_) output.push_back(item_json(item, status));
  json e = event(status == "incomplete" ? "response.incomplete" : "response.completed");
  e["response"] = response_object(*request_, id_, created_at_, status, std::move(output), response_usage(g));
  out.push_back(std::move(e));
  return out;
}

namespace {

// Events named after their type, as OpenAI's Responses streams name them.
std::vector<StreamEvent> named(std::vector<json> events) {
  std::vector<StreamEvent> out;
  out.reserve(events.size());
  for (json& e : events) {
    std::string type = e["type"].get<std::string>();
    out.push_back({std::move(type), std::move(e)});
  }
  return out;
}

}  // namespace

std::vector<std::shared_ptr<engine::GenerationHandle>> stream_response(engine::Engine& engine,
                                                                       ResponsesRequest request,
                                                                       StreamSink sink) {
  auto req = std::make_shared<const ResponsesRequest>(std::move(request));
  auto stream = std::make_shared<SerializedStream<ResponseEventStream>>(
      ResponseEventStream(req, new_id("resp_"), unix_now()), std::move(sink));
  stream->emit([](ResponseEventStream& b) { return named(b.start()); });
  return run_generations(
      engine, req->generation, 1,
      [stream](Result<std::vector<engine::Generation>> result) {
        stream->emit(
            [&](ResponseEventStream& b) {
              return named(result ? b.finish(result->front()) : b.finish(result.status()));
            },
            /*last=*/true);
      },
      [stream](int /*choice*/, engine::GenerationDelta delta) {
        stream->emit([&](ResponseEventStream& b) { return named(b.delta(delta)); });
      });
}

}  // namespace openbatch::openai
