#include "cli/output_folder.h"

#include <filesystem>
#include <system_error>

namespace openbatch::cli {

Status create_parent_folder(const std::string& path) {
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  if (folder.empty()) return Status::ok();
  std::error_code ec;
  if (std::filesystem::is_directory(folder, ec)) return Status::ok();
  std::filesystem::create_directories(folder, ec);
  // create_directories reports no error for a path whose last part exists as a file: check the result.
  if (!ec && !std::filesystem::is_directory(folder, ec))
    ec = std::make_error_code(std::errc::not_a_directory);
  if (ec) {
    return Status::internal("cannot create the folder '" + folder.string() + "' for " + path + ": " +
                            ec.message());
  }
  return Status::ok();
}

}  // namespace openbatch::cli
