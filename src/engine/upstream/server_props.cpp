#include "engine/upstream/server_props.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/json_depth.h"

namespace openbatch::engine::upstream {

std::string props_url(const std::string& api_root) {
  std::string root = api_root;
  while (!root.empty() && root.back() == '/') root.pop_back();
  constexpr std::string_view kApi = "/v1";
  if (root.size() >= kApi.size() && root.compare(root.size() - kApi.size(), kApi.size(), kApi) == 0) {
    root.resize(root.size() - kApi.size());
  }
  return root + "/props";
}

int parse_total_slots(std::string_view body, int max_slots) {
  if (body.size() > kMaxPropsBytes || json_nesting_depth(body) > kMaxJsonDepth) return 0;
  const nlohmann::json props = nlohmann::json::parse(body, nullptr, false);
  if (!props.is_object()) return 0;
  auto it = props.find("total_slots");
  if (it == props.end() || !it->is_number_integer()) return 0;
  const auto slots = it->get<int64_t>();
  return slots >= 1 ? static_cast<int>(std::min<int64_t>(slots, max_slots)) : 0;
}

int fetch_total_slots(UpstreamConnection& connection, const std::string& api_root, const std::string& api_key,
                      int max_slots, const std::function<bool()>& abort) {
  HttpReply reply =
      connection.call(props_url(api_root), "", api_key, kPropsTimeout, abort, nullptr, kMaxPropsBytes);
  if (reply.status < 200 || reply.status >= 300) return 0;
  return parse_total_slots(reply.body, max_slots);
}

}  // namespace openbatch::engine::upstream
