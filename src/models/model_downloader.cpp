#include "models/model_downloader.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>

#include "common/curl_global.h"
#include "common/http_status.h"

namespace openbatch::models {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kGgufMagic = "GGUF";

std::string megabytes(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

std::string errno_text() { return std::strerror(errno); }

// What one request learns from its response headers and what its body callback has done. Header
// fields belong to the latest response: a redirect's are reset at the next status line.
struct Transfer {
  const DownloadOptions* options = nullptr;
  const ModelDownloader* downloader = nullptr;
  std::function<void(const std::string&)> log;
  std::string name;  // for progress lines
  int fd = -1;       // the .part file, or -1 for an in-memory body
  std::string* memory = nullptr;
  int64_t memory_limit = 0;
  int64_t offset = 0;  // bytes already in the file: the Range asked for starts here

  long status = 0;
  int64_t content_length = -1;
  int64_t range_start = -1;
  int64_t range_total = -1;
  int64_t linked_size = -1;  // X-Linked-Size of any response in the chain (the hub's 302 carries it)

  bool body_started = false;
  int64_t received = 0;  // body bytes of this response
  std::string head;      // the file's first bytes, until the magic is checked
  Status failure;        // why a callback stopped the transfer
  Clock::time_point started;
  Clock::time_point last_log;

  // The whole file's size as the server announced it, or -1.
  int64_t announced_size() const {
    if (linked_size >= 0) return linked_size;
    if (status == 206) return range_total;
    if (status == 200 && content_length >= 0) return content_length;
    return -1;
  }
};

int64_t parse_int(std::string_view s) {
  int64_t v = -1;
  if (std::sscanf(std::string(s).c_str(), "%lld", reinterpret_cast<long long*>(&v)) != 1) return -1;
  return v;
}

size_t on_header(char* buffer, size_t size, size_t count, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const size_t n = size * count;
  std::string_view line(buffer, n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    const size_t space = line.find(' ');
    t->status = space == std::string_view::npos ? 0 : static_cast<long>(parse_int(line.substr(space + 1)));
    t->content_length = t->range_start = t->range_total = -1;
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (name == "content-length") {
    t->content_length = parse_int(value);
  } else if (name == "x-linked-size") {
    t->linked_size = parse_int(value);
  } else if (name == "content-range" && value.starts_with("bytes ")) {
    // bytes FIRST-LAST/TOTAL
    long long first = -1, last = -1, total = -1;
    if (std::sscanf(std::string(value.substr(6)).c_str(), "%lld-%lld/%lld", &first, &last, &total) >= 2) {
      t->range_start = first;
      t->range_total = total;
    }
  }
  return n;
}

bool write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void log_progress(Transfer& t, bool force) {
  const auto now = Clock::now();
  if (!force && now - t.last_log < t.options->progress_interval) return;
  t.last_log = now;
  const double seconds = std::chrono::duration<double>(now - t.started).count();
  const int64_t have = t.offset + t.received;
  const int64_t total = t.announced_size();
  char line[256];
  if (total > 0) {
    std::snprintf(line, sizeof line, "downloading %s: %.0f%% (%s of %s, %.1f MB/s)", t.name.c_str(),
                  100.0 * static_cast<double>(have) / static_cast<double>(total), megabytes(have).c_str(),
                  megabytes(total).c_str(),
                  seconds > 0 ? static_cast<double>(t.received) / 1e6 / seconds : 0.0);
  } else {
    std::snprintf(line, sizeof line, "downloading %s: %s", t.name.c_str(), megabytes(have).c_str());
  }
  t.log(line);
}

size_t on_body(char* data, size_t size, size_t count, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const size_t n = size * count;
  if (t->memory != nullptr) {
    if (static_cast<int64_t>(t->memory->size() + n) > t->memory_limit) {
      t->failure = Status::invalid_request("the answer is larger than " + megabytes(t->memory_limit));
      return 0;
    }
    t->memory->append(data, n);
    return n;
  }
  if (!t->body_started) {
    t->body_started = true;
    t->started = t->last_log = Clock::now();
    if (t->status == 206) {
      if (t->range_start != t->offset) {
        t->failure =
            Status::invalid_request("asked to resume at byte " + std::to_string(t->offset) +
                                    ", the server answered from byte " + std::to_string(t->range_start));
        return 0;
      }
    } else if (t->status == 200) {
      if (t->offset > 0) {
        t->log("the server does not resume downloads; starting " + t->name + " over");
        if (::ftruncate(t->fd, 0) != 0) {
          t->failure = Status::internal("cannot truncate the partial download: " + errno_text());
          return 0;
        }
        t->offset = 0;
      }
    } else {
      t->failure = Status::invalid_request("the server answered HTTP " + std::to_string(t->status));
      return 0;
    }
    if (::lseek(t->fd, t->offset, SEEK_SET) < 0) {
      t->failure = Status::internal("cannot seek in the partial download: " + errno_text());
      return 0;
    }
  }
  if (t->offset + t->received < static_cast<int64_t>(kGgufMagic.size())) {
    t->head.append(data, std::min(n, kGgufMagic.size() - t->head.size()));
    if (t->head.size() == kGgufMagic.size() && t->head != kGgufMagic) {
      t->failure = Status::invalid_request("it is not a GGUF file (it does not start with \"GGUF\")");
      return 0;
    }
  }
  if (!write_all(t->fd, data, n)) {
    t->failure = Status::internal("cannot write the partial download: " + errno_text());
    return 0;
  }
  t->received += static_cast<int64_t>(n);
  log_progress(*t, false);
  return n;
}

int on_progress(void* userdata, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(userdata);
  return t->options->stop && t->options->stop() ? 1 : 0;
}

using CurlPtr = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;
using HeaderList = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

// Performs one GET of url into t (its file or memory), with range "FROM-" when range is not empty.
// Returns curl's code; t.status is the last response's status.
CURLcode perform(const std::string& url, const std::string& range, Transfer& t, char* error) {
  CurlPtr curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return CURLE_FAILED_INIT;
  CURL* c = curl.get();
  const DownloadOptions& o = *t.options;
  HeaderList headers(nullptr, curl_slist_free_all);
  if (!o.bearer_token.empty()) {
    headers.reset(curl_slist_append(nullptr, ("Authorization: Bearer " + o.bearer_token).c_str()));
  }
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, static_cast<long>(o.max_redirects));
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(o.stall_timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "openbatch/0.1 (model downloader)");
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  if (!range.empty()) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  if (o.stop) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  }
  const CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 0) t.status = status;
  return rc;
}

// The Status for a transfer that ended with rc; its message starts with `what`. kept_note, appended to
// errors that leave the partial file for the next run, says so.
Status transfer_error(const std::string& what, CURLcode rc, const Transfer& t, const char* error,
                      const std::string& kept_note) {
  switch (rc) {
    case CURLE_HTTP_RETURNED_ERROR: {
      const std::string answer = "the server answered HTTP " + std::to_string(t.status);
      if (t.status == 404) return Status::not_found(what + answer + " (no such file)");
      if (t.status >= 500) return Status::unavailable(what + answer);
      if (t.status == 401 || t.status == 403) {
        return status_from_http(static_cast<int>(t.status), "invalid_request_error", "", "",
                                what + answer + " (it needs a token with access)");
      }
      return Status::invalid_request(what + answer);
    }
    case CURLE_WRITE_ERROR:
      if (!t.failure.is_ok()) {
        return t.failure.with_param("").with_message(what + t.failure.message());
      }
      return Status::internal(what + "the download could not be written");
    case CURLE_ABORTED_BY_CALLBACK:
      return Status::unavailable(what + "interrupted" + kept_note);
    case CURLE_OPERATION_TIMEDOUT:
      return Status::unavailable(what + "timed out (" + std::string(error) + ")" + kept_note);
    case CURLE_COULDNT_RESOLVE_HOST:
      return Status::unavailable(what + "the host name could not be resolved");
    case CURLE_COULDNT_CONNECT:
      return Status::unavailable(what + "the server is unreachable (the connection was refused or failed)");
    case CURLE_TOO_MANY_REDIRECTS:
      return Status::invalid_request(what + "too many redirects");
    case CURLE_UNSUPPORTED_PROTOCOL:
      return Status::invalid_request(what +
                                     "only http:// and https:// URLs (and redirects to them) are fetched");
    case CURLE_URL_MALFORMAT:
      return Status::invalid_request(what + "the URL is malformed");
    default:
      return Status::unavailable(what + (error[0] != '\0' ? std::string(error) : curl_easy_strerror(rc)) +
                                 kept_note);
  }
}

bool starts_with_magic(int fd) {
  char head[4];
  return ::pread(fd, head, sizeof head, 0) == static_cast<ssize_t>(sizeof head) &&
         std::string_view(head, sizeof head) == kGgufMagic;
}

int64_t file_size(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

// Syncs the directory that holds path, so that a rename into it is durable.
void sync_parent(const std::string& path) {
  const std::string dir = fs::path(path).parent_path().string();
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

ModelDownloader::ModelDownloader(DownloadOptions options) : options_(std::move(options)) { init_curl_once(); }

void ModelDownloader::log(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "openbatch: %s\n", line.c_str());
  }
}

Status ModelDownloader::download(const std::string& url, const std::string& path) const {
  const std::string part = path + ".part";
  // A few rounds: the .part this process opened may be one that another process has just renamed
  // into place (then `path` exists on the next round).
  for (int round = 0; round < 3; ++round) {
    if (const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
      const bool gguf = starts_with_magic(fd);
      ::close(fd);
      if (!gguf) return Status::invalid_request(path + " is not a GGUF file; remove it to download it again");
      return Status::ok();
    }
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    if (ec) return Status::internal("cannot create the directory of " + path + ": " + ec.message());
    const int fd = ::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Status::internal("cannot open " + part + ": " + errno_text());
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      log("waiting for another process that is downloading " + path);
      if (::flock(fd, LOCK_EX) != 0) {
        ::close(fd);
        return Status::internal("cannot lock " + part + ": " + errno_text());
      }
    }
    struct stat held {
    }, named{};
    if (::fstat(fd, &held) != 0 || ::stat(part.c_str(), &named) != 0 || held.st_ino != named.st_ino ||
        held.st_dev != named.st_dev) {
      ::close(fd);  // renamed or removed while this process waited
      continue;
    }
    Status s = download_locked(url, path, fd);
    ::close(fd);
    return s;
  }
  return Status::internal("cannot take the lock of " + part);
}

Status ModelDownloader::download_locked(const std::string& url, const std::string& path, int fd) const {
  const std::string part = path + ".part";
  const std::string name = fs::path(path).filename().string();
  int64_t have = file_size(fd);
  if (have > 0 && !starts_with_magic(fd)) {
    // Not the start of a GGUF file: nothing worth resuming.
    if (::ftruncate(fd, 0) != 0) return Status::internal("cannot truncate " + part + ": " + errno_text());
    have = 0;
  }
  if (have > 0) {
    log("resuming " + name + " at " + megabytes(have) + " from " + url);
  } else {
    log("downloading " + url + " to " + path);
  }

  Transfer t;
  char error[CURL_ERROR_SIZE] = {0};
  CURLcode rc = CURLE_OK;
  for (int attempt = 0; attempt < 2; ++attempt) {
    t = Transfer();
    t.options = &options_;
    t.log = [this](const std::string& line) { log(line); };
    t.name = name;
    t.fd = fd;
    t.offset = have;
    error[0] = '\0';
    rc = perform(url, have > 0 ? std::to_string(have) + "-" : "", t, error);
    // 416: the server cannot serve the rest of this .part (the file changed, or it is all there but
    // unchecked): start over once.
    if (rc == CURLE_HTTP_RETURNED_ERROR && t.status == 416 && have > 0) {
      log("the server cannot resume " + name + " (HTTP 416); starting over");
      if (::ftruncate(fd, 0) != 0) return Status::internal("cannot truncate " + part + ": " + errno_text());
      have = 0;
      continue;
    }
    break;
  }

  const int64_t size = file_size(fd);
  if (rc != CURLE_OK) {
    Status s = transfer_error("cannot download " + url + ": ", rc, t, error,
                              size > 0 ? "; the " + megabytes(size) + " received are kept in " + part +
                                             " and the next run resumes them"
                                       : "");
    // A body that is not the file asked for is not worth resuming.
    if (s.is_invalid_argument() || size <= 0) ::unlink(part.c_str());
    return s;
  }
  if (t.status != 200 && t.status != 206) {
    ::unlink(part.c_str());
    return Status::invalid_request("cannot download " + url + ": the server answered HTTP " +
                                   std::to_string(t.status));
  }
  const int64_t announced = t.announced_size();
  if (announced >= 0 && size != announced) {
    ::unlink(part.c_str());
    return Status::invalid_request("cannot download " + url + ": got " + std::to_string(size) +
                                   " bytes where the server announced " + std::to_string(announced));
  }
  if (!starts_with_magic(fd)) {
    ::unlink(part.c_str());
    return Status::invalid_request("cannot download " + url +
                                   ": it is not a GGUF file (it does not start with \"GGUF\")");
  }
  if (t.received > 0) log_progress(t, true);
  if (::fsync(fd) != 0) return Status::internal("cannot sync " + part + ": " + errno_text());
  if (::rename(part.c_str(), path.c_str()) != 0) {
    return Status::internal("cannot rename " + part + " to " + path + ": " + errno_text());
  }
  sync_parent(path);
  log("saved " + path + " (" + megabytes(size) + ")");
  return Status::ok();
}

Result<std::string> ModelDownloader::get(const std::string& url, int64_t max_bytes) const {
  std::string body;
  Transfer t;
  t.options = &options_;
  t.memory = &body;
  t.memory_limit = max_bytes;
  char error[CURL_ERROR_SIZE] = {0};
  const CURLcode rc = perform(url, "", t, error);
  if (rc != CURLE_OK) {
    Status s = transfer_error("cannot download " + url + ": ", rc, t, error, "");
    return s.with_param("").with_message("cannot get" + s.message().substr(s.message().find(' ', 7)));
  }
  if (t.status != 200) {
    return Status::invalid_request("cannot get " + url + ": the server answered HTTP " +
                                   std::to_string(t.status));
  }
  return body;
}

}  // namespace openbatch::models
