/* rates_convert.c - converts many amounts with a store's exchange rates, for checking
 * rt_rates_convert against an independent computation (bench/rates_check.py) and timing it.
 * Reads lines "YYYY-MM-DD,FROM,TO,AMOUNT" (AMOUNT in minor units of FROM) on standard input and
 * writes "RESULT" (minor units of TO) or "none" per line; the time of the conversions alone
 * goes to standard error.
 *
 *   cmake --build build --target bench && build/bench/rates_convert STORE < requests.csv */
#include <retain/datetime.h>
#include <retain/rates.h>
#include <retain/store.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct req {
  int64_t day, amount;
  char from[4], to[4];
} req;

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: rates_convert STORE < requests.csv\n");
    return 2;
  }
  rt_error err = {0};
  rt_store *st;
  rt_rates *r;
  rt_store_config cfg = {.path = argv[1], .read_only = 1};
  if (rt_store_open(&cfg, &st, &err) || rt_rates_load(st, &r, &err)) {
    fprintf(stderr, "rates_convert: %s\n", err.msg);
    return 1;
  }
  rt_store_close(st);
  size_t n = 0, cap = 1024;
  req *q = malloc(cap * sizeof *q);
  int y, m, d;
  long long a;
  char from[8], to[8];
  while (q && scanf("%d-%d-%d,%3[A-Z],%3[A-Z],%lld", &y, &m, &d, from, to, &a) == 6) {
    if (n == cap && !(q = realloc(q, (cap *= 2) * sizeof *q)))
      break;
    q[n] = (req){rt_days_from_civil(y, m, d), a, "", ""};
    memcpy(q[n].from, from, 4);
    memcpy(q[n].to, to, 4);
    n++;
  }
  int64_t *out = malloc((n + 1) * sizeof *out);
  int *ok = malloc((n + 1) * sizeof *ok);
  if (!q || !out || !ok)
    return 1;
  struct timespec t0, t1;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
  for (size_t i = 0; i < n; i++)
    ok[i] = rt_rates_convert(r, q[i].amount, q[i].from, q[i].to, q[i].day, &out[i], NULL) == 0;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
  for (size_t i = 0; i < n; i++)
    ok[i] ? printf("%lld\n", (long long)out[i]) : printf("none\n");
  double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  fprintf(stderr, "rates_convert: %zu conversions in %.4f s CPU (%.1f ns each)\n", n, el,
          n ? el / (double)n * 1e9 : 0.0);
  free(q);
  free(out);
  free(ok);
  rt_rates_free(r);
  return 0;
}
