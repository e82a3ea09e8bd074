/* cmd_churn.c - `retain churn`: a churn model trained on the customer history, every customer's
 * risk beside their value and the value at risk with the main reasons (direction and size),
 * one customer explained, and cross-validated classifiers on a labelled table
 * (include/retain/churn.h). */
#include "cli/cli.h"

#include <retain/churn.h>

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void help(void) {
  printf("Usage: retain [--db PATH] churn train|score|explain ID|cv [options]\n\n"
         "Who is about to leave, what it would cost, and why. train: features of every\n"
         "customer in play at a cutoff (a horizon before the as-of day) from their orders,\n"
         "refunds, subscriptions, events and attributes, labelled churned when they did not\n"
         "order (nor keep a subscription) within the horizon after it; gradient-boosted trees\n"
         "(XGBoost) are trained, tested on a held-out fifth (AUC, PR-AUC, top-decile lift,\n"
         "calibration, against a logistic baseline) and saved next to the store.\n"
         "score: every customer's churn probability now (the risk), their value and the value\n"
         "at risk (risk x value), with the three largest reasons, each with its direction and\n"
         "size in points of probability (+ raises the risk, - lowers it). explain ID: one\n"
         "customer's risk, value and every reason, those raising and those lowering the risk.\n\n"
         "The value is the predicted CLV of the latest stored CLV run (`retain clv predict\n"
         "--save`), else the customer's net revenue over the 365 days up to the as-of day; the\n"
         "output says which. The list is sorted by value at risk: the customers whose loss would\n"
         "cost the most come first, not the many small one-time buyers who are likely to go.\n\n"
         "Options of train, score and explain:\n"
         "  --horizon H        the churn window, like 90d (default), 12w or 3m\n"
         "  --cutoff DATE      train: the features' date (default: the horizon before the\n"
         "                     as-of day); score, explain: the day scored (default: the as-of\n"
         "                     day: --as-of, $RETAIN_NOW, else today while the data is live,\n"
         "                     else its last day)\n"
         "  --model PATH       the model file (default: the store's path + .churn.json)\n"
         "  --top N            score: the first N as a table (default: all, as CSV)\n"
         "  --sort S           score: value-at-risk (default), risk or value\n"
         "  --value V          score, explain: auto (default: the CLV run if there is one),\n"
         "                     clv or revenue\n"
         "  --save             score: also store every score as a model run (tables\n"
         "                     model_runs and customer_scores: the value as predicted_clv)\n"
         "  --active-days N    customers in play: an order within N days (default 365) or a\n"
         "                     running subscription; 0 takes every customer with an order\n"
         "  --seed N           train: the held-out fifth (default 1)\n"
         "  --orders FILE, --format F, --timezone TZ and the import options, as for report\n\n"
         "cv --table FILE --label COL cross-validates classifiers on a labelled customer table\n"
         "(a CSV file, one row per customer): numeric columns are used as they are, text\n"
         "columns as one 0/1 column per value, blank cells as missing values; the label is\n"
         "yes/no, 1/0 or true/false.\n\n"
         "Options of cv:\n"
         "  --table FILE       the table (required)\n"
         "  --label COL        the churn column (required)\n"
         "  --id COL           the customer id column (left out of the features)\n"
         "  --folds K          stratified folds, 2-%d (default 5)\n"
         "  --seed N           the folds' shuffle (default 1)\n"
         "  --model M          xgboost (default), logistic, or both\n"
         "  --format F         table (default) or json\n",
         RT_CV_MAX_FOLDS);
}

/* ---- train / score / explain on the customer history ---- */

typedef struct hist_args {
  cli_analysis a;
  int horizon;           /* days */
  const char *cutoff_s;
  const char *model_path; /* default: <store>.churn.json */
  const char *customer;   /* explain */
  int64_t seed, top, active;
  int save; /* score --save */
  rt_churn_sort sort;
  rt_churn_value_kind value;
  char path_buf[4200];
} hist_args;

static const char *const sort_names[] = {"value-at-risk", "risk", "value"};

/* What score and explain print from: the rows, their predictions and values. */
typedef struct scored {
  const hist_args *h;
  const rt_model *m;
  const rt_ctable *t;
  const uint32_t *cust;
  const double *prob;
  const float *contrib;
  rt_churn_explainer *ex;
  rt_churn_values val;
  double baseline;
  char as_of[16];
  char value_desc[320]; /* what the value is, in words */
} scored;

static const float *contrib_of(const scored *s, size_t i) {
  return s->contrib + i * (s->t->ncols + 1);
}

/* An amount for a table (separators) or CSV and JSON (plain); "" without a value. */
static const char *amount(const scored *s, int64_t minor, int human, char *buf, size_t n) {
  if (minor == RT_CHURN_NO_VALUE) {
    buf[0] = 0;
    return buf;
  }
  return human ? cli_money_human(minor, s->m->currency_exp, buf, n)
               : cli_money(minor, s->m->currency_exp, buf, n);
}

static json_t *amount_json(const scored *s, int64_t minor) {
  return minor == RT_CHURN_NO_VALUE ? json_null()
                                    : json_real((double)minor / pow(10.0, s->m->currency_exp));
}

static void describe_value(scored *s) {
  const rt_churn_values *v = &s->val;
  if (v->kind == RT_CHURN_VALUE_CLV) {
    int n = snprintf(s->value_desc, sizeof s->value_desc,
                     "predicted CLV over %.0f days (CLV run %lld, %s, until %s)",
                     v->clv_horizon_days, (long long)v->clv_run, v->clv_model, v->clv_until);
    if (v->missing && n > 0 && (size_t)n < sizeof s->value_desc)
      snprintf(s->value_desc + n, sizeof s->value_desc - (size_t)n,
               "; %zu customer%s in play ha%s no value in that run", v->missing,
               v->missing == 1 ? "" : "s", v->missing == 1 ? "s" : "ve");
  } else {
    char from[16];
    rt_day_format(v->first_day, from, sizeof from);
    snprintf(s->value_desc, sizeof s->value_desc,
             "net revenue %s to %s (orders minus refunds, the last %d days)%s", from, s->as_of,
             RT_CHURN_VALUE_DAYS,
             s->h->value == RT_CHURN_VALUE_REVENUE
                 ? ""
                 : "; no stored CLV run (`retain clv predict --save` stores one)");
  }
}

static json_t *value_source_json(const scored *s) {
  const rt_churn_values *v = &s->val;
  json_t *o = json_object();
  if (v->kind == RT_CHURN_VALUE_CLV) {
    json_object_set_new(o, "kind", json_string("clv"));
    json_object_set_new(o, "run", json_integer(v->clv_run));
    json_object_set_new(o, "model", json_string(v->clv_model));
    json_object_set_new(o, "until", json_string(v->clv_until));
    json_object_set_new(o, "horizon_days", isnan(v->clv_horizon_days)
                                               ? json_null()
                                               : json_real(v->clv_horizon_days));
    json_object_set_new(o, "customers_without_value", json_integer((json_int_t)v->missing));
  } else {
    char from[16];
    rt_day_format(v->first_day, from, sizeof from);
    json_object_set_new(o, "kind", json_string("net_revenue"));
    json_object_set_new(o, "days", json_integer(RT_CHURN_VALUE_DAYS));
    json_object_set_new(o, "from", json_string(from));
    json_object_set_new(o, "to", json_string(s->as_of));
  }
  json_object_set_new(o, "description", json_string(s->value_desc));
  return o;
}

static double round_to(double v, double unit) { return round(v / unit) * unit; }

static json_t *reason_json(const rt_churn_why *w) {
  json_t *o = json_object();
  json_object_set_new(o, "text", json_string(w->text));
  json_object_set_new(o, "direction", json_string(w->points > 0 ? "raises" : "lowers"));
  json_object_set_new(o, "points", json_real(round_to(w->points, 0.01)));
  json_object_set_new(o, "log_odds", json_real(round_to(w->log_odds, 0.0001)));
  return o;
}

/* Up to three reasons as "text (+12.3 pts); ..." into buf. */
static void reasons_line(const rt_churn_why *w, size_t nr, char *buf, size_t n) {
  size_t o = 0;
  buf[0] = 0;
  for (size_t r = 0; r < nr && o < n; r++)
    o += (size_t)snprintf(buf + o, n - o, "%s%s (%+.1f pts)", r ? "; " : "", w[r].text,
                          w[r].points);
}

/* score --save: a model run ("churn") and every customer's probability, value (in the
 * predicted_clv column; the run's parameters say what it is) and reasons. */
static int save_churn_scores(const cli_global *g, scored *s) {
  const hist_args *h = s->h;
  const rt_model *m = s->m;
  json_t *p = json_object();
  json_object_set_new(p, "as_of", json_string(s->as_of));
  json_object_set_new(p, "horizon_days", json_integer(h->horizon));
  json_object_set_new(p, "active_days", json_integer(h->active));
  json_object_set_new(p, "model_file", json_string(h->model_path));
  json_object_set_new(p, "currency", json_string(m->currency));
  json_object_set_new(p, "value", value_source_json(s));
  json_object_set_new(p, "value_column", json_string("predicted_clv"));
  char *params = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(p);
  rt_store *st = NULL;
  rt_error err = {0};
  int64_t run = 0;
  const double scale = pow(10.0, m->currency_exp);
  int rc = cli_open_store(g, 0, &st);
  if (!rc && (rt_store_begin(st, &err) || rt_store_score_run_begin(st, "churn", params, &run,
                                                                   &err)))
    rc = cli_fail(&err);
  for (size_t i = 0; !rc && i < s->t->nrows; i++) {
    rt_churn_why w[3];
    size_t nr = rt_churn_explain(s->ex, i, contrib_of(s, i), w, 3, NULL);
    char why[3 * 240];
    reasons_line(w, nr, why, sizeof why);
    int64_t v = s->val.minor[i];
    rt_score_rec r = {.customer = m->store_id[s->cust[i]], .p_alive = NAN,
                      .expected_purchases = NAN,
                      .predicted_clv = v == RT_CHURN_NO_VALUE ? NAN : (double)v / scale,
                      .churn_probability = s->prob[i], .reasons = nr ? why : NULL};
    if (rt_store_score_put(st, run, &r, &err)) rc = cli_fail(&err);
  }
  if (!rc && (rt_store_score_run_finish(st, run, (int64_t)s->t->nrows, &err) ||
              rt_store_commit(st, &err)))
    rc = cli_fail(&err);
  if (rc && st) rt_store_rollback(st);
  rt_store_close(st);
  free(params);
  if (!rc && !g->quiet)
    fprintf(stderr, "retain: saved model run %lld with %zu customers' churn scores\n",
            (long long)run, s->t->nrows);
  return rc;
}

/* explain ID: the customer's risk, value, value at risk and every reason. */
static int print_explain(scored *s, size_t i) {
  const hist_args *h = s->h;
  const rt_ctable *t = s->t;
  rt_churn_why *w = malloc((t->ncols ? t->ncols : 1) * sizeof *w);
  if (!w) {
    fprintf(stderr, "retain: out of memory\n");
    return CLI_FAIL;
  }
  size_t nr = rt_churn_explain(s->ex, i, contrib_of(s, i), w, t->ncols, NULL);
  int64_t value = s->val.minor[i], var = rt_churn_value_at_risk(s->prob[i], value);
  double p = rt_churn_round_p(s->prob[i]);
  char a[48], b[48];
  if (h->a.format == FMT_JSON) {
    json_t *o = json_object(), *arr = json_array();
    json_object_set_new(o, "customer_id", json_string(t->ids[i]));
    json_object_set_new(o, "as_of", json_string(s->as_of));
    json_object_set_new(o, "horizon_days", json_integer(h->horizon));
    json_object_set_new(o, "churn_probability", json_real(p));
    json_object_set_new(o, "baseline_probability", json_real(rt_churn_round_p(s->baseline)));
    json_object_set_new(o, "currency", json_string(s->m->currency));
    json_object_set_new(o, "value", amount_json(s, value));
    json_object_set_new(o, "value_at_risk", amount_json(s, var));
    json_object_set_new(o, "value_source", value_source_json(s));
    for (size_t r = 0; r < nr; r++) json_array_append_new(arr, reason_json(&w[r]));
    json_object_set_new(o, "reasons", arr);
    json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    printf("\n");
    json_decref(o);
  } else if (h->a.format == FMT_CSV) {
    printf("customer_id,as_of,churn_probability,value,value_at_risk,direction,points,log_odds,"
           "reason\n");
    for (size_t r = 0; r < nr; r++) {
      cli_csv_field(stdout, t->ids[i]);
      printf(",%s,%.6f,%s,%s,%s,%.2f,%.4f,", s->as_of, p, amount(s, value, 0, a, sizeof a),
             amount(s, var, 0, b, sizeof b), w[r].points > 0 ? "raises" : "lowers",
             w[r].points, w[r].log_odds);
      cli_csv_field(stdout, w[r].text);
      printf("\n");
    }
  } else {
    printf("Customer %s · as of %s\n\n", t->ids[i], s->as_of);
    printf("  risk of churning in the next %d days  %.1f%%  (the model's baseline: %.1f%%)\n",
           h->horizon, 100 * p, 100 * s->baseline);
    if (value == RT_CHURN_NO_VALUE)
      printf("  value                                 none in the CLV run\n");
    else
      printf("  value                                 %s %s\n"
             "  value at risk (risk × value)          %s %s\n",
             amount(s, value, 1, a, sizeof a), s->m->currency, amount(s, var, 1, b, sizeof b),
             s->m->currency);
    printf("  value: %s\n", s->value_desc);
    for (int up = 1; up >= 0; up--) {
      double total = 0;
      size_t k = 0;
      for (size_t r = 0; r < nr; r++)
        if ((w[r].points > 0) == up) {
          total += w[r].points;
          k++;
        }
      printf("\n%s (%+.1f pts):\n", up ? "What raises the risk" : "What lowers it", total);
      if (!k) printf("  nothing\n");
      for (size_t r = 0; r < nr; r++)
        if ((w[r].points > 0) == up) printf("  %+6.1f pts  %s\n", w[r].points, w[r].text);
    }
    printf("\nPoints of probability: each reason's share of the risk minus the baseline (from "
           "XGBoost's SHAP\nvalues, docs/MODELS.md); typical = the median of the customers the "
           "model was trained on.\n");
  }
  free(w);
  return CLI_OK;
}

/* score: the rows in the chosen order, the first --top of them (all when 0). */
static int print_scores(const cli_global *g, scored *s) {
  const hist_args *h = s->h;
  const rt_ctable *t = s->t;
  rt_error err = {0};
  size_t *order = malloc((t->nrows ? t->nrows : 1) * sizeof *order);
  if (!order || rt_churn_rank(s->prob, s->val.minor, t->nrows, h->sort, order, &err)) {
    free(order);
    if (!err.code) rt_error_set(&err, RT_ENOMEM, "out of memory");
    return cli_fail(&err);
  }
  size_t nout = h->top > 0 && (size_t)h->top < t->nrows ? (size_t)h->top : t->nrows;
  cli_format fmt = h->a.format == FMT_TABLE && h->top == 0 ? FMT_CSV : h->a.format;
  cli_table tb;
  cli_table_init(&tb, 5);
  tb.left = 1u << 4;
  int rc = CLI_OK;
  if (fmt == FMT_TABLE) {
    static const char *const what[] = {
        "The %zu customers with the most value at risk of churning in the next %d days",
        "The %zu customers most likely to churn in the next %d days",
        "The %zu most valuable customers in play and their risk of churning in the next %d "
        "days"};
    printf(what[h->sort], nout, h->horizon);
    printf(" · as of %s\n", s->as_of);
    printf("value (%s): %s\n\n", s->m->currency, s->value_desc);
    const char *head[] = {"customer", "risk", "value", "value at risk",
                          "main reasons (points of probability: + raises the risk, - lowers it)"};
    if (cli_table_row(&tb, head)) rc = CLI_FAIL;
  } else if (fmt == FMT_CSV) {
    if (!g->quiet)
      fprintf(stderr, "retain: churn in the next %d days as of %s, sorted by %s; value (%s): "
              "%s\n", h->horizon, s->as_of, sort_names[h->sort], s->m->currency,
              s->value_desc);
    printf("customer_id,churn_probability,value,value_at_risk,reason_1,points_1,reason_2,"
           "points_2,reason_3,points_3\n");
  } else {
    json_t *o = json_object();
    json_object_set_new(o, "as_of", json_string(s->as_of));
    json_object_set_new(o, "horizon_days", json_integer(h->horizon));
    json_object_set_new(o, "currency", json_string(s->m->currency));
    json_object_set_new(o, "value_source", value_source_json(s));
    json_object_set_new(o, "sort", json_string(sort_names[h->sort]));
    json_object_set_new(o, "customers_in_play", json_integer((json_int_t)t->nrows));
    json_object_set_new(o, "baseline_probability", json_real(rt_churn_round_p(s->baseline)));
    char *head = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(o);
    /* the object without its closing brace, then the customers one by one */
    char *end = head ? strrchr(head, '}') : NULL;
    if (!end) {
      free(head);
      free(order);
      fprintf(stderr, "retain: out of memory\n");
      return CLI_FAIL;
    }
    while (end > head && end[-1] == '\n') end--;
    printf("%.*s,\n  \"customers\": [", (int)(end - head), head);
    free(head);
  }
  for (size_t k = 0; k < nout && !rc; k++) {
    size_t i = order[k];
    rt_churn_why w[3];
    size_t nr = rt_churn_explain(s->ex, i, contrib_of(s, i), w, 3, NULL);
    int64_t value = s->val.minor[i], var = rt_churn_value_at_risk(s->prob[i], value);
    double p = rt_churn_round_p(s->prob[i]);
    char a[48], b[48];
    if (fmt == FMT_TABLE) {
      char risk[16], why[3 * 240];
      snprintf(risk, sizeof risk, "%.1f%%", 100 * p);
      reasons_line(w, nr, why, sizeof why);
      const char *row[] = {t->ids[i], risk, amount(s, value, 1, a, sizeof a),
                           amount(s, var, 1, b, sizeof b), why};
      if (cli_table_row(&tb, row)) rc = CLI_FAIL;
    } else if (fmt == FMT_CSV) {
      cli_csv_field(stdout, t->ids[i]);
      printf(",%.6f,%s,%s", p, amount(s, value, 0, a, sizeof a),
             amount(s, var, 0, b, sizeof b));
      for (size_t r = 0; r < 3; r++) {
        putchar(',');
        cli_csv_field(stdout, r < nr ? w[r].text : "");
        if (r < nr) printf(",%.2f", w[r].points);
        else putchar(',');
      }
      putchar('\n');
    } else {
      json_t *o = json_object(), *arr = json_array();
      json_object_set_new(o, "customer_id", json_string(t->ids[i]));
      json_object_set_new(o, "churn_probability", json_real(p));
      json_object_set_new(o, "value", amount_json(s, value));
      json_object_set_new(o, "value_at_risk", amount_json(s, var));
      for (size_t r = 0; r < nr; r++) json_array_append_new(arr, reason_json(&w[r]));
      json_object_set_new(o, "reasons", arr);
      char *js = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
      json_decref(o);
      if (!js) rc = CLI_FAIL;
      else printf("%s\n    %s", k ? "," : "", js);
      free(js);
    }
  }
  if (rc) {
    fprintf(stderr, "retain: out of memory\n");
  } else if (fmt == FMT_TABLE) {
    cli_table_print(&tb, stdout);
  } else if (fmt == FMT_JSON) {
    printf("%s]\n}\n", nout ? "\n  " : "");
  }
  free(order);
  cli_table_free(&tb);
  return rc;
}

static int history_cmd(const cli_global *g, int argc, char **argv, int which) {
  static const char *const names[] = {"train", "score", "explain"};
  hist_args h;
  memset(&h, 0, sizeof h);
  cli_analysis_init(&h.a, g);
  h.horizon = 90;
  h.seed = 1;
  h.active = 365;
  h.top = which == 1 ? 0 : 20;
  h.sort = RT_CHURN_BY_VALUE_AT_RISK;
  h.value = RT_CHURN_VALUE_AUTO;
  int first = 2;
  if (which == 2) {
    if (argc < 3 || argv[2][0] == '-')
      return cli_usage_error("churn", "explain needs a customer id: retain churn explain ID");
    h.customer = argv[2];
    first = 3;
  }
  for (int i = first; i < argc; i++) {
    const char *v;
    int r;
    if (cli_is_help(argv[i])) {
      help();
      return CLI_OK;
    }
    if ((r = cli_value(argc, argv, &i, "--horizon", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      double days;
      if (cli_parse_days(v, 100000, &days) || (h.horizon = (int)lround(days)) < 1)
        return cli_usage_error("churn", "--horizon wants a length like 90d, 12w or 3m, not '%s'",
                               v);
    } else if ((r = cli_value(argc, argv, &i, "--cutoff", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      h.cutoff_s = v;
    } else if ((r = cli_value(argc, argv, &i, "--model", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      h.model_path = v;
    } else if ((r = cli_value(argc, argv, &i, "--seed", &v)) != 0) {
      if (r < 0 || cli_parse_int("churn", "--seed", v, 0, INT64_MAX, &h.seed)) return CLI_USAGE;
    } else if (which == 1 && cli_flag(argv, i, "--save")) {
      h.save = 1;
    } else if (which == 1 && (r = cli_value(argc, argv, &i, "--sort", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      size_t k = 0;
      while (k < 3 && strcmp(v, sort_names[k])) k++;
      if (k == 3)
        return cli_usage_error("churn", "--sort wants value-at-risk, risk or value, not '%s'",
                               v);
      h.sort = (rt_churn_sort)k;
    } else if (which && (r = cli_value(argc, argv, &i, "--value", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      if (!strcmp(v, "auto")) h.value = RT_CHURN_VALUE_AUTO;
      else if (!strcmp(v, "clv")) h.value = RT_CHURN_VALUE_CLV;
      else if (!strcmp(v, "revenue")) h.value = RT_CHURN_VALUE_REVENUE;
      else return cli_usage_error("churn", "--value wants auto, clv or revenue, not '%s'", v);
    } else if ((r = cli_value(argc, argv, &i, "--active-days", &v)) != 0) {
      if (r < 0 || cli_parse_int("churn", "--active-days", v, 0, 100000, &h.active))
        return CLI_USAGE;
    } else if ((r = cli_value(argc, argv, &i, "--top", &v)) != 0) {
      if (r < 0 || cli_parse_int("churn", "--top", v, 0, INT64_MAX, &h.top)) return CLI_USAGE;
    } else if (!strcmp(argv[i], "--period") || !strcmp(argv[i], "--from") ||
               !strcmp(argv[i], "--to")) {
      return cli_usage_error("churn", "%s is not an option of churn %s", argv[i], names[which]);
    } else {
      r = cli_analysis_option("churn", argc, argv, &i, &h.a);
      if (r < 0) return CLI_USAGE;
      if (r == 0) return cli_usage_error("churn", "unknown argument '%s'", argv[i]);
    }
  }
  if (h.save && h.a.orders_path)
    return cli_usage_error("churn", "--save stores the scores in the store (not with --orders)");
  if (h.value == RT_CHURN_VALUE_CLV && h.a.orders_path)
    return cli_usage_error("churn", "--value clv reads the store's CLV runs (not with --orders)");
  if (!h.model_path) {
    if (h.a.orders_path)
      return cli_usage_error("churn", "with --orders, name the model file with --model PATH");
    snprintf(h.path_buf, sizeof h.path_buf, "%s.churn.json", g->db);
    h.model_path = h.path_buf;
  }
  int rc = cli_analysis_load("churn", g, &h.a);
  if (rc) {
    cli_analysis_free(&h.a);
    return rc;
  }
  const rt_model *m = h.a.model;
  rt_error err = {0};
  /* The as-of day the command judges at (cli_judge: --as-of, RETAIN_NOW, else the store's
   * default). train: the features at the cutoff a horizon before it (so that every label is
   * known); score and explain: at it. */
  int32_t as_of = m->as_of;
  int32_t cutoff = which == 0 ? as_of - h.horizon : as_of;
  if (h.cutoff_s) {
    int64_t ms;
    if (rt_date_parse(NULL, h.cutoff_s, strlen(h.cutoff_s), h.a.tz, &ms, &err)) {
      cli_analysis_free(&h.a);
      return cli_usage_error("churn", "--cutoff: %s", err.msg);
    }
    cutoff = (int32_t)rt_tz_day(h.a.tz, ms);
  }
  if (which == 0 && cutoff + h.horizon > as_of) {
    char a[16], b[16];
    rt_day_format(cutoff + h.horizon, a, sizeof a);
    rt_day_format(as_of, b, sizeof b);
    cli_analysis_free(&h.a);
    return cli_usage_error("churn", "the labels need data up to %s; it is judged as of %s "
                                    "(choose an earlier --cutoff or a shorter --horizon)", a, b);
  }
  rt_ctable *t = NULL;
  uint32_t *cust = NULL;
  rt_churn_model *cm = NULL;
  rt_store *st = NULL; /* read-only, while the features and values are read */
  scored s;
  memset(&s, 0, sizeof s);
  double *prob = NULL;
  float *contrib = NULL;
  if (rt_churn_features(m, cutoff, h.horizon, (int)h.active, &t, &cust, &err)) {
    rc = cli_fail(&err);
    goto out;
  }
  if (!h.a.orders_path) { /* the store's events: usage, support, feedback */
    if ((rc = cli_open_store(g, 1, &st)) == 0 &&
        (rt_churn_add_events(t, cust, m, st, cutoff, h.a.tz, &err) ||
         rt_churn_add_attributes(t, cust, m, st, &err)))
      rc = cli_fail(&err);
    if (rc) goto out;
  }
  char cut[16];
  rt_day_format(cutoff, cut, sizeof cut);
  if (which == 0) {
    rt_churn_eval ev;
    if (rt_churn_evaluate(t, (uint64_t)h.seed, &ev, &cm, &err) ||
        rt_churn_model_save(cm, h.model_path, &err)) {
      rc = cli_fail(&err);
      goto out;
    }
    size_t pos = 0;
    for (size_t i = 0; i < t->nrows; i++) pos += t->y[i];
    const rt_churn_quality *q = &ev.xgboost;
    if (h.a.format == FMT_JSON) {
      json_t *o = json_object(), *cal = json_array();
      json_object_set_new(o, "cutoff", json_string(cut));
      json_object_set_new(o, "horizon_days", json_integer(h.horizon));
      json_object_set_new(o, "customers", json_integer((json_int_t)t->nrows));
      json_object_set_new(o, "churned", json_integer((json_int_t)pos));
      json_object_set_new(o, "train", json_integer((json_int_t)ev.train));
      json_object_set_new(o, "test", json_integer((json_int_t)ev.test));
      json_object_set_new(o, "trees", json_integer(ev.rounds));
      json_object_set_new(o, "auc", json_real(q->auc));
      json_object_set_new(o, "pr_auc", json_real(q->pr_auc));
      json_object_set_new(o, "lift_top_decile", json_real(q->lift_top_decile));
      json_object_set_new(o, "logistic_auc", json_real(ev.logistic_auc));
      for (int k = 0; k < 10; k++) {
        json_t *c = json_object();
        json_object_set_new(c, "mean_score", json_real(q->cal_score[k]));
        json_object_set_new(c, "churn_rate", json_real(q->cal_rate[k]));
        json_object_set_new(c, "customers", json_integer((json_int_t)q->cal_n[k]));
        json_array_append_new(cal, c);
      }
      json_object_set_new(o, "calibration", cal);
      json_object_set_new(o, "model_file", json_string(h.model_path));
      json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
      printf("\n");
      json_decref(o);
    } else {
      char n1[32];
      printf("Churn model · features at %s, churn = no order (and no running subscription) in "
             "the next %d days\n", cut, h.horizon);
      printf("  %s customers, %.1f%% churned; trained on %zu, tested on %zu held out\n",
             cli_count((int64_t)t->nrows, n1, sizeof n1), 100.0 * (double)pos / (double)t->nrows,
             ev.train, ev.test);
      printf("  XGBoost (%d trees): AUC %.4f · PR-AUC %.4f · top-decile lift %.2f\n", ev.rounds,
             q->auc, q->pr_auc, q->lift_top_decile);
      printf("  logistic baseline:  AUC %.4f\n\n  calibration (ten groups by score):\n",
             ev.logistic_auc);
      printf("    %-8s %12s %12s\n", "group", "mean score", "churn rate");
      for (int k = 0; k < 10; k++)
        printf("    %-8d %11.1f%% %11.1f%%\n", k + 1, 100 * q->cal_score[k],
               100 * q->cal_rate[k]);
      printf("\nSaved to %s; `retain churn score` uses it.\n", h.model_path);
    }
    goto out;
  }
  /* score / explain */
  if (rt_churn_model_load(h.model_path, &cm, &err)) {
    fprintf(stderr, "retain: %s (train one with `retain churn train`)\n", err.msg);
    rc = CLI_FAIL;
    goto out;
  }
  size_t explain_row = 0;
  if (which == 2) {
    while (explain_row < t->nrows && strcmp(t->ids[explain_row], h.customer)) explain_row++;
    if (explain_row == t->nrows) {
      fprintf(stderr, "retain: customer '%s' is not in play on %s (no order within %lld days "
              "and no running subscription, or no such customer)\n", h.customer, cut,
              (long long)h.active);
      rc = CLI_FAIL;
      goto out;
    }
  }
  prob = malloc((t->nrows ? t->nrows : 1) * sizeof *prob);
  contrib = malloc((t->nrows ? t->nrows : 1) * (t->ncols + 1) * sizeof *contrib);
  if (!prob || !contrib) {
    fprintf(stderr, "retain: out of memory\n");
    rc = CLI_FAIL;
    goto out;
  }
  s.h = &h;
  s.m = m;
  s.t = t;
  s.cust = cust;
  s.prob = prob;
  s.contrib = contrib;
  snprintf(s.as_of, sizeof s.as_of, "%s", cut);
  if (rt_churn_predict(cm, t, prob, contrib, &err) ||
      rt_churn_explainer_new(cm, t, &s.ex, &err) ||
      rt_churn_values_get(m, st, cust, t->nrows, cutoff, h.value, &s.val, &err)) {
    rc = cli_fail(&err);
    goto out;
  }
  if (t->nrows) /* the baseline is the bias, the same for every row */
    rt_churn_explain(s.ex, 0, contrib, NULL, 0, &s.baseline);
  describe_value(&s);
  rt_store_close(st);
  st = NULL;
  if (which == 2) {
    rc = print_explain(&s, explain_row);
  } else {
    rc = print_scores(g, &s);
    if (!rc && h.save) rc = save_churn_scores(g, &s);
  }
out:
  free(prob);
  free(contrib);
  rt_churn_values_free(&s.val);
  rt_churn_explainer_free(s.ex);
  rt_store_close(st);
  rt_churn_model_free(cm);
  rt_ctable_free(t);
  free(cust);
  cli_analysis_free(&h.a);
  return rc;
}

int cmd_churn(const cli_global *g, int argc, char **argv) {
  if (argc < 2 || cli_is_help(argv[1])) {
    help();
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  if (!strcmp(argv[1], "train")) return history_cmd(g, argc, argv, 0);
  if (!strcmp(argv[1], "score")) return history_cmd(g, argc, argv, 1);
  if (!strcmp(argv[1], "explain")) return history_cmd(g, argc, argv, 2);
  if (strcmp(argv[1], "cv"))
    return cli_usage_error("churn", "unknown subcommand '%s' (expected train, score, explain "
                                    "or cv)", argv[1]);
  const char *table = NULL, *label = NULL, *id = NULL;
  int64_t folds = 5, seed = 1;
  int models = 1; /* bit 0 xgboost, bit 1 logistic */
  cli_format format = FMT_TABLE;
  for (int i = 2; i < argc; i++) {
    const char *v;
    int r;
    if (cli_is_help(argv[i])) {
      help();
      return CLI_OK;
    }
    if ((r = cli_value(argc, argv, &i, "--table", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      table = v;
    } else if ((r = cli_value(argc, argv, &i, "--label", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      label = v;
    } else if ((r = cli_value(argc, argv, &i, "--id", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      id = v;
    } else if ((r = cli_value(argc, argv, &i, "--folds", &v)) != 0) {
      if (r < 0 || cli_parse_int("churn", "--folds", v, 2, RT_CV_MAX_FOLDS, &folds))
        return CLI_USAGE;
    } else if ((r = cli_value(argc, argv, &i, "--seed", &v)) != 0) {
      if (r < 0 || cli_parse_int("churn", "--seed", v, 0, INT64_MAX, &seed)) return CLI_USAGE;
    } else if ((r = cli_value(argc, argv, &i, "--model", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      if (!strcmp(v, "xgboost")) models = 1;
      else if (!strcmp(v, "logistic")) models = 2;
      else if (!strcmp(v, "both")) models = 3;
      else return cli_usage_error("churn", "--model wants xgboost, logistic or both, not '%s'", v);
    } else if ((r = cli_value(argc, argv, &i, "--format", &v)) != 0) {
      if (r < 0 || cli_parse_format("churn", v, &format)) return CLI_USAGE;
    } else {
      return cli_usage_error("churn", "unknown argument '%s'", argv[i]);
    }
  }
  if (!table || !label) return cli_usage_error("churn", "cv needs --table FILE and --label COL");
  rt_error err = {0};
  rt_ctable *t = NULL;
  if (rt_ctable_read_csv(table, id, label, &t, &err)) return cli_fail(&err);
  size_t pos = 0;
  for (size_t i = 0; i < t->nrows; i++)
    pos += t->y[i];
  json_t *root = json_object(), *arr = json_array();
  if (format != FMT_JSON) {
    char n1[32];
    printf("Churn cross-validation · %s customers (%.1f%% churned) · %zu features · %d folds\n",
           cli_count((int64_t)t->nrows, n1, sizeof n1), 100.0 * (double)pos / (double)t->nrows,
           t->ncols, (int)folds);
    if (t->skipped) printf("(%zu text column(s) with a value per row left out, like ids)\n",
                           t->skipped);
  }
  int rc = CLI_OK;
  for (int mdl = 0; mdl < 2 && !rc; mdl++) {
    if (!(models & (1 << mdl))) continue;
    rt_churn_algo algo = mdl ? RT_CHURN_LOGISTIC : RT_CHURN_XGBOOST;
    const char *name = mdl ? "logistic" : "xgboost";
    rt_cv_result res;
    double t0 = cli_now();
    if (rt_churn_cv(t, algo, (int)folds, (uint64_t)seed, &res, &err)) {
      rc = cli_fail(&err);
      break;
    }
    double secs = cli_now() - t0;
    json_t *o = json_object(), *aucs = json_array();
    json_object_set_new(o, "model", json_string(name));
    for (int f = 0; f < res.folds; f++) json_array_append_new(aucs, json_real(res.auc[f]));
    json_object_set_new(o, "auc", aucs);
    json_object_set_new(o, "mean_auc", json_real(res.mean));
    json_object_set_new(o, "sd_auc", json_real(res.sd));
    json_object_set_new(o, "seconds", json_real(secs));
    json_array_append_new(arr, o);
    if (format != FMT_JSON) {
      printf("\n%-9s mean AUC %.4f (sd %.4f across folds) in %.2f s\n  folds:", name, res.mean,
             res.sd, secs);
      for (int f = 0; f < res.folds; f++) printf(" %.4f", res.auc[f]);
      if (!mdl) {
        printf("\n  trees kept:");
        for (int f = 0; f < res.folds; f++) printf(" %d", res.rounds[f]);
      }
      printf("\n");
    }
  }
  if (!rc && format == FMT_JSON) {
    json_object_set_new(root, "customers", json_integer((json_int_t)t->nrows));
    json_object_set_new(root, "churned", json_integer((json_int_t)pos));
    json_object_set_new(root, "features", json_integer((json_int_t)t->ncols));
    json_object_set_new(root, "folds", json_integer(folds));
    json_object_set_new(root, "seed", json_integer(seed));
    json_object_set_new(root, "models", arr);
    arr = NULL;
    json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
    printf("\n");
  }
  json_decref(arr);
  json_decref(root);
  rt_ctable_free(t);
  return rc;
}
