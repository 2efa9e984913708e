// A SQLite VFS for tests that behaves as a disk with a volatile cache, and loses power on demand: what
// SQLite writes to a file stays apart (readable by SQLite, not on the disk) until it syncs that file;
// at a cut every later call fails, as if the process had died with the machine, and what was not synced
// is dropped. The shape of LevelDB's FaultInjectionTestEnv and of SQLite's own crash tests.
//
//   PowerCutVfs& vfs = PowerCutVfs::instance();   // registered as "powercut"
//   vfs.arm(17);        // the 17th write, truncate or sync from now on finds the power gone
//   ... open a store with SqliteOptions::vfs = "powercut" and use it until a call fails ...
//   store.reset();      // closing writes nothing more
//   vfs.restore();      // power back: unsynced writes are gone; the disk holds what was synced
//
// Simplifications: creating and deleting a file are durable at once (SQLite syncs the folder of a new
// journal itself; openbatch's folders are synced by the blob store), and the WAL index (-shm) is shared
// memory that SQLite rebuilds from the WAL when the first connection opens the database again.
// Header-only; included by *_test.cpp files only. Thread-safe.
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "common/power_switch_for_test.h"

namespace openbatch::store::testing {

class PowerCutVfs {
 public:
  static PowerCutVfs& instance() {
    static PowerCutVfs* vfs = new PowerCutVfs();  // never destroyed: SQLite keeps a pointer to it
    return *vfs;
  }

  // The power goes at the n-th write, truncate or sync from now on (n >= 1); 0: never.
  void arm(int64_t n) {
    std::lock_guard lock(mu_);
    power_->arm(n);
  }
  // Counts writes, truncates and syncs on power (shared with the blob files' disk, say), from now on;
  // null: a switch of its own again.
  void use_power(std::shared_ptr<openbatch::testing::PowerSwitch> power) {
    std::lock_guard lock(mu_);
    power_ = power ? std::move(power) : std::make_shared<openbatch::testing::PowerSwitch>();
  }
  // Power back: drops every write not synced, and calls work again. Nothing is armed.
  void restore() {
    std::lock_guard lock(mu_);
    pending_.clear();
    power_->restore();
  }
  bool cut() const {
    std::lock_guard lock(mu_);
    return power_->cut();
  }
  // Writes, truncates and syncs counted since arm().
  int64_t ops() const {
    std::lock_guard lock(mu_);
    return power_->ops();
  }

 private:
  // One change of a file not yet synced: bytes written at an offset, or a truncation (data empty).
  struct Change {
    bool truncate = false;
    int64_t offset = 0;  // truncate: the new size
    std::string data;
  };
  struct File {
    sqlite3_file base;  // first: SQLite sees a File as a sqlite3_file
    sqlite3_file* real;
    std::string path;
    bool named;
  };

  PowerCutVfs() {
    real_ = sqlite3_vfs_find(nullptr);
    vfs_ = *real_;
    vfs_.zName = "powercut";
    vfs_.szOsFile = static_cast<int>(sizeof(File));
    vfs_.pNext = nullptr;
    vfs_.pAppData = this;
    vfs_.xOpen = &PowerCutVfs::open;
    vfs_.xDelete = &PowerCutVfs::remove;
    methods_ = {};
    methods_.iVersion = 2;  // locks and shared memory; no memory-mapped reads (they would pass the cache)
    methods_.xClose = &close;
    methods_.xRead = &read;
    methods_.xWrite = &write;
    methods_.xTruncate = &truncate;
    methods_.xSync = &sync;
    methods_.xFileSize = &file_size;
    methods_.xLock = [](sqlite3_file* f, int l) { return real_of(f)->pMethods->xLock(real_of(f), l); };
    methods_.xUnlock = [](sqlite3_file* f, int l) { return real_of(f)->pMethods->xUnlock(real_of(f), l); };
    methods_.xCheckReservedLock = [](sqlite3_file* f, int* out) {
      return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
    };
    methods_.xFileControl = [](sqlite3_file* f, int op, void* arg) {
      return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
    };
    methods_.xSectorSize = [](sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); };
    methods_.xDeviceCharacteristics = [](sqlite3_file* f) {
      return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
    };
    methods_.xShmMap = [](sqlite3_file* f, int page, int size, int extend, void volatile** p) {
      return real_of(f)->pMethods->xShmMap(real_of(f), page, size, extend, p);
    };
    methods_.xShmLock = [](sqlite3_file* f, int offset, int n, int flags) {
      return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
    };
    methods_.xShmBarrier = [](sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); };
    methods_.xShmUnmap = [](sqlite3_file* f, int del) {
      return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
    };
    sqlite3_vfs_register(&vfs_, /*makeDflt=*/0);
  }

  static PowerCutVfs& of(sqlite3_vfs* v) { return *static_cast<PowerCutVfs*>(v->pAppData); }
  static sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }
  static File& file(sqlite3_file* f) { return *reinterpret_cast<File*>(f); }

  static int open(sqlite3_vfs* v, const char* name, sqlite3_file* f, int flags, int* out_flags) {
    PowerCutVfs& self = of(v);
    File& fl = file(f);
    fl.base.pMethods = nullptr;
    {
      std::lock_guard lock(self.mu_);
      if (self.power_->cut()) return SQLITE_IOERR;
    }
    fl.real = static_cast<sqlite3_file*>(sqlite3_malloc(self.real_->szOsFile));
    if (fl.real == nullptr) return SQLITE_NOMEM;
    std::memset(fl.real, 0, static_cast<size_t>(self.real_->szOsFile));
    const int rc = self.real_->xOpen(self.real_, name, fl.real, flags, out_flags);
    if (rc != SQLITE_OK) {
      sqlite3_free(fl.real);
      return rc;
    }
    // A file without a name (a temporary of a sort or a VACUUM) gets one of its own while it is open.
    new (&fl.path)
        std::string(name ? std::string(name) : "temp:" + std::to_string(reinterpret_cast<uintptr_t>(f)));
    fl.named = name != nullptr;
    fl.base.pMethods = &self.methods_;
    return SQLITE_OK;
  }

  static int remove(sqlite3_vfs* v, const char* name, int sync_dir) {
    PowerCutVfs& self = of(v);
    {
      std::lock_guard lock(self.mu_);
      if (self.power_->cut()) return SQLITE_IOERR_DELETE;
      self.pending_.erase(name);
    }
    return self.real_->xDelete(self.real_, name, sync_dir);
  }

  static int close(sqlite3_file* f) {
    File& fl = file(f);
    if (!fl.named) {
      std::lock_guard lock(instance().mu_);
      instance().pending_.erase(fl.path);
    }
    const int rc = fl.real->pMethods ? fl.real->pMethods->xClose(fl.real) : SQLITE_OK;
    sqlite3_free(fl.real);
    fl.path.~basic_string();
    return rc;
  }

  // The size of the file as SQLite sees it: on the disk, changed by what is pending. REQUIRES: mu_.
  static int64_t logical_size(sqlite3_file* real, const std::vector<Change>& changes) {
    sqlite3_int64 size = 0;
    real->pMethods->xFileSize(real, &size);
    int64_t s = size;
    for (const Change& c : changes) {
      s = c.truncate ? c.offset : std::max<int64_t>(s, c.offset + static_cast<int64_t>(c.data.size()));
    }
    return s;
  }

  static int read(sqlite3_file* f, void* buf, int n, sqlite3_int64 offset) {
    PowerCutVfs& self = instance();
    File& fl = file(f);
    std::lock_guard lock(self.mu_);
    if (self.power_->cut()) return SQLITE_IOERR_READ;
    char* out = static_cast<char*>(buf);
    int rc = fl.real->pMethods->xRead(fl.real, buf, n, offset);
    if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) return rc;
    auto it = self.pending_.find(fl.path);
    if (it == self.pending_.end()) return rc;
    // Replay the pending changes over what the disk holds, in the order they were made.
    sqlite3_int64 disk_size = 0;
    fl.real->pMethods->xFileSize(fl.real, &disk_size);
    int64_t size = disk_size;
    for (const Change& c : it->second) {
      if (c.truncate) {
        size = c.offset;
        continue;
      }
      const int64_t end = c.offset + static_cast<int64_t>(c.data.size());
      if (c.offset > size) {  // a hole between the old end and this write reads as zeros
        const int64_t from = std::max<int64_t>(size, offset), to = std::min<int64_t>(c.offset, offset + n);
        if (from < to) std::memset(out + (from - offset), 0, static_cast<size_t>(to - from));
      }
      const int64_t from = std::max<int64_t>(c.offset, offset), to = std::min<int64_t>(end, offset + n);
      if (from < to)
        std::memcpy(out + (from - offset), c.data.data() + (from - c.offset), static_cast<size_t>(to - from));
      size = std::max(size, end);
    }
    // What lies past the end as SQLite sees it reads as zeros, and short.
    if (offset + n > size) {
      const int64_t from = std::max<int64_t>(size, offset);
      std::memset(out + (from - offset), 0, static_cast<size_t>(offset + n - from));
      return SQLITE_IOERR_SHORT_READ;
    }
    return SQLITE_OK;
  }

  static int write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 offset) {
    PowerCutVfs& self = instance();
    std::lock_guard lock(self.mu_);
    if (!self.power_->operate()) return SQLITE_IOERR_WRITE;
    self.pending_[file(f).path].push_back({false, offset, std::string(static_cast<const char*>(buf), n)});
    return SQLITE_OK;
  }

  static int truncate(sqlite3_file* f, sqlite3_int64 size) {
    PowerCutVfs& self = instance();
    std::lock_guard lock(self.mu_);
    if (!self.power_->operate()) return SQLITE_IOERR_TRUNCATE;
    self.pending_[file(f).path].push_back({true, size, {}});
    return SQLITE_OK;
  }

  // Puts the file's pending changes on the disk, then syncs it there.
  static int sync(sqlite3_file* f, int flags) {
    PowerCutVfs& self = instance();
    File& fl = file(f);
    std::lock_guard lock(self.mu_);
    if (!self.power_->operate()) return SQLITE_IOERR_FSYNC;
    auto it = self.pending_.find(fl.path);
    if (it != self.pending_.end()) {
      for (const Change& c : it->second) {
        const int rc = c.truncate ? fl.real->pMethods->xTruncate(fl.real, c.offset)
                                  : fl.real->pMethods->xWrite(fl.real, c.data.data(),
                                                              static_cast<int>(c.data.size()), c.offset);
        if (rc != SQLITE_OK) return rc;
      }
      self.pending_.erase(it);
    }
    // The real disk is not synced: what survives a simulated cut is what this model calls synced, and
    // a real fsync would only make the campaigns slow on a busy machine.
    (void)flags;
    return SQLITE_OK;
  }

  static int file_size(sqlite3_file* f, sqlite3_int64* size) {
    PowerCutVfs& self = instance();
    File& fl = file(f);
    std::lock_guard lock(self.mu_);
    auto it = self.pending_.find(fl.path);
    static const std::vector<Change> kNone;
    *size = logical_size(fl.real, it == self.pending_.end() ? kNone : it->second);
    return SQLITE_OK;
  }

  sqlite3_vfs* real_ = nullptr;
  sqlite3_vfs vfs_{};
  sqlite3_io_methods methods_{};
  mutable std::mutex mu_;
  std::map<std::string, std::vector<Change>> pending_;  // by file path, oldest first
  // Counts writes, truncates and syncs.
  std::shared_ptr<openbatch::testing::PowerSwitch> power_ =
      std::make_shared<openbatch::testing::PowerSwitch>();
};

}  // namespace openbatch::store::testing
