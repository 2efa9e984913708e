// The one place where Status codes and HTTP status numbers meet, for the edges that speak HTTP: the
// API's answers and the batch result lines (a Status becomes a number), and the clients of upstream
// servers and hubs (a number becomes a Status).
#pragma once

#include <string>

#include "common/status.h"

namespace openbatch {

// The HTTP status an answer of status carries (200 for OK).
int http_status_of(StatusCode code);
inline int http_status_of(const Status& status) { return http_status_of(status.status_code()); }

// The code of an HTTP status a server answered: the nearest of the closed set (a 418 reads as
// kInvalidArgument, a 507 as kInternal). REQUIRES: http_status outside 200-299.
StatusCode status_code_for_http(int http_status);

// A Status for an HTTP failure with OpenAI's error details.
inline Status status_from_http(int http_status, std::string type, std::string code, std::string param,
                               std::string message) {
  return Status(status_code_for_http(http_status), std::move(type), std::move(code), std::move(param),
                std::move(message));
}

}  // namespace openbatch
