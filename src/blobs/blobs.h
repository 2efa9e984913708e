// File bytes: uploaded inputs and the output and error files of batches. A blob is named by a key (a
// file id); it becomes visible under its key only once it is completely written and durable.
//
// Keys are checked before they reach the filesystem: only [A-Za-z0-9_-], 1 to 128 characters, so a key
// can never name a path outside the blob directory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace openbatch::blobs {

// True when key may name a blob.
bool is_valid_key(std::string_view key);

// Reads one committed blob. Keeps reading the same bytes even if the blob is removed meanwhile.
// Thread-safe.
class BlobReader {
 public:
  virtual ~BlobReader() = default;
  virtual int64_t size() const = 0;
  // Reads up to n bytes at offset into buf. Returns the count read: less than n only at the end.
  virtual Result<size_t> read_at(int64_t offset, char* buf, size_t n) const = 0;
};

// Writes one new blob. Nothing is visible under the key until commit() returns OK; a writer destroyed
// without commit leaves nothing behind. Not thread-safe.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  virtual Status append(std::string_view data) = 0;
  virtual int64_t bytes_written() const = 0;
  // Flushes, fsyncs, renames into place and fsyncs the directory. Durable when it returns OK.
  // A blob already stored under the key is replaced.
  virtual Status commit() = 0;
};

// Thread-safe.
class BlobStore {
 public:
  virtual ~BlobStore() = default;
  virtual Result<std::unique_ptr<BlobWriter>> create(const std::string& key) = 0;
  // NotFound when there is no committed blob under key.
  virtual Result<std::unique_ptr<BlobReader>> open(const std::string& key) = 0;
  // OK when absent too.
  virtual Status remove(const std::string& key) = 0;
  // Keys of every committed blob.
  virtual Result<std::vector<std::string>> list() = 0;
};

// Blobs as files of dir, a folder of openbatch's own (common/owned_folder.h, kind kFilesFolderKind):
// created 0700 and marked when absent or empty; a folder that an older openbatch filled (nothing but
// regular files named as file ids, "file-…", and their temporaries) is adopted; anything else is refused
// before a file in it is touched. Blob files are 0600 whatever the umask. Temporaries left by a crash are
// removed here, and only they: regular files named KEY.PID-N.tmp. shared: other processes use dir too (nodes
// on a network file system); then only temporaries untouched for an hour are removed. A blob is renamed into
// place whole, so every process sees it whole or not at all. Links in dir are never followed.
Result<std::unique_ptr<BlobStore>> open_local_blob_store(const std::string& dir, bool shared = false);

inline constexpr const char* kFilesFolderKind = "files";
inline constexpr const char* kFilesFolderName = "openbatch-files";

// Where the blobs of `serve --files-dir FILES_DIR` go: FILES_DIR/openbatch-files, so that openbatch
// never owns a folder the operator named (it may hold anything); or FILES_DIR itself where an older
// openbatch kept its blobs there (FILES_DIR is marked as a files folder, or holds nothing but blobs).
std::string blob_folder_in(const std::string& files_dir);

// True when dir holds at least one entry and nothing but regular files named as an older openbatch named
// its blobs (file ids, "file-…") and their temporaries: its blob folder, from before folders were marked.
bool holds_only_blobs(const std::string& dir);

// Blobs in a PostgreSQL database (a libpq connection URI), in chunks of 1 MiB, streamed both ways: no
// blob is ever whole in memory, and any node on the database reads any blob. A removed blob's chunks
// stay for a while (readers that opened it keep reading), then go; so do the chunks of an upload that
// a crash cut.
Result<std::unique_ptr<BlobStore>> open_postgres_blob_store(const std::string& url);

}  // namespace openbatch::blobs
