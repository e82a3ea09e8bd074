/* metrics.h - the retention report: KPIs per period against a baseline.
 *
 * Definitions (docs/METRICS.md explains each with an example):
 *  - A customer is a buyer from the day of their first order.
 *  - Active on day d: a subscription of theirs is active on d (started on or before d, not
 *    cancelled on or before d), or they ordered on a day in (d - inactive_days, d].
 *  - S = active on the day before the period starts, E = active on its last day,
 *    N = new customers (first order in the period).
 *  - churned = customers in S who are not in E; churn rate = churned / S.
 *  - retention rate = (E - N) / S (the classic formula; reactivated customers count in E).
 *  - repeat purchase rate = buyers with 2 or more orders / buyers, both as of the period end.
 *  - purchase frequency = orders in the period / customers who ordered in it.
 *  - AOV = revenue / orders in the period. Revenue is gross order value; refunds are reported
 *    apart and net revenue = revenue - refunded.
 *  - historic CLV = net revenue of all buyers up to the period end / buyers. */
#ifndef RETAIN_METRICS_H
#define RETAIN_METRICS_H

#include <retain/datetime.h>
#include <retain/model.h>

typedef struct rt_report_opts {
  rt_period_unit unit;  /* default RT_PERIOD_MONTH */
  int64_t from_period;  /* first period reported; INT64_MIN: the last period with data */
  int64_t to_period;    /* last period reported; INT64_MAX: the last period with data */
  int baseline;         /* previous periods averaged as the baseline; default 3 */
  int inactive_days;    /* inactivity window; default 90 */
} rt_report_opts;

void rt_report_opts_init(rt_report_opts *o);

typedef struct rt_period_metrics {
  int64_t period;          /* period index (rt_period_label gives the label) */
  int64_t customers;       /* buyers as of the period end */
  int64_t new_customers;   /* N */
  int64_t active_start;    /* S */
  int64_t active_end;      /* E */
  int64_t churned;
  int64_t ordering;        /* customers who ordered in the period */
  int64_t orders;
  int64_t refunds;
  int64_t revenue;         /* minor units */
  int64_t refunded;        /* minor units */
  int64_t net_revenue_to_date; /* all buyers, up to the period end */
  int64_t repeat_buyers;   /* buyers with >= 2 orders as of the period end */
  double churn_rate;       /* NAN when S = 0 */
  double retention_rate;   /* NAN when S = 0 */
  double repeat_rate;      /* NAN when no buyers */
  double frequency;        /* NAN when nobody ordered */
  double aov;              /* minor units; NAN when no orders */
  double historic_clv;     /* minor units; NAN when no buyers */
} rt_period_metrics;

typedef struct rt_report {
  rt_period_unit unit;
  int inactive_days;
  int baseline;
  size_t nperiods;           /* periods reported */
  rt_period_metrics *rows;   /* [nperiods] */
  rt_period_metrics *base;   /* [nperiods] average of the `baseline` periods before each row
                                (counts as doubles rounded; rates averaged); a row whose
                                baseline has no periods before the data has period = INT64_MIN */
} rt_report;

int rt_report_compute(const rt_model *m, const rt_report_opts *opts, rt_report **out,
                      rt_error *err);
void rt_report_free(rt_report *r);

/* ---- the fields of a report row, for printing them ---- */
typedef enum rt_field_kind {
  RT_FIELD_COUNT,    /* int64 count */
  RT_FIELD_MONEY,    /* int64 minor units */
  RT_FIELD_RATE,     /* double fraction (NAN when undefined) */
  RT_FIELD_RATIO,    /* double */
  RT_FIELD_MONEY_AVG /* double minor units */
} rt_field_kind;

typedef struct rt_report_field {
  const char *name, *label; /* "churn_rate", "churn rate" */
  rt_field_kind kind;
  size_t offset;            /* in rt_period_metrics */
  int brief;                /* one of the metrics a multi-period table shows */
} rt_report_field;

#define RT_REPORT_NFIELDS 18
extern const rt_report_field rt_report_fields[RT_REPORT_NFIELDS];
/* Field f of a row as a double (counts converted), or as the int64 it is (counts, money). */
double rt_report_value(const rt_period_metrics *m, size_t f);
int64_t rt_report_count(const rt_period_metrics *m, size_t f);

/* JSON documents, compact (rt_free the text; NULL when out of memory). The report: period_unit,
 * currency, timezone, inactive_days, baseline_periods, customers, and periods [{every field by
 * name — money in major units, rates as fractions, null when undefined —, period, baseline}];
 * `retain report --format json` and the HTTP API's /v1/metrics print it. One row alone: */
char *rt_report_json(const rt_report *r, const rt_model *m);
char *rt_period_metrics_json(const rt_period_metrics *p, int currency_exp);

#endif
