/* date_speed.c - how fast rt_date_parse reads the automatic formats, the per-row cost of
 * importing a date column.
 *
 * For each layout (2023-04-05, 2023-04-05 13:22:10, 19970101, 12/1/2010 8:26) it prepares 4096
 * different dates, parses them round-robin 10 million times (tz NULL) in 20 rounds, and prints
 * the ns/parse of the fastest round and the mean; then the same with tz UTC and, if installed,
 * Europe/Berlin (a wall-clock time looked up in the zone's transitions).
 *
 *   cmake --build build --target bench && build/bench/date_speed [iterations] */
#include <retain/datetime.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NSAMPLES 4096

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char samples[NSAMPLES][32];
static size_t lens[NSAMPLES];

static void make_samples(int layout) {
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < NSAMPLES; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int64_t y;
    int m, d;
    rt_civil_from_days(10000 + (int64_t)(x % 15000), &y, &m, &d);
    int h = (int)((x >> 20) % 24), mi = (int)((x >> 30) % 60), s = (int)((x >> 40) % 60);
    switch (layout) {
    case 0:
      snprintf(samples[i], sizeof samples[i], "%04d-%02d-%02d", (int)y, m, d);
      break;
    case 1:
      snprintf(samples[i], sizeof samples[i], "%04d-%02d-%02d %02d:%02d:%02d", (int)y, m, d, h,
               mi, s);
      break;
    case 2:
      snprintf(samples[i], sizeof samples[i], "%04d%02d%02d", (int)y, m, d);
      break;
    default:
      snprintf(samples[i], sizeof samples[i], "%d/%d/%04d %d:%02d", m, d, (int)y, h, mi);
      break;
    }
    lens[i] = strlen(samples[i]);
  }
}

/* Times iters parses in 20 rounds and reports the fastest round (the machine's own speed, as
 * other processes only ever slow a round down) and the overall mean. */
static void run(const char *what, int layout, const rt_tz *tz, long iters) {
  make_samples(layout);
  int64_t sum = 0, ms;
  rt_error err;
  enum { ROUNDS = 20 };
  long per = iters / ROUNDS;
  double best = 1e30, total = 0;
  for (int r = 0; r < ROUNDS; r++) {
    double t0 = now_s();
    for (long i = 0; i < per; i++) {
      size_t k = (size_t)i & (NSAMPLES - 1);
      if (rt_date_parse(NULL, samples[k], lens[k], tz, &ms, &err)) {
        fprintf(stderr, "parse of '%s' failed: %s\n", samples[k], err.msg);
        exit(1);
      }
      sum += ms;
    }
    double dt = now_s() - t0;
    total += dt;
    if (dt < best)
      best = dt;
  }
  printf("%-36s best %5.1f ns/parse, mean %5.1f  (%ld parses, checksum %" PRId64 ")\n", what,
         best * 1e9 / per, total * 1e9 / (per * ROUNDS), per * ROUNDS, sum);
}

int main(int argc, char **argv) {
  long iters = argc > 1 ? atol(argv[1]) : 10000000L;
  run("2023-04-05", 0, NULL, iters);
  run("2023-04-05 13:22:10", 1, NULL, iters);
  run("19970101", 2, NULL, iters);
  run("12/1/2010 8:26", 3, NULL, iters);
  rt_tz *tz = NULL;
  if (rt_tz_load("UTC", &tz, NULL) == 0) {
    run("2023-04-05 13:22:10 (tz UTC)", 1, tz, iters);
    rt_tz_free(tz);
  }
  if (rt_tz_load("Europe/Berlin", &tz, NULL) == 0) {
    run("2023-04-05 13:22:10 (Europe/Berlin)", 1, tz, iters);
    rt_tz_free(tz);
  }
  return 0;
}
