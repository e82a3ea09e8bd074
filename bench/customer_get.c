/* customer_get.c - how long the read API's per-customer calls take on a large store: times
 * rt_store_customer_get and the first page of rt_store_customer_timeline for random customers
 * (internal ids 1..customers) and reports p50, p99 and max in microseconds. Opens read-only, so
 * any existing store will do (e.g. one imported from bench/data/gen-2000000).
 *
 *   cmake --build build --target bench && \
 *   build/bench/customer_get store.db [lookups=10000] [timeline-limit=50] */
#include <retain/store.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void report(const char *what, double *t, int n) {
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  printf("%-22s n=%d  p50 %8.1f us  p99 %8.1f us  max %8.1f us\n", what, n, t[n / 2],
         t[(int)(n * 0.99)], t[n - 1]);
}

static int count_item(void *ctx, const rt_timeline_item *it) {
  (void)it;
  ++*(long *)ctx;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: customer_get store.db [lookups] [timeline-limit]\n");
    return 2;
  }
  int n = argc > 2 ? atoi(argv[2]) : 10000;
  size_t limit = argc > 3 ? (size_t)atoi(argv[3]) : 50;
  rt_store_config cfg = {.path = argv[1], .read_only = 1};
  rt_store *st = NULL;
  rt_error err = {0};
  int64_t customers = 0;
  if (n < 1 || rt_store_open(&cfg, &st, &err) ||
      rt_store_count(st, "customers", &customers, &err) || customers < 1) {
    fprintf(stderr, "customer_get: %s\n", err.msg[0] ? err.msg : "no customers");
    rt_store_close(st);
    return 1;
  }
  double *get = malloc(sizeof *get * (size_t)n), *tl = malloc(sizeof *tl * (size_t)n);
  if (!get || !tl)
    return 1;
  srand(42);
  long orders = 0, items = 0;
  for (int i = 0; i < n; i++) {
    int64_t id = 1 + (int64_t)(((uint64_t)rand() << 31 | (uint64_t)rand()) % (uint64_t)customers);
    rt_customer_view v;
    double t0 = now_us();
    if (rt_store_customer_get(st, NULL, id, &v, &err)) {
      fprintf(stderr, "customer_get: %s\n", err.msg);
      return 1;
    }
    double t1 = now_us();
    orders += v.orders;
    rt_customer_view_free(&v);
    if (rt_store_customer_timeline(st, id, NULL, limit, count_item, &items, NULL, &err)) {
      fprintf(stderr, "customer_get: timeline: %s\n", err.msg);
      return 1;
    }
    get[i] = t1 - t0;
    tl[i] = now_us() - t1;
  }
  printf("%lld customers; %d random lookups: %.1f orders and %.1f timeline items each\n",
         (long long)customers, n, (double)orders / n, (double)items / n);
  report("rt_store_customer_get", get, n);
  report("timeline first page", tl, n);
  free(get);
  free(tl);
  rt_store_close(st);
  return 0;
}
