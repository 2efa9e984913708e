#include "cli/csv.h"

namespace openbatch::cli {

int CsvTable::column(std::string_view name) const {
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return static_cast<int>(i);
  }
  return -1;
}

namespace {

// Splits text into records of fields. A record that is one empty field (a blank line) is dropped.
Result<std::vector<CsvRow>> parse_records(std::string_view text) {
  std::vector<CsvRow> records;
  CsvRow record;
  std::string field;
  bool quoted = false;      // inside a quoted field
  bool was_quoted = false;  // the current field was quoted (so only a separator may follow)
  bool field_started = false;
  size_t i = 0;
  auto end_field = [&] {
    record.push_back(std::move(field));
    field.clear();
    was_quoted = false;
    field_started = false;
  };
  auto end_record = [&] {
    const bool blank = record.empty() && field.empty() && !was_quoted;  // `""` alone is a record
    end_field();
    if (!blank) records.push_back(std::move(record));
    record.clear();
  };
  while (i < text.size()) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        was_quoted = true;
      } else {
        field += c;
      }
      ++i;
      continue;
    }
    if (c == ',') {
      end_field();
    } else if (c == '\n' || c == '\r') {
      end_record();
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else if (c == '"') {
      if (field_started || was_quoted) {
        return Status::invalid_request(
            "CSV record " + std::to_string(records.size() + 1) +
            ": a quote inside an unquoted field (quote the field and double the quote)");
      }
      quoted = true;
      field_started = true;
    } else {
      if (was_quoted) {
        return Status::invalid_request("CSV record " + std::to_string(records.size() + 1) +
                                       ": text after the closing quote of a field");
      }
      field += c;
      field_started = true;
    }
    ++i;
  }
  if (quoted) {
    return Status::invalid_request("CSV record " + std::to_string(records.size() + 1) +
                                   ": a quoted field is not closed before the end of the file");
  }
  if (field_started || was_quoted || !record.empty()) end_record();
  return records;
}

}  // namespace

Result<CsvTable> parse_csv(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  Result<std::vector<CsvRow>> records = parse_records(text);
  if (!records) return records.status();
  CsvTable table;
  if (records->empty()) return Status::invalid_request("the CSV file has no header");
  table.header = std::move(records->front());
  for (size_t r = 1; r < records->size(); ++r) {
    CsvRow& row = (*records)[r];
    if (row.size() > table.header.size()) {
      return Status::invalid_request("CSV record " + std::to_string(r + 1) + " has " +
                                     std::to_string(row.size()) + " fields, the header " +
                                     std::to_string(table.header.size()));
    }
    row.resize(table.header.size());
    table.rows.push_back(std::move(row));
  }
  return table;
}

std::string csv_field(std::string_view value) {
  // A leading byte order mark is quoted too, or a reader would drop it at the start of a file.
  if (value.find_first_of(",\"\r\n") == std::string_view::npos && value.rfind("\xEF\xBB\xBF", 0) != 0) {
    return std::string(value);
  }
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string csv_record(const CsvRow& fields) {
  if (fields.size() == 1 && fields[0].empty()) return "\"\"\n";  // a bare line end would be a blank line
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ',';
    out += csv_field(fields[i]);
  }
  out += '\n';
  return out;
}

}  // namespace openbatch::cli
