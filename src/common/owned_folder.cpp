#include "common/owned_folder.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/random.h"

namespace openbatch {
namespace {

Status os_error(const std::string& what, const std::string& path) {
  return Status::internal(what + " " + path + ": " + std::strerror(errno));
}

// The first line of the marker: "openbatch KIND".
std::string marker_text(std::string_view kind) {
  return "openbatch " + std::string(kind) +
         "\nThis folder belongs to openbatch: it removes files it made here when it starts. Keep nothing "
         "else in it.\n";
}

// A marker written but not yet renamed into place (a crash in between): "KMARKER.tmp-PID".
bool is_marker_temporary(std::string_view name) {
  const std::string prefix = std::string(kMarkerName) + ".tmp-";
  return name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0;
}

// The entries of dir other than ".", ".." and marker temporaries (ours: another process may be writing
// one now, in a folder nodes share, or a crash left it).
Result<std::vector<std::string>> entries_of(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return os_error("open", dir);
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (!is_marker_temporary(name)) names.push_back(name);
  }
  ::closedir(d);
  return names;
}

Status write_marker(const std::string& dir, std::string_view kind) {
  // Apart from the temporaries of other processes, on this machine or another sharing the folder.
  const std::string tmp =
      dir + "/" + kMarkerName + ".tmp-" + std::to_string(::getpid()) + "-" + random_alphanumeric(8);
  const std::string final_path = dir + "/" + kMarkerName;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return os_error("create", tmp);
  const std::string text = marker_text(kind);
  Status s = make_private(fd, tmp);
  if (s && ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    s = os_error("write", tmp);
  if (s && ::fsync(fd) != 0) s = os_error("fsync", tmp);
  ::close(fd);
  if (s && ::rename(tmp.c_str(), final_path.c_str()) != 0) s = os_error("rename", tmp);
  if (!s) {
    ::unlink(tmp.c_str());
    return s;
  }
  return sync_folder(dir);
}

}  // namespace

std::string mode_octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Status make_private(int fd, const std::string& path) {
  if (::fchmod(fd, 0600) != 0) return os_error("chmod", path);
  return Status::ok();
}

Status sync_folder(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return os_error("open", path);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return os_error("fsync", path);
  return Status::ok();
}

Result<std::string> folder_kind(const std::string& path) {
  const std::string marker = path + "/" + kMarkerName;
  int fd = ::open(marker.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT || errno == ELOOP) return Status::not_found(marker + " is absent");
    return os_error("open", marker);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::not_found(marker + " is not a regular file");
  }
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n < 0) return os_error("read", marker);
  std::string_view text(buf, static_cast<size_t>(n));
  text = text.substr(0, text.find('\n'));
  constexpr std::string_view kPrefix = "openbatch ";
  if (text.substr(0, kPrefix.size()) != kPrefix) return std::string();
  return std::string(text.substr(kPrefix.size()));
}

Result<FolderClaim> claim_folder(const std::string& path, std::string_view kind,
                                 const std::function<bool(const std::string& path)>& is_old_layout) {
  FolderClaim claim;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return os_error("stat", path);
    std::error_code ec;
    const auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) return Status::internal("cannot create " + parent.string() + ": " + ec.message());
    const int made = ::mkdir(path.c_str(), 0700);
    if (made != 0 && errno != EEXIST) return os_error("cannot create", path);
    claim.created = made == 0;
    if (::stat(path.c_str(), &st) != 0) return os_error("stat", path);
    // The umask may have taken bits away (0500 under umask 0222): exactly 0700.
    if (claim.created && ::chmod(path.c_str(), 0700) == 0) st.st_mode = (st.st_mode & ~07777) | 0700;
  }
  if (!S_ISDIR(st.st_mode)) return Status::internal(path + " is not a folder");
  claim.mode = st.st_mode & 07777;
  claim.others_can_read = (st.st_mode & 077) != 0;

  auto marked = folder_kind(path);
  if (marked) {
    if (*marked != kind) {
      return Status::internal(path + " is an openbatch folder of another kind ('" + *marked + "', here '" +
                              std::string(kind) + "' is needed): name another folder");
    }
    return claim;
  }
  if (!marked.status().is_not_found()) return marked.status();

  auto names = entries_of(path);
  if (!names) return names.status();
  if (!names->empty()) {
    if (!is_old_layout || !is_old_layout(path)) {
      std::string shown;
      for (size_t i = 0; i < names->size() && i < 3; ++i) shown += (i ? ", " : "") + (*names)[i];
      if (names->size() > 3) shown += ", ...";
      return Status::internal(
          path + " is not empty (" + shown + ") and is not a folder openbatch made (it has no " +
          kMarkerName +
          " file). openbatch removes files it made in its folders, so it keeps to folders of its own: name "
          "a new or empty folder, or move the other files away");
    }
    claim.adopted = true;
  }
  if (Status s = write_marker(path, kind); !s) return s;
  return claim;
}

}  // namespace openbatch
