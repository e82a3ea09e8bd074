/* predict.c - every customer's predictions from the fitted models (clv.h), on two threads:
 * P(alive), expected purchases and value over a horizon, mean wait to the next purchase. */
#include <retain/alloc.h>
#include <retain/clv.h>

#include <math.h>
#include <string.h>

#include "internal.h"

void rt_clv_predictions_free(rt_clv_predictions *p) {
  if (!p)
    return;
  rt_free(p->p_alive);
  rt_free(p->expected);
  rt_free(p->value);
  rt_free(p->wait);
  rt_free(p);
}

typedef struct predict_part {
  const rt_clv_summary *s;
  const rt_bgnbd *bg;
  const rt_gamma_gamma *gg;
  double horizon, discount;
  rt_clv_predictions *out;
  size_t i0, i1;
} predict_part;

static void predict_run(void *arg) {
  predict_part *p = arg;
  const rt_clv_summary *s = p->s;
  const rt_bgnbd *bg = p->bg;
  for (size_t i = p->i0; i < p->i1; i++) {
    double x = s->x[i], tx = s->t_x[i], T = s->T[i];
    double e = rt_bgnbd_expected(bg, p->horizon, x, tx, T);
    p->out->p_alive[i] = rt_bgnbd_p_alive(bg, x, tx, T);
    p->out->expected[i] = e;
    if (!p->gg)
      p->out->value[i] = NAN;
    else if (p->discount == 0)
      p->out->value[i] = e * rt_gamma_gamma_spend(p->gg, x, s->m[i]);
    else
      p->out->value[i] = rt_clv_value(bg, p->gg, x, tx, T, s->m[i], p->horizon, 12, p->discount);
    p->out->wait[i] = bg->r + x > 1 ? (bg->alpha + T) / (bg->r + x - 1) : NAN;
  }
}

int rt_clv_predict(const rt_clv_summary *s, const rt_bgnbd *bg, const rt_gamma_gamma *gg,
                   double horizon, double discount, rt_clv_predictions **out, rt_error *err) {
  *out = NULL;
  rt_clv_predictions *p = rt_calloc(1, sizeof *p);
  size_t n = s->n ? s->n : 1;
  if (!p || !(p->p_alive = rt_malloc(n * sizeof(double))) ||
      !(p->expected = rt_malloc(n * sizeof(double))) ||
      !(p->value = rt_malloc(n * sizeof(double))) || !(p->wait = rt_malloc(n * sizeof(double)))) {
    rt_clv_predictions_free(p);
    return rt_error_set(err, RT_ENOMEM, "clv: %s", rt_strerror(RT_ENOMEM));
  }
  p->n = s->n;
  predict_part parts[2];
  int nparts = s->n >= 10000 && rt__cpus() > 1 ? 2 : 1;
  for (int t = 0; t < nparts; t++)
    parts[t] = (predict_part){s, bg, gg, horizon, discount, p, s->n * (size_t)t / (size_t)nparts,
                              s->n * (size_t)(t + 1) / (size_t)nparts};
  rt__parallel(nparts, predict_run, parts, sizeof parts[0]);
  *out = p;
  return 0;
}
