/* features.c - churn features and labels from the customer model at a cutoff day (churn.h),
 * and the words that explain a feature's push towards churn. */
#include <retain/alloc.h>
#include <retain/churn.h>
#include <retain/model.h>

#include <math.h>
#include <stdio.h>
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

/* The row's value of the feature called name (NAN when the table has none). */
static double value_of(const rt_ctable *t, const float *x, const char *name) {
  for (size_t k = 0; k < t->ncols; k++)
    if (!strcmp(t->names[k], name))
      return x[k];
  return NAN;
}

void rt_churn_reason(const rt_ctable *t, const float *x, size_t j, char *buf, size_t n) {
  const char *name = t->names[j];
  float v = x[j];
  if (!strcmp(name, "days_since_last_order")) {
    double gaps = value_of(t, x, "recency_in_gaps");
    if (gaps >= 1.5)
      snprintf(buf, n, "no order for %.0f days, %.1f× the usual gap", v, gaps);
    else
      snprintf(buf, n, "no order for %.0f days", v);
  } else if (!strcmp(name, "recency_in_gaps")) {
    if (isnan(v))
      snprintf(buf, n, "a single order day, no buying rhythm yet");
    else
      snprintf(buf, n, "the silence is %.1f× the usual gap between orders", v);
  } else if (!strcmp(name, "order_days")) {
    snprintf(buf, n, v <= 1 ? "a single order so far" : "only %.0f orders so far", v);
  } else if (!strcmp(name, "tenure_days")) {
    snprintf(buf, n, "a customer for %.0f days", v);
  } else if (!strcmp(name, "mean_days_between_orders")) {
    snprintf(buf, n, "orders every %.0f days on average", v);
  } else if (!strcmp(name, "mean_order_value")) {
    snprintf(buf, n, "average order of %.2f", v);
  } else if (!strcmp(name, "orders_last_90d") || !strcmp(name, "orders_prior_90d")) {
    snprintf(buf, n, "%.0f orders in the last 90 days against %.0f in the 90 before",
             value_of(t, x, "orders_last_90d"), value_of(t, x, "orders_prior_90d"));
  } else if (!strcmp(name, "revenue_last_90d") || !strcmp(name, "revenue_prior_90d")) {
    snprintf(buf, n, "spent %.2f in the last 90 days against %.2f in the 90 before",
             value_of(t, x, "revenue_last_90d"), value_of(t, x, "revenue_prior_90d"));
  } else if (!strcmp(name, "refunds")) {
    snprintf(buf, n, "%.0f refund%s", v, v == 1 ? "" : "s");
  } else if (!strcmp(name, "refunded_share")) {
    snprintf(buf, n, "%.0f%% of the spend refunded", 100 * v);
  } else if (!strcmp(name, "subscription_active")) {
    snprintf(buf, n, v > 0 ? "an active subscription" : "no active subscription");
  } else if (!strcmp(name, "subscriptions")) {
    snprintf(buf, n, "%.0f subscription%s", v, v == 1 ? "" : "s");
  } else if (!strcmp(name, "usage_last_30d") || !strcmp(name, "usage_prior_30d")) {
    snprintf(buf, n, "%.0f product uses in the last 30 days against %.0f in the 30 before",
             value_of(t, x, "usage_last_30d"), value_of(t, x, "usage_prior_30d"));
  } else if (!strcmp(name, "days_since_last_use")) {
    if (isnan(v))
      snprintf(buf, n, "never used the product");
    else
      snprintf(buf, n, "no login or feature use for %.0f days", v);
  } else if (!strcmp(name, "tickets") || !strcmp(name, "tickets_last_90d")) {
    snprintf(buf, n, "%.0f support tickets (%.0f in the last 90 days)",
             value_of(t, x, "tickets"), value_of(t, x, "tickets_last_90d"));
  } else if (!strcmp(name, "tickets_unresolved")) {
    snprintf(buf, n, "%.0f unresolved support ticket%s", v, v == 1 ? "" : "s");
  } else if (!strcmp(name, "last_nps") || !strcmp(name, "last_csat")) {
    const char *what = !strcmp(name, "last_nps") ? "NPS" : "CSAT";
    if (isnan(v))
      snprintf(buf, n, "no %s answer", what);
    else
      snprintf(buf, n, "last %s answer: %.0f", what, v);
  } else if (!strncmp(name, "attr:", 5)) {
    const char *eq = strchr(name + 5, '=');
    if (isnan(v))
      snprintf(buf, n, "%.*s unknown", (int)(eq ? eq - name - 5 : (long)strlen(name + 5)),
               name + 5);
    else if (eq)
      snprintf(buf, n, "%.*s %s %s", (int)(eq - name - 5), name + 5, v > 0 ? "is" : "is not",
               eq + 1);
    else
      snprintf(buf, n, "%s = %g", name + 5, v);
  } else if (isnan(v)) {
    snprintf(buf, n, "%s unknown", name);
  } else {
    snprintf(buf, n, "%s = %g", name, v);
  }
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
