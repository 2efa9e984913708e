// `openbatch prepare`: turns the rows of a CSV or JSONL file into a batch input file, one
// /v1/chat/completions request per row, as the guide's step 3 does by hand.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/input_table.h"
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
  std::string endpoint = "/v1/chat/completions";
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

// What the endpoint takes of the options: embeddings take only the input; completions take no image
// and no response format. An option the endpoint would not honour is an error, not dropped.
Status check_endpoint(const PrepareOptions& o) {
  const std::string& e = o.endpoint;
  if (!openai::is_batch_endpoint(e)) {
    return Status::invalid_request("--endpoint: one of " + openai::batch_endpoints_phrase() + " (not " + e +
                                   ")");
  }
  const bool json = o.json_object || !o.json_schema.empty();
  const char* flag = o.json_object ? "--json-object" : "--json-schema";
  if (e == openai::kEmbeddingsEndpoint) {
    const char* extra = !o.system.empty()         ? "--system"
                        : !o.image_column.empty() ? "--image-column"
                        : json                    ? flag
                        : o.temperature           ? "--temperature"
                        : o.max_tokens            ? "--max-tokens"
                                                  : nullptr;
    if (extra) return Status::invalid_request(std::string(extra) + ": /v1/embeddings takes only the input");
  }
  if (e == openai::kCompletionsEndpoint && !o.image_column.empty()) {
    return Status::invalid_request("--image-column: /v1/completions takes text only");
  }
  if (e == openai::kCompletionsEndpoint && json) {
    return Status::invalid_request(std::string(flag) + ": /v1/completions answers text only");
  }
  return Status::ok();
}

// The body of one request to o.endpoint: the system prompt, the filled user template, the row's image URL
// (empty: none) and the options, in the endpoint's own fields.
nlohmann::json request_body(const PrepareOptions& o, const std::string& system, const std::string& user,
                            const std::string& image_url, const nlohmann::json& format) {
  nlohmann::json body = {{"model", o.model}};
  if (o.endpoint == openai::kEmbeddingsEndpoint) {
    body["input"] = user;
    return body;
  }
  if (o.temperature) body["temperature"] = *o.temperature;
  if (o.endpoint == openai::kCompletionsEndpoint) {
    if (o.max_tokens) body["max_tokens"] = *o.max_tokens;
    body["prompt"] = system.empty() ? user : system + "\n\n" + user;
    return body;
  }
  if (o.endpoint == openai::kResponsesEndpoint) {
    if (o.max_tokens) body["max_output_tokens"] = *o.max_tokens;
    if (!format.is_null()) {
      // text.format carries json_schema's name, schema and strict beside its type.
      nlohmann::json f = {{"type", format["type"]}};
      if (format.contains("json_schema")) f.update(format["json_schema"]);
      body["text"] = {{"format", f}};
    }
    if (!system.empty()) body["instructions"] = system;
    if (image_url.empty()) {
      body["input"] = user;
    } else {
      body["input"] = {{{"role", "user"},
                        {"content",
                         {{{"type", "input_text"}, {"text", user}},
                          {{"type", "input_image"}, {"image_url", image_url}}}}}};
    }
    return body;
  }
  nlohmann::json messages = nlohmann::json::array();
  if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
  if (!image_url.empty()) {
    messages.push_back({{"role", "user"},
                        {"content",
                         {{{"type", "text"}, {"text", user}},
                          {{"type", "image_url"}, {"image_url", {{"url", image_url}}}}}}});
  } else {
    messages.push_back({{"role", "user"}, {"content", user}});
  }
  if (o.max_tokens) body["max_tokens"] = *o.max_tokens;
  if (!format.is_null()) body["response_format"] = format;
  body["messages"] = std::move(messages);
  return body;
}

int prepare(const PrepareOptions& o) {
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "prepare: %s\n", s.message().c_str());
    return s.is_not_found() ? kExitError : kExitUsage;
  };
  if (Status s = check_endpoint(o); !s) return fail(s);
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
    const std::string image_url = image_col >= 0 ? row[image_col] : std::string();
    nlohmann::json task = {{"custom_id", (*ids)[i]},
                           {"method", "POST"},
                           {"url", o.endpoint},
                           {"body", request_body(o, *system, *user, image_url, *format)}};
    out += task.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += '\n';
  }

  if (Status s = write_file(o.output, out); !s) return report_failure("prepare", s);
  std::fprintf(stderr, "prepare: wrote %zu requests to %s\n", table->rows.size(), o.output.c_str());
  return kExitOk;
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
  cmd->add_option(
         "--endpoint", o->endpoint,
         "url of every request: /v1/chat/completions, /v1/responses, /v1/completions or /v1/embeddings")
      ->capture_default_str();
  cmd->add_option("--output,-o", o->output, "Batch input file to write")->required();
  cmd->callback([o] {
    if (const int rc = prepare(*o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace openbatch::cli
