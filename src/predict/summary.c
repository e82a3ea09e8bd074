/* summary.c - the (x, t_x, T, m) summary of each customer's orders up to a calibration end,
 * the input of the buy-till-you-die models (clv.h). Orders on one day count as one purchase
 * (the papers count "repeat purchase days"); their amounts add up.
 *
 * Spend is net of refunds: the refunds up to the calibration end are not tied to orders in the
 * model (fully refunded orders are not in its orders at all), so each customer's repeat mean is
 * scaled by the share of their spend they kept, max(0, revenue - refunded) / revenue, as if
 * every order had been refunded in that proportion. */
#include <retain/alloc.h>
#include <retain/clv.h>

#include <math.h>
#include <string.h>

#include "internal.h"

void rt_clv_summary_free(rt_clv_summary *s) {
  if (!s)
    return;
  rt_free(s->customer);
  rt_free(s->x);
  rt_free(s->t_x);
  rt_free(s->T);
  rt_free(s->m);
  rt_free(s->spent);
  rt_free(s);
}

int rt_clv_summarize(const rt_model *m, int32_t until_day, double unit_days,
                     rt_clv_summary **out, rt_error *err) {
  *out = NULL;
  if (!(unit_days > 0))
    return rt_error_set(err, RT_EINVAL, "clv: the time unit must be positive");
  if (until_day == INT32_MAX)
    until_day = m->as_of;
  rt_clv_summary *s = rt_calloc(1, sizeof *s);
  size_t nc = m->ncustomers ? m->ncustomers : 1;
  if (!s || !(s->customer = rt_malloc(nc * sizeof *s->customer)) ||
      !(s->x = rt_malloc(nc * sizeof *s->x)) || !(s->t_x = rt_malloc(nc * sizeof *s->t_x)) ||
      !(s->T = rt_malloc(nc * sizeof *s->T)) || !(s->m = rt_malloc(nc * sizeof *s->m)) ||
      !(s->spent = rt_malloc(nc * sizeof *s->spent))) {
    rt_clv_summary_free(s);
    return rt_error_set(err, RT_ENOMEM, "clv: %s", rt_strerror(RT_ENOMEM));
  }
  s->unit_days = unit_days;
  s->until_day = until_day;
  const double minor = pow(10.0, m->currency_exp);
  size_t n = 0;
  for (size_t i = 0; i < m->ncustomers; i++) {
    uint32_t j = m->order_start[i], end = m->order_start[i + 1];
    if (j == end || m->order_day[j] > until_day)
      continue;
    int32_t first = m->order_day[j], last = first, day = first;
    int64_t repeat_amount = 0, spent = m->order_amount[j];
    uint32_t days = 1;
    for (j++; j < end && m->order_day[j] <= until_day; j++) {
      spent += m->order_amount[j];
      if (m->order_day[j] != day) {
        day = m->order_day[j];
        days++;
        last = day;
      }
      if (day != first)
        repeat_amount += m->order_amount[j];
    }
    s->customer[n] = (uint32_t)i;
    s->x[n] = days - 1;
    s->t_x[n] = (last - first) / unit_days;
    s->T[n] = (until_day - first) / unit_days;
    int64_t revenue = spent;
    for (uint32_t k = m->refund_start[i]; k < m->refund_start[i + 1]; k++)
      if (m->refund_day[k] <= until_day)
        spent -= m->refund_amount[k];
    if (spent < 0)
      spent = 0;
    double kept = revenue > 0 ? (double)spent / (double)revenue : 0;
    s->m[n] = days > 1 ? (double)repeat_amount * kept / minor / (days - 1) : 0;
    s->spent[n] = (double)spent / minor;
    n++;
  }
  s->n = n;
  *out = s;
  rt__trace("clv: summarised");
  return 0;
}
