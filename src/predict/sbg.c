/* sbg.c - the shifted-beta-geometric model of subscription retention (Fader & Hardie 2007,
 * "How to project customer retention"; Fader & Hardie 2010, "Customer-base valuation in a
 * contractual setting: the perils of ignoring heterogeneity"). docs/MODELS.md has the math. */
#include <retain/alloc.h>
#include <retain/clv.h>

#include <math.h>

#include "predict/fit.h"
#include "predict/specfun.h"

static double lbeta(double a, double b) {
  return rt__lgamma(a) + rt__lgamma(b) - rt__lgamma(a + b);
}

/* row = (t, survived): survived 0 — churned in period t: ln P(T = t) = ln B(alpha + 1,
 * beta + t - 1) - ln B(alpha, beta); survived 1 — still there after t periods: ln S(t) =
 * ln B(alpha, beta + t) - ln B(alpha, beta). theta = (alpha, beta). */
static double sbg_ll(const double *th, const double *row, double *g, double *h,
                     const void *ctx) {
  (void)h;
  (void)ctx;
  const double a = th[0], b = th[1], t = row[0];
  const int survived = row[1] != 0;
  double x = survived ? a : a + 1, y = survived ? b + t : b + t - 1;
  double ll = lbeta(x, y) - lbeta(a, b);
  if (g) {
    double pxy = rt__digamma(x + y), pab = rt__digamma(a + b);
    g[0] = rt__digamma(x) - pxy - rt__digamma(a) + pab;
    g[1] = rt__digamma(y) - pxy - rt__digamma(b) + pab;
  }
  return ll;
}

int rt_sbg_fit(const double *alive, int n, rt_sbg *out, rt_error *err) {
  if (n < 2 || !(alive[0] > 0))
    return rt_error_set(err, RT_EINVAL, "sbg: a survival table needs at least two periods and "
                                        "a cohort size above 0");
  for (int t = 1; t < n; t++)
    if (!(alive[t] >= 0) || alive[t] > alive[t - 1])
      return rt_error_set(err, RT_EINVAL, "sbg: period %d: %g subscribers after %g; a survival "
                          "table does not grow", t, alive[t], alive[t - 1]);
  /* rows: churned in period t = 1..n-1, and the survivors after n-1 periods */
  rt__rows rows = {.k = 2};
  rows.v = rt_malloc((size_t)n * 2 * sizeof *rows.v);
  rows.w = rt_malloc((size_t)n * sizeof *rows.w);
  if (!rows.v || !rows.w) {
    rt__rows_free(&rows);
    return rt_error_set(err, RT_ENOMEM, "sbg: %s", rt_strerror(RT_ENOMEM));
  }
  double total = 0;
  for (int t = 1; t < n; t++) {
    double churned = alive[t - 1] - alive[t];
    if (churned <= 0)
      continue;
    rows.v[rows.n * 2] = t;
    rows.v[rows.n * 2 + 1] = 0;
    rows.w[rows.n++] = churned;
    total += churned;
  }
  if (alive[n - 1] > 0) {
    rows.v[rows.n * 2] = n - 1;
    rows.v[rows.n * 2 + 1] = 1;
    rows.w[rows.n++] = alive[n - 1];
    total += alive[n - 1];
  }
  rows.total = (size_t)llround(total);
  if (!rows.total)
    rows.total = 1;
  const double starts[] = {1, 1, 0.5, 2, 2, 0.5};
  double th[2];
  int rc = rt__fit_ml(&rows, 2, sbg_ll, NULL, NULL, 0, starts, 3, th, &out->info);
  rt__rows_free(&rows);
  if (rc)
    return rt_error_set(err, RT_EINVAL, "sbg: the fit found no finite likelihood");
  out->alpha = th[0];
  out->beta = th[1];
  return 0;
}

int rt_sbg_fit_tenures(const int32_t *paid, const uint8_t *ended, size_t n, rt_sbg *out,
                       rt_error *err) {
  double *t = rt_malloc((n ? n : 1) * sizeof *t), *surv = rt_malloc((n ? n : 1) * sizeof *surv);
  rt__rows rows = {0};
  int rc = 0;
  if (!t || !surv) {
    rc = rt_error_set(err, RT_ENOMEM, "sbg: %s", rt_strerror(RT_ENOMEM));
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    if (paid[i] < 1) {
      rc = rt_error_set(err, RT_EINVAL, "sbg: subscription %zu paid for %d periods", i,
                        (int)paid[i]);
      goto out;
    }
    t[i] = ended[i] ? paid[i] : paid[i] - 1; /* churned in period paid, or survived paid-1 */
    surv[i] = !ended[i];
  }
  const double *cols[2] = {t, surv};
  if (rt__rows_distinct(cols, 2, n, NULL, NULL, &rows)) {
    rc = rt_error_set(err, RT_ENOMEM, "sbg: %s", rt_strerror(RT_ENOMEM));
    goto out;
  }
  int churned = 0;
  for (size_t i = 0; i < rows.n; i++)
    churned |= rows.v[i * 2 + 1] == 0;
  if (rows.total < 2 || !churned) {
    rc = rt_error_set(err, RT_EINVAL, "sbg: needs at least 2 subscriptions, some cancelled");
    goto out;
  }
  const double starts[] = {1, 1, 0.5, 2, 2, 0.5};
  double th[2];
  if (rt__fit_ml(&rows, 2, sbg_ll, NULL, NULL, 0, starts, 3, th, &out->info)) {
    rc = rt_error_set(err, RT_EINVAL, "sbg: the fit found no finite likelihood");
    goto out;
  }
  out->alpha = th[0];
  out->beta = th[1];
out:
  rt__rows_free(&rows);
  rt_free(t);
  rt_free(surv);
  return rc;
}

double rt_sbg_survival(const rt_sbg *m, int t) {
  return t <= 0 ? 1 : exp(lbeta(m->alpha, m->beta + t) - lbeta(m->alpha, m->beta));
}

double rt_sbg_expected_remaining(const rt_sbg *m, int renewals) {
  /* E[(1 - theta) / theta] with theta | renewals ~ Beta(alpha, beta + renewals) */
  return m->alpha > 1 ? (m->beta + renewals) / (m->alpha - 1) : INFINITY;
}

double rt_sbg_derl(const rt_sbg *m, int renewals, double d) {
  /* theta | renewals ~ Beta(alpha, beta + renewals); the next payment comes if the subscriber
   * renews again (probability (beta+n)/(alpha+beta+n), n = renewals), each later one likewise,
   * discounted by (1 + d) per period: (beta+n)/(alpha+beta+n) / (1+d) *
   * 2F1(1, beta+n+1; alpha+beta+n+1; 1/(1+d)). */
  if (!(d > 0))
    return rt_sbg_expected_remaining(m, renewals);
  double n = renewals, a = m->alpha, b = m->beta;
  double p = (b + n) / (a + b + n);
  return p / (1 + d) * exp(rt__log_hyp2f1(1, b + n + 1, a + b + n + 1, 1 / (1 + d)));
}
