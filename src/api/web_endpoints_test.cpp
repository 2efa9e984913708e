// The dashboard's lists of endpoints (web/prepare.js, compiled in) are the endpoint table's: the page
// offers every endpoint the server answers, shows each one the options it takes, and words its
// refusals as the server does.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

#include "api/web_assets.h"
#include "openai/endpoint_table.h"
#include "openai/endpoints.h"

namespace openbatch::api {
namespace {

// The strings of `export const NAME = [...]` in text; fails the test when there is no such list.
std::set<std::string> js_list(const std::string& text, const std::string& name) {
  std::smatch m;
  const std::regex list("export const " + name + R"( = \[([^\]]*)\])");
  EXPECT_TRUE(std::regex_search(text, m, list)) << name << " not found in web/prepare.js";
  std::set<std::string> out;
  const std::string items = m.size() > 1 ? m[1].str() : "";
  static const std::regex quoted(R"('([^']*)')");
  for (std::sregex_iterator it(items.begin(), items.end(), quoted), end; it != end; ++it)
    out.insert((*it)[1]);
  return out;
}

// The paths of the table's endpoints for which has holds.
template <class Has>
std::set<std::string> table_paths(Has has) {
  std::set<std::string> out;
  for (const openai::Endpoint& e : openai::endpoints()) {
    if (has(e)) out.insert(e.path);
  }
  return out;
}

TEST(WebEndpoints, TheDashboardListsTheTablesEndpointsAndWhatEachTakes) {
  const WebAsset* prepare = find_web_asset("/web/prepare.js");
  ASSERT_NE(prepare, nullptr);
  const std::string text(prepare->body);

  EXPECT_EQ(js_list(text, "ENDPOINTS"), table_paths([](const openai::Endpoint&) { return true; }));
  EXPECT_EQ(js_list(text, "TEXT_ENDPOINTS"),
            table_paths([](const openai::Endpoint& e) { return e.generates; }));
  EXPECT_EQ(js_list(text, "RICH_ENDPOINTS"),
            table_paths([](const openai::Endpoint& e) { return e.takes_images; }));
  EXPECT_EQ(js_list(text, "RICH_ENDPOINTS"),
            table_paths([](const openai::Endpoint& e) { return e.takes_response_format; }));
  EXPECT_EQ(table_paths([](const openai::Endpoint&) { return true; }).size(), 4u);

  // Its refusal of an unknown endpoint names them as the server's does.
  EXPECT_NE(text.find("const ENDPOINTS_PHRASE = \"" + openai::batch_endpoints_phrase() + "\";"),
            std::string::npos)
      << openai::batch_endpoints_phrase();
}

}  // namespace
}  // namespace openbatch::api
