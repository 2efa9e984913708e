// The dashboard's files compiled into the binary: served with their types, and every file the page
// loads (the stylesheet, the icon, each module's imports) is one of them.
#include "api/web_assets.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <regex>
#include <set>
#include <string>
#include <thread>

#include "api/routes.h"

namespace openbatch::api {
namespace {

// The /web/ paths a file refers to: src="/web/x", href="/web/x", and imports from './x.js'.
std::set<std::string> references(std::string_view body) {
  std::set<std::string> out;
  const std::string text(body);
  static const std::regex absolute(R"re((?:src|href)="(/web/[^"]+)")re");
  static const std::regex relative(R"re(from '\./([A-Za-z0-9_.-]+)')re");
  for (std::sregex_iterator it(text.begin(), text.end(), absolute), end; it != end; ++it)
    out.insert((*it)[1]);
  for (std::sregex_iterator it(text.begin(), text.end(), relative), end; it != end; ++it)
    out.insert("/web/" + (*it)[1].str());
  return out;
}

TEST(WebAssets, EveryFileThePageLoadsIsCompiledIn) {
  const WebAsset* index = find_web_asset("/");
  ASSERT_NE(index, nullptr);
  EXPECT_STREQ(index->content_type, "text/html; charset=utf-8");
  std::set<std::string> seen, todo = references(index->body);
  EXPECT_TRUE(todo.count("/web/app.js")) << "index.html loads the app";
  while (!todo.empty()) {
    const std::string path = *todo.begin();
    todo.erase(todo.begin());
    if (!seen.insert(path).second) continue;
    const WebAsset* a = find_web_asset(path);
    ASSERT_NE(a, nullptr) << path << " is referred to but not compiled in";
    EXPECT_FALSE(a->body.empty()) << path;
    for (const std::string& r : references(a->body)) todo.insert(r);
  }
  EXPECT_GE(seen.size(), 8u);
  EXPECT_STREQ(find_web_asset("/web/app.js")->content_type, "text/javascript; charset=utf-8");
  EXPECT_STREQ(find_web_asset("/web/style.css")->content_type, "text/css; charset=utf-8");
  EXPECT_EQ(find_web_asset("/web/nope.js"), nullptr);
  EXPECT_EQ(find_web_asset("/index.html"), nullptr) << "the page is served at /";
}

TEST(WebAssets, ServedOverHttpWithTheirTypesAndOpenAIsErrorForOthers) {
  httplib::Server http;
  RouteContext ctx;  // the files need none of it
  register_web_routes(http, ctx);
  const int port = http.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread t([&] { http.listen_after_bind(); });
  while (!http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  httplib::Client c("127.0.0.1", port);
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(page->body, find_web_asset("/")->body);
  auto js = c.Get("/web/chart.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_NE(js->body.find("export function progressChart"), std::string::npos);
  auto missing = c.Get("/web/missing.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("\"invalid_request_error\""), std::string::npos) << missing->body;
  http.stop();
  t.join();
}

}  // namespace
}  // namespace openbatch::api
