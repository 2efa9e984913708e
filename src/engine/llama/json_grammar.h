// JSON output enforced by grammar: GBNF for "any JSON object" and for a JSON schema, built with
// llama.cpp's json_schema_to_grammar (its common library).
#pragma once

#include <string>

#include "common/status.h"

namespace openbatch::engine {

// GBNF accepting one JSON object (response_format json_object).
const std::string& json_object_grammar();

// GBNF accepting exactly the JSON values valid under schema_json. 400 (param
// response_format.json_schema.schema) when the schema is not JSON or uses what cannot be enforced.
Result<std::string> json_schema_grammar(const std::string& schema_json);

}  // namespace openbatch::engine
