// Errors as values for the core of openbatch. A Status carries one of a closed set of codes (what kind
// of failure it is, asked with is_not_found(), is_conflict(), is_unavailable()...) and the details of
// an OpenAI error (type, code, param, message). HTTP status numbers are not part of it: the edges that
// speak HTTP (api/, the batch result lines, the upstream and hub clients) map codes to numbers and back
// in one place, common/http_status.h.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace openbatch {

enum class StatusCode {
  kOk,
  kInvalidArgument,   // the request is wrong (400)
  kUnauthenticated,   // no or a wrong API key (401)
  kPermissionDenied,  // a key without access (403)
  kNotFound,          // no such thing, or another owner's (404)
  kMethodNotAllowed,  // (405)
  kRequestTimeout,    // a request that did not arrive in time (408)
  kConflict,          // the state forbids it: cancelling a finished batch, a fenced write (409)
  kTooLarge,          // a body past the limits (413)
  kUnsupportedMedia,  // a body in an encoding or type the route does not take (415)
  kUnprocessable,     // well-formed but refused by an upstream (422)
  kRateLimited,       // too many requests (429)
  kCancelled,         // stopped by the caller (499)
  kInternal,          // our fault; the client sees a generic message (500)
  kBadGateway,        // an upstream answered something unusable (502)
  kUnavailable,       // cannot take the work now: shutting down, busy, a database away (503)
  kDeadlineExceeded,  // an upstream took too long (504)
};

class Status {
 public:
  Status() = default;  // OK

  static Status ok() { return Status(); }
  // invalid_request_error.
  static Status invalid_request(std::string message, std::string param = "", std::string code = "") {
    return Status(StatusCode::kInvalidArgument, "invalid_request_error", std::move(code), std::move(param),
                  std::move(message));
  }
  static Status not_found(std::string message, std::string param = "", std::string code = "") {
    return Status(StatusCode::kNotFound, "invalid_request_error", std::move(code), std::move(param),
                  std::move(message));
  }
  // A state conflict, such as cancelling a finished batch.
  static Status conflict(std::string message, std::string code = "") {
    return Status(StatusCode::kConflict, "invalid_request_error", std::move(code), "", std::move(message));
  }
  static Status unauthorized(std::string message, std::string code = "invalid_api_key") {
    return Status(StatusCode::kUnauthenticated, "invalid_request_error", std::move(code), "",
                  std::move(message));
  }
  static Status too_large(std::string message) {
    return Status(StatusCode::kTooLarge, "invalid_request_error", "", "", std::move(message));
  }
  static Status request_timeout(std::string message) {
    return Status(StatusCode::kRequestTimeout, "invalid_request_error", "", "", std::move(message));
  }
  static Status unsupported_media(std::string message, std::string code = "unsupported_media_type") {
    return Status(StatusCode::kUnsupportedMedia, "invalid_request_error", std::move(code), "",
                  std::move(message));
  }
  static Status method_not_allowed(std::string message) {
    return Status(StatusCode::kMethodNotAllowed, "invalid_request_error", "", "", std::move(message));
  }
  static Status cancelled(std::string message, std::string code = "request_cancelled") {
    return Status(StatusCode::kCancelled, "invalid_request_error", std::move(code), "", std::move(message));
  }
  // A failure that is not the caller's fault.
  static Status internal(std::string message) {
    return Status(StatusCode::kInternal, "server_error", "", "", std::move(message));
  }
  static Status bad_gateway(std::string message, std::string code = "") {
    return Status(StatusCode::kBadGateway, "server_error", std::move(code), "", std::move(message));
  }
  // The server cannot take the work right now (shutting down, overloaded, its database away).
  static Status unavailable(std::string message) {
    return Status(StatusCode::kUnavailable, "server_error", "", "", std::move(message));
  }

  // type "" takes the default of the code: invalid_request_error for the caller's faults, server_error
  // for the others.
  Status(StatusCode status_code, std::string type, std::string code, std::string param, std::string message)
      : status_code_(status_code),
        type_(type.empty() ? default_type(status_code) : std::move(type)),
        code_(std::move(code)),
        param_(std::move(param)),
        message_(std::move(message)) {}

  bool is_ok() const { return status_code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode status_code() const { return status_code_; }
  bool is_invalid_argument() const { return status_code_ == StatusCode::kInvalidArgument; }
  bool is_unauthenticated() const { return status_code_ == StatusCode::kUnauthenticated; }
  bool is_permission_denied() const { return status_code_ == StatusCode::kPermissionDenied; }
  bool is_not_found() const { return status_code_ == StatusCode::kNotFound; }
  bool is_conflict() const { return status_code_ == StatusCode::kConflict; }
  bool is_too_large() const { return status_code_ == StatusCode::kTooLarge; }
  bool is_rate_limited() const { return status_code_ == StatusCode::kRateLimited; }
  bool is_cancelled() const { return status_code_ == StatusCode::kCancelled; }
  bool is_internal() const { return status_code_ == StatusCode::kInternal; }
  bool is_unavailable() const { return status_code_ == StatusCode::kUnavailable; }

  const std::string& type() const { return type_; }
  const std::string& code() const { return code_; }    // OpenAI's error code; empty = null
  const std::string& param() const { return param_; }  // empty = null
  const std::string& message() const { return message_; }

  // The same failure with another message or param.
  Status with_message(std::string message) const {
    Status s = *this;
    s.message_ = std::move(message);
    return s;
  }
  Status with_param(std::string param) const {
    Status s = *this;
    s.param_ = std::move(param);
    return s;
  }
  // The same details under another code (an upstream's failure that a batch runs again: unavailable).
  Status with_status_code(StatusCode status_code) const {
    Status s = *this;
    s.status_code_ = status_code;
    return s;
  }

 private:
  static std::string default_type(StatusCode c) {
    switch (c) {
      case StatusCode::kOk:
        return "";
      case StatusCode::kInternal:
      case StatusCode::kBadGateway:
      case StatusCode::kUnavailable:
      case StatusCode::kDeadlineExceeded:
        return "server_error";
      default:
        return "invalid_request_error";
    }
  }

  StatusCode status_code_ = StatusCode::kOk;
  std::string type_;
  std::string code_;
  std::string param_;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  // REQUIRES: is_ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }
  T& operator*() & { return std::get<T>(v_); }
  const T& operator*() const& { return std::get<T>(v_); }
  // REQUIRES: !is_ok().
  const Status& status() const { return std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace openbatch
