// libFuzzer target: the reader of streamed Chat Completions (server-sent events). Beyond not
// crashing: the stream split in two anywhere reads exactly as the stream in one piece.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/http_status.h"
#include "engine/upstream/chat_stream.h"

namespace {

struct Read {
  std::string text;
  std::string completion;
};

Read read(std::string_view a, std::string_view b) {
  Read out;
  openbatch::engine::upstream::ChatStreamReader reader([&](openbatch::engine::GenerationDelta delta) {
    out.text += delta.content + "|" + delta.reasoning_content + "|" + std::to_string(delta.tool_calls.size());
  });
  reader.feed(a);
  reader.feed(b);
  const auto c = reader.completion();
  out.completion = c.is_ok() ? c->dump()
                             : "error " + std::to_string(openbatch::http_status_of(c.status())) + " " +
                                   c.status().message();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t split = data[0] % size;  // the first byte says where
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Read whole = read(stream, {});
  const Read parts = read(stream.substr(0, split), stream.substr(std::min(split, stream.size())));
  if (whole.text != parts.text || whole.completion != parts.completion) std::abort();
  return 0;
}
