// The dashboard's files (web/), compiled into the binary so that the server needs nothing beside it.
#pragma once

#include <string_view>

namespace openbatch::api {

struct WebAsset {
  const char* path;          // "/" for web/index.html, "/web/NAME" for the other files
  const char* content_type;  // from the file's extension
  std::string_view body;
};

// The asset served at path, or null. Thread-safe.
const WebAsset* find_web_asset(std::string_view path);

}  // namespace openbatch::api
