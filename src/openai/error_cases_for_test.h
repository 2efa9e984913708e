// Walks a JSONL file of bad request bodies, each with the error OpenAI answers it with
// ({"body", "status", "param", "code"}), through a parser. For the request parsers' tests.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "common/http_status.h"
#include "common/status.h"

namespace openbatch::openai {

// The number of cases walked; each must fail with its status, param and code and a message.
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
    EXPECT_EQ(http_status_of(s), c["status"].get<int>()) << line << "\n" << s.message();
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
