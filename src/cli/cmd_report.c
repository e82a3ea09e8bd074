/* cmd_report.c - `retain report`: the retention KPIs of a period (or a range of periods), each
 * against the average of the previous N periods, as a table, CSV or JSON. The metric
 * definitions are in include/retain/metrics.h and docs/METRICS.md. */
#include "cli/cli.h"

#include <retain/alloc.h>
#include <retain/metrics.h>

#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The value for people: 1,234 / 12.3% / 57.30 / 1.12; "–" when undefined. */
static void human(const rt_period_metrics *m, size_t f, int exp, char *buf, size_t n) {
  double v = rt_report_value(m, f);
  if (isnan(v)) {
    snprintf(buf, n, "–");
    return;
  }
  switch (rt_report_fields[f].kind) {
  case RT_FIELD_COUNT: cli_count(rt_report_count(m, f), buf, n); break;
  case RT_FIELD_MONEY: cli_money_human(rt_report_count(m, f), exp, buf, n); break;
  case RT_FIELD_MONEY_AVG: cli_money_human((int64_t)llround(v), exp, buf, n); break;
  case RT_FIELD_RATE: snprintf(buf, n, "%.1f%%", v * 100.0); break;
  case RT_FIELD_RATIO: snprintf(buf, n, "%.2f", v); break;
  }
}

/* The value for machines: exact integers, money in major units, rates as fractions. */
static void machine(const rt_period_metrics *m, size_t f, int exp, char *buf, size_t n) {
  double v = rt_report_value(m, f);
  if (isnan(v)) {
    buf[0] = '\0';
    return;
  }
  switch (rt_report_fields[f].kind) {
  case RT_FIELD_COUNT: snprintf(buf, n, "%lld", (long long)rt_report_count(m, f)); break;
  case RT_FIELD_MONEY: cli_money(rt_report_count(m, f), exp, buf, n); break;
  case RT_FIELD_MONEY_AVG: cli_money((int64_t)llround(v), exp, buf, n); break; /* half away */
  case RT_FIELD_RATE:
  case RT_FIELD_RATIO: snprintf(buf, n, "%.6g", v); break;
  }
}

static void change(const rt_period_metrics *m, const rt_period_metrics *b, size_t f, int exp,
                   char *buf, size_t n) {
  double v = rt_report_value(m, f), w = rt_report_value(b, f);
  if (b->period == INT64_MIN || isnan(v) || isnan(w)) {
    snprintf(buf, n, " ");
    return;
  }
  if (rt_report_fields[f].kind == RT_FIELD_RATE) {
    snprintf(buf, n, "%+.1f pt", (v - w) * 100.0);
  } else if (w == 0) {
    snprintf(buf, n, v == 0 ? "0%%" : "new");
  } else {
    snprintf(buf, n, "%+.1f%%", (v - w) / fabs(w) * 100.0);
  }
}

static void help(void) {
  printf("Usage: retain [--db PATH] report [options]\n\n"
         "Retention KPIs for a period (the one holding the as-of day unless --from/--to say\n"
         "otherwise), each against the average of the previous periods. A period that ends\n"
         "after the as-of day is partial: it is counted up to that day and compared with the\n"
         "same first days of the periods before it.\n\n"
         "Options:\n%s"
         "  --baseline N       periods averaged as the baseline (default 3; 0 for none)\n"
         "  --inactive-days N  a customer without a purchase for N days (and no live\n"
         "                     subscription) is no longer active (default 90)\n"
         "  --by segment       the period's metrics of every stored segment side by side\n\n"
         "Definitions: docs/METRICS.md. Import options for --orders:\n%s",
         cli_analysis_options_help, cli_import_options_help);
}

/* "2011-12" or, for a partial period, "2011-12*". */
static void row_label(const rt_report *r, const rt_period_metrics *p, char *buf, size_t n) {
  char lbl[24];
  rt_period_label(r->unit, p->period, lbl, sizeof lbl);
  snprintf(buf, n, "%s%s", lbl, rt_period_partial(p) ? "*" : "");
}

/* The header lines every table shares: the as-of day, customers and profiles, currency. */
static void print_header(const rt_report *r, const rt_model *m, const char *what) {
  char a[32], b[32], asof[64];
  printf("%s · as of %s\n", what, cli_as_of_text(m, asof, sizeof asof));
  printf("%s customers (with a purchase) of %s profiles · amounts in %s · active: purchased in "
         "the last %d days or subscribed\n",
         cli_count((int64_t)rt_model_buyers(m), a, sizeof a),
         cli_count((int64_t)m->ncustomers, b, sizeof b), m->currency, r->inactive_days);
}

static void print_table(const rt_report *r, const rt_model *m, int exp) {
  char a[64], b[64], c[64], lbl[40], title[96];
  cli_table t;
  const char *unit = rt_period_unit_name(r->unit);
  if (r->nperiods == 0) {
    printf("No data in the periods asked for.\n");
    return;
  }
  const rt_period_metrics *lastp = &r->rows[r->nperiods - 1];
  if (r->nperiods == 1) {
    const rt_period_metrics *p = lastp, *bl = &r->base[0];
    row_label(r, p, lbl, sizeof lbl);
    snprintf(title, sizeof title, "Retention report: %s %s", unit, lbl);
    print_header(r, m, title);
    if (bl->period != INT64_MIN) {
      char since[48] = "";
      if (rt_period_first_day(r->unit, bl->period) < m->min_day) {
        char d[16];
        rt_day_format(m->min_day, d, sizeof d);
        snprintf(since, sizeof since, " (the data starts on %s)", d);
      }
      const char *s = bl->averaged == 1 ? "" : "s";
      if (rt_period_partial(p))
        printf("Baseline: the first %d days of the %d %s%s before%s.\n", (int)bl->days,
               (int)bl->averaged, unit, s, since);
      else
        printf("Baseline: average of the %d %s%s before%s.\n", (int)bl->averaged, unit, s, since);
    }
    printf("\n");
    cli_table_init(&t, bl->period != INT64_MIN ? 4 : 2);
    const char *head[] = {"metric", lbl, "baseline", "change"};
    cli_table_row(&t, head);
    for (size_t f = 0; f < RT_REPORT_NFIELDS; f++) {
      if (rt_report_fields[f].detail) continue;
      human(p, f, exp, a, sizeof a);
      human(bl, f, exp, b, sizeof b);
      change(p, bl, f, exp, c, sizeof c);
      const char *row[] = {rt_report_fields[f].label, a, b, c};
      cli_table_row(&t, row);
    }
  } else {
    snprintf(title, sizeof title, "Retention report by %s", unit);
    print_header(r, m, title);
    printf("\n");
    size_t nb = 1;
    for (size_t f = 0; f < RT_REPORT_NFIELDS; f++) nb += rt_report_fields[f].brief;
    cli_table_init(&t, nb);
    const char *head[RT_REPORT_NFIELDS + 1];
    char cell[RT_REPORT_NFIELDS + 1][64];
    const char *row[RT_REPORT_NFIELDS + 1];
    head[0] = unit;
    for (size_t f = 0, j = 1; f < RT_REPORT_NFIELDS; f++)
      if (rt_report_fields[f].brief) head[j++] = rt_report_fields[f].label;
    cli_table_row(&t, head);
    for (size_t i = 0; i < r->nperiods; i++) {
      row_label(r, &r->rows[i], cell[0], sizeof cell[0]);
      row[0] = cell[0];
      for (size_t f = 0, j = 1; f < RT_REPORT_NFIELDS; f++)
        if (rt_report_fields[f].brief) {
          human(&r->rows[i], f, exp, cell[j], sizeof cell[j]);
          row[j] = cell[j];
          j++;
        }
      cli_table_row(&t, row);
    }
  }
  cli_table_print(&t, stdout);
  cli_table_free(&t);
  if (rt_period_partial(lastp)) {
    rt_period_label(r->unit, lastp->period, lbl, sizeof lbl);
    rt_day_format(r->as_of, a, sizeof a);
    printf("\n* %s is partial: %d of its %d days, up to the as-of day %s.%s\n", lbl,
           (int)lastp->days, (int)lastp->period_days, a,
           r->nperiods > 1 ? " Its counts are not comparable with whole periods." : "");
  }
}

static void print_csv(const rt_report *r, int exp) {
  char buf[64];
  printf("period,days,period_days,partial");
  for (size_t f = 0; f < RT_REPORT_NFIELDS; f++) printf(",%s", rt_report_fields[f].name);
  printf(",baseline_days");
  for (size_t f = 0; f < RT_REPORT_NFIELDS; f++) printf(",baseline_%s", rt_report_fields[f].name);
  printf("\n");
  for (size_t i = 0; i < r->nperiods; i++) {
    const rt_period_metrics *p = &r->rows[i], *b = &r->base[i];
    rt_period_label(r->unit, p->period, buf, sizeof buf);
    printf("%s,%d,%d,%d", buf, (int)p->days, (int)p->period_days, rt_period_partial(p));
    for (size_t f = 0; f < RT_REPORT_NFIELDS; f++) {
      machine(p, f, exp, buf, sizeof buf);
      printf(",%s", buf);
    }
    if (b->period == INT64_MIN || !rt_period_partial(p)) printf(","); /* whole: their own */
    else printf(",%d", (int)b->days);
    for (size_t f = 0; f < RT_REPORT_NFIELDS; f++) {
      if (b->period == INT64_MIN) buf[0] = '\0';
      else machine(b, f, exp, buf, sizeof buf);
      printf(",%s", buf);
    }
    printf("\n");
  }
}

static void print_json(const rt_report *r, const rt_model *m) {
  char *text = rt_report_json(r, m);
  json_t *root = text ? json_loads(text, 0, NULL) : NULL;
  rt_free(text);
  json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
  printf("\n");
  json_decref(root);
}

/* ---- --by segment: the last period's metrics of every stored segment side by side ---- */

static int by_segment(const cli_global *g, cli_analysis *a, const rt_report_opts *ro) {
  rt_error err = {0};
  cli_names names = {0};
  int rc = cli_segment_names(g, &names);
  if (rc) return rc;
  size_t ncol = names.n + 1, exp = (size_t)a->model->currency_exp;
  rt_period_metrics *cols = calloc(ncol, sizeof *cols);
  int64_t *sizes = calloc(ncol, sizeof *sizes);
  if (!rc && (!cols || !sizes)) rc = CLI_FAIL;
  int64_t period = INT64_MIN;
  for (size_t c = 0; c < ncol && !rc; c++) {
    const rt_model *m = a->model;
    rt_model *sub = NULL;
    size_t count = a->model->ncustomers;
    if (c > 0) {
      if ((rc = cli_segment_model(g, a->model, names.v[c - 1], &sub, &count))) break;
      m = sub;
    }
    rt_report *rep = NULL;
    if (!rc && rt_report_compute(m, ro, &rep, &err)) rc = cli_fail(&err);
    if (!rc && rep->nperiods) {
      cols[c] = rep->rows[rep->nperiods - 1];
      period = cols[c].period;
    }
    sizes[c] = (int64_t)count;
    rt_report_free(rep);
    rt_model_free(sub);
  }
  if (!rc) {
    char lbl[32] = "";
    if (period != INT64_MIN) rt_period_label(a->unit, period, lbl, sizeof lbl);
    if (a->format == FMT_CSV) {
      printf("segment,period,members");
      for (size_t f = 0; f < RT_REPORT_NFIELDS; f++) printf(",%s", rt_report_fields[f].name);
      printf("\n");
      for (size_t c = 0; c < ncol; c++) {
        char buf[64];
        cli_csv_field(stdout, c ? names.v[c - 1] : "(all customers)");
        printf(",%s,%lld", lbl, (long long)sizes[c]);
        for (size_t f = 0; f < RT_REPORT_NFIELDS; f++) {
          machine(&cols[c], f, (int)exp, buf, sizeof buf);
          printf(",%s", buf);
        }
        printf("\n");
      }
    } else if (a->format == FMT_JSON) {
      json_t *arr = json_array();
      for (size_t c = 0; c < ncol; c++) {
        char *text = rt_period_metrics_json(&cols[c], (int)exp);
        json_t *o = text ? json_loads(text, 0, NULL) : NULL;
        rt_free(text);
        if (!o) o = json_object();
        json_object_set_new(o, "segment", c ? json_string(names.v[c - 1]) : json_null());
        json_object_set_new(o, "members", json_integer(sizes[c]));
        json_array_append_new(arr, o);
      }
      json_dumpf(arr, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
      printf("\n");
      json_decref(arr);
    } else {
      printf("Retention report by segment: %s %s · amounts in %s\n\n",
             rt_period_unit_name(a->unit), lbl, a->model->currency);
      cli_table t;
      cli_table_init(&t, ncol + 1);
      const char **row = calloc(ncol + 1, sizeof *row);
      char(*cell)[64] = calloc(ncol + 1, sizeof *cell);
      if (row && cell) {
        row[0] = "metric";
        for (size_t c = 0; c < ncol; c++) row[c + 1] = c ? names.v[c - 1] : "all customers";
        cli_table_row(&t, row);
        row[0] = "members";
        for (size_t c = 0; c < ncol; c++) row[c + 1] = cli_count(sizes[c], cell[c + 1], 64);
        cli_table_row(&t, row);
        for (size_t f = 0; f < RT_REPORT_NFIELDS; f++) {
          if (!rt_report_fields[f].brief) continue;
          row[0] = rt_report_fields[f].label;
          for (size_t c = 0; c < ncol; c++) {
            human(&cols[c], f, (int)exp, cell[c + 1], 64);
            row[c + 1] = cell[c + 1];
          }
          cli_table_row(&t, row);
        }
        cli_table_print(&t, stdout);
      }
      free(row);
      free(cell);
      cli_table_free(&t);
      if (ncol == 1) printf("\nNo segments yet: retain segment create NAME --rule RULE\n");
    }
  }
  cli_names_free(&names);
  free(cols);
  free(sizes);
  return rc;
}

int cmd_report(const cli_global *g, int argc, char **argv) {
  int by_seg = 0;
  cli_analysis a;
  cli_analysis_init(&a, g);
  rt_report_opts ro;
  rt_report_opts_init(&ro);
  for (int i = 1; i < argc; i++) {
    const char *v;
    int r;
    if (cli_is_help(argv[i])) {
      help();
      return CLI_OK;
    }
    if ((r = cli_by_option("report", argc, argv, &i, &by_seg)) != 0) {
      if (r < 0) return CLI_USAGE;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--baseline", &v)) != 0) {
      int64_t x;
      if (r < 0 || cli_parse_int("report", "--baseline", v, 0, 1000, &x)) return CLI_USAGE;
      ro.baseline = (int)x;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--inactive-days", &v)) != 0) {
      int64_t x;
      if (r < 0 || cli_parse_int("report", "--inactive-days", v, 1, 100000, &x))
        return CLI_USAGE;
      ro.inactive_days = (int)x;
      continue;
    }
    r = cli_analysis_option("report", argc, argv, &i, &a);
    if (r < 0) return CLI_USAGE;
    if (r == 0) return cli_usage_error("report", "unknown argument '%s'", argv[i]);
  }
  int rc = cli_analysis_load("report", g, &a);
  if (!rc) rc = cli_analysis_subset(&a);
  if (!rc && a.segment && a.format == FMT_TABLE) {
    char n[32];
    printf("Segment %s: %s customers\n", a.segment, cli_count((int64_t)a.nmembers, n, sizeof n));
  }
  if (rc) {
    cli_analysis_free(&a);
    return rc;
  }
  ro.unit = a.unit;
  ro.from_period = a.from;
  ro.to_period = a.to;
  if (a.from_s && !a.to_s) ro.to_period = INT64_MAX;
  if (a.to_s && !a.from_s) ro.from_period = a.to;
  if (by_seg) {
    if (a.segment || a.orders_path) rc = cli_usage_error("report", "--by segment compares the "
                                                                   "stored segments: not with --segment or --orders");
    else rc = by_segment(g, &a, &ro);
    cli_analysis_free(&a);
    return rc;
  }
  rt_report *rep = NULL;
  rt_error err = {0};
  if (rt_report_compute(a.model, &ro, &rep, &err)) {
    rc = cli_fail(&err);
  } else {
    int exp = a.model->currency_exp;
    if (a.format == FMT_CSV) {
      cli_as_of_note(g, a.model);
      print_csv(rep, exp);
    }
    else if (a.format == FMT_JSON) print_json(rep, a.model);
    else if (a.model->ncustomers == 0)
      printf("No customers yet. Import orders with 'retain import orders FILE'.\n");
    else print_table(rep, a.model, exp);
    rt_report_free(rep);
  }
  cli_analysis_free(&a);
  return rc;
}
