/* csv_speed.c - how fast the CSV reader goes through a typical orders file.
 *
 * Builds about 200 MB of order lines ("123456,98765,2023-04-05 13:22:10,57.30,USD") in memory,
 * times rt_csv_next over it from memory (rt_csv_open_mem) and from a temporary file
 * (rt_csv_open_file; the file is fresh in the page cache), and prints MB/s (1 MB = 10^6 bytes).
 *
 *   cmake --build build --target bench && build/bench/csv_speed [megabytes] [tmp-path] */
#include <retain/csv.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state % n);
}

static void die(const char *what, const rt_error *err) {
  fprintf(stderr, "csv_speed: %s: %s\n", what, err ? err->msg : "");
  exit(1);
}

/* Reads every record; returns the record count and adds the field bytes to *bytes (so the
 * work cannot be optimised away). */
static uint64_t drain(rt_csv *c, uint64_t *bytes) {
  rt_csv_record rec;
  rt_error err = {0};
  uint64_t n = 0, sum = 0;
  int rc;
  while ((rc = rt_csv_next(c, &rec, &err)) == 1) {
    n++;
    for (size_t i = 0; i < rec.nfields; i++)
      sum += rec.lens[i] + (unsigned char)rec.fields[i][0];
  }
  if (rc < 0)
    die("read", &err);
  *bytes += sum;
  return n;
}

int main(int argc, char **argv) {
  size_t mb = argc > 1 ? (size_t)atol(argv[1]) : 200;
  const char *path = argc > 2 ? argv[2] : "/tmp/csv_speed.csv";
  size_t cap = mb * 1000000 + 256, len = 0;
  char *data = malloc(cap);
  if (!data)
    die("out of memory", NULL);
  len += (size_t)sprintf(data, "order_id,customer_id,order_date,amount,currency\n");
  static const char *cur[] = {"USD", "EUR", "GBP"};
  uint64_t rows = 0;
  while (len + 128 < cap) {
    len += (size_t)sprintf(data + len, "%u,%u,2023-%02u-%02u %02u:%02u:%02u,%u.%02u,%s\n",
                           100000 + rnd(900000), 10000 + rnd(90000), 1 + rnd(12), 1 + rnd(28),
                           rnd(24), rnd(60), rnd(60), rnd(500), rnd(100), cur[rnd(3)]);
    rows++;
  }
  printf("%.1f MB, %" PRIu64 " rows\n", (double)len / 1e6, rows + 1);

  FILE *fp = fopen(path, "wb");
  if (!fp || fwrite(data, 1, len, fp) != len || fclose(fp))
    die("cannot write the temporary file", NULL);

  rt_error err = {0};
  uint64_t sink = 0;
  enum { ROUNDS = 5 };
  double best_mem = 1e9, best_file = 1e9;
  for (int round = 0; round < ROUNDS; round++) {
    rt_csv *c;
    double t = now_s();
    if (rt_csv_open_mem(data, len, "mem", NULL, &c, &err))
      die("open_mem", &err);
    uint64_t n = drain(c, &sink);
    rt_csv_close(c);
    double dt = now_s() - t;
    if (dt < best_mem)
      best_mem = dt;
    printf("memory: %" PRIu64 " records in %.3f s = %.0f MB/s\n", n, dt, (double)len / 1e6 / dt);

    t = now_s();
    if (rt_csv_open_file(path, NULL, &c, &err))
      die("open_file", &err);
    n = drain(c, &sink);
    rt_csv_close(c);
    dt = now_s() - t;
    if (dt < best_file)
      best_file = dt;
    printf("file:   %" PRIu64 " records in %.3f s = %.0f MB/s\n", n, dt, (double)len / 1e6 / dt);
  }
  printf("best of %d: memory %.0f MB/s, file %.0f MB/s\n", ROUNDS, (double)len / 1e6 / best_mem,
         (double)len / 1e6 / best_file);
  unlink(path);
  free(data);
  return sink == 42 ? 2 : 0;
}
