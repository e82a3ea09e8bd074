/* bgnbd.c - the BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy
 * way: an alternative to the Pareto/NBD model", Marketing Science 24(2)): its likelihood with
 * analytic gradient, the fit, P(alive) and conditional expected purchases (equations 6, 10 and
 * 13 of the paper; docs/MODELS.md). */
#include <retain/alloc.h>
#include <retain/clv.h>

#include <math.h>

#include "predict/fit.h"
#include "predict/specfun.h"

/* What the rows share at theta (rt__prepare_fn), so that a fit's evaluation costs few
 * transcendental functions per row: the parts of the log-likelihood and its gradient made of
 * log-gamma and digamma functions, per repeat count x = 0..maxx (small integers); and
 * ln(alpha + d/unit) and 1/(alpha + d/unit) per whole number of days d = 0..maxd, since t_x and
 * T are whole days in a time unit (day_tx / day_T give each row's, or UINT32_MAX). */
typedef struct bg_tables {
  size_t maxx;
  double *c;  /* ln G(r+x) - ln G(r) + r ln alpha + ln B(a, b+x) - ln B(a, b) */
  double *dr; /* d/dr of it */
  double *da, *db;
  double *hrr, *haa, *hbb; /* its second derivatives (d2/da db = d2/da2) */
  double *lbx; /* ln(b + x - 1), x >= 1 */
  double la;   /* ln a */
  const double *base; /* the rows (3 values each) that day_tx and day_T describe */
  uint32_t *day_tx, *day_T;
  size_t maxd;
  double unit_days;
  double *lg, *inv;
} bg_tables;

#define BG_TABLES 8 /* columns per x in the tables' memory */

static void bg_prepare(const double *th, void *ctx) {
  bg_tables *t = ctx;
  const double r = th[0], al = th[1], a = th[2], b = th[3];
  const double lr = lgamma(r), lab = lgamma(a + b), lb = lgamma(b), la = log(al);
  const double pr = rt__digamma(r), pab = rt__digamma(a + b), pb = rt__digamma(b);
  const double tr = rt__trigamma(r), tab = rt__trigamma(a + b), tb = rt__trigamma(b);
  for (size_t x = 0; x <= t->maxx; x++) {
    t->c[x] = lgamma(r + x) - lr + r * la + lab + lgamma(b + x) - lb - lgamma(a + b + x);
    double pabx = rt__digamma(a + b + x), tabx = rt__trigamma(a + b + x);
    t->dr[x] = rt__digamma(r + x) - pr + la;
    t->da[x] = pab - pabx;
    t->db[x] = pab + rt__digamma(b + x) - pb - pabx;
    t->hrr[x] = rt__trigamma(r + x) - tr;
    t->haa[x] = tab - tabx;
    t->hbb[x] = tab + rt__trigamma(b + x) - tb - tabx;
    t->lbx[x] = x > 0 ? log(b + x - 1) : 0;
  }
  t->la = log(a);
  if (t->lg)
    for (size_t d = 0; d <= t->maxd; d++) {
      double v = al + d / t->unit_days;
      t->lg[d] = log(v);
      t->inv[d] = 1 / v;
    }
}

/* row = (x, t_x, T); theta = (r, alpha, a, b); ctx: bg_tables for this theta, or NULL.
 * The log-likelihood is c(x) + ln(e^A3 + e^A4) with A3 = -(r+x) ln(alpha+T) and, for x > 0,
 * A4 = ln a - ln(b+x-1) - (r+x) ln(alpha+t_x); with the terms' weights w3 + w4 = 1, its
 * gradient is grad c + w3 grad A3 + w4 grad A4 and its Hessian
 * hess c + w3 hess A3 + w4 hess A4 + w3 w4 (grad A3 - grad A4)(grad A3 - grad A4)'. */
double rt__bgnbd_ll(const double *th, const double *row, double *g, double *h, const void *ctx) {
  const double r = th[0], al = th[1], a = th[2], b = th[3];
  const double x = row[0], tx = row[1], T = row[2];
  const bg_tables *t = ctx;
  size_t xi = (size_t)x;
  int tabled = t && x >= 0 && x == (double)xi && xi <= t->maxx;
  size_t i = tabled && t->lg ? (size_t)(row - t->base) / 3 : 0;
  int days = tabled && t->lg && t->day_T[i] != UINT32_MAX;
  double a12 = tabled ? t->c[xi]
                      : lgamma(r + x) - lgamma(r) + r * log(al) + lgamma(a + b) + lgamma(b + x) -
                            lgamma(b) - lgamma(a + b + x);
  double lT = days ? t->lg[t->day_T[i]] : log(al + T);
  double a3 = -(r + x) * lT, a4 = -INFINITY, ltx = 0, ll, w4 = 0;
  if (x > 0) {
    ltx = days ? t->lg[t->day_tx[i]] : log(al + tx);
    a4 = (tabled ? t->la - t->lbx[xi] : log(a) - log(b + x - 1)) - (r + x) * ltx;
    /* ln(e^a3 + e^a4) and the weight of the second term, with one exp */
    double d = a4 - a3;
    if (d <= 0) {
      double e = exp(d);
      ll = a12 + a3 + log1p(e);
      w4 = e / (1 + e);
    } else {
      double e = exp(-d);
      ll = a12 + a4 + log1p(e);
      w4 = 1 / (1 + e);
    }
  } else {
    ll = a12 + a3;
  }
  if (g) {
    double w3 = 1 - w4;
    double iT = days ? t->inv[t->day_T[i]] : 1 / (al + T);
    double itx = 0, ib = 0;
    if (tabled) {
      g[0] = t->dr[xi];
      g[2] = t->da[xi];
      g[3] = t->db[xi];
    } else {
      double pab = rt__digamma(a + b), pabx = rt__digamma(a + b + x);
      g[0] = rt__digamma(r + x) - rt__digamma(r) + log(al);
      g[2] = pab - pabx;
      g[3] = pab + rt__digamma(b + x) - rt__digamma(b) - pabx;
    }
    g[0] -= w3 * lT;
    g[1] = r / al - w3 * (r + x) * iT;
    if (x > 0) {
      itx = days ? t->inv[t->day_tx[i]] : 1 / (al + tx);
      ib = 1 / (b + x - 1);
      g[0] -= w4 * ltx;
      g[1] -= w4 * (r + x) * itx;
      g[2] += w4 / a;
      g[3] -= w4 * ib;
    }
    if (h) {
      double hrr, haa, hbb;
      if (tabled) {
        hrr = t->hrr[xi];
        haa = t->haa[xi];
        hbb = t->hbb[xi];
      } else {
        double tab = rt__trigamma(a + b), tabx = rt__trigamma(a + b + x);
        hrr = rt__trigamma(r + x) - rt__trigamma(r);
        haa = tab - tabx;
        hbb = tab + rt__trigamma(b + x) - rt__trigamma(b) - tabx;
      }
      /* grad A3 - grad A4, and the cross term's weight */
      double d0 = x > 0 ? ltx - lT : 0, d1 = x > 0 ? (r + x) * (itx - iT) : 0;
      double d2 = x > 0 ? -1 / a : 0, d3 = x > 0 ? ib : 0, ww = w3 * w4;
      double dd[4] = {d0, d1, d2, d3};
      double base[4][4] = {
          {hrr, 1 / al - w3 * iT - w4 * itx, 0, 0},
          {0, -r / (al * al) + w3 * (r + x) * iT * iT + w4 * (r + x) * itx * itx, 0, 0},
          {0, 0, haa - w4 / (a * a), haa},
          {0, 0, 0, hbb + w4 * ib * ib}};
      for (int j = 0; j < 4; j++)
        for (int k = j; k < 4; k++)
          h[j * 4 + k] = h[k * 4 + j] = base[j][k] + ww * dd[j] * dd[k];
    }
  }
  return ll;
}

double rt_bgnbd_loglik(const rt_bgnbd *p, double x, double t_x, double T) {
  double th[4] = {p->r, p->alpha, p->a, p->b}, row[3] = {x, t_x, T};
  return rt__bgnbd_ll(th, row, NULL, NULL, NULL);
}

int rt_bgnbd_fit(const rt_clv_summary *s, rt_bgnbd *out, rt_error *err) {
  rt__rows rows;
  double mean_T;
  int frc = rt__purchase_rows(s, "BG/NBD", &rows, &mean_T, err);
  if (frc)
    return frc;
  /* starting points: unit values, and two spread around the data's time scale */
  const double starts[] = {1, 1, 1, 1, 0.5, mean_T / 10, 0.8, 2.5, 2, mean_T, 0.5, 5};
  bg_tables t = {0};
  for (size_t i = 0; i < rows.n; i++)
    if (rows.v[i * 3] <= 100000 && rows.v[i * 3] > (double)t.maxx)
      t.maxx = (size_t)rows.v[i * 3];
  /* whole days: each row's t_x and T as day numbers, when they are */
  t.unit_days = s->unit_days;
  t.base = rows.v;
  int rc = RT_ENOMEM;
  double *mem = rt_malloc(BG_TABLES * (t.maxx + 1) * sizeof *mem);
  if (t.unit_days > 0) {
    t.day_tx = rt_malloc((rows.n ? rows.n : 1) * sizeof *t.day_tx);
    t.day_T = rt_malloc((rows.n ? rows.n : 1) * sizeof *t.day_T);
  }
  if (!mem || (t.unit_days > 0 && (!t.day_tx || !t.day_T)))
    goto out;
  t.c = mem;
  t.dr = mem + (t.maxx + 1);
  t.da = mem + 2 * (t.maxx + 1);
  t.db = mem + 3 * (t.maxx + 1);
  t.lbx = mem + 4 * (t.maxx + 1);
  t.hrr = mem + 5 * (t.maxx + 1);
  t.haa = mem + 6 * (t.maxx + 1);
  t.hbb = mem + 7 * (t.maxx + 1);
  if (t.unit_days > 0) {
    for (size_t i = 0; i < rows.n; i++) {
      double dtx = rows.v[i * 3 + 1] * t.unit_days, dT = rows.v[i * 3 + 2] * t.unit_days;
      double rtx = nearbyint(dtx), rT = nearbyint(dT);
      int whole = fabs(dtx - rtx) < 1e-6 && fabs(dT - rT) < 1e-6 && rtx >= 0 && rT >= 0 &&
                  rT < 1e7 && rtx < 1e7;
      t.day_tx[i] = whole ? (uint32_t)rtx : UINT32_MAX;
      t.day_T[i] = whole ? (uint32_t)rT : UINT32_MAX;
      if (whole && (size_t)rT > t.maxd)
        t.maxd = (size_t)rT;
      if (whole && (size_t)rtx > t.maxd)
        t.maxd = (size_t)rtx;
    }
    t.lg = rt_malloc(2 * (t.maxd + 1) * sizeof *t.lg);
    if (!t.lg)
      goto out;
    t.inv = t.lg + (t.maxd + 1);
  }
  double th[4];
  rc = rt__fit_ml(&rows, 4, rt__bgnbd_ll, bg_prepare, &t, 1, starts, 3, th, &out->info) ? RT_EINVAL
                                                                                        : 0;
  if (!rc) {
    out->r = th[0];
    out->alpha = th[1];
    out->a = th[2];
    out->b = th[3];
  }
out:
  rt_free(mem);
  rt_free(t.day_tx);
  rt_free(t.day_T);
  rt_free(t.lg);
  rt__rows_free(&rows);
  if (rc == RT_ENOMEM)
    return rt_error_set(err, rc, "clv: %s", rt_strerror(rc));
  if (rc)
    return rt_error_set(err, RT_EINVAL, "clv: the BG/NBD fit found no finite likelihood");
  return 0;
}

double rt_bgnbd_p_alive(const rt_bgnbd *p, double x, double t_x, double T) {
  if (x <= 0)
    return 1;
  double q = log(p->a) - log(p->b + x - 1) +
             (p->r + x) * (log(p->alpha + T) - log(p->alpha + t_x));
  return 1 / (1 + exp(q));
}

void rt__bgnbd_numerators(const rt_bgnbd *p, const double *t, int nt, double x, double T,
                          double *num) {
  const double r = p->r, al = p->alpha, a = p->a, b = p->b, c = a + b + x - 1;
  if (c <= 0 || a == 1) { /* outside the formula's range (a = 1 needs a limit) */
    for (int j = 0; j < nt; j++)
      num[j] = NAN;
    return;
  }
  double z[16] = {0}, l[16];
  for (int j = 0; j < nt; j++)
    z[j] = t[j] > 0 ? t[j] / (al + T + t[j]) : 0;
  rt__log_hyp2f1_many(r + x, b + x, c, z, nt, l);
  for (int j = 0; j < nt; j++)
    num[j] = t[j] > 0 ? c / (a - 1) * -expm1((r + x) * log((al + T) / (al + T + t[j])) + l[j])
                      : 0;
}

/* E[Y(t[j]) | x, t_x, T] for nt horizons (nt <= 16): the numerators (one pass over the 2F1
 * series for all of them) times P(alive), which is 1 / the denominator of equation 10. */
static void expected_many(const rt_bgnbd *p, const double *t, int nt, double x, double t_x,
                          double T, double *out) {
  rt__bgnbd_numerators(p, t, nt, x, T, out);
  double pa = rt_bgnbd_p_alive(p, x, t_x, T);
  for (int j = 0; j < nt; j++)
    out[j] *= pa;
}

double rt_bgnbd_expected(const rt_bgnbd *p, double t, double x, double t_x, double T) {
  double e;
  expected_many(p, &t, 1, x, t_x, T, &e);
  return e;
}

double rt_clv_value(const rt_btyd *bg, const rt_gamma_gamma *gg, double x, double t_x, double T,
                    double m, double horizon, int steps, double discount) {
  if (steps < 1)
    steps = 1;
  if (steps > 16)
    steps = 16;
  double t[16], e[16];
  for (int k = 0; k < steps; k++)
    t[k] = horizon * (k + 1) / steps;
  rt__btyd_numerators(bg, t, steps, x, T, e);
  double pa = rt_btyd_p_alive(bg, x, t_x, T);
  double spend = rt_gamma_gamma_spend(gg, x, m), value = 0, prev = 0;
  for (int k = 0; k < steps; k++) {
    e[k] *= pa;
    value += (e[k] - prev) * spend / pow(1 + discount, t[k]);
    prev = e[k];
  }
  return value;
}
