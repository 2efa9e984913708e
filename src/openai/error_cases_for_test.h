// For the request parsers' tests: the model they are checked against, and a walk of a JSONL file of bad
// request bodies, each with the error OpenAI answers it with ({"body", "kind", "param", "code"}; kind:
// "invalid_argument" for OpenAI's 400s, "not_found" for its 404s).
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"
#include "engine/engine.h"

namespace openbatch::openai {

// A served model "m", also answering to alias, with a 4096-token context.
inline engine::ModelInfo request_test_model(std::string alias) {
  engine::ModelInfo info;
  info.id = "m";
  info.aliases = {std::move(alias)};
  info.context_per_sequence = 4096;
  return info;
}

// Whether s is of kind ("invalid_argument", "not_found"); an unknown kind fails the test.
inline bool is_of_kind(const Status& s, const std::string& kind) {
  if (kind == "invalid_argument") return s.is_invalid_argument();
  if (kind == "not_found") return s.is_not_found();
  ADD_FAILURE() << "unknown kind '" << kind << "'";
  return false;
}

// The number of cases walked; each must fail with its kind, param and code and a message.
inline int expect_error_cases(const std::string& testdata_file,
                              const std::function<Status(const nlohmann::json&)>& parse) {
  std::ifstream in(std::string(OPENBATCH_SOURCE_DIR) + "/src/openai/testdata/" + testdata_file);
  EXPECT_TRUE(in.good()) << testdata_file;
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const nlohmann::json c = nlohmann::json::parse(line);
    const Status s = parse(c["body"]);
    EXPECT_FALSE(s.is_ok()) << line;
    EXPECT_TRUE(is_of_kind(s, c["kind"].get<std::string>())) << line << "\n" << s.message();
    EXPECT_EQ(s.param(), c["param"].is_null() ? "" : c["param"].get<std::string>()) << line << "\n"
                                                                                    << s.message();
    EXPECT_EQ(s.code(), c["code"].is_null() ? "" : c["code"].get<std::string>()) << line << "\n"
                                                                                 << s.message();
    EXPECT_FALSE(s.message().empty()) << line;
    ++cases;
  }
  return cases;
}

}  // namespace openbatch::openai
