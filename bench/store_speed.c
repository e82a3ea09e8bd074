/* store_speed.c - how fast the store takes a durable bulk import and gives it back by scans.
 *
 * Loads C customers and N orders (each with L lines) into a new store through the public API in
 * bulk mode, inside one transaction, commits (durable: WAL, synchronous=FULL), and reports rows
 * per second; then reopens the store read-only and times the scans the model builder uses.
 *
 *   cmake --build build --target bench && \
 *   build/bench/store_speed [db-path] [orders] [customers] [lines-per-order] */
#include <retain/alloc.h>
#include <retain/store.h>

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

static void die(const char *what, const rt_error *err) {
  fprintf(stderr, "store_speed: %s: %s\n", what, err->msg);
  exit(1);
}

static int count_order(void *ctx, int64_t customer, int64_t ts_ms, int64_t amount,
                       const char *currency) {
  int64_t *sum = ctx;
  *sum += amount + (currency[0] == 'U');
  (void)customer;
  (void)ts_ms;
  return 0;
}

static int count_customer(void *ctx, int64_t id, const char *ext_id, int64_t created_ms) {
  int64_t *n = ctx;
  *n += id + (ext_id[0] != 0) + (created_ms > 0);
  return 0;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "/tmp/store_speed.db";
  long norders = argc > 2 ? atol(argv[2]) : 3000000;
  long ncust = argc > 3 ? atol(argv[3]) : 200000;
  long nlines = argc > 4 ? atol(argv[4]) : 1;
  char side[4096];
  unlink(path);
  snprintf(side, sizeof side, "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", path);
  unlink(side);

  rt_error err = {0};
  rt_store *st;
  rt_store_config cfg = {.path = path};
  if (rt_store_open(&cfg, &st, &err))
    die("open", &err);
  int64_t *ids = malloc((size_t)ncust * sizeof *ids);
  rt_line_rec *lines = calloc((size_t)(nlines ? nlines : 1), sizeof *lines);
  if (!ids || !lines)
    return 1;

  double t0 = now_s();
  int64_t import_id;
  int active = 0;
  if (rt_store_begin(st, &err) ||
      rt_store_import_begin(st, "orders", "bench", NULL, &import_id, &err) ||
      rt_store_bulk_begin(st, &active, &err))
    die("begin", &err);
  if (!active) {
    fprintf(stderr, "store_speed: bulk mode did not start\n");
    return 1;
  }
  char key[32];
  for (long i = 0; i < ncust; i++) {
    int n = snprintf(key, sizeof key, "C%ld", i + 1);
    if (rt_store_customer_insert(st, key, (size_t)n, 1500000000000LL + i * 1000, &ids[i], &err))
      die("customer", &err);
  }
  double t1 = now_s();
  uint64_t x = 88172645463325252ULL;
  char okey[32], sku[32];
  for (long i = 0; i < norders; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    snprintf(okey, sizeof okey, "%ld", 500000 + i);
    rt_order_rec o = {.customer = ids[x % (uint64_t)ncust],
                      .ext_id = okey,
                      .ts_ms = 1500000000000LL + i * 60000,
                      .amount = (int64_t)(x % 100000),
                      .currency = "USD",
                      .import_id = import_id};
    for (long l = 0; l < nlines; l++) {
      snprintf(sku, sizeof sku, "SKU%u", (unsigned)(x >> 40) % 5000);
      lines[l] = (rt_line_rec){.product = sku, .name = "Widget", .quantity = 1,
                               .unit_price = o.amount, .amount = o.amount};
    }
    int status;
    if (rt_store_order_put(st, &o, lines, (size_t)nlines, &status, &err))
      die("order", &err);
  }
  double t2 = now_s();
  if (rt_store_bulk_end(st, &err))
    die("bulk_end", &err);
  double t3 = now_s();
  if (rt_store_import_finish(st, import_id, norders, norders, 0, &err) ||
      rt_store_commit(st, &err))
    die("commit", &err);
  double t4 = now_s();
  rt_store_close(st);
  double t5 = now_s();

  long rows = ncust + norders + norders * nlines;
  printf("bulk import: %ld customers, %ld orders, %ld lines\n", ncust, norders, norders * nlines);
  printf("  customers %.3fs, orders+lines %.3fs, index rebuild %.3fs, commit %.3fs, close %.3fs\n",
         t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4);
  printf("  durable (begin..commit) %.3fs: %.0f orders/s, %.0f rows/s (customers+orders+lines)\n",
         t4 - t0, norders / (t4 - t0), rows / (t4 - t0));

  cfg.read_only = 1;
  if (rt_store_open(&cfg, &st, &err))
    die("reopen", &err);
  int64_t sum = 0, n = 0;
  double s0 = now_s();
  if (rt_store_scan_customers(st, count_customer, &n, &err))
    die("scan customers", &err);
  double s1 = now_s();
  if (rt_store_scan_orders(st, count_order, &sum, &err))
    die("scan orders", &err);
  double s2 = now_s();
  printf("scans: customers %.0f rows/s, orders %.0f rows/s (%.3fs)\n", ncust / (s1 - s0),
         norders / (s2 - s1), s2 - s1);
  rt_store_close(st);
  free(ids);
  free(lines);
  return 0;
}
