/* cmd_clv.c - `retain clv fit|predict|holdout`: the buy-till-you-die models of
 * include/retain/clv.h on the store's orders or an orders file. `fit` prints the purchase
 * model's (BG/NBD, MBG/NBD or Pareto/NBD) and Gamma-Gamma's estimates with their
 * log-likelihood, convergence and the warnings that say when not to trust them; `predict` one
 * row per customer: P(alive), expected purchases and value over a horizon, the date by which
 * the next order is more likely than not, historic value and the mean days between orders. */
#include "cli/cli.h"

#include <retain/clv.h>
#include <retain/csv.h>

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The spend model is fitted on a second thread while the purchase model fits: the two are
 * independent, and each fit has stretches on one thread (the distinct summaries, the starts). */
typedef struct spend_fit {
  const rt_clv_summary *s;
  rt_gamma_gamma *out;
  int ok;
  rt_error err; /* why not, when not ok */
} spend_fit;

static void *fit_spend(void *arg) {
  spend_fit *f = arg;
  f->ok = rt_gamma_gamma_fit(f->s, f->out, &f->err) == 0;
  return NULL;
}

static void help(void) {
  printf("Usage: retain [--db PATH] clv fit|predict|holdout|summary [options]\n\n"
         "Who is still a customer and what each is worth, from the orders (MBG/NBD, BG/NBD or\n"
         "Pareto/NBD purchases, Gamma-Gamma spend net of refunds; docs/MODELS.md). The models\n"
         "are fitted on the orders up to --until (the calibration end); predictions are for\n"
         "the time after it. Fits that should not be trusted as they are (estimates the data\n"
         "hardly determine, a history that shows no customer dropping out) say so: in the\n"
         "table, on stderr, or in the JSON's \"warnings\". When the history does not show\n"
         "customers dropping out, P(alive) and the next order are left empty: use `retain\n"
         "churn train` for churn risk.\n\n"
         "  fit       print the estimates, their standard errors, log-likelihoods, convergence\n"
         "            and the share of customers the model thinks gone by --until\n"
         "  predict   one row per customer: customer_id, p_alive, expected_purchases,\n"
         "            predicted_clv, next_order_by (the date by which the customer more\n"
         "            likely than not has ordered again, if that is within the horizon),\n"
         "            historic_clv, avg_days_between_orders\n"
         "  holdout   fit on the orders up to --until, then compare the repeat purchases the\n"
         "            model expected in each unit after it with those made, and the total\n"
         "  summary   the latest stored scores (predict --save) summed up: customers, mean\n"
         "            P(alive), expected purchases, predicted value; --segment NAME for one\n"
         "            segment, --by segment for every segment side by side\n\n"
         "Options:\n"
         "  --model M          the purchase model: %s (default), %s or %s\n"
         "  --until DATE       calibration end, inclusive (default: the last order day)\n"
         "  --unit U           day, week (default) or month: the models' time unit\n"
         "  --horizon H        predict: how far ahead, like 52w, 90d, 12m or 1y (default 52w)\n"
         "  --discount R       predict: discount rate per month for the value (default 0)\n"
         "  --periods N        holdout: units compared (default: all whole units after --until)\n"
         "  --save             predict: also store the scores as a model run (tables\n"
         "                     model_runs and customer_scores; docs/STORE.md)\n"
         "  --format F         table (default), csv or json\n"
         "  --orders FILE      run straight from an orders CSV, without a store\n"
         "  --segment NAME     predict: only the rows of a stored segment's members (the\n"
         "                     models are still fitted on every customer)\n"
         "  --timezone TZ      business time zone (default: the store's, or UTC)\n\n"
         "Import options for --orders:\n%s",
         rt_btyd_key(RT_BTYD_DEFAULT),
         rt_btyd_key(RT_BTYD_DEFAULT == RT_BTYD_BGNBD ? RT_BTYD_MBGNBD : RT_BTYD_BGNBD),
         rt_btyd_key(RT_BTYD_PARETO), cli_import_options_help);
}

typedef struct clv_args {
  int predict;
  int save; /* predict --save: the scores into the store */
  const char *until_s;
  double unit_days;
  const char *unit_name;
  double horizon_days;
  double discount; /* per month */
} clv_args;


static json_t *params_json(const char *const *names, const double *values, int n) {
  json_t *o = json_object();
  for (int i = 0; i < n; i++)
    json_object_set_new(o, names[i], isfinite(values[i]) ? json_real(values[i]) : json_null());
  return o;
}

/* The fits' warnings: the purchase model's, then the spend model's. */
#define MAX_WARNINGS 12
typedef struct fit_warnings {
  int n;
  rt_fit_warning w[MAX_WARNINGS];
  const char *model[MAX_WARNINGS]; /* "bgnbd", ..., "gamma-gamma" */
} fit_warnings;

static void collect_warnings(const rt_btyd *bm, const rt_gamma_gamma *gg, int gg_ok,
                             const char *until, fit_warnings *fw) {
  fw->n = rt_btyd_warnings(bm, until, fw->w, MAX_WARNINGS);
  for (int i = 0; i < fw->n; i++)
    fw->model[i] = rt_btyd_key(bm->kind);
  if (gg_ok) {
    int k = rt_gamma_gamma_warnings(gg, fw->w + fw->n, MAX_WARNINGS - fw->n);
    for (int i = fw->n; i < fw->n + k; i++)
      fw->model[i] = "gamma-gamma";
    fw->n += k;
  }
}

static json_t *warnings_json(const fit_warnings *fw) {
  json_t *arr = json_array();
  for (int i = 0; i < fw->n; i++) {
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(fw->model[i]));
    json_object_set_new(o, "code", json_string(rt_fit_warning_key(fw->w[i].code)));
    json_object_set_new(o, "message", json_string(fw->w[i].text));
    json_array_append_new(arr, o);
  }
  return arr;
}

/* Each warning on stderr, one line each (for csv and json output, and predict's). */
static void warnings_stderr(const fit_warnings *fw) {
  for (int i = 0; i < fw->n; i++)
    fprintf(stderr, "retain: warning: %s\n", fw->w[i].text);
}

/* text wrapped at 92 columns, each line after `first` or `rest` */
static void print_wrapped(const char *first, const char *rest, const char *text) {
  const char *p = text, *lead = first;
  while (*p) {
    size_t room = 92 - strlen(lead), n = strlen(p);
    if (n > room) {
      n = room;
      while (n > 0 && p[n] != ' ')
        n--;
      if (n == 0)
        n = room;
    }
    printf("%s%.*s\n", lead, (int)n, p);
    p += n;
    while (*p == ' ')
      p++;
    lead = rest;
  }
}

static void print_fit(const clv_args *c, const cli_analysis *a, const rt_clv_summary *s,
                      const rt_btyd *bm, const rt_gamma_gamma *gg, int gg_ok,
                      const char *gg_why) {
  char until[16];
  rt_day_format(s->until_day, until, sizeof until);
  const rt_fit_info *info = rt_btyd_info(bm);
  const char *model = rt_btyd_key(bm->kind), *pn[4];
  double pv[4];
  rt_btyd_params(bm, pn, pv);
  fit_warnings fw;
  collect_warnings(bm, gg, gg_ok, until, &fw);
  int identified = !(info->warnings & RT_FIT_NO_DROPOUT);
  const char *per = bm->kind == RT_BTYD_PARETO ? c->unit_name : "purchase";
  if (a->format == FMT_JSON) {
    json_t *root = json_object();
    json_object_set_new(root, "model", json_string(model));
    json_object_set_new(root, "unit", json_string(c->unit_name));
    cli_as_of_json(a->model, root);
    json_object_set_new(root, "until", json_string(until));
    json_object_set_new(root, "customers", json_integer((json_int_t)info->n));
    json_object_set_new(root, "distinct_summaries", json_integer((json_int_t)info->distinct));
    json_object_set_new(root, "params", params_json(pn, pv, 4));
    json_object_set_new(root, "standard_errors", params_json(pn, info->se, 4));
    json_object_set_new(root, "prior", json_boolean(info->prior));
    json_object_set_new(root, "loglik", json_real(info->loglik));
    json_object_set_new(root, "converged", json_boolean(info->converged));
    json_object_set_new(root, "evaluations", json_integer(info->evaluations));
    json_object_set_new(root, "starts", json_integer(info->starts));
    json_t *d = json_object();
    json_object_set_new(d, "identified", json_boolean(identified));
    json_object_set_new(d, "dropped_share", json_real(info->dropped_share));
    json_object_set_new(d, "mean_dropout", json_real(info->dropout));
    json_object_set_new(d, "per", json_string(per));
    json_object_set_new(d, "log_se", isfinite(info->dropout_lse)
                                         ? json_real(info->dropout_lse) : json_null());
    json_object_set_new(root, "dropout", d);
    if (gg_ok) {
      json_t *sp = json_object();
      json_object_set_new(sp, "model", json_string("gamma-gamma"));
      json_object_set_new(sp, "customers", json_integer((json_int_t)gg->info.n));
      const char *gn[] = {"p", "q", "v"};
      const double gv[] = {gg->p, gg->q, gg->v};
      json_object_set_new(sp, "params", params_json(gn, gv, 3));
      json_object_set_new(sp, "standard_errors", params_json(gn, gg->info.se, 3));
      json_object_set_new(sp, "loglik", json_real(gg->info.loglik));
      json_object_set_new(sp, "converged", json_boolean(gg->info.converged));
      json_object_set_new(root, "spend", sp);
    }
    json_object_set_new(root, "warnings", warnings_json(&fw));
    json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    printf("\n");
    json_decref(root);
    return;
  }
  if (a->format == FMT_CSV) {
    printf("model,parameter,value\n");
    for (int j = 0; j < 4; j++)
      printf("%s,%s,%.10g\n", model, pn[j], pv[j]);
    printf("%s,loglik,%.10g\n%s,converged,%d\n", model, info->loglik, model, info->converged);
    printf("%s,dropped_share,%.10g\n%s,dropout_identified,%d\n", model, info->dropped_share,
           model, identified);
    if (gg_ok)
      printf("gamma-gamma,p,%.10g\ngamma-gamma,q,%.10g\ngamma-gamma,v,%.10g\n"
             "gamma-gamma,loglik,%.10g\ngamma-gamma,converged,%d\n",
             gg->p, gg->q, gg->v, gg->info.loglik, gg->info.converged);
    warnings_stderr(&fw);
    return;
  }
  char n1[32], n2[32], asof[64];
  printf("%s purchases · %s customers (%s distinct summaries) · orders up to %s · unit: %s · "
         "as of %s\n",
         rt_btyd_name(bm->kind), cli_count((int64_t)info->n, n1, sizeof n1),
         cli_count((int64_t)info->distinct, n2, sizeof n2), until, c->unit_name,
         cli_as_of_text(a->model, asof, sizeof asof));
  for (int j = 0; j < 4; j++)
    printf("  %-5s = %10.4f  ± %.4f\n", pn[j], pv[j], info->se[j]);
  if (info->prior)
    printf("  (under 500 customers: a weak prior keeps the estimates finite; read them with "
           "their errors)\n");
  printf("  log-likelihood %.2f · %s after %d evaluations (best of %d starts)\n", info->loglik,
         info->converged ? "converged" : "NOT converged", info->evaluations, info->starts);
  printf("  dropout: %.1f%% of the customers gone by %s by the model's reckoning · mean %.4g "
         "per %s%s\n",
         100 * info->dropped_share, until, info->dropout, per,
         identified ? "" : " · NOT identified (no P(alive))");
  if (gg_ok) {
    printf("Gamma-Gamma spend · %s repeat buyers\n", cli_count((int64_t)gg->info.n, n1,
                                                              sizeof n1));
    printf("  p     = %10.4f  ± %.4f\n  q     = %10.4f  ± %.4f\n  v     = %10.4f  ± %.4f\n",
           gg->p, gg->info.se[0], gg->q, gg->info.se[1], gg->v, gg->info.se[2]);
    printf("  mean spend per order %.2f %s (net of refunds)\n",
           gg->q > 1 ? gg->p * gg->v / (gg->q - 1) : NAN, a->model->currency);
    printf("  log-likelihood %.2f · %s\n", gg->info.loglik,
           gg->info.converged ? "converged" : "NOT converged");
  } else {
    /* the reason without the "clv: " of the library's message */
    printf("Gamma-Gamma spend: not fitted: %s\n",
           strncmp(gg_why, "clv: ", 5) ? gg_why : gg_why + 5);
  }
  if (fw.n) {
    printf("Warnings:\n");
    for (int i = 0; i < fw.n; i++)
      print_wrapped("  ! ", "    ", fw.w[i].text);
  }
}

/* A number with `dec` (<= 6) decimals, without printf (millions of rows): rounded to an
 * integer of units of 10^-dec, written two digits at a time. */
static char *fixed(char *p, double v, int dec) {
  static const double scale[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
  static const uint64_t pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
  static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233"
                              "34353637383940414243444546474849505152535455565758596061626364656667"
                              "6869707172737475767778798081828384858687888990919293949596979899";
  if (!isfinite(v) || fabs(v) >= 9e12)
    return p + sprintf(p, "%.*f", dec, v);
  if (v < 0) {
    *p++ = '-';
    v = -v;
  }
  uint64_t u = (uint64_t)(v * scale[dec] + 0.5); /* half away from zero, as llround */
  uint64_t ip = u / pow10[dec], fp = u % pow10[dec];
  char digits[24], *d = digits + sizeof digits;
  while (ip >= 100) {
    d -= 2;
    memcpy(d, pairs + 2 * (ip % 100), 2);
    ip /= 100;
  }
  if (ip >= 10) {
    d -= 2;
    memcpy(d, pairs + 2 * ip, 2);
  } else {
    *--d = (char)('0' + ip);
  }
  size_t n = (size_t)(digits + sizeof digits - d);
  memcpy(p, d, n);
  p += n;
  if (dec) {
    *p++ = '.';
    for (int k = dec; k > 0; k -= 2) { /* from the right, in pairs */
      if (k == 1) {
        p[0] = (char)('0' + fp % 10);
        break;
      }
      memcpy(p + k - 2, pairs + 2 * (fp % 100), 2);
      fp /= 100;
    }
    p += dec;
  }
  return p;
}

/* Customer i's next order date into buf (16 bytes): the calibration end plus the median time
 * to the next purchase, rounded up to a whole day (by the end of that day the customer more
 * likely than not has ordered again), or "" when there is none. Returns its length. */
static size_t next_order(const rt_clv_summary *s, const rt_clv_predictions *pr, size_t i,
                         char *buf) {
  double days = pr->next[i] * s->unit_days;
  buf[0] = 0;
  if (!(days >= 0) || days >= 1e6) return 0;
  return (size_t)rt_day_format(s->until_day + (int32_t)ceil(days - 1e-9), buf, 16);
}

/* predict --save: a model run with its parameters, and every customer's scores, in one
 * transaction. */
static int save_scores(const cli_global *g, const clv_args *c, const cli_analysis *a,
                       const rt_clv_summary *s, const rt_btyd *bm, const rt_gamma_gamma *gg,
                       int gg_ok, const rt_clv_predictions *pr) {
  const rt_model *m = a->model;
  char until[16];
  rt_day_format(s->until_day, until, sizeof until);
  json_t *p = json_object();
  json_object_set_new(p, "unit", json_string(c->unit_name));
  json_object_set_new(p, "until", json_string(until));
  json_object_set_new(p, "horizon_days", json_real(c->horizon_days));
  json_object_set_new(p, "discount_monthly", json_real(c->discount));
  const char *pn[4];
  double pv[4];
  rt_btyd_params(bm, pn, pv);
  json_object_set_new(p, "params", params_json(pn, pv, 4));
  if (gg_ok) {
    const char *gn[] = {"p", "q", "v"};
    const double gv[] = {gg->p, gg->q, gg->v};
    json_object_set_new(p, "spend", params_json(gn, gv, 3));
  }
  fit_warnings fw;
  collect_warnings(bm, gg, gg_ok, until, &fw);
  json_object_set_new(p, "warnings", warnings_json(&fw));
  char *params = json_dumps(p, JSON_COMPACT | JSON_REAL_PRECISION(10));
  json_decref(p);
  rt_store *st = NULL;
  rt_error err = {0};
  int64_t run = 0;
  int rc = cli_open_store(g, 0, &st);
  if (!rc && (rt_store_begin(st, &err) ||
              rt_store_score_run_begin(st, rt_btyd_key(bm->kind), params, &run, &err)))
    rc = cli_fail(&err);
  for (size_t i = 0; !rc && i < s->n; i++) {
    char next[16];
    next_order(s, pr, i, next);
    rt_score_rec r = {.customer = m->store_id[s->customer[i]], .p_alive = pr->p_alive[i],
                      .expected_purchases = pr->expected[i], .predicted_clv = pr->value[i],
                      .churn_probability = NAN, .expected_next_order = next[0] ? next : NULL};
    if (rt_store_score_put(st, run, &r, &err)) rc = cli_fail(&err);
  }
  if (!rc && (rt_store_score_run_finish(st, run, (int64_t)s->n, &err) ||
              rt_store_commit(st, &err)))
    rc = cli_fail(&err);
  if (rc && st) rt_store_rollback(st);
  rt_store_close(st);
  free(params);
  if (!rc && !g->quiet) {
    char n1[32];
    fprintf(stderr, "retain: saved model run %lld with %s customers' scores (tables model_runs, "
            "customer_scores)\n", (long long)run, cli_count((int64_t)s->n, n1, sizeof n1));
  }
  return rc;
}

/* The CSV rows are formatted in chunks on two threads, each reusing one buffer and writing its
 * chunk to stdout when the chunk before it is out: the output streams in order while it is
 * formatted, and no buffer grows with the number of customers. */
#define CSV_CHUNK 8192 /* customers per chunk */

typedef struct csv_writer {
  const cli_analysis *a;
  const rt_clv_summary *s;
  const rt_clv_predictions *pr;
  size_t nchunks, next; /* the chunk whose turn it is to be written */
  int nthreads, failed;
  pthread_mutex_t mu;
  pthread_cond_t turn;
} csv_writer;

typedef struct csv_thread {
  csv_writer *w;
  int t;
} csv_thread;

/* customers i0..i1-1 as CSV rows at p (room enough: see csv_chunks); returns the end */
static char *csv_rows(const csv_writer *w, size_t i0, size_t i1, char *p) {
  const rt_clv_summary *s = w->s;
  const rt_clv_predictions *pr = w->pr;
  const uint64_t *only = w->a->members; /* --segment */
  for (size_t i = i0; i < i1; i++) {
    uint32_t ci = s->customer[i];
    if (only && !(only[ci / 64] >> (ci % 64) & 1)) continue;
    p += rt_csv_cell(p, rt_model_ext_id(w->a->model, ci), RT_CSV_TEXT);
    *p++ = ',';
    if (!isnan(pr->p_alive[i])) p = fixed(p, pr->p_alive[i], 6);
    *p++ = ',';
    p = fixed(p, pr->expected[i], 6);
    *p++ = ',';
    if (!isnan(pr->value[i])) p = fixed(p, pr->value[i], 2);
    *p++ = ',';
    p += next_order(s, pr, i, p);
    *p++ = ',';
    p = fixed(p, s->spent[i], 2);
    *p++ = ',';
    if (s->x[i] > 0) p = fixed(p, s->t_x[i] * s->unit_days / s->x[i], 2);
    *p++ = '\n';
  }
  return p;
}

static void *csv_chunks(void *arg) {
  csv_thread *ct = arg;
  csv_writer *w = ct->w;
  char *buf = NULL;
  size_t cap = 0;
  for (size_t c = (size_t)ct->t; c < w->nchunks; c += (size_t)w->nthreads) {
    size_t i0 = c * CSV_CHUNK, i1 = i0 + CSV_CHUNK < w->s->n ? i0 + CSV_CHUNK : w->s->n;
    size_t need = 0; /* ids as cells (RT_CSV_CELL_ROOM) plus 400 bytes of numbers a row */
    for (size_t i = i0; i < i1; i++)
      need += RT_CSV_CELL_ROOM(strlen(rt_model_ext_id(w->a->model, w->s->customer[i]))) + 400;
    if (need > cap) {
      char *b = realloc(buf, need);
      if (!b) {
        pthread_mutex_lock(&w->mu);
        w->failed = 1;
        pthread_cond_broadcast(&w->turn);
        pthread_mutex_unlock(&w->mu);
        break;
      }
      buf = b;
      cap = need;
    }
    size_t len = (size_t)(csv_rows(w, i0, i1, buf) - buf);
    pthread_mutex_lock(&w->mu);
    while (w->next != c && !w->failed)
      pthread_cond_wait(&w->turn, &w->mu);
    int failed = w->failed;
    pthread_mutex_unlock(&w->mu);
    if (failed) break;
    if (fwrite(buf, 1, len, stdout) != len) failed = 1;
    pthread_mutex_lock(&w->mu);
    w->failed |= failed;
    w->next++;
    pthread_cond_broadcast(&w->turn);
    pthread_mutex_unlock(&w->mu);
    if (failed) break;
  }
  free(buf);
  return NULL;
}

static int print_predict(const cli_global *g, const clv_args *c, const cli_analysis *a,
                         const rt_clv_summary *s, const rt_btyd *bm, const fit_warnings *fw,
                         const rt_clv_predictions *pr) {
  const rt_model *m = a->model;
  if (a->format != FMT_JSON) {
    cli_as_of_note(g, m);
    warnings_stderr(fw);
    printf("customer_id,p_alive,expected_purchases,predicted_clv,next_order_by,"
           "historic_clv,avg_days_between_orders\n");
    csv_writer w = {a, s, pr, (s->n + CSV_CHUNK - 1) / CSV_CHUNK, 0, 2, 0,
                    PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};
    csv_thread ct[2] = {{&w, 0}, {&w, 1}};
    pthread_t th;
    if (w.nchunks < 2 || pthread_create(&th, NULL, csv_chunks, &ct[1]) != 0) w.nthreads = 1;
    csv_chunks(&ct[0]);
    if (w.nthreads > 1) pthread_join(th, NULL);
    if (w.failed || fflush(stdout) != 0) {
      fprintf(stderr, "retain: writing the predictions failed (out of memory or output error)\n");
      return CLI_FAIL;
    }
    return CLI_OK;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < s->n; i++) {
    uint32_t ci = s->customer[i];
    if (a->members && !(a->members[ci / 64] >> (ci % 64) & 1)) continue;
    double x = s->x[i];
    char next[16];
    next_order(s, pr, i, next);
    double gap = x > 0 ? s->t_x[i] * s->unit_days / x : NAN;
    json_t *o = json_object();
    json_object_set_new(o, "customer_id", json_string(rt_model_ext_id(m, ci)));
    json_object_set_new(o, "p_alive", isnan(pr->p_alive[i]) ? json_null()
                                                              : json_real(pr->p_alive[i]));
    json_object_set_new(o, "expected_purchases", json_real(pr->expected[i]));
    json_object_set_new(o, "predicted_clv",
                        isnan(pr->value[i]) ? json_null() : json_real(pr->value[i]));
    json_object_set_new(o, "next_order_by", next[0] ? json_string(next) : json_null());
    json_object_set_new(o, "historic_clv", json_real(s->spent[i]));
    json_object_set_new(o, "avg_days_between_orders", isnan(gap) ? json_null() : json_real(gap));
    json_array_append_new(arr, o);
  }
  char until[16];
  rt_day_format(s->until_day, until, sizeof until);
  json_t *root = json_object();
  json_object_set_new(root, "model", json_string(rt_btyd_key(bm->kind)));
  cli_as_of_json(a->model, root);
  json_object_set_new(root, "until", json_string(until));
  json_object_set_new(root, "unit", json_string(c->unit_name));
  json_object_set_new(root, "horizon_days", json_real(c->horizon_days));
  json_object_set_new(root, "warnings", warnings_json(fw));
  json_object_set_new(root, "customers", arr);
  json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
  printf("\n");
  json_decref(root);
  return CLI_OK;
}

static void print_holdout(const clv_args *c, const cli_analysis *a, const rt_clv_summary *s,
                          const rt_btyd *bm, int periods, const double *actual,
                          const double *predicted) {
  double ca = 0, cp = 0, abs_err = 0;
  char until[16];
  rt_day_format(s->until_day, until, sizeof until);
  if (a->format == FMT_CSV) printf("period,actual,predicted,cumulative_actual,cumulative_predicted\n");
  json_t *arr = a->format == FMT_JSON ? json_array() : NULL;
  cli_table tb;
  cli_table_init(&tb, 5);
  const char *head[] = {c->unit_name, "actual", "predicted", "cum. actual", "cum. predicted"};
  cli_table_row(&tb, head);
  for (int k = 0; k < periods; k++) {
    ca += actual[k];
    cp += predicted[k];
    abs_err += fabs(actual[k] - predicted[k]);
    if (a->format == FMT_CSV) {
      printf("%d,%.0f,%.4f,%.0f,%.4f\n", k + 1, actual[k], predicted[k], ca, cp);
    } else if (arr) {
      json_t *o = json_object();
      json_object_set_new(o, "period", json_integer(k + 1));
      json_object_set_new(o, "actual", json_real(actual[k]));
      json_object_set_new(o, "predicted", json_real(predicted[k]));
      json_array_append_new(arr, o);
    } else {
      char cell[5][32];
      snprintf(cell[0], 32, "%d", k + 1);
      snprintf(cell[1], 32, "%.0f", actual[k]);
      snprintf(cell[2], 32, "%.1f", predicted[k]);
      snprintf(cell[3], 32, "%.0f", ca);
      snprintf(cell[4], 32, "%.1f", cp);
      const char *row[5] = {cell[0], cell[1], cell[2], cell[3], cell[4]};
      cli_table_row(&tb, row);
    }
  }
  double rel = ca > 0 ? (cp - ca) / ca : NAN, mae = periods ? abs_err / periods : NAN;
  if (arr) {
    json_t *root = json_object();
    json_object_set_new(root, "model", json_string(rt_btyd_key(bm->kind)));
    cli_as_of_json(a->model, root);
    json_object_set_new(root, "until", json_string(until));
    json_object_set_new(root, "unit", json_string(c->unit_name));
    json_object_set_new(root, "customers", json_integer((json_int_t)s->n));
    json_object_set_new(root, "actual_total", json_real(ca));
    json_object_set_new(root, "predicted_total", json_real(cp));
    json_object_set_new(root, "total_error", isnan(rel) ? json_null() : json_real(rel));
    json_object_set_new(root, "mean_abs_error_per_period", json_real(mae));
    json_object_set_new(root, "periods", arr);
    json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    printf("\n");
    json_decref(root);
  } else if (a->format == FMT_TABLE) {
    char n1[32];
    printf("Holdout check · %s · %s customers fitted on orders up to %s · repeat purchases "
           "per %s\n\n",
           rt_btyd_name(bm->kind), cli_count((int64_t)s->n, n1, sizeof n1), until,
           c->unit_name);
    cli_table_print(&tb, stdout);
    printf("\nIn all: %.0f actual, %.1f predicted (%+.1f%%); mean absolute error %.1f per %s.\n",
           ca, cp, 100 * rel, mae, c->unit_name);
  }
  cli_table_free(&tb);
}

int cmd_clv(const cli_global *g, int argc, char **argv) {
  if (argc < 2 || cli_is_help(argv[1])) {
    help();
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  clv_args c = {0};
  c.unit_days = 7;
  c.unit_name = "week";
  c.horizon_days = 52 * 7;
  int holdout = 0;
  rt_btyd_kind kind = RT_BTYD_DEFAULT;
  int64_t periods = 0;
  if (!strcmp(argv[1], "summary")) {
    const char *segment = NULL;
    int by_seg = 0;
    cli_format format = FMT_TABLE;
    for (int i = 2; i < argc; i++) {
      const char *v;
      int r;
      if (cli_is_help(argv[i])) {
        help();
        return CLI_OK;
      }
      if ((r = cli_value(argc, argv, &i, "--segment", &v)) != 0) {
        if (r < 0) return CLI_USAGE;
        segment = v;
      } else if ((r = cli_by_option("clv", argc, argv, &i, &by_seg)) != 0) {
        if (r < 0) return CLI_USAGE;
      } else if ((r = cli_value(argc, argv, &i, "--format", &v)) != 0) {
        if (r < 0 || cli_parse_format("clv", v, &format)) return CLI_USAGE;
      } else {
        return cli_usage_error("clv", "unknown argument '%s' (summary takes --segment, --by "
                                      "segment, --format)", argv[i]);
      }
    }
    if (segment && by_seg) return cli_usage_error("clv", "--segment or --by segment, not both");
    return cli_clv_summary(g, segment, by_seg, format);
  }
  if (!strcmp(argv[1], "predict")) c.predict = 1;
  else if (!strcmp(argv[1], "holdout")) holdout = 1;
  else if (strcmp(argv[1], "fit"))
    return cli_usage_error("clv", "unknown subcommand '%s' (expected fit, predict, holdout or "
                                  "summary)",
                           argv[1]);
  cli_analysis a;
  cli_analysis_init(&a, g);
  if (c.predict) a.format = FMT_CSV;
  for (int i = 2; i < argc; i++) {
    const char *v;
    int r;
    if (cli_is_help(argv[i])) {
      help();
      return CLI_OK;
    }
    if ((r = cli_value(argc, argv, &i, "--model", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      if (!strcmp(v, "pareto")) kind = RT_BTYD_PARETO;
      else if (!strcmp(v, "bgnbd")) kind = RT_BTYD_BGNBD;
      else if (!strcmp(v, "mbgnbd")) kind = RT_BTYD_MBGNBD;
      else return cli_usage_error("clv", "--model wants mbgnbd, bgnbd or pareto, not '%s'", v);
      continue;
    }
    if (cli_flag(argv, i, "--save")) {
      c.save = 1;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--periods", &v)) != 0) {
      if (r < 0 || cli_parse_int("clv", "--periods", v, 1, 100000, &periods)) return CLI_USAGE;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--until", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      c.until_s = v;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--unit", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      if (!strcmp(v, "day")) c.unit_days = 1;
      else if (!strcmp(v, "week")) c.unit_days = 7;
      else if (!strcmp(v, "month")) c.unit_days = 365.25 / 12;
      else return cli_usage_error("clv", "--unit wants day, week or month, not '%s'", v);
      c.unit_name = v;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--horizon", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      if (cli_parse_days(v, 1e6, &c.horizon_days))
        return cli_usage_error("clv", "--horizon wants a length like 52w, 90d, 12m or 1y, "
                                      "not '%s'", v);
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--discount", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      char *end;
      c.discount = strtod(v, &end);
      if (end == v || *end || !(c.discount >= 0) || c.discount >= 1)
        return cli_usage_error("clv", "--discount wants a monthly rate in [0, 1), not '%s'", v);
      continue;
    }
    if (!strcmp(argv[i], "--period") || !strcmp(argv[i], "--from") || !strcmp(argv[i], "--to"))
      return cli_usage_error("clv", "%s is not an option of clv (see --until and --unit)",
                             argv[i]);
    r = cli_analysis_option("clv", argc, argv, &i, &a);
    if (r < 0) return CLI_USAGE;
    if (r == 0) return cli_usage_error("clv", "unknown argument '%s'", argv[i]);
  }
  if (c.save && (!c.predict || a.orders_path)) {
    cli_analysis_free(&a);
    return cli_usage_error("clv", "--save stores the scores of `clv predict` in the store (not "
                                  "with --orders)");
  }
  int rc = cli_analysis_load("clv", g, &a);
  if (rc) {
    cli_analysis_free(&a);
    return rc;
  }
  rt_error err = {0};
  int32_t until = INT32_MAX;
  if (c.until_s) {
    int64_t ms;
    if (rt_date_parse(NULL, c.until_s, strlen(c.until_s), a.tz, &ms, &err)) {
      cli_analysis_free(&a);
      return cli_usage_error("clv", "--until: %s", err.msg);
    }
    until = (int32_t)rt_tz_day(a.tz, ms);
  }
  rt_clv_summary *s = NULL;
  rt_btyd bg;
  rt_gamma_gamma gg;
  spend_fit sf = {0};
  pthread_t sth;
  int sthread = 0;
  if (rt_clv_summarize(a.model, until, c.unit_days, &s, &err) ||
      (sf.s = s, sf.out = &gg, sthread = pthread_create(&sth, NULL, fit_spend, &sf) == 0,
       rt_btyd_fit(s, kind, &bg, &err))) {
    if (sthread) pthread_join(sth, NULL);
    rc = cli_fail(&err);
  } else {
    if (sthread) pthread_join(sth, NULL);
    else fit_spend(&sf);
    int gg_ok = sf.ok;
    if (holdout) {
      int np = periods ? (int)periods : rt_clv_holdout_periods(a.model, s);
      double *act = malloc((size_t)(np > 0 ? np : 1) * sizeof *act);
      double *pred = malloc((size_t)(np > 0 ? np : 1) * sizeof *pred);
      if (!act || !pred) {
        fprintf(stderr, "retain: out of memory\n");
        rc = CLI_FAIL;
      } else if (rt_clv_holdout(a.model, s, &bg, np, act, pred, &err)) {
        rc = cli_fail(&err);
      } else {
        char u[16];
        fit_warnings fw;
        rt_day_format(s->until_day, u, sizeof u);
        collect_warnings(&bg, &gg, gg_ok, u, &fw);
        warnings_stderr(&fw);
        print_holdout(&c, &a, s, &bg, np, act, pred);
      }
      free(act);
      free(pred);
    } else if (c.predict) {
      double disc = pow(1 + c.discount, c.unit_days / (365.25 / 12)) - 1; /* per unit */
      rt_clv_predictions *pr = NULL;
      if (rt_clv_predict(s, &bg, gg_ok ? &gg : NULL, c.horizon_days / c.unit_days, disc, &pr,
                         &err))
        rc = cli_fail(&err);
      else {
        char u[16];
        fit_warnings fw;
        rt_day_format(s->until_day, u, sizeof u);
        collect_warnings(&bg, &gg, gg_ok, u, &fw);
        rc = print_predict(g, &c, &a, s, &bg, &fw, pr);
      }
      if (!rc && c.save) rc = save_scores(g, &c, &a, s, &bg, &gg, gg_ok, pr);
      rt_clv_predictions_free(pr);
    } else {
      print_fit(&c, &a, s, &bg, &gg, gg_ok, sf.err.msg);
    }
  }
  rt_clv_summary_free(s);
  cli_analysis_free(&a);
  return rc;
}
