/* trace.c - phase timings on stderr when RETAIN_TRACE is set: where a long command spends its
 * time, without a profiler ("[  1.234 s] model: orders grouped"). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void rt__trace(const char *what) {
  static int enabled = -1;
  static double t0;
  if (enabled < 0) {
    const char *e = getenv("RETAIN_TRACE");
    enabled = e && *e && *e != '0';
  }
  if (!enabled)
    return;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  double t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
  if (t0 == 0)
    t0 = t;
  fprintf(stderr, "[%8.3f s] %s\n", t - t0, what);
}
