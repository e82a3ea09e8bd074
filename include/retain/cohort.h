/* cohort.h - acquisition cohorts x periods since acquisition.
 *
 * A customer's cohort is the period of their first purchase (an order not cancelled by a
 * refund, model.h); period k of a cohort is k periods after it (period 0 is the acquisition
 * period). For mode RT_COHORT_ON, customers[c][k] counts the cohort's customers who purchased
 * in period k, revenue[c][k] sums their purchases in it and refunded[c][k] the refunds they
 * were paid in it (net revenue = revenue - refunded). For RT_COHORT_ON_OR_AFTER, customers[c][k]
 * counts those who purchased in period k or later and revenue[c][k] / refunded[c][k] sum
 * periods k and later. The matrix runs up to the last period: the one holding the model's
 * as-of day, or opts.to_period; there is no horizon ceiling. The period holding the as-of day
 * is partial when it ends after it (last_partial). */
#ifndef RETAIN_COHORT_H
#define RETAIN_COHORT_H

#include <retain/datetime.h>
#include <retain/model.h>

/* At most this many cells (cohorts x periods) in one table; beyond, rt_cohort_compute fails
 * with RT_ERANGE (a longer period, a later from, an earlier to or a horizon make it smaller). */
#define RT_COHORT_MAX_CELLS 1000000

typedef enum { RT_COHORT_ON = 0, RT_COHORT_ON_OR_AFTER = 1 } rt_cohort_mode;

typedef struct rt_cohort_opts {
  rt_period_unit unit;     /* default month */
  rt_cohort_mode mode;     /* default RT_COHORT_ON */
  int64_t from_period;     /* first cohort; INT64_MIN: the first with data */
  int64_t to_period;       /* last period counted (and last cohort); INT64_MAX: last with data */
  int64_t horizon;         /* at most this many periods after acquisition (0..horizon); <0: all */
} rt_cohort_opts;

void rt_cohort_opts_init(rt_cohort_opts *o);

typedef struct rt_cohort_table {
  rt_period_unit unit;
  rt_cohort_mode mode;
  int64_t first_cohort;   /* period index of cohort 0 */
  size_t ncohorts;
  size_t width;           /* columns per row: periods 0..width-1 */
  int64_t last_period;    /* the last period counted */
  int last_partial;       /* the last period ends after the as-of day: counted to it only */
  int32_t last_days;      /* days of the last period counted (all of them unless partial) */
  int64_t *size;          /* [ncohorts] customers acquired */
  int64_t *customers;     /* [ncohorts * width], row-major; cells past the last period are 0 */
  int64_t *revenue;       /* [ncohorts * width], minor units */
  int64_t *refunded;      /* [ncohorts * width], minor units: refunds paid (a refund before
                             the first purchase counts in period 0) */
} rt_cohort_table;

/* Number of periods of cohort c that are within the data (1 + last_period - cohort). */
size_t rt_cohort_row_len(const rt_cohort_table *t, size_t c);

int rt_cohort_compute(const rt_model *m, const rt_cohort_opts *opts, rt_cohort_table **out,
                      rt_error *err);
void rt_cohort_table_free(rt_cohort_table *t);

/* What a cell measures. */
typedef enum { RT_COHORT_CUSTOMERS = 0, RT_COHORT_REVENUE, RT_COHORT_NET_REVENUE } rt_cohort_metric;
/* Cell (c, k) of a metric (customers, or minor units). */
int64_t rt_cohort_cell(const rt_cohort_table *t, size_t c, size_t k, rt_cohort_metric metric);
/* Cell (c, k) as a percentage of the cohort's size (customers) or of its period-0 value
 * (revenue, net revenue); NAN when that base is 0. */
double rt_cohort_percent(const rt_cohort_table *t, size_t c, size_t k, rt_cohort_metric metric);
/* Whether cell (c, k) is in the partial last period. */
int rt_cohort_cell_partial(const rt_cohort_table *t, size_t c, size_t k);
/* The table as compact JSON (rt_free it): period_unit, mode, currency, timezone, as_of,
 * as_of_basis, last_period, last_period_partial, last_period_days, cohorts [{cohort, size,
 * customers[], revenue[] and net_revenue[] in major units, percent[] (of the size) when asked}]
 * — what `retain cohorts --format json` and /v1/cohorts print. */
char *rt_cohort_json(const rt_cohort_table *t, const rt_model *m, int percent);

#endif
