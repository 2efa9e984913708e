// `openbatch results`: downloads a batch's output (and error) file; with --join, matches each result
// to its input row by custom_id and writes the rows with the results as new columns (guide steps 6, 7).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "cli/commands.h"
#include "cli/csv.h"
#include "cli/exit_codes.h"
#include "cli/input_table.h"
#include "cli/results_follow.h"
#include "client/openai_client.h"

namespace openbatch::cli {
namespace {

struct ResultsOptions {
  std::string id;
  std::string output;  // empty: stdout
  bool errors = false;
  std::string join;
  std::string id_column;
  std::string column = "result";
  std::string error_column = "error";
  bool spread = false;
  bool follow = false;
  double poll_seconds = 1.0;
};

struct RowResult {
  bool present = false;
  std::string content;
  std::string error;
};

// The answer or the error of one output/error file line.
RowResult result_of(const nlohmann::json& line) {
  RowResult r;
  r.present = true;
  const nlohmann::json& response = line.contains("response") ? line["response"] : nlohmann::json();
  const nlohmann::json& error = line.contains("error") ? line["error"] : nlohmann::json();
  if (error.is_object()) {
    r.error = error.value("message", error.dump());
    return r;
  }
  if (!response.is_object()) {
    r.error = "no response";
    return r;
  }
  const nlohmann::json body = response.value("body", nlohmann::json::object());
  if (response.value("status_code", 0) != 200) {
    r.error = body.contains("error") && body["error"].is_object()
                  ? body["error"].value("message", body.dump())
                  : body.dump();
    return r;
  }
  try {
    const nlohmann::json& content = body.at("choices").at(0).at("message").at("content");
    r.content = content.is_string() ? content.get<std::string>() : content.dump();
  } catch (const nlohmann::json::exception&) {
    r.error = "the response has no message content";
  }
  return r;
}

std::string joined_csv(const ResultsOptions& o, const CsvTable& table,
                       const std::vector<RowResult>& results) {
  // With --spread, each top-level key of JSON-object contents becomes a column `<column>.<key>`.
  std::vector<std::string> keys;
  std::vector<nlohmann::json> parsed(results.size());
  if (o.spread) {
    for (size_t i = 0; i < results.size(); ++i) {
      parsed[i] = nlohmann::json::parse(results[i].content, nullptr, false);
      if (!parsed[i].is_object()) continue;
      for (const auto& [key, value] : parsed[i].items()) {
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
      }
    }
  }
  CsvRow header = table.header;
  header.push_back(o.column);
  for (const auto& key : keys) header.push_back(o.column + "." + key);
  header.push_back(o.error_column);
  std::string out = csv_record(header);
  for (size_t i = 0; i < table.rows.size(); ++i) {
    CsvRow row = table.rows[i];
    const RowResult& r = results[i];
    row.push_back(r.content);
    for (const auto& key : keys) {
      std::string cell;
      if (parsed[i].is_object() && parsed[i].contains(key)) {
        const auto& v = parsed[i][key];
        cell = v.is_string() ? v.get<std::string>() : v.dump();
      }
      row.push_back(cell);
    }
    row.push_back(r.present ? r.error : "no result for this row");
    out += csv_record(row);
  }
  return out;
}

int results(const ResultsOptions& o) {
  client::OpenAiClient client(client::options_from_environment());
  if (o.follow) {
    if (!o.join.empty()) {
      std::fprintf(stderr,
                   "results: --follow writes the lines as they finish; --join needs them all (drop one)\n");
      return kExitUsage;
    }
    return follow_results(client, o.id, o.errors, o.output, o.poll_seconds);
  }
  Result<nlohmann::json> batch = client.get_batch(o.id);
  if (!batch) return report_failure("results", batch.status());
  const std::string status = batch->value("status", "");
  auto file_id = [&](const char* key) {
    auto it = batch->find(key);
    return it != batch->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::string output_id = file_id("output_file_id");
  const std::string error_id = file_id("error_file_id");
  if (output_id.empty() && error_id.empty()) {
    std::fprintf(stderr, "results: batch %s is %s and has no output yet (openbatch batches wait %s)\n",
                 o.id.c_str(), status.c_str(), o.id.c_str());
    return kExitError;
  }
  std::string output;
  std::string errors;
  if (!output_id.empty()) {
    Result<std::string> c = client.file_content(output_id);
    if (!c) return report_failure("results", c.status());
    output = std::move(*c);
  }
  if (!error_id.empty() && (o.errors || !o.join.empty())) {
    Result<std::string> c = client.file_content(error_id);
    if (!c) return report_failure("results", c.status());
    errors = std::move(*c);
  }
  if (!output.empty() && output.back() != '\n') output += '\n';

  if (o.join.empty()) {
    Status s = write_file(o.output, o.errors ? output + errors : output);
    if (!s) return report_failure("results", s);
    return kExitOk;
  }

  Result<CsvTable> table = read_table(o.join);
  if (!table) return report_failure("results", table.status());
  Result<std::vector<std::string>> ids = row_ids(*table, o.id_column);
  if (!ids) {
    std::fprintf(stderr, "results: %s\n", ids.status().message().c_str());
    return kExitUsage;
  }
  std::unordered_map<std::string, size_t> row_of;
  for (size_t i = 0; i < ids->size(); ++i) row_of[(*ids)[i]] = i;
  std::vector<RowResult> by_row(table->rows.size());
  size_t unknown = 0;
  std::istringstream lines(output + errors);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("custom_id") || !j["custom_id"].is_string()) continue;
    auto it = row_of.find(j["custom_id"].get<std::string>());
    if (it == row_of.end()) {
      ++unknown;
      continue;
    }
    by_row[it->second] = result_of(j);
  }
  size_t missing = 0;
  size_t failed = 0;
  for (const auto& r : by_row) {
    if (!r.present)
      ++missing;
    else if (!r.error.empty())
      ++failed;
  }
  Status s = write_file(o.output, joined_csv(o, *table, by_row));
  if (!s) return report_failure("results", s);
  std::fprintf(stderr, "results: %zu rows, %zu with a result, %zu failed, %zu without a result",
               by_row.size(), by_row.size() - missing - failed, failed, missing);
  if (unknown > 0) std::fprintf(stderr, "; %zu results match no row", unknown);
  std::fprintf(stderr, "\n");
  return kExitOk;
}

}  // namespace

void register_results(CLI::App& app) {
  auto o = std::make_shared<ResultsOptions>();
  CLI::App* cmd = app.add_subcommand(
      "results", "Download a batch's results; with --join, add them to the input rows as new CSV columns");
  cmd->footer(
      "Examples:\n"
      "  openbatch results batch_abc123 -o results.jsonl --errors\n"
      "  openbatch results batch_abc123 --join movies.csv --column categories --spread -o movies_out.csv\n"
      "  openbatch results batch_abc123 --follow --errors   # lines as they finish, while the batch runs\n"
      "Rows match results by custom_id: --id-column's value, or task-<row index> as `prepare` writes it.\n"
      "Exit codes: 0 written, 1 server, network or file error (or the batch has no output yet), 2 bad "
      "arguments.");
  cmd->add_option("id", o->id, "Batch id")->required();
  cmd->add_option("--output,-o", o->output, "File to write (default: stdout)");
  cmd->add_flag("--errors", o->errors, "Also write the error file's lines (without --join)");
  cmd->add_option("--join", o->join, "Input CSV or JSONL to add the results to, in its order")
      ->check(CLI::ExistingFile);
  cmd->add_option("--id-column", o->id_column, "Column that gave custom_id (default: task-<row index>)");
  cmd->add_option("--column", o->column, "Name of the result column")->capture_default_str();
  cmd->add_option("--error-column", o->error_column, "Name of the error column")->capture_default_str();
  cmd->add_flag(
      "--follow,-f", o->follow,
      "Write the lines as they finish while the batch runs (openbatch servers), then the rest once it "
      "has ended");
  cmd->add_option("--poll", o->poll_seconds, "Seconds between checks with --follow")->capture_default_str();
  cmd->add_flag("--spread", o->spread, "Spread JSON-object results into one column per key (<column>.<key>)");
  cmd->callback([o] {
    if (const int rc = results(*o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace openbatch::cli
