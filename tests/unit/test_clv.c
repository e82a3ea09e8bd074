/* test_clv.c - the buy-till-you-die models (src/predict/): the special functions against
 * closed forms, the analytic gradients against finite differences, the CDNOW sample summary
 * against the published one, BG/NBD and Gamma-Gamma against the published estimates, and
 * parameter recovery on data simulated with known parameters. */
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
    for (int k = 0; k < 4; k++)
      check_gradient(rt__bgnbd_ll, bg[i], rows[k], 4, 1);
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
    double r = bg->kind == RT_BTYD_PARETO ? bg->pn.r : bg->bg.r;
    double alpha = bg->kind == RT_BTYD_PARETO ? bg->pn.alpha : bg->bg.alpha;
    for (size_t i = 0; i < s->n; i++) {
      double x = s->x[i], tx = s->t_x[i], T = s->T[i];
      double e = rt_btyd_expected(bg, 39, x, tx, T);
      NEAR(pr->p_alive[i], rt_btyd_p_alive(bg, x, tx, T), 1e-12);
      NEAR(pr->expected[i], e, 1e-9 * (1 + e));
      double v = d ? rt_clv_value(bg, gg, x, tx, T, s->m[i], 39, 12, disc)
                   : e * rt_gamma_gamma_spend(gg, x, s->m[i]);
      NEAR(pr->value[i], v, 1e-9 * (1 + v));
      if (r + x > 1)
        NEAR(pr->wait[i], (alpha + T) / (r + x - 1), 1e-12);
      else
        assert_true(isnan(pr->wait[i]));
    }
    rt_clv_predictions_free(pr);
  }
}

static void test_predictions(void **state) {
  (void)state;
  rt_model *m = cdnow_model();
  rt_clv_summary *s = cdnow_summary(m);
  rt_btyd bg, pn;
  rt_gamma_gamma gg;
  rt_error err;
  assert_int_equal(rt_btyd_fit(s, RT_BTYD_BGNBD, &bg, &err), 0);
  assert_int_equal(rt_btyd_fit(s, RT_BTYD_PARETO, &pn, &err), 0);
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
  for (size_t i = 0; i < s->n; i++)
    s->T[i] += 0.001 * (double)(i % 7); /* no longer whole days: each its own */
  check_predictions(s, &bg, &gg);
  check_predictions(s, &pn, &gg);
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
  rt_clv_summary s = {0};
  s.x = malloc(n * sizeof *s.x);
  s.t_x = malloc(n * sizeof *s.t_x);
  s.T = malloc(n * sizeof *s.T);
  s.m = malloc(n * sizeof *s.m);
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
  free(s.x);
  free(s.t_x);
  free(s.T);
  free(s.m);
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
    rt_clv_summary s = {0};
    s.x = malloc(n * sizeof *s.x);
    s.t_x = malloc(n * sizeof *s.t_x);
    s.T = malloc(n * sizeof *s.T);
    s.m = malloc(n * sizeof *s.m);
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
    free(s.x);
    free(s.t_x);
    free(s.T);
    free(s.m);
  }
  assert_true(se_r[2] < 0.5 * se_r[1]); /* ten times the customers: about a third */
  assert_true(se_r[1] < se_r[0]);
}

/* Pareto/NBD recovery: 20,000 customers with exponential lifetimes, observed 20-60 weeks. */
static void test_pareto_recovers_parameters(void **state) {
  (void)state;
  const size_t n = 20000;
  rt_clv_summary s = {0};
  s.x = malloc(n * sizeof *s.x);
  s.t_x = malloc(n * sizeof *s.t_x);
  s.T = malloc(n * sizeof *s.T);
  s.m = calloc(n, sizeof *s.m);
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
  free(s.x);
  free(s.t_x);
  free(s.T);
  free(s.m);
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
      cmocka_unit_test(test_cdnow_summary),
      cmocka_unit_test(test_cdnow_bgnbd),
      cmocka_unit_test(test_cdnow_pareto),
      cmocka_unit_test(test_cdnow_gamma_gamma),
      cmocka_unit_test(test_predictions),
      cmocka_unit_test(test_holdout),
      cmocka_unit_test(test_sbg_published),
      cmocka_unit_test(test_sbg_derl_and_recovery),
      cmocka_unit_test(test_bgnbd_recovers_parameters),
      cmocka_unit_test(test_bgnbd_uncertainty),
      cmocka_unit_test(test_pareto_recovers_parameters),
      cmocka_unit_test(test_gamma_gamma_recovers_parameters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
