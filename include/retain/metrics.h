/* metrics.h - the retention report: KPIs per period against a baseline.
 *
 * Everything is judged as of the model's as-of day (model.h): periods run up to the one that
 * holds it, and a period that ends after it is partial - counted up to the as-of day only, and
 * compared with the same first days of the periods before it. Definitions (docs/METRICS.md
 * explains each with an example):
 *  - Purchases are orders not cancelled by a refund (model.h). A customer is a buyer from the
 *    day of their first purchase; "customers" are buyers.
 *  - Active on day d: a subscription of theirs is live on d (started on or before d, not
 *    cancelled on or before d), or they purchased on a day in (d - inactive_days, d].
 *  - For a period from day F to day L (L the as-of day in a partial period): S = active on
 *    F - 1, E = active on L, N = new customers (first purchase in [F, L]).
 *  - churned = in S, not in E; retained = in S and in E; returning = in E, not in S, and a
 *    customer (first purchase or subscription) since before F. churn rate = churned / S and
 *    retention rate = retained / S, so the two add up to 1; E = retained + returning + those
 *    who became customers in [F, L] and are active on L.
 *  - textbook retention rate = (E - N) / S, kept for comparison: it counts returning customers
 *    and can fall below 0 when periods are longer than the inactivity window.
 *  - repeat purchase rate = buyers with 2 or more purchases / buyers, both as of L.
 *  - purchase frequency = purchases in the period / customers who purchased in it.
 *  - AOV = revenue / purchases in the period. Revenue is the purchases' value; refunds (what
 *    is left of them after cancellations) are reported apart; net revenue = revenue - refunded.
 *  - historic CLV = net revenue of all buyers up to L / buyers. */
#ifndef RETAIN_METRICS_H
#define RETAIN_METRICS_H

#include <retain/datetime.h>
#include <retain/model.h>

/* Bounds on what one report may cost, so that a request cannot take the memory of the machine
 * (docs/SECURITY.md). A report computes every period from the data's first to the as-of day's:
 * at most RT_REPORT_MAX_SPAN of them (110 years by day); it returns at most
 * RT_REPORT_MAX_PERIODS rows. Beyond either, rt_report_compute fails with RT_ERANGE and says
 * what to ask for instead. */
#define RT_REPORT_MAX_SPAN 40000
#define RT_REPORT_MAX_PERIODS 5000

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
  int32_t days;            /* days counted: the period's, or up to the as-of day if partial;
                              in a baseline, the first `days` days of each period averaged */
  int32_t period_days;     /* days in the period */
  int32_t averaged;        /* periods averaged: 1 for a row, up to `baseline` for a baseline */
  int64_t customers;       /* buyers as of the end */
  int64_t new_customers;   /* N */
  int64_t active_start;    /* S */
  int64_t active_end;      /* E */
  int64_t churned;         /* in S, not in E */
  int64_t retained;        /* in S and in E */
  int64_t returning;       /* in E, not in S, a customer since before F */
  int64_t ordering;        /* customers who purchased in the period */
  int64_t orders;          /* purchases */
  int64_t cancelled;       /* orders placed in the period, cancelled by a refund */
  int64_t refunds;
  int64_t revenue;         /* minor units: the purchases' value */
  int64_t cancelled_value; /* minor units: the cancelled orders' value */
  int64_t refunded;        /* minor units */
  int64_t net_revenue;     /* revenue - refunded */
  int64_t net_revenue_to_date; /* all buyers, up to the end */
  int64_t repeat_buyers;   /* buyers with >= 2 purchases as of the end */
  double churn_rate;       /* churned / S; NAN when S = 0 */
  double retention_rate;   /* retained / S = 1 - churn_rate; NAN when S = 0 */
  double textbook_retention_rate; /* (E - N) / S; NAN when S = 0 */
  double repeat_rate;      /* NAN when no buyers */
  double frequency;        /* NAN when nobody purchased */
  double aov;              /* minor units; NAN when no purchases */
  double historic_clv;     /* minor units; NAN when no buyers */
} rt_period_metrics;

/* A row's period is partial when it ends after the as-of day (days < period_days). */
static inline int rt_period_partial(const rt_period_metrics *p) {
  return p->days < p->period_days;
}

typedef struct rt_report {
  rt_period_unit unit;
  int inactive_days;
  int baseline;
  int32_t as_of;             /* the model's as-of day */
  size_t nperiods;           /* periods reported */
  rt_period_metrics *rows;   /* [nperiods] */
  rt_period_metrics *base;   /* [nperiods] average of the `baseline` periods before each row
                                (counts as doubles rounded; rates averaged); for a partial row,
                                of their first base.days days each, as far as the row has come.
                                A row whose baseline has no periods in the data has period =
                                INT64_MIN */
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
  int detail;               /* shown in CSV and JSON only, not in the one-period table */
} rt_report_field;

#define RT_REPORT_NFIELDS 24
extern const rt_report_field rt_report_fields[RT_REPORT_NFIELDS];
/* Field f of a row as a double (counts converted), or as the int64 it is (counts, money). */
double rt_report_value(const rt_period_metrics *m, size_t f);
int64_t rt_report_count(const rt_period_metrics *m, size_t f);

/* JSON documents, compact (rt_free the text; NULL when out of memory). The report: period_unit,
 * currency, timezone, as_of, as_of_basis, inactive_days, baseline_periods, customers (buyers as
 * of the as-of day), profiles (every customer record), and periods [{every field by name —
 * money in major units, rates as fractions, null when undefined —, period, days, period_days,
 * partial, baseline (with its days)}];
 * `retain report --format json` and the HTTP API's /v1/metrics print it. One row alone: */
char *rt_report_json(const rt_report *r, const rt_model *m);
char *rt_period_metrics_json(const rt_period_metrics *p, int currency_exp);

#endif
