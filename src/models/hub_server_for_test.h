// A loopback HTTP server shaped like a Hugging Face hub, for tests of model downloads:
//   GET /api/models/OWNER/NAME               {"siblings": [{"rfilename": ...}, ...]}
//   GET /OWNER/NAME/resolve/main/FILE        302 to /cdn/OWNER/NAME/FILE with X-Linked-Size, as the hub
//                                            answers for large files (or the file itself: set_redirect)
//   GET /cdn/PATH                            the file, with Range requests answered 206
//   GET /no-range/PATH                       the file, always 200 and chunked (a server that ignores Range)
// Counts the requests each path gets and remembers their Range and Authorization headers.
#pragma once

#include <httplib.h>

#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

namespace openbatch::models::testing {

// Bytes that start like a GGUF file: the magic, then n - 4 bytes of a pattern.
inline std::string gguf_bytes(size_t n, int seed = 1) {
  std::string s = "GGUF";
  for (size_t i = 4; i < n; ++i) s += static_cast<char>((i * 131 + static_cast<size_t>(seed) * 7) % 251);
  return s;
}

// The bytes of the file at path ("" when it cannot be read).
inline std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class HubServer {
 public:
  HubServer() {
    server_.Get(R"(/api/models/([^/]+)/([^/]+))",
                [this](const httplib::Request& req, httplib::Response& res) {
                  std::lock_guard lock(mu_);
                  record(req);
                  const std::string repo = std::string(req.matches[1]) + "/" + std::string(req.matches[2]);
                  if (!repos_.count(repo)) {
                    res.status = 404;
                    res.set_content(R"({"error":"Repository not found"})", "application/json");
                    return;
                  }
                  std::string json = R"({"id":")" + repo + R"(","siblings":[)";
                  bool first = true;
                  for (const auto& [name, bytes] : repos_[repo]) {
                    json += (first ? "" : ",") + std::string(R"({"rfilename":")") + name + "\"}";
                    first = false;
                  }
                  res.set_content(json + "]}", "application/json");
                });
    server_.Get(R"(/([^/]+)/([^/]+)/resolve/main/(.+))", [this](const httplib::Request& req,
                                                                httplib::Response& res) {
      std::lock_guard lock(mu_);
      record(req);
      const std::string repo = std::string(req.matches[1]) + "/" + std::string(req.matches[2]);
      const std::string file = req.matches[3];
      if (!repos_.count(repo) || !repos_[repo].count(file)) {
        res.status = 404;
        res.set_content("Entry not found", "text/plain");
        return;
      }
      const std::string& bytes = repos_[repo][file];
      if (!redirect_) {
        res.set_content(bytes, "application/octet-stream");
        return;
      }
      res.set_redirect(cdn_base_ + "/cdn/" + repo + "/" + file, 302);
      res.set_header("X-Linked-Size",
                     std::to_string(linked_size_ >= 0 ? linked_size_ : static_cast<int64_t>(bytes.size())));
    });
    server_.Get(R"(/(cdn|no-range)/([^/]+)/([^/]+)/(.+))", [this](const httplib::Request& req,
                                                                  httplib::Response& res) {
      std::lock_guard lock(mu_);
      record(req);
      const std::string repo = std::string(req.matches[2]) + "/" + std::string(req.matches[3]);
      const std::string file = req.matches[4];
      if (!repos_.count(repo) || !repos_[repo].count(file)) {
        res.status = 404;
        return;
      }
      auto bytes = std::make_shared<std::string>(repos_[repo][file]);
      if (req.matches[1] == "cdn") {
        res.set_content(*bytes, "application/octet-stream");  // cpp-httplib answers a Range itself
        return;
      }
      res.status = 200;
      res.set_chunked_content_provider(
          "application/octet-stream", [bytes](size_t offset, httplib::DataSink& sink) {
            if (offset >= bytes->size()) {
              sink.done();
              return true;
            }
            return sink.write(bytes->data() + offset, std::min<size_t>(4096, bytes->size() - offset));
          });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    cdn_base_ = url("");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~HubServer() {
    server_.stop();
    thread_.join();
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int port() const { return port_; }

  void add_file(const std::string& repo, const std::string& file, std::string bytes) {
    std::lock_guard lock(mu_);
    repos_[repo][file] = std::move(bytes);
  }
  // Where the hub's redirects point: this server by default; "http://localhost:PORT" makes the CDN
  // another host for libcurl.
  void set_cdn_base(const std::string& base) {
    std::lock_guard lock(mu_);
    cdn_base_ = base;
  }
  void set_redirect(bool redirect) {
    std::lock_guard lock(mu_);
    redirect_ = redirect;
  }
  // The X-Linked-Size the hub announces (-1: the file's true size).
  void set_linked_size(int64_t size) {
    std::lock_guard lock(mu_);
    linked_size_ = size;
  }

  int hits(const std::string& path) {
    std::lock_guard lock(mu_);
    return hits_[path];
  }
  int total_hits() {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& [path, count] : hits_) n += count;
    return n;
  }
  std::string range(const std::string& path) {
    std::lock_guard lock(mu_);
    return ranges_[path];
  }
  std::string authorization(const std::string& path) {
    std::lock_guard lock(mu_);
    return authorizations_[path];
  }

 private:
  void record(const httplib::Request& req) {
    ++hits_[req.path];
    ranges_[req.path] = req.get_header_value("Range");
    authorizations_[req.path] = req.get_header_value("Authorization");
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, std::map<std::string, std::string>> repos_;
  std::string cdn_base_;
  bool redirect_ = true;
  int64_t linked_size_ = -1;
  std::map<std::string, int> hits_;
  std::map<std::string, std::string> ranges_;
  std::map<std::string, std::string> authorizations_;
};

}  // namespace openbatch::models::testing
