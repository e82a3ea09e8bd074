/* gen.h - a deterministic synthetic business for demos, tests and benchmarks.
 *
 * Customers are acquired over the time span (with growth and seasonality); each buys repeatedly
 * with a BG/NBD-like process (Poisson purchases at a gamma-distributed rate, dropping out with a
 * beta-distributed probability after each purchase), spends gamma-distributed amounts built from
 * order lines of a product catalogue; some hold subscriptions; product-usage events, support
 * tickets and survey answers are drawn so that they really relate to who churns (declining
 * usage, unresolved tickets and low NPS before drop-out). Same seed, same files. */
#ifndef RETAIN_GEN_H
#define RETAIN_GEN_H

#include <retain/error.h>
#include <stdint.h>

typedef struct rt_gen_opts {
  uint64_t customers;   /* default 10000 */
  uint64_t seed;        /* default 1 */
  const char *out_dir;  /* created if missing */
  int64_t start_day;    /* first acquisition day (day number); default 2022-01-01 */
  int64_t end_day;      /* last day of data; default 2024-12-31 */
  int lines;            /* write order_lines.csv (default 1) */
  int events;           /* write events.csv (default 1) */
  /* progress: called now and then with customers done; may be NULL */
  void (*progress_cb)(void *ctx, uint64_t done, uint64_t total);
  void *progress_ctx;
} rt_gen_opts;

void rt_gen_opts_init(rt_gen_opts *o);

typedef struct rt_gen_stats {
  uint64_t customers, orders, lines, subscriptions, events, refunds;
} rt_gen_stats;

/* Writes customers.csv, orders.csv, order_lines.csv, subscriptions.csv, events.csv into
 * out_dir (formats in docs/DATA.md). */
int rt_gen_run(const rt_gen_opts *o, rt_gen_stats *stats, rt_error *err);

#endif
