/* value.c - what a customer's churn would cost (churn.h): each customer's value - the predicted
 * CLV of the latest stored CLV run, or as a stand-in the net revenue of the last 365 days - the
 * value at risk, P(churn) x value, to the minor unit, and the order a list of them is shown in.
 *
 * The stand-in: without a CLV run, the revenue a customer brought in the year before the as-of
 * day, net of the refunds paid in that year, is what a retention manager would expect to lose
 * next year if they left. It is never below 0 (refunds of older orders can outweigh a year's). */
#include <retain/alloc.h>
#include <retain/clv.h>
#include <retain/churn.h>
#include <retain/model.h>
#include <retain/store.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct clv_ctx {
  const rt_model *m;
  int64_t *by_customer; /* per model index: the value, or RT_CHURN_NO_VALUE */
  double scale;
} clv_ctx;

static int on_score(void *ctx, const char *ext_id, const rt_score_rec *r) {
  (void)ext_id;
  clv_ctx *c = ctx;
  size_t i = rt_model_index_of(c->m, r->customer);
  if (i != SIZE_MAX && !isnan(r->predicted_clv) && fabs(r->predicted_clv) < 9e15 / c->scale)
    c->by_customer[i] = r->predicted_clv > 0 ? llround(r->predicted_clv * c->scale) : 0;
  return 0;
}

/* The latest CLV run (rt_clv_latest_run, as the features take it): 0 and out->clv_run set, or
 * RT_ENOTFOUND. */
static int latest_clv_run(rt_store *st, rt_churn_values *out, rt_error *err) {
  rt_score_run best;
  rt_clv_latest_run(st, &best, NULL);
  if (!best.id)
    return rt_error_set(err, RT_ENOTFOUND, "churn: no stored CLV run (`retain clv predict "
                        "--save` stores one)");
  out->clv_run = best.id;
  snprintf(out->clv_model, sizeof out->clv_model, "%s", best.kind);
  json_t *p = json_loads(best.params ? best.params : "", 0, NULL);
  const char *until = json_string_value(json_object_get(p, "until"));
  snprintf(out->clv_until, sizeof out->clv_until, "%s", until ? until : "");
  json_t *h = json_object_get(p, "horizon_days");
  out->clv_horizon_days = json_is_number(h) ? json_number_value(h) : NAN;
  json_decref(p);
  rt_free(best.kind);
  rt_free(best.params);
  return 0;
}

void rt_churn_values_free(rt_churn_values *v) {
  if (!v)
    return;
  rt_free(v->minor);
  v->minor = NULL;
}

int rt_churn_values_get(const rt_model *m, rt_store *st, const uint32_t *customer, size_t n,
                        int32_t as_of, rt_churn_value_kind want, rt_churn_values *out,
                        rt_error *err) {
  memset(out, 0, sizeof *out);
  out->as_of = as_of;
  out->first_day = as_of - (RT_CHURN_VALUE_DAYS - 1);
  out->clv_horizon_days = NAN;
  int rc = 0;
  if (want != RT_CHURN_VALUE_REVENUE && st) {
    rc = latest_clv_run(st, out, want == RT_CHURN_VALUE_CLV ? err : NULL);
    if (rc && want == RT_CHURN_VALUE_CLV)
      return rc;
  } else if (want == RT_CHURN_VALUE_CLV) {
    return rt_error_set(err, RT_ENOTFOUND, "churn: the CLV is read from the store's stored "
                        "runs (not with a model from a file)");
  }
  out->kind = out->clv_run ? RT_CHURN_VALUE_CLV : RT_CHURN_VALUE_REVENUE;
  if (!(out->minor = rt_malloc((n ? n : 1) * sizeof *out->minor)))
    return rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
  if (out->kind == RT_CHURN_VALUE_CLV) {
    clv_ctx c = {m, rt_malloc((m->ncustomers ? m->ncustomers : 1) * sizeof(int64_t)),
                 pow(10.0, m->currency_exp)};
    if (!c.by_customer) {
      rt_churn_values_free(out);
      return rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
    }
    for (size_t i = 0; i < m->ncustomers; i++)
      c.by_customer[i] = RT_CHURN_NO_VALUE;
    if ((rc = rt_store_scan_scores(st, out->clv_run, on_score, &c, err)) != 0) {
      rt_free(c.by_customer);
      rt_churn_values_free(out);
      return rc;
    }
    for (size_t i = 0; i < n; i++) {
      out->minor[i] = c.by_customer[customer[i]];
      out->missing += out->minor[i] == RT_CHURN_NO_VALUE;
    }
    rt_free(c.by_customer);
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    uint32_t c = customer[i];
    int64_t v = 0;
    for (uint32_t o = m->order_start[c]; o < m->order_start[c + 1]; o++)
      if (m->order_day[o] >= out->first_day && m->order_day[o] <= as_of)
        v += m->order_amount[o];
    for (uint32_t k = m->refund_start[c]; k < m->refund_start[c + 1]; k++)
      if (m->refund_day[k] >= out->first_day && m->refund_day[k] <= as_of)
        v -= m->refund_amount[k];
    out->minor[i] = v > 0 ? v : 0;
  }
  return 0;
}

double rt_churn_round_p(double p) { return round(p * 1e6) / 1e6; }

int64_t rt_churn_value_at_risk(double p, int64_t value) {
  if (value == RT_CHURN_NO_VALUE || isnan(p))
    return RT_CHURN_NO_VALUE;
  /* in whole numbers: p in millionths times the value, then to the nearest minor unit */
  int64_t micro = llround(p * 1e6);
  int64_t a = value < 0 ? -value : value;
  int64_t r;
  if (a <= INT64_MAX / 1000000) {
    r = (micro * a + 500000) / 1000000;
  } else { /* beyond 9.2e12 minor units: to the double's precision */
    r = llround((double)micro * ((double)a / 1e6));
  }
  return value < 0 ? -r : r;
}

typedef struct ranked {
  double k1, k2, k3;
  size_t row;
} ranked;

static int by_keys(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  if (x->k1 != y->k1)
    return x->k1 > y->k1 ? -1 : 1;
  if (x->k2 != y->k2)
    return x->k2 > y->k2 ? -1 : 1;
  if (x->k3 != y->k3)
    return x->k3 > y->k3 ? -1 : 1;
  return x->row < y->row ? -1 : x->row > y->row;
}

int rt_churn_rank(const double *prob, const int64_t *value, size_t n, rt_churn_sort by,
                  size_t *order, rt_error *err) {
  ranked *v = rt_malloc((n ? n : 1) * sizeof *v);
  if (!v)
    return rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
  for (size_t i = 0; i < n; i++) {
    int64_t val = value ? value[i] : RT_CHURN_NO_VALUE;
    int64_t var = rt_churn_value_at_risk(prob[i], val);
    /* without a value: below every value (-inf); a NAN probability below every probability */
    double p = isnan(prob[i]) ? -INFINITY : rt_churn_round_p(prob[i]);
    double dv = val == RT_CHURN_NO_VALUE ? -INFINITY : (double)val;
    double dr = var == RT_CHURN_NO_VALUE ? -INFINITY : (double)var;
    if (by == RT_CHURN_BY_RISK)
      v[i] = (ranked){p, dr, dv, i};
    else if (by == RT_CHURN_BY_VALUE)
      v[i] = (ranked){dv, p, dr, i};
    else
      v[i] = (ranked){dr, p, dv, i};
  }
  qsort(v, n, sizeof *v, by_keys);
  for (size_t i = 0; i < n; i++)
    order[i] = v[i].row;
  rt_free(v);
  return 0;
}
