/* gammagamma.c - the Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005,
 * "RFM and CLV: using iso-value curves for customer base analysis", Journal of Marketing
 * Research 42(4); Fader & Hardie, "The Gamma-Gamma model of monetary value", 2013 note): the
 * likelihood of a customer's mean spend m over x transactions, its gradient, the fit and the
 * conditional expected spend (docs/MODELS.md). */
#include <retain/alloc.h>
#include <retain/clv.h>

#include <math.h>

#include "predict/fit.h"
#include "predict/specfun.h"

/* What the rows share at theta (rt__prepare_fn): the log-gamma and digamma parts per
 * transaction count x = 1..maxx, and each row's ln m (fixed), so that a row costs one log. */
typedef struct gg_tables {
  size_t maxx;
  double *c;  /* ln G(px+q) - ln G(px) - ln G(q) + q ln v + px ln x */
  double *dp; /* x (psi(px+q) - psi(px) + ln x) */
  double *dq; /* psi(px+q) - psi(q) + ln v */
  double *hpp, *hpq, *hqq; /* second derivatives of the first line's terms */
  const double *base; /* the rows (2 values each) lm describes */
  double *lm;         /* ln m of each row */
} gg_tables;

static void gg_prepare(const double *th, void *ctx) {
  gg_tables *t = ctx;
  const double p = th[0], q = th[1], v = th[2], lq = rt__lgamma(q), pq = rt__digamma(q);
  const double tq = rt__trigamma(q);
  for (size_t x = 1; x <= t->maxx; x++) {
    double px = p * x, pxq = rt__digamma(px + q), lx = log((double)x);
    double txq = rt__trigamma(px + q);
    t->hpp[x] = (double)x * x * (txq - rt__trigamma(px));
    t->hpq[x] = x * txq;
    t->hqq[x] = txq - tq;
    t->c[x] = rt__lgamma(px + q) - rt__lgamma(px) - lq + q * log(v) + px * lx;
    t->dp[x] = x * (pxq - rt__digamma(px) + lx);
    t->dq[x] = pxq - pq + log(v);
  }
}

/* row = (x, m); theta = (p, q, v); ctx: gg_tables for this theta, or NULL */
double rt__gamma_gamma_ll(const double *th, const double *row, double *g, double *h,
                          const void *ctx) {
  const double p = th[0], q = th[1], v = th[2], x = row[0], m = row[1];
  const gg_tables *t = ctx;
  size_t xi = (size_t)x;
  int tabled = t && x >= 1 && x == (double)xi && xi <= t->maxx;
  double px = p * x, lvm = log(v + m * x);
  double lm = tabled ? t->lm[(size_t)(row - t->base) / 2] : log(m);
  double c = tabled ? t->c[xi]
                    : rt__lgamma(px + q) - rt__lgamma(px) - rt__lgamma(q) + q * log(v) +
                          px * log(x);
  double ll = c + (px - 1) * lm - (px + q) * lvm;
  if (g) {
    double u = 1 / (v + m * x);
    if (tabled) {
      g[0] = t->dp[xi];
      g[1] = t->dq[xi];
    } else {
      double ppq = rt__digamma(px + q);
      g[0] = x * (ppq - rt__digamma(px) + log(x));
      g[1] = ppq - rt__digamma(q) + log(v);
    }
    g[0] += x * (lm - lvm);
    g[1] -= lvm;
    g[2] = q / v - (px + q) * u;
    if (h) {
      double hpp, hpq, hqq;
      if (tabled) {
        hpp = t->hpp[xi];
        hpq = t->hpq[xi];
        hqq = t->hqq[xi];
      } else {
        double txq = rt__trigamma(px + q);
        hpp = x * x * (txq - rt__trigamma(px));
        hpq = x * txq;
        hqq = txq - rt__trigamma(q);
      }
      h[0] = hpp;
      h[1] = h[3] = hpq;
      h[2] = h[6] = -x * u;
      h[4] = hqq;
      h[5] = h[7] = 1 / v - u;
      h[8] = -q / (v * v) + (px + q) * u * u;
    }
  }
  return ll;
}

static int repeat_buyer(const void *ctx, size_t i) {
  const rt_clv_summary *s = ctx;
  return s->x[i] > 0 && s->m[i] > 0;
}

int rt_gamma_gamma_fit(const rt_clv_summary *s, rt_gamma_gamma *out, rt_error *err) {
  const double *cols[2] = {s->x, s->m};
  rt__rows rows;
  if (rt__rows_distinct(cols, 2, s->n, repeat_buyer, s, &rows))
    return rt_error_set(err, RT_ENOMEM, "clv: %s", rt_strerror(RT_ENOMEM));
  if (rows.total < 2) {
    rt__rows_free(&rows);
    return rt_error_set(err, RT_EINVAL,
                        "clv: Gamma-Gamma needs at least 2 customers with repeat purchases");
  }
  double mean_m = 0;
  for (size_t i = 0; i < rows.n; i++)
    mean_m += rows.w[i] * rows.v[i * 2 + 1];
  mean_m /= (double)rows.total;
  const double starts[] = {1, 1, 1, 2, 3, mean_m, 5, 3, 2 * mean_m};
  gg_tables t = {0};
  for (size_t i = 0; i < rows.n; i++)
    if (rows.v[i * 2] <= 100000 && rows.v[i * 2] > (double)t.maxx)
      t.maxx = (size_t)rows.v[i * 2];
  double *mem = rt_malloc(6 * (t.maxx + 1) * sizeof *mem);
  t.lm = rt_malloc((rows.n ? rows.n : 1) * sizeof *t.lm);
  int rc = RT_ENOMEM;
  if (mem && t.lm) {
    t.c = mem;
    t.dp = mem + (t.maxx + 1);
    t.dq = mem + 2 * (t.maxx + 1);
    t.hpp = mem + 3 * (t.maxx + 1);
    t.hpq = mem + 4 * (t.maxx + 1);
    t.hqq = mem + 5 * (t.maxx + 1);
    t.base = rows.v;
    for (size_t i = 0; i < rows.n; i++)
      t.lm[i] = log(rows.v[i * 2 + 1]);
    double th[3];
    rc = rt__fit_ml(&rows, 3, rt__gamma_gamma_ll, gg_prepare, &t, 1, starts, 3, th, &out->info)
             ? RT_EINVAL
             : 0;
    if (!rc) {
      out->p = th[0];
      out->q = th[1];
      out->v = th[2];
    }
  }
  rt_free(mem);
  rt_free(t.lm);
  rt__rows_free(&rows);
  if (rc == RT_ENOMEM)
    return rt_error_set(err, rc, "clv: %s", rt_strerror(rc));
  if (rc)
    return rt_error_set(err, RT_EINVAL, "clv: the Gamma-Gamma fit found no finite likelihood");
  return 0;
}

double rt_gamma_gamma_spend(const rt_gamma_gamma *g, double x, double m) {
  if (x <= 0 || !(m >= 0))
    return g->q > 1 ? g->p * g->v / (g->q - 1) : NAN;
  return g->p * (g->v + x * m) / (g->p * x + g->q - 1);
}

int rt_gamma_gamma_warnings(const rt_gamma_gamma *g, rt_fit_warning *out, int max) {
  const char *names[3] = {"p", "q", "v"};
  const double values[3] = {g->p, g->q, g->v};
  return rt_fit_warnings(&g->info, "Gamma-Gamma", names, values, 3, NULL, out, max);
}
