// The upload-time check of a batch input file: every non-blank line is a JSON object. Fed the bytes as
// they stream in, so an upload is never held whole in memory (only its current line is).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace openbatch::openai {

// Not thread-safe.
class JsonlObjectCheck {
 public:
  // The next bytes of the file.
  void feed(std::string_view data);
  // After the last bytes: the number (from 1) of the first non-blank line that is not a JSON object.
  std::optional<size_t> first_bad_line();

 private:
  void check_line();

  std::string line_;
  size_t line_number_ = 0;
  std::optional<size_t> bad_;
};

}  // namespace openbatch::openai
