#include "cli/openmp_policy.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace openbatch::cli {

void restart_with_passive_openmp(int argc, char** argv) {
  if (argc < 2 || (std::strcmp(argv[1], "serve") != 0 && std::strcmp(argv[1], "run") != 0)) return;
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // Still here: run as we are (the policy set now only reaches children).
}

}  // namespace openbatch::cli
