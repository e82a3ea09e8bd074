/* holdout.c - the calibration/holdout check of the BG/NBD model: what the calibration period's
 * customers bought after it, period by period, against what the model expected (the sum of
 * their conditional expectations, equation 10 of Fader, Hardie & Lee 2005). Customers with the
 * same (x, t_x, T) share one computation. */
#include <retain/alloc.h>
#include <retain/clv.h>

#include <math.h>
#include <string.h>

#include "predict/fit.h"

int rt_clv_holdout_periods(const rt_model *m, const rt_clv_summary *s) {
  double k = floor((m->as_of - s->until_day) / s->unit_days);
  return k < 0 ? 0 : k > 100000 ? 100000 : (int)k;
}

int rt_clv_holdout(const rt_model *m, const rt_clv_summary *s, const rt_btyd *bg, int periods,
                   double *actual, double *predicted, rt_error *err) {
  if (periods < 1)
    return rt_error_set(err, RT_EINVAL, "clv: the holdout needs at least one period after "
                                        "the calibration end");
  memset(actual, 0, (size_t)periods * sizeof *actual);
  memset(predicted, 0, (size_t)periods * sizeof *predicted);
  /* actual: each customer's distinct order days after the calibration end, by period */
  const double end = s->until_day + periods * s->unit_days;
  for (size_t i = 0; i < s->n; i++) {
    uint32_t c = s->customer[i];
    int32_t prev = s->until_day;
    for (uint32_t j = m->order_start[c]; j < m->order_start[c + 1]; j++) {
      int32_t d = m->order_day[j];
      if (d <= prev)
        continue;
      prev = d;
      if (d > end)
        break;
      int k = (int)floor((d - s->until_day - 1) / s->unit_days);
      if (k >= 0 && k < periods)
        actual[k] += 1;
    }
  }
  /* predicted: sum of E[Y(t)] at every period end, per distinct summary, differenced */
  rt__rows rows;
  int rc = rt__purchase_rows(s, "the holdout check", &rows, NULL, err);
  if (rc)
    return rc;
  double *cum = rt_calloc((size_t)periods, sizeof *cum);
  if (!cum) {
    rt__rows_free(&rows);
    return rt_error_set(err, RT_ENOMEM, "clv: %s", rt_strerror(RT_ENOMEM));
  }
  for (size_t r = 0; r < rows.n; r++) {
    const double *v = rows.v + r * 3;
    double pa = rt_btyd_p_alive(bg, v[0], v[1], v[2]);
    for (int k0 = 0; k0 < periods; k0 += 16) {
      int nt = periods - k0 < 16 ? periods - k0 : 16;
      double t[16], num[16];
      for (int j = 0; j < nt; j++)
        t[j] = k0 + j + 1;
      rt__btyd_numerators(bg, t, nt, v[0], v[2], num);
      for (int j = 0; j < nt; j++)
        cum[k0 + j] += rows.w[r] * pa * num[j];
    }
  }
  for (int k = 0; k < periods; k++)
    predicted[k] = cum[k] - (k ? cum[k - 1] : 0);
  rt_free(cum);
  rt__rows_free(&rows);
  return 0;
}
