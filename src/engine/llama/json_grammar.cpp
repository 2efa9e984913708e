#include "engine/llama/json_grammar.h"

#include <exception>

#include "json-schema-to-grammar.h"

namespace openbatch::engine {

Result<std::string> json_schema_grammar(const std::string& schema_json) {
  try {
    return json_schema_to_grammar(common_json::parse(schema_json));
  } catch (const std::exception& e) {
    return Status::invalid_request(std::string("Invalid schema for response_format: ") + e.what(),
                                   "response_format.json_schema.schema", "invalid_json_schema");
  }
}

const std::string& json_object_grammar() {
  static const std::string grammar = json_schema_grammar(R"({"type": "object"})").value();
  return grammar;
}

}  // namespace openbatch::engine
