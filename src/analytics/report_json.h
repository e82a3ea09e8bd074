/* report_json.h - the retention report and the cohort table as jansson documents, for the
 * HTTP API (which adds to them); the public rt_report_json / rt_cohort_json print the same
 * documents as text. Library-internal. */
#ifndef RETAIN_ANALYTICS_REPORT_JSON_H
#define RETAIN_ANALYTICS_REPORT_JSON_H

#include <retain/cohort.h>
#include <retain/metrics.h>

#include <jansson.h>
#include <stddef.h>

/* One row: every field by name (money in major units, rates as fractions, null undefined). */
json_t *rt__period_json(const rt_period_metrics *p, int currency_exp);
/* The report: period_unit, currency, timezone, inactive_days, baseline_periods, customers,
 * periods [{fields..., period, baseline}]. */
json_t *rt__report_json(const rt_report *r, const rt_model *m);

/* obj's "as_of" (the model's as-of day) and "as_of_basis" ("given", "today", "data end"). */
void rt__as_of_json(const rt_model *m, json_t *obj);

/* The table: period_unit, mode, currency, timezone, cohorts [{cohort, size, customers[],
 * revenue[], percent[] when asked}]. */
json_t *rt__cohorts_json(const rt_cohort_table *t, const rt_model *m, int percent);

#endif
