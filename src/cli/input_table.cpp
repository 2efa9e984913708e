#include "cli/input_table.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_set>

#include "cli/output_folder.h"

namespace openbatch::cli {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Result<CsvTable> parse_jsonl_table(const std::string& text) {
  std::vector<nlohmann::json> objects;
  CsvTable table;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object())
      return Status::invalid_request("line " + std::to_string(number) + " is not a JSON object");
    for (const auto& [key, value] : j.items()) {
      if (table.column(key) < 0) table.header.push_back(key);
    }
    objects.push_back(std::move(j));
  }
  for (const auto& j : objects) {
    CsvRow row(table.header.size());
    for (const auto& [key, value] : j.items()) {
      row[table.column(key)] = value.is_string() ? value.get<std::string>()
                               : value.is_null() ? ""
                                                 : value.dump();
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

}  // namespace

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found("cannot open " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Status write_file(const std::string& path, const std::string& data) {
  if (path.empty() || path == "-") {
    std::fwrite(data.data(), 1, data.size(), stdout);
    std::fflush(stdout);
    return Status::ok();
  }
  if (Status s = create_parent_folder(path); !s) return s;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f || !f.write(data.data(), static_cast<std::streamsize>(data.size())) || !f.flush()) {
      return Status::internal("cannot write " + tmp);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::internal("cannot write " + path);
  return Status::ok();
}

Result<CsvTable> read_table(const std::string& path) {
  Result<std::string> text = read_file(path);
  if (!text) return text.status();
  Result<CsvTable> table =
      ends_with(path, ".jsonl") || ends_with(path, ".ndjson") ? parse_jsonl_table(*text) : parse_csv(*text);
  if (!table) return Status::invalid_request(path + ": " + table.status().message());
  return table;
}

Result<std::vector<std::string>> row_ids(const CsvTable& table, const std::string& id_column) {
  std::vector<std::string> ids;
  if (id_column.empty()) {
    for (size_t i = 0; i < table.rows.size(); ++i) ids.push_back("task-" + std::to_string(i));
    return ids;
  }
  const int col = table.column(id_column);
  if (col < 0) return Status::invalid_request("no column named '" + id_column + "'");
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < table.rows.size(); ++i) {
    const std::string& id = table.rows[i][col];
    if (id.empty()) return Status::invalid_request("row " + std::to_string(i) + " has an empty " + id_column);
    if (!seen.insert(id).second) {
      return Status::invalid_request("row " + std::to_string(i) + " repeats " + id_column + " '" + id + "'");
    }
    ids.push_back(id);
  }
  return ids;
}

}  // namespace openbatch::cli
