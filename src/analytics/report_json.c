/* report_json.c - the report and cohort documents (report_json.h). */
#include "analytics/report_json.h"

#include <math.h>
#include <stddef.h>

const rt__report_field rt__report_fields[] = {
#define F(n, l, k, m, b) {n, l, k, offsetof(rt_period_metrics, m), b}
    F("customers", "customers", RT__K_COUNT, customers, 1),
    F("new_customers", "new customers", RT__K_COUNT, new_customers, 1),
    F("active_start", "active at start", RT__K_COUNT, active_start, 0),
    F("active_end", "active at end", RT__K_COUNT, active_end, 1),
    F("churned", "churned", RT__K_COUNT, churned, 1),
    F("churn_rate", "churn rate", RT__K_RATE, churn_rate, 1),
    F("retention_rate", "retention rate", RT__K_RATE, retention_rate, 1),
    F("ordering", "ordering customers", RT__K_COUNT, ordering, 0),
    F("orders", "orders", RT__K_COUNT, orders, 1),
    F("refunds", "refunds", RT__K_COUNT, refunds, 0),
    F("repeat_rate", "repeat purchase rate", RT__K_RATE, repeat_rate, 1),
    F("frequency", "purchase frequency", RT__K_RATIO, frequency, 0),
    F("aov", "average order value", RT__K_MONEY_AVG, aov, 1),
    F("revenue", "revenue", RT__K_MONEY, revenue, 1),
    F("refunded", "refunded", RT__K_MONEY, refunded, 0),
    F("net_revenue_to_date", "net revenue to date", RT__K_MONEY, net_revenue_to_date, 0),
    F("repeat_buyers", "repeat buyers", RT__K_COUNT, repeat_buyers, 0),
    F("historic_clv", "historic CLV", RT__K_MONEY_AVG, historic_clv, 1),
#undef F
};
const size_t rt__nreport_fields = sizeof rt__report_fields / sizeof rt__report_fields[0];

static int is_double(rt__field_kind k) {
  return k == RT__K_RATE || k == RT__K_RATIO || k == RT__K_MONEY_AVG;
}

double rt__report_value(const rt_period_metrics *m, size_t f) {
  const char *p = (const char *)m + rt__report_fields[f].off;
  if (is_double(rt__report_fields[f].k))
    return *(const double *)p;
  return (double)*(const int64_t *)p;
}

int64_t rt__report_count(const rt_period_metrics *m, size_t f) {
  return *(const int64_t *)((const char *)m + rt__report_fields[f].off);
}

json_t *rt__period_json(const rt_period_metrics *p, int exp) {
  json_t *o = json_object();
  for (size_t f = 0; f < rt__nreport_fields; f++) {
    double v = rt__report_value(p, f);
    json_t *x;
    if (isnan(v))
      x = json_null();
    else if (rt__report_fields[f].k == RT__K_COUNT)
      x = json_integer(rt__report_count(p, f));
    else if (rt__report_fields[f].k == RT__K_MONEY)
      x = json_real((double)rt__report_count(p, f) / pow(10.0, exp));
    else if (rt__report_fields[f].k == RT__K_MONEY_AVG)
      x = json_real(v / pow(10.0, exp));
    else
      x = json_real(v);
    json_object_set_new(o, rt__report_fields[f].name, x);
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
  json_object_set_new(root, "inactive_days", json_integer(r->inactive_days));
  json_object_set_new(root, "baseline_periods", json_integer(r->baseline));
  json_object_set_new(root, "customers", json_integer((json_int_t)m->ncustomers));
  for (size_t i = 0; i < r->nperiods; i++) {
    json_t *o = rt__period_json(&r->rows[i], exp);
    rt_period_label(r->unit, r->rows[i].period, buf, sizeof buf);
    json_object_set_new(o, "period", json_string(buf));
    json_object_set_new(o, "baseline", r->base[i].period == INT64_MIN
                                           ? json_null()
                                           : rt__period_json(&r->base[i], exp));
    json_array_append_new(arr, o);
  }
  json_object_set_new(root, "periods", arr);
  return root;
}

double rt__cohort_pct(const rt_cohort_table *t, size_t c, size_t k, int revenue) {
  if (revenue) {
    int64_t base = t->revenue[c * t->width];
    return base ? 100.0 * (double)t->revenue[c * t->width + k] / (double)base : NAN;
  }
  return t->size[c] ? 100.0 * (double)t->customers[c * t->width + k] / (double)t->size[c] : NAN;
}

json_t *rt__cohorts_json(const rt_cohort_table *t, const rt_model *m, int percent) {
  char lbl[32];
  json_t *root = json_object(), *arr = json_array();
  json_object_set_new(root, "period_unit", json_string(rt_period_unit_name(t->unit)));
  json_object_set_new(root, "mode",
                      json_string(t->mode == RT_COHORT_ON ? "on" : "on-or-after"));
  json_object_set_new(root, "currency", json_string(m->currency));
  json_object_set_new(root, "timezone", json_string(rt_tz_name(m->tz)));
  for (size_t c = 0; c < t->ncohorts; c++) {
    json_t *o = json_object(), *cu = json_array(), *rv = json_array(), *pc = json_array();
    rt_period_label(t->unit, t->first_cohort + (int64_t)c, lbl, sizeof lbl);
    json_object_set_new(o, "cohort", json_string(lbl));
    json_object_set_new(o, "size", json_integer(t->size[c]));
    size_t len = rt_cohort_row_len(t, c);
    for (size_t k = 0; k < len; k++) {
      json_array_append_new(cu, json_integer(t->customers[c * t->width + k]));
      json_array_append_new(
          rv, json_real((double)t->revenue[c * t->width + k] / pow(10.0, m->currency_exp)));
      double p = rt__cohort_pct(t, c, k, 0);
      json_array_append_new(pc, isnan(p) ? json_null() : json_real(p));
    }
    json_object_set_new(o, "customers", cu);
    json_object_set_new(o, "revenue", rv);
    if (percent)
      json_object_set_new(o, "percent", pc);
    else
      json_decref(pc);
    json_array_append_new(arr, o);
  }
  json_object_set_new(root, "cohorts", arr);
  return root;
}
