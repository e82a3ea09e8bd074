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
  printf("Usage: retain churn cv --table FILE --label COL [options]\n\n"
         "Cross-validates churn classifiers on a labelled customer table (a CSV file, one row\n"
         "per customer): numeric columns are used as they are, text columns as one 0/1 column\n"
         "per value, blank cells as missing values; the label is yes/no, 1/0 or true/false.\n\n"
         "Options:\n"
         "  --table FILE       the table (required)\n"
         "  --label COL        the churn column (required)\n"
         "  --id COL           the customer id column (left out of the features)\n"
         "  --folds K          stratified folds, 2-%d (default 5)\n"
         "  --seed N           the folds' shuffle (default 1)\n"
         "  --model M          xgboost (default), logistic, or both\n"
         "  --format F         table (default) or json\n",
         RT_CV_MAX_FOLDS);
}

int cmd_churn(const cli_global *g, int argc, char **argv) {
  (void)g;
  if (argc < 2 || cli_is_help(argv[1])) {
    help();
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  if (strcmp(argv[1], "cv"))
    return cli_usage_error("churn", "unknown subcommand '%s' (expected cv)", argv[1]);
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
