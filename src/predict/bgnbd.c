/* bgnbd.c - the BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy
 * way: an alternative to the Pareto/NBD model", Marketing Science 24(2)) and its modification
 * MBG/NBD (Batislam, Denizel & Filiztekin 2007, "Empirical validation and comparison of models
 * for customer base analysis", IJRM 24(3)): the likelihood with analytic gradient and Hessian,
 * the fit, P(alive) and conditional expected purchases (equations 6, 10 and 13 of the BG/NBD
 * paper; docs/MODELS.md derives the MBG/NBD forms).
 *
 * One code for both, through a shift k: BG/NBD (k = 0) lets a customer drop out after each
 * repeat purchase, MBG/NBD (k = 1) also right after the first one. A customer alive at T with
 * x repeat purchases has then survived x + k dropout chances, so every (1 - p)^x of BG/NBD
 * becomes (1 - p)^(x+k): b + x turns into b + x + k in the Beta functions, and the term of a
 * customer who dropped out after the last purchase, p (1 - p)^(x-1+k) lambda^x e^(-lambda t_x),
 * exists for x + k > 0 (with k = 1 also for one-time buyers, who may be gone). With
 * lambda ~ Gamma(r, alpha), p ~ Beta(a, b):
 *   L = B(a, b+x+k)/B(a, b) G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
 *     + [x+k > 0] B(a+1, b+x+k-1)/B(a, b) G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x)),
 * and B(a+1, b+x+k-1)/B(a, b+x+k) = a/(b+x+k-1). */
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
  int k;        /* the shift: 0 BG/NBD, 1 MBG/NBD */
  size_t maxx;
  double *c;  /* ln G(r+x) - ln G(r) + r ln alpha + ln B(a, b+x+k) - ln B(a, b) */
  double *dr; /* d/dr of it */
  double *da, *db;
  double *hrr, *haa, *hbb; /* its second derivatives (d2/da db = d2/da2) */
  double *lbx; /* ln(b + x + k - 1), x + k >= 1 */
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
  const double r = th[0], al = th[1], a = th[2], b = th[3], k = t->k;
  const double lr = rt__lgamma(r), lab = rt__lgamma(a + b), lb = rt__lgamma(b), la = log(al);
  const double pr = rt__digamma(r), pab = rt__digamma(a + b), pb = rt__digamma(b);
  const double tr = rt__trigamma(r), tab = rt__trigamma(a + b), tb = rt__trigamma(b);
  for (size_t x = 0; x <= t->maxx; x++) {
    double xk = (double)x + k;
    t->c[x] = rt__lgamma(r + x) - lr + r * la + lab + rt__lgamma(b + xk) - lb -
              rt__lgamma(a + b + xk);
    double pabx = rt__digamma(a + b + xk), tabx = rt__trigamma(a + b + xk);
    t->dr[x] = rt__digamma(r + x) - pr + la;
    t->da[x] = pab - pabx;
    t->db[x] = pab + rt__digamma(b + xk) - pb - pabx;
    t->hrr[x] = rt__trigamma(r + x) - tr;
    t->haa[x] = tab - tabx;
    t->hbb[x] = tab + rt__trigamma(b + xk) - tb - tabx;
    t->lbx[x] = xk > 0 ? log(b + xk - 1) : 0;
  }
  t->la = log(a);
  if (t->lg)
    for (size_t d = 0; d <= t->maxd; d++) {
      double v = al + d / t->unit_days;
      t->lg[d] = log(v);
      t->inv[d] = 1 / v;
    }
}

/* row = (x, t_x, T); theta = (r, alpha, a, b); k the shift; t: bg_tables for this theta and k,
 * or NULL. The log-likelihood is c(x) + ln(e^A3 + e^A4) with A3 = -(r+x) ln(alpha+T) and, for
 * x + k > 0, A4 = ln a - ln(b+x+k-1) - (r+x) ln(alpha+t_x); with the terms' weights
 * w3 + w4 = 1, its gradient is grad c + w3 grad A3 + w4 grad A4 and its Hessian
 * hess c + w3 hess A3 + w4 hess A4 + w3 w4 (grad A3 - grad A4)(grad A3 - grad A4)'. */
static double bg_ll(const double *th, const double *row, double *g, double *h,
                    const bg_tables *t, int k) {
  const double r = th[0], al = th[1], a = th[2], b = th[3];
  const double x = row[0], tx = row[1], T = row[2], xk = x + k;
  size_t xi = (size_t)x;
  int tabled = t && x >= 0 && x == (double)xi && xi <= t->maxx;
  size_t i = tabled && t->lg ? (size_t)(row - t->base) / 3 : 0;
  int days = tabled && t->lg && t->day_T[i] != UINT32_MAX;
  double a12 = tabled ? t->c[xi]
                      : rt__lgamma(r + x) - rt__lgamma(r) + r * log(al) + rt__lgamma(a + b) +
                            rt__lgamma(b + xk) - rt__lgamma(b) - rt__lgamma(a + b + xk);
  double lT = days ? t->lg[t->day_T[i]] : log(al + T);
  double a3 = -(r + x) * lT, a4 = -INFINITY, ltx = 0, ll, w4 = 0;
  if (xk > 0) {
    ltx = days ? t->lg[t->day_tx[i]] : log(al + tx);
    a4 = (tabled ? t->la - t->lbx[xi] : log(a) - log(b + xk - 1)) - (r + x) * ltx;
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
      double pab = rt__digamma(a + b), pabx = rt__digamma(a + b + xk);
      g[0] = rt__digamma(r + x) - rt__digamma(r) + log(al);
      g[2] = pab - pabx;
      g[3] = pab + rt__digamma(b + xk) - rt__digamma(b) - pabx;
    }
    g[0] -= w3 * lT;
    g[1] = r / al - w3 * (r + x) * iT;
    if (xk > 0) {
      itx = days ? t->inv[t->day_tx[i]] : 1 / (al + tx);
      ib = 1 / (b + xk - 1);
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
        double tab = rt__trigamma(a + b), tabx = rt__trigamma(a + b + xk);
        hrr = rt__trigamma(r + x) - rt__trigamma(r);
        haa = tab - tabx;
        hbb = tab + rt__trigamma(b + xk) - rt__trigamma(b) - tabx;
      }
      /* grad A3 - grad A4, and the cross term's weight */
      int two = xk > 0;
      double d0 = two ? ltx - lT : 0, d1 = two ? (r + x) * (itx - iT) : 0;
      double d2 = two ? -1 / a : 0, d3 = two ? ib : 0, ww = w3 * w4;
      double dd[4] = {d0, d1, d2, d3};
      double base[4][4] = {
          {hrr, 1 / al - w3 * iT - w4 * itx, 0, 0},
          {0, -r / (al * al) + w3 * (r + x) * iT * iT + w4 * (r + x) * itx * itx, 0, 0},
          {0, 0, haa - w4 / (a * a), haa},
          {0, 0, 0, hbb + w4 * ib * ib}};
      for (int j = 0; j < 4; j++)
        for (int m = j; m < 4; m++)
          h[j * 4 + m] = h[m * 4 + j] = base[j][m] + ww * dd[j] * dd[m];
    }
  }
  return ll;
}

double rt__bgnbd_ll(const double *th, const double *row, double *g, double *h, const void *ctx) {
  return bg_ll(th, row, g, h, ctx, 0);
}

double rt__mbgnbd_ll(const double *th, const double *row, double *g, double *h,
                     const void *ctx) {
  return bg_ll(th, row, g, h, ctx, 1);
}

double rt_bgnbd_loglik(const rt_bgnbd *p, double x, double t_x, double T) {
  double th[4] = {p->r, p->alpha, p->a, p->b}, row[3] = {x, t_x, T};
  return bg_ll(th, row, NULL, NULL, NULL, 0);
}

double rt_mbgnbd_loglik(const rt_mbgnbd *p, double x, double t_x, double T) {
  double th[4] = {p->r, p->alpha, p->a, p->b}, row[3] = {x, t_x, T};
  return bg_ll(th, row, NULL, NULL, NULL, 1);
}

/* Fits the model of shift k (0 BG/NBD, 1 MBG/NBD) to the summary (an MBG/NBD fit too comes
 * out in an rt_bgnbd: the same four parameters). */
static int bg_fit(const rt_clv_summary *s, int k, rt_bgnbd *out, rt_error *err) {
  const char *name = k ? "MBG/NBD" : "BG/NBD";
  rt__rows rows;
  double mean_T;
  int frc = rt__purchase_rows(s, name, &rows, &mean_T, err);
  if (frc)
    return frc;
  /* starting points: unit values, and two spread around the data's time scale */
  const double starts[] = {1, 1, 1, 1, 0.5, mean_T / 10, 0.8, 2.5, 2, mean_T, 0.5, 5};
  bg_tables t = {0};
  t.k = k;
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
  rc = rt__fit_ml(&rows, 4, k ? rt__mbgnbd_ll : rt__bgnbd_ll, bg_prepare, &t, 1, starts, 3, th,
                  &out->info)
           ? RT_EINVAL
           : 0;
  if (!rc) {
    rt__dropout_check(&rows, th, k ? RT_BTYD_MBGNBD : RT_BTYD_BGNBD, &out->info);
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
    return rt_error_set(err, RT_EINVAL, "clv: the %s fit found no finite likelihood", name);
  return 0;
}

int rt_bgnbd_fit(const rt_clv_summary *s, rt_bgnbd *out, rt_error *err) {
  return bg_fit(s, 0, out, err);
}

int rt_mbgnbd_fit(const rt_clv_summary *s, rt_mbgnbd *out, rt_error *err) {
  rt_bgnbd p;
  int rc = bg_fit(s, 1, &p, err);
  if (!rc)
    *out = (rt_mbgnbd){.r = p.r, .alpha = p.alpha, .a = p.a, .b = p.b, .info = p.info};
  return rc;
}

double rt__bg_p_alive(const double *th, int k, double x, double t_x, double T) {
  const double r = th[0], al = th[1], a = th[2], b = th[3];
  if (x + k <= 0)
    return 1; /* BG/NBD: nobody drops out before a repeat purchase */
  double q = log(a) - log(b + x + k - 1) + (r + x) * (log(al + T) - log(al + t_x));
  return 1 / (1 + exp(q));
}

double rt_bgnbd_p_alive(const rt_bgnbd *p, double x, double t_x, double T) {
  double th[4] = {p->r, p->alpha, p->a, p->b};
  return rt__bg_p_alive(th, 0, x, t_x, T);
}

double rt_mbgnbd_p_alive(const rt_mbgnbd *p, double x, double t_x, double T) {
  double th[4] = {p->r, p->alpha, p->a, p->b};
  return rt__bg_p_alive(th, 1, x, t_x, T);
}

/* Given alive at T, lambda ~ Gamma(r+x, alpha+T) and p ~ Beta(a, b+x+k), and a customer alive
 * buys (1 - e^(-lambda p t)) / p times in the next t; its mean over the two is the BG/NBD
 * paper's equation 10 numerator with b + x + k for b + x:
 * (a+b+x+k-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+k; a+b+x+k-1; t/(alpha+T+t))]. */
void rt__bg_numerators(const double *th, int k, const double *t, int nt, double x, double T,
                       double *num) {
  const double r = th[0], al = th[1], a = th[2], b = th[3], c = a + b + x + k - 1;
  if (c <= 0 || a == 1) { /* outside the formula's range (a = 1 needs a limit) */
    for (int j = 0; j < nt; j++)
      num[j] = NAN;
    return;
  }
  double z[16] = {0}, l[16];
  for (int j = 0; j < nt; j++)
    z[j] = t[j] > 0 ? t[j] / (al + T + t[j]) : 0;
  rt__log_hyp2f1_many(r + x, b + x + k, c, z, nt, l);
  for (int j = 0; j < nt; j++)
    num[j] = t[j] > 0 ? c / (a - 1) * -expm1((r + x) * log((al + T) / (al + T + t[j])) + l[j])
                      : 0;
}

double rt_bgnbd_expected(const rt_bgnbd *p, double t, double x, double t_x, double T) {
  double th[4] = {p->r, p->alpha, p->a, p->b}, e;
  rt__bg_numerators(th, 0, &t, 1, x, T, &e);
  return e * rt__bg_p_alive(th, 0, x, t_x, T);
}

double rt_mbgnbd_expected(const rt_mbgnbd *p, double t, double x, double t_x, double T) {
  double th[4] = {p->r, p->alpha, p->a, p->b}, e;
  rt__bg_numerators(th, 1, &t, 1, x, T, &e);
  return e * rt__bg_p_alive(th, 1, x, t_x, T);
}

/* A customer alive at T does not buy in (T, T+t] with probability E[e^(-lambda t)] =
 * ((alpha+T)/(alpha+T+t))^(r+x) (a dropout only follows a purchase), so
 * P(buy) = P(alive) (1 - ((alpha+T)/(alpha+T+t))^(r+x)), which reaches 1/2 at
 * t = (alpha+T) ((1 - 1/(2 P(alive)))^(-1/(r+x)) - 1) when P(alive) > 1/2. */
double rt__bg_p_buy(const double *th, int k, double t, double x, double t_x, double T) {
  double pa = rt__bg_p_alive(th, k, x, t_x, T);
  return t > 0 ? pa * -expm1((th[0] + x) * -log1p(t / (th[1] + T))) : 0;
}

double rt__bg_next(const double *th, int k, double x, double t_x, double T) {
  double pa = rt__bg_p_alive(th, k, x, t_x, T);
  if (!(pa > 0.5))
    return INFINITY;
  return (th[1] + T) * expm1(-log1p(-0.5 / pa) / (th[0] + x));
}
