// BlobFiles for tests over a disk that loses power on demand, as LevelDB's FaultInjectionTestEnv models
// one: bytes written to a file are durable only once it is synced, and files created or renamed only
// once their folder is synced. At a cut every later call fails; restore() then puts the disk as the
// power cut leaves it: each file cut back to what was synced of it, renames not yet synced undone,
// files created since their folder's last sync gone, files removed since then back.
//
//   auto files = std::make_shared<PowerCutBlobFiles>();
//   files->arm(9);     // the 9th operation from now on finds the power gone
//   ... open_local_blob_store(dir, false, files) and write until a call fails ...
//   files->restore();  // the disk as the cut left it
//
// Header-only; included by *_test.cpp files only. Thread-safe.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "blobs/blob_files.h"
#include "common/power_switch_for_test.h"

namespace openbatch::blobs::testing {

class PowerCutBlobFiles final : public BlobFiles {
 public:
  // The power goes at the n-th operation (create, write, sync, rename, folder sync, remove) from now
  // on; 0: never.
  void arm(int64_t n) {
    std::lock_guard lock(mu_);
    power_->arm(n);
  }
  // Counts operations on power (shared with the SQLite VFS, say), from now on; null: a switch of its own.
  void use_power(std::shared_ptr<openbatch::testing::PowerSwitch> power) {
    std::lock_guard lock(mu_);
    power_ = power ? std::move(power) : std::make_shared<openbatch::testing::PowerSwitch>();
  }
  bool cut() const {
    std::lock_guard lock(mu_);
    return power_->cut();
  }
  int64_t ops() const {
    std::lock_guard lock(mu_);
    return power_->ops();
  }
  // The disk as the cut leaves it (see above); then calls work again, nothing armed.
  void restore() {
    std::lock_guard lock(mu_);
    for (const auto& [path, f] : files_) {
      if (f.written > f.synced) ::truncate(path.c_str(), static_cast<off_t>(f.synced));
    }
    for (auto it = unsynced_entries_.rbegin(); it != unsynced_entries_.rend(); ++it) {
      if (it->from.empty()) {
        ::unlink(it->to.c_str());  // created after the folder's last sync
      } else {
        ::rename(it->to.c_str(), it->from.c_str());  // renamed, or removed (put aside), since then
      }
    }
    files_.clear();
    unsynced_entries_.clear();
    fds_.clear();
    power_->restore();
  }

  Result<int> create(const std::string& path) override {
    std::lock_guard lock(mu_);
    if (!power_->operate()) return gone();
    auto fd = os_blob_files()->create(path);
    if (!fd) return fd;
    fds_[*fd] = path;
    files_[path] = {};
    unsynced_entries_.push_back({"", path});
    return fd;
  }
  Status write(int fd, std::string_view data) override {
    std::lock_guard lock(mu_);
    if (!power_->operate()) return gone();
    if (Status s = os_blob_files()->write(fd, data); !s) return s;
    files_[fds_[fd]].written += static_cast<int64_t>(data.size());
    return Status::ok();
  }
  Status sync(int fd) override {
    std::lock_guard lock(mu_);
    if (!power_->operate()) return gone();
    // The real disk is not synced (nor folders below): what survives a simulated cut is what this model
    // calls synced, and a real fsync would only make the campaigns slow on a busy machine.
    File& f = files_[fds_[fd]];
    f.synced = f.written;
    return Status::ok();
  }
  void close(int fd) override {
    std::lock_guard lock(mu_);
    os_blob_files()->close(fd);
    fds_.erase(fd);
  }
  Status rename(const std::string& from, const std::string& to) override {
    std::lock_guard lock(mu_);
    if (!power_->operate()) return gone();
    if (Status s = os_blob_files()->rename(from, to); !s) return s;
    if (auto it = files_.find(from); it != files_.end()) {
      files_[to] = it->second;
      files_.erase(it);
    }
    unsynced_entries_.push_back({from, to});
    return Status::ok();
  }
  Status sync_folder(const std::string& dir) override {
    std::lock_guard lock(mu_);
    if (!power_->operate()) return gone();
    std::vector<Entry> left;
    for (const Entry& e : unsynced_entries_) {
      if (e.folder() != std::filesystem::path(dir)) {
        left.push_back(e);
      } else if (e.removed) {
        ::unlink(e.to.c_str());  // gone for good
        files_.erase(e.to);
      }
    }
    unsynced_entries_ = std::move(left);
    return Status::ok();
  }
  // The file is put aside (in a folder of this object's own) until its folder is synced: the cut that
  // comes first brings it back.
  Status remove(const std::string& path) override {
    std::lock_guard lock(mu_);
    if (!power_->operate()) return gone();
    if (::access(path.c_str(), F_OK) != 0) return os_blob_files()->remove(path);  // absent (or refused)
    if (aside_dir_.empty()) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "openbatch-removed-XXXXXX").string();
      if (::mkdtemp(tmpl.data()) == nullptr) return Status::internal("mkdtemp failed");
      aside_dir_ = tmpl;
    }
    const std::string aside = aside_dir_ + "/" + std::to_string(++removed_);
    if (::rename(path.c_str(), aside.c_str()) != 0) return os_blob_files()->remove(path);  // a folder
    if (auto it = files_.find(path); it != files_.end()) {
      files_[aside] = it->second;
      files_.erase(it);
    }
    unsynced_entries_.push_back({path, aside, /*removed=*/true});
    return Status::ok();
  }

  ~PowerCutBlobFiles() override {
    if (!aside_dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(aside_dir_, ec);
    }
  }

 private:
  struct File {
    int64_t written = 0;
    int64_t synced = 0;
  };
  // A folder entry not yet durable: a file created at `to` (from empty), renamed from `from`, or removed
  // from `from` (put aside at `to`).
  struct Entry {
    std::string from;
    std::string to;
    bool removed = false;
    // The folder whose sync makes it durable.
    std::filesystem::path folder() const { return std::filesystem::path(removed ? from : to).parent_path(); }
  };

  static Status gone() { return Status::internal("the power is gone"); }

  mutable std::mutex mu_;
  std::map<int, std::string> fds_;       // open descriptors: their file's path
  std::map<std::string, File> files_;    // files written since arm(), by their path now
  std::vector<Entry> unsynced_entries_;  // oldest first
  std::string aside_dir_;                // removed files wait here for their folder's sync
  int64_t removed_ = 0;
  std::shared_ptr<openbatch::testing::PowerSwitch> power_ =
      std::make_shared<openbatch::testing::PowerSwitch>();
};

}  // namespace openbatch::blobs::testing
