/* cmd_churn.c - `retain churn cv`: cross-validated churn classifiers on a labelled customer
 * table (include/retain/churn.h): gradient-boosted trees (XGBoost) and the logistic baseline,
 * each fold's AUC and their mean and spread. */
#include "cli/cli.h"

#include <retain/churn.h>

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void help(void) {
  printf("Usage: retain [--db PATH] churn train|score|explain ID|cv [options]\n\n"
         "Who is about to leave, and why. train: features of every customer in play at a\n"
         "cutoff (a horizon before the data ends) from their orders, refunds, subscriptions,\n"
         "events and attributes, labelled churned when they did not order (nor keep a\n"
         "subscription) within the horizon after it; gradient-boosted trees (XGBoost) are\n"
         "trained, tested on a held-out fifth (AUC, PR-AUC, top-decile lift, calibration,\n"
         "against a logistic baseline) and saved next to the store. score: every customer's\n"
         "churn probability now, with its three main reasons. explain ID: one customer's\n"
         "probability and what moves it.\n\n"
         "Options of train, score and explain:\n"
         "  --horizon H        the churn window, like 90d (default), 12w or 3m\n"
         "  --cutoff DATE      train: the features' date (default: the horizon before the end)\n"
         "  --model PATH       the model file (default: the store's path + .churn.json)\n"
         "  --top N            score: the N riskiest as a table (default: all, as CSV)\n"
         "  --save             score: also store every score as a model run (tables\n"
         "                     model_runs and customer_scores)\n"
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
  char path_buf[4200];
} hist_args;

/* Features told in one sentence: the recency's words include the gap ratio, and the two
 * halves of each 90-day trend are one reason. */
static int same_reason(const rt_ctable *t, size_t a, size_t b) {
  static const char *const pairs[][2] = {{"days_since_last_order", "recency_in_gaps"},
                                         {"orders_last_90d", "orders_prior_90d"},
                                         {"revenue_last_90d", "revenue_prior_90d"},
                                         {"usage_last_30d", "usage_prior_30d"},
                                         {"tickets", "tickets_last_90d"}};
  if (a == b) return 1;
  for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++)
    if ((!strcmp(t->names[a], pairs[p][0]) && !strcmp(t->names[b], pairs[p][1])) ||
        (!strcmp(t->names[a], pairs[p][1]) && !strcmp(t->names[b], pairs[p][0])))
      return 1;
  return 0;
}

/* The top k features pushing row i towards churn (largest positive contributions). */
static int top_reasons(const rt_ctable *t, const float *contrib, size_t i, size_t *idx, int k) {
  const float *c = contrib + i * (t->ncols + 1);
  int got = 0;
  for (int r = 0; r < k; r++) {
    size_t best = SIZE_MAX;
    for (size_t j = 0; j < t->ncols; j++) {
      int used = 0;
      for (int q = 0; q < got; q++) used |= same_reason(t, idx[q], j);
      if (!used && c[j] > 0 && (best == SIZE_MAX || c[j] > c[best])) best = j;
    }
    if (best == SIZE_MAX) break;
    idx[got++] = best;
  }
  return got;
}

/* score --save: a model run ("churn") and every customer's probability with its reasons. */
static int save_churn_scores(const cli_global *g, const hist_args *h, const rt_ctable *t,
                             const uint32_t *cust, const double *prob, const float *contrib,
                             const char *as_of) {
  const rt_model *m = h->a.model;
  json_t *p = json_object();
  json_object_set_new(p, "as_of", json_string(as_of));
  json_object_set_new(p, "horizon_days", json_integer(h->horizon));
  json_object_set_new(p, "active_days", json_integer(h->active));
  json_object_set_new(p, "model_file", json_string(h->model_path));
  char *params = json_dumps(p, JSON_COMPACT);
  json_decref(p);
  rt_store *st = NULL;
  rt_error err = {0};
  int64_t run = 0;
  int rc = cli_open_store(g, 0, &st);
  if (!rc && (rt_store_begin(st, &err) || rt_store_score_run_begin(st, "churn", params, &run,
                                                                   &err)))
    rc = cli_fail(&err);
  for (size_t i = 0; !rc && i < t->nrows; i++) {
    size_t idx[3];
    int nr = top_reasons(t, contrib, i, idx, 3);
    char why[3 * 160 + 8] = "";
    for (int r = 0; r < nr; r++) {
      size_t len = strlen(why);
      if (r) len += (size_t)snprintf(why + len, sizeof why - len, "; ");
      rt_churn_reason(t, t->x + i * t->ncols, idx[r], why + len, sizeof why - len);
    }
    rt_score_rec r = {.customer = m->store_id[cust[i]], .p_alive = NAN,
                      .expected_purchases = NAN, .predicted_clv = NAN,
                      .churn_probability = prob[i], .reasons = nr ? why : NULL};
    if (rt_store_score_put(st, run, &r, &err)) rc = cli_fail(&err);
  }
  if (!rc && (rt_store_score_run_finish(st, run, (int64_t)t->nrows, &err) ||
              rt_store_commit(st, &err)))
    rc = cli_fail(&err);
  if (rc && st) rt_store_rollback(st);
  rt_store_close(st);
  free(params);
  if (!rc && !g->quiet)
    fprintf(stderr, "retain: saved model run %lld with %zu customers' churn scores\n",
            (long long)run, t->nrows);
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
  /* train: features at the cutoff (by default a horizon before the as-of day, so that every
   * label is known); score and explain: at the as-of day */
  int32_t cutoff = which == 0 ? m->as_of - h.horizon : m->as_of;
  if (h.cutoff_s) {
    int64_t ms;
    if (rt_date_parse(NULL, h.cutoff_s, strlen(h.cutoff_s), h.a.tz, &ms, &err)) {
      cli_analysis_free(&h.a);
      return cli_usage_error("churn", "--cutoff: %s", err.msg);
    }
    cutoff = (int32_t)rt_tz_day(h.a.tz, ms);
  }
  if (which == 0 && cutoff + h.horizon > m->as_of) {
    char a[16], b[16];
    rt_day_format(cutoff + h.horizon, a, sizeof a);
    rt_day_format(m->as_of, b, sizeof b);
    cli_analysis_free(&h.a);
    return cli_usage_error("churn", "the labels need data up to %s; it is judged as of %s "
                                    "(choose an earlier --cutoff or a shorter --horizon)", a, b);
  }
  rt_ctable *t = NULL;
  uint32_t *cust = NULL;
  rt_churn_model *cm = NULL;
  if (rt_churn_features(m, cutoff, h.horizon, (int)h.active, &t, &cust, &err)) {
    rc = cli_fail(&err);
    goto out;
  }
  if (!h.a.orders_path) { /* the store's events: usage, support, feedback */
    rt_store *st = NULL;
    if ((rc = cli_open_store(g, 1, &st)) == 0 &&
        (rt_churn_add_events(t, cust, m, st, cutoff, h.a.tz, &err) ||
         rt_churn_add_attributes(t, cust, m, st, &err)))
      rc = cli_fail(&err);
    rt_store_close(st);
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
  double *prob = malloc((t->nrows ? t->nrows : 1) * sizeof *prob);
  float *contrib = malloc((t->nrows ? t->nrows : 1) * (t->ncols + 1) * sizeof *contrib);
  if (!prob || !contrib || rt_churn_predict(cm, t, prob, contrib, &err)) {
    if (!err.code) rt_error_set(&err, RT_ENOMEM, "out of memory");
    rc = cli_fail(&err);
  } else if (which == 2) {
    size_t i = 0;
    while (i < t->nrows && strcmp(t->ids[i], h.customer)) i++;
    if (i == t->nrows) {
      fprintf(stderr, "retain: customer '%s' is not in play on %s (no order within %lld days "
              "and no running subscription, or no such customer)\n", h.customer, cut,
              (long long)h.active);
      rc = CLI_FAIL;
    } else {
      printf("Customer %s · P(churn in the next %d days) = %.1f%%\n\n", h.customer, h.horizon,
             100 * prob[i]);
      printf("What moves it (SHAP contributions to the log-odds, largest first):\n");
      const float *c = contrib + i * (t->ncols + 1);
      int *done = calloc(t->ncols, sizeof *done);
      for (size_t r = 0; done && r < t->ncols; r++) {
        size_t best = SIZE_MAX;
        for (size_t j = 0; j < t->ncols; j++)
          if (!done[j] && (best == SIZE_MAX || fabsf(c[j]) > fabsf(c[best]))) best = j;
        done[best] = 1;
        if (fabsf(c[best]) < 0.005f) break;
        char why[160];
        rt_churn_reason(t, t->x + i * t->ncols, best, why, sizeof why);
        printf("  %+7.3f  %s\n", c[best], why);
      }
      free(done);
      printf("  (baseline log-odds %+.3f)\n", c[t->ncols]);
    }
  } else {
    /* score: every customer, or the --top riskiest, with three reasons each */
    size_t *order = malloc((t->nrows ? t->nrows : 1) * sizeof *order);
    size_t nout = t->nrows;
    for (size_t i = 0; order && i < t->nrows; i++) order[i] = i;
    if (order && h.top > 0) { /* partial selection of the riskiest */
      nout = (size_t)h.top < t->nrows ? (size_t)h.top : t->nrows;
      for (size_t k = 0; k < nout; k++) {
        size_t best = k;
        for (size_t i = k + 1; i < t->nrows; i++)
          if (prob[order[i]] > prob[order[best]]) best = i;
        size_t tmp = order[k];
        order[k] = order[best];
        order[best] = tmp;
      }
    }
    if (h.a.format == FMT_TABLE && h.top == 0) h.a.format = FMT_CSV;
    if (h.a.format == FMT_TABLE)
      printf("The %zu customers most likely to churn in the next %d days (as of %s)\n\n", nout,
             h.horizon, cut);
    else
      printf("customer_id,churn_probability,reason_1,reason_2,reason_3\n");
    for (size_t k = 0; order && k < nout; k++) {
      size_t i = order[k], idx[3];
      int nr = top_reasons(t, contrib, i, idx, 3);
      char why[3][160] = {"", "", ""};
      for (int r = 0; r < nr; r++)
        rt_churn_reason(t, t->x + i * t->ncols, idx[r], why[r], sizeof why[r]);
      if (h.a.format == FMT_TABLE) {
        printf("%-14s %5.1f%%  %s%s%s%s%s\n", t->ids[i], 100 * prob[i], why[0],
               nr > 1 ? "; " : "", why[1], nr > 2 ? "; " : "", why[2]);
      } else {
        cli_csv_field(stdout, t->ids[i]);
        printf(",%.6f,", prob[i]);
        for (int r = 0; r < 3; r++) {
          cli_csv_field(stdout, why[r]);
          printf(r < 2 ? "," : "\n");
        }
      }
    }
    free(order);
    if (h.save) rc = save_churn_scores(g, &h, t, cust, prob, contrib, cut);
  }
  free(prob);
  free(contrib);
out:
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
