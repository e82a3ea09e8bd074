/* metrics.c - the retention report (metrics.h): every KPI for every period up to the as-of day
 * in one pass over the model, then the periods asked for and their baselines.
 *
 * Windows. Period r (numbered from the first period with data, r = 0 .. np-1) is counted over a
 * window of days [F_r, E_r]: the whole period, cut at the as-of day for the last one - or, for
 * the baseline of a partial period, its first k days (a "to-date" pass, so that 9 days of
 * December are compared with the first 9 days of the months before).
 *
 * Checkpoints. Activity is looked at on two days per window: the day before it starts (F_r - 1,
 * checkpoint 2r: S) and its last day (E_r, checkpoint 2r + 1: E). Checkpoints are in time
 * order. ck[d] is the first checkpoint on or after day d, so an order on day o (active on days
 * o .. o + inactive_days - 1) makes the customer active at checkpoints [ck[o], ck[o + W]), and
 * a subscription at [ck[start], ck[end]). Per customer these ranges are merged into disjoint,
 * non-touching ranges [x, y): each adds +1 at x and -1 at y of a difference array (active at
 * checkpoint c = its prefix sum), counts a churn at y when y is an E checkpoint (active on
 * F - 1, not on E), and a return at x when x is an E checkpoint of a window after the one in
 * which they became a customer (first purchase or subscription). Stocks (buyers, repeat buyers, revenue and refunds to date) are counted at
 * ck[d] too and read by prefix sums at E checkpoints; flows (orders, revenue, new customers,
 * refunds, cancellations) at win[d], the window holding day d (np when none: a day after a
 * to-date window's k days). Days past the as-of day map to np (flows) and 2 np (checkpoints):
 * "after". Customers are split into ranges scanned by a few threads into private arrays, added
 * up at the end. */
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

/* The histograms, 2 np + 1 entries each: flows at windows 0..np (np: none), the rest at
 * checkpoints 0..2np (2np: after). */
enum { H_NEW, H_ORDERS, H_REVENUE, H_ORDERING, H_REFUNDS, H_REFUNDED, H_CANCELLED, H_CANCELVAL,
       H_BUYERS, H_SECOND, H_GROSS, H_NETREF, H_ACT, H_CHURN, H_RETURN, H_COUNT };

/* The day tables of one pass over windows [lo, hi] (hi: the as-of day). */
typedef struct windows {
  int64_t lo, hi, span; /* days lo..hi, span = hi - lo + 1 */
  int64_t p0, np;       /* the period of lo; windows */
  int32_t *win;         /* [span] window of the day, or np */
  int32_t *ck;          /* [span] first checkpoint on or after the day */
  int32_t *ckw;         /* [span] ck[d + inactive_days], 2np past hi */
} windows;

static void windows_free(windows *w) {
  rt_free(w->win);
  rt_free(w->ck);
  rt_free(w->ckw);
}

/* Builds the tables; k > 0 cuts every window to its first k days (a to-date pass). */
static int windows_init(windows *w, rt_period_unit u, int64_t lo, int64_t hi, int64_t k,
                        int inactive_days) {
  memset(w, 0, sizeof *w);
  if (hi < lo || hi - lo >= RT__LUT_MAX_DAYS)
    return RT_ERANGE;
  w->lo = lo;
  w->hi = hi;
  w->span = hi - lo + 1;
  w->p0 = rt_period_of_day(u, lo);
  w->np = rt_period_of_day(u, hi) - w->p0 + 1;
  size_t n = (size_t)w->span;
  w->win = rt_malloc(n * sizeof *w->win);
  w->ck = rt_malloc(n * sizeof *w->ck);
  w->ckw = rt_malloc(n * sizeof *w->ckw);
  if (!w->win || !w->ck || !w->ckw)
    return RT_ENOMEM;
  int64_t d = lo;
  for (int64_t r = 0; r < w->np; r++) {
    int64_t f = rt_period_first_day(u, w->p0 + r), l = rt_period_first_day(u, w->p0 + r + 1) - 1;
    int64_t e = l < hi ? l : hi;
    if (k > 0 && f + k - 1 < e)
      e = f + k - 1;
    for (; d <= l && d <= hi; d++) {
      int in = d <= e;
      w->win[d - lo] = in ? (int32_t)r : (int32_t)w->np;
      w->ck[d - lo] = (int32_t)(in ? 2 * r + 1 : 2 * r + 2);
    }
  }
  for (int64_t x = 0; x < w->span; x++) {
    int64_t e = x + inactive_days;
    w->ckw[x] = e < w->span ? w->ck[e] : (int32_t)(2 * w->np);
  }
  return 0;
}

typedef struct report_part {
  const rt_model *m;
  const windows *w;
  int64_t skip_off;     /* orders on days before lo + skip_off cannot change the periods
                          reported: they are not scanned (their revenue counts at checkpoint
                          0 for the running totals) */
  size_t c0, c1;
  int64_t *h;           /* [H_COUNT][stride], zeroed */
  int64_t stride;
} report_part;

/* The checkpoint of a subscription's end day (INT32_MAX while live, or past the tables). */
static inline int32_t end_ck(const windows *w, int64_t e) {
  return e <= w->hi ? w->ck[e - w->lo] : (int32_t)(2 * w->np);
}

/* Ends the open range [x, y) of a customer who became one at checkpoint since. */
static inline void close_range(int64_t *act, int64_t *churn, int64_t *ret, int32_t x, int32_t y,
                               int32_t since) {
  act[x]++;
  act[y]--;
  churn[y] += y & 1; /* at an E checkpoint: active on F - 1, not on E */
  ret[x] += (x & 1) && since < x; /* active on E, not on F - 1, a customer before F */
}

static void report_scan(void *arg) {
  report_part *p = arg;
  const rt_model *m = p->m;
  const windows *w = p->w;
  const int32_t *win = w->win, *ck = w->ck, *ckw = w->ckw;
  const int32_t *oday = m->order_day, *rday = m->refund_day;
  const int64_t *amount = m->order_amount, *ramount = m->refund_amount;
  const uint32_t *ostart = m->order_start, *rstart = m->refund_start, *sstart = m->sub_start;
  const int64_t lo = w->lo, np = w->np, stride = p->stride;
  int64_t *h[H_COUNT];
  for (int k = 0; k < H_COUNT; k++)
    h[k] = p->h + k * stride;
  int64_t *act = h[H_ACT], *churn = h[H_CHURN], *ret = h[H_RETURN];

  for (size_t i = p->c0; i < p->c1; i++) {
    uint32_t o0 = ostart[i], o1 = ostart[i + 1];
    uint32_t s0 = sstart[i], s1 = sstart[i + 1];
    int32_t pf = o0 < o1 ? ck[m->first_order_day[i] - lo] : INT32_MAX;
    for (uint32_t j = rstart[i]; j < rstart[i + 1]; j++) {
      int64_t off = rday[j] - lo;
      h[H_REFUNDS][win[off]]++;
      h[H_REFUNDED][win[off]] += ramount[j];
      if (pf != INT32_MAX)
        h[H_NETREF][ck[off] > pf ? ck[off] : pf] += ramount[j];
    }
    for (uint32_t j = rt_model_cancel_lo(m, i); j < rt_model_cancel_hi(m, i); j++) {
      int32_t r = win[m->cancel_day[j] - lo];
      h[H_CANCELLED][r]++;
      h[H_CANCELVAL][r] += m->cancel_amount[j];
    }
    if (o0 == o1 && s0 == s1)
      continue;
    if (o0 < o1) {
      h[H_NEW][win[m->first_order_day[i] - lo]]++;
      h[H_BUYERS][pf]++;
      if (o1 - o0 >= 2)
        h[H_SECOND][ck[oday[o0 + 1] - lo]]++;
    }
    /* orders early enough not to matter (see rt_report_compute) are skipped, their revenue
     * counted at checkpoint 0 for the running totals */
    if (p->skip_off > 0 && o0 < o1 && m->first_order_day[i] - lo < p->skip_off) {
      if (m->last_order_day[i] - lo < p->skip_off) { /* all of them, without reading them */
        h[H_GROSS][0] += m->revenue[i];
        o0 = o1;
      } else {
        uint32_t j = o1;
        int64_t later = 0;
        while (j > o0 && oday[j - 1] - lo >= p->skip_off)
          later += amount[--j];
        h[H_GROSS][0] += m->revenue[i] - later;
        o0 = j;
      }
    }
    /* the purchases' flows and stocks */
    int32_t prev = -1;
    for (uint32_t j = o0; j < o1; j++) {
      int64_t off = oday[j] - lo;
      int32_t r = win[off];
      h[H_ORDERS][r]++;
      h[H_REVENUE][r] += amount[j];
      h[H_ORDERING][r] += (r != prev);
      prev = r;
      h[H_GROSS][ck[off]] += amount[j];
    }
    /* activity: two start-sorted streams of ranges, purchases' and subscriptions', merged;
     * since: the checkpoint of the day they became a customer (first purchase or subscription) */
    int32_t x = -1, y = -1; /* the open range [x, y); y < 0: none */
    int32_t since = pf;
    if (s0 < s1 && ck[m->sub_first_day[s0] - lo] < since)
      since = ck[m->sub_first_day[s0] - lo];
    uint32_t j = o0, s = s0;
    for (;;) {
      int32_t ox = INT32_MAX, oy = 0, sx = INT32_MAX, sy = 0;
      if (j < o1) {
        int64_t off = oday[j] - lo;
        ox = ck[off];
        oy = ckw[off];
      }
      if (s < s1) {
        sx = ck[m->sub_first_day[s] - lo];
        sy = end_ck(w, m->sub_end_day[s]);
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
        continue; /* active at no checkpoint */
      if (a <= y) {
        y = b > y ? b : y;
      } else {
        if (y >= 0)
          close_range(act, churn, ret, x, y, since);
        x = a;
        y = b;
      }
    }
    if (y >= 0)
      close_range(act, churn, ret, x, y, since);
    (void)np;
  }
}

/* One pass over windows: every period's metrics into all[np]. */
static int pass(const rt_model *m, const rt_report_opts *opts, int64_t k, int64_t w_first,
                windows *w, rt_period_metrics **all_out) {
  int64_t *h = NULL;
  rt_period_metrics *all = NULL;
  int rc = windows_init(w, opts->unit, m->min_day, m->as_of, k, opts->inactive_days);
  if (rc)
    return rc;
  const int64_t np = w->np, stride = 2 * np + 1;
  int nparts = rt__scan_parts(m);
  size_t bounds[RT__MAX_PARTS + 1];
  report_part parts[RT__MAX_PARTS];
  rt__scan_split(m, nparts, bounds);
  h = rt_calloc((size_t)nparts * H_COUNT * (size_t)stride, sizeof *h);
  all = rt_calloc((size_t)np, sizeof *all);
  if (!h || !all) {
    rt_free(h);
    rt_free(all);
    return RT_ENOMEM;
  }
  /* The rows reported are [from, to] and their baselines back to window w_first; the earliest
   * thing they need is S of w_first, the activity on the day before it. An order on day o
   * keeps a customer active until o + inactive_days - 1, so an order before F(w_first) -
   * inactive_days is over before that day, and its activity range, merged or not, ends before
   * it: the scan skips such orders. What they would add to running totals (buyers, repeat
   * buyers, net revenue to date) is kept: first and second orders are read apart, and the
   * skipped revenue is counted at checkpoint 0. Rows before w_first come out wrong and are not
   * reported. (The tests compare every single-period report with a brute force; skipping one
   * period more already fails them.) */
  int64_t skip_off = 0;
  if (w_first > 0)
    skip_off = rt_period_first_day(opts->unit, w->p0 + w_first) - opts->inactive_days - w->lo;
  for (int i = 0; i < nparts; i++)
    parts[i] = (report_part){.m = m, .w = w, .skip_off = skip_off, .c0 = bounds[i],
                             .c1 = bounds[i + 1],
                             .h = h + (size_t)i * H_COUNT * (size_t)stride, .stride = stride};
  rt__parallel(nparts, report_scan, parts, sizeof parts[0]);
  for (int i = 1; i < nparts; i++)
    for (int64_t x = 0; x < H_COUNT * stride; x++)
      h[x] += parts[i].h[x];

  /* every window by prefix sums over the checkpoints */
  int64_t buyers = 0, repeat = 0, active = 0, gross = 0, netref = 0;
  int64_t *H[H_COUNT];
  for (int q = 0; q < H_COUNT; q++)
    H[q] = h + q * stride;
  for (int64_t r = 0, c = 0; r < np; r++) {
    rt_period_metrics *x = &all[r];
    for (; c <= 2 * r + 1; c++) {
      buyers += H[H_BUYERS][c];
      repeat += H[H_SECOND][c];
      gross += H[H_GROSS][c];
      netref += H[H_NETREF][c];
      if (c == 2 * r + 1)
        x->active_start = active; /* at checkpoint 2r */
      active += H[H_ACT][c];
    }
    int64_t f = rt_period_first_day(opts->unit, w->p0 + r);
    int64_t l = rt_period_first_day(opts->unit, w->p0 + r + 1) - 1;
    int64_t e = l < m->as_of ? l : m->as_of;
    if (k > 0 && f + k - 1 < e)
      e = f + k - 1;
    x->period = w->p0 + r;
    x->averaged = 1;
    x->days = (int32_t)(e - f + 1);
    x->period_days = (int32_t)(l - f + 1);
    x->active_end = active;
    x->customers = buyers;
    x->new_customers = H[H_NEW][r];
    x->churned = H[H_CHURN][2 * r + 1];
    x->retained = x->active_start - x->churned;
    x->returning = H[H_RETURN][2 * r + 1];
    x->ordering = H[H_ORDERING][r];
    x->orders = H[H_ORDERS][r];
    x->cancelled = H[H_CANCELLED][r];
    x->cancelled_value = H[H_CANCELVAL][r];
    x->refunds = H[H_REFUNDS][r];
    x->revenue = H[H_REVENUE][r];
    x->refunded = H[H_REFUNDED][r];
    x->net_revenue = x->revenue - x->refunded;
    x->net_revenue_to_date = gross - netref;
    x->repeat_buyers = repeat;
  }
  rt_free(h);
  *all_out = all;
  return 0;
}

static double ratio(int64_t a, int64_t b) { return b ? (double)a / (double)b : NAN; }

static void set_rates(rt_period_metrics *r) {
  r->churn_rate = ratio(r->churned, r->active_start);
  r->retention_rate = ratio(r->retained, r->active_start);
  r->textbook_retention_rate = ratio(r->active_end - r->new_customers, r->active_start);
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
  out->averaged = n;
  out->days = rows[0].days;
  out->period_days = rows[0].period_days;
  AVG_COUNT(customers);
  AVG_COUNT(new_customers);
  AVG_COUNT(active_start);
  AVG_COUNT(active_end);
  AVG_COUNT(churned);
  AVG_COUNT(retained);
  AVG_COUNT(returning);
  AVG_COUNT(ordering);
  AVG_COUNT(orders);
  AVG_COUNT(cancelled);
  AVG_COUNT(refunds);
  AVG_COUNT(revenue);
  AVG_COUNT(cancelled_value);
  AVG_COUNT(refunded);
  AVG_COUNT(net_revenue);
  AVG_COUNT(net_revenue_to_date);
  AVG_COUNT(repeat_buyers);
  AVG_RATE(churn_rate);
  AVG_RATE(retention_rate);
  AVG_RATE(textbook_retention_rate);
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
  b->churn_rate = b->retention_rate = b->textbook_retention_rate = b->repeat_rate = NAN;
  b->frequency = b->aov = b->historic_clv = NAN;
}

int rt_report_compute(const rt_model *m, const rt_report_opts *opts, rt_report **out,
                      rt_error *err) {
  rt_report_opts def;
  windows w = {0}, wk = {0};
  rt_period_metrics *all = NULL, *todate = NULL;
  int rc = 0;
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
  rep->as_of = m->as_of;
  if (m->min_day > m->max_day || m->as_of < m->min_day)
    goto done; /* no data at all */

  /* The periods reported: [from, to] up to the as-of day's period. */
  int64_t first = rt_period_of_day(u, m->min_day), last = rt_period_of_day(u, m->as_of);
  int64_t to = opts->to_period < last ? opts->to_period : last;
  int64_t from = opts->from_period == INT64_MIN ? to : opts->from_period;
  if (from < first)
    from = first;
  if (from > to)
    goto done;
  if (last - first + 1 > RT_REPORT_MAX_SPAN || to - from + 1 > RT_REPORT_MAX_PERIODS) {
    int span = last - first + 1 > RT_REPORT_MAX_SPAN;
    char a[32], b[32];
    rt_period_label(u, span ? first : from, a, sizeof a);
    rt_period_label(u, span ? last : to, b, sizeof b);
    rt_report_free(rep);
    return rt_error_set(err, RT_ERANGE,
                        "report: %lld %s periods from %s to %s are more than the %d a report "
                        "may %s; %s",
                        (long long)(span ? last - first + 1 : to - from + 1),
                        rt_period_unit_name(u), a, b,
                        span ? RT_REPORT_MAX_SPAN : RT_REPORT_MAX_PERIODS,
                        span ? "span" : "return",
                        span ? "use a longer period or an earlier as-of day"
                             : "use a longer period, or a later from or an earlier to");
  }
  rc = pass(m, opts, 0, from - opts->baseline - first, &w, &all);
  if (rc)
    goto fail;
  /* a partial last period is compared with the same first days of the periods before it */
  int64_t last_first_day = rt_period_first_day(u, last);
  int64_t k = m->as_of - last_first_day + 1;
  int partial = to == last && rt_period_first_day(u, last + 1) - 1 > m->as_of;
  if (partial && opts->baseline > 0 && last > first) {
    rc = pass(m, opts, k, last - opts->baseline - first, &wk, &todate);
    if (rc)
      goto fail;
  }

  size_t n = (size_t)(to - from + 1);
  rep->rows = rt_malloc(n * sizeof *rep->rows);
  rep->base = rt_malloc(n * sizeof *rep->base);
  rc = RT_ENOMEM;
  if (!rep->rows || !rep->base)
    goto fail;
  rep->nperiods = n;
  for (int64_t r = 0; r < w.np; r++)
    set_rates(&all[r]);
  for (int64_t r = 0; todate && r < wk.np; r++)
    set_rates(&todate[r]);
  for (size_t i = 0; i < n; i++) {
    int64_t r = from + (int64_t)i - w.p0;
    rep->rows[i] = all[r];
    int64_t b0 = r - opts->baseline < 0 ? 0 : r - opts->baseline;
    const rt_period_metrics *src = todate && from + (int64_t)i == last ? todate : all;
    if (b0 < r)
      average(src + b0, (int)(r - b0), &rep->base[i]);
    else
      no_baseline(&rep->base[i]);
  }
done:
  rt_free(all);
  rt_free(todate);
  windows_free(&w);
  windows_free(&wk);
  *out = rep;
  return 0;

fail:
  rt_error_set(err, rc, "report: %s",
               rc == RT_ERANGE ? "the dates span too many days" : rt_strerror(rc));
  rt_free(all);
  rt_free(todate);
  windows_free(&w);
  windows_free(&wk);
  rt_report_free(rep);
  return rc;
}
