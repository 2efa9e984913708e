// The rows a batch is made from: a CSV file (with a header) or a JSONL file of objects, read as one
// table. Shared by `prepare` (rows to requests) and `results --join` (results back to rows).
#pragma once

#include <string>

#include "cli/csv.h"
#include "common/status.h"

namespace openbatch::cli {

// Reads path as JSONL when it ends in .jsonl or .ndjson, as CSV otherwise. JSONL columns are the keys
// in the order first seen; string values are kept as they are, others as their JSON text.
Result<CsvTable> read_table(const std::string& path);

// The custom_id of each row: the id column's value, or `task-<row index>` as the guide writes it.
// Errors when the column is missing or a value is empty or repeated.
Result<std::vector<std::string>> row_ids(const CsvTable& table, const std::string& id_column);

// The whole file, or why it could not be read.
Result<std::string> read_file(const std::string& path);
// Writes data to path through a temporary file renamed into place, so readers never see half a file;
// path "-" or empty writes to stdout. Makes path's folder when it is missing.
Status write_file(const std::string& path, const std::string& data);

}  // namespace openbatch::cli
