// The file operations through which the local blob store writes: the seam where a test puts a disk
// that loses power (blobs/power_cut_blob_files_for_test.h), as LevelDB's Env does. Reading, listing and
// removing crash temporaries go straight to the file system: what they see is what the disk holds.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "blobs/blobs.h"
#include "common/status.h"

namespace openbatch::blobs {

class BlobFiles {
 public:
  virtual ~BlobFiles() = default;
  // A new file at path, 0600 whatever the umask, open for writing (truncated if it exists; a link at
  // path is not followed). Returns its descriptor.
  virtual Result<int> create(const std::string& path) = 0;
  // Writes all of data at the end of fd.
  virtual Status write(int fd, std::string_view data) = 0;
  // Makes what was written to fd durable.
  virtual Status sync(int fd) = 0;
  virtual void close(int fd) = 0;
  // Renames from to to (replacing to); durable once the folder is synced.
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  // Makes the entries of the folder (files created, renamed, removed in it) durable.
  virtual Status sync_folder(const std::string& dir) = 0;
  // Removes path (a link itself, never what it points to). OK when absent.
  virtual Status remove(const std::string& path) = 0;
};

// The operating system's files (POSIX). Thread-safe.
std::shared_ptr<BlobFiles> os_blob_files();

// open_local_blob_store (blobs/blobs.h) writing through files: for tests that put a disk that loses
// power under the store.
Result<std::unique_ptr<BlobStore>> open_local_blob_store(const std::string& dir, bool shared,
                                                         std::shared_ptr<BlobFiles> files);

}  // namespace openbatch::blobs
