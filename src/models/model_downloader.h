// Downloads one GGUF file over HTTP(S) into a local path, the way a model cache needs it: into a
// `.part` file that a later run resumes, checked (GGUF magic, the announced size) before it is
// renamed into place, and never fetched again once it is there.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"

namespace openbatch::models {

struct DownloadOptions {
  // Sent as `Authorization: Bearer TOKEN` when not empty. libcurl drops it on a redirect to another
  // host, so a hub's token never reaches its CDN.
  std::string bearer_token;
  std::chrono::milliseconds connect_timeout{30000};
  std::chrono::seconds stall_timeout{60};  // a download that moves no byte for this long fails
  int max_redirects = 10;
  std::chrono::milliseconds progress_interval{5000};  // at most one progress line this often
  // Receives progress lines and notes (one line each, no newline). Empty: stderr, as "openbatch: ...".
  std::function<void(const std::string&)> log;
  // Polled during a transfer; once it returns true the download stops with a 503 and its `.part` is
  // kept for the next run. Empty: never.
  std::function<bool()> stop;
};

class ModelDownloader {
 public:
  explicit ModelDownloader(DownloadOptions options);

  // Makes `path` hold the GGUF file at `url` (http or https, redirects followed).
  // An existing `path` is taken as complete and reused without any request. Otherwise the body goes
  // to `path + ".part"`, resumed with a Range request where a `.part` exists and the server answers
  // 206 (a 200 starts it over); the file must start with "GGUF" and have the size the server announced
  // (X-Linked-Size, Content-Range or Content-Length); then it is fsynced and renamed to `path`.
  // Parent directories are created. Two processes fetching the same path take turns (a lock on the
  // `.part`); the second finds the first one's file.
  // Errors: 404 not_found (HTTP 404); 400 invalid_request (another HTTP status, a body that is not
  // GGUF, a size other than announced: the `.part` is removed); 503 unavailable (network errors, a
  // stalled or cut transfer, stop(): the `.part` is kept); 500 internal (local I/O).
  // Blocks until done. Thread-compatible (one call at a time per path).
  Status download(const std::string& url, const std::string& path) const;

  // The body of `url` (a small answer such as a hub's JSON file listing), at most max_bytes.
  // Errors as for download(): 404 not_found, 400 for another status, 503 for network errors.
  Result<std::string> get(const std::string& url, int64_t max_bytes = 16 << 20) const;

  // Writes line to options().log, or to stderr as "openbatch: LINE".
  void log(const std::string& line) const;

  const DownloadOptions& options() const { return options_; }

 private:
  Status download_locked(const std::string& url, const std::string& path, int part_fd) const;

  DownloadOptions options_;
};

}  // namespace openbatch::models
