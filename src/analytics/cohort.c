/* cohort.c - acquisition cohorts x periods since acquisition (cohort.h).
 *
 * One pass over the model: each customer whose first order falls in a counted cohort is
 * walked through their orders (grouped by customer, in time order), each order's period read
 * from a day -> period table (no calendar arithmetic per order). Mode "on" counts a customer
 * once per period in which they ordered; mode "on or after" counts each customer once, in the
 * column of their last counted order, and sums revenue per column, then turns both into
 * suffix sums (ordered in k or later = last order in k or later). With a horizon H, "on or
 * after" folds the periods after H into column H, so that cell still counts later orders.
 * Customers are split into ranges scanned by a few threads, each into a private matrix; the
 * matrices are added at the end. (A flat, branch-free loop over all orders was tried: it
 * avoids the mispredicted exit of each customer's loop but runs more instructions per order,
 * and measured slower.) */
#include "internal.h"
#include "analytics/scan.h"

#include <retain/alloc.h>
#include <retain/cohort.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

void rt_cohort_opts_init(rt_cohort_opts *o) {
  o->unit = RT_PERIOD_MONTH;
  o->mode = RT_COHORT_ON;
  o->from_period = INT64_MIN;
  o->to_period = INT64_MAX;
  o->horizon = -1;
}

size_t rt_cohort_row_len(const rt_cohort_table *t, size_t c) {
  int64_t len = 1 + t->last_period - (t->first_cohort + (int64_t)c);
  if (c >= t->ncohorts || len <= 0)
    return 0;
  return (uint64_t)len < t->width ? (size_t)len : t->width;
}

void rt_cohort_table_free(rt_cohort_table *t) {
  if (!t)
    return;
  rt_free(t->size);
  rt_free(t->customers);
  rt_free(t->revenue);
  rt_free(t->refunded);
  rt_free(t);
}

/* One thread's share of the scan: customers [c0, c1), whose orders are [j0, j1). */
typedef struct cohort_part {
  const rt_model *m;
  const rt__period_lut *lut; /* over the model's days; periods relative to lut->p0 */
  size_t c0, c1;
  int64_t coh0, ncoh;        /* first cohort (relative period) and the number of cohorts */
  int64_t last;              /* last period counted (relative) */
  int64_t width;
  int on_or_after;
  int64_t *size;             /* [ncoh] */
  int64_t *cust, *rev, *ref; /* [ncoh * width] */
} cohort_part;


/* Orders lie within the model's days (model.h), which the table covers; customers without
 * orders (first day INT32_MAX) map to the table's PAST entry, outside every cohort. */
static void cohort_scan(void *arg) {
  cohort_part *p = arg;
  const rt_model *m = p->m;
  const int32_t *rel = p->lut->rel;
  const int32_t *first = m->first_order_day, *oday = m->order_day;
  const uint32_t *ostart = m->order_start;
  const int64_t *amount = m->order_amount;
  const int64_t lo = p->lut->lo, hi = p->lut->hi;
  const int64_t coh0 = p->coh0, ncoh = p->ncoh, width = p->width, last = p->last;
  int64_t *size = p->size, *cust = p->cust, *rev = p->rev;
  for (size_t i = p->c0; i < p->c1; i++) {
    int64_t f = first[i];
    int64_t c = rel[f <= hi ? f - lo : hi - lo + 1] - coh0;
    if ((uint64_t)c >= (uint64_t)ncoh)
      continue;
    size[c]++;
    int64_t *crow = cust + c * width, *rrow = rev + c * width;
    int64_t kmax = last - coh0 - c;
    if (kmax > width - 1)
      kmax = width - 1;
    /* refunds: in their period (period 0 before the first purchase); on-or-after folds the
     * periods past the horizon into its last column, like revenue */
    for (uint32_t j = m->refund_start[i]; j < m->refund_start[i + 1]; j++) {
      int64_t k = rel[m->refund_day[j] - lo] - coh0 - c;
      if (k < 0)
        k = 0;
      if (k > last - coh0 - c || (!p->on_or_after && k > kmax))
        continue;
      p->ref[c * width + (k < width - 1 ? k : width - 1)] += m->refund_amount[j];
    }
    uint32_t j = ostart[i], end = ostart[i + 1];
    if (!p->on_or_after) {
      int64_t prev = -1;
      for (; j < end; j++) {
        int64_t k = rel[oday[j] - lo] - coh0 - c;
        if (k > kmax)
          break;
        rrow[k] += amount[j];
        crow[k] += (k != prev);
        prev = k;
      }
    } else {
      int64_t lastk = 0, klim = last - coh0 - c, cap = width - 1;
      for (; j < end; j++) {
        int64_t k = rel[oday[j] - lo] - coh0 - c;
        if (k > klim)
          break;
        lastk = k;
        rrow[k < cap ? k : cap] += amount[j];
      }
      crow[lastk < cap ? lastk : cap]++; /* made suffix sums after the scan */
    }
  }
}

int rt_cohort_compute(const rt_model *m, const rt_cohort_opts *opts, rt_cohort_table **out,
                      rt_error *err) {
  rt_cohort_opts def;
  rt__period_lut lut = {0};
  cohort_part parts[RT__MAX_PARTS];
  int nparts = 0, rc = RT_ENOMEM;
  memset(parts, 0, sizeof parts);
  *out = NULL;
  if (!opts) {
    rt_cohort_opts_init(&def);
    opts = &def;
  }
  if ((unsigned)opts->unit > RT_PERIOD_YEAR)
    return rt_error_set(err, RT_EINVAL, "cohorts: unknown period unit %d", (int)opts->unit);
  if (opts->mode != RT_COHORT_ON && opts->mode != RT_COHORT_ON_OR_AFTER)
    return rt_error_set(err, RT_EINVAL, "cohorts: unknown mode %d", (int)opts->mode);
  rt_cohort_table *t = rt_calloc(1, sizeof *t);
  if (!t)
    return rt_error_set(err, RT_ENOMEM, "cohorts: %s", rt_strerror(RT_ENOMEM));
  const rt_period_unit u = opts->unit;
  t->unit = u;
  t->mode = opts->mode;
  t->first_cohort = opts->from_period != INT64_MIN ? opts->from_period : 0;
  t->last_period = t->first_cohort - 1;
  if (m->norders == 0 || m->min_day > m->max_day)
    goto done; /* no orders: no cohorts */

  /* The last period counted: to_period, but never past the as-of day's (later periods have
   * not happened yet). Cohorts: acquisition periods in [from, last]. */
  int64_t data_first = rt_period_of_day(u, m->min_day);
  int64_t data_last = rt_period_of_day(u, m->as_of);
  int64_t last = opts->to_period < data_last ? opts->to_period : data_last;
  int64_t from = opts->from_period > data_first ? opts->from_period : data_first;
  if (from > last)
    goto done;
  int64_t lo_day = rt_period_first_day(u, from);
  int64_t hi_day = rt_period_first_day(u, last + 1) - 1;
  /* The first and last acquisition days in range, over customers with orders. */
  int32_t lo32 = lo_day < INT32_MIN ? INT32_MIN : (int32_t)lo_day;
  int32_t hi32 = hi_day >= INT32_MAX ? INT32_MAX - 1 : (int32_t)hi_day;
  int32_t fmin = INT32_MAX, fmax = INT32_MIN;
  for (size_t i = 0; i < m->ncustomers; i++) {
    int32_t f = m->first_order_day[i];
    if (f >= lo32 && f <= hi32) {
      fmin = f < fmin ? f : fmin;
      fmax = f > fmax ? f : fmax;
    }
  }
  if (fmin > fmax)
    goto done;
  t->first_cohort = rt_period_of_day(u, fmin);
  t->last_period = last;
  {
    int64_t f = rt_period_first_day(u, last), l = rt_period_first_day(u, last + 1) - 1;
    t->last_partial = l > m->as_of;
    t->last_days = (int32_t)((t->last_partial ? m->as_of : l) - f + 1);
  }
  /* the table covers every order day (the model's days) */
  rc = rt__period_lut_init(&lut, u, m->min_day, m->max_day);
  if (rc) {
    rt_error_set(err, rc, "cohorts: %s",
                 rc == RT_ERANGE ? "the order dates span too many days" : rt_strerror(rc));
    goto fail_quiet;
  }
  int64_t ncoh = rt_period_of_day(u, fmax) - t->first_cohort + 1;
  int64_t width = last - t->first_cohort + 1;
  if (opts->horizon >= 0 && width - 1 > opts->horizon)
    width = opts->horizon + 1;
  if (ncoh <= 0 || width <= 0 || (uint64_t)ncoh > RT_COHORT_MAX_CELLS / (uint64_t)width) {
    char a[32], b[32];
    rt_period_label(u, t->first_cohort, a, sizeof a);
    rt_period_label(u, t->first_cohort + ncoh - 1, b, sizeof b);
    rc = rt_error_set(err, RT_ERANGE,
                      "cohorts: %lld %s cohorts (%s to %s) x %lld periods are more than the "
                      "%d cells a table may have; use a longer period, a later from, an "
                      "earlier to or a horizon",
                      (long long)ncoh, rt_period_unit_name(u), a, b, (long long)width,
                      RT_COHORT_MAX_CELLS);
    goto fail_quiet;
  }
  size_t ncells = (size_t)ncoh * (size_t)width;
  t->ncohorts = (size_t)ncoh;
  t->width = (size_t)width;

  /* Threads only pay off while their private matrices are small next to the orders. */
  nparts = rt__scan_parts(m);
  while (nparts > 1 && ncells * 16 * (size_t)nparts > m->norders * 4)
    nparts--;
  size_t bounds[RT__MAX_PARTS + 1];
  rt__scan_split(m, nparts, bounds);
  for (int i = 0; i < nparts; i++) {
    cohort_part *p = &parts[i];
    p->m = m;
    p->lut = &lut;
    p->c0 = bounds[i];
    p->c1 = bounds[i + 1];
    p->coh0 = t->first_cohort - lut.p0;
    p->ncoh = ncoh;
    p->last = last - lut.p0;
    p->width = width;
    p->on_or_after = opts->mode == RT_COHORT_ON_OR_AFTER;
    p->size = rt_calloc((size_t)ncoh, sizeof *p->size);
    p->cust = rt_calloc(ncells, sizeof *p->cust);
    p->rev = rt_calloc(ncells, sizeof *p->rev);
    p->ref = rt_calloc(ncells, sizeof *p->ref);
    if (!p->size || !p->cust || !p->rev || !p->ref) {
      rc = RT_ENOMEM;
      goto fail;
    }
  }
  rt__parallel(nparts, cohort_scan, parts, sizeof parts[0]);

  /* part 0's matrices become the result; the others are added in */
  t->size = parts[0].size;
  t->customers = parts[0].cust;
  t->revenue = parts[0].rev;
  t->refunded = parts[0].ref;
  parts[0].size = parts[0].cust = parts[0].rev = parts[0].ref = NULL;
  for (int i = 1; i < nparts; i++) {
    for (size_t c = 0; c < (size_t)ncoh; c++)
      t->size[c] += parts[i].size[c];
    for (size_t x = 0; x < ncells; x++) {
      t->customers[x] += parts[i].cust[x];
      t->revenue[x] += parts[i].rev[x];
      t->refunded[x] += parts[i].ref[x];
    }
  }
  if (opts->mode == RT_COHORT_ON_OR_AFTER)
    for (size_t c = 0; c < t->ncohorts; c++) {
      int64_t *cr = t->customers + c * t->width, *rr = t->revenue + c * t->width;
      int64_t *fr = t->refunded + c * t->width;
      for (size_t k = t->width - 1; k > 0; k--) {
        cr[k - 1] += cr[k];
        rr[k - 1] += rr[k];
        fr[k - 1] += fr[k];
      }
    }
done:
  for (int i = 0; i < nparts; i++) {
    rt_free(parts[i].size);
    rt_free(parts[i].cust);
    rt_free(parts[i].rev);
    rt_free(parts[i].ref);
  }
  rt__period_lut_free(&lut);
  *out = t;
  return 0;

fail:
  rt_error_set(err, rc, "cohorts: %s", rt_strerror(rc));
fail_quiet:
  for (int i = 0; i < nparts; i++) {
    rt_free(parts[i].size);
    rt_free(parts[i].cust);
    rt_free(parts[i].rev);
    rt_free(parts[i].ref);
  }
  rt__period_lut_free(&lut);
  rt_cohort_table_free(t);
  return rc;
}
