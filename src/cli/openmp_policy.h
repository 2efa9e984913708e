// llama.cpp's CPU backend runs its threads through OpenMP, whose workers wait for each other at every
// barrier of a decode's graph. libgomp's default lets them spin 300,000 rounds first: on a machine where
// anything else wants a core (openbatch's own HTTP, storage and image threads, or other work) the
// spinning workers take the time the engine thread needs (measured 80.9 s instead of 1.1 s for a
// 200-line JSON-mode batch beside a compiler). Never spinning (OMP_WAIT_POLICY=passive) fixes that but
// makes every barrier a sleep and a wake-up, which costs a small model most of its step (the 512x8 bench
// shape: 35.5 s instead of 14.9 s for 128 requests). A short spin keeps both: GOMP_SPINCOUNT=2000, a
// few microseconds, enough for the barriers of small operations, too short to hold a core another
// process wants (measured in docs/performance.md, "On a real vocabulary"). libgomp reads these when it loads,
// before main: the commands that run the engine start themselves again with them, unless the caller set
// OMP_WAIT_POLICY or GOMP_SPINCOUNT.
#pragma once

namespace openbatch::cli {

// When argv[1] is serve or run and neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set: sets
// OMP_WAIT_POLICY=ACTIVE and GOMP_SPINCOUNT=2000 and replaces the process with itself
// (/proc/self/exe, same arguments). Returns (doing nothing) otherwise, or when the new image cannot be
// started.
void restart_with_short_openmp_spin(int argc, char** argv);

}  // namespace openbatch::cli
