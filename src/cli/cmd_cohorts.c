/* cmd_cohorts.c - `retain cohorts`: acquisition cohorts x periods since acquisition, counts or
 * percentages of customers, revenue or net revenue, as a table, CSV (cohort,period,customers,
 * revenue,net_revenue,partial) or JSON. Computed by rt_cohort_compute (include/retain/cohort.h). */
#include "cli/cli.h"

#include <retain/alloc.h>
#include <retain/cohort.h>

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void help(void) {
  printf("Usage: retain [--db PATH] cohorts [options]\n\n"
         "Customers grouped by the period of their first purchase (the cohort), and what each\n"
         "cohort did 0, 1, 2, ... periods later (period 0 is the acquisition period). The\n"
         "period holding the as-of day is counted up to it, and marked * when partial.\n\n"
         "Options:\n%s"
         "  --metric M         customers (default), revenue (the purchases' value) or\n"
         "                     net-revenue (less the refunds paid in the period)\n"
         "  --mode M           on (ordered in that period, default) or on-or-after (ordered\n"
         "                     in that period or any later one)\n"
         "  --percent          customers as %% of the cohort's size, revenue as %% of its\n"
         "                     period-0 revenue (table and JSON; CSV keeps the counts)\n"
         "  --horizon N        at most N periods after acquisition (default: all)\n"
         "  --by segment       each stored segment's cohorts in turn (CSV: a first column,\n"
         "                     segment)\n\n"
         "CSV columns: cohort,period,customers,revenue,net_revenue,partial (one row per cohort\n"
         "and period, zeros included, up to the last period; partial 1 in the period holding\n"
         "the as-of day when it ends after it). Import options for --orders:\n%s",
         cli_analysis_options_help, cli_import_options_help);
}

/* What the cells are, by metric and mode (on, on or after). */
static const char *const metric_phrase[3][2] = {
    {"customers purchasing in each period", "customers purchasing then or later"},
    {"revenue of each period's purchases", "revenue of the purchases then or later"},
    {"net revenue of each period (purchases less refunds)",
     "net revenue then or later (purchases less refunds)"}};

static void print_table(const rt_cohort_table *t, const rt_model *m, rt_cohort_metric metric,
                        int percent) {
  char buf[48], asof[64];
  if (t->ncohorts == 0) {
    printf("No cohorts in the periods asked for.\n");
    return;
  }
  int money = metric != RT_COHORT_CUSTOMERS;
  printf("Cohorts by %s of first purchase · %s%s · as of %s\n", rt_period_unit_name(t->unit),
         metric_phrase[metric][t->mode == RT_COHORT_ON_OR_AFTER],
         percent ? (money ? " (% of period 0)" : " (% of the cohort)") : "",
         cli_as_of_text(m, asof, sizeof asof));
  if (money && !percent) printf("Amounts in %s.\n", m->currency);
  printf("\n");
  cli_table tb;
  cli_table_init(&tb, t->width + 2);
  const char **row = calloc(t->width + 2, sizeof *row);
  char(*cells)[48] = calloc(t->width + 2, sizeof *cells);
  if (!row || !cells) goto out;
  row[0] = "cohort";
  row[1] = "size";
  for (size_t k = 0; k < t->width; k++) {
    snprintf(cells[k + 2], sizeof cells[0], "%zu", k);
    row[k + 2] = cells[k + 2];
  }
  cli_table_row(&tb, row);
  for (size_t c = 0; c < t->ncohorts; c++) {
    rt_period_label(t->unit, t->first_cohort + (int64_t)c, cells[0], sizeof cells[0]);
    row[0] = cells[0];
    cli_count(t->size[c], cells[1], sizeof cells[1]);
    row[1] = cells[1];
    size_t len = rt_cohort_row_len(t, c);
    for (size_t k = 0; k < t->width; k++) {
      if (k >= len) {
        buf[0] = '\0';
      } else if (percent) {
        double p = rt_cohort_percent(t, c, k, metric);
        if (isnan(p)) snprintf(buf, sizeof buf, "–");
        else snprintf(buf, sizeof buf, "%.1f", p);
      } else if (money) {
        cli_money_human(rt_cohort_cell(t, c, k, metric), m->currency_exp, buf, sizeof buf);
      } else {
        cli_count(rt_cohort_cell(t, c, k, metric), buf, sizeof buf);
      }
      snprintf(cells[k + 2], sizeof cells[0], "%.40s%s", buf,
               k < len && rt_cohort_cell_partial(t, c, k) ? "*" : "");
      row[k + 2] = cells[k + 2];
    }
    cli_table_row(&tb, row);
  }
  cli_table_print(&tb, stdout);
  if (t->last_partial) {
    char lbl[32], d[16];
    rt_period_label(t->unit, t->last_period, lbl, sizeof lbl);
    rt_day_format(m->as_of, d, sizeof d);
    printf("\n* %s is partial: counted for %d days, up to the as-of day %s.\n", lbl,
           (int)t->last_days, d);
  }
out:
  cli_table_free(&tb);
  free(row);
  free(cells);
}

/* segment: a first column's value (--by segment), or NULL; header: print the header row */
static void print_csv(const rt_cohort_table *t, const rt_model *m, const char *segment,
                      int header) {
  char lbl[32], money[48], net[48];
  if (header) fputs(segment ? "segment,cohort,period,customers,revenue,net_revenue,partial\n"
                            : "cohort,period,customers,revenue,net_revenue,partial\n", stdout);
  for (size_t c = 0; c < t->ncohorts; c++) {
    rt_period_label(t->unit, t->first_cohort + (int64_t)c, lbl, sizeof lbl);
    size_t len = rt_cohort_row_len(t, c);
    for (size_t k = 0; k < len; k++) {
      cli_money(t->revenue[c * t->width + k], m->currency_exp, money, sizeof money);
      cli_money(rt_cohort_cell(t, c, k, RT_COHORT_NET_REVENUE), m->currency_exp, net, sizeof net);
      if (segment) {
        cli_csv_field(stdout, segment);
        putchar(',');
      }
      printf("%s,%zu,%lld,%s,%s,%d\n", lbl, k, (long long)t->customers[c * t->width + k], money,
             net, rt_cohort_cell_partial(t, c, k));
    }
  }
}

static void print_json(const rt_cohort_table *t, const rt_model *m, int percent) {
  char *text = rt_cohort_json(t, m, percent);
  json_t *root = text ? json_loads(text, 0, NULL) : NULL;
  rt_free(text);
  json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
  printf("\n");
  json_decref(root);
}

/* --by segment: each stored segment's cohorts, one after the other (CSV: a segment column) */
static int by_segment(const cli_global *g, cli_analysis *a, const rt_cohort_opts *co,
                      rt_cohort_metric metric, int percent) {
  cli_names names;
  int rc = cli_segment_names(g, &names);
  if (rc) return rc;
  if (names.n == 0 && a->format == FMT_TABLE)
    printf("No segments yet: retain segment create NAME --rule RULE\n");
  json_t *arr = a->format == FMT_JSON ? json_array() : NULL;
  for (size_t k = 0; k < names.n && !rc; k++) {
    size_t count = 0;
    rt_model *sub = NULL;
    rt_cohort_table *t = NULL;
    rt_error err = {0};
    if ((rc = cli_segment_model(g, a->model, names.v[k], &sub, &count))) break;
    if (rt_cohort_compute(sub, co, &t, &err)) {
      rc = cli_fail(&err);
    } else if (a->format == FMT_CSV) {
      print_csv(t, sub, names.v[k], k == 0);
    } else if (a->format == FMT_JSON) {
      json_t *o = json_object();
      json_object_set_new(o, "segment", json_string(names.v[k]));
      json_object_set_new(o, "members", json_integer((json_int_t)count));
      char *text = rt_cohort_json(t, sub, percent);
      json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
      rt_free(text);
      json_object_set_new(o, "cohorts", doc ? doc : json_null());
      json_array_append_new(arr, o);
    } else {
      char n[32];
      printf("%sSegment %s: %s customers\n", k ? "\n" : "", names.v[k],
             cli_count((int64_t)count, n, sizeof n));
      print_table(t, sub, metric, percent);
    }
    rt_cohort_table_free(t);
    rt_model_free(sub);
  }
  if (arr && !rc) {
    json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    printf("\n");
  }
  json_decref(arr);
  cli_names_free(&names);
  return rc;
}

int cmd_cohorts(const cli_global *g, int argc, char **argv) {
  int by_seg = 0;
  cli_analysis a;
  cli_analysis_init(&a, g);
  rt_cohort_opts co;
  rt_cohort_opts_init(&co);
  rt_cohort_metric metric = RT_COHORT_CUSTOMERS;
  int percent = 0;
  for (int i = 1; i < argc; i++) {
    const char *v;
    int r;
    if (cli_is_help(argv[i])) {
      help();
      return CLI_OK;
    }
    if (cli_flag(argv, i, "--percent")) {
      percent = 1;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--metric", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      if (!strcmp(v, "customers")) metric = RT_COHORT_CUSTOMERS;
      else if (!strcmp(v, "revenue")) metric = RT_COHORT_REVENUE;
      else if (!strcmp(v, "net-revenue") || !strcmp(v, "net_revenue"))
        metric = RT_COHORT_NET_REVENUE;
      else
        return cli_usage_error("cohorts", "--metric wants customers, revenue or net-revenue, "
                                          "not '%s'", v);
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--mode", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      if (!strcmp(v, "on")) co.mode = RT_COHORT_ON;
      else if (!strcmp(v, "on-or-after") || !strcmp(v, "on_or_after"))
        co.mode = RT_COHORT_ON_OR_AFTER;
      else return cli_usage_error("cohorts", "--mode wants on or on-or-after, not '%s'", v);
      continue;
    }
    if ((r = cli_by_option("cohorts", argc, argv, &i, &by_seg)) != 0) {
      if (r < 0) return CLI_USAGE;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--horizon", &v)) != 0) {
      if (r < 0 || cli_parse_int("cohorts", "--horizon", v, 0, 1000000, &co.horizon))
        return CLI_USAGE;
      continue;
    }
    r = cli_analysis_option("cohorts", argc, argv, &i, &a);
    if (r < 0) return CLI_USAGE;
    if (r == 0) return cli_usage_error("cohorts", "unknown argument '%s'", argv[i]);
  }
  int rc = cli_analysis_load("cohorts", g, &a);
  if (!rc) rc = cli_analysis_subset(&a);
  if (!rc && a.segment && a.format == FMT_TABLE) {
    char n[32];
    printf("Segment %s: %s customers\n", a.segment, cli_count((int64_t)a.nmembers, n, sizeof n));
  }
  if (rc) {
    cli_analysis_free(&a);
    return rc;
  }
  co.unit = a.unit;
  co.from_period = a.from;
  co.to_period = a.to;
  if (by_seg) {
    if (a.segment || a.orders_path)
      rc = cli_usage_error("cohorts", "--by segment takes the stored segments: not with "
                                      "--segment or --orders");
    else rc = by_segment(g, &a, &co, metric, percent);
    cli_analysis_free(&a);
    return rc;
  }
  rt_cohort_table *t = NULL;
  rt_error err = {0};
  if (rt_cohort_compute(a.model, &co, &t, &err)) {
    rc = cli_fail(&err);
  } else {
    if (a.format == FMT_CSV) {
      cli_as_of_note(g, a.model);
      print_csv(t, a.model, NULL, 1);
    }
    else if (a.format == FMT_JSON) print_json(t, a.model, percent);
    else print_table(t, a.model, metric, percent);
    rt_cohort_table_free(t);
  }
  cli_analysis_free(&a);
  return rc;
}
