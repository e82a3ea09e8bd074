/* btyd.c - one face for the two purchase models (BG/NBD, Pareto/NBD): fit, P(alive),
 * conditional expectation, and the numerators that customers with the same x and T share. */
#include <retain/clv.h>

#include <math.h>

#include "predict/fit.h"

int rt_btyd_fit(const rt_clv_summary *s, rt_btyd_kind kind, rt_btyd *out, rt_error *err) {
  out->kind = kind;
  return kind == RT_BTYD_PARETO ? rt_pareto_fit(s, &out->pn, err) : rt_bgnbd_fit(s, &out->bg, err);
}

const rt_fit_info *rt_btyd_info(const rt_btyd *m) {
  return m->kind == RT_BTYD_PARETO ? &m->pn.info : &m->bg.info;
}

double rt_btyd_p_alive(const rt_btyd *m, double x, double t_x, double T) {
  return m->kind == RT_BTYD_PARETO ? rt_pareto_p_alive(&m->pn, x, t_x, T)
                                   : rt_bgnbd_p_alive(&m->bg, x, t_x, T);
}

double rt_btyd_expected(const rt_btyd *m, double t, double x, double t_x, double T) {
  return m->kind == RT_BTYD_PARETO ? rt_pareto_expected(&m->pn, t, x, t_x, T)
                                   : rt_bgnbd_expected(&m->bg, t, x, t_x, T);
}

void rt__btyd_numerators(const rt_btyd *m, const double *t, int nt, double x, double T,
                         double *num) {
  if (m->kind != RT_BTYD_PARETO) {
    rt__bgnbd_numerators(&m->bg, t, nt, x, T, num);
    return;
  }
  for (int j = 0; j < nt; j++)
    num[j] = t[j] > 0 ? rt__pareto_numerator(&m->pn, t[j], x, T) : 0;
}

double rt__btyd_wait(const rt_btyd *m, double x, double T) {
  /* while alive, lambda | data ~ Gamma(r + x, alpha + T) in both models */
  double r = m->kind == RT_BTYD_PARETO ? m->pn.r : m->bg.r;
  double al = m->kind == RT_BTYD_PARETO ? m->pn.alpha : m->bg.alpha;
  return r + x > 1 ? (al + T) / (r + x - 1) : NAN;
}
