// For tests of what lands on disk: a file's text and permission bits in one call each.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/owned_folder.h"

namespace openbatch::testing {

inline void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The permission bits of path itself (a link's own, not its target's).
inline mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// The names in dir other than openbatch's marker (kMarkerName): what a test left or made there.
inline std::vector<std::string> entries_besides_marker(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name != kMarkerName) names.push_back(name);
  }
  return names;
}

// An operator's files, as issue 24 found them deleted: README, Makefile, id_rsa, backup.tmp (each
// holding its name) and a subfolder, sub.
inline void put_foreign_files(const std::string& dir) {
  for (const char* name : {"README", "Makefile", "id_rsa", "backup.tmp"}) write_file(dir + "/" + name, name);
  std::filesystem::create_directory(dir + "/sub");
}
// They are all still there, as they were.
inline void expect_foreign_files_kept(const std::string& dir) {
  for (const char* name : {"README", "Makefile", "id_rsa", "backup.tmp"}) {
    EXPECT_EQ(read_file(dir + "/" + name), name);
  }
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/sub"));
}

// Sets the process's umask while it lives.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t m) : old_(::umask(m)) {}
  ~ScopedUmask() { ::umask(old_); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t old_;
};

}  // namespace openbatch::testing
