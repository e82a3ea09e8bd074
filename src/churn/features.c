/* features.c - churn features and labels from the customer model at a cutoff day (churn.h);
 * reasons.c tells them in words. */
#include <retain/alloc.h>
#include <retain/churn.h>
#include <retain/model.h>

#include <math.h>
#include <string.h>

#include "churn/columns.h"

enum {
  F_RECENCY, F_ORDER_DAYS, F_TENURE, F_GAP, F_RECENCY_GAPS, F_MEAN_ORDER, F_ORDERS_90,
  F_ORDERS_PREV_90, F_REVENUE_90, F_REVENUE_PREV_90, F_REFUNDS, F_REFUNDED_SHARE, F_SUBS,
  F_SUB_ACTIVE, F_COUNT
};

static const char *const feature_names[F_COUNT] = {
    "days_since_last_order", "order_days", "tenure_days", "mean_days_between_orders",
    "recency_in_gaps", "mean_order_value", "orders_last_90d", "orders_prior_90d",
    "revenue_last_90d", "revenue_prior_90d", "refunds", "refunded_share", "subscriptions",
    "subscription_active"};

int rt_churn_features(const rt_model *m, int32_t cutoff, int horizon_days, int active_days,
                      rt_ctable **out, uint32_t **customer, rt_error *err) {
  *out = NULL;
  *customer = NULL;
  rt_ctable *t = rt_calloc(1, sizeof *t);
  size_t nc = m->ncustomers ? m->ncustomers : 1;
  uint32_t *cust = rt_malloc(nc * sizeof *cust);
  if (!t || !cust || !(t->x = rt_malloc(nc * F_COUNT * sizeof *t->x)) ||
      !(t->y = rt_malloc(nc)) || !(t->ids = rt_calloc(nc, sizeof *t->ids)) ||
      !(t->names = rt_calloc(F_COUNT, sizeof *t->names))) {
    rt_free(cust);
    rt_ctable_free(t);
    return rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
  }
  t->ncols = F_COUNT;
  for (int j = 0; j < F_COUNT; j++)
    if (!(t->names[j] = rt_strndup(feature_names[j], strlen(feature_names[j])))) {
      rt_free(cust);
      rt_ctable_free(t);
      return rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
    }
  const double minor = pow(10.0, m->currency_exp);
  const int32_t end = cutoff + horizon_days;
  size_t n = 0;
  for (size_t c = 0; c < m->ncustomers; c++) {
    uint32_t o = m->order_start[c], oe = m->order_start[c + 1];
    if (o == oe || m->order_day[o] > cutoff)
      continue;
    int32_t first = m->order_day[o], last = first, prev = INT32_MIN;
    double days = 0, orders = 0, revenue = 0, o90 = 0, p90 = 0, r90 = 0, rp90 = 0;
    int churned = 1;
    for (; o < oe; o++) {
      int32_t d = m->order_day[o];
      if (d > cutoff) {
        if (d <= end)
          churned = 0;
        break;
      }
      double a = (double)m->order_amount[o] / minor;
      orders++;
      revenue += a;
      if (d != prev)
        days++;
      prev = last = d;
      if (d > cutoff - 90) {
        o90++;
        r90 += a;
      } else if (d > cutoff - 180) {
        p90++;
        rp90 += a;
      }
    }
    double refunds = 0, refunded = 0;
    for (uint32_t k = m->refund_start[c]; k < m->refund_start[c + 1]; k++)
      if (m->refund_day[k] <= cutoff) {
        refunds++;
        refunded += (double)m->refund_amount[k] / minor;
      }
    double subs = 0, active = 0;
    for (uint32_t k = m->sub_start[c]; k < m->sub_start[c + 1]; k++) {
      if (m->sub_first_day[k] > cutoff)
        continue;
      subs++;
      if (m->sub_end_day[k] > cutoff)
        active = 1;
      if (m->sub_end_day[k] > end)
        churned = 0; /* still subscribed at the horizon's end */
    }
    if (active_days > 0 && last < cutoff - active_days && !active)
      continue; /* long gone: not a churn question any more */
    float *x = t->x + n * F_COUNT;
    double gap = days > 1 ? (double)(last - first) / (days - 1) : NAN;
    x[F_RECENCY] = (float)(cutoff - last);
    x[F_ORDER_DAYS] = (float)days;
    x[F_TENURE] = (float)(cutoff - first);
    x[F_GAP] = (float)gap;
    x[F_RECENCY_GAPS] = days > 1 && gap > 0 ? (float)((cutoff - last) / gap) : NAN;
    x[F_MEAN_ORDER] = (float)(revenue / orders);
    x[F_ORDERS_90] = (float)o90;
    x[F_ORDERS_PREV_90] = (float)p90;
    x[F_REVENUE_90] = (float)r90;
    x[F_REVENUE_PREV_90] = (float)rp90;
    x[F_REFUNDS] = (float)refunds;
    x[F_REFUNDED_SHARE] = revenue > 0 ? (float)(refunded / revenue) : 0;
    x[F_SUBS] = (float)subs;
    x[F_SUB_ACTIVE] = (float)active;
    t->y[n] = (uint8_t)churned;
    const char *id = rt_model_ext_id(m, c);
    if (!(t->ids[n] = rt_strndup(id, strlen(id)))) {
      t->nrows = n;
      rt_free(cust);
      rt_ctable_free(t);
      return rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
    }
    cust[n++] = (uint32_t)c;
  }
  t->nrows = n;
  *out = t;
  *customer = cust;
  return 0;
}

uint32_t *rt__rows_by_store_id(const rt_model *m, const uint32_t *customer, size_t n,
                               size_t *nids) {
  size_t k = 1;
  for (size_t i = 0; i < n; i++)
    if ((size_t)m->store_id[customer[i]] + 1 > k)
      k = (size_t)m->store_id[customer[i]] + 1;
  uint32_t *rowof = rt_calloc(k, sizeof *rowof);
  if (rowof)
    for (size_t i = 0; i < n; i++)
      if (m->store_id[customer[i]] > 0)
        rowof[m->store_id[customer[i]]] = (uint32_t)(i + 1);
  *nids = k;
  return rowof;
}

void rt__ctable_widen(rt_ctable *t, float *x, char **names, size_t nc) {
  for (size_t j = 0; j < t->ncols; j++)
    names[j] = t->names[j];
  rt_free(t->names);
  t->names = names;
  rt_free(t->x);
  t->x = x;
  t->ncols = nc;
}
