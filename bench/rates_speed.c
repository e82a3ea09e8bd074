/* rates_speed.c - how fast an rt_rates converts amounts, the way the model would: an
 * ECB-sized set of rates (41 currencies against EUR on every working day from 1999-01-04 to
 * 2025-12-31, about 7,000 days) and N amounts into GBP, with the day tables (the default) and
 * with binary search only, for two workloads: a shop selling in 3 currencies over 2 years
 * (2023-2024), and the worst case, every currency on any day of the 27 years (3.2 MB of day
 * tables read at random, so mostly cache misses). Times are CPU time.
 *
 *   cmake --build build --target bench && build/bench/rates_speed [N] */
#include <retain/datetime.h>
#include <retain/rates.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* CPU time: the machine is shared */
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static const char *const CODES[] = {
    "USD", "JPY", "BGN", "CYP", "CZK", "DKK", "EEK", "GBP", "HUF", "LTL", "LVL",
    "MTL", "PLN", "ROL", "RON", "SEK", "SIT", "SKK", "CHF", "ISK", "NOK", "HRK",
    "RUB", "TRL", "TRY", "AUD", "BRL", "CAD", "CNY", "HKD", "IDR", "ILS", "INR",
    "KRW", "MXN", "MYR", "NZD", "PHP", "SGD", "THB", "ZAR"};
#define NCODES (sizeof CODES / sizeof CODES[0])

static rt_rates *build(size_t dense_max, int64_t first, int64_t last, size_t *n) {
  rt_rates *r;
  rt_error err = {0};
  if (rt_rates_new(&r))
    exit(1);
  if (dense_max != (size_t)-1)
    rt__rates_set_dense_max(r, dense_max);
  *n = 0;
  uint64_t saved = rng;
  rng = 2463534242ull; /* the same rates for both lookups, so the checksums must agree */
  for (int64_t d = first; d <= last; d++) {
    int64_t wd = ((d % 7) + 7 + 3) % 7; /* 0 = Monday (1970-01-01 was a Thursday) */
    if (wd >= 5)
      continue;
    for (size_t c = 0; c < NCODES; c++) {
      double rate = (double)((5000 + rnd() % 20000) * (c + 1)) / 10000; /* 4 decimals */
      if (rt_rates_add(r, d, "EUR", CODES[c], rate, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
      }
      (*n)++;
    }
  }
  rng = saved;
  double t0 = now_s();
  if (rt_rates_finish(r, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    exit(1);
  }
  if (getenv("RATES_SPEED_VERBOSE"))
    fprintf(stderr, "  finish: %.3f s\n", now_s() - t0);
  return r;
}

/* Converts the n amounts with both lookups and prints the time of each. */
static void run(size_t n, const int *from, const int64_t *day, const int64_t *amount,
                int64_t first, int64_t last) {
  for (int mode = 0; mode < 2; mode++) {
    size_t nrates;
    rt_rates *r = build(mode ? 0 : (size_t)-1, first, last, &nrates);
    int gbp = rt_rates_currency(r, "GBP");
    int idx[NCODES];
    for (size_t c = 0; c < NCODES; c++)
      idx[c] = rt_rates_currency(r, CODES[c]);
    int64_t sum = 0, out;
    size_t ok = 0;
    double t0 = now_s();
    for (size_t i = 0; i < n; i++)
      if (rt_rates_convert_index(r, amount[i], idx[from[i]], gbp, day[i], &out) == 0) {
        sum += out;
        ok++;
      }
    double el = now_s() - t0;
    printf("  %s: %zu rates, %zu conversions in %.3f s (%.1f ns each, %.1f M/s), checksum "
           "%lld\n",
           mode ? "binary search" : "day tables", nrates, ok, el, el / (double)n * 1e9,
           (double)n / el / 1e6, (long long)sum);
    rt_rates_free(r);
  }
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
  int64_t first = rt_days_from_civil(1999, 1, 4), last = rt_days_from_civil(2025, 12, 31);
  int *from = malloc(n * sizeof *from);
  int64_t *day = malloc(n * sizeof *day), *amount = malloc(n * sizeof *amount);
  if (!from || !day || !amount)
    return 1;
  static const int shop[3] = {0, 1, 18}; /* USD, JPY, CHF */
  for (int work = 0; work < 2; work++) {
    int64_t d0 = work ? first : rt_days_from_civil(2023, 1, 1);
    int64_t d1 = work ? last : rt_days_from_civil(2024, 12, 31);
    for (size_t i = 0; i < n; i++) {
      from[i] = work ? (int)(rnd() % NCODES) : shop[rnd() % 3];
      day[i] = d0 + (int64_t)(rnd() % (uint64_t)(d1 - d0 + 1));
      amount[i] = (int64_t)(rnd() % 100000);
    }
    printf("%s\n", work ? "41 currencies, any day of 27 years:" : "3 currencies, 2 years:");
    run(n, from, day, amount, first, last);
  }
  free(from);
  free(day);
  free(amount);
  return 0;
}
