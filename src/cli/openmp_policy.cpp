#include "cli/openmp_policy.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace openbatch::cli {

void restart_with_short_openmp_spin(int argc, char** argv) {
  if (argc < 2 || (std::strcmp(argv[1], "serve") != 0 && std::strcmp(argv[1], "run") != 0)) return;
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "ACTIVE", 1) != 0 || setenv("GOMP_SPINCOUNT", "2000", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // Still here: run as we are (the settings made now only reach children).
}

}  // namespace openbatch::cli
