// The upload-time check of a batch input file: every non-blank line is a JSON object of a bounded size
// and depth. Fed the bytes as they stream in, so an upload is never held whole in memory: only its
// current line, and never more than max_line_bytes of it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace openbatch::openai {

// The longest line of a batch input file (far above any real request; OpenAI's whole file is 200 MB).
constexpr size_t kMaxBatchLineBytes = 16u << 20;

// Not thread-safe.
class JsonlObjectCheck {
 public:
  explicit JsonlObjectCheck(size_t max_line_bytes = kMaxBatchLineBytes) : max_line_bytes_(max_line_bytes) {}

  // The next bytes of the file.
  void feed(std::string_view data);
  // After the last bytes: the number (from 1) of the first non-blank line that is not a JSON object,
  // is longer than max_line_bytes or nests deeper than kMaxJsonDepth.
  std::optional<size_t> first_bad_line();
  // What is wrong with that line ("is not a JSON object", "is longer than ..."); "" while none is.
  const std::string& problem() const { return problem_; }

 private:
  void check_line();
  void mark_bad(std::string problem);

  const size_t max_line_bytes_;
  std::string line_;
  bool line_too_long_ = false;
  size_t line_number_ = 0;
  std::optional<size_t> bad_;
  std::string problem_;
};

}  // namespace openbatch::openai
