// A loopback HTTP server for tests of image fetching: good images, errors, slow and huge answers,
// redirects. Counts the requests each path gets.
#pragma once

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "image/test_images_for_test.h"

namespace openbatch::media::testing {

class ImageServer {
 public:
  ImageServer() {
    server_.Get("/good.png", [this](const httplib::Request& req, httplib::Response& res) {
      count(req);
      res.set_content(image::testing::png_image(40, 30, 1), "image/png");
    });
    server_.Get("/other.png", [this](const httplib::Request& req, httplib::Response& res) {
      count(req);
      res.set_content(image::testing::png_image(20, 20, 2), "image/png");
    });
    server_.Get("/photo.bmp", [this](const httplib::Request& req, httplib::Response& res) {
      count(req);
      res.set_content(image::testing::bmp_image(16, 16, 3), "image/bmp");
    });
    server_.Get("/missing.png", [this](const httplib::Request& req, httplib::Response& res) {
      count(req);
      res.status = 404;
      res.set_content("<html>Not Found</html>", "text/html");
    });
    server_.Get("/page.html", [this](const httplib::Request& req, httplib::Response& res) {
      count(req);
      res.set_content("<!doctype html><html><body>a shop page</body></html>", "text/html");
    });
    server_.Get("/corrupt.png", [this](const httplib::Request& req, httplib::Response& res) {
      count(req);
      std::string png = image::testing::png_image(40, 30, 1);
      for (size_t i = 40; i < png.size(); ++i) png[i] = static_cast<char>(i * 31);
      res.set_content(png, "image/png");
    });
    server_.Get("/giant.png", [this](const httplib::Request& req, httplib::Response& res) {
      count(req);
      std::string png = image::testing::png_image(4, 4, 1);
      png[16] = png[20] = 0x01;  // IHDR claims 16 M pixels a side
      res.set_content(png, "image/png");
    });
    server_.Get("/huge.png", [this](const httplib::Request& req, httplib::Response& res) {
      count(req);
      res.set_content(image::testing::png_image(256, 256, 4), "image/png");
    });
    // The same bytes with no Content-Length: only the body's size can stop it.
    server_.Get("/huge-chunked.png", [this](const httplib::Request& req, httplib::Response& res) {
      count(req);
      auto body = std::make_shared<std::string>(image::testing::png_image(256, 256, 4));
      res.set_chunked_content_provider("image/png", [body](size_t offset, httplib::DataSink& sink) {
        if (offset >= body->size()) {
          sink.done();
          return true;
        }
        const size_t n = std::min<size_t>(4096, body->size() - offset);
        return sink.write(body->data() + offset, n);
      });
    });
    server_.Get("/slow.png", [this](const httplib::Request& req, httplib::Response& res) {
      count(req);
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(10), [&] { return released_; });
      res.set_content(image::testing::png_image(8, 8, 5), "image/png");
    });
    server_.Get(R"(/hop/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
      count(req);
      const int n = std::stoi(req.matches[1]);
      res.set_redirect(n <= 1 ? "/good.png" : "/hop/" + std::to_string(n - 1));
    });
    // To the same server under its address, whatever name the request came by.
    server_.Get("/to-address", [this](const httplib::Request& req, httplib::Response& res) {
      count(req);
      res.set_redirect(url("/good.png"));
    });
    server_.Get("/to-file", [this](const httplib::Request& req, httplib::Response& res) {
      count(req);
      res.set_redirect("file:///etc/passwd");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~ImageServer() {
    release_slow();
    server_.stop();
    thread_.join();
  }

  std::string url(const std::string& path) const { return url_on("127.0.0.1", path); }
  // The same path under another name of this host ("localhost", "[::ffff:127.0.0.1]", "0x7f000001").
  std::string url_on(const std::string& host, const std::string& path) const {
    return "http://" + host + ":" + std::to_string(port_) + path;
  }
  int hits(const std::string& path) {
    std::lock_guard lock(mu_);
    return hits_[path];
  }
  void release_slow() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

 private:
  void count(const httplib::Request& req) {
    std::lock_guard lock(mu_);
    ++hits_[req.path];
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::map<std::string, int> hits_;
};

// A loopback port where nothing listens (bound for a moment to find a free one, then closed).
inline int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace openbatch::media::testing
