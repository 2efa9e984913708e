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
class StoreContractTest : public ::testing::TestWithParam<std::string>, public StoreWithRecords {
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
  void TearDown() override { store_.reset(); }  // before dir_ goes

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

  TempDir dir_;
  std::string url_;
};

}  // namespace openbatch::store
