// How records sit in the rows of the SQL store (store/sql_store.h): the
// columns each record is selected by, the timestamp column of each status, the `errors` column's
// JSON, and the readers of a row into a record. Internal to store/.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "store/sql_database.h"
#include "store/store.h"

namespace openbatch::store {

// Column lists, in the order the readers below read them.
extern const char* const kFileColumns;
extern const char* const kEventColumns;
extern const char* const kBatchColumns;

// The column that records when a batch reached `s` ("failed_at", ...); null for validating.
const char* timestamp_column(BatchStatus s);

// A batch's `errors` as stored (a JSON array; "" for none), and back (what does not parse reads as none).
std::string errors_to_text(const std::vector<BatchError>& errors);
std::vector<BatchError> errors_from_text(const std::string& text);

// The statuses whose batches hold enqueued tokens, as SQL: "('validating','in_progress','finalizing')".
extern const char* const kEnqueuedStatusesSql;

// A row selected by kFileColumns, kEventColumns, kBatchColumns, as a record.
FileRecord read_file_row(const sql::Row& r);
EventRecord read_event_row(const sql::Row& r);
BatchRecord read_batch_row(const sql::Row& r);

}  // namespace openbatch::store
