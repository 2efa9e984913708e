// `openbatch prepare`: turns the rows of a CSV or JSONL file into a batch input file, one request per
// row (to /v1/chat/completions unless told), as the guide's step 3 does by hand.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/input_table.h"
#include "openai/endpoint_table.h"
#include "openai/endpoints.h"

namespace openbatch::cli {
namespace {

struct PrepareOptions {
  std::string input;
  std::string model;
  std::string system;
  std::string user;
  std::string id_column;
  std::string image_column;
  bool json_object = false;
  std::string json_schema;
  std::optional<double> temperature;
  std::optional<int> max_tokens;
  std::string endpoint = openai::kChatCompletionsEndpoint;
  std::string output;
};

// TEXT, or the contents of the file when it starts with @.
Result<std::string> text_or_file(const std::string& value) {
  if (value.empty() || value[0] != '@') return value;
  return read_file(value.substr(1));
}

// Replaces {Column} with the row's value; {{ and }} stand for literal braces.
Result<std::string> fill_template(const std::string& tmpl, const CsvTable& table, const CsvRow& row) {
  std::string out;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    const char c = tmpl[i];
    if ((c == '{' || c == '}') && i + 1 < tmpl.size() && tmpl[i + 1] == c) {
      out += c;
      ++i;
    } else if (c == '{') {
      const size_t close = tmpl.find('}', i);
      if (close == std::string::npos)
        return Status::invalid_request("--user: '{' without '}' (write {{ for a brace)");
      const std::string name = tmpl.substr(i + 1, close - i - 1);
      const int col = table.column(name);
      if (col < 0) {
        std::string columns;
        for (const auto& h : table.header) columns += (columns.empty() ? "" : ", ") + h;
        return Status::invalid_request("--user: no column named '" + name + "' (columns: " + columns + ")");
      }
      out += row[col];
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

// The response_format of every request, or null.
Result<nlohmann::json> response_format(const PrepareOptions& o) {
  if (o.json_object) return nlohmann::json{{"type", "json_object"}};
  if (o.json_schema.empty()) return nlohmann::json(nullptr);
  Result<std::string> text = text_or_file(o.json_schema);
  if (!text) return text.status();
  auto schema = nlohmann::json::parse(*text, nullptr, false);
  if (!schema.is_object()) return Status::invalid_request("--json-schema: not a JSON object");
  // Either OpenAI's {"name", "schema", "strict"} object or a bare JSON Schema.
  nlohmann::json spec = schema.contains("schema") && schema.contains("name")
                            ? schema
                            : nlohmann::json{{"name", "output"}, {"schema", schema}, {"strict", true}};
  return nlohmann::json{{"type", "json_schema"}, {"json_schema", spec}};
}

// What the endpoint takes of the options (its row of the endpoint table): embeddings take only the
// input; completions take no image and no response format. An option the endpoint would not honour is
// an error, not dropped.
Result<const openai::Endpoint*> endpoint_for(const PrepareOptions& o) {
  const openai::Endpoint* e = openai::find_endpoint(o.endpoint);
  if (e == nullptr) {
    return Status::invalid_request("--endpoint: one of " + openai::batch_endpoints_phrase() + " (not " +
                                   o.endpoint + ")");
  }
  const bool json = o.json_object || !o.json_schema.empty();
  const char* flag = o.json_object ? "--json-object" : "--json-schema";
  if (!e->generates) {
    const char* extra = !o.system.empty()         ? "--system"
                        : !o.image_column.empty() ? "--image-column"
                        : json                    ? flag
                        : o.temperature           ? "--temperature"
                        : o.max_tokens            ? "--max-tokens"
                                                  : nullptr;
    if (extra) return Status::invalid_request(std::string(extra) + ": " + e->path + " takes only the input");
  }
  if (!e->takes_images && !o.image_column.empty()) {
    return Status::invalid_request(std::string("--image-column: ") + e->path + " takes text only");
  }
  if (!e->takes_response_format && json) {
    return Status::invalid_request(std::string(flag) + ": " + e->path + " answers text only");
  }
  return e;
}

int prepare(const PrepareOptions& o) {
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "prepare: %s\n", s.message().c_str());
    return s.is_not_found() ? kExitError : kExitUsage;
  };
  Result<const openai::Endpoint*> endpoint = endpoint_for(o);
  if (!endpoint) return fail(endpoint.status());
  Result<CsvTable> table = read_table(o.input);
  if (!table) return fail(table.status());
  Result<std::vector<std::string>> ids = row_ids(*table, o.id_column);
  if (!ids) return fail(ids.status());
  Result<std::string> system = text_or_file(o.system);
  if (!system) return fail(system.status());
  Result<nlohmann::json> format = response_format(o);
  if (!format) return fail(format.status());
  int image_col = -1;
  if (!o.image_column.empty() && (image_col = table->column(o.image_column)) < 0) {
    return fail(Status::invalid_request("--image-column: no column named '" + o.image_column + "'"));
  }

  std::string out;
  for (size_t i = 0; i < table->rows.size(); ++i) {
    const CsvRow& row = table->rows[i];
    Result<std::string> user = fill_template(o.user, *table, row);
    if (!user) return fail(user.status());
    openai::PromptRequest request{
        o.model,       *system,      *user,  image_col >= 0 ? row[image_col] : std::string(),
        o.temperature, o.max_tokens, *format};
    nlohmann::json task = {{"custom_id", (*ids)[i]},
                           {"method", "POST"},
                           {"url", o.endpoint},
                           {"body", (*endpoint)->prompt_body(request)}};
    out += task.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += '\n';
  }

  if (Status s = write_file(o.output, out); !s) return report_failure("prepare", s);
  std::fprintf(stderr, "prepare: wrote %zu requests to %s\n", table->rows.size(), o.output.c_str());
  return kExitOk;
}

// "/v1/chat/completions, /v1/completions, /v1/embeddings or /v1/responses", from the endpoint table.
std::string endpoint_list() {
  std::string out;
  const auto all = openai::endpoints();
  for (size_t i = 0; i < all.size(); ++i) {
    if (i > 0) out += i + 1 == all.size() ? " or " : ", ";
    out += all[i].path;
  }
  return out;
}

}  // namespace

void register_prepare(CLI::App& app) {
  auto o = std::make_shared<PrepareOptions>();
  CLI::App* cmd = app.add_subcommand(
      "prepare", "Write a batch input file (JSONL) with one request per row of a CSV or JSONL file");
  cmd->footer(
      "Example (the guide's Example 1):\n"
      "  openbatch prepare movies.csv --model gpt-4o-mini --system @prompt.txt --user \"{Overview}\" \\\n"
      "      --json-object --temperature 0.1 -o tasks.jsonl\n"
      "custom_id is --id-column's value, or task-<row index> (from 0) as in the guide.");
  cmd->add_option("input", o->input, "CSV file with a header row, or JSONL file of objects (.jsonl)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--model", o->model, "Model every request names")->required();
  cmd->add_option("--system", o->system, "System prompt: TEXT, or @FILE to read it from a file");
  cmd->add_option("--user", o->user,
                  "User message template: {Column} is replaced by the row's value, {{ }} are braces")
      ->required();
  cmd->add_option("--id-column", o->id_column,
                  "Column whose values become custom_id (default: task-<row index>)");
  cmd->add_option("--image-column", o->image_column,
                  "Column holding an image URL sent with the user message");
  auto* json_object =
      cmd->add_flag("--json-object", o->json_object, "Ask for JSON output (response_format json_object)");
  cmd->add_option("--json-schema", o->json_schema,
                  "Structured output: @FILE (or inline JSON) with a JSON Schema")
      ->excludes(json_object);
  cmd->add_option("--temperature", o->temperature, "Sampling temperature");
  cmd->add_option("--max-tokens", o->max_tokens, "Most tokens each answer may have");
  cmd->add_option("--endpoint", o->endpoint, "url of every request: " + endpoint_list())
      ->capture_default_str();
  cmd->add_option("--output,-o", o->output, "Batch input file to write")->required();
  cmd->callback([o] {
    if (const int rc = prepare(*o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace openbatch::cli
