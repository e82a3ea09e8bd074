/* cmd_subscription.c - `retain subscription fit`: the shifted-beta-geometric retention model
 * (include/retain/clv.h) from a survival table given on the command line, or from the store's
 * subscriptions. Prints the estimates and the survival curve, observed and projected, with
 * each period's retention rate, expected remaining renewals and discounted residual value. */
#include "cli/cli.h"

#include <retain/clv.h>

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void help(void) {
  printf("Usage: retain [--db PATH] subscription fit [options]\n\n"
         "Subscription retention with the shifted-beta-geometric model (Fader & Hardie 2007):\n"
         "each subscriber cancels at the end of a period with its own probability, spread over\n"
         "subscribers as Beta(alpha, beta). Fitted on a survival table, or on the store's\n"
         "subscriptions (each one's periods paid, cancelled or still active).\n\n"
         "Options:\n"
         "  --survival N0,N1,..  subscribers at the start of periods 0, 1, 2, ... of a cohort\n"
         "                       (e.g. 1000,631,468,382); without it, the store's subscriptions\n"
         "  --period P           the store's subscriptions: day, week, month (default), quarter\n"
         "                       or year as the period length\n"
         "  --horizon N          periods to project past the table (default 5), or periods\n"
         "                       shown for the store's subscriptions (default 12)\n"
         "  --discount D         discount rate per period for the residual value (default 0.1)\n"
         "  --format F           table (default), csv or json\n");
}

static int parse_survival(const char *s, double **out, int *n) {
  int cap = 16, k = 0;
  double *v = malloc((size_t)cap * sizeof *v);
  const char *p = s;
  while (v && *p) {
    char *end;
    double x = strtod(p, &end);
    if (end == p || !(x >= 0)) break;
    if (k == cap) {
      double *w = realloc(v, (size_t)(cap *= 2) * sizeof *v);
      if (!w) break;
      v = w;
    }
    v[k++] = x;
    p = end;
    if (*p == ',') p++;
    else if (*p) break;
  }
  if (!v || *p || k < 2) {
    free(v);
    return -1;
  }
  *out = v;
  *n = k;
  return 0;
}

static double period_days(rt_period_unit u) {
  switch (u) {
  case RT_PERIOD_DAY: return 1;
  case RT_PERIOD_WEEK: return 7;
  case RT_PERIOD_QUARTER: return 365.25 / 4;
  case RT_PERIOD_YEAR: return 365.25;
  default: return 365.25 / 12;
  }
}

/* The store's subscriptions as tenures: payments at the start day and every period after,
 * up to the cancellation (or the as-of day for an active one). */
static int tenures(const rt_model *m, double len, int32_t **paid, uint8_t **ended, size_t *n) {
  *paid = malloc((m->nsubs ? m->nsubs : 1) * sizeof **paid);
  *ended = malloc(m->nsubs ? m->nsubs : 1);
  if (!*paid || !*ended) return -1;
  size_t k = 0;
  for (size_t i = 0; i < m->nsubs; i++) {
    int32_t d0 = m->sub_first_day[i], d1 = m->sub_end_day[i];
    int active = d1 == INT32_MAX || d1 > m->as_of;
    double end = active ? (double)m->as_of + 1 : (double)d1;
    if (end <= d0) continue;
    (*paid)[k] = (int32_t)ceil((end - d0) / len);
    (*ended)[k] = !active;
    k++;
  }
  *n = k;
  return 0;
}

int cmd_subscription(const cli_global *g, int argc, char **argv) {
  if (argc < 2 || cli_is_help(argv[1])) {
    help();
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  if (strcmp(argv[1], "fit"))
    return cli_usage_error("subscription", "unknown subcommand '%s' (expected fit)", argv[1]);
  const char *surv_s = NULL;
  rt_period_unit unit = RT_PERIOD_MONTH;
  int64_t horizon = -1; /* 5 past a table, 12 periods from the store */
  double discount = 0.1;
  char asof[64] = "", asof_day[16] = ""; /* from the store: the day the subscriptions are judged at */
  cli_format format = FMT_TABLE;
  for (int i = 2; i < argc; i++) {
    const char *v;
    int r;
    if (cli_is_help(argv[i])) {
      help();
      return CLI_OK;
    }
    if ((r = cli_value(argc, argv, &i, "--survival", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      surv_s = v;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--period", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      if (rt_period_unit_parse(v, &unit))
        return cli_usage_error("subscription", "--period wants day, week, month, quarter or "
                                               "year, not '%s'", v);
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--horizon", &v)) != 0) {
      if (r < 0 || cli_parse_int("subscription", "--horizon", v, 0, 1000, &horizon))
        return CLI_USAGE;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--discount", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      char *end;
      discount = strtod(v, &end);
      if (end == v || *end || !(discount >= 0) || discount >= 10)
        return cli_usage_error("subscription", "--discount wants a rate per period like 0.1, "
                                               "not '%s'", v);
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--format", &v)) != 0) {
      if (r < 0 || cli_parse_format("subscription", v, &format)) return CLI_USAGE;
      continue;
    }
    return cli_usage_error("subscription", "unknown argument '%s'", argv[i]);
  }
  double *alive = NULL;
  int nobs = 0;
  rt_sbg m;
  rt_error err = {0};
  int rc = CLI_OK;
  size_t nsubs = 0;
  if (surv_s) {
    if (parse_survival(surv_s, &alive, &nobs))
      return cli_usage_error("subscription", "--survival wants at least two counts separated "
                                             "by commas, like 1000,631,468");
    if (rt_sbg_fit(alive, nobs, &m, &err)) rc = cli_fail(&err);
  } else {
    rt_model *model = NULL;
    rt_tz *tz = NULL;
    int32_t *paid = NULL;
    uint8_t *ended = NULL;
    rt_store *st = NULL;
    if ((rc = cli_open_store(g, 1, &st)) == 0 && (rc = cli_load_tz(g, st, &tz)) == 0) {
      rt_store_close(st);
      st = NULL;
      rc = cli_load_model(g, NULL, NULL, tz, &model);
      if (!rc) rc = cli_judge("subscription", g, NULL, &model);
      if (!rc) {
        cli_as_of_text(model, asof, sizeof asof);
        rt_day_format(model->as_of, asof_day, sizeof asof_day);
      }
    }
    rt_store_close(st);
    if (!rc && tenures(model, period_days(unit), &paid, &ended, &nsubs)) {
      fprintf(stderr, "retain: out of memory\n");
      rc = CLI_FAIL;
    }
    if (!rc && rt_sbg_fit_tenures(paid, ended, nsubs, &m, &err)) rc = cli_fail(&err);
    free(paid);
    free(ended);
    rt_model_free(model);
    rt_tz_free(tz);
  }
  if (rc) {
    free(alive);
    return rc;
  }
  if (horizon < 0) horizon = surv_s ? 5 : 12;
  int last = (nobs ? nobs - 1 : 0) + (int)horizon;
  double base = nobs ? alive[0] : 1;
  const char *unit_name = surv_s ? "as in the table" : rt_period_unit_name(unit);
  if (format == FMT_JSON) {
    json_t *root = json_object();
    json_object_set_new(root, "model", json_string("sbg"));
    if (asof_day[0]) json_object_set_new(root, "as_of", json_string(asof_day));
    json_object_set_new(root, "alpha", json_real(m.alpha));
    json_object_set_new(root, "beta", json_real(m.beta));
    json_object_set_new(root, "loglik", json_real(m.info.loglik));
    json_object_set_new(root, "converged", json_boolean(m.info.converged));
    json_object_set_new(root, "subscribers", json_integer((json_int_t)m.info.n));
    json_object_set_new(root, "period", json_string(unit_name));
    json_t *curve = json_array();
    for (int t = 0; t <= last; t++) {
      json_t *o = json_object();
      json_object_set_new(o, "period", json_integer(t));
      if (t < nobs) json_object_set_new(o, "observed", json_real(alive[t]));
      json_object_set_new(o, "fitted", json_real(base * rt_sbg_survival(&m, t)));
      double rem = rt_sbg_expected_remaining(&m, t);
      json_object_set_new(o, "expected_remaining", isinf(rem) ? json_null() : json_real(rem));
      json_object_set_new(o, "derl", json_real(rt_sbg_derl(&m, t, discount)));
      json_array_append_new(curve, o);
    }
    json_object_set_new(root, "curve", curve);
    json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    printf("\n");
    json_decref(root);
  } else if (format == FMT_CSV) {
    printf("period,observed,fitted,retention_rate,expected_remaining,derl\n");
    for (int t = 0; t <= last; t++) {
      double rem = rt_sbg_expected_remaining(&m, t);
      printf("%d,", t);
      if (t < nobs) printf("%.10g", alive[t]);
      printf(",%.6f,", base * rt_sbg_survival(&m, t));
      if (t > 0) printf("%.6f", rt_sbg_survival(&m, t) / rt_sbg_survival(&m, t - 1));
      printf(",");
      if (!isinf(rem)) printf("%.6f", rem);
      printf(",%.6f\n", rt_sbg_derl(&m, t, discount));
    }
  } else {
    char n1[32];
    printf("Shifted-beta-geometric retention · %s subscribers · period: %s%s%s\n",
           cli_count((int64_t)m.info.n, n1, sizeof n1), unit_name, asof[0] ? " · as of " : "",
           asof);
    printf("  alpha = %.4f   beta = %.4f   (mean churn probability %.1f%%)\n", m.alpha, m.beta,
           100 * m.alpha / (m.alpha + m.beta));
    printf("  log-likelihood %.2f · %s\n\n", m.info.loglik,
           m.info.converged ? "converged" : "NOT converged");
    cli_table tb;
    cli_table_init(&tb, 6);
    const char *head[] = {"period", "observed", "fitted", "retention", "remaining", "DERL"};
    cli_table_row(&tb, head);
    for (int t = 0; t <= last; t++) {
      char c[6][32];
      double rem = rt_sbg_expected_remaining(&m, t);
      snprintf(c[0], 32, "%d%s", t, t >= nobs && nobs ? " (projected)" : "");
      snprintf(c[1], 32, "%s", "");
      if (t < nobs) snprintf(c[1], 32, "%.0f", alive[t]);
      snprintf(c[2], 32, nobs ? "%.1f" : "%.4f", base * rt_sbg_survival(&m, t));
      snprintf(c[3], 32, "%s", t ? "" : "-");
      if (t) snprintf(c[3], 32, "%.1f%%", 100 * rt_sbg_survival(&m, t) / rt_sbg_survival(&m, t - 1));
      snprintf(c[4], 32, isinf(rem) ? "unbounded" : "%.2f", rem);
      snprintf(c[5], 32, "%.2f", rt_sbg_derl(&m, t, discount));
      const char *row[6] = {c[0], c[1], c[2], c[3], c[4], c[5]};
      cli_table_row(&tb, row);
    }
    cli_table_print(&tb, stdout);
    cli_table_free(&tb);
    printf("\nretention: of those at the start of the period before; remaining: expected further\n"
           "renewals of a subscriber who has renewed that many times; DERL: the value of those\n"
           "renewals per unit of price, discounted at %.3g per period.\n", discount);
  }
  free(alive);
  return rc;
}
