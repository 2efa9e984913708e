// How deeply a JSON text nests, found without parsing it. Every JSON text that comes from outside (a
// request body, a batch input line, an upstream's answer) is checked before it is parsed: copying,
// comparing and printing a parsed value recurse once a level, so a body nested a hundred thousand
// levels deep would end the process.
#pragma once

#include <string_view>

#include "common/status.h"

namespace openbatch {

// The most levels of arrays and objects that openbatch reads (OpenAI's own structured outputs take 10;
// a JSON schema for tools rarely passes 20).
constexpr int kMaxJsonDepth = 64;

// The deepest nesting of arrays and objects in text ("1" is 0, "[[]]" is 2), brackets inside strings
// not counted; the count stops at limit + 1. Text that is not JSON is counted all the same.
int json_nesting_depth(std::string_view text, int limit = kMaxJsonDepth);

// OK when text nests at most kMaxJsonDepth levels; otherwise a 400 that says so, naming `what`
// ("The request body", "Line 12").
Status check_json_depth(std::string_view text, std::string_view what = "The request body");

}  // namespace openbatch
