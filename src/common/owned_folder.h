// Folders that openbatch owns: it creates them, marks them with a file of its own (kMarkerName, naming
// the folder's kind) and keeps them private (0700). Code that removes files at start (temporaries,
// orphans) does so only in a folder claimed here, so that a path given by mistake (a home folder, a
// mount of other data) is refused before anything in it is touched.
//
//   auto claim = claim_folder(dir, "data", [](const std::string& d) { return holds_old_layout(d); });
//   if (!claim) return claim.status();       // not ours: nothing was changed in it
//   if (claim->others_can_read) warn(...);
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace openbatch {

// The marker's file name in every folder openbatch owns.
inline constexpr const char* kMarkerName = ".openbatch-folder";

struct FolderClaim {
  bool created = false;          // the folder did not exist and was made now (0700)
  bool adopted = false;          // an unmarked folder of an older openbatch was marked now
  bool others_can_read = false;  // group or others have any permission on it (mode & 077)
  mode_t mode = 0;               // its permission bits
};

// Makes path a folder of openbatch's own of `kind` ("data", "files"):
//  - absent: creates it (parents too) with mode 0700 whatever the umask, and marks it;
//  - marked with kind already: accepted as it is (its mode is reported, not changed);
//  - empty: marked;
//  - not empty and unmarked: marked when is_old_layout(path) says it holds what an openbatch made before
//    folders were marked (adopted); refused otherwise.
// Refuses (an error naming path and what to do, nothing changed in it) a folder marked with another
// kind, a non-empty folder that is not ours, and a path that is not a folder. path itself may be a
// symbolic link to a folder (an operator's choice); nothing inside it is followed.
// The marker is written whole (a temporary renamed into place) and synced, with its folder.
// Safe to call from several processes at once on one folder (nodes sharing a network file system).
Result<FolderClaim> claim_folder(const std::string& path, std::string_view kind,
                                 const std::function<bool(const std::string& path)>& is_old_layout = nullptr);

// The kind path's marker names; NotFound when path has no marker (or it is not a regular file).
Result<std::string> folder_kind(const std::string& path);

// Makes the file at fd mode 0600, whatever the umask it was created under. path names it in errors.
Status make_private(int fd, const std::string& path);

// "0755": mode's permission bits in octal, for messages.
std::string mode_octal(mode_t mode);

// fsyncs the folder itself (its entries: a file created or renamed in it becomes durable).
Status sync_folder(const std::string& path);

}  // namespace openbatch
