// The fixture of the store contract tests (store/*_contract_test.cpp, one file a role of the Store):
// each test runs against every Store, SQLite and PostgreSQL on a server the test starts itself.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/temp_dir.h"
#include "store/postgres_server_for_test.h"
#include "store/records_for_test.h"
#include "store/store.h"

namespace openbatch::store {

// One PostgreSQL server for the tests of this process, started at first use.
inline std::string& postgres_start_error() {
  static std::string error;
  return error;
}
inline testing::PostgresServer* postgres_server() {
  static std::unique_ptr<testing::PostgresServer> server = [] {
    auto s = testing::PostgresServer::start();
    if (!s) {
      postgres_start_error() = s.status().message();
      return std::unique_ptr<testing::PostgresServer>();
    }
    return std::move(s).value();
  }();
  return server.get();
}

// The behaviour every Store must have, run against each of them: SQLite, and PostgreSQL on a server
// the test starts itself (store/postgres_server_for_test.h).
class StoreContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres") {
      ASSERT_TRUE(postgres_server()) << postgres_start_error();
      auto url = postgres_server()->create_database();
      ASSERT_TRUE(url.is_ok()) << url.status().message();
      url_ = *url;
    } else {
      url_ = dir_.path() + "/openbatch.sqlite3";
    }
    reopen();
  }

  // A new Store object on the same database (a restarted process, another node).
  std::unique_ptr<Store> open_again(const StoreOptions& options = {}) {
    auto s = open_store(url_, options);
    EXPECT_TRUE(s.is_ok()) << s.status().message();
    return s ? std::move(s).value() : nullptr;
  }
  void reopen() {
    store_.reset();
    store_ = open_again();
    ASSERT_TRUE(store_);
  }

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

  TempDir dir_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

}  // namespace openbatch::store
