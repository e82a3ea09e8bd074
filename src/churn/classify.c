/* classify.c - the churn classifiers on a table (churn.h): gradient-boosted trees through the
 * XGBoost C API with early stopping on a validation part of the training rows, an
 * L2-regularized logistic regression (NLopt's L-BFGS on standardized features), the AUC, and
 * stratified k-fold cross-validation. */
#include <retain/alloc.h>
#include <retain/churn.h>

#include <math.h>
#include <nlopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "churn/xgb.h"
#include "gen/rng.h"

/* ---- AUC: the Mann-Whitney statistic, ties counted half ---- */

typedef struct scored {
  double s;
  uint8_t y;
} scored;

static int cmp_scored(const void *a, const void *b) {
  double x = ((const scored *)a)->s, y = ((const scored *)b)->s;
  return x < y ? -1 : x > y;
}

double rt_auc(const double *score, const uint8_t *y, size_t n) {
  scored *v = rt_malloc((n ? n : 1) * sizeof *v);
  if (!v)
    return NAN;
  size_t pos = 0;
  for (size_t i = 0; i < n; i++) {
    v[i] = (scored){score[i], y[i]};
    pos += y[i] != 0;
  }
  qsort(v, n, sizeof *v, cmp_scored);
  double rank_sum = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && v[j].s == v[i].s)
      j++;
    double mid = (double)(i + j + 1) / 2; /* the mean rank of the tie group, 1-based */
    for (size_t k = i; k < j; k++)
      if (v[k].y)
        rank_sum += mid;
    i = j;
  }
  rt_free(v);
  size_t neg = n - pos;
  if (!pos || !neg)
    return NAN;
  return (rank_sum - (double)pos * (double)(pos + 1) / 2) / ((double)pos * (double)neg);
}

/* ---- logistic regression ---- */

typedef struct logit {
  const float *x; /* standardized rows, ncols + 1 (a constant 1 last) */
  const uint8_t *y;
  size_t n, k;
  double lambda;
} logit;

static double logit_obj(unsigned k, const double *w, double *g, void *data) {
  const logit *L = data;
  double f = 0;
  if (g)
    memset(g, 0, k * sizeof *g);
  for (size_t i = 0; i < L->n; i++) {
    const float *xi = L->x + i * L->k;
    double z = 0;
    for (size_t j = 0; j < L->k; j++)
      z += w[j] * xi[j];
    /* log(1 + e^z) - y z, stable */
    double lz = z > 0 ? z + log1p(exp(-z)) : log1p(exp(z));
    f += lz - L->y[i] * z;
    if (g) {
      double p = 1 / (1 + exp(-z)), d = p - L->y[i];
      for (size_t j = 0; j < L->k; j++)
        g[j] += d * xi[j];
    }
  }
  double reg = 0;
  for (size_t j = 0; j + 1 < L->k; j++) { /* the intercept is not penalized */
    reg += w[j] * w[j];
    if (g)
      g[j] = (g[j] + L->lambda * w[j]) / (double)L->n;
  }
  if (g)
    g[L->k - 1] /= (double)L->n;
  return (f + L->lambda * reg / 2) / (double)L->n;
}

/* Rows standardized with the training means and deviations, missing values at the mean (0),
 * and a constant 1 last for the intercept. */
static void standardize(const rt_ctable *t, const size_t *rows, size_t nrow, const double *mean,
                        const double *sd, float *x) {
  size_t k = t->ncols + 1;
  for (size_t i = 0; i < nrow; i++) {
    for (size_t j = 0; j < t->ncols; j++) {
      float v = t->x[rows[i] * t->ncols + j];
      x[i * k + j] = isnan(v) ? 0.0f : (float)((v - mean[j]) / sd[j]);
    }
    x[i * k + k - 1] = 1;
  }
}

/* Trains on rows tr, scores rows te (probabilities into score). */
int rt__logistic_fold(const rt_ctable *t, const size_t *tr, size_t ntr, const size_t *te,
                         size_t nte, double *score) {
  size_t k = t->ncols + 1;
  double *mean = rt_calloc(k, sizeof *mean), *sd = rt_calloc(k, sizeof *sd);
  double *cnt = rt_calloc(k, sizeof *cnt), *w = rt_calloc(k, sizeof *w);
  float *x = rt_malloc(((ntr > nte ? ntr : nte) * k) * sizeof *x);
  uint8_t *y = rt_malloc(ntr ? ntr : 1);
  int rc = RT_ENOMEM;
  if (!mean || !sd || !cnt || !w || !x || !y)
    goto out;
  for (size_t i = 0; i < ntr; i++)
    for (size_t j = 0; j < t->ncols; j++) {
      float v = t->x[tr[i] * t->ncols + j];
      if (!isnan(v)) {
        mean[j] += v;
        sd[j] += (double)v * v;
        cnt[j]++;
      }
    }
  for (size_t j = 0; j < t->ncols; j++) {
    mean[j] = cnt[j] ? mean[j] / cnt[j] : 0;
    double var = cnt[j] ? sd[j] / cnt[j] - mean[j] * mean[j] : 0;
    sd[j] = var > 1e-12 ? sqrt(var) : 1;
  }
  standardize(t, tr, ntr, mean, sd, x);
  for (size_t i = 0; i < ntr; i++)
    y[i] = t->y[tr[i]];
  logit L = {x, y, ntr, k, 1.0};
  nlopt_opt opt = nlopt_create(NLOPT_LD_LBFGS, (unsigned)k);
  if (!opt)
    goto out;
  nlopt_set_min_objective(opt, logit_obj, &L);
  nlopt_set_ftol_rel(opt, 1e-10);
  nlopt_set_maxeval(opt, 2000);
  double f;
  nlopt_optimize(opt, w, &f);
  nlopt_destroy(opt);
  standardize(t, te, nte, mean, sd, x);
  for (size_t i = 0; i < nte; i++) {
    double z = 0;
    for (size_t j = 0; j < k; j++)
      z += w[j] * x[i * k + j];
    score[i] = 1 / (1 + exp(-z));
  }
  rc = 0;
out:
  rt_free(mean);
  rt_free(sd);
  rt_free(cnt);
  rt_free(w);
  rt_free(x);
  rt_free(y);
  return rc;
}

/* ---- gradient-boosted trees (XGBoost) ---- */

int rt__xgb_dmatrix(const rt_ctable *t, const size_t *rows, size_t n, void **out) {
  float *x = rt_malloc((n * t->ncols > 0 ? n * t->ncols : 1) * sizeof *x);
  float *y = rt_malloc((n ? n : 1) * sizeof *y);
  int rc = RT_ENOMEM;
  if (x && y) {
    for (size_t i = 0; i < n; i++) {
      memcpy(x + i * t->ncols, t->x + (rows ? rows[i] : i) * t->ncols, t->ncols * sizeof *x);
      y[i] = t->y ? t->y[rows ? rows[i] : i] : 0;
    }
    DMatrixHandle d = NULL;
    rc = XGDMatrixCreateFromMat(x, n, t->ncols, NAN, &d) ||
                 XGDMatrixSetFloatInfo(d, "label", y, n)
             ? RT_EIO
             : 0;
    *out = d;
  }
  rt_free(x);
  rt_free(y);
  return rc;
}

int rt__xgb_train(const rt_ctable *t, const size_t *tr, size_t ntr, size_t nval, void **out,
                  int *rounds) {
  DMatrixHandle dtr = NULL, dval = NULL;
  BoosterHandle b = NULL;
  *out = NULL;
  int rc = rt__xgb_dmatrix(t, tr, ntr - nval, &dtr);
  if (!rc)
    rc = rt__xgb_dmatrix(t, tr + (ntr - nval), nval, &dval);
  if (!rc) {
    DMatrixHandle cache[1] = {dtr};
    rc = XGBoosterCreate(cache, 1, &b) ? RT_EIO : 0;
  }
  static const char *params[][2] = {
      {"objective", "binary:logistic"}, {"eval_metric", "logloss"}, {"eta", "0.05"},
      {"max_depth", "3"}, {"min_child_weight", "5"}, {"subsample", "0.8"},
      {"colsample_bytree", "0.8"}, {"lambda", "1"}, {"nthread", "2"}, {"seed", "7"},
      {"verbosity", "0"}, {"tree_method", "hist"}};
  for (size_t p = 0; !rc && p < sizeof params / sizeof params[0]; p++)
    rc = XGBoosterSetParam(b, params[p][0], params[p][1]) ? RT_EIO : 0;
  /* boost until the validation log-loss has not improved for 50 rounds */
  int best = 0;
  double best_loss = INFINITY;
  for (int it = 0; !rc && it < 2000 && it - best < 50; it++) {
    if (XGBoosterUpdateOneIter(b, it, dtr)) {
      rc = RT_EIO;
      break;
    }
    DMatrixHandle ev[1] = {dval};
    const char *names[1] = {"val"}, *res;
    if (XGBoosterEvalOneIter(b, it, ev, names, 1, &res)) {
      rc = RT_EIO;
      break;
    }
    const char *colon = strrchr(res, ':');
    double loss = colon ? atof(colon + 1) : INFINITY;
    if (loss < best_loss - 1e-9) {
      best_loss = loss;
      best = it;
    }
  }
  XGDMatrixFree(dtr);
  XGDMatrixFree(dval);
  if (rc) {
    XGBoosterFree(b);
    return rc;
  }
  /* keep the best trees only */
  BoosterHandle sliced = NULL;
  if (XGBoosterSlice(b, 0, best + 1, 1, &sliced) == 0) {
    XGBoosterFree(b);
    b = sliced;
  }
  *out = b;
  *rounds = best + 1;
  return 0;
}

int rt__xgb_predict(void *booster, void *dmat, int contrib, size_t n, size_t ncols, double *prob,
                    float *contribs) {
  const char *cfg = contrib ? "{\"type\": 2, \"training\": false, \"iteration_begin\": 0, "
                              "\"iteration_end\": 0, \"strict_shape\": false}"
                            : "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
                              "\"iteration_end\": 0, \"strict_shape\": false}";
  const bst_ulong *shape;
  bst_ulong dim;
  const float *pred;
  if (XGBoosterPredictFromDMatrix(booster, dmat, cfg, &shape, &dim, &pred))
    return RT_EIO;
  if (contrib)
    memcpy(contribs, pred, n * (ncols + 1) * sizeof *contribs);
  else
    for (size_t i = 0; i < n; i++)
      prob[i] = pred[i];
  return 0;
}

/* Trains on rows tr (the last nval of them validate, for early stopping), scores rows te. */
static int xgb_fold(const rt_ctable *t, const size_t *tr, size_t ntr, size_t nval,
                    const size_t *te, size_t nte, double *score, int *rounds) {
  void *b = NULL, *dte = NULL;
  int rc = rt__xgb_train(t, tr, ntr, nval, &b, rounds);
  if (!rc)
    rc = rt__xgb_dmatrix(t, te, nte, &dte);
  if (!rc)
    rc = rt__xgb_predict(b, dte, 0, nte, t->ncols, score, NULL);
  XGDMatrixFree(dte);
  XGBoosterFree(b);
  return rc;
}

/* ---- cross-validation ---- */

void rt__shuffled_rows(size_t *rows, size_t n, uint64_t seed, uint64_t key) {
  rt__rng g;
  rt__rng_seed(&g, seed, key, 0);
  for (size_t i = 0; i < n; i++)
    rows[i] = i;
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)(rt__rng_next(&g) % i), tmp = rows[i - 1];
    rows[i - 1] = rows[j];
    rows[j] = tmp;
  }
}

int rt_churn_cv(const rt_ctable *t, rt_churn_algo algo, int folds, uint64_t seed,
                rt_cv_result *out, rt_error *err) {
  memset(out, 0, sizeof *out);
  if (folds < 2 || folds > RT_CV_MAX_FOLDS)
    return rt_error_set(err, RT_EINVAL, "churn: folds must be 2 to %d", RT_CV_MAX_FOLDS);
  size_t n = t->nrows, npos = 0;
  for (size_t i = 0; i < n; i++)
    npos += t->y[i];
  if (npos < (size_t)folds || n - npos < (size_t)folds)
    return rt_error_set(err, RT_EINVAL, "churn: each fold needs both labels (%zu churned, "
                        "%zu not)", npos, n - npos);
  /* stratified folds: each class shuffled, then dealt round-robin */
  int *fold = rt_malloc(n * sizeof *fold);
  size_t *order = rt_malloc(n * sizeof *order), *tr = rt_malloc(n * sizeof *tr);
  size_t *te = rt_malloc(n * sizeof *te);
  double *score = rt_malloc(n * sizeof *score);
  uint8_t *yte = rt_malloc(n);
  int rc = 0;
  if (!fold || !order || !tr || !te || !score || !yte) {
    rc = rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
    goto out;
  }
  rt__shuffled_rows(order, n, seed, 17);
  size_t dealt[2] = {0, 0};
  for (size_t i = 0; i < n; i++) {
    int c = t->y[order[i]];
    fold[order[i]] = (int)(dealt[c]++ % (size_t)folds);
  }
  for (int f = 0; f < folds && !rc; f++) {
    size_t ntr = 0, nte = 0;
    for (size_t i = 0; i < n; i++) /* in shuffled order, so the validation tail is random */
      if (fold[order[i]] == f)
        te[nte++] = order[i];
      else
        tr[ntr++] = order[i];
    size_t nval = ntr / 5;
    if (algo == RT_CHURN_XGBOOST)
      rc = xgb_fold(t, tr, ntr, nval, te, nte, score, &out->rounds[f]);
    else
      rc = rt__logistic_fold(t, tr, ntr, te, nte, score);
    if (rc) {
      rc = rt_error_set(err, rc, "churn: %s", rc == RT_EIO ? XGBGetLastError()
                                                           : rt_strerror(rc));
      break;
    }
    for (size_t i = 0; i < nte; i++)
      yte[i] = t->y[te[i]];
    out->auc[f] = rt_auc(score, yte, nte);
  }
  if (!rc) {
    out->folds = folds;
    double s = 0, s2 = 0;
    for (int f = 0; f < folds; f++)
      s += out->auc[f];
    out->mean = s / folds;
    for (int f = 0; f < folds; f++)
      s2 += (out->auc[f] - out->mean) * (out->auc[f] - out->mean);
    out->sd = sqrt(s2 / (folds - 1));
  }
out:
  rt_free(fold);
  rt_free(order);
  rt_free(tr);
  rt_free(te);
  rt_free(score);
  rt_free(yte);
  return rc;
}
