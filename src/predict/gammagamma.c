/* gammagamma.c - the Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005,
 * "RFM and CLV: using iso-value curves for customer base analysis", Journal of Marketing
 * Research 42(4); Fader & Hardie, "The Gamma-Gamma model of monetary value", 2013 note): the
 * likelihood of a customer's mean spend m over x transactions, its gradient, the fit and the
 * conditional expected spend (docs/MODELS.md). */
#include <retain/clv.h>

#include <math.h>

#include "predict/fit.h"
#include "predict/specfun.h"

/* row = (x, m); theta = (p, q, v) */
double rt__gamma_gamma_ll(const double *th, const double *row, double *g) {
  const double p = th[0], q = th[1], v = th[2], x = row[0], m = row[1];
  double px = p * x, lvm = log(v + m * x);
  double ll = lgamma(px + q) - lgamma(px) - lgamma(q) + q * log(v) + (px - 1) * log(m) +
              px * log(x) - (px + q) * lvm;
  if (g) {
    double ppq = rt__digamma(px + q);
    g[0] = x * (ppq - rt__digamma(px) + log(m) + log(x) - lvm);
    g[1] = ppq - rt__digamma(q) + log(v) - lvm;
    g[2] = q / v - (px + q) / (v + m * x);
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
  double th[3];
  int rc = rt__fit_ml(&rows, 3, rt__gamma_gamma_ll, starts, 3, th, &out->info);
  rt__rows_free(&rows);
  if (rc)
    return rt_error_set(err, RT_EINVAL, "clv: the Gamma-Gamma fit found no finite likelihood");
  out->p = th[0];
  out->q = th[1];
  out->v = th[2];
  return 0;
}

double rt_gamma_gamma_spend(const rt_gamma_gamma *g, double x, double m) {
  if (x <= 0 || !(m > 0))
    return g->q > 1 ? g->p * g->v / (g->q - 1) : NAN;
  return g->p * (g->v + x * m) / (g->p * x + g->q - 1);
}
