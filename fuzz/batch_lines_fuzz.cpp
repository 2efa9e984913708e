// libFuzzer target: a batch input file through the line validator. Beyond not crashing: every request
// it accepts lies inside the input, in order, and is a JSON object (after any leading blanks).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "batch/input_validator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  openbatch::batch::ValidationLimits limits;
  limits.models = {"tiny", "gpt-4o-mini"};
  limits.max_requests = 1000;
  const auto v = openbatch::batch::validate_input(input, limits);
  int64_t end = 0;
  for (const auto& r : v.requests) {
    if (r.offset < end || r.length < 0 || r.offset + r.length > static_cast<int64_t>(size)) std::abort();
    const size_t first = input.find_first_not_of(" \t\r\xEF\xBB\xBF", static_cast<size_t>(r.offset));
    if (v.errors.empty() && (first == std::string_view::npos || input[first] != '{')) std::abort();
    end = r.offset + r.length;
  }
  return 0;
}
