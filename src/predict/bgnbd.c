/* bgnbd.c - the BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy
 * way: an alternative to the Pareto/NBD model", Marketing Science 24(2)): its likelihood with
 * analytic gradient, the fit, P(alive) and conditional expected purchases (equations 6, 10 and
 * 13 of the paper; docs/MODELS.md). */
#include <retain/clv.h>

#include <math.h>

#include "predict/fit.h"
#include "predict/specfun.h"

/* row = (x, t_x, T); theta = (r, alpha, a, b) */
double rt__bgnbd_ll(const double *th, const double *row, double *g) {
  const double r = th[0], al = th[1], a = th[2], b = th[3];
  const double x = row[0], tx = row[1], T = row[2];
  double a1 = lgamma(r + x) - lgamma(r) + r * log(al);
  double a2 = lgamma(a + b) + lgamma(b + x) - lgamma(b) - lgamma(a + b + x);
  double a3 = -(r + x) * log(al + T);
  double a4 = x > 0 ? log(a) - log(b + x - 1) - (r + x) * log(al + tx) : -INFINITY;
  double ll = a1 + a2 + rt__log_add(a3, a4);
  if (g) {
    double w4 = x > 0 ? 1 / (1 + exp(a3 - a4)) : 0, w3 = 1 - w4;
    double pab = rt__digamma(a + b), pabx = rt__digamma(a + b + x);
    g[0] = rt__digamma(r + x) - rt__digamma(r) + log(al) - w3 * log(al + T);
    g[1] = r / al - w3 * (r + x) / (al + T);
    g[2] = pab - pabx;
    g[3] = pab + rt__digamma(b + x) - rt__digamma(b) - pabx;
    if (x > 0) {
      g[0] -= w4 * log(al + tx);
      g[1] -= w4 * (r + x) / (al + tx);
      g[2] += w4 / a;
      g[3] -= w4 / (b + x - 1);
    }
  }
  return ll;
}

double rt_bgnbd_loglik(const rt_bgnbd *p, double x, double t_x, double T) {
  double th[4] = {p->r, p->alpha, p->a, p->b}, row[3] = {x, t_x, T};
  return rt__bgnbd_ll(th, row, NULL);
}

int rt_bgnbd_fit(const rt_clv_summary *s, rt_bgnbd *out, rt_error *err) {
  const double *cols[3] = {s->x, s->t_x, s->T};
  rt__rows rows;
  if (rt__rows_distinct(cols, 3, s->n, NULL, NULL, &rows))
    return rt_error_set(err, RT_ENOMEM, "clv: %s", rt_strerror(RT_ENOMEM));
  if (rows.total < 2) {
    rt__rows_free(&rows);
    return rt_error_set(err, RT_EINVAL, "clv: BG/NBD needs at least 2 customers with orders");
  }
  double mean_T = 0;
  for (size_t i = 0; i < rows.n; i++)
    mean_T += rows.w[i] * rows.v[i * 3 + 2];
  mean_T = mean_T / (double)rows.total + 1;
  /* starting points: unit values, and two spread around the data's time scale */
  const double starts[] = {1, 1, 1, 1, 0.5, mean_T / 10, 0.8, 2.5, 2, mean_T, 0.5, 5};
  double th[4];
  int rc = rt__fit_ml(&rows, 4, rt__bgnbd_ll, starts, 3, th, &out->info);
  rt__rows_free(&rows);
  if (rc)
    return rt_error_set(err, RT_EINVAL, "clv: the BG/NBD fit found no finite likelihood");
  out->r = th[0];
  out->alpha = th[1];
  out->a = th[2];
  out->b = th[3];
  return 0;
}

double rt_bgnbd_p_alive(const rt_bgnbd *p, double x, double t_x, double T) {
  if (x <= 0)
    return 1;
  double q = log(p->a) - log(p->b + x - 1) +
             (p->r + x) * (log(p->alpha + T) - log(p->alpha + t_x));
  return 1 / (1 + exp(q));
}

double rt_bgnbd_expected(const rt_bgnbd *p, double t, double x, double t_x, double T) {
  if (t <= 0)
    return 0;
  const double r = p->r, al = p->alpha, a = p->a, b = p->b;
  double c = a + b + x - 1;
  if (c <= 0 || a == 1)
    return NAN; /* outside the formula's range (a = 1 needs a limit) */
  double z = t / (al + T + t);
  double l = (r + x) * log((al + T) / (al + T + t)) + rt__log_hyp2f1(r + x, b + x, c, z);
  double num = c / (a - 1) * -expm1(l);
  double den = 1;
  if (x > 0)
    den += exp(log(a) - log(b + x - 1) + (r + x) * (log(al + T) - log(al + t_x)));
  return num / den;
}

double rt_clv_value(const rt_bgnbd *bg, const rt_gamma_gamma *gg, double x, double t_x, double T,
                    double m, double horizon, int steps, double discount) {
  if (steps < 1)
    steps = 1;
  double spend = rt_gamma_gamma_spend(gg, x, m), value = 0, prev = 0;
  for (int k = 1; k <= steps; k++) {
    double t = horizon * k / steps, e = rt_bgnbd_expected(bg, t, x, t_x, T);
    value += (e - prev) * spend / pow(1 + discount, t);
    prev = e;
  }
  return value;
}
