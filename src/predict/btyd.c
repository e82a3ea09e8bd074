/* btyd.c - one face for the purchase models (BG/NBD, MBG/NBD, Pareto/NBD): fit, P(alive),
 * conditional expectation, the chance of a purchase within a time and the median time to the
 * next one, the numerators that customers with the same x and T share, the value over a
 * horizon, and the test of whether a history identifies dropout at all. */
#include <retain/alloc.h>
#include <retain/clv.h>
#include <string.h>

#include <math.h>

#include "predict/fit.h"

/* the parameters as an array (r, alpha, then a, b or s, beta), and the BG shift */
static void theta(const rt_btyd *m, double th[4]) {
  const char *n[4];
  rt_btyd_params(m, n, th);
}

static int shift(const rt_btyd *m) {
  return m->kind == RT_BTYD_MBGNBD;
}

int rt_btyd_fit(const rt_clv_summary *s, rt_btyd_kind kind, rt_btyd *out, rt_error *err) {
  out->kind = kind;
  switch (kind) {
  case RT_BTYD_PARETO:
    return rt_pareto_fit(s, &out->pn, err);
  case RT_BTYD_MBGNBD:
    return rt_mbgnbd_fit(s, &out->mbg, err);
  default:
    out->kind = RT_BTYD_BGNBD;
    return rt_bgnbd_fit(s, &out->bg, err);
  }
}

const rt_fit_info *rt_btyd_info(const rt_btyd *m) {
  return m->kind == RT_BTYD_PARETO   ? &m->pn.info
         : m->kind == RT_BTYD_MBGNBD ? &m->mbg.info
                                     : &m->bg.info;
}

const char *rt_btyd_name(rt_btyd_kind kind) {
  return kind == RT_BTYD_PARETO ? "Pareto/NBD" : kind == RT_BTYD_MBGNBD ? "MBG/NBD" : "BG/NBD";
}

const char *rt_btyd_key(rt_btyd_kind kind) {
  return kind == RT_BTYD_PARETO ? "pareto" : kind == RT_BTYD_MBGNBD ? "mbgnbd" : "bgnbd";
}

int rt_clv_latest_run(rt_store *st, rt_score_run *out, rt_error *err) {
  static const rt_btyd_kind kinds[] = {RT_BTYD_BGNBD, RT_BTYD_PARETO, RT_BTYD_MBGNBD};
  memset(out, 0, sizeof *out);
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    rt_score_run r;
    if (rt_store_score_run_get(st, 0, rt_btyd_key(kinds[k]), &r, NULL))
      continue;
    if (r.id > out->id) {
      rt_free(out->kind);
      rt_free(out->params);
      *out = r;
    } else {
      rt_free(r.kind);
      rt_free(r.params);
    }
  }
  return out->id ? 0 : rt_error_set(err, RT_ENOTFOUND, "no stored CLV run");
}

void rt_btyd_params(const rt_btyd *m, const char *names[4], double values[4]) {
  names[0] = "r";
  names[1] = "alpha";
  if (m->kind == RT_BTYD_PARETO) {
    names[2] = "s";
    names[3] = "beta";
    values[0] = m->pn.r;
    values[1] = m->pn.alpha;
    values[2] = m->pn.s;
    values[3] = m->pn.beta;
    return;
  }
  names[2] = "a";
  names[3] = "b";
  const rt_bgnbd *b = &m->bg;
  rt_bgnbd mb;
  if (m->kind == RT_BTYD_MBGNBD) {
    mb = (rt_bgnbd){.r = m->mbg.r, .alpha = m->mbg.alpha, .a = m->mbg.a, .b = m->mbg.b};
    b = &mb;
  }
  values[0] = b->r;
  values[1] = b->alpha;
  values[2] = b->a;
  values[3] = b->b;
}

int rt_btyd_warnings(const rt_btyd *m, const char *until, rt_fit_warning *out, int max) {
  const char *names[4];
  double values[4];
  rt_btyd_params(m, names, values);
  return rt_fit_warnings(rt_btyd_info(m), rt_btyd_name(m->kind), names, values, 4, until, out,
                         max);
}

double rt_btyd_p_alive(const rt_btyd *m, double x, double t_x, double T) {
  double th[4];
  theta(m, th);
  return m->kind == RT_BTYD_PARETO ? rt_pareto_p_alive(&m->pn, x, t_x, T)
                                   : rt__bg_p_alive(th, shift(m), x, t_x, T);
}

double rt_btyd_expected(const rt_btyd *m, double t, double x, double t_x, double T) {
  if (m->kind == RT_BTYD_PARETO)
    return rt_pareto_expected(&m->pn, t, x, t_x, T);
  double th[4], e;
  theta(m, th);
  rt__bg_numerators(th, shift(m), &t, 1, x, T, &e);
  return e * rt__bg_p_alive(th, shift(m), x, t_x, T);
}

double rt_btyd_p_buy(const rt_btyd *m, double t, double x, double t_x, double T) {
  double th[4];
  theta(m, th);
  return m->kind == RT_BTYD_PARETO ? rt__pareto_p_buy(th, t, x, t_x, T)
                                   : rt__bg_p_buy(th, shift(m), t, x, t_x, T);
}

double rt_btyd_next_purchase(const rt_btyd *m, double x, double t_x, double T) {
  double th[4];
  theta(m, th);
  return m->kind == RT_BTYD_PARETO ? rt__pareto_next(th, x, t_x, T)
                                   : rt__bg_next(th, shift(m), x, t_x, T);
}

void rt__btyd_numerators(const rt_btyd *m, const double *t, int nt, double x, double T,
                         double *num) {
  if (m->kind != RT_BTYD_PARETO) {
    double th[4];
    theta(m, th);
    rt__bg_numerators(th, shift(m), t, nt, x, T, num);
    return;
  }
  for (int j = 0; j < nt; j++)
    num[j] = t[j] > 0 ? rt__pareto_numerator(&m->pn, t[j], x, T) : 0;
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

/* The share is summed over the distinct rows with their weights. The mean dropout's log is
 * ln a - ln(a + b) (BG family: its gradient in (ln a, ln b) is b/(a+b) (1, -1)) or
 * ln s - ln beta (Pareto/NBD: (1, -1)), so the variance of its log is f^2 (V_aa + V_bb -
 * 2 V_ab) with the covariance V of the log parameters. */
void rt__dropout_check(const rt__rows *rows, const double *th, rt_btyd_kind kind,
                       rt_fit_info *info) {
  rt_pareto pn = {.r = th[0], .alpha = th[1], .s = th[2], .beta = th[3]};
  int k = kind == RT_BTYD_MBGNBD;
  double dead = 0;
  for (size_t i = 0; i < rows->n; i++) {
    const double *v = rows->v + i * 3;
    double pa = kind == RT_BTYD_PARETO ? rt_pareto_p_alive(&pn, v[0], v[1], v[2])
                                       : rt__bg_p_alive(th, k, v[0], v[1], v[2]);
    dead += rows->w[i] * (1 - pa);
  }
  info->dropped_share = rows->total ? dead / (double)rows->total : NAN;
  double f = kind == RT_BTYD_PARETO ? 1 : th[3] / (th[2] + th[3]);
  info->dropout = kind == RT_BTYD_PARETO ? th[2] / th[3] : th[2] / (th[2] + th[3]);
  double var = info->lcov[2][2] + info->lcov[3][3] - 2 * info->lcov[2][3];
  info->dropout_lse = var >= 0 ? f * sqrt(var) : NAN;
  if (!(info->dropped_share >= RT_DROPOUT_MIN_SHARE) || !(info->dropout_lse < 1 / 1.96))
    info->warnings |= RT_FIT_NO_DROPOUT;
}
