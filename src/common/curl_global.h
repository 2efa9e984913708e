// libcurl's global state, set up once for the whole process before the first handle is made.
#pragma once

#include <curl/curl.h>

#include <mutex>

namespace openbatch {

// Calls curl_global_init once. Thread-safe; call it before curl_easy_init.
inline void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace openbatch
