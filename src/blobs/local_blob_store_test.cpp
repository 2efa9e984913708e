// The local blob store touches only its own folder and the files it names: what the contract test does
// not cover because PostgreSQL has no folders.
#include <gtest/gtest.h>

#include <filesystem>

#include "blobs/blobs.h"
#include "common/files_for_test.h"
#include "common/owned_folder.h"
#include "common/temp_dir.h"

namespace openbatch::blobs {
namespace {

namespace fs = std::filesystem;

using openbatch::testing::mode_of;
using openbatch::testing::read_file;
using openbatch::testing::ScopedUmask;
using openbatch::testing::write_file;

TEST(LocalBlobStoreTest, RefusesAFolderOfOtherFilesAndDeletesNoneOfThem) {
  TempDir dir;
  openbatch::testing::put_foreign_files(dir.path());
  auto store = open_local_blob_store(dir.path());
  ASSERT_FALSE(store.is_ok());
  EXPECT_NE(store.status().message().find("not empty"), std::string::npos) << store.status().message();
  openbatch::testing::expect_foreign_files_kept(dir.path());
}

TEST(LocalBlobStoreTest, AdoptsAFolderOfAnOlderOpenbatchAndRemovesItsTemporariesOnly) {
  TempDir dir;
  write_file(dir.path() + "/file-abc", "kept");
  write_file(dir.path() + "/file-abc.123-4.tmp", "half");
  auto store = open_local_blob_store(dir.path());
  ASSERT_TRUE(store.is_ok()) << store.status().message();
  EXPECT_EQ(*folder_kind(dir.path()), kFilesFolderKind);
  EXPECT_EQ(read_file(dir.path() + "/file-abc"), "kept");
  EXPECT_FALSE(fs::exists(dir.path() + "/file-abc.123-4.tmp"));
  EXPECT_EQ(*(*store)->list(), std::vector<std::string>{"file-abc"});
}

TEST(LocalBlobStoreTest, InItsOwnFolderItRemovesOnlyRegularTemporariesAndFollowsNoLink) {
  TempDir dir;
  TempDir outside;
  const std::string blobs = dir.path() + "/files";
  ASSERT_TRUE(open_local_blob_store(blobs).is_ok());
  // What someone put in the folder afterwards, named or not as openbatch names its files.
  write_file(outside.path() + "/precious", "precious");
  write_file(outside.path() + "/precious.1-1.tmp", "precious too");
  fs::create_symlink(outside.path() + "/precious", blobs + "/file-link");
  fs::create_symlink(outside.path() + "/precious.1-1.tmp", blobs + "/file-link.1-1.tmp");
  fs::create_directory(blobs + "/file-dir.1-1.tmp");
  write_file(blobs + "/notes.txt", "mine");
  write_file(blobs + "/backup.tmp", "mine");
  write_file(blobs + "/file-x.7-7.tmp", "a crash's temporary");

  auto store = open_local_blob_store(blobs);
  ASSERT_TRUE(store.is_ok()) << store.status().message();
  EXPECT_FALSE(fs::exists(blobs + "/file-x.7-7.tmp"));
  EXPECT_TRUE(fs::is_symlink(blobs + "/file-link.1-1.tmp"));
  EXPECT_TRUE(fs::is_directory(blobs + "/file-dir.1-1.tmp"));
  EXPECT_EQ(read_file(blobs + "/notes.txt"), "mine");
  EXPECT_EQ(read_file(blobs + "/backup.tmp"), "mine");
  EXPECT_EQ(read_file(outside.path() + "/precious.1-1.tmp"), "precious too");
  // A link is no blob: not listed, not opened; removing its key removes the link, not its target.
  EXPECT_TRUE((*store)->list()->empty());
  EXPECT_TRUE((*store)->open("file-link").status().is_not_found());
  EXPECT_TRUE((*store)->remove("file-link"));
  EXPECT_EQ(read_file(outside.path() + "/precious"), "precious");
}

TEST(LocalBlobStoreTest, BlobsAre0600WhateverTheUmask) {
  TempDir dir;
  ScopedUmask umask(0);
  auto store = open_local_blob_store(dir.path() + "/files");
  ASSERT_TRUE(store.is_ok());
  auto w = (*store)->create("file-a");
  ASSERT_TRUE(w.is_ok());
  ASSERT_TRUE((*w)->append("bytes"));
  ASSERT_TRUE((*w)->commit());
  EXPECT_EQ(mode_of(dir.path() + "/files/file-a"), 0600u);
  EXPECT_EQ(mode_of(dir.path() + "/files"), 0700u);
}

TEST(LocalBlobStoreTest, FilesDirKeepsItsBlobsInAFolderOfItsOwnUnlessAnOlderOpenbatchUsedItWhole) {
  TempDir dir;
  // A new or foreign folder: a subfolder openbatch makes; the operator's files stay beside it.
  write_file(dir.path() + "/README", "theirs");
  EXPECT_EQ(blob_folder_in(dir.path()), dir.path() + "/" + kFilesFolderName);
  EXPECT_EQ(blob_folder_in(dir.path() + "/absent"), dir.path() + "/absent/" + kFilesFolderName);
  // An older openbatch's --files-dir: nothing but blobs, used where it is (nodes not yet upgraded
  // keep finding them), and once adopted it stays so.
  TempDir old;
  write_file(old.path() + "/file-abc", "x");
  EXPECT_EQ(blob_folder_in(old.path()), old.path());
  ASSERT_TRUE(open_local_blob_store(old.path()).is_ok());
  EXPECT_EQ(blob_folder_in(old.path()), old.path());
}

}  // namespace
}  // namespace openbatch::blobs
