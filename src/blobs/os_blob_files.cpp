#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "blobs/blob_files.h"
#include "common/owned_folder.h"

namespace openbatch::blobs {
namespace {

Status os_error(const std::string& what, const std::string& path) {
  return Status::internal(what + " " + path + ": " + std::strerror(errno));
}

class OsBlobFiles final : public BlobFiles {
 public:
  Result<int> create(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return os_error("create", path);
    if (Status s = make_private(fd, path); !s) {
      ::close(fd);
      ::unlink(path.c_str());
      return s;
    }
    return fd;
  }

  Status write(int fd, std::string_view data) override {
    while (!data.empty()) {
      ssize_t w = ::write(fd, data.data(), data.size());
      if (w < 0) {
        if (errno == EINTR) continue;
        return os_error("write", "blob");
      }
      data.remove_prefix(static_cast<size_t>(w));
    }
    return Status::ok();
  }

  Status sync(int fd) override {
    if (::fsync(fd) != 0) return os_error("fsync", "blob");
    return Status::ok();
  }

  void close(int fd) override { ::close(fd); }

  Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return os_error("rename", from);
    return Status::ok();
  }

  Status sync_folder(const std::string& dir) override { return openbatch::sync_folder(dir); }

  Status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return os_error("remove", path);
    return Status::ok();
  }
};

}  // namespace

std::shared_ptr<BlobFiles> os_blob_files() {
  static const std::shared_ptr<BlobFiles> files = std::make_shared<OsBlobFiles>();
  return files;
}

}  // namespace openbatch::blobs
