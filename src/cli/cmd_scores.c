/* cmd_scores.c - `retain scores`: the customer scores a model run stored (clv predict --save,
 * churn score --save: with each customer's value and value at risk), as CSV or JSON, for
 * export: the latest run by default, or of a kind, or by id. */
#include "cli/cli.h"

#include <retain/alloc.h>
#include <retain/churn.h>

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void help(void) {
  printf("Usage: retain [--db PATH] scores [--run N | --kind K] [--format csv|json]\n\n"
         "Exports the scores a model run stored in the store (`retain clv predict --save`,\n"
         "`retain churn score --save`): one row per customer; a churn run's rows have the\n"
         "value the risk was weighed with and the value at risk. The run is printed on stderr\n"
         "(kind, time, customers, parameters).\n\n"
         "Options:\n"
         "  --run N        that run (default: the latest)\n"
         "  --kind K       the latest run of a kind: mbgnbd, bgnbd, pareto or churn\n"
         "  --format F     csv (default) or json\n");
}

typedef struct out_ctx {
  int churn, json;
  json_t *arr;
  int exp;      /* churn: the minor-unit exponent of the run's currency */
  double scale; /* 10^exp */
} out_ctx;

/* A churn run keeps each customer's value (what `churn score` multiplied the risk by) in the
 * predicted_clv column; RT_CHURN_NO_VALUE when it had none. */
static int64_t churn_value(const out_ctx *o, const rt_score_rec *r) {
  return isnan(r->predicted_clv) ? RT_CHURN_NO_VALUE : llround(r->predicted_clv * o->scale);
}

static void num(double v, int dec) {
  if (!isnan(v)) printf("%.*f", dec, v);
}

static int on_score(void *ctx, const char *ext_id, const rt_score_rec *r) {
  out_ctx *o = ctx;
  if (o->json) {
    json_t *j = json_object();
    json_object_set_new(j, "customer_id", json_string(ext_id ? ext_id : ""));
    if (o->churn) {
      json_object_set_new(j, "churn_probability", isnan(r->churn_probability)
                                                      ? json_null()
                                                      : json_real(r->churn_probability));
      int64_t v = churn_value(o, r), var = rt_churn_value_at_risk(r->churn_probability, v);
      json_object_set_new(j, "value", v == RT_CHURN_NO_VALUE ? json_null()
                                                             : json_real((double)v / o->scale));
      json_object_set_new(j, "value_at_risk", var == RT_CHURN_NO_VALUE
                                                  ? json_null()
                                                  : json_real((double)var / o->scale));
      json_object_set_new(j, "reasons", r->reasons ? json_string(r->reasons) : json_null());
    } else {
      json_object_set_new(j, "p_alive", isnan(r->p_alive) ? json_null() : json_real(r->p_alive));
      json_object_set_new(j, "expected_purchases", isnan(r->expected_purchases)
                                                       ? json_null()
                                                       : json_real(r->expected_purchases));
      json_object_set_new(j, "predicted_clv", isnan(r->predicted_clv)
                                                  ? json_null()
                                                  : json_real(r->predicted_clv));
      json_object_set_new(j, "expected_next_order", r->expected_next_order
                                                        ? json_string(r->expected_next_order)
                                                        : json_null());
    }
    json_array_append_new(o->arr, j);
    return 0;
  }
  cli_csv_field(stdout, ext_id ? ext_id : "");
  if (o->churn) {
    putchar(',');
    num(r->churn_probability, 6);
    int64_t v = churn_value(o, r), var = rt_churn_value_at_risk(r->churn_probability, v);
    char a[48];
    printf(",%s", v == RT_CHURN_NO_VALUE ? "" : cli_money(v, o->exp, a, sizeof a));
    printf(",%s,", var == RT_CHURN_NO_VALUE ? "" : cli_money(var, o->exp, a, sizeof a));
    cli_csv_field(stdout, r->reasons ? r->reasons : "");
  } else {
    putchar(',');
    num(r->p_alive, 6);
    putchar(',');
    num(r->expected_purchases, 6);
    putchar(',');
    num(r->predicted_clv, 2);
    printf(",%s", r->expected_next_order ? r->expected_next_order : "");
  }
  putchar('\n');
  return 0;
}

int cmd_scores(const cli_global *g, int argc, char **argv) {
  int64_t run = 0;
  const char *kind = NULL;
  cli_format format = FMT_CSV;
  for (int i = 1; i < argc; i++) {
    const char *v;
    int r;
    if (cli_is_help(argv[i])) {
      help();
      return CLI_OK;
    }
    if ((r = cli_value(argc, argv, &i, "--run", &v)) != 0) {
      if (r < 0 || cli_parse_int("scores", "--run", v, 1, INT64_MAX, &run)) return CLI_USAGE;
    } else if ((r = cli_value(argc, argv, &i, "--kind", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      if (strcmp(v, "mbgnbd") && strcmp(v, "bgnbd") && strcmp(v, "pareto") && strcmp(v, "churn"))
        return cli_usage_error("scores", "--kind wants mbgnbd, bgnbd, pareto or churn, not '%s'",
                               v);
      kind = v;
    } else if ((r = cli_value(argc, argv, &i, "--format", &v)) != 0) {
      if (r < 0 || cli_parse_format("scores", v, &format)) return CLI_USAGE;
      if (format == FMT_TABLE) format = FMT_CSV;
    } else {
      return cli_usage_error("scores", "unknown argument '%s'", argv[i]);
    }
  }
  rt_store *st = NULL;
  rt_error err = {0};
  int rc = cli_open_store(g, 1, &st);
  if (rc) return rc;
  rt_score_run info;
  if (rt_store_score_run_get(st, run, kind, &info, &err)) {
    rt_store_close(st);
    return cli_fail(&err);
  }
  char when[48];
  rt_time_format(NULL, info.created_ms, when, sizeof when); /* ISO 8601, UTC */
  if (!g->quiet)
    fprintf(stderr, "retain: run %lld · %s · %s · %lld customers · %s\n", (long long)info.id,
            info.kind, when, (long long)info.customers, info.params);
  out_ctx o = {.churn = !strcmp(info.kind, "churn"), .json = format == FMT_JSON, .exp = 2};
  if (o.churn) { /* the run's currency (older runs have none: 2 decimals) */
    json_t *params = json_loads(info.params, 0, NULL);
    const char *cur = json_string_value(json_object_get(params, "currency"));
    if (cur) o.exp = rt_currency_exponent(cur);
    json_decref(params);
  }
  o.scale = pow(10.0, o.exp);
  if (o.json) o.arr = json_array();
  else if (o.churn) printf("customer_id,churn_probability,value,value_at_risk,reasons\n");
  else printf("customer_id,p_alive,expected_purchases,predicted_clv,expected_next_order\n");
  if (rt_store_scan_scores(st, info.id, on_score, &o, &err)) rc = cli_fail(&err);
  if (!rc && o.json) {
    json_t *root = json_object();
    json_object_set_new(root, "run", json_integer(info.id));
    json_object_set_new(root, "kind", json_string(info.kind));
    json_object_set_new(root, "created", json_string(when));
    json_t *params = json_loads(info.params, 0, NULL);
    json_object_set_new(root, "params", params ? params : json_null());
    json_object_set_new(root, "scores", o.arr);
    o.arr = NULL;
    json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
    printf("\n");
    json_decref(root);
  }
  json_decref(o.arr);
  rt_free(info.kind);
  rt_free(info.params);
  rt_store_close(st);
  return rc;
}
