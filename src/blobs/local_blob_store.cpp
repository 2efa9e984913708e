// Blobs as files of one local directory: KEY for a committed blob, KEY.N.tmp while it is written.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "blobs/blobs.h"

namespace openbatch::blobs {

bool is_valid_key(std::string_view key) {
  if (key.empty() || key.size() > 128) return false;
  for (char c : key) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

Status os_error(const std::string& what, const std::string& path) {
  return Status::internal(what + " " + path + ": " + std::strerror(errno));
}

Status invalid_key(const std::string& key) { return Status::not_found("No such blob: '" + key + "'"); }

Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return os_error("open", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return os_error("fsync", dir);
  return Status::ok();
}

class LocalBlobReader final : public BlobReader {
 public:
  LocalBlobReader(int fd, int64_t size) : fd_(fd), size_(size) {}
  ~LocalBlobReader() override { ::close(fd_); }
  int64_t size() const override { return size_; }
  Result<size_t> read_at(int64_t offset, char* buf, size_t n) const override {
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, buf + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return os_error("read", "blob");
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    return done;
  }

 private:
  int fd_;
  int64_t size_;
};

class LocalBlobWriter final : public BlobWriter {
 public:
  LocalBlobWriter(int fd, std::string dir, std::string tmp_path, std::string final_path)
      : fd_(fd), dir_(std::move(dir)), tmp_path_(std::move(tmp_path)), final_path_(std::move(final_path)) {
    buffer_.reserve(kBufferBytes);
  }
  ~LocalBlobWriter() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_path_.c_str());
  }

  Status append(std::string_view data) override {
    if (committed_) return Status::internal("append after commit");
    bytes_ += static_cast<int64_t>(data.size());
    if (buffer_.size() + data.size() <= kBufferBytes) {
      buffer_.append(data);
      return Status::ok();
    }
    if (Status s = flush(); !s) return s;
    if (data.size() >= kBufferBytes) return write_all(data);
    buffer_.append(data);
    return Status::ok();
  }

  int64_t bytes_written() const override { return bytes_; }

  Status commit() override {
    if (committed_) return Status::ok();
    if (Status s = flush(); !s) return s;
    if (::fsync(fd_) != 0) return os_error("fsync", tmp_path_);
    ::close(fd_);
    fd_ = -1;
    if (::rename(tmp_path_.c_str(), final_path_.c_str()) != 0) return os_error("rename", tmp_path_);
    committed_ = true;
    return fsync_dir(dir_);
  }

 private:
  static constexpr size_t kBufferBytes = 1 << 20;

  Status flush() {
    Status s = write_all(buffer_);
    buffer_.clear();
    return s;
  }

  Status write_all(std::string_view data) {
    while (!data.empty()) {
      ssize_t w = ::write(fd_, data.data(), data.size());
      if (w < 0) {
        if (errno == EINTR) continue;
        return os_error("write", tmp_path_);
      }
      data.remove_prefix(static_cast<size_t>(w));
    }
    return Status::ok();
  }

  int fd_;
  std::string dir_, tmp_path_, final_path_;
  std::string buffer_;
  int64_t bytes_ = 0;
  bool committed_ = false;
};

class LocalBlobStore final : public BlobStore {
 public:
  explicit LocalBlobStore(std::string dir) : dir_(std::move(dir)) {}

  Result<std::unique_ptr<BlobWriter>> create(const std::string& key) override {
    if (!is_valid_key(key)) return invalid_key(key);
    // The process id keeps temporaries of processes sharing the directory apart.
    const std::string tmp =
        path(key) + "." + std::to_string(::getpid()) + "-" + std::to_string(next_tmp_++) + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return os_error("create", tmp);
    return std::unique_ptr<BlobWriter>(std::make_unique<LocalBlobWriter>(fd, dir_, tmp, path(key)));
  }

  Result<std::unique_ptr<BlobReader>> open(const std::string& key) override {
    if (!is_valid_key(key)) return invalid_key(key);
    const std::string p = path(key);
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return invalid_key(key);
      return os_error("open", p);
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return os_error("stat", p);
    }
    return std::unique_ptr<BlobReader>(
        std::make_unique<LocalBlobReader>(fd, static_cast<int64_t>(st.st_size)));
  }

  Status remove(const std::string& key) override {
    if (!is_valid_key(key)) return Status::ok();
    if (::unlink(path(key).c_str()) != 0 && errno != ENOENT) return os_error("remove", path(key));
    return Status::ok();
  }

  Result<std::vector<std::string>> list() override {
    std::vector<std::string> keys;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
      std::string name = entry.path().filename().string();
      if (is_valid_key(name)) keys.push_back(std::move(name));
    }
    if (ec) return Status::internal("list " + dir_ + ": " + ec.message());
    return keys;
  }

  // Removes the temporaries of writers that never committed (a crash): all of them, or in a directory
  // that other processes share, those untouched for an hour (the others may be theirs, being written).
  Status remove_temporaries(bool shared) {
    std::error_code ec;
    const auto cutoff = std::filesystem::file_time_type::clock::now() - std::chrono::hours(1);
    for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
      if (entry.path().extension() != ".tmp") continue;
      std::error_code time_ec;
      if (shared && std::filesystem::last_write_time(entry.path(), time_ec) > cutoff) continue;
      std::filesystem::remove(entry.path(), ec);
    }
    if (ec) return Status::internal("clean " + dir_ + ": " + ec.message());
    return Status::ok();
  }

 private:
  std::string path(const std::string& key) const { return dir_ + "/" + key; }

  std::string dir_;
  std::atomic<uint64_t> next_tmp_{0};
};

}  // namespace

Result<std::unique_ptr<BlobStore>> open_local_blob_store(const std::string& dir, bool shared) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::internal("cannot create " + dir + ": " + ec.message());
  auto store = std::make_unique<LocalBlobStore>(dir);
  if (Status s = store->remove_temporaries(shared); !s) return s;
  return std::unique_ptr<BlobStore>(std::move(store));
}

}  // namespace openbatch::blobs
