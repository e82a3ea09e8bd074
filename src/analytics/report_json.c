/* report_json.c - the report and cohort documents (report_json.h). */
#include "analytics/report_json.h"

#include <retain/alloc.h>

#include <math.h>
#include <stdlib.h>
#include <stddef.h>

const rt_report_field rt_report_fields[RT_REPORT_NFIELDS] = {
#define F(n, l, k, m, b, d) {n, l, k, offsetof(rt_period_metrics, m), b, d}
    F("customers", "customers", RT_FIELD_COUNT, customers, 1, 0),
    F("new_customers", "new customers", RT_FIELD_COUNT, new_customers, 1, 0),
    F("active_start", "active at start", RT_FIELD_COUNT, active_start, 0, 0),
    F("churned", "churned", RT_FIELD_COUNT, churned, 1, 0),
    F("retained", "retained", RT_FIELD_COUNT, retained, 0, 0),
    F("returning", "returning", RT_FIELD_COUNT, returning, 0, 0),
    F("active_end", "active at end", RT_FIELD_COUNT, active_end, 1, 0),
    F("churn_rate", "churn rate", RT_FIELD_RATE, churn_rate, 1, 0),
    F("retention_rate", "retention rate", RT_FIELD_RATE, retention_rate, 1, 0),
    F("ordering", "ordering customers", RT_FIELD_COUNT, ordering, 0, 0),
    F("orders", "orders", RT_FIELD_COUNT, orders, 1, 0),
    F("cancelled", "cancelled orders", RT_FIELD_COUNT, cancelled, 0, 0),
    F("refunds", "refunds", RT_FIELD_COUNT, refunds, 0, 0),
    F("repeat_rate", "repeat purchase rate", RT_FIELD_RATE, repeat_rate, 1, 0),
    F("frequency", "purchase frequency", RT_FIELD_RATIO, frequency, 0, 0),
    F("aov", "average order value", RT_FIELD_MONEY_AVG, aov, 1, 0),
    F("revenue", "revenue", RT_FIELD_MONEY, revenue, 1, 0),
    F("cancelled_value", "cancelled", RT_FIELD_MONEY, cancelled_value, 0, 0),
    F("refunded", "refunded", RT_FIELD_MONEY, refunded, 0, 0),
    F("net_revenue", "net revenue", RT_FIELD_MONEY, net_revenue, 0, 0),
    F("net_revenue_to_date", "net revenue to date", RT_FIELD_MONEY, net_revenue_to_date, 0, 0),
    F("repeat_buyers", "repeat buyers", RT_FIELD_COUNT, repeat_buyers, 0, 0),
    F("historic_clv", "historic CLV", RT_FIELD_MONEY_AVG, historic_clv, 1, 0),
    F("textbook_retention_rate", "(E - N) / S", RT_FIELD_RATE, textbook_retention_rate, 0, 1),
#undef F
};
static int is_double(rt_field_kind k) {
  return k == RT_FIELD_RATE || k == RT_FIELD_RATIO || k == RT_FIELD_MONEY_AVG;
}

double rt_report_value(const rt_period_metrics *m, size_t f) {
  const char *p = (const char *)m + rt_report_fields[f].offset;
  if (is_double(rt_report_fields[f].kind))
    return *(const double *)p;
  return (double)*(const int64_t *)p;
}

int64_t rt_report_count(const rt_period_metrics *m, size_t f) {
  return *(const int64_t *)((const char *)m + rt_report_fields[f].offset);
}

json_t *rt__period_json(const rt_period_metrics *p, int exp) {
  json_t *o = json_object();
  for (size_t f = 0; f < RT_REPORT_NFIELDS; f++) {
    double v = rt_report_value(p, f);
    json_t *x;
    if (isnan(v))
      x = json_null();
    else if (rt_report_fields[f].kind == RT_FIELD_COUNT)
      x = json_integer(rt_report_count(p, f));
    else if (rt_report_fields[f].kind == RT_FIELD_MONEY)
      x = json_real((double)rt_report_count(p, f) / pow(10.0, exp));
    else if (rt_report_fields[f].kind == RT_FIELD_MONEY_AVG)
      x = json_real(v / pow(10.0, exp));
    else
      x = json_real(v);
    json_object_set_new(o, rt_report_fields[f].name, x);
  }
  return o;
}

json_t *rt__report_json(const rt_report *r, const rt_model *m) {
  char buf[32];
  json_t *root = json_object(), *arr = json_array();
  int exp = m->currency_exp;
  json_object_set_new(root, "period_unit", json_string(rt_period_unit_name(r->unit)));
  json_object_set_new(root, "currency", json_string(m->currency));
  json_object_set_new(root, "timezone", json_string(rt_tz_name(m->tz)));
  rt__as_of_json(m, root);
  json_object_set_new(root, "inactive_days", json_integer(r->inactive_days));
  json_object_set_new(root, "baseline_periods", json_integer(r->baseline));
  json_object_set_new(root, "customers", json_integer((json_int_t)rt_model_buyers(m)));
  json_object_set_new(root, "profiles", json_integer((json_int_t)m->ncustomers));
  for (size_t i = 0; i < r->nperiods; i++) {
    const rt_period_metrics *p = &r->rows[i];
    json_t *o = rt__period_json(p, exp);
    rt_period_label(r->unit, p->period, buf, sizeof buf);
    json_object_set_new(o, "period", json_string(buf));
    json_object_set_new(o, "days", json_integer(p->days));
    json_object_set_new(o, "period_days", json_integer(p->period_days));
    json_object_set_new(o, "partial", json_boolean(rt_period_partial(p)));
    json_t *b = NULL;
    if (r->base[i].period != INT64_MIN) {
      b = rt__period_json(&r->base[i], exp);
      json_object_set_new(b, "periods", json_integer(r->base[i].averaged));
      /* a partial row's baseline counts the same first days of each period; whole rows'
       * baselines count whole periods (no one number of days) */
      json_object_set_new(b, "days", rt_period_partial(p) ? json_integer(r->base[i].days)
                                                          : json_null());
    }
    json_object_set_new(o, "baseline", b ? b : json_null());
    json_array_append_new(arr, o);
  }
  json_object_set_new(root, "periods", arr);
  return root;
}

int64_t rt_cohort_cell(const rt_cohort_table *t, size_t c, size_t k, rt_cohort_metric metric) {
  size_t x = c * t->width + k;
  switch (metric) {
  case RT_COHORT_REVENUE: return t->revenue[x];
  case RT_COHORT_NET_REVENUE: return t->revenue[x] - t->refunded[x];
  default: return t->customers[x];
  }
}

double rt_cohort_percent(const rt_cohort_table *t, size_t c, size_t k, rt_cohort_metric metric) {
  int64_t base = metric == RT_COHORT_CUSTOMERS ? t->size[c] : rt_cohort_cell(t, c, 0, metric);
  return base ? 100.0 * (double)rt_cohort_cell(t, c, k, metric) / (double)base : NAN;
}

int rt_cohort_cell_partial(const rt_cohort_table *t, size_t c, size_t k) {
  return t->last_partial && t->first_cohort + (int64_t)(c + k) == t->last_period;
}

void rt__as_of_json(const rt_model *m, json_t *obj) {
  char d[16];
  rt_day_format(m->as_of, d, sizeof d);
  json_object_set_new(obj, "as_of", json_string(d));
  json_object_set_new(obj, "as_of_basis",
                      json_string(rt_as_of_basis_name((rt_as_of_basis)m->as_of_basis)));
}

json_t *rt__cohorts_json(const rt_cohort_table *t, const rt_model *m, int percent) {
  char lbl[32];
  json_t *root = json_object(), *arr = json_array();
  json_object_set_new(root, "period_unit", json_string(rt_period_unit_name(t->unit)));
  json_object_set_new(root, "mode",
                      json_string(t->mode == RT_COHORT_ON ? "on" : "on-or-after"));
  json_object_set_new(root, "currency", json_string(m->currency));
  json_object_set_new(root, "timezone", json_string(rt_tz_name(m->tz)));
  rt__as_of_json(m, root);
  if (t->ncohorts) {
    rt_period_label(t->unit, t->last_period, lbl, sizeof lbl);
    json_object_set_new(root, "last_period", json_string(lbl));
    json_object_set_new(root, "last_period_partial", json_boolean(t->last_partial));
    json_object_set_new(root, "last_period_days", json_integer(t->last_days));
  }
  for (size_t c = 0; c < t->ncohorts; c++) {
    json_t *o = json_object(), *cu = json_array(), *rv = json_array(), *pc = json_array();
    json_t *nv = json_array();
    rt_period_label(t->unit, t->first_cohort + (int64_t)c, lbl, sizeof lbl);
    json_object_set_new(o, "cohort", json_string(lbl));
    json_object_set_new(o, "size", json_integer(t->size[c]));
    size_t len = rt_cohort_row_len(t, c);
    for (size_t k = 0; k < len; k++) {
      json_array_append_new(cu, json_integer(t->customers[c * t->width + k]));
      json_array_append_new(
          rv, json_real((double)t->revenue[c * t->width + k] / pow(10.0, m->currency_exp)));
      json_array_append_new(nv, json_real((double)rt_cohort_cell(t, c, k, RT_COHORT_NET_REVENUE) /
                                          pow(10.0, m->currency_exp)));
      double p = rt_cohort_percent(t, c, k, RT_COHORT_CUSTOMERS);
      json_array_append_new(pc, isnan(p) ? json_null() : json_real(p));
    }
    json_object_set_new(o, "customers", cu);
    json_object_set_new(o, "revenue", rv);
    json_object_set_new(o, "net_revenue", nv);
    if (percent)
      json_object_set_new(o, "percent", pc);
    else
      json_decref(pc);
    json_array_append_new(arr, o);
  }
  json_object_set_new(root, "cohorts", arr);
  return root;
}

/* the document as compact text, rt_malloc'd */
static char *text_of(json_t *doc) {
  char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))
                : NULL;
  json_decref(doc);
  char *out = s ? rt_strdup(s) : NULL;
  free(s);
  return out;
}

char *rt_report_json(const rt_report *r, const rt_model *m) {
  return text_of(rt__report_json(r, m));
}

char *rt_period_metrics_json(const rt_period_metrics *p, int currency_exp) {
  return text_of(rt__period_json(p, currency_exp));
}

char *rt_cohort_json(const rt_cohort_table *t, const rt_model *m, int percent) {
  return text_of(rt__cohorts_json(t, m, percent));
}
