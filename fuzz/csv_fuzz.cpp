// libFuzzer target: the CSV reader. Beyond not crashing: a table it reads, written back with
// csv_record, reads back the same.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cli/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto table = openbatch::cli::parse_csv(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!table.is_ok()) return 0;
  std::string written = openbatch::cli::csv_record(table->header);
  for (const auto& row : table->rows) written += openbatch::cli::csv_record(row);
  const auto again = openbatch::cli::parse_csv(written);
  if (!again.is_ok() || again->header != table->header || again->rows != table->rows) std::abort();
  return 0;
}
