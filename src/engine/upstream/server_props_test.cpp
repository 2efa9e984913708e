#include "engine/upstream/server_props.h"

#include <gtest/gtest.h>

namespace openbatch::engine::upstream {
namespace {

TEST(ServerPropsTest, PropsLiveAtTheServersRootBesideItsApi) {
  EXPECT_EQ(props_url("http://127.0.0.1:8080/v1"), "http://127.0.0.1:8080/props");
  EXPECT_EQ(props_url("http://127.0.0.1:8080/v1/"), "http://127.0.0.1:8080/props");
  EXPECT_EQ(props_url("http://host/llama"), "http://host/llama/props");
}

TEST(ServerPropsTest, ReadsTotalSlotsWhenItIsAPositiveWholeNumber) {
  EXPECT_EQ(parse_total_slots(R"({"total_slots": 8, "model_alias": "m"})", 256), 8);
  EXPECT_EQ(parse_total_slots(R"({"total_slots": 4096})", 256), 256);  // never above the cap
  EXPECT_EQ(parse_total_slots(R"({"total_slots": 0})", 256), 0);
  EXPECT_EQ(parse_total_slots(R"({"total_slots": -3})", 256), 0);
  EXPECT_EQ(parse_total_slots(R"({"total_slots": 2.5})", 256), 0);
  EXPECT_EQ(parse_total_slots(R"({"total_slots": "8"})", 256), 0);
  EXPECT_EQ(parse_total_slots(R"({"object": "list"})", 256), 0);
  EXPECT_EQ(parse_total_slots(R"([8])", 256), 0);
  EXPECT_EQ(parse_total_slots("<html>Not Found</html>", 256), 0);
  EXPECT_EQ(parse_total_slots(std::string(200, '[') + std::string(200, ']'), 256), 0);
  const std::string padded = R"({"total_slots": 8, "pad": ")" + std::string(kMaxPropsBytes, 'x') + "\"}";
  EXPECT_EQ(parse_total_slots(padded, 256), 0);  // over the size limit
}

}  // namespace
}  // namespace openbatch::engine::upstream
