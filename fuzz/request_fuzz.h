// What the request-parser targets share: the body the fuzzer's bytes parse to, the served model, and
// the rule that a parser's error is the client's (400 or 404), never anything else.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/status.h"
#include "engine/engine.h"

namespace openbatch::fuzz {

// The JSON object the bytes hold, or nothing (not JSON, or not an object: not a request body).
inline std::optional<nlohmann::json> request_body(const uint8_t* data, size_t size) {
  auto body = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) return std::nullopt;
  return body;
}

// A served model named "m" (alias gpt-4o-mini) with 4,096 tokens a sequence.
inline engine::ModelInfo served_model(bool vision) {
  engine::ModelInfo model;
  model.id = "m";
  model.aliases = {"gpt-4o-mini"};
  model.context_per_sequence = 4096;
  model.has_vision = vision;
  return model;
}

// Aborts (a finding) unless r is a value or the client's error.
template <typename T>
void expect_client_error(const Result<T>& r) {
  if (!r.is_ok() && !r.status().is_invalid_argument() && !r.status().is_not_found()) std::abort();
}

}  // namespace openbatch::fuzz
