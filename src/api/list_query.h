// The query and answer of OpenAI's cursor-paginated list endpoints (GET /v1/files, GET /v1/batches):
// `after`, `limit`, `order`, `purpose` in (the list object out: openai/batch_objects.h). Internal to api/.
#pragma once

#include <httplib.h>

#include <cstdint>
#include <nlohmann/json.hpp>

#include "common/status.h"
#include "store/store.h"

namespace openbatch::api {

struct ListLimits {
  int64_t default_limit = 20;
  int64_t max_limit = 100;
  bool allow_order_and_purpose = false;  // files take `order` and `purpose`; batches do not
};

// Reads the list parameters of req; 400 naming the parameter when one is out of range.
Result<store::ListQuery> parse_list_query(const httplib::Request& req, const ListLimits& limits);

}  // namespace openbatch::api
