#include "api/request_framing.h"

#include <string>
#include <string_view>

namespace openbatch::api {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// A Content-Length of 1 to 19 decimal digits and nothing else (19 digits always fit in 63 bits).
bool parse_length(std::string_view s, uint64_t& out) {
  s = trim(s);
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

Status malformed(const std::string& what) {
  return Status::invalid_request("Malformed request: " + what + ".");
}

}  // namespace

Result<BodyFraming> check_body_framing(const httplib::Headers& headers, uint64_t max_bytes) {
  const size_t lengths = headers.count("Content-Length");
  const size_t encodings = headers.count("Transfer-Encoding");
  if (lengths > 0 && encodings > 0)
    return malformed("a request cannot have both Content-Length and Transfer-Encoding");
  for (auto [it, end] = headers.equal_range("Content-Encoding"); it != end; ++it) {
    const std::string_view coding = trim(it->second);
    if (!coding.empty() && !equals_ignoring_case(coding, "identity")) {
      return Status::unsupported_media("Request bodies with Content-Encoding '" +
                                       std::string(coding).substr(0, 64) +
                                       "' are not accepted: send the body uncompressed.");
    }
  }
  BodyFraming framing;
  if (encodings > 0) {
    if (encodings > 1 || !equals_ignoring_case(trim(headers.find("Transfer-Encoding")->second), "chunked"))
      return malformed("the only Transfer-Encoding accepted is 'chunked'");
    framing.kind = BodyFraming::Kind::kChunked;
    return framing;
  }
  if (lengths == 0) return framing;
  if (lengths > 1 || !parse_length(headers.find("Content-Length")->second, framing.length))
    return malformed("Content-Length must be one decimal number");
  framing.kind = BodyFraming::Kind::kLength;
  if (framing.length > max_bytes) {
    return Status::too_large("The request body is too large: " + std::to_string(framing.length) +
                             " bytes, where this route takes at most " + std::to_string(max_bytes) + ".");
  }
  return framing;
}

}  // namespace openbatch::api
