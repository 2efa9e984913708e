// llama.cpp's CPU backend runs its threads through OpenMP, whose workers spin between a decode's
// parallel regions for a while (OMP_WAIT_POLICY=active-ish by default in libgomp) instead of sleeping.
// On a machine where anything else wants a core (openbatch's own HTTP, storage and image threads, or
// other work) the spinning workers take the time the engine thread needs: measured 80.9 s instead of
// 1.1 s for a 200-line JSON-mode batch beside a compiler. libgomp reads its policy from the
// environment when it loads, before main: the commands that run the engine start themselves again with
// OMP_WAIT_POLICY=passive, unless the caller set a policy of their own.
#pragma once

namespace openbatch::cli {

// When argv[1] is serve or run and OMP_WAIT_POLICY is unset: sets it to PASSIVE and replaces the
// process with itself (/proc/self/exe, same arguments). Returns (doing nothing) otherwise, or when
// the new image cannot be started.
void restart_with_passive_openmp(int argc, char** argv);

}  // namespace openbatch::cli
