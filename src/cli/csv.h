// CSV as RFC 4180 writes it: fields separated by commas, quoted when they hold a comma, a quote or a
// line break, quotes inside quoted fields doubled. Bytes pass through unchanged, so UTF-8 text stays
// UTF-8; a leading UTF-8 byte order mark is dropped.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace openbatch::cli {

using CsvRow = std::vector<std::string>;

struct CsvTable {
  CsvRow header;
  std::vector<CsvRow> rows;  // each as long as header (short rows are padded with empty fields)

  // The index of the column named name, or -1.
  int column(std::string_view name) const;
};

// Parses text whose first record is the header. Accepts \n and \r\n line ends. Errors: an unclosed
// quoted field, a quote inside an unquoted field, a row with more fields than the header (with its
// 1-based record number).
Result<CsvTable> parse_csv(std::string_view text);

// One field, quoted when it needs to be.
std::string csv_field(std::string_view value);
// One record with its line end ("\n").
std::string csv_record(const CsvRow& fields);

}  // namespace openbatch::cli
