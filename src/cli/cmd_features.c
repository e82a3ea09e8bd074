/* cmd_features.c - `retain features` (the fields rules can use, or one customer's values),
 * `retain rfm` and `retain lifecycle` (the built-in segmentations), and the feature loading
 * that `segment` shares (cli_features_load). */
#include "cli/cli.h"

#include <retain/alloc.h>
#include <retain/features.h>

#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cli_feature_settings_init(cli_feature_settings *s) {
  s->rfm_bins = s->at_risk_gaps = s->lapsed_gaps = s->at_risk_min_days = s->lapsed_min_days =
      s->new_days = s->loyal_orders = -1;
}

const char cli_feature_options_help[] =
    "  --rfm-bins N          RFM scores 1..N (default 5; 2-9)\n"
    "  --at-risk-gaps X      at risk after X of the customer's usual gaps (default 2)\n"
    "  --lapsed-gaps X       lapsed after X gaps (default 4)\n"
    "  --at-risk-min-days N  ... but never before N days (default 30)\n"
    "  --lapsed-min-days N   ... and N days for lapsed (default 90)\n"
    "  --new-days N          new: first order in the last N days (default 30)\n"
    "  --loyal-orders N      loyal: active with at least N orders (default 5)\n";

/* The settings: flag, JSON name (the flag's without "--", '-' as '_'), field, bounds. */
static const struct {
  const char *flag, *key;
  size_t off;
  double lo, hi;
} opts[] = {
    {"--rfm-bins", "rfm_bins", offsetof(cli_feature_settings, rfm_bins), 2, 9},
    {"--at-risk-gaps", "at_risk_gaps", offsetof(cli_feature_settings, at_risk_gaps), 0.1, 1000},
    {"--lapsed-gaps", "lapsed_gaps", offsetof(cli_feature_settings, lapsed_gaps), 0.1, 1000},
    {"--at-risk-min-days", "at_risk_min_days",
     offsetof(cli_feature_settings, at_risk_min_days), 0, 100000},
    {"--lapsed-min-days", "lapsed_min_days", offsetof(cli_feature_settings, lapsed_min_days), 0,
     100000},
    {"--new-days", "new_days", offsetof(cli_feature_settings, new_days), 0, 100000},
    {"--loyal-orders", "loyal_orders", offsetof(cli_feature_settings, loyal_orders), 1, 1000000},
};

static double *setting(cli_feature_settings *s, size_t k) {
  return (double *)((char *)s + opts[k].off);
}

char *cli_feature_settings_json(const cli_feature_settings *s) {
  json_t *o = json_object();
  for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
    double v = *setting((cli_feature_settings *)s, k);
    if (v >= 0)
      json_object_set_new(o, opts[k].key, v == floor(v) && v < 1e15 ? json_integer((json_int_t)v)
                                                                     : json_real(v));
  }
  char *text = json_object_size(o) ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(o);
  char *out = text ? rt_strdup(text) : NULL;
  free(text);
  return out;
}

int cli_feature_settings_parse(const char *json, cli_feature_settings *s) {
  cli_feature_settings_init(s);
  if (!json) return 0;
  json_t *o = json_loads(json, 0, NULL);
  int rc = json_is_object(o) ? 0 : -1;
  for (size_t k = 0; !rc && k < sizeof opts / sizeof opts[0]; k++) {
    json_t *v = json_object_get(o, opts[k].key);
    if (v && json_is_number(v)) *setting(s, k) = json_number_value(v);
  }
  json_decref(o);
  return rc;
}

int cli_feature_option(const char *cmd, int argc, char **argv, int *i, cli_feature_settings *s) {
  for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
    const char *v;
    int r = cli_value(argc, argv, i, opts[k].flag, &v);
    if (r == 0) continue;
    if (r < 0) return -1;
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= opts[k].lo && x <= opts[k].hi)) {
      cli_usage_error(cmd, "%s wants a number from %g to %g, not '%s'", opts[k].flag,
                      opts[k].lo, opts[k].hi, v);
      return -1;
    }
    *setting(s, k) = x;
    return 1;
  }
  return 0;
}

int cli_features_load(const cli_global *g, const char *cmd, const char *as_of, int writable,
                      cli_features *cf) {
  return cli_features_load_with(g, cmd, as_of, writable, NULL, cf);
}

int cli_features_load_with(const cli_global *g, const char *cmd, const char *as_of, int writable,
                           const cli_feature_settings *s, cli_features *cf) {
  memset(cf, 0, sizeof *cf);
  rt_error err = {0};
  int rc = cli_open_store(g, !writable, &cf->st);
  if (!rc) rc = cli_load_tz(g, cf->st, &cf->tz);
  /* the same model as report's (the store's currency setting, the snapshot) */
  if (!rc) rc = cli_load_model(g, NULL, NULL, cf->tz, &cf->model);
  if (!rc) rc = cli_judge(cmd, g, as_of, &cf->model);
  if (!rc) {
    rt_features_defaults(&cf->o, cf->model->as_of);
    if (s) {
      if (s->rfm_bins >= 0) cf->o.rfm_bins = (int)s->rfm_bins;
      if (s->at_risk_gaps >= 0) cf->o.at_risk_gaps = s->at_risk_gaps;
      if (s->lapsed_gaps >= 0) cf->o.lapsed_gaps = s->lapsed_gaps;
      if (s->at_risk_min_days >= 0) cf->o.at_risk_min_days = (int)s->at_risk_min_days;
      if (s->lapsed_min_days >= 0) cf->o.lapsed_min_days = (int)s->lapsed_min_days;
      if (s->new_days >= 0) cf->o.new_days = (int)s->new_days;
      if (s->loyal_orders >= 0) cf->o.loyal_orders = (int)s->loyal_orders;
    }
    if (rt_features_build(cf->model, cf->st, &cf->o, &cf->f, &err)) rc = cli_fail(&err);
  }
  if (rc) cli_features_free(cf);
  return rc;
}

void cli_features_free(cli_features *cf) {
  rt_features_free(cf->f);
  rt_model_free(cf->model);
  rt_tz_free(cf->tz);
  rt_store_close(cf->st);
  memset(cf, 0, sizeof *cf);
}

const char *cli_type_name(rt_value_type t) {
  switch (t) {
  case RT_TYPE_NUMBER: return "number";
  case RT_TYPE_DATE: return "date";
  case RT_TYPE_TEXT: return "text";
  case RT_TYPE_BOOL: return "bool";
  }
  return "?";
}

/* One customer's value of a column as text into buf ("" when missing). */
const char *cli_feature_value(const rt_column *c, size_t i, char *buf, size_t n) {
  buf[0] = 0;
  switch (c->type) {
  case RT_TYPE_NUMBER:
    if (!isnan(c->num[i])) {
      double v = c->num[i];
      if (v == floor(v) && fabs(v) < 1e15) snprintf(buf, n, "%.0f", v);
      else snprintf(buf, n, "%.2f", v);
    }
    break;
  case RT_TYPE_BOOL:
    if (!isnan(c->num[i])) snprintf(buf, n, "%s", c->num[i] != 0 ? "true" : "false");
    break;
  case RT_TYPE_DATE:
    if (c->day[i] != INT32_MIN) rt_day_format(c->day[i], buf, n);
    break;
  case RT_TYPE_TEXT:
    if (c->code[i] != UINT32_MAX) return c->dict[c->code[i]];
    break;
  }
  return buf;
}

static void features_help(void) {
  printf("Usage: retain [--db PATH] features [--customer ID] [--as-of DATE] [--format F]\n\n"
         "Lists every field a segment rule can use, with its type and meaning: order counts\n"
         "and amounts, recency and tenure, RFM scores and segment, lifecycle stage, value\n"
         "tier, the latest stored CLV and churn scores (when `clv predict --save` or `churn\n"
         "score --save` ran), and the attributes imported with the customers\n"
         "(attributes.KEY). With --customer, one customer's values.\n\n"
         "Options:\n"
         "  --customer ID  show this customer's values of every field\n"
         "  --as-of DATE   as of this day (default: $RETAIN_NOW, else today while the data\n"
         "                 is live, else its last day)\n"
         "  --format F     table (default), csv or json\n%s",
         cli_feature_options_help);
}

int cmd_features(const cli_global *g, int argc, char **argv) {
  const char *as_of = NULL, *customer = NULL;
  cli_format format = FMT_TABLE;
  cli_feature_settings fs;
  cli_feature_settings_init(&fs);
  for (int i = 1; i < argc; i++) {
    const char *v;
    int r;
    if (cli_is_help(argv[i])) {
      features_help();
      return CLI_OK;
    }
    if ((r = cli_feature_option("features", argc, argv, &i, &fs)) != 0) {
      if (r < 0) return CLI_USAGE;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--as-of", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      as_of = v;
    } else if ((r = cli_value(argc, argv, &i, "--customer", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      customer = v;
    } else if ((r = cli_value(argc, argv, &i, "--format", &v)) != 0) {
      if (r < 0 || cli_parse_format("features", v, &format)) return CLI_USAGE;
    } else {
      return cli_usage_error("features", "unknown argument '%s'", argv[i]);
    }
  }
  cli_features cf;
  int rc = cli_features_load_with(g, "features", as_of, 0, &fs, &cf);
  if (rc) return rc;
  const rt_features *f = cf.f;
  size_t who = SIZE_MAX;
  if (customer) {
    for (size_t i = 0; i < f->n && who == SIZE_MAX; i++)
      if (!strcmp(rt_model_ext_id(f->model, i), customer)) who = i;
    if (who == SIZE_MAX) {
      fprintf(stderr, "retain: no customer '%s' in the store\n", customer);
      cli_features_free(&cf);
      return CLI_FAIL;
    }
  }
  char buf[64];
  if (format == FMT_CSV) cli_as_of_note(g, cf.model);
  if (format == FMT_JSON) {
    json_t *arr = json_array();
    for (size_t k = 0; k < f->ncols; k++) {
      const rt_column *c = &f->cols[k];
      json_t *o = json_object();
      json_object_set_new(o, "name", json_string(c->name));
      json_object_set_new(o, "type", json_string(cli_type_name(c->type)));
      json_object_set_new(o, "about", json_string(c->about ? c->about : ""));
      if (who != SIZE_MAX) {
        const char *s = cli_feature_value(c, who, buf, sizeof buf);
        json_object_set_new(o, "value", *s ? json_string(s) : json_null());
      }
      json_array_append_new(arr, o);
    }
    json_t *root = json_object();
    cli_as_of_json(cf.model, root);
    if (who != SIZE_MAX) json_object_set_new(root, "customer_id", json_string(customer));
    json_object_set_new(root, "fields", arr);
    json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    printf("\n");
    json_decref(root);
  } else if (format == FMT_CSV) {
    printf(who != SIZE_MAX ? "name,type,about,value\n" : "name,type,about\n");
    for (size_t k = 0; k < f->ncols; k++) {
      const rt_column *c = &f->cols[k];
      cli_csv_field(stdout, c->name); /* attributes' names come from the data */
      printf(",%s,", cli_type_name(c->type));
      cli_csv_field(stdout, c->about ? c->about : "");
      if (who != SIZE_MAX) {
        putchar(',');
        cli_csv_feature(stdout, c, who);
      }
      putchar('\n');
    }
  } else {
    char asof[64];
    printf("%s as of %s\n\n", who != SIZE_MAX ? "Features of the customer" : "Features",
           cli_as_of_text(cf.model, asof, sizeof asof));
    cli_table t;
    cli_table_init(&t, 3);
    t.left = 1u << 1 | 1u << 2;
    cli_table_row(&t, (const char *[]){"field", "type", who != SIZE_MAX ? "value" : "meaning"});
    for (size_t k = 0; k < f->ncols; k++) {
      const rt_column *c = &f->cols[k];
      const char *third = who != SIZE_MAX ? cli_feature_value(c, who, buf, sizeof buf)
                                          : (c->about ? c->about : "");
      cli_table_row(&t, (const char *[]){c->name, cli_type_name(c->type), third});
    }
    cli_table_print(&t, stdout);
    cli_table_free(&t);
  }
  cli_features_free(&cf);
  return CLI_OK;
}

/* ---- rfm and lifecycle: customers per named group, or each customer's ---- */

typedef struct group_stats {
  int64_t customers, with_recency;
  double revenue, orders, recency;
} group_stats;

static int print_groups(const cli_global *g, const cli_features *cf, const char *column,
                        const char *title, cli_format format, int per_customer) {
  const rt_features *f = cf->f;
  const rt_column *c = rt_features_find(f, column);
  const rt_column *rev = rt_features_find(f, "net_revenue"), *ord = rt_features_find(f, "orders");
  const rt_column *rec = rt_features_find(f, "days_since_last_order");
  if (!c || !rev || !ord || !rec) return CLI_FAIL;
  if (format == FMT_CSV || per_customer) cli_as_of_note(g, cf->model);
  if (per_customer) {
    static const char *const extra[] = {"recency_score", "frequency_score", "monetary_score",
                                        "orders", "net_revenue", "days_since_last_order"};
    fputs("customer_id,", stdout);
    cli_csv_field(stdout, column);
    int rfm = !strcmp(column, "rfm_segment");
    for (int k = rfm ? 0 : 3; k < 6; k++) printf(",%s", extra[k]);
    putchar('\n');
    char buf[64];
    for (size_t i = 0; i < f->n; i++) {
      cli_csv_field(stdout, rt_model_ext_id(f->model, i));
      putchar(',');
      cli_csv_feature(stdout, c, i);
      for (int k = rfm ? 0 : 3; k < 6; k++)
        printf(",%s", cli_feature_value(rt_features_find(f, extra[k]), i, buf, sizeof buf));
      putchar('\n');
    }
    return CLI_OK;
  }
  size_t ng = c->ndict;
  group_stats *gs = calloc(ng + 1, sizeof *gs); /* [ng]: none */
  if (!gs) return CLI_FAIL;
  for (size_t i = 0; i < f->n; i++) {
    size_t k = c->code[i] == UINT32_MAX ? ng : c->code[i];
    gs[k].customers++;
    gs[k].revenue += rev->num[i];
    gs[k].orders += ord->num[i];
    if (!isnan(rec->num[i])) {
      gs[k].recency += rec->num[i];
      gs[k].with_recency++;
    }
  }
  /* shares of those in a group: every buyer for RFM, every profile for the lifecycle */
  int64_t grouped = (int64_t)f->n - gs[ng].customers;
  json_t *arr = format == FMT_JSON ? json_array() : NULL;
  cli_table t;
  cli_table_init(&t, 6);
  if (format == FMT_CSV) {
    cli_csv_field(stdout, column);
    fputs(",customers,share,avg_orders,avg_net_revenue,avg_days_since_last_order\n", stdout);
  }
  else if (format == FMT_TABLE) {
    char nb[32], np[32], asof[64];
    printf("%s · %s customers (with a purchase) of %s profiles · as of %s\n\n", title,
           cli_count((int64_t)rt_model_buyers(f->model), nb, sizeof nb),
           cli_count((int64_t)f->n, np, sizeof np), cli_as_of_text(cf->model, asof, sizeof asof));
    cli_table_row(&t, (const char *[]){column, "customers", "share", "avg orders",
                                       "avg net revenue", "avg days since last order"});
  }
  for (size_t k = 0; k < ng; k++) {
    const group_stats *s = &gs[k];
    double share = grouped ? (double)s->customers / (double)grouped : 0;
    double ao = s->customers ? s->orders / (double)s->customers : 0;
    double ar = s->customers ? s->revenue / (double)s->customers : 0;
    double ad = s->with_recency ? s->recency / (double)s->with_recency : NAN;
    if (format == FMT_JSON) {
      json_t *o = json_object();
      json_object_set_new(o, column, json_string(c->dict[k]));
      json_object_set_new(o, "customers", json_integer(s->customers));
      json_object_set_new(o, "share", json_real(share));
      json_object_set_new(o, "avg_orders", json_real(ao));
      json_object_set_new(o, "avg_net_revenue", json_real(ar));
      json_object_set_new(o, "avg_days_since_last_order", isnan(ad) ? json_null() : json_real(ad));
      json_array_append_new(arr, o);
    } else if (format == FMT_CSV) {
      cli_csv_field(stdout, c->dict[k]);
      printf(",%lld,%.6f,%.4f,%.2f,", (long long)s->customers, share, ao, ar);
      if (!isnan(ad)) printf("%.1f", ad);
      putchar('\n');
    } else {
      char n1[32], n2[32], n3[32], n4[32], n5[32];
      cli_count(s->customers, n1, sizeof n1);
      snprintf(n2, sizeof n2, "%.1f%%", 100 * share);
      snprintf(n3, sizeof n3, "%.2f", ao);
      cli_money_human(llround(ar * pow(10, f->model->currency_exp)), f->model->currency_exp, n4,
                      sizeof n4);
      if (isnan(ad)) snprintf(n5, sizeof n5, "–");
      else snprintf(n5, sizeof n5, "%.0f", ad);
      cli_table_row(&t, (const char *[]){c->dict[k], n1, n2, n3, n4, n5});
    }
  }
  if (format == FMT_JSON) {
    json_t *root = json_object();
    cli_as_of_json(cf->model, root);
    json_object_set_new(root, "customers", json_integer((json_int_t)rt_model_buyers(f->model)));
    json_object_set_new(root, "profiles", json_integer((json_int_t)f->n));
    json_object_set_new(root, "groups", arr);
    json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
    printf("\n");
    json_decref(root);
  } else if (format == FMT_TABLE) {
    cli_table_print(&t, stdout);
    if (gs[ng].customers)
      printf("\n%lld profiles without a purchase have no %s.\n", (long long)gs[ng].customers,
             column);
  }
  cli_table_free(&t);
  free(gs);
  return CLI_OK;
}

static int groups_cmd(const cli_global *g, int argc, char **argv, const char *column,
                      const char *title, void (*help)(void)) {
  const char *as_of = NULL;
  cli_format format = FMT_TABLE;
  int per_customer = 0;
  cli_feature_settings fs;
  cli_feature_settings_init(&fs);
  for (int i = 1; i < argc; i++) {
    const char *v;
    int r;
    if (cli_is_help(argv[i])) {
      help();
      return CLI_OK;
    }
    int fr = cli_feature_option(argv[0], argc, argv, &i, &fs);
    if (fr < 0) return CLI_USAGE;
    if (fr > 0) continue;
    if (cli_flag(argv, i, "--customers")) {
      per_customer = 1;
    } else if ((r = cli_value(argc, argv, &i, "--as-of", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      as_of = v;
    } else if ((r = cli_value(argc, argv, &i, "--format", &v)) != 0) {
      if (r < 0 || cli_parse_format(argv[0], v, &format)) return CLI_USAGE;
    } else {
      return cli_usage_error(argv[0], "unknown argument '%s'", argv[i]);
    }
  }
  cli_features cf;
  int rc = cli_features_load_with(g, argv[0], as_of, 0, &fs, &cf);
  if (rc) return rc;
  rc = print_groups(g, &cf, column, title, format, per_customer);
  cli_features_free(&cf);
  return rc;
}

static void rfm_help(void) {
  printf("Usage: retain [--db PATH] rfm [--customers] [--as-of DATE] [--format F]\n\n"
         "Recency, frequency and monetary scores 1-5 (mid-rank quintiles of days since the\n"
         "last purchase, purchases and net revenue, among customers with a purchase) and the\n"
         "named RFM segments\n"
         "(champions, loyal, potential loyalists, new, promising, need attention, about to\n"
         "sleep, at risk, cannot lose them, hibernating, lost; rules in docs/SEGMENTS.md).\n\n"
         "Options:\n"
         "  --customers    one CSV row per customer with its scores and segment\n"
         "  --as-of DATE   as of this day (default: $RETAIN_NOW, else today while the data\n"
         "                 is live, else its last day)\n"
         "  --format F     table (default), csv or json\n%s",
         cli_feature_options_help);
}

static void lifecycle_help(void) {
  printf("Usage: retain [--db PATH] lifecycle [--customers] [--as-of DATE] [--format F]\n\n"
         "Every customer's lifecycle stage: prospect (no order yet), new, first-time buyer,\n"
         "active, loyal, at risk, lapsed, won back. The at-risk and lapsed windows follow each\n"
         "customer's own rhythm (2 and 4 of its usual gaps between orders, at least 30 and 90\n"
         "days); definitions in docs/SEGMENTS.md.\n\n"
         "Options:\n"
         "  --customers    one CSV row per customer with its stage\n"
         "  --as-of DATE   as of this day (default: $RETAIN_NOW, else today while the data\n"
         "                 is live, else its last day)\n"
         "  --format F     table (default), csv or json\n%s",
         cli_feature_options_help);
}

int cmd_rfm(const cli_global *g, int argc, char **argv) {
  return groups_cmd(g, argc, argv, "rfm_segment", "RFM segments", rfm_help);
}

int cmd_lifecycle(const cli_global *g, int argc, char **argv) {
  return groups_cmd(g, argc, argv, "lifecycle_stage", "Lifecycle stages", lifecycle_help);
}
