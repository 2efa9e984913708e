// Blobs as files of one local folder of openbatch's own (common/owned_folder.h): KEY for a committed
// blob, KEY.PID-N.tmp while it is written. Nothing else in the folder is ever removed, and nothing in it
// is followed: only regular files with those names count.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "blobs/blob_files.h"
#include "blobs/blobs.h"
#include "common/owned_folder.h"

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

// True for "KEY.PID-N.tmp", the name of a blob being written (LocalBlobStore::create).
bool is_temporary_name(std::string_view name) {
  constexpr std::string_view kSuffix = ".tmp";
  if (name.size() <= kSuffix.size() || name.substr(name.size() - kSuffix.size()) != kSuffix) return false;
  name.remove_suffix(kSuffix.size());
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || !is_valid_key(name.substr(0, dot))) return false;
  const std::string_view counter = name.substr(dot + 1);
  const size_t dash = counter.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == counter.size()) return false;
  for (size_t i = 0; i < counter.size(); ++i) {
    if (i != dash && (counter[i] < '0' || counter[i] > '9')) return false;
  }
  return true;
}

// The names in dir of regular files (not links, folders or anything else) that match, with each one's
// modification time.
struct Entry {
  std::string name;
  time_t mtime = 0;
};
Result<std::vector<Entry>> regular_files(const std::string& dir, bool (*match)(std::string_view)) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return os_error("list", dir);
  std::vector<Entry> out;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (!match(name)) continue;
    struct stat st {};
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    out.push_back({std::string(name), st.st_mtime});
  }
  ::closedir(d);
  return out;
}

bool is_key_name(std::string_view name) { return is_valid_key(name); }

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
  LocalBlobWriter(BlobFiles& files, int fd, std::string dir, std::string tmp_path, std::string final_path)
      : files_(files),
        fd_(fd),
        dir_(std::move(dir)),
        tmp_path_(std::move(tmp_path)),
        final_path_(std::move(final_path)) {
    buffer_.reserve(kBufferBytes);
  }
  ~LocalBlobWriter() override {
    if (fd_ >= 0) files_.close(fd_);
    if (!committed_) files_.remove(tmp_path_);
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
    if (Status s = files_.sync(fd_); !s) return s;
    files_.close(fd_);
    fd_ = -1;
    if (Status s = files_.rename(tmp_path_, final_path_); !s) return s;
    committed_ = true;
    return files_.sync_folder(dir_);
  }

 private:
  static constexpr size_t kBufferBytes = 1 << 20;

  Status flush() {
    Status s = write_all(buffer_);
    buffer_.clear();
    return s;
  }

  Status write_all(std::string_view data) { return files_.write(fd_, data); }

  BlobFiles& files_;
  int fd_;
  std::string dir_, tmp_path_, final_path_;
  std::string buffer_;
  int64_t bytes_ = 0;
  bool committed_ = false;
};

class LocalBlobStore final : public BlobStore {
 public:
  LocalBlobStore(std::string dir, std::shared_ptr<BlobFiles> files)
      : dir_(std::move(dir)), files_(std::move(files)) {}

  Result<std::unique_ptr<BlobWriter>> create(const std::string& key) override {
    if (!is_valid_key(key)) return invalid_key(key);
    // The process id keeps temporaries of processes sharing the directory apart.
    const std::string tmp =
        path(key) + "." + std::to_string(::getpid()) + "-" + std::to_string(next_tmp_++) + ".tmp";
    auto fd = files_->create(tmp);
    if (!fd) return fd.status();
    return std::unique_ptr<BlobWriter>(std::make_unique<LocalBlobWriter>(*files_, *fd, dir_, tmp, path(key)));
  }

  Result<std::unique_ptr<BlobReader>> open(const std::string& key) override {
    if (!is_valid_key(key)) return invalid_key(key);
    const std::string p = path(key);
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      if (errno == ENOENT || errno == ELOOP) return invalid_key(key);
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
    // Through the seam, as every change of the folder: a removal not yet synced may come back at a power
    // cut (then the blob is an orphan, removed at the next open of an exclusive store). unlink removes a
    // link itself, never what it points to; a folder is refused (EISDIR) and kept.
    return files_->remove(path(key));
  }

  Result<std::vector<std::string>> list() override {
    auto files = regular_files(dir_, is_key_name);
    if (!files) return files.status();
    std::vector<std::string> keys;
    for (Entry& e : *files) keys.push_back(std::move(e.name));
    return keys;
  }

  // Removes the temporaries of writers that never committed (a crash): all of them, or in a folder
  // that other processes share, those untouched for an hour (the others may be theirs, being written).
  Status remove_temporaries(bool shared) {
    auto files = regular_files(dir_, is_temporary_name);
    if (!files) return files.status();
    const time_t cutoff = ::time(nullptr) - 3600;
    for (const Entry& e : *files) {
      if (shared && e.mtime > cutoff) continue;
      const std::string p = dir_ + "/" + e.name;
      if (::unlink(p.c_str()) != 0 && errno != ENOENT) return os_error("remove", p);
    }
    return Status::ok();
  }

 private:
  std::string path(const std::string& key) const { return dir_ + "/" + key; }

  std::string dir_;
  std::shared_ptr<BlobFiles> files_;
  std::atomic<uint64_t> next_tmp_{0};
};

}  // namespace

namespace {

// A name an older openbatch gave a blob or its temporary: every key it used was a file id, "file-…".
bool is_old_blob_name(std::string_view name) {
  return name.substr(0, 5) == "file-" && (is_valid_key(name) || is_temporary_name(name));
}

}  // namespace

bool holds_only_blobs(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return false;
  bool only = true, any = false;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    const bool blob = is_old_blob_name(name) &&
                      ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
    only = only && blob;
    any = true;
  }
  ::closedir(d);
  return only && any;
}

std::string blob_folder_in(const std::string& files_dir) {
  auto kind = folder_kind(files_dir);
  if ((kind && *kind == kFilesFolderKind) || holds_only_blobs(files_dir)) return files_dir;
  return files_dir + "/" + kFilesFolderName;
}

Result<std::unique_ptr<BlobStore>> open_local_blob_store(const std::string& dir, bool shared) {
  return open_local_blob_store(dir, shared, os_blob_files());
}

Result<std::unique_ptr<BlobStore>> open_local_blob_store(const std::string& dir, bool shared,
                                                         std::shared_ptr<BlobFiles> files) {
  auto claim = claim_folder(dir, kFilesFolderKind, holds_only_blobs);
  if (!claim) return claim.status();
  auto store = std::make_unique<LocalBlobStore>(dir, std::move(files));
  if (Status s = store->remove_temporaries(shared); !s) return s;
  return std::unique_ptr<BlobStore>(std::move(store));
}

}  // namespace openbatch::blobs
