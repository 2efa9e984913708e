// For the store tests: records with plain values, and a batch started with n requests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "store/store.h"

namespace openbatch::store {

inline FileRecord test_file(const std::string& id, const std::string& owner = "alice",
                            const std::string& purpose = "batch") {
  FileRecord f;
  f.id = id;
  f.owner = owner;
  f.filename = id + ".jsonl";
  f.purpose = purpose;
  f.bytes = 10;
  f.created_at = 1000;
  return f;
}

inline BatchRecord test_batch(const std::string& id, const std::string& input = "file-in",
                              const std::string& owner = "alice") {
  BatchRecord b;
  b.id = id;
  b.owner = owner;
  b.endpoint = "/v1/chat/completions";
  b.input_file_id = input;
  b.completion_window = "24h";
  b.created_at = 2000;
  b.expires_at = 2000 + 86400;
  b.metadata = {{"k", "v"}};
  return b;
}

// Inserts test_batch(id) and starts it with n requests (lines 1..n, custom_ids c1..cn).
inline void start_test_batch(Store& store, const std::string& id, int n) {
  ASSERT_TRUE(store.insert_batch(test_batch(id)));
  std::vector<RequestRecord> reqs;
  for (int i = 1; i <= n; ++i) reqs.push_back({i, "c" + std::to_string(i), (i - 1) * 100, 99});
  ASSERT_TRUE(store.start_batch(id, "tiny", reqs, 2001, {}));
}

inline RequestResult test_result(const std::string& batch_id, int64_t line, Outcome outcome,
                                 int input_tokens = 0) {
  RequestResult r;
  r.batch_id = batch_id;
  r.line = line;
  r.outcome = outcome;
  r.result_line = "{\"line\":" + std::to_string(line) + "}";
  r.usage.input_tokens = input_tokens;
  r.usage.output_tokens = 2 * input_tokens;
  r.usage.cached_tokens = 1;
  return r;
}

// The store tests' fixtures: their store, and the records above with the fixtures' defaults.
class StoreWithRecords {
 protected:
  FileRecord file(const std::string& id, const std::string& owner = "alice",
                  const std::string& purpose = "batch") {
    return test_file(id, owner, purpose);
  }
  BatchRecord batch(const std::string& id, const std::string& input = "file-in",
                    const std::string& owner = "alice") {
    return test_batch(id, input, owner);
  }
  // A batch with n requests, in progress.
  void started_batch(const std::string& id, int n) { start_test_batch(*store_, id, n); }
  RequestResult result(const std::string& batch_id, int64_t line, Outcome outcome, int input_tokens = 0) {
    return test_result(batch_id, line, outcome, input_tokens);
  }

  std::unique_ptr<Store> store_;
};

}  // namespace openbatch::store
