#include "media/data_url.h"

#include <gtest/gtest.h>

#include "common/http_status.h"
#include "image/test_images_for_test.h"

namespace openbatch::media {
namespace {

TEST(DataUrlTest, DecodesBase64ImagesOfAnyLengthAndIgnoresLineBreaks) {
  for (const std::string& bytes :
       {std::string("a"), std::string("ab"), std::string("abc"), image::testing::png_image(5, 3, 1)}) {
    auto decoded = decode_data_url(image::testing::data_url("image/png", bytes));
    ASSERT_TRUE(decoded.is_ok()) << decoded.status().message();
    EXPECT_EQ(*decoded, bytes);
  }
  auto wrapped = decode_data_url("DATA:Image/JPEG;base64,aGVs\nbG8=");
  ASSERT_TRUE(wrapped.is_ok());
  EXPECT_EQ(*wrapped, "hello");
  EXPECT_TRUE(is_data_url("data:image/png;base64,AAAA"));
  EXPECT_FALSE(is_data_url("https://example.com/data:image"));
}

TEST(DataUrlTest, RejectionsNameTheProblem) {
  struct Case {
    std::string url;
    std::string says;
  } cases[] = {
      {"data:text/plain;base64,aGVsbG8=", "unsupported media type 'text/plain'"},
      {"data:image/;base64,aGVsbG8=", "unsupported media type"},
      {"data:image/png,rawbytes", "not base64"},
      {"data:image/png;base64", "no ','"},
      {"data:image/png;base64,%%%%", "not valid base64"},
      {"data:image/png;base64,", "holds no data"},
  };
  for (const Case& c : cases) {
    auto r = decode_data_url(c.url);
    ASSERT_FALSE(r.is_ok()) << c.url;
    EXPECT_EQ(http_status_of(r.status()), 400);
    EXPECT_EQ(r.status().code(), "invalid_image_url");
    EXPECT_NE(r.status().message().find(c.says), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace openbatch::media
