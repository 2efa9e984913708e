// The files of the store (store/store.h): their records (the bytes are in blobs/), by owner.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "store/records.h"

namespace openbatch::store {

class FileStore {
 public:
  virtual ~FileStore() = default;

  // REQUIRES: no file with rec.id exists.
  virtual Status insert_file(const FileRecord& rec) = 0;
  // NotFound when absent or owned by someone else.
  virtual Result<FileRecord> get_file(const std::string& owner, const std::string& id) = 0;
  virtual Result<Page<FileRecord>> list_files(const std::string& owner, const ListQuery& query) = 0;
  // Deletes the record unless a batch that is not terminal uses the file as its input (then a 409).
  virtual Status delete_file(const std::string& owner, const std::string& id) = 0;
  // Files whose expires_at is at or before now and that no unfinished batch uses. Any owner.
  virtual Result<std::vector<FileRecord>> expired_files(int64_t now, int64_t limit) = 0;
  // Every file id, any owner (used to find blobs that lost their record in a crash).
  virtual Result<std::vector<std::string>> all_file_ids() = 0;
  // The bytes of every file of owner together (inputs, and the output and error files of its batches).
  virtual Result<int64_t> stored_bytes(const std::string& owner) = 0;
};

}  // namespace openbatch::store
