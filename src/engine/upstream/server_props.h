// How many requests an upstream server runs at once, when it says so: llama-server serves `GET /props`
// at its root (the API root without its trailing /v1) with `total_slots`, its `--parallel`. Other
// servers (vLLM, OpenAI) answer 404 or something else: nothing is known then.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "engine/upstream/upstream_http.h"

namespace openbatch::engine::upstream {

inline constexpr size_t kMaxPropsBytes = 64 * 1024;  // llama-server's answer is a few KB
inline constexpr std::chrono::seconds kPropsTimeout{3};

// The server's props URL for an API root: http://h:8080/v1 -> http://h:8080/props (a root without
// /v1 gets /props appended as it is).
std::string props_url(const std::string& api_root);

// The `total_slots` of a /props answer (at most max_slots), when it is a JSON object with that field a
// whole number of 1 or more; else 0.
int parse_total_slots(std::string_view body, int max_slots);

// GETs the props of the server at api_root (bounded: kMaxPropsBytes, kPropsTimeout): its slots, or 0
// when it does not answer with them (abort polled meanwhile).
int fetch_total_slots(UpstreamConnection& connection, const std::string& api_root, const std::string& api_key,
                      int max_slots, const std::function<bool()>& abort);

}  // namespace openbatch::engine::upstream
