#include "batch/input_validator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace openbatch::batch {
namespace {

std::filesystem::path testdata(const std::string& name) {
#ifdef OPENBATCH_SOURCE_DIR
  return std::filesystem::path(OPENBATCH_SOURCE_DIR) / "src/batch/testdata" / name;
#else
  return std::filesystem::path(__FILE__).parent_path() / "testdata" / name;
#endif
}

ValidationLimits limits() {
  ValidationLimits l;
  l.models = {"tiny", "tiny-alias"};
  return l;
}

std::string line_of(const nlohmann::json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }

// REQUIRES: custom_id and content need no JSON escaping.
std::string valid_line(const std::string& custom_id, const std::string& content = "hi") {
  return R"({"custom_id": ")" + custom_id +
         R"(", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "tiny", "messages": )"
         R"([{"role": "user", "content": ")" +
         content + R"("}]}})";
}

// A BlobReader over a string, handing out at most max_read bytes per call.
class StringReader : public blobs::BlobReader {
 public:
  explicit StringReader(std::string data, size_t max_read = SIZE_MAX)
      : data_(std::move(data)), max_read_(max_read) {}
  int64_t size() const override { return static_cast<int64_t>(data_.size()); }
  Result<size_t> read_at(int64_t offset, char* buf, size_t n) const override {
    if (offset >= size()) return size_t{0};
    n = std::min({n, max_read_, data_.size() - static_cast<size_t>(offset)});
    std::memcpy(buf, data_.data() + offset, n);
    return n;
  }

 private:
  std::string data_;
  size_t max_read_;
};

// testdata/bad_input_lines.jsonl: one case a line, {"name", "lines", "errors", "max_requests"?,
// "max_bytes"?}. Each entry of "lines" is one line of the input file: a string is used as it is, an
// object is written as compact JSON. "errors" lists the expected errors.data entries in order
// ({"line", "code", "param", "message"?: OpenAI's recorded wording, where there is one); an empty list
// means the file is accepted.
TEST(InputValidator, RejectsEachBadLineWithItsCodeAndLine) {
  std::ifstream in(testdata("bad_input_lines.jsonl"));
  ASSERT_TRUE(in) << testdata("bad_input_lines.jsonl");
  std::string text;
  int cases = 0;
  while (std::getline(in, text)) {
    if (text.empty()) continue;
    const auto c = nlohmann::json::parse(text);
    SCOPED_TRACE(c["name"].get<std::string>());
    ++cases;
    std::string file;
    for (const auto& line : c["lines"]) file += line_of(line) + "\n";
    ValidationLimits l = limits();
    l.max_requests = c.value("max_requests", l.max_requests);
    l.max_bytes = c.value("max_bytes", l.max_bytes);
    l.endpoint = c.value("endpoint", l.endpoint);

    for (const ValidatedInput& v : {validate_input(file, l), validate_input(StringReader(file, 7), l)}) {
      const auto& want = c["errors"];
      ASSERT_EQ(v.errors.size(), want.size())
          << (v.errors.empty() ? "" : v.errors[0].code + ": " + v.errors[0].message);
      for (size_t i = 0; i < want.size(); ++i) {
        SCOPED_TRACE("error " + std::to_string(i));
        EXPECT_EQ(v.errors[i].code, want[i]["code"].get<std::string>());
        EXPECT_EQ(v.errors[i].param, want[i]["param"].is_null() ? "" : want[i]["param"].get<std::string>());
        if (want[i]["line"].is_null()) {
          EXPECT_FALSE(v.errors[i].line.has_value());
        } else {
          ASSERT_TRUE(v.errors[i].line.has_value());
          EXPECT_EQ(*v.errors[i].line, want[i]["line"].get<int64_t>());
        }
        EXPECT_FALSE(v.errors[i].message.empty());
        if (want[i].contains("message")) {
          EXPECT_EQ(v.errors[i].message, want[i]["message"].get<std::string>());
        }
      }
    }
  }
  EXPECT_GE(cases, 30);
}

TEST(InputValidator, RejectsInvalidUtf8) {
  const std::string file = "{\"custom_id\": \"r\xff\", \"method\": \"POST\"}\n";
  auto v = validate_input(file, limits());
  ASSERT_EQ(v.errors.size(), 1u);
  EXPECT_EQ(v.errors[0].code, "invalid_json_line");
}

TEST(InputValidator, RecordsWhereEachLineLies) {
  const std::string a = valid_line("a"), b = valid_line("b");
  const std::string file = a + "\n\n" + b + "\r\n";
  auto v = validate_input(file, limits());
  ASSERT_TRUE(v.errors.empty());
  EXPECT_EQ(v.model, "tiny");
  ASSERT_EQ(v.requests.size(), 2u);
  EXPECT_EQ(v.requests[0].line, 1);
  EXPECT_EQ(v.requests[0].custom_id, "a");
  EXPECT_EQ(file.substr(v.requests[0].offset, v.requests[0].length), a);
  EXPECT_EQ(v.requests[1].line, 3);
  EXPECT_EQ(file.substr(v.requests[1].offset, v.requests[1].length), b + "\r");
}

TEST(InputValidator, StopsReportingAfterMaxErrors) {
  std::string file;
  for (int i = 0; i < 50; ++i) file += "bad\n";
  ValidationLimits l = limits();
  l.max_errors = 10;
  EXPECT_EQ(validate_input(file, l).errors.size(), 10u);
}

// Lines that straddle the reader's 8 MiB chunks, and a line longer than a chunk, are read whole.
TEST(InputValidator, ReadsLinesAcrossChunks) {
  std::string file;
  std::vector<std::string> lines;
  for (int i = 0; i < 60000; ++i)
    lines.push_back(valid_line("req-" + std::to_string(i), std::string(i % 300, 'x')));
  lines.push_back(valid_line("huge", std::string(9 << 20, 'y')));
  lines.push_back(valid_line("last"));
  for (const auto& l : lines) file += l + "\n";
  file.pop_back();  // no newline after the last line
  ValidationLimits l = limits();
  l.max_requests = 100000;
  l.max_bytes = 1LL << 30;
  auto v = validate_input(StringReader(file), l);
  ASSERT_TRUE(v.errors.empty()) << v.errors[0].code << " line " << v.errors[0].line.value_or(-1);
  ASSERT_EQ(v.requests.size(), lines.size());
  for (size_t i = 0; i < lines.size(); i += 997) {
    EXPECT_EQ(file.substr(v.requests[i].offset, v.requests[i].length), lines[i]);
  }
  EXPECT_EQ(v.requests.back().custom_id, "last");
  EXPECT_EQ(file.substr(v.requests.back().offset, v.requests.back().length), lines.back());
  EXPECT_EQ(v.requests[60000].custom_id, "huge");

  // From memory, lines are parsed where they lie; the same records come out.
  auto in_memory = validate_input(file, l);
  ASSERT_TRUE(in_memory.errors.empty());
  ASSERT_EQ(in_memory.requests.size(), v.requests.size());
  for (size_t i = 0; i < v.requests.size(); ++i) {
    ASSERT_EQ(in_memory.requests[i].offset, v.requests[i].offset);
    ASSERT_EQ(in_memory.requests[i].length, v.requests[i].length);
  }
}

}  // namespace
}  // namespace openbatch::batch
