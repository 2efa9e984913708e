#include "batch/input_validator.h"

#include <simdjson.h>

#include <cctype>
#include <cstring>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "common/json_depth.h"
#include "openai/endpoint_table.h"

namespace openbatch::batch {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// Checks line after line; holds what later lines are compared with (custom_ids, the batch's model).
class LineChecker {
 public:
  explicit LineChecker(const ValidationLimits& limits)
      : limits_(limits),
        endpoint_(endpoint_of(limits.endpoint)),
        required_param_(std::string("body.") + endpoint_.required_field) {
    std::string field = endpoint_.required_field;
    field[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(field[0])));
    required_message_ = field + " parameter is required.";
  }

  // False once checking should stop (too many requests or errors).
  bool stopped() const { return stopped_; }

  // One line of the file without its '\n'.
  // REQUIRES: SIMDJSON_PADDING bytes after p[len] are readable (they may hold anything).
  void check(int64_t offset, const char* p, size_t len) {
    ++line_;
    if (stopped_) return;
    if (offset == 0 && len >= 3 && std::memcmp(p, "\xEF\xBB\xBF", 3) == 0) {  // byte order mark
      p += 3, len -= 3, offset += 3;
    }
    if (is_blank(p, len)) return;
    if (++requests_seen_ > limits_.max_requests) {
      add("too_many_requests",
          "The input file has more than the maximum of " + std::to_string(limits_.max_requests) +
              " requests.",
          "");
      stopped_ = true;
      return;
    }
    store::RequestRecord rec;
    rec.line = line_;
    rec.offset = offset;
    rec.length = static_cast<int64_t>(len);
    if (check_fields(p, len, rec)) out_.requests.push_back(std::move(rec));
  }

  // An error about the whole file, on no line.
  void add_file_error(std::string code, std::string message) {
    out_.errors.push_back({std::move(code), std::move(message), "", std::nullopt});
  }

  ValidatedInput finish() {
    if (out_.errors.empty() && out_.requests.empty()) {
      add_file_error("empty_file", "The input file contains no requests.");
    }
    return std::move(out_);
  }

 private:
  static bool is_blank(const char* p, size_t len) {
    for (size_t i = 0; i < len; ++i) {
      if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') return false;
    }
    return true;
  }

  // The batch's endpoint; the first (Chat Completions) for a path the table does not have, which a
  // batch cannot have been created with.
  static const openai::Endpoint& endpoint_of(const std::string& path) {
    const openai::Endpoint* e = openai::find_endpoint(path);
    return e != nullptr ? *e : openai::endpoints().front();
  }

  void add(std::string code, std::string message, std::string param) {
    if (out_.errors.size() >= limits_.max_errors) {
      stopped_ = true;
      return;
    }
    out_.errors.push_back({std::move(code), std::move(message), std::move(param), line_});
  }

  // Fills rec.custom_id; reports the line's first problem and returns false when it has one.
  bool check_fields(const char* p, size_t len, store::RequestRecord& rec) {
    if (json_nesting_depth(std::string_view(p, len)) > kMaxJsonDepth) {
      add("invalid_json_line",
          "This line nests arrays and objects more than " + std::to_string(kMaxJsonDepth) +
              " levels deep, the most this server reads.",
          "");
      return false;
    }
    element doc;
    if (parser_.parse(p, len, /*realloc_if_needed=*/false).get(doc) != simdjson::SUCCESS ||
        doc.type() != element_type::OBJECT) {
      add("invalid_json_line", "This line is not parseable as valid JSON.", "");
      return false;
    }
    simdjson::dom::object line = doc.get_object().value_unsafe();

    element custom_id;
    if (line["custom_id"].get(custom_id) != simdjson::SUCCESS || custom_id.is_null()) {
      return missing("custom_id");
    }
    std::string_view id;
    if (custom_id.get_string().get(id) != simdjson::SUCCESS) {
      return invalid("custom_id", "Invalid 'custom_id': expected a string.");
    }
    rec.custom_id.assign(id);
    // Registered even when the line fails later, so that a second use is still reported.
    auto [first_use, inserted] = custom_ids_.emplace(rec.custom_id, line_);

    element method;
    if (line["method"].get(method) != simdjson::SUCCESS || method.is_null()) return missing("method");
    std::string_view method_name;
    if (method.get_string().get(method_name) != simdjson::SUCCESS || method_name != "POST") {
      return invalid("method", "Invalid 'method': only POST is supported.");
    }

    element url;
    if (line["url"].get(url) != simdjson::SUCCESS || url.is_null()) return missing("url");
    std::string_view url_text;
    if (url.get_string().get(url_text) != simdjson::SUCCESS || url_text != limits_.endpoint) {
      add("invalid_url", "The URL provided for this request does not match the batch endpoint.", "url");
      return false;
    }

    element body;
    if (line["body"].get(body) != simdjson::SUCCESS || body.is_null()) return missing("body");
    if (body.type() != element_type::OBJECT) return invalid("body", "Invalid 'body': expected an object.");
    simdjson::dom::object body_obj = body.get_object().value_unsafe();

    element stream;
    bool streaming = false;
    if (body_obj["stream"].get(stream) == simdjson::SUCCESS &&
        stream.get_bool().get(streaming) == simdjson::SUCCESS && streaming) {
      add("streaming_unsupported",
          std::string(endpoint_.api_name) + ": Streaming is not supported in the Batch API.", "body.stream");
      return false;
    }

    element model;
    std::string_view model_name;
    if (body_obj["model"].get(model) != simdjson::SUCCESS ||
        model.get_string().get(model_name) != simdjson::SUCCESS) {
      return invalid("body.model", "Model parameter is required.");
    }
    element required;
    if (body_obj[endpoint_.required_field].get(required) != simdjson::SUCCESS ||
        (endpoint_.required_array ? required.type() != element_type::ARRAY : required.is_null())) {
      return invalid(required_param_.c_str(), required_message_);
    }

    if (!is_served(model_name)) {
      add("model_not_found",
          "The provided model '" + std::string(model_name) + "' is not supported by the Batch API.",
          "body.model");
      return false;
    }
    if (out_.model.empty()) {
      out_.model.assign(model_name);
    } else if (model_name != out_.model) {
      add("mismatched_model",
          "The model '" + std::string(model_name) + "' differs from the model '" + out_.model +
              "' of the batch's other requests; a batch uses one model.",
          "body.model");
      return false;
    }

    if (!inserted) {
      add("duplicate_custom_id",
          "The custom_id '" + rec.custom_id + "' is already used on line " +
              std::to_string(first_use->second) + "; each request needs a unique custom_id.",
          "custom_id");
      return false;
    }
    return true;
  }

  bool missing(const char* param) {
    add("missing_required_parameter", std::string("Missing required parameter: '") + param + "'.", param);
    return false;
  }
  bool invalid(const char* param, std::string message) {
    add("invalid_request", std::move(message), param);
    return false;
  }

  bool is_served(std::string_view name) const {
    for (const auto& m : limits_.models) {
      if (m == name) return true;
    }
    return false;
  }

  const ValidationLimits& limits_;
  const openai::Endpoint& endpoint_;
  const std::string required_param_;  // "body.messages"
  std::string required_message_;      // "Messages parameter is required."
  simdjson::dom::parser parser_;
  ValidatedInput out_;
  std::unordered_map<std::string, int64_t> custom_ids_;  // custom_id -> first line
  int64_t line_ = 0;
  int64_t requests_seen_ = 0;  // non-blank lines
  bool stopped_ = false;
};

// Checks the lines of buf[0, have), each one only when SIMDJSON_PADDING readable bytes follow it below
// buf + readable. at_end: the bytes after the last newline are a line too. Returns the bytes consumed.
size_t check_lines(LineChecker& checker, const char* buf, size_t have, size_t readable, int64_t base_offset,
                   bool at_end) {
  size_t pos = 0;
  while (pos < have && !checker.stopped()) {
    const void* nl = std::memchr(buf + pos, '\n', have - pos);
    if (nl == nullptr && !at_end) break;
    const size_t end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - buf) : have;
    if (end + simdjson::SIMDJSON_PADDING > readable) break;
    checker.check(base_offset + static_cast<int64_t>(pos), buf + pos, end - pos);
    pos = nl ? end + 1 : have;
  }
  return checker.stopped() ? have : pos;
}

bool too_big(LineChecker& checker, int64_t bytes, const ValidationLimits& limits) {
  if (bytes <= limits.max_bytes) return false;
  checker.add_file_error("file_too_large", "The input file is " + std::to_string(bytes) +
                                               " bytes, more than the maximum of " +
                                               std::to_string(limits.max_bytes) + " bytes.");
  return true;
}

}  // namespace

ValidatedInput validate_input(const blobs::BlobReader& input, const ValidationLimits& limits) {
  LineChecker checker(limits);
  if (too_big(checker, input.size(), limits)) return checker.finish();

  constexpr size_t kChunk = 8 << 20;
  std::vector<char> buf(kChunk + simdjson::SIMDJSON_PADDING);
  size_t have = 0;
  int64_t base = 0;  // file offset of buf[0]
  int64_t read_pos = 0;
  while (!checker.stopped()) {
    if (buf.size() - simdjson::SIMDJSON_PADDING - have < kChunk / 2)
      buf.resize(buf.size() * 2);  // a very long line
    auto n = input.read_at(read_pos, buf.data() + have, buf.size() - simdjson::SIMDJSON_PADDING - have);
    if (!n.is_ok()) {
      checker.add_file_error("invalid_request", "The input file could not be read.");
      break;
    }
    const bool at_end = *n == 0;
    have += *n;
    read_pos += static_cast<int64_t>(*n);
    const size_t used =
        check_lines(checker, buf.data(), have, have + simdjson::SIMDJSON_PADDING, base, at_end);
    if (at_end) break;
    std::memmove(buf.data(), buf.data() + used, have - used);
    have -= used;
    base += static_cast<int64_t>(used);
  }
  return checker.finish();
}

ValidatedInput validate_input(std::string_view data, const ValidationLimits& limits) {
  LineChecker checker(limits);
  if (too_big(checker, static_cast<int64_t>(data.size()), limits)) return checker.finish();
  // Lines are parsed where they lie; only the last few, too close to the end for simdjson's padding,
  // are copied.
  const size_t used = check_lines(checker, data.data(), data.size(), data.size(), 0, /*at_end=*/true);
  if (used < data.size()) {
    simdjson::padded_string tail(data.substr(used));
    check_lines(checker, tail.data(), tail.size(), tail.size() + simdjson::SIMDJSON_PADDING,
                static_cast<int64_t>(used), /*at_end=*/true);
  }
  return checker.finish();
}

}  // namespace openbatch::batch
