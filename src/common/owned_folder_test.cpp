#include "common/owned_folder.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "common/files_for_test.h"
#include "common/temp_dir.h"

namespace openbatch {
namespace {

namespace fs = std::filesystem;

using testing::mode_of;
using testing::ScopedUmask;
using testing::write_file;

TEST(OwnedFolderTest, CreatesAnAbsentFolder0700WhateverTheUmaskAndMarksIt) {
  TempDir dir;
  for (mode_t m : {mode_t{0}, mode_t{022}, mode_t{0222}}) {
    ScopedUmask umask(m);
    const std::string path = dir.path() + "/a" + std::to_string(m) + "/data";
    auto claim = claim_folder(path, "data");
    ASSERT_TRUE(claim.is_ok()) << claim.status().message();
    EXPECT_TRUE(claim->created);
    EXPECT_FALSE(claim->others_can_read);
    EXPECT_EQ(mode_of(path), 0700u) << "umask " << m;
    EXPECT_EQ(mode_of(path + "/" + kMarkerName), 0600u);
    EXPECT_EQ(*folder_kind(path), "data");
  }
}

TEST(OwnedFolderTest, MarksAnEmptyFolderAndAcceptsItsOwnAgain) {
  TempDir dir;
  auto first = claim_folder(dir.path(), "files");
  ASSERT_TRUE(first.is_ok()) << first.status().message();
  EXPECT_FALSE(first->created);
  EXPECT_FALSE(first->adopted);
  write_file(dir.path() + "/file-abc", "x");
  auto again = claim_folder(dir.path(), "files");
  ASSERT_TRUE(again.is_ok()) << again.status().message();
  EXPECT_TRUE(fs::exists(dir.path() + "/file-abc"));
}

TEST(OwnedFolderTest, RefusesANonEmptyFolderThatIsNotOursAndTouchesNothing) {
  TempDir dir;
  testing::put_foreign_files(dir.path());
  auto claim = claim_folder(dir.path(), "data", [](const std::string&) { return false; });
  ASSERT_FALSE(claim.is_ok());
  EXPECT_NE(claim.status().message().find("not empty"), std::string::npos) << claim.status().message();
  EXPECT_NE(claim.status().message().find(dir.path()), std::string::npos);
  testing::expect_foreign_files_kept(dir.path());
  EXPECT_FALSE(fs::exists(dir.path() + "/" + kMarkerName));
}

TEST(OwnedFolderTest, AdoptsAFolderOfAnOlderOpenbatch) {
  TempDir dir;
  write_file(dir.path() + "/openbatch.sqlite3", "db");
  std::string asked;
  auto claim = claim_folder(dir.path(), "data", [&](const std::string& p) {
    asked = p;
    return fs::exists(p + "/openbatch.sqlite3");
  });
  ASSERT_TRUE(claim.is_ok()) << claim.status().message();
  EXPECT_TRUE(claim->adopted);
  EXPECT_EQ(asked, dir.path());
  EXPECT_EQ(*folder_kind(dir.path()), "data");
  EXPECT_TRUE(fs::exists(dir.path() + "/openbatch.sqlite3"));
}

TEST(OwnedFolderTest, RefusesAFolderMarkedWithAnotherKind) {
  TempDir dir;
  ASSERT_TRUE(claim_folder(dir.path(), "files").is_ok());
  auto claim = claim_folder(dir.path(), "data");
  ASSERT_FALSE(claim.is_ok());
  EXPECT_NE(claim.status().message().find("another kind"), std::string::npos) << claim.status().message();
}

TEST(OwnedFolderTest, RefusesAPathThatIsNotAFolder) {
  TempDir dir;
  write_file(dir.path() + "/plain", "x");
  EXPECT_FALSE(claim_folder(dir.path() + "/plain", "data").is_ok());
}

TEST(OwnedFolderTest, AMarkerThatIsALinkDoesNotCount) {
  TempDir dir;
  TempDir other;
  ASSERT_TRUE(claim_folder(other.path(), "data").is_ok());
  fs::create_directory(dir.path() + "/d");
  fs::create_symlink(other.path() + "/" + kMarkerName, dir.path() + "/d/" + kMarkerName);
  EXPECT_TRUE(folder_kind(dir.path() + "/d").status().is_not_found());
  EXPECT_FALSE(claim_folder(dir.path() + "/d", "data").is_ok());  // not empty (the link), not ours
}

TEST(OwnedFolderTest, AMarkerBeingWrittenElsewhereOrLeftByACrashDoesNotMakeTheFolderForeign) {
  TempDir dir;
  write_file(dir.path() + "/" + kMarkerName + ".tmp-4242-abcdefgh", "openb");
  auto claim = claim_folder(dir.path(), "data");
  ASSERT_TRUE(claim.is_ok()) << claim.status().message();
  EXPECT_FALSE(claim->adopted);
  EXPECT_EQ(*folder_kind(dir.path()), "data");
}

TEST(OwnedFolderTest, ReportsAFolderOthersMayRead) {
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  auto claim = claim_folder(dir.path(), "data");
  ASSERT_TRUE(claim.is_ok());
  EXPECT_TRUE(claim->others_can_read);
  EXPECT_EQ(mode_octal(claim->mode), "0755");
  EXPECT_EQ(mode_of(dir.path()), 0755u)
      << "an existing folder's mode is the operator's: reported, not changed";
  ::chmod(dir.path().c_str(), 0700);
  EXPECT_FALSE(claim_folder(dir.path(), "data")->others_can_read);
}

}  // namespace
}  // namespace openbatch
