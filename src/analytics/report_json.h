/* report_json.h - the retention report and the cohort table as JSON documents, the same for
 * `retain report --format json`, `retain cohorts --format json` and the HTTP API's
 * /v1/metrics and /v1/cohorts. Library-internal (the CLI and the server include it). */
#ifndef RETAIN_ANALYTICS_REPORT_JSON_H
#define RETAIN_ANALYTICS_REPORT_JSON_H

#include <retain/cohort.h>
#include <retain/metrics.h>

#include <jansson.h>
#include <stddef.h>

typedef enum rt__field_kind {
  RT__K_COUNT,
  RT__K_MONEY,
  RT__K_RATE,
  RT__K_RATIO,
  RT__K_MONEY_AVG
} rt__field_kind;

/* Every column of a report row: its machine name, its label and where it lives. */
typedef struct rt__report_field {
  const char *name, *label;
  rt__field_kind k;
  size_t off;
  int brief; /* shown in the multi-period table */
} rt__report_field;
extern const rt__report_field rt__report_fields[];
extern const size_t rt__nreport_fields;

/* Field f of a row as a double (counts converted), or as the int64 it is (counts, money). */
double rt__report_value(const rt_period_metrics *m, size_t f);
int64_t rt__report_count(const rt_period_metrics *m, size_t f);

/* One row: every field by name (money in major units, rates as fractions, null undefined). */
json_t *rt__period_json(const rt_period_metrics *p, int currency_exp);
/* The report: period_unit, currency, timezone, inactive_days, baseline_periods, customers,
 * periods [{fields..., period, baseline}]. */
json_t *rt__report_json(const rt_report *r, const rt_model *m);

/* Cell (c, k) as a percentage of the cohort's size (or of its period-0 revenue); NAN when the
 * base is 0. */
double rt__cohort_pct(const rt_cohort_table *t, size_t c, size_t k, int revenue);
/* The table: period_unit, mode, currency, timezone, cohorts [{cohort, size, customers[],
 * revenue[], percent[] when asked}]. */
json_t *rt__cohorts_json(const rt_cohort_table *t, const rt_model *m, int percent);

#endif
