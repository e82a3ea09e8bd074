/* test_clv.c - the buy-till-you-die models (src/predict/): the special functions against
 * closed forms, the analytic gradients against finite differences, the MBG/NBD likelihood
 * against a Monte Carlo integral of its definition, the CDNOW sample summary against the
 * published one, BG/NBD, MBG/NBD, Pareto/NBD and Gamma-Gamma against the published estimates,
 * P(alive), expected purchases and the next purchase against simulated customer bases, the
 * fit warnings, spend net of refunds, and parameter recovery on data simulated with known
 * parameters. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "gen/rng.h"
#include "predict/fit.h"
#include "predict/specfun.h"
#include <retain/alloc.h>
#include <retain/clv.h>
#include <retain/import.h>
#include <retain/model.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEAR(a, b, tol) assert_true(fabs((a) - (b)) <= (tol))

static void test_special_functions(void **state) {
  (void)state;
  NEAR(rt__digamma(1), -0.5772156649015329, 1e-13);
  NEAR(rt__digamma(0.5), -1.9635100260214235, 1e-13);
  NEAR(rt__digamma(10), 2.251752589066721, 1e-13);
  NEAR(rt__digamma(1e-3), -1000.57557193181, 1e-9);
  /* trigamma: pi^2/6, pi^2/2 and values from scipy.special.polygamma(1, x) */
  NEAR(rt__trigamma(1), 1.6449340668482266, 1e-13);
  NEAR(rt__trigamma(0.5), 4.93480220054468, 1e-13);
  NEAR(rt__trigamma(3.7), 0.31003785767003833, 1e-14);
  NEAR(rt__trigamma(20), 0.051270822935203124, 1e-15);
  NEAR(rt__trigamma(250), 0.004008010666632532, 1e-16);
  for (double z = 0; z < 0.99; z += 0.07) {
    double want = z ? -log1p(-z) / z : 1; /* 2F1(1, 1; 2; z) */
    NEAR(rt__log_hyp2f1(1, 1, 2, z), log(want), 1e-13);
    NEAR(rt__log_hyp2f1(3.5, 2.25, 2.25, z), -3.5 * log1p(-z), 1e-12); /* (1 - z)^-a */
  }
  /* large parameters: the series passes 1e200 and is rescaled; 2F1(a, b; b; z) again */
  NEAR(rt__log_hyp2f1(800, 5, 5, 0.9), -800 * log(0.1), 1e-9 * 800 * log(10));
  NEAR(rt__log_add(1000, 1000), 1000 + log(2), 1e-12);
  NEAR(rt__log_add(-INFINITY, 3), 3, 0);
}

/* The analytic gradients equal central finite differences, at points inside and at the edge
 * of the usual ranges, for customers with and without repeat purchases; and where a model has
 * an analytic Hessian (hess = 1), it equals central differences of the gradient. */
static void check_gradient(rt__loglik_fn ll, const double *th, const double *row, int np,
                           int hess) {
  double g[4], h[16];
  ll(th, row, g, hess ? h : NULL, NULL);
  for (int j = 0; j < np; j++) {
    double up[4], dn[4], gu[4], gd[4];
    memcpy(up, th, sizeof up);
    memcpy(dn, th, sizeof dn);
    double d = 1e-6 * th[j];
    up[j] += d;
    dn[j] -= d;
    double fd = (ll(up, row, gu, NULL, NULL) - ll(dn, row, gd, NULL, NULL)) / (2 * d);
    assert_true(fabs(fd - g[j]) <= 1e-5 * (1 + fabs(fd)));
    for (int k = 0; k < np && hess; k++) {
      double fh = (gu[k] - gd[k]) / (2 * d);
      assert_true(fabs(fh - h[k * np + j]) <= 1e-5 * (1 + fabs(fh)));
      assert_true(h[k * np + j] == h[j * np + k]);
    }
  }
}

static void test_gradients(void **state) {
  (void)state;
  const double bg[][4] = {{0.243, 4.414, 0.793, 2.426}, {2, 30, 0.1, 8}, {0.05, 0.5, 3, 0.7}};
  const double rows[][3] = {{0, 0, 38.86}, {2, 30.43, 38.86}, {14, 2.5, 3}, {1, 0.1, 52}};
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 4; k++) {
      check_gradient(rt__bgnbd_ll, bg[i], rows[k], 4, 1);
      check_gradient(rt__mbgnbd_ll, bg[i], rows[k], 4, 1); /* x = 0 has both terms here */
    }
  /* Pareto/NBD: alpha above and below beta (the two forms of A0) */
  const double pn[][4] = {{0.553, 10.58, 0.606, 11.67}, {0.553, 11.67, 0.606, 10.58},
                          {2, 3, 0.4, 30}};
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 4; k++)
      check_gradient(rt__pareto_ll, pn[i], rows[k], 4, 0);
  const double gg[][4] = {{6.25, 3.74, 15.44, 0}, {0.5, 1.2, 200, 0}, {40, 10, 2, 0}};
  const double grows[][3] = {{1, 22.35, 0}, {7, 3.5, 0}, {40, 180, 0}};
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 3; k++)
      check_gradient(rt__gamma_gamma_ll, gg[i], grows[k], 3, 1);
}

static void test_bgnbd_likelihood_shape(void **state) {
  (void)state;
  rt_bgnbd p = {.r = 0.243, .alpha = 4.414, .a = 0.793, .b = 2.426};
  double l1 = rt_bgnbd_loglik(&p, 2, 30.43, 38.86), l0 = rt_bgnbd_loglik(&p, 0, 0, 38.86);
  assert_true(isfinite(l1) && isfinite(l0) && l1 < 0 && l0 < 0);
  /* P(alive): 1 without repeat purchases, lower for a customer silent since long */
  NEAR(rt_bgnbd_p_alive(&p, 0, 0, 38.86), 1, 0);
  assert_true(rt_bgnbd_p_alive(&p, 2, 30.43, 38.86) > rt_bgnbd_p_alive(&p, 2, 5, 38.86));
}

/* The MBG/NBD likelihood is the mean, over lambda ~ Gamma(r, alpha) and p ~ Beta(a, b), of a
 * customer's likelihood given them: alive through T after x + 1 dropout chances,
 * (1 - p)^(x+1) lambda^x e^(-lambda T), or gone right after the last purchase,
 * p (1 - p)^x lambda^x e^(-lambda t_x) (x = 0: right after the first). A Monte Carlo mean of
 * that over 400,000 draws agrees with the closed form within 1%, and so does BG/NBD's (where
 * a one-time buyer cannot be gone). */
static void test_mbgnbd_likelihood(void **state) {
  (void)state;
  const double r = 0.9, alpha = 6, a = 1.3, b = 2.2;
  const double rows[][3] = {{0, 0, 20}, {0, 0, 3}, {1, 5, 12}, {4, 9.5, 30}};
  rt__rng g;
  rt__rng_seed(&g, 2024, 9, 9);
  const int n = 400000;
  double sum_m[4] = {0}, sum_b[4] = {0};
  for (int k = 0; k < n; k++) {
    double lambda = rt__rng_gamma(&g, r, 1 / alpha), p = rt__rng_beta(&g, a, b);
    for (int i = 0; i < 4; i++) {
      double x = rows[i][0], tx = rows[i][1], T = rows[i][2];
      double lx = pow(lambda, x), q = pow(1 - p, x);
      sum_m[i] += q * lx * ((1 - p) * exp(-lambda * T) + p * exp(-lambda * tx));
      sum_b[i] += lx * (q * exp(-lambda * T) + (x > 0 ? p * q / (1 - p) * exp(-lambda * tx) : 0));
    }
  }
  rt_mbgnbd m = {.r = r, .alpha = alpha, .a = a, .b = b};
  rt_bgnbd bgp = {.r = r, .alpha = alpha, .a = a, .b = b};
  for (int i = 0; i < 4; i++) {
    double lm = rt_mbgnbd_loglik(&m, rows[i][0], rows[i][1], rows[i][2]);
    double lb = rt_bgnbd_loglik(&bgp, rows[i][0], rows[i][1], rows[i][2]);
    NEAR(lm, log(sum_m[i] / n), 0.01);
    NEAR(lb, log(sum_b[i] / n), 0.01);
  }
  /* a one-time buyer: P(alive) below 1 and falling with age */
  double p1 = rt_mbgnbd_p_alive(&m, 0, 0, 5), p2 = rt_mbgnbd_p_alive(&m, 0, 0, 50);
  assert_true(p1 < 1 && p2 < p1);
  NEAR(p1, 1 / (1 + a / b * pow((alpha + 5) / alpha, r)), 1e-12);
}

/* ---- the CDNOW sample ---- */

static rt_model *cdnow_model(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/cdnow_sample.txt", getenv("RT_FIXTURES"));
  rt_import_opts o;
  rt_import_opts_init(&o, RT_IMPORT_ORDERS);
  o.no_header = 1;
  o.csv.whitespace = 1;
  o.cols[RT_COL_CUSTOMER] = "2";
  o.cols[RT_COL_DATE] = "3";
  o.cols[RT_COL_AMOUNT] = "5";
  rt_model_builder *b;
  rt_import_result res;
  rt_error err;
  rt_model *m;
  assert_int_equal(rt_model_builder_new(NULL, NULL, &b), 0);
  assert_int_equal(rt_import_orders_to_model(path, &o, b, &res, &err), 0);
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  return m;
}

static rt_clv_summary *cdnow_summary(rt_model *m) {
  rt_clv_summary *s;
  rt_error err;
  int32_t until = (int32_t)rt_days_from_civil(1997, 9, 30);
  assert_int_equal(rt_clv_summarize(m, until, 7, &s, &err), 0);
  return s;
}

/* A summary of n customers to fill in (no model behind it), and its release. */
static rt_clv_summary sim_summary(size_t n) {
  rt_clv_summary s = {0};
  s.x = malloc(n * sizeof *s.x);
  s.t_x = malloc(n * sizeof *s.t_x);
  s.T = malloc(n * sizeof *s.T);
  s.m = calloc(n, sizeof *s.m);
  s.n = n;
  return s;
}

static void sim_summary_free(rt_clv_summary *s) {
  free(s->x);
  free(s->t_x);
  free(s->T);
  free(s->m);
}

/* Every customer's (x, t_x, T, mean repeat spend) equals the published summary (2 decimals). */
static void test_cdnow_summary(void **state) {
  (void)state;
  rt_model *m = cdnow_model();
  rt_clv_summary *s = cdnow_summary(m);
  assert_int_equal(s->n, 2357);
  char path[512], line[256];
  snprintf(path, sizeof path, "%s/cdnow_sample_summary.csv", getenv("RT_FIXTURES"));
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  assert_non_null(fgets(line, sizeof line, f)); /* ID,x,t_x,T,zbar */
  double *want = calloc(2358 * 4, sizeof *want);
  int id, rows = 0;
  double x, tx, T, zbar;
  while (fscanf(f, "%d,%lf,%lf,%lf,%lf", &id, &x, &tx, &T, &zbar) == 5) {
    assert_true(id >= 1 && id <= 2357);
    want[id * 4] = x;
    want[id * 4 + 1] = tx;
    want[id * 4 + 2] = T;
    want[id * 4 + 3] = zbar;
    rows++;
  }
  fclose(f);
  assert_int_equal(rows, 2357);
  int repeaters = 0;
  for (size_t i = 0; i < s->n; i++) {
    int cid = atoi(rt_model_ext_id(m, s->customer[i]));
    assert_true(cid >= 1 && cid <= 2357);
    NEAR(s->x[i], want[cid * 4], 0);
    NEAR(s->t_x[i], want[cid * 4 + 1], 0.0051);
    NEAR(s->T[i], want[cid * 4 + 2], 0.0051);
    NEAR(s->m[i], want[cid * 4 + 3], 0.0051);
    repeaters += s->x[i] > 0;
  }
  assert_int_equal(repeaters, 946);
  free(want);
  rt_clv_summary_free(s);
  rt_model_free(m);
}

/* BG/NBD on the sample: Fader, Hardie & Lee (2005) report r = 0.243, alpha = 4.414,
 * a = 0.793, b = 2.426 and a log-likelihood of -9582.4. */
static void test_cdnow_bgnbd(void **state) {
  (void)state;
  rt_model *m = cdnow_model();
  rt_clv_summary *s = cdnow_summary(m);
  rt_bgnbd p;
  rt_error err;
  assert_int_equal(rt_bgnbd_fit(s, &p, &err), 0);
  NEAR(p.r, 0.243, 0.0006);
  NEAR(p.alpha, 4.414, 0.006);
  NEAR(p.a, 0.793, 0.0006);
  NEAR(p.b, 2.426, 0.006);
  NEAR(p.info.loglik, -9582.4, 0.06);
  assert_true(p.info.converged);
  assert_int_equal(p.info.n, 2357);
  assert_true(p.info.distinct < 2357); /* identical summaries fitted once */
  assert_false(p.info.prior);
  /* standard errors from the observed information, as the lifetimes library documents for
   * this fit: r 0.012557, alpha 0.378224, a 0.185720, b 0.705346 */
  const double se[4] = {0.012557, 0.378224, 0.185720, 0.705346};
  for (int j = 0; j < 4; j++)
    NEAR(p.info.se[j], se[j], 0.01 * se[j]);
  /* the paper's worked example: x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in
   * the next 39 weeks */
  NEAR(rt_bgnbd_expected(&p, 39, 2, 30.43, 38.86), 1.226, 0.002);
  /* consistency: expected purchases grow with the horizon, P(alive) is a probability */
  double e1 = rt_bgnbd_expected(&p, 10, 2, 30.43, 38.86);
  assert_true(e1 > 0 && e1 < rt_bgnbd_expected(&p, 39, 2, 30.43, 38.86));
  double pa = rt_bgnbd_p_alive(&p, 2, 30.43, 38.86);
  assert_true(pa > 0 && pa < 1);
  rt_clv_summary_free(s);
  rt_model_free(m);
}

/* Pareto/NBD on the sample: the note reports r = 0.553, alpha = 10.58, s = 0.606,
 * beta = 11.67 (and a log-likelihood of -9595.0). */
static void test_cdnow_pareto(void **state) {
  (void)state;
  rt_model *m = cdnow_model();
  rt_clv_summary *s = cdnow_summary(m);
  rt_pareto p;
  rt_error err;
  assert_int_equal(rt_pareto_fit(s, &p, &err), 0);
  NEAR(p.r, 0.553, 0.0006);
  NEAR(p.alpha, 10.58, 0.006);
  NEAR(p.s, 0.606, 0.0006);
  NEAR(p.beta, 11.67, 0.006);
  NEAR(p.info.loglik, -9595.0, 0.06);
  assert_true(p.info.converged);
  double pa = rt_pareto_p_alive(&p, 2, 30.43, 38.86), e = rt_pareto_expected(&p, 39, 2, 30.43, 38.86);
  assert_true(pa > 0 && pa < 1 && e > 0);
  rt_clv_summary_free(s);
  rt_model_free(m);
}

/* MBG/NBD on the sample: BTYDplus (and the lifetimes library's test of it) report r = 0.525,
 * alpha = 6.183, a = 0.891, b = 1.614; an independent scipy fit of the likelihood on the
 * published summary gives a log-likelihood of -9582.13 (the summary's t_x and T are rounded
 * to 2 decimals, so -9582.1 +- 0.1). Every fit of the sample identifies dropout and none has a
 * warning. */
static void test_cdnow_mbgnbd(void **state) {
  (void)state;
  rt_model *m = cdnow_model();
  rt_clv_summary *s = cdnow_summary(m);
  rt_mbgnbd p;
  rt_error err;
  assert_int_equal(rt_mbgnbd_fit(s, &p, &err), 0);
  NEAR(p.r, 0.525, 0.0006);
  NEAR(p.alpha, 6.183, 0.0006);
  NEAR(p.a, 0.891, 0.0006);
  NEAR(p.b, 1.614, 0.0006);
  NEAR(p.info.loglik, -9582.13, 0.1);
  assert_true(p.info.converged);
  /* the worked customer: P(alive) from equation (13)'s MBG/NBD form, by hand */
  double pa = 1 / (1 + p.a / (p.b + 2) * pow((p.alpha + 38.86) / (p.alpha + 30.43), p.r + 2));
  NEAR(rt_mbgnbd_p_alive(&p, 2, 30.43, 38.86), pa, 1e-12);
  /* the expected purchases grow with the horizon and stay below BG/NBD's bound-free count */
  double e1 = rt_mbgnbd_expected(&p, 10, 2, 30.43, 38.86);
  double e2 = rt_mbgnbd_expected(&p, 39, 2, 30.43, 38.86);
  assert_true(e1 > 0 && e1 < e2);
  for (int kind = 0; kind < 3; kind++) {
    rt_btyd b;
    assert_int_equal(rt_btyd_fit(s, (rt_btyd_kind)kind, &b, &err), 0);
    const rt_fit_info *info = rt_btyd_info(&b);
    assert_int_equal(info->warnings, 0);
    assert_true(info->dropped_share > 0.15 && info->dropped_share < 0.7);
    assert_true(info->dropout_lse > 0 && info->dropout_lse < 0.5);
  }
  rt_clv_summary_free(s);
  rt_model_free(m);
}

/* Gamma-Gamma on the 946 repeat buyers' mean spend: p = 6.25, q = 3.74, v = 15.44. */
static void test_cdnow_gamma_gamma(void **state) {
  (void)state;
  rt_model *m = cdnow_model();
  rt_clv_summary *s = cdnow_summary(m);
  rt_gamma_gamma g;
  rt_error err;
  assert_int_equal(rt_gamma_gamma_fit(s, &g, &err), 0);
  assert_int_equal(g.info.n, 946);
  NEAR(g.p, 6.25, 0.006);
  NEAR(g.q, 3.74, 0.006);
  NEAR(g.v, 15.44, 0.006);
  assert_true(g.info.converged);
  /* the conditional expected spend lies between the population mean and the customer's */
  double pop = g.p * g.v / (g.q - 1), e = rt_gamma_gamma_spend(&g, 2, 22.35);
  assert_true((e - pop) * (e - 22.35) < 0);
  NEAR(rt_gamma_gamma_spend(&g, 0, 0), pop, 1e-12);
  rt_clv_summary_free(s);
  rt_model_free(m);
}

/* rt_clv_predict equals the one-customer functions, whether customers share their (x, T)
 * numerators through its table (whole days) or compute their own (continuous T), with and
 * without a discount. */
static void check_predictions(const rt_clv_summary *s, const rt_btyd *bg,
                              const rt_gamma_gamma *gg) {
  for (int d = 0; d < 2; d++) {
    double disc = d ? 0.004 : 0;
    rt_clv_predictions *pr;
    rt_error err;
    assert_int_equal(rt_clv_predict(s, bg, gg, 39, disc, &pr, &err), 0);
    assert_int_equal(pr->n, s->n);
    for (size_t i = 0; i < s->n; i++) {
      double x = s->x[i], tx = s->t_x[i], T = s->T[i];
      double e = rt_btyd_expected(bg, 39, x, tx, T);
      NEAR(pr->p_alive[i], rt_btyd_p_alive(bg, x, tx, T), 1e-12);
      NEAR(pr->expected[i], e, 1e-9 * (1 + e));
      double v = d ? rt_clv_value(bg, gg, x, tx, T, s->m[i], 39, 12, disc)
                   : e * rt_gamma_gamma_spend(gg, x, s->m[i]);
      NEAR(pr->value[i], v, 1e-9 * (1 + v));
      /* the next purchase: the median wait when it is within the horizon */
      double next = rt_btyd_next_purchase(bg, x, tx, T);
      if (next <= 39)
        NEAR(pr->next[i], next, 1e-12 * (1 + next));
      else
        assert_true(isnan(pr->next[i]));
    }
    rt_clv_predictions_free(pr);
  }
}

static void test_predictions(void **state) {
  (void)state;
  rt_model *m = cdnow_model();
  rt_clv_summary *s = cdnow_summary(m);
  rt_btyd bg, pn, mb;
  rt_gamma_gamma gg;
  rt_error err;
  assert_int_equal(rt_btyd_fit(s, RT_BTYD_BGNBD, &bg, &err), 0);
  assert_int_equal(rt_btyd_fit(s, RT_BTYD_PARETO, &pn, &err), 0);
  assert_int_equal(rt_btyd_fit(s, RT_BTYD_MBGNBD, &mb, &err), 0);
  assert_int_equal(rt_gamma_gamma_fit(s, &gg, &err), 0);
  /* the two models agree on the whole: expected purchases in 39 weeks within 5% in total */
  double eb = 0, ep = 0;
  for (size_t i = 0; i < s->n; i++) {
    eb += rt_btyd_expected(&bg, 39, s->x[i], s->t_x[i], s->T[i]);
    ep += rt_btyd_expected(&pn, 39, s->x[i], s->t_x[i], s->T[i]);
  }
  assert_true(fabs(eb / ep - 1) < 0.05);
  check_predictions(s, &bg, &gg); /* whole days: the shared table */
  check_predictions(s, &pn, &gg);
  check_predictions(s, &mb, &gg);
  for (size_t i = 0; i < s->n; i++)
    s->T[i] += 0.001 * (double)(i % 7); /* no longer whole days: each its own */
  check_predictions(s, &bg, &gg);
  check_predictions(s, &pn, &gg);
  check_predictions(s, &mb, &gg);
  rt_clv_summary_free(s);
  rt_model_free(m);
}

/* The holdout check: per-period actual purchase days after the calibration end, counted
 * here independently, and predictions that add up to the customers' conditional
 * expectations. */
static void test_holdout(void **state) {
  (void)state;
  rt_model *m = cdnow_model();
  rt_clv_summary *s = cdnow_summary(m);
  rt_btyd bg;
  rt_error err;
  assert_int_equal(rt_btyd_fit(s, RT_BTYD_BGNBD, &bg, &err), 0);
  int np = rt_clv_holdout_periods(m, s);
  assert_int_equal(np, 39); /* 1997-10-01 .. 1998-06-30: 273 days */
  double act[39], pred[39];
  assert_int_equal(rt_clv_holdout(m, s, &bg, np, act, pred, &err), 0);
  double want[39] = {0}, total = 0;
  for (size_t c = 0; c < m->ncustomers; c++) {
    int32_t prev = s->until_day;
    for (uint32_t j = m->order_start[c]; j < m->order_start[c + 1]; j++)
      if (m->order_day[j] > prev) {
        prev = m->order_day[j];
        want[(prev - s->until_day - 1) / 7] += 1;
      }
  }
  double ca = 0, cp = 0;
  for (int k = 0; k < 39; k++) {
    NEAR(act[k], want[k], 0);
    ca += act[k];
    cp += pred[k];
    assert_true(pred[k] > 0);
  }
  NEAR(ca, 1882, 0); /* distinct (customer, day) pairs after 1997-09-30 in the sample */
  for (size_t i = 0; i < s->n; i++)
    total += rt_btyd_expected(&bg, 39, s->x[i], s->t_x[i], s->T[i]);
  NEAR(cp, total, 1e-9 * total);
  assert_int_not_equal(rt_clv_holdout(m, s, &bg, 0, act, pred, &err), 0);
  rt_clv_summary_free(s);
  rt_model_free(m);
}

/* ---- the predictions against simulated customer bases ----
 * Customers simulated from a model with known parameters, observed to an age T and then for
 * h more weeks. Given what a customer's history shows, the model's P(alive), E[Y(h)] and
 * P(buy within h) are conditional means, so over many customers their sums equal what
 * happened (alive at T, purchases and buyers in the h weeks) up to chance, within each group
 * of x too; and by the next-purchase median's definition, half of the customers whose median
 * falls within the h weeks buy again by it. */
typedef struct sim_customer {
  double x, t_x, T;
  int alive;       /* alive at T */
  int y;           /* purchases in (T, T + h] */
  double first;    /* time after T of the first of them (INFINITY: none) */
} sim_customer;

static void simulate_kind(rt_btyd_kind kind, const double *th, double h, size_t n,
                          uint64_t seed, sim_customer *c) {
  rt__rng g;
  rt__rng_seed(&g, seed, 3, 7);
  for (size_t i = 0; i < n; i++) {
    double lambda = rt__rng_gamma(&g, th[0], 1 / th[1]), T = 20 + 40 * rt__rng_unif(&g);
    double t = 0, last = 0;
    int x = 0, alive = 1;
    if (kind == RT_BTYD_PARETO) {
      double life = rt__rng_exp(&g, 1 / rt__rng_gamma(&g, th[2], 1 / th[3]));
      for (;;) {
        t += rt__rng_exp(&g, 1 / lambda);
        if (t > T || t > life)
          break;
        x++;
        last = t;
      }
      alive = life > T;
      /* the holdout: memoryless, so purchases start afresh at T */
      double u = T, first = INFINITY;
      int y = 0;
      while (alive) {
        u += rt__rng_exp(&g, 1 / lambda);
        if (u > T + h || u > life)
          break;
        if (!y)
          first = u - T;
        y++;
      }
      c[i] = (sim_customer){x, last, T, alive, y, first};
      continue;
    }
    double p = rt__rng_beta(&g, th[2], th[3]);
    if (kind == RT_BTYD_MBGNBD && rt__rng_unif(&g) < p)
      alive = 0; /* gone right after the first purchase */
    while (alive) {
      t += rt__rng_exp(&g, 1 / lambda);
      if (t > T)
        break;
      x++;
      last = t;
      if (rt__rng_unif(&g) < p)
        alive = 0;
    }
    double u = T, first = INFINITY;
    int y = 0, on = alive;
    while (on) {
      u += rt__rng_exp(&g, 1 / lambda);
      if (u > T + h)
        break;
      if (!y)
        first = u - T;
      y++;
      if (rt__rng_unif(&g) < p)
        on = 0;
    }
    c[i] = (sim_customer){x, last, T, alive, y, first};
  }
}

/* |observed - expected| within 4.5 standard deviations, var the variance of the difference */
#define WITHIN(obs, exp, var) assert_true(fabs((obs) - (exp)) <= 4.5 * sqrt(var) + 1e-9)

static void test_predictions_simulated(void **state) {
  (void)state;
  const rt_btyd_kind kinds[3] = {RT_BTYD_BGNBD, RT_BTYD_MBGNBD, RT_BTYD_PARETO};
  const double params[3][4] = {{0.6, 5, 0.8, 2.5}, {0.6, 5, 0.8, 2.5}, {0.7, 6, 0.9, 15}};
  const size_t n = 100000;
  const double h = 104;
  sim_customer *c = malloc(n * sizeof *c);
  for (int k = 0; k < 3; k++) {
    const double *th = params[k];
    rt_btyd m = {.kind = kinds[k]};
    if (kinds[k] == RT_BTYD_PARETO)
      m.pn = (rt_pareto){.r = th[0], .alpha = th[1], .s = th[2], .beta = th[3]};
    else if (kinds[k] == RT_BTYD_MBGNBD)
      m.mbg = (rt_mbgnbd){.r = th[0], .alpha = th[1], .a = th[2], .b = th[3]};
    else
      m.bg = (rt_bgnbd){.r = th[0], .alpha = th[1], .a = th[2], .b = th[3]};
    simulate_kind(kinds[k], th, h, n, 77 + (uint64_t)k, c);
    double med_all = 0, nmed_all = 0;
    /* by group: one-time buyers, and repeat buyers */
    for (int grp = 0; grp < 2; grp++) {
      double alive = 0, pa = 0, va = 0, y = 0, e = 0, ve = 0, buy = 0, pb = 0, vb = 0;
      double med = 0, nmed = 0;
      for (size_t i = 0; i < n; i++) {
        if ((c[i].x > 0) != grp)
          continue;
        double p = rt_btyd_p_alive(&m, c[i].x, c[i].t_x, c[i].T);
        double ey = rt_btyd_expected(&m, h, c[i].x, c[i].t_x, c[i].T);
        double q = rt_btyd_p_buy(&m, h, c[i].x, c[i].t_x, c[i].T);
        double next = rt_btyd_next_purchase(&m, c[i].x, c[i].t_x, c[i].T);
        alive += c[i].alive;
        pa += p;
        va += p * (1 - p);
        y += c[i].y;
        e += ey;
        ve += (c[i].y - ey) * (c[i].y - ey);
        buy += c[i].y > 0;
        pb += q;
        vb += q * (1 - q);
        /* the median exists exactly when P(buy) can reach 1/2, and is where it does */
        if (isfinite(next)) {
          assert_true(p > 0.5);
          NEAR(rt_btyd_p_buy(&m, next, c[i].x, c[i].t_x, c[i].T), 0.5, 1e-9);
          if (next <= h) { /* seen in the simulated h weeks */
            med += c[i].first <= next;
            nmed++;
          }
        } else {
          assert_true(rt_btyd_p_buy(&m, 1e7, c[i].x, c[i].t_x, c[i].T) <= 0.5 + 1e-9);
        }
      }
      if (kinds[k] == RT_BTYD_BGNBD && grp == 0)
        NEAR(alive, pa, 0); /* BG/NBD: a one-time buyer cannot be gone */
      else
        WITHIN(alive, pa, va);
      WITHIN(y, e, ve);
      WITHIN(buy, pb, vb);
      med_all += med;
      nmed_all += nmed;
    }
    assert_true(nmed_all > 10000);
    WITHIN(med_all, nmed_all / 2, nmed_all / 4);
  }
  free(c);
}

/* Pareto/NBD's chance of a purchase within t equals P(alive) times the integral it comes from,
 * int_0^t r' alpha'^r' beta'^s (alpha'+v)^-(r'+1) (beta'+v)^-s dv, summed here by Simpson's
 * rule in v = e^u - 1 (alpha above and below beta); and BG/NBD's and MBG/NBD's median has the
 * closed form. */
static void test_next_purchase_forms(void **state) {
  (void)state;
  const double pn[][4] = {{0.553, 10.58, 0.606, 11.67}, {0.553, 11.67, 0.606, 10.58},
                          {2, 3, 0.4, 30}};
  const double rows[][3] = {{0, 0, 38.86}, {2, 30.43, 38.86}, {14, 2.5, 3}};
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 3; k++)
      for (double t = 1; t < 500; t *= 4) {
        const double *th = pn[i], x = rows[k][0], T = rows[k][2];
        double rr = th[0] + x, al = th[1] + T, be = th[3] + T, s = th[2];
        double lo = 0, hi = log1p(t), sum = 0;
        const int steps = 20000;
        for (int j = 0; j <= steps; j++) {
          double u = lo + (hi - lo) * j / steps, v = expm1(u);
          double f = exp(log(rr) + rr * log(al) + s * log(be) - (rr + 1) * log(al + v) -
                         s * log(be + v)) * (v + 1);
          sum += f * (j == 0 || j == steps ? 1 : j % 2 ? 4 : 2);
        }
        sum *= (hi - lo) / steps / 3;
        rt_btyd m = {.kind = RT_BTYD_PARETO};
        m.pn = (rt_pareto){.r = th[0], .alpha = th[1], .s = th[2], .beta = th[3]};
        double pa = rt_btyd_p_alive(&m, x, rows[k][1], T);
        NEAR(rt_btyd_p_buy(&m, t, x, rows[k][1], T), pa * sum, 1e-9);
      }
  rt_btyd b = {.kind = RT_BTYD_MBGNBD};
  b.mbg = (rt_mbgnbd){.r = 0.525, .alpha = 6.183, .a = 0.891, .b = 1.614};
  double pa = rt_btyd_p_alive(&b, 2, 30.43, 38.86);
  NEAR(rt_btyd_next_purchase(&b, 2, 30.43, 38.86),
       (6.183 + 38.86) * (pow(1 - 0.5 / pa, -1 / 2.525) - 1), 1e-9);
  /* a customer probably gone has no median */
  assert_true(rt_btyd_p_alive(&b, 2, 1, 60) < 0.5);
  assert_true(isinf(rt_btyd_next_purchase(&b, 2, 1, 60)));
}

/* A history in which nobody drops out (every customer buys at their own rate to the end):
 * BG/NBD and MBG/NBD find dropout negligible or undetermined and say so (RT_FIT_NO_DROPOUT),
 * and their predictions leave P(alive) and the next purchase out but still expect the
 * purchases that come: their sum matches those simulated for the next 26 weeks. (Pareto/NBD
 * takes its same test in rt__dropout_check, but its fit of such a history is slow: its series
 * converge slowly where the search takes the dropout rate's scale far out.) */
static void test_no_dropout(void **state) {
  (void)state;
  const size_t n = 20000;
  rt_clv_summary s = sim_summary(n);
  double future = 0;
  rt__rng g;
  rt__rng_seed(&g, 31, 5, 5);
  for (size_t i = 0; i < n; i++) {
    double lambda = rt__rng_gamma(&g, 0.8, 1 / 9.0), T = 20 + 40 * rt__rng_unif(&g), t = 0;
    s.x[i] = s.t_x[i] = 0;
    for (;;) {
      t += rt__rng_exp(&g, 1 / lambda);
      if (t > T)
        break;
      s.x[i]++;
      s.t_x[i] = t;
    }
    s.T[i] = T;
    future += rt__rng_poisson(&g, lambda * 26);
  }
  const rt_btyd_kind kinds[2] = {RT_BTYD_BGNBD, RT_BTYD_MBGNBD};
  for (int k = 0; k < 2; k++) {
    rt_btyd b;
    rt_error err;
    assert_int_equal(rt_btyd_fit(&s, kinds[k], &b, &err), 0);
    const rt_fit_info *info = rt_btyd_info(&b);
    assert_true(info->warnings & RT_FIT_NO_DROPOUT);
    assert_true(info->dropped_share < RT_DROPOUT_MIN_SHARE);
    rt_fit_warning w[8];
    int nw = rt_btyd_warnings(&b, "2024-06-30", w, 8), found = 0;
    for (int j = 0; j < nw; j++)
      if (w[j].code == RT_FIT_NO_DROPOUT) {
        found = 1;
        assert_non_null(strstr(w[j].text, "does not show customers dropping out"));
        assert_non_null(strstr(w[j].text, "by 2024-06-30"));
        assert_non_null(strstr(w[j].text, "retain churn train"));
      }
    assert_true(found);
    rt_clv_predictions *pr;
    assert_int_equal(rt_clv_predict(&s, &b, NULL, 26, 0, &pr, &err), 0);
    double e = 0;
    for (size_t i = 0; i < n; i++) {
      assert_true(isnan(pr->p_alive[i]) && isnan(pr->next[i]));
      assert_true(pr->expected[i] > 0);
      e += pr->expected[i];
    }
    assert_true(fabs(e / future - 1) < 0.03);
    rt_clv_predictions_free(pr);
  }
  sim_summary_free(&s);
}

/* A likelihood of three parameters: it grows without end as theta0 goes to 0 (the search
 * stops at its bound), theta1 is determined (1), theta2 does not appear (the curvature is
 * singular). */
static double flags_ll(const double *th, const double *row, double *g, double *h,
                       const void *ctx) {
  (void)h;
  (void)ctx;
  double v = row[0], l0 = log(th[0]), l1 = log(th[1]);
  if (g) {
    g[0] = -v / th[0];
    g[1] = -2 * l1 / th[1] * v;
    g[2] = 0;
  }
  return -v * l0 - l1 * l1 * v;
}

/* The fit flags what makes its estimates doubtful, and rt_fit_warnings says each in words. */
static void test_fit_warnings(void **state) {
  (void)state;
  double v[3] = {1, 2, 3}, w[3] = {400, 400, 400};
  rt__rows rows = {.n = 3, .k = 1, .v = v, .w = w, .total = 1200};
  const double starts[3] = {1, 2, 3};
  double th[3];
  rt_fit_info info;
  assert_int_equal(rt__fit_ml(&rows, 3, flags_ll, NULL, NULL, 0, starts, 1, th, &info), 0);
  assert_true(th[0] < 1e-10);
  NEAR(th[1], 1, 1e-4);
  assert_true(info.warnings & RT_FIT_AT_BOUND);
  assert_int_equal(info.at_bound, 1); /* theta0 only */
  assert_true(info.warnings & RT_FIT_SINGULAR);
  /* every warning in words, in bit order, naming the parameters concerned */
  rt_fit_info all = {0};
  all.warnings = RT_FIT_NOT_CONVERGED | RT_FIT_EVAL_LIMIT | RT_FIT_SINGULAR | RT_FIT_AT_BOUND |
                 RT_FIT_WIDE_SE | RT_FIT_NO_DROPOUT;
  all.at_bound = 1u << 2;
  all.wide = 1u << 2 | 1u << 3;
  all.se[2] = 0.0103;
  all.se[3] = 22.4;
  all.dropped_share = 0.001;
  all.dropout = 0.0005;
  all.dropout_lse = 2.5;
  const char *names[4] = {"r", "alpha", "a", "b"};
  const double vals[4] = {0.83, 9.8, 0.0034, 6.75};
  rt_fit_warning out[8];
  int nw = rt_fit_warnings(&all, "BG/NBD", names, vals, 4, NULL, out, 8);
  assert_int_equal(nw, 6);
  const char *keys[6] = {"not_converged", "eval_limit", "singular", "at_bound", "wide_se",
                         "no_dropout"};
  for (int j = 0; j < 6; j++) {
    assert_int_equal(out[j].code, 1u << j);
    assert_string_equal(rt_fit_warning_key(out[j].code), keys[j]);
    assert_non_null(strstr(out[j].text, "BG/NBD"));
  }
  assert_non_null(strstr(out[1].text, "3000"));
  assert_non_null(strstr(out[3].text, "a of BG/NBD"));
  assert_non_null(strstr(out[4].text, "a = 0.0034 +- 0.0103, b = 6.75 +- 22.4"));
  assert_non_null(strstr(out[5].text, "only 0.1% of the customers"));
  assert_non_null(strstr(out[5].text, "cannot be told from none"));
  assert_non_null(strstr(out[5].text, "by the calibration end"));
  assert_int_equal(rt_fit_warnings(&all, "BG/NBD", names, vals, 4, NULL, out, 2), 2);
}

/* Spend is net of refunds: the refunds up to the calibration end scale a customer's repeat
 * mean by the share of their spend they kept, and a customer who kept nothing is left out of
 * the Gamma-Gamma fit. */
static void test_summary_net_of_refunds(void **state) {
  (void)state;
  rt_model_builder *b;
  rt_error err;
  rt_model *m;
  assert_int_equal(rt_model_builder_new(NULL, "USD", &b), 0);
  const int64_t day = 86400000, d0 = rt_days_from_civil(2024, 1, 1) * day;
  uint32_t c[3];
  assert_int_equal(rt_model_builder_customer(b, "a", 1, 0, &c[0]), 0);
  assert_int_equal(rt_model_builder_customer(b, "b", 1, 0, &c[1]), 0);
  assert_int_equal(rt_model_builder_customer(b, "c", 1, 0, &c[2]), 0);
  /* a: 100, 50, 30 on days 0, 10, 20; 40 refunded on day 15 and 10 on day 40 (after the end) */
  assert_int_equal(rt_model_builder_order(b, c[0], d0, 10000, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, c[0], d0 + 10 * day, 5000, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, c[0], d0 + 20 * day, 3000, "USD"), 0);
  assert_int_equal(rt_model_builder_refund(b, c[0], d0 + 15 * day, 4000, "USD"), 0);
  assert_int_equal(rt_model_builder_refund(b, c[0], d0 + 40 * day, 1000, "USD"), 0);
  /* b: 20 and 30, then 60 refunded: kept nothing */
  assert_int_equal(rt_model_builder_order(b, c[1], d0, 2000, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, c[1], d0 + 5 * day, 3000, "USD"), 0);
  assert_int_equal(rt_model_builder_refund(b, c[1], d0 + 6 * day, 6000, "USD"), 0);
  /* c: 10 and 20, no refunds */
  assert_int_equal(rt_model_builder_order(b, c[2], d0, 1000, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, c[2], d0 + 3 * day, 2000, "USD"), 0);
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  rt_clv_summary *s;
  assert_int_equal(rt_clv_summarize(m, (int32_t)(d0 / day) + 30, 1, &s, &err), 0);
  assert_int_equal(s->n, 3);
  for (size_t i = 0; i < 3; i++) {
    const char *id = rt_model_ext_id(m, s->customer[i]);
    if (!strcmp(id, "a")) {
      NEAR(s->spent[i], 140, 1e-9);
      NEAR(s->m[i], 40.0 * 140 / 180, 1e-9); /* (50 + 30) / 2, times 140 kept of 180 */
    } else if (!strcmp(id, "b")) {
      NEAR(s->spent[i], 0, 0);
      NEAR(s->m[i], 0, 0);
    } else {
      NEAR(s->spent[i], 30, 1e-9);
      NEAR(s->m[i], 20, 1e-9);
    }
  }
  rt_gamma_gamma gg;
  assert_int_equal(rt_gamma_gamma_fit(s, &gg, &err), 0);
  assert_int_equal(gg.info.n, 2); /* a and c */
  /* a repeat buyer who kept nothing expects less than the population mean */
  double pop = gg.p * gg.v / (gg.q - 1), none = rt_gamma_gamma_spend(&gg, 1, 0);
  NEAR(none, gg.p * gg.v / (gg.p + gg.q - 1), 1e-12);
  assert_true(none < pop);
  rt_clv_summary_free(s);
  rt_model_free(m);
}

/* The fits run on several threads, so they must not write the global signgam that lgamma()
 * sets (a data race, issue 13): after fits of every model the value put there is still there. */
static void test_fits_leave_signgam(void **state) {
  (void)state;
  rt_model *m = cdnow_model();
  rt_clv_summary *s = cdnow_summary(m);
  signgam = 12345; /* lgamma() sets it to 1 or -1 */
  const rt_btyd_kind kinds[] = {RT_BTYD_BGNBD, RT_BTYD_MBGNBD, RT_BTYD_PARETO};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    rt_btyd b;
    rt_error err;
    assert_int_equal(rt_btyd_fit(s, kinds[k], &b, &err), 0);
  }
  rt_gamma_gamma gg;
  rt_error err;
  assert_int_equal(rt_gamma_gamma_fit(s, &gg, &err), 0);
  const double alive[] = {1000, 631, 468, 382, 326, 289, 262, 241};
  rt_sbg sb;
  assert_int_equal(rt_sbg_fit(alive, 8, &sb, &err), 0);
  assert_int_equal(signgam, 12345);
  rt_clv_summary_free(s);
  rt_model_free(m);
}

/* ---- subscriptions: shifted-beta-geometric ---- */

/* Fader & Hardie (2007), the first 7 years of two segments: regular alpha = 0.704,
 * beta = 1.182; high end alpha = 0.668, beta = 3.806. */
static void test_sbg_published(void **state) {
  (void)state;
  const double regular[] = {1000, 631, 468, 382, 326, 289, 262, 241};
  const double high[] = {1000, 869, 743, 653, 593, 551, 517, 491};
  rt_sbg m;
  rt_error err;
  assert_int_equal(rt_sbg_fit(regular, 8, &m, &err), 0);
  NEAR(m.alpha, 0.704, 0.0006);
  NEAR(m.beta, 1.182, 0.0006);
  assert_true(m.info.converged);
  /* the fitted curve passes near the data it was fitted on */
  for (int t = 1; t < 8; t++)
    assert_true(fabs(1000 * rt_sbg_survival(&m, t) - regular[t]) < 12);
  assert_int_equal(rt_sbg_fit(high, 8, &m, &err), 0);
  NEAR(m.alpha, 0.668, 0.0006);
  NEAR(m.beta, 3.806, 0.0006);
  /* alpha < 1: the mean lifetime is infinite */
  assert_true(isinf(rt_sbg_expected_remaining(&m, 3)));
  /* bad tables */
  const double grows[] = {1000, 900, 950};
  assert_int_not_equal(rt_sbg_fit(grows, 3, &m, &err), 0);
  assert_int_not_equal(rt_sbg_fit(regular, 1, &m, &err), 0);
}

/* DERL equals its defining sum, the undiscounted value the expected remaining renewals, and
 * a fit on survival generated from known parameters gives them back. */
static void test_sbg_derl_and_recovery(void **state) {
  (void)state;
  rt_sbg m = {.alpha = 3.2, .beta = 5.5};
  for (int n = 0; n < 6; n += 5)
    for (double d = 0.02; d < 0.3; d += 0.1) {
      double sum = 0, s0 = rt_sbg_survival(&m, n);
      for (int k = 1; k < 20000; k++)
        sum += rt_sbg_survival(&m, n + k) / s0 / pow(1 + d, k);
      NEAR(rt_sbg_derl(&m, n, d), sum, 1e-9 * sum);
    }
  NEAR(rt_sbg_derl(&m, 2, 0), (5.5 + 2) / (3.2 - 1), 1e-12);
  double alive[10];
  for (int t = 0; t < 10; t++)
    alive[t] = 1e6 * rt_sbg_survival(&m, t);
  rt_sbg e;
  rt_error err;
  assert_int_equal(rt_sbg_fit(alive, 10, &e, &err), 0);
  NEAR(e.alpha, 3.2, 1e-4);
  NEAR(e.beta, 5.5, 1e-4);
  /* from individual subscriptions: 40,000 simulated subscribers joining over 24 periods, each
   * churning at the end of a period with its own theta, observed up to period 24 */
  const size_t n = 40000;
  int32_t *paid = malloc(n * sizeof *paid);
  uint8_t *ended = malloc(n);
  rt__rng g;
  rt__rng_seed(&g, 11, 3, 3);
  for (size_t i = 0; i < n; i++) {
    double theta = rt__rng_beta(&g, 3.2, 5.5);
    int horizon = 1 + (int)(rt__rng_unif(&g) * 24), p = 1;
    while (p < horizon && rt__rng_unif(&g) >= theta)
      p++;
    paid[i] = p;
    ended[i] = p < horizon; /* churned before the end of the observation, or still active */
  }
  assert_int_equal(rt_sbg_fit_tenures(paid, ended, n, &e, &err), 0);
  assert_true(fabs(e.alpha / 3.2 - 1) < 0.1);
  assert_true(fabs(e.beta / 5.5 - 1) < 0.1);
  paid[0] = 0;
  assert_int_not_equal(rt_sbg_fit_tenures(paid, ended, n, &e, &err), 0);
  free(paid);
  free(ended);
}

/* ---- parameter recovery ---- */

/* A BG/NBD customer base: each customer's rate and dropout probability drawn from the
 * mixing distributions, purchases simulated up to an age T (in weeks). */
static void simulate_bgnbd(double r, double alpha, double a, double b, size_t n, uint64_t seed,
                           rt_clv_summary *s) {
  rt__rng g;
  rt__rng_seed(&g, seed, 1, 1);
  for (size_t i = 0; i < n; i++) {
    double lambda = rt__rng_gamma(&g, r, 1 / alpha), p = rt__rng_beta(&g, a, b);
    double T = 20 + 40 * rt__rng_unif(&g), t = 0, last = 0;
    int x = 0;
    for (;;) {
      t += rt__rng_exp(&g, 1 / lambda);
      if (t > T)
        break;
      x++;
      last = t;
      if (rt__rng_unif(&g) < p)
        break; /* drops out after this purchase */
    }
    s->x[i] = x;
    s->t_x[i] = last;
    s->T[i] = T;
    s->m[i] = 0;
    if (s->unit_days > 0) { /* whole days, as summaries of real orders have */
      s->T[i] = ceil(T * s->unit_days) / s->unit_days;
      s->t_x[i] = floor(last * s->unit_days) / s->unit_days;
    }
  }
  s->n = n;
}

/* Recovery on n simulated customers, with t_x and T continuous (unit_days 0) or in whole days
 * of a weekly unit (the fit then takes its table path, and with more than 100,000 distinct
 * summaries compares its starts on a first part of them). */
static void recover_bgnbd(size_t n, double unit_days, double tol) {
  rt_clv_summary s = sim_summary(n);
  s.unit_days = unit_days;
  simulate_bgnbd(0.6, 5.0, 0.8, 2.5, n, 42, &s);
  rt_bgnbd p;
  rt_error err;
  assert_int_equal(rt_bgnbd_fit(&s, &p, &err), 0);
  assert_true(p.info.converged);
  assert_true(fabs(p.r / 0.6 - 1) < tol);
  assert_true(fabs(p.alpha / 5.0 - 1) < tol);
  assert_true(fabs(p.a / 0.8 - 1) < tol);
  assert_true(fabs(p.b / 2.5 - 1) < tol);
  if (unit_days > 0)
    assert_true(p.info.distinct > 100000);
  /* the truth is not better than the estimate, and the reported likelihood is the sum */
  rt_bgnbd truth = {.r = 0.6, .alpha = 5.0, .a = 0.8, .b = 2.5};
  double lt = 0, le = 0;
  for (size_t i = 0; i < n; i++) {
    lt += rt_bgnbd_loglik(&truth, s.x[i], s.t_x[i], s.T[i]);
    le += rt_bgnbd_loglik(&p, s.x[i], s.t_x[i], s.T[i]);
  }
  assert_true(le >= lt);
  NEAR(le, p.info.loglik, 1e-6 * fabs(le));
  sim_summary_free(&s);
}

static void test_bgnbd_recovers_parameters(void **state) {
  (void)state;
  recover_bgnbd(30000, 0, 0.15); /* each estimate within 15% of the truth */
  recover_bgnbd(300000, 7, 0.06);
}

/* Standard errors shrink like 1/sqrt(n), and the truth lies within a few of them; a shop of
 * 120 customers gets finite estimates (the weak prior) and wider errors. */
static void test_bgnbd_uncertainty(void **state) {
  (void)state;
  const size_t sizes[3] = {120, 3000, 30000};
  double se_r[3];
  for (int k = 0; k < 3; k++) {
    size_t n = sizes[k];
    rt_clv_summary s = sim_summary(n);
    simulate_bgnbd(0.6, 5.0, 0.8, 2.5, n, 100 + (uint64_t)k, &s);
    rt_bgnbd p;
    rt_error err;
    assert_int_equal(rt_bgnbd_fit(&s, &p, &err), 0);
    assert_int_equal(p.info.prior, n < 500);
    const double est[4] = {p.r, p.alpha, p.a, p.b}, truth[4] = {0.6, 5.0, 0.8, 2.5};
    for (int j = 0; j < 4; j++) {
      assert_true(isfinite(est[j]) && est[j] > 0 && est[j] < 1000);
      if (n >= 3000) /* asymptotics: the truth within 4 standard errors */
        assert_true(fabs(est[j] - truth[j]) < 4 * p.info.se[j]);
    }
    se_r[k] = p.info.se[0];
    sim_summary_free(&s);
  }
  assert_true(se_r[2] < 0.5 * se_r[1]); /* ten times the customers: about a third */
  assert_true(se_r[1] < se_r[0]);
}

/* MBG/NBD recovery: 30,000 customers simulated with a dropout chance right after the first
 * purchase too, each estimate within 15% of the truth, and the truth no better than the
 * estimate. */
static void test_mbgnbd_recovers_parameters(void **state) {
  (void)state;
  const size_t n = 30000;
  const double th[4] = {0.6, 5.0, 0.8, 2.5};
  sim_customer *c = malloc(n * sizeof *c);
  simulate_kind(RT_BTYD_MBGNBD, th, 1, n, 4242, c);
  rt_clv_summary s = sim_summary(n);
  for (size_t i = 0; i < n; i++) {
    s.x[i] = c[i].x;
    s.t_x[i] = c[i].t_x;
    s.T[i] = c[i].T;
  }
  rt_mbgnbd p;
  rt_error err;
  assert_int_equal(rt_mbgnbd_fit(&s, &p, &err), 0);
  assert_true(p.info.converged);
  assert_int_equal(p.info.warnings, 0);
  const double est[4] = {p.r, p.alpha, p.a, p.b};
  for (int j = 0; j < 4; j++)
    assert_true(fabs(est[j] / th[j] - 1) < 0.15);
  rt_mbgnbd truth = {.r = th[0], .alpha = th[1], .a = th[2], .b = th[3]};
  double lt = 0, le = 0;
  for (size_t i = 0; i < n; i++) {
    lt += rt_mbgnbd_loglik(&truth, s.x[i], s.t_x[i], s.T[i]);
    le += rt_mbgnbd_loglik(&p, s.x[i], s.t_x[i], s.T[i]);
  }
  assert_true(le >= lt);
  NEAR(le, p.info.loglik, 1e-6 * fabs(le));
  free(c);
  sim_summary_free(&s);
}

/* Pareto/NBD recovery: 20,000 customers with exponential lifetimes, observed 20-60 weeks. */
static void test_pareto_recovers_parameters(void **state) {
  (void)state;
  const size_t n = 20000;
  rt_clv_summary s = sim_summary(n);
  rt__rng g;
  rt__rng_seed(&g, 5, 4, 4);
  const double r = 0.7, alpha = 6, sh = 0.9, beta = 15;
  for (size_t i = 0; i < n; i++) {
    double lambda = rt__rng_gamma(&g, r, 1 / alpha), mu = rt__rng_gamma(&g, sh, 1 / beta);
    double T = 20 + 40 * rt__rng_unif(&g), life = rt__rng_exp(&g, 1 / mu);
    double end = life < T ? life : T, t = 0, last = 0;
    int x = 0;
    for (;;) {
      t += rt__rng_exp(&g, 1 / lambda);
      if (t > end)
        break;
      x++;
      last = t;
    }
    s.x[i] = x;
    s.t_x[i] = last;
    s.T[i] = T;
  }
  s.n = n;
  rt_pareto p;
  rt_error err;
  assert_int_equal(rt_pareto_fit(&s, &p, &err), 0);
  assert_true(p.info.converged);
  assert_true(fabs(p.r / r - 1) < 0.15);
  assert_true(fabs(p.alpha / alpha - 1) < 0.15);
  assert_true(fabs(p.s / sh - 1) < 0.3); /* the dropout side is the harder to pin down */
  assert_true(fabs(p.beta / beta - 1) < 0.3);
  rt_pareto truth = {.r = r, .alpha = alpha, .s = sh, .beta = beta};
  double lt = 0, le = 0;
  for (size_t i = 0; i < n; i++) {
    lt += rt_pareto_loglik(&truth, s.x[i], s.t_x[i], s.T[i]);
    le += rt_pareto_loglik(&p, s.x[i], s.t_x[i], s.T[i]);
  }
  assert_true(le >= lt);
  sim_summary_free(&s);
}

static void test_gamma_gamma_recovers_parameters(void **state) {
  (void)state;
  const size_t n = 20000;
  rt_clv_summary s = {0};
  s.x = malloc(n * sizeof *s.x);
  s.m = malloc(n * sizeof *s.m);
  rt__rng g;
  rt__rng_seed(&g, 7, 2, 2);
  const double p = 4, q = 3, v = 20;
  for (size_t i = 0; i < n; i++) {
    double nu = rt__rng_gamma(&g, q, 1 / v), sum = 0;
    int x = 1 + (int)(rt__rng_unif(&g) * 6);
    for (int k = 0; k < x; k++)
      sum += rt__rng_gamma(&g, p, 1 / nu);
    s.x[i] = x;
    s.m[i] = sum / x;
  }
  s.n = n;
  rt_gamma_gamma e;
  rt_error err;
  assert_int_equal(rt_gamma_gamma_fit(&s, &e, &err), 0);
  assert_true(fabs(e.p / p - 1) < 0.1);
  assert_true(fabs(e.q / q - 1) < 0.1);
  assert_true(fabs(e.v / v - 1) < 0.15);
  free(s.x);
  free(s.m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_special_functions),
      cmocka_unit_test(test_gradients),
      cmocka_unit_test(test_bgnbd_likelihood_shape),
      cmocka_unit_test(test_mbgnbd_likelihood),
      cmocka_unit_test(test_cdnow_summary),
      cmocka_unit_test(test_cdnow_bgnbd),
      cmocka_unit_test(test_cdnow_pareto),
      cmocka_unit_test(test_cdnow_mbgnbd),
      cmocka_unit_test(test_cdnow_gamma_gamma),
      cmocka_unit_test(test_predictions),
      cmocka_unit_test(test_holdout),
      cmocka_unit_test(test_predictions_simulated),
      cmocka_unit_test(test_next_purchase_forms),
      cmocka_unit_test(test_no_dropout),
      cmocka_unit_test(test_fit_warnings),
      cmocka_unit_test(test_summary_net_of_refunds),
      cmocka_unit_test(test_fits_leave_signgam),
      cmocka_unit_test(test_sbg_published),
      cmocka_unit_test(test_sbg_derl_and_recovery),
      cmocka_unit_test(test_bgnbd_recovers_parameters),
      cmocka_unit_test(test_bgnbd_uncertainty),
      cmocka_unit_test(test_mbgnbd_recovers_parameters),
      cmocka_unit_test(test_pareto_recovers_parameters),
      cmocka_unit_test(test_gamma_gamma_recovers_parameters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
