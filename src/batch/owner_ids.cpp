#include "batch/owner_ids.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/owned_folder.h"
#include "common/random.h"

namespace openbatch::batch {
namespace {

std::string hex(const unsigned char* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

constexpr size_t kSecretBytes = 32;

bool is_secret(const std::string& text) {
  if (text.size() < 2 * kSecretBytes) return false;
  for (char c : text) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

std::string OwnerIds::of(std::string_view api_key) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_length = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(api_key.data()), api_key.size(), mac, &mac_length);
  return "kh-" + hex(mac, mac_length);
}

std::string OwnerIds::legacy_of(std::string_view api_key) {
  // The older openbatch's constant exactly as it was: FNV-1a-64's offset basis lost its last digit
  // (14695981039346656037). The ids stored under it are found only with the same number.
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : api_key) h = (h ^ c) * 1099511628211ULL;
  char buf[24];
  std::snprintf(buf, sizeof buf, "key-%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string new_owner_secret() {
  unsigned char bytes[kSecretBytes];
  random_bytes(bytes, sizeof bytes);
  return hex(bytes, sizeof bytes);
}

Result<std::string> load_or_create_secret_file(const std::string& path) {
  auto fail = [&path](const std::string& what) {
    return Status::internal(what + " " + path + ": " + std::strerror(errno));
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT) {
    // Written whole under a temporary name, then renamed: a crash leaves no half secret behind.
    const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
    const std::string secret = new_owner_secret();
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return fail("create");
    Status s = make_private(fd, tmp);
    const std::string text = secret + "\n";
    if (s && ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) s = fail("write");
    if (s && ::fsync(fd) != 0) s = fail("fsync");
    ::close(fd);
    // link, not rename: of two processes making it at once, the second keeps the first's.
    if (s && ::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST) s = fail("link");
    ::unlink(tmp.c_str());
    if (!s) return s;
    if (Status synced = sync_folder(std::filesystem::path(path).parent_path().string()); !synced)
      return synced;
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  }
  if (fd < 0) return fail("open");
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n < 0) return fail("read");
  std::string text(buf, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (!is_secret(text)) {
    return Status::internal(path +
                            " does not hold openbatch's secret (64 hex digits): the owners of stored files "
                            "and batches are digests under it. Restore it from a backup of the data folder");
  }
  return text;
}

}  // namespace openbatch::batch
