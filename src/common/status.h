// Errors as values for the core of openbatch. A Status carries an OpenAI-style error (HTTP status,
// type, code, param, message); only the HTTP edge turns it into a response body.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace openbatch {

class Status {
 public:
  Status() = default;  // OK

  static Status ok() { return Status(); }
  // 400 invalid_request_error.
  static Status invalid_request(std::string message, std::string param = "", std::string code = "") {
    return Status(400, "invalid_request_error", std::move(code), std::move(param), std::move(message));
  }
  // 404 invalid_request_error.
  static Status not_found(std::string message, std::string param = "", std::string code = "") {
    return Status(404, "invalid_request_error", std::move(code), std::move(param), std::move(message));
  }
  // 409 invalid_request_error (a state conflict, such as cancelling a finished batch).
  static Status conflict(std::string message, std::string code = "") {
    return Status(409, "invalid_request_error", std::move(code), "", std::move(message));
  }
  static Status unauthorized(std::string message) {
    return Status(401, "invalid_request_error", "invalid_api_key", "", std::move(message));
  }
  // 500 server_error: a failure that is not the caller's fault.
  static Status internal(std::string message) {
    return Status(500, "server_error", "", "", std::move(message));
  }
  // 503: the server cannot take the work right now (shutting down, overloaded).
  static Status unavailable(std::string message) {
    return Status(503, "server_error", "", "", std::move(message));
  }

  Status(int http_status, std::string type, std::string code, std::string param, std::string message)
      : http_status_(http_status),
        type_(std::move(type)),
        code_(std::move(code)),
        param_(std::move(param)),
        message_(std::move(message)) {}

  bool is_ok() const { return http_status_ == 0; }
  explicit operator bool() const { return is_ok(); }
  int http_status() const { return http_status_; }
  const std::string& type() const { return type_; }
  const std::string& code() const { return code_; }    // empty = null
  const std::string& param() const { return param_; }  // empty = null
  const std::string& message() const { return message_; }

 private:
  int http_status_ = 0;
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
