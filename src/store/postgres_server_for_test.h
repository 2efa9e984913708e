// A PostgreSQL 15 server of a test's own: initdb into a temporary folder, pg_ctl on a unix socket
// inside it (no TCP port), trust authentication, fsync off. As root (CI, containers) the server runs
// as the `postgres` system user that Debian's postgresql-15 package creates (initdb refuses root),
// through runuser, with the folder given to that user. The binaries come from $OPENBATCH_PG_BIN, else
// Debian's /usr/lib/postgresql/15/bin (scripts/setup.sh installs postgresql-15).
#pragma once

#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/temp_dir.h"
#include "postgres/connection.h"

extern char** environ;

namespace openbatch::store::testing {

class PostgresServer {
 public:
  // Initialises and starts a server. An error says why (no binaries, initdb or pg_ctl failed, with
  // the server's log).
  static Result<std::unique_ptr<PostgresServer>> start() {
    std::unique_ptr<PostgresServer> s(new PostgresServer());
    if (Status st = s->init(); !st) return st;
    if (Status st = s->start_server(); !st) return st;
    return s;
  }
  ~PostgresServer() {
    if (running_) run({bin("pg_ctl"), "-D", data_dir(), "-m", "immediate", "-w", "stop"});
  }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // A libpq URI for database db on this server.
  std::string url(const std::string& db = "postgres") const {
    return "postgresql:///" + db + "?host=" + dir_.path() + "&port=" + std::to_string(kPort) +
           "&user=openbatch";
  }

  // A fresh, empty database; returns its URI.
  Result<std::string> create_database() {
    static std::atomic<int> counter{0};
    const std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    auto db = postgres::Database::open(url(), 1);
    if (!db) return db.status();
    Status s = (*db)->run([&](postgres::Connection& c) -> Status {
      auto r = c.exec("CREATE DATABASE " + name);
      return r ? Status::ok() : r.status();
    });
    if (!s) return s;
    return url(name);
  }

  // Stops the server as an operator's restart does (fast: connections are cut), and starts it again.
  Status stop() {
    if (Status s = run({bin("pg_ctl"), "-D", data_dir(), "-m", "fast", "-w", "stop"}); !s) return s;
    running_ = false;
    return Status::ok();
  }
  Status start_again() { return start_server(); }

 private:
  static constexpr int kPort = 5432;  // the socket is in our own folder: no clash with others

  PostgresServer() = default;

  static std::string bin(const std::string& tool) {
    const char* dir = std::getenv("OPENBATCH_PG_BIN");
    return std::string(dir && *dir ? dir : "/usr/lib/postgresql/15/bin") + "/" + tool;
  }
  std::string data_dir() const { return dir_.path() + "/data"; }
  std::string log_path() const { return dir_.path() + "/server.log"; }

  Status init() {
    if (::access(bin("initdb").c_str(), X_OK) != 0) {
      return Status::unavailable("no PostgreSQL at " + bin("") +
                                 " (install postgresql-15: scripts/setup.sh, or set OPENBATCH_PG_BIN)");
    }
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr)
        return Status::unavailable("running as root, and there is no 'postgres' user to run PostgreSQL as");
      as_user_ = "postgres";
      if (::chown(dir_.path().c_str(), pw->pw_uid, pw->pw_gid) != 0)
        return Status::internal("cannot chown " + dir_.path());
    }
    return run({bin("initdb"), "-D", data_dir(), "-U", "openbatch", "-A", "trust", "-E", "UTF8", "--locale=C",
                "--no-sync"});
  }

  Status start_server() {
    const std::string options =
        "-k " + dir_.path() + " -p " + std::to_string(kPort) +
        " -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off";
    if (Status s = run(
            {bin("pg_ctl"), "-D", data_dir(), "-l", log_path(), "-o", options, "-w", "-t", "60", "start"});
        !s) {
      std::error_code ec;
      std::string log;
      if (auto f = std::fopen(log_path().c_str(), "r")) {
        char buf[4096];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) log.append(buf, n);
        std::fclose(f);
      }
      return Status::internal(s.message() + "\n" + log);
    }
    running_ = true;
    return Status::ok();
  }

  // Runs argv (as the postgres user when we are root) and waits; quiet unless it fails.
  Status run(std::vector<std::string> argv) const {
    if (!as_user_.empty()) argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", as_user_, "--"});
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string out = dir_.path() + "/command.log";
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return Status::internal("cannot start " + argv[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::ok();
    std::string what;
    for (const auto& a : argv) what += a + " ";
    std::string log;
    if (auto f = std::fopen(out.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) log.append(buf, n);
      std::fclose(f);
    }
    return Status::internal(what + "failed: " + log);
  }

  TempDir dir_;
  std::string as_user_;  // "" : ourselves
  bool running_ = false;
};

}  // namespace openbatch::store::testing
