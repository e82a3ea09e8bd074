/* pareto.c - the Pareto/NBD model (Schmittlein, Morrison & Colombo 1987, "Counting your
 * customers: who are they and what will they do next?", Management Science 33(1)), with the
 * likelihood in the form of Fader, Hardie & Lee's 2005 note "A note on deriving the Pareto/NBD
 * model and related expressions" (equation 22), its analytic gradient, the fit, P(alive) and
 * the conditional expectation. docs/MODELS.md has the math.
 *
 * While alive a customer buys at rate lambda ~ Gamma(r, alpha); their lifetime is exponential
 * with rate mu ~ Gamma(s, beta). */
#include <retain/alloc.h>
#include <retain/clv.h>

#include <math.h>

#include "predict/fit.h"
#include "predict/specfun.h"

/* ln 2F1(a, b; a + 1; z) for 0 <= z < 1 and its derivatives in a (c = a + 1 moving with it),
 * b and z, from one pass over the series sum_k a/(a+k) (b)_k / k! z^k. */
static double log_f(double a, double b, double z, double *da, double *db, double *dz) {
  double term = 1, sum = 1, sa = 0, sb = 0, sz = 0, hb = 0, scale = 0;
  for (int k = 1; k < 200000; k++) {
    hb += 1 / (b + k - 1);                  /* sum_{i<k} 1/(b+i): d ln (b)_k / db */
    term *= (b + k - 1) / k * z;            /* (b)_k / k! z^k */
    double ck = a / (a + k), t = term * ck; /* the series' k-th term */
    sum += t;
    sa += term * k / ((a + k) * (a + k));   /* d/da of a/(a+k) */
    sb += t * hb;
    sz += t * k;                            /* z d/dz */
    if (sum > 1e250) {
      sum *= 1e-250;
      term *= 1e-250;
      sa *= 1e-250;
      sb *= 1e-250;
      sz *= 1e-250;
      scale += 250 * M_LN10;
    }
    if (t < 1e-17 * sum && (b + k) / (k + 1.0) * z < 1 && k > 2)
      break;
  }
  *da = sa / sum;
  *db = sb / sum;
  *dz = z > 0 ? sz / sum / z : b * a / (a + 1); /* at z = 0 the first term's slope */
  return log(sum) + scale;
}

/* One of A0's two terms: ln[2F1(.; z) / (w + t)^(r+s+x)] and its gradient in (r, alpha, s,
 * beta). With alpha >= beta: w = alpha, b = s + 1, z = (alpha - beta) / (alpha + t); else
 * w = beta, b = r + x, z = (beta - alpha) / (beta + t). */
static double a0_term(double r, double al, double s, double be, double x, double t, double *g) {
  double a = r + s + x, da, db, dz;
  if (al >= be) {
    double z = (al - be) / (al + t);
    double l = log_f(a, s + 1, z, &da, &db, &dz) - a * log(al + t);
    g[0] = da - log(al + t);
    g[2] = da + db - log(al + t);
    g[1] = dz * (be + t) / ((al + t) * (al + t)) - a / (al + t);
    g[3] = -dz / (al + t);
    return l;
  }
  double z = (be - al) / (be + t);
  double l = log_f(a, r + x, z, &da, &db, &dz) - a * log(be + t);
  g[0] = da + db - log(be + t);
  g[2] = da - log(be + t);
  g[1] = -dz / (be + t);
  g[3] = dz * (al + t) / ((be + t) * (be + t)) - a / (be + t);
  return l;
}

/* ln A0 = ln(e^l1 - e^l2) (the t_x term is the larger), with its gradient. */
static double log_a0(const double *th, double x, double tx, double T, double *g) {
  double g1[4], g2[4];
  double l1 = a0_term(th[0], th[1], th[2], th[3], x, tx, g1);
  double l2 = a0_term(th[0], th[1], th[2], th[3], x, T, g2);
  double e = exp(l2 - l1); /* < 1 */
  if (!(e < 1)) {
    for (int j = 0; j < 4; j++)
      g[j] = 0;
    return -INFINITY;
  }
  for (int j = 0; j < 4; j++)
    g[j] = (g1[j] - e * g2[j]) / (1 - e);
  return l1 + log1p(-e);
}

/* row = (x, t_x, T); theta = (r, alpha, s, beta) */
double rt__pareto_ll(const double *th, const double *row, double *g, double *h,
                     const void *ctx) {
  (void)h; /* no analytic Hessian: the fit differences the gradient */
  (void)ctx;
  const double r = th[0], al = th[1], s = th[2], be = th[3];
  const double x = row[0], tx = row[1], T = row[2];
  double c = rt__lgamma(r + x) - rt__lgamma(r) + r * log(al) + s * log(be);
  double lb = -(r + x) * log(al + T) - s * log(be + T); /* ln B1 */
  double ga[4];
  double la = log_a0(th, x, tx, T, ga) + log(s) - log(r + s + x);
  double ll = c + rt__log_add(lb, la);
  if (g) {
    double wa = la == -INFINITY ? 0 : 1 / (1 + exp(lb - la)), wb = 1 - wa;
    double dab = 1 / (r + s + x);
    g[0] = rt__digamma(r + x) - rt__digamma(r) + log(al) - wb * log(al + T) +
           wa * (ga[0] - dab);
    g[1] = r / al - wb * (r + x) / (al + T) + wa * ga[1];
    g[2] = log(be) - wb * log(be + T) + wa * (ga[2] + 1 / s - dab);
    g[3] = s / be - wb * s / (be + T) + wa * ga[3];
  }
  return ll;
}

double rt_pareto_loglik(const rt_pareto *p, double x, double t_x, double T) {
  double th[4] = {p->r, p->alpha, p->s, p->beta}, row[3] = {x, t_x, T};
  return rt__pareto_ll(th, row, NULL, NULL, NULL);
}

int rt_pareto_fit(const rt_clv_summary *s, rt_pareto *out, rt_error *err) {
  rt__rows rows;
  double mean_T;
  int frc = rt__purchase_rows(s, "Pareto/NBD", &rows, &mean_T, err);
  if (frc)
    return frc;
  const double starts[] = {1, 1, 1, 1, 0.5, mean_T / 4, 0.5, mean_T / 4, 1, mean_T, 1,
                           mean_T / 2};
  double th[4];
  int rc = rt__fit_ml(&rows, 4, rt__pareto_ll, NULL, NULL, 0, starts, 3, th, &out->info);
  if (!rc)
    rt__dropout_check(&rows, th, RT_BTYD_PARETO, &out->info);
  rt__rows_free(&rows);
  if (rc)
    return rt_error_set(err, RT_EINVAL, "clv: the Pareto/NBD fit found no finite likelihood");
  out->r = th[0];
  out->alpha = th[1];
  out->s = th[2];
  out->beta = th[3];
  return 0;
}

double rt_pareto_p_alive(const rt_pareto *p, double x, double t_x, double T) {
  /* 1 / (1 + (s/(r+s+x)) (alpha+T)^(r+x) (beta+T)^s A0) */
  double th[4] = {p->r, p->alpha, p->s, p->beta}, g[4];
  double la = log_a0(th, x, t_x, T, g);
  double q = log(p->s) - log(p->r + p->s + x) + (p->r + x) * log(p->alpha + T) +
             p->s * log(p->beta + T) + la;
  return 1 / (1 + exp(q));
}

double rt__pareto_numerator(const rt_pareto *p, double t, double x, double T) {
  /* E[Y(t) | x, t_x, T] = (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]
   * P(alive); s = 1 is the limit (r+x)(beta+T)/(alpha+T) ln((beta+T+t)/(beta+T)) */
  const double r = p->r, al = p->alpha, s = p->s, be = p->beta;
  double k = (r + x) * (be + T) / (al + T);
  if (fabs(s - 1) < 1e-9)
    return k * log1p(t / (be + T));
  return k / (s - 1) * -expm1((s - 1) * -log1p(t / (be + T)));
}

double rt_pareto_expected(const rt_pareto *p, double t, double x, double t_x, double T) {
  if (t <= 0)
    return 0;
  return rt__pareto_numerator(p, t, x, T) * rt_pareto_p_alive(p, x, t_x, T);
}

/* The next purchase. Alive at T, a customer with rate lambda and dropout rate mu buys within t
 * unless the first purchase comes after the end of the wait or of their life:
 * P(buy | lambda, mu) = lambda / (lambda + mu) (1 - e^(-(lambda + mu) t)), which is
 * int_0^t lambda e^(-(lambda + mu) v) dv. Given alive at T, lambda ~ Gamma(r', alpha') and
 * mu ~ Gamma(s, beta') independently (r' = r + x, alpha' = alpha + T, beta' = beta + T), and
 * the means E[lambda e^(-lambda v)] = r' alpha'^r' / (alpha' + v)^(r'+1) and
 * E[e^(-mu v)] = (beta' / (beta' + v))^s make
 *   F(t) = r' alpha'^r' beta'^s int_0^t (alpha' + v)^-(r'+1) (beta' + v)^-s dv.
 * With A = r' + s and alpha >= beta, writing beta' + v = (alpha' + v)(1 - c/(alpha' + v)),
 * c = alpha - beta, and y = 1/(alpha' + v) turns the integral into int y^(A-1) (1 - c y)^-s dy,
 * and int_0^Y y^(A-1) (1 - c y)^-s dy = Y^A / A 2F1(A, s; A + 1; c Y); for alpha < beta the
 * same with the roles swapped (w = beta' + v, c = beta - alpha, r' + 1 for s). So
 *   F(t) = e^K (e^l(w0) - e^l(w0 + t)),  l(w) = -A ln w + ln 2F1(A, b; A + 1; c / w),
 * K = ln r' + r' ln alpha' + s ln beta' - ln A, w0 = alpha' (or beta'). F grows to
 * e^(K + l(w0)) = E[lambda / (lambda + mu)]: a customer may die before buying again. */
typedef struct next_form {
  double A, b, c, w0, K;
} next_form;

static next_form next_of(const double *th, double x, double T) {
  const double r = th[0], al = th[1], s = th[2], be = th[3], rx = r + x;
  next_form f = {rx + s, s, al - be, al + T, 0};
  if (al < be) {
    f.b = rx + 1;
    f.c = be - al;
    f.w0 = be + T;
  }
  f.K = log(rx) + rx * log(al + T) + s * log(be + T) - log(f.A);
  return f;
}

/* l(w) and dl/d ln w */
static double next_l(const next_form *f, double w, double *slope) {
  double da, db, dz, z = f->c / w;
  double l = -f->A * log(w) + log_f(f->A, f->b, z, &da, &db, &dz);
  if (slope)
    *slope = -f->A - z * dz;
  return l;
}

double rt__pareto_p_buy(const double *th, double t, double x, double t_x, double T) {
  if (!(t > 0))
    return 0;
  rt_pareto p = {.r = th[0], .alpha = th[1], .s = th[2], .beta = th[3]};
  next_form f = next_of(th, x, T);
  double l0 = next_l(&f, f.w0, NULL), lt = next_l(&f, f.w0 + t, NULL);
  return rt_pareto_p_alive(&p, x, t_x, T) * exp(f.K + l0) * -expm1(lt - l0);
}

/* P(alive) F(t) = 1/2 where l(w) = L = ln(e^l(w0) - e^-K / (2 P(alive))), when that exists. l is
 * decreasing and convex in u = ln w (-A u plus the log of a series in e^-u with positive
 * coefficients), so Newton's steps in u from the left of the root stay left of it and
 * increase to it. */
double rt__pareto_next(const double *th, double x, double t_x, double T) {
  rt_pareto p = {.r = th[0], .alpha = th[1], .s = th[2], .beta = th[3]};
  double pa = rt_pareto_p_alive(&p, x, t_x, T);
  next_form f = next_of(th, x, T);
  double l0 = next_l(&f, f.w0, NULL);
  /* e^(K + l0) P(alive) > 1/2, or no median */
  double q = -f.K - log(2 * pa) - l0; /* ln of the part of e^l0 the wait must use up */
  if (!(pa > 0) || !(q < 0))
    return INFINITY;
  double L = l0 + log1p(-exp(q));
  double u0 = log(f.w0), u = fmax(u0, -L / f.A); /* -A u <= l(u): the root is to the right */
  for (int it = 0; it < 100; it++) {
    double slope, l = next_l(&f, exp(u), &slope);
    double step = (l - L) / -slope; /* l decreasing: move right while above L */
    if (!(step > 0) || !isfinite(step))
      break;
    u += step;
    if (step < 1e-12 * (1 + fabs(u)))
      break;
  }
  return exp(u) - f.w0;
}
