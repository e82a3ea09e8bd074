/* metrics.c - the retention report (metrics.h): every KPI for every period of the data in one
 * pass over the model, then the periods asked for and their baselines.
 *
 * Periods are numbered relative to the first period with data (r = 0 .. np-1). A pass over
 * each customer's orders, refunds and subscriptions fills per-period histograms:
 *   newc[r]     customers whose first order is in r           -> N, and buyers by prefix sum
 *   second[r]   customers whose second order is in r          -> repeat buyers by prefix sum
 *   orders, revenue, ordering (customers ordering) in r; refunds and refunded in r
 *   netref[r]   refunds of buyers, at the later of the refund's and the first order's period
 *               -> net revenue to date = prefix(revenue) - prefix(netref)
 * Activity: a customer is active at the end of period r (on its last day D) when an order o
 * has o <= D < o + inactive_days, or a subscription has start <= D < end. So an order makes
 * them active at the ends of periods [P(o), P(o + inactive_days)), a subscription at the ends
 * of [P(start), P(end)). Per customer these ranges are merged into disjoint, non-touching
 * ranges [x, y); each adds +1 at x and -1 at y of a difference array (active at the end of r =
 * its prefix sum, so E(r) = A(r) and S(r) = A(r - 1)), and counts one churn at y: active at the
 * end of y - 1 and not at the end of y. P() of days past the data clamps to np ("after").
 * Customers are split into ranges scanned by a few threads into private arrays, added up at
 * the end. */
#include "internal.h"
#include "analytics/scan.h"

#include <retain/alloc.h>
#include <retain/metrics.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void rt_report_opts_init(rt_report_opts *o) {
  o->unit = RT_PERIOD_MONTH;
  o->from_period = INT64_MIN;
  o->to_period = INT64_MAX;
  o->baseline = 3;
  o->inactive_days = 90;
}

void rt_report_free(rt_report *r) {
  if (!r)
    return;
  rt_free(r->rows);
  rt_free(r->base);
  rt_free(r);
}

/* The per-period histograms, np + 1 entries each (entry np: after the data). */
enum { H_NEW, H_SECOND, H_ORDERS, H_REVENUE, H_ORDERING, H_REFUNDS, H_REFUNDED, H_NETREF,
       H_ACT, H_CHURN, H_COUNT };

typedef struct report_part {
  const rt_model *m;
  const int32_t *rel;  /* P(d) - p0 for d in [lo, lo + span] */
  const int32_t *relw; /* P(d + inactive_days) - p0, clamped to np */
  int64_t lo, np;
  int64_t last_off;      /* max_day - lo: the last day of the tables */
  int64_t after_first;   /* first day of the period after the data's last */ /* P() of the first day after the data */
  int64_t skip_off;     /* orders on days before lo + skip_off cannot change the periods
                          reported: they are not scanned (their revenue goes to period 0) */
  size_t c0, c1;
  int64_t *h;          /* [H_COUNT][np + 1], zeroed */
} report_part;

/* P() of a subscription end day (may be past the data, INT32_MAX while live). */
static inline int32_t end_period(const report_part *p, int64_t e) {
  int64_t off = e - p->lo;
  if (off <= p->last_off)
    return p->rel[off];
  return e < p->after_first ? (int32_t)(p->np - 1) : (int32_t)p->np;
}

static void report_scan(void *arg) {
  report_part *p = arg;
  const rt_model *m = p->m;
  const int32_t *rel = p->rel, *relw = p->relw;
  const int32_t *oday = m->order_day, *rday = m->refund_day;
  const int64_t *amount = m->order_amount, *ramount = m->refund_amount;
  const uint32_t *ostart = m->order_start, *rstart = m->refund_start, *sstart = m->sub_start;
  const int64_t lo = p->lo, np = p->np, stride = np + 1;
  int64_t *newc = p->h + H_NEW * stride, *second = p->h + H_SECOND * stride;
  int64_t *orders = p->h + H_ORDERS * stride, *revenue = p->h + H_REVENUE * stride;
  int64_t *ordering = p->h + H_ORDERING * stride, *refunds = p->h + H_REFUNDS * stride;
  int64_t *refunded = p->h + H_REFUNDED * stride, *netref = p->h + H_NETREF * stride;
  int64_t *act = p->h + H_ACT * stride, *churn = p->h + H_CHURN * stride;

  for (size_t i = p->c0; i < p->c1; i++) {
    uint32_t o0 = ostart[i], o1 = ostart[i + 1];
    uint32_t s0 = sstart[i], s1 = sstart[i + 1];
    int32_t pf = o0 < o1 ? rel[m->first_order_day[i] - lo] : INT32_MAX;
    for (uint32_t j = rstart[i]; j < rstart[i + 1]; j++) {
      int32_t r = rel[rday[j] - lo];
      refunds[r]++;
      refunded[r] += ramount[j];
      if (pf != INT32_MAX)
        netref[r > pf ? r : pf] += ramount[j];
    }
    if (o0 == o1 && s0 == s1)
      continue;
    if (o0 < o1) {
      newc[pf]++;
      if (o1 - o0 >= 2)
        second[rel[oday[o0 + 1] - lo]]++;
    }
    /* orders early enough not to matter (see rt_report_compute) are skipped, their revenue
     * counted in period 0 for the running totals */
    if (p->skip_off > 0 && o0 < o1 && m->first_order_day[i] - lo < p->skip_off) {
      if (m->last_order_day[i] - lo < p->skip_off) { /* all of them, without reading them */
        revenue[0] += m->revenue[i];
        o0 = o1;
      } else {
        uint32_t j = o1;
        int64_t later = 0;
        while (j > o0 && oday[j - 1] - lo >= p->skip_off)
          later += amount[--j];
        revenue[0] += m->revenue[i] - later;
        o0 = j;
      }
    }
    /* orders, with their activity ranges merged on the fly */
    int32_t prev = -1, x = -1, y = -1; /* the open range [x, y); y < 0: none */
    if (s0 == s1) {
      for (uint32_t j = o0; j < o1; j++) {
        int64_t off = oday[j] - lo;
        int32_t r = rel[off], w = relw[off];
        orders[r]++;
        revenue[r] += amount[j];
        ordering[r] += (r != prev);
        prev = r;
        if (w > r) {
          if (r <= y) {
            y = w > y ? w : y;
          } else {
            if (y >= 0) {
              act[x]++;
              act[y]--;
              churn[y]++;
            }
            x = r;
            y = w;
          }
        }
      }
    } else {
      for (uint32_t j = o0; j < o1; j++) {
        int32_t r = rel[oday[j] - lo];
        orders[r]++;
        revenue[r] += amount[j];
        ordering[r] += (r != prev);
        prev = r;
      }
      /* two start-sorted streams of ranges, orders' and subscriptions' */
      uint32_t j = o0, s = s0;
      for (;;) {
        int32_t ox = INT32_MAX, oy = 0, sx = INT32_MAX, sy = 0;
        if (j < o1) {
          int64_t off = oday[j] - lo;
          ox = rel[off];
          oy = relw[off];
        }
        if (s < s1) {
          sx = rel[m->sub_first_day[s] - lo];
          sy = end_period(p, m->sub_end_day[s]);
        }
        int32_t a, b;
        if (ox == INT32_MAX && sx == INT32_MAX)
          break;
        if (ox <= sx) {
          a = ox;
          b = oy;
          j++;
        } else {
          a = sx;
          b = sy;
          s++;
        }
        if (b <= a)
          continue; /* active at no period end */
        if (a <= y) {
          y = b > y ? b : y;
        } else {
          if (y >= 0) {
            act[x]++;
            act[y]--;
            churn[y]++;
          }
          x = a;
          y = b;
        }
      }
    }
    if (y >= 0) {
      act[x]++;
      act[y]--;
      churn[y]++;
    }
  }
}

static double ratio(int64_t a, int64_t b) { return b ? (double)a / (double)b : NAN; }

static void set_rates(rt_period_metrics *r) {
  r->churn_rate = ratio(r->churned, r->active_start);
  r->retention_rate = ratio(r->active_end - r->new_customers, r->active_start);
  r->repeat_rate = ratio(r->repeat_buyers, r->customers);
  r->frequency = ratio(r->orders, r->ordering);
  r->aov = ratio(r->revenue, r->orders);
  r->historic_clv = ratio(r->net_revenue_to_date, r->customers);
}

/* The average of rows[0..n) (n >= 1): counts as rounded means, rates as the mean of the
 * defined ones (NAN when none is). */
static void average(const rt_period_metrics *rows, int n, rt_period_metrics *out) {
#define AVG_COUNT(f)                                                                           \
  do {                                                                                         \
    double s_ = 0;                                                                             \
    for (int i_ = 0; i_ < n; i_++)                                                             \
      s_ += (double)rows[i_].f;                                                                \
    out->f = llround(s_ / n);                                                                  \
  } while (0)
#define AVG_RATE(f)                                                                            \
  do {                                                                                         \
    double s_ = 0;                                                                             \
    int k_ = 0;                                                                                \
    for (int i_ = 0; i_ < n; i_++)                                                             \
      if (!isnan(rows[i_].f)) {                                                                \
        s_ += rows[i_].f;                                                                      \
        k_++;                                                                                  \
      }                                                                                        \
    out->f = k_ ? s_ / k_ : NAN;                                                               \
  } while (0)
  out->period = rows[0].period;
  AVG_COUNT(customers);
  AVG_COUNT(new_customers);
  AVG_COUNT(active_start);
  AVG_COUNT(active_end);
  AVG_COUNT(churned);
  AVG_COUNT(ordering);
  AVG_COUNT(orders);
  AVG_COUNT(refunds);
  AVG_COUNT(revenue);
  AVG_COUNT(refunded);
  AVG_COUNT(net_revenue_to_date);
  AVG_COUNT(repeat_buyers);
  AVG_RATE(churn_rate);
  AVG_RATE(retention_rate);
  AVG_RATE(repeat_rate);
  AVG_RATE(frequency);
  AVG_RATE(aov);
  AVG_RATE(historic_clv);
#undef AVG_COUNT
#undef AVG_RATE
}

static void no_baseline(rt_period_metrics *b) {
  memset(b, 0, sizeof *b);
  b->period = INT64_MIN;
  b->churn_rate = b->retention_rate = b->repeat_rate = NAN;
  b->frequency = b->aov = b->historic_clv = NAN;
}

int rt_report_compute(const rt_model *m, const rt_report_opts *opts, rt_report **out,
                      rt_error *err) {
  rt_report_opts def;
  rt__period_lut lut = {0};
  int32_t *relw = NULL;
  int64_t *h = NULL;
  rt_period_metrics *all = NULL;
  int rc = RT_ENOMEM;
  *out = NULL;
  if (!opts) {
    rt_report_opts_init(&def);
    opts = &def;
  }
  if ((unsigned)opts->unit > RT_PERIOD_YEAR)
    return rt_error_set(err, RT_EINVAL, "report: unknown period unit %d", (int)opts->unit);
  if (opts->baseline < 0 || opts->inactive_days < 0)
    return rt_error_set(err, RT_EINVAL, "report: the baseline and the inactivity window "
                                        "must not be negative");
  rt_report *rep = rt_calloc(1, sizeof *rep);
  if (!rep)
    return rt_error_set(err, RT_ENOMEM, "report: %s", rt_strerror(RT_ENOMEM));
  const rt_period_unit u = opts->unit;
  rep->unit = u;
  rep->inactive_days = opts->inactive_days;
  rep->baseline = opts->baseline;
  if (m->min_day > m->max_day)
    goto done; /* no data at all */

  /* The periods reported: [from, to] within the data. */
  int64_t first = rt_period_of_day(u, m->min_day), last = rt_period_of_day(u, m->max_day);
  int64_t to = opts->to_period < last ? opts->to_period : last;
  int64_t from = opts->from_period == INT64_MIN ? to : opts->from_period;
  if (from < first)
    from = first;
  if (from > to)
    goto done;

  rc = rt__period_lut_init(&lut, u, m->min_day, m->max_day);
  if (rc) {
    rt_error_set(err, rc, "report: %s",
                 rc == RT_ERANGE ? "the dates span too many days" : rt_strerror(rc));
    goto fail_quiet;
  }
  const int64_t np = lut.nper, stride = np + 1, span = m->max_day - m->min_day + 1;
  rc = RT_ENOMEM;
  /* P(d + inactive_days) for every day; past the data: the last period if still in it, else
   * "after" (np). */
  relw = rt_malloc((size_t)span * sizeof *relw);
  if (!relw)
    goto fail;
  int64_t after_first = rt_period_first_day(u, last + 1);
  for (int64_t d = 0; d < span; d++) {
    int64_t e = d + opts->inactive_days; /* relative to min_day */
    relw[d] = e < span ? lut.rel[e] : (e + m->min_day < after_first ? (int32_t)(np - 1)
                                                                    : (int32_t)np);
  }

  int nparts = rt__scan_parts(m);
  size_t bounds[RT__MAX_PARTS + 1];
  report_part parts[RT__MAX_PARTS];
  rt__scan_split(m, nparts, bounds);
  h = rt_calloc((size_t)nparts * H_COUNT * (size_t)stride, sizeof *h);
  if (!h)
    goto fail;
  /* The rows reported are [from, to] and their baselines back to w = from - baseline; the
   * earliest thing they need is S(w), the activity on the last day of the period before w.
   * An order on day o keeps a customer active until o + inactive_days - 1, so an order
   * before F(w) - inactive_days (F: a period's first day) is over before that day, and its
   * activity range, merged or not, ends before w: the scan skips such orders. What they
   * would add to running totals (buyers, repeat buyers, net revenue to date) is kept: first
   * and second orders are read apart, and the skipped revenue is counted in period 0. Rows
   * before w come out wrong and are not reported. (The tests compare every single-period
   * report with a brute force; skipping one period more already fails them.) */
  int64_t skip_off = 0, w = from - opts->baseline;
  if (w > first)
    skip_off = rt_period_first_day(u, w) - opts->inactive_days - m->min_day;
  for (int i = 0; i < nparts; i++) {
    parts[i].skip_off = skip_off;
    parts[i].m = m;
    parts[i].rel = lut.rel;
    parts[i].relw = relw;
    parts[i].lo = m->min_day;
    parts[i].np = np;
    parts[i].last_off = span - 1;
    parts[i].after_first = after_first;
    parts[i].c0 = bounds[i];
    parts[i].c1 = bounds[i + 1];
    parts[i].h = h + (size_t)i * H_COUNT * (size_t)stride;
  }
  rt__parallel(nparts, report_scan, parts, sizeof parts[0]);
  for (int i = 1; i < nparts; i++)
    for (int64_t x = 0; x < H_COUNT * stride; x++)
      h[x] += parts[i].h[x];

  /* Every period of the data, by prefix sums. */
  all = rt_calloc((size_t)np, sizeof *all);
  if (!all)
    goto fail;
  int64_t buyers = 0, repeat = 0, active = 0, gross = 0, netref = 0;
  for (int64_t r = 0; r < np; r++) {
    rt_period_metrics *x = &all[r];
    x->period = lut.p0 + r;
    buyers += h[H_NEW * stride + r];
    repeat += h[H_SECOND * stride + r];
    gross += h[H_REVENUE * stride + r];
    netref += h[H_NETREF * stride + r];
    x->active_start = active;
    active += h[H_ACT * stride + r];
    x->active_end = active;
    x->customers = buyers;
    x->new_customers = h[H_NEW * stride + r];
    x->churned = h[H_CHURN * stride + r];
    x->ordering = h[H_ORDERING * stride + r];
    x->orders = h[H_ORDERS * stride + r];
    x->refunds = h[H_REFUNDS * stride + r];
    x->revenue = h[H_REVENUE * stride + r];
    x->refunded = h[H_REFUNDED * stride + r];
    x->net_revenue_to_date = gross - netref;
    x->repeat_buyers = repeat;
    set_rates(x);
  }

  size_t n = (size_t)(to - from + 1);
  rep->rows = rt_malloc(n * sizeof *rep->rows);
  rep->base = rt_malloc(n * sizeof *rep->base);
  if (!rep->rows || !rep->base)
    goto fail;
  rep->nperiods = n;
  for (size_t i = 0; i < n; i++) {
    int64_t r = from + (int64_t)i - lut.p0;
    rep->rows[i] = all[r];
    int64_t b0 = r - opts->baseline < 0 ? 0 : r - opts->baseline;
    if (b0 < r)
      average(all + b0, (int)(r - b0), &rep->base[i]);
    else
      no_baseline(&rep->base[i]);
  }
done:
  rt_free(all);
  rt_free(h);
  rt_free(relw);
  rt__period_lut_free(&lut);
  *out = rep;
  return 0;

fail:
  rt_error_set(err, rc, "report: %s", rt_strerror(rc));
fail_quiet:
  rt_free(all);
  rt_free(h);
  rt_free(relw);
  rt__period_lut_free(&lut);
  rt_report_free(rep);
  return rc;
}
