// Unpredictable bytes from the operating system's CSPRNG (getrandom(2)), for ids and secrets: an id
// that a client is given must not tell it anything about the ids of others.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace openbatch {

// Fills out with n random bytes. Blocks only until the kernel's pool is first seeded at boot. Never
// returns predictable bytes: aborts the process if the OS cannot give any. Thread-safe.
void random_bytes(void* out, size_t n);

// A uniform random 64-bit value (random_bytes). Thread-safe.
uint64_t random_u64();

// n characters drawn uniformly from [A-Za-z0-9] (random_bytes, no modulo bias): about 5.95 bits of
// randomness each. Thread-safe.
std::string random_alphanumeric(size_t n);

}  // namespace openbatch
