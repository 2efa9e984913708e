#include "cli/output_folder.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/temp_dir.h"

namespace openbatch::cli {
namespace {

namespace fs = std::filesystem;

TEST(CreateParentFolder, MakesMissingFoldersAndLeavesExistingOnes) {
  TempDir dir;
  const std::string path = dir.path() + "/build/models/x.gguf";
  ASSERT_TRUE(create_parent_folder(path).is_ok());
  EXPECT_TRUE(fs::is_directory(dir.path() + "/build/models"));
  EXPECT_FALSE(fs::exists(path)) << "only the folder is made, not the file";
  EXPECT_TRUE(create_parent_folder(path).is_ok()) << "an existing folder is fine";
}

TEST(CreateParentFolder, APathWithoutAFolderNeedsNothing) {
  EXPECT_TRUE(create_parent_folder("out.jsonl").is_ok());
  EXPECT_TRUE(create_parent_folder("-").is_ok());
  EXPECT_TRUE(create_parent_folder("").is_ok());
}

TEST(CreateParentFolder, SaysWhichFolderCannotBeMade) {
  TempDir dir;
  std::ofstream(dir.path() + "/models") << "a file where a folder should be";
  const std::string path = dir.path() + "/models/x.gguf";
  Status s = create_parent_folder(path);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("cannot create the folder '" + dir.path() + "/models' for " + path),
            std::string::npos)
      << s.message();

  Status deeper = create_parent_folder(dir.path() + "/models/sub/x.gguf");
  ASSERT_FALSE(deeper.is_ok());
  EXPECT_NE(deeper.message().find("'" + dir.path() + "/models/sub'"), std::string::npos) << deeper.message();
}

}  // namespace
}  // namespace openbatch::cli
