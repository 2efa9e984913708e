#include "api/list_query.h"

#include <charconv>
#include <string>

namespace openbatch::api {

Result<store::ListQuery> parse_list_query(const httplib::Request& req, const ListLimits& limits) {
  store::ListQuery q;
  q.limit = limits.default_limit;
  if (req.has_param("limit")) {
    const std::string text = req.get_param_value("limit");
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) {
      return Status::invalid_request("Invalid 'limit': expected an integer, but got '" + text + "' instead.",
                                     "limit", "invalid_type");
    }
    if (v < 1) {
      return Status::invalid_request(
          "Invalid 'limit': integer below minimum value. Expected a value >= 1, but got " + text +
              " instead.",
          "limit", "integer_below_min_value");
    }
    if (v > limits.max_limit) {
      return Status::invalid_request("Invalid 'limit': integer above maximum value. Expected a value <= " +
                                         std::to_string(limits.max_limit) + ", but got " + text + " instead.",
                                     "limit", "integer_above_max_value");
    }
    q.limit = v;
  }
  q.after = req.get_param_value("after");
  if (limits.allow_order_and_purpose) {
    q.purpose = req.get_param_value("purpose");
    if (req.has_param("order")) {
      const std::string order = req.get_param_value("order");
      if (order != "asc" && order != "desc") {
        return Status::invalid_request(
            "Invalid value: '" + order + "'. Supported values are: 'asc' and 'desc'.", "order",
            "invalid_value");
      }
      q.ascending = order == "asc";
    }
  }
  return q;
}

}  // namespace openbatch::api
