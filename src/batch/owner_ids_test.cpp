#include "batch/owner_ids.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "common/temp_dir.h"

namespace openbatch::batch {
namespace {

TEST(OwnerIdsTest, AnOwnerIdIsTheHmacSha256OfTheKeyUnderTheSecret) {
  // RFC 4231, test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
  EXPECT_EQ(OwnerIds("Jefe").of("what do ya want for nothing?"),
            "kh-5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  const OwnerIds a(new_owner_secret()), b(new_owner_secret());
  EXPECT_EQ(a.of("sk-1"), a.of("sk-1"));
  EXPECT_NE(a.of("sk-1"), a.of("sk-2"));
  EXPECT_NE(a.of("sk-1"), b.of("sk-1")) << "another installation's secret gives other ids";
  EXPECT_EQ(a.of("sk-1").size(), 3u + 64u);
}

TEST(OwnerIdsTest, TheLegacyIdIsWhatTheOlderOpenbatchStored) {
  // api/http_util.cpp request_owner before issue 24: FNV-1a-64 with 1469598103934665603 as its offset
  // basis (a digit short of FNV's), so "" gives that number and "a" its step; the values are that
  // code's output.
  EXPECT_EQ(OwnerIds::legacy_of(""), "key-14650fb0739d0383");
  EXPECT_EQ(OwnerIds::legacy_of("a"), "key-44bd8ad473cd9906");
  EXPECT_EQ(OwnerIds::legacy_of("sk-before-24-alice"), "key-d6f8d942fb55e2c9");
}

TEST(OwnerIdsTest, TheSecretFileIsMadeOncePrivateAndKept) {
  TempDir dir;
  const std::string path = dir.path() + "/openbatch.secret";
  const mode_t old = ::umask(0);
  auto first = load_or_create_secret_file(path);
  ::umask(old);
  ASSERT_TRUE(first.is_ok()) << first.status().message();
  EXPECT_EQ(first->size(), 64u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(*load_or_create_secret_file(path), *first);
  EXPECT_NE(new_owner_secret(), *first);
}

TEST(OwnerIdsTest, ASecretFileThatHoldsNoSecretIsRefusedNotReplaced) {
  TempDir dir;
  const std::string path = dir.path() + "/openbatch.secret";
  std::ofstream(path) << "short\n";
  auto s = load_or_create_secret_file(path);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("backup"), std::string::npos) << s.status().message();
  std::ifstream in(path);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "short\n");
}

}  // namespace
}  // namespace openbatch::batch
