#include "child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <thread>

namespace openbatch::bench {

namespace {

// Pids of running children, read by the signal handler (lock-free, async-signal-safe).
constexpr size_t kMaxChildren = 16;
std::array<std::atomic<pid_t>, kMaxChildren> g_children{};

void register_child(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, pid)) return;
  }
}

void unregister_child(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t expected = pid;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

void kill_children_and_exit(int sig) {
  for (auto& slot : g_children) {
    const pid_t pid = slot.load();
    if (pid > 0) ::kill(pid, SIGKILL);
  }
  ::_exit(128 + sig);
}

// Runs in the forked child: only async-signal-safe calls until exec.
[[noreturn]] void exec_child(char* const* argv, int log_fd, pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
  ::dup2(log_fd, STDOUT_FILENO);
  ::dup2(log_fd, STDERR_FILENO);
  const int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execv(argv[0], argv);
  const char* msg = "throughput_bench: cannot execute the program: ";
  (void)!::write(STDERR_FILENO, msg, std::strlen(msg));
  (void)!::write(STDERR_FILENO, argv[0], std::strlen(argv[0]));
  (void)!::write(STDERR_FILENO, "\n", 1);
  ::_exit(127);
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

void kill_children_on_signals() {
  struct sigaction sa {};
  sa.sa_handler = kill_children_and_exit;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

Result<std::unique_ptr<ChildProcess>> ChildProcess::start(const std::vector<std::string>& argv,
                                                          const std::string& log_path) {
  if (argv.empty()) return Status::internal("no program to start");
  if (::access(argv[0].c_str(), X_OK) != 0) {
    return Status::internal(argv[0] + " is not an executable file (build it, or pass its path)");
  }
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) return Status::internal("cannot open " + log_path + ": " + std::strerror(errno));
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return Status::internal(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) exec_child(args.data(), log_fd, parent);
  ::close(log_fd);
  register_child(pid);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, log_path));
}

ChildProcess::~ChildProcess() {
  if (!exited_) stop(std::chrono::seconds(5));
}

bool ChildProcess::reap(bool block, ExitInfo& info) {
  if (exited_) {
    info = exit_;
    return true;
  }
  int status = 0;
  struct rusage usage {};
  const pid_t got = ::wait4(pid_, &status, block ? 0 : WNOHANG, &usage);
  if (got != pid_) return false;
  exited_ = true;
  unregister_child(pid_);
  exit_.status = status;
  exit_.max_rss_kib = usage.ru_maxrss;
  exit_.description = describe(status);
  info = exit_;
  return true;
}

Result<std::string> ChildProcess::wait_for_log(const std::regex& pattern, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    std::ifstream in(log_path_);
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
      if (std::regex_search(line, m, pattern)) return m.size() > 1 ? m[1].str() : m[0].str();
    }
    ExitInfo info;
    if (reap(false, info)) {
      return Status::internal(log_path_ + ": the process ended (" + info.description +
                              ") before it was ready. Its log ends with:\n" + log_tail());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Status::internal(log_path_ + ": not ready after " + std::to_string(timeout.count()) +
                              " s. Its log ends with:\n" + log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

long ChildProcess::peak_rss_kib() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

Result<ExitInfo> ChildProcess::wait(std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  ExitInfo info;
  while (!reap(false, info)) {
    if (std::chrono::steady_clock::now() > deadline) {
      stop(std::chrono::seconds(1));
      return Status::internal(log_path_ + ": still running after " + std::to_string(timeout.count()) +
                              " s, killed. Its log ends with:\n" + log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return info;
}

ExitInfo ChildProcess::stop(std::chrono::seconds grace) {
  ExitInfo info;
  if (reap(false, info)) return info;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (reap(false, info)) return info;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  reap(true, info);
  return info;
}

std::string ChildProcess::log_tail(size_t lines) const {
  std::ifstream in(log_path_);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(std::move(line));
    if (tail.size() > lines) tail.pop_front();
  }
  std::ostringstream out;
  for (const std::string& l : tail) out << "  | " << l << "\n";
  return out.str();
}

}  // namespace openbatch::bench
