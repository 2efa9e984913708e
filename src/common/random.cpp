#include "common/random.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace openbatch {

void random_bytes(void* out, size_t n) {
  auto* p = static_cast<unsigned char*>(out);
  while (n > 0) {
    const ssize_t got = ::getrandom(p, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      // Ids and secrets must never fall back to something guessable.
      std::fprintf(stderr, "openbatch: getrandom failed (errno %d); cannot make unpredictable ids\n", errno);
      std::abort();
    }
    p += got;
    n -= static_cast<size_t>(got);
  }
}

uint64_t random_u64() {
  uint64_t v = 0;
  random_bytes(&v, sizeof v);
  return v;
}

std::string random_alphanumeric(size_t n) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  constexpr unsigned kSize = sizeof(kAlphabet) - 1;  // 62
  constexpr unsigned kLimit = 256 / kSize * kSize;   // 248: bytes at or above it are drawn again
  std::string out;
  out.reserve(n);
  unsigned char buf[64];
  while (out.size() < n) {
    random_bytes(buf, sizeof buf);
    for (unsigned char b : buf) {
      if (b >= kLimit) continue;
      out += kAlphabet[b % kSize];
      if (out.size() == n) break;
    }
  }
  return out;
}

}  // namespace openbatch
