/* model.c - a churn model trained on features (churn.h): an XGBoost booster with early stopping,
 * saved as XGBoost's JSON model next to the store with the names of its features and their
 * medians over the training customers (what reasons call typical), its predictions and SHAP
 * contributions, and the quality measures of scores against labels. */
#include <retain/alloc.h>
#include <retain/churn.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "churn/columns.h"
#include "churn/xgb.h"

struct rt_churn_model {
  BoosterHandle booster;
  int rounds;
  char *features; /* the training table's column names, one per line (a booster attribute) */
  char *typical;  /* their medians over the training rows, one per line ("nan": none), or NULL
                     for a model saved before they were kept (another attribute) */
};

void rt_churn_model_free(rt_churn_model *m) {
  if (!m)
    return;
  XGBoosterFree(m->booster);
  rt_free(m->features);
  rt_free(m->typical);
  rt_free(m);
}

/* Records t's column names and medians in the booster, so that a saved model knows its
 * features and what was typical of them. */
static int keep_names(rt_churn_model *m, const rt_ctable *t) {
  size_t len = 1;
  for (size_t j = 0; j < t->ncols; j++)
    len += strlen(t->names[j]) + 1;
  char *s = rt_malloc(len), *p = s, *typ = rt_malloc(t->ncols * 32 + 1);
  if (!s || !typ) {
    rt_free(s);
    rt_free(typ);
    return RT_ENOMEM;
  }
  size_t o = 0;
  for (size_t j = 0; j < t->ncols; j++) {
    size_t n = strlen(t->names[j]);
    memcpy(p, t->names[j], n);
    p += n;
    *p++ = '\n';
    double med = rt__ctable_median(t, j);
    o += (size_t)snprintf(typ + o, 32, isnan(med) ? "nan\n" : "%.9g\n", med);
  }
  *p = 0;
  typ[o] = 0;
  m->features = s;
  m->typical = typ;
  return XGBoosterSetAttr(m->booster, "retain_features", s) ||
                 XGBoosterSetAttr(m->booster, "retain_typical", typ)
             ? RT_EIO
             : 0;
}

int rt__churn_model_typical(const rt_churn_model *m, const char *name, double *out) {
  if (!m->features || !m->typical)
    return -1;
  /* line k of typical belongs to line k of features (a model file is input: lines may lack) */
  size_t len = strlen(name);
  const char *p = m->features, *v = m->typical;
  while (*p && *v) {
    const char *pe = strchr(p, '\n'), *ve = strchr(v, '\n');
    if (!pe || !ve)
      return -1;
    if ((size_t)(pe - p) == len && !memcmp(p, name, len)) {
      *out = strtod(v, NULL);
      return 0;
    }
    p = pe + 1;
    v = ve + 1;
  }
  return -1;
}

/* The model's feature j as a column of t, or SIZE_MAX. */
static size_t column_of(const rt_ctable *t, const char *name, size_t len) {
  for (size_t k = 0; k < t->ncols; k++)
    if (strlen(t->names[k]) == len && !memcmp(t->names[k], name, len))
      return k;
  return SIZE_MAX;
}

int rt_churn_train(const rt_ctable *t, uint64_t seed, rt_churn_model **out, rt_error *err) {
  *out = NULL;
  size_t n = t->nrows, pos = 0;
  for (size_t i = 0; i < n; i++)
    pos += t->y[i];
  if (n < 20 || pos < 2 || pos + 2 > n)
    return rt_error_set(err, RT_EINVAL, "churn: too few customers to train on (%zu, %zu "
                        "churned)", n, pos);
  size_t *rows = rt_malloc(n * sizeof *rows);
  rt_churn_model *m = rt_calloc(1, sizeof *m);
  if (!rows || !m) {
    rt_free(rows);
    rt_free(m);
    return rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
  }
  rt__shuffled_rows(rows, n, seed, 23);
  void *b = NULL;
  int rc = rt__xgb_train(t, rows, n, n / 5, &b, &m->rounds);
  rt_free(rows);
  if (rc) {
    rt_free(m);
    return rt_error_set(err, rc, "churn: %s", rc == RT_EIO ? XGBGetLastError()
                                                           : rt_strerror(rc));
  }
  m->booster = b;
  if (keep_names(m, t)) {
    rt_churn_model_free(m);
    return rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
  }
  *out = m;
  return 0;
}

int rt_churn_predict(const rt_churn_model *m, const rt_ctable *t, double *prob, float *contrib,
                     rt_error *err) {
  bst_ulong nf = 0;
  XGBoosterGetNumFeature(m->booster, &nf);
  /* the model's columns, in its order, from t's by name */
  size_t nm = 0, *src = NULL;
  if (m->features) {
    for (const char *p = m->features; *p; p = strchr(p, '\n') + 1)
      nm++;
    src = rt_malloc((nm ? nm : 1) * sizeof *src);
    if (!src)
      return rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
    size_t j = 0;
    for (const char *p = m->features; *p; p = strchr(p, '\n') + 1)
      src[j++] = column_of(t, p, (size_t)(strchr(p, '\n') - p));
  } else if (nf != t->ncols) {
    return rt_error_set(err, RT_EINVAL, "churn: the model has %llu features, the data %zu",
                        (unsigned long long)nf, t->ncols);
  }
  rt_ctable view = *t;
  float *vx = NULL, *vc = NULL;
  if (src) {
    view.ncols = nm;
    vx = rt_malloc((t->nrows * nm > 0 ? t->nrows * nm : 1) * sizeof *vx);
    if (contrib)
      vc = rt_malloc((t->nrows * (nm + 1) > 0 ? t->nrows * (nm + 1) : 1) * sizeof *vc);
    if (!vx || (contrib && !vc)) {
      rt_free(src);
      rt_free(vx);
      rt_free(vc);
      return rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
    }
    for (size_t i = 0; i < t->nrows; i++)
      for (size_t j = 0; j < nm; j++)
        vx[i * nm + j] = src[j] == SIZE_MAX ? NAN : t->x[i * t->ncols + src[j]];
    view.x = vx;
  }
  void *d = NULL;
  int rc = rt__xgb_dmatrix(&view, NULL, view.nrows, &d);
  if (!rc && prob)
    rc = rt__xgb_predict(m->booster, d, 0, view.nrows, view.ncols, prob, NULL);
  if (!rc && contrib)
    rc = rt__xgb_predict(m->booster, d, 1, view.nrows, view.ncols, NULL, src ? vc : contrib);
  if (!rc && contrib && src) /* back to t's columns; features the model lacks get 0 */
    for (size_t i = 0; i < t->nrows; i++) {
      float *c = contrib + i * (t->ncols + 1);
      memset(c, 0, (t->ncols + 1) * sizeof *c);
      for (size_t j = 0; j < nm; j++)
        if (src[j] != SIZE_MAX)
          c[src[j]] = vc[i * (nm + 1) + j];
      c[t->ncols] = vc[i * (nm + 1) + nm];
    }
  XGDMatrixFree(d);
  rt_free(src);
  rt_free(vx);
  rt_free(vc);
  if (rc)
    return rt_error_set(err, rc, "churn: %s", rc == RT_EIO ? XGBGetLastError()
                                                           : rt_strerror(rc));
  return 0;
}

int rt_churn_model_save(const rt_churn_model *m, const char *path, rt_error *err) {
  if (XGBoosterSaveModel(m->booster, path))
    return rt_error_set(err, RT_EIO, "%s: %s", path, XGBGetLastError());
  return 0;
}

int rt_churn_model_load(const char *path, rt_churn_model **out, rt_error *err) {
  *out = NULL;
  rt_churn_model *m = rt_calloc(1, sizeof *m);
  if (!m)
    return rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
  if (XGBoosterCreate(NULL, 0, &m->booster) || XGBoosterLoadModel(m->booster, path)) {
    rt_error_set(err, RT_EIO, "%s: %s", path, XGBGetLastError());
    rt_churn_model_free(m);
    return RT_EIO;
  }
  int ok = 0;
  const char *names = NULL;
  if (XGBoosterGetAttr(m->booster, "retain_features", &names, &ok) == 0 && ok && names &&
      !(m->features = rt_strndup(names, strlen(names)))) {
    rt_churn_model_free(m);
    return rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
  }
  const char *typ = NULL;
  ok = 0;
  if (m->features && XGBoosterGetAttr(m->booster, "retain_typical", &typ, &ok) == 0 && ok &&
      typ && !(m->typical = rt_strndup(typ, strlen(typ)))) {
    rt_churn_model_free(m);
    return rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
  }
  *out = m;
  return 0;
}

typedef struct sy {
  double s;
  uint8_t y;
} sy;

static int by_score_desc(const void *a, const void *b) {
  double x = ((const sy *)a)->s, y = ((const sy *)b)->s;
  return x > y ? -1 : x < y;
}

void rt_churn_quality_of(const double *score, const uint8_t *y, size_t n, rt_churn_quality *q) {
  memset(q, 0, sizeof *q);
  q->auc = rt_auc(score, y, n);
  sy *v = rt_malloc((n ? n : 1) * sizeof *v);
  if (!v || !n) {
    rt_free(v);
    q->pr_auc = q->lift_top_decile = NAN;
    return;
  }
  size_t pos = 0;
  for (size_t i = 0; i < n; i++) {
    v[i] = (sy){score[i], y[i]};
    pos += y[i] != 0;
  }
  qsort(v, n, sizeof *v, by_score_desc);
  /* average precision: the precision at each churner, by descending score */
  double ap = 0, hits = 0;
  for (size_t i = 0; i < n; i++)
    if (v[i].y) {
      hits++;
      ap += hits / (double)(i + 1);
    }
  q->pr_auc = pos ? ap / (double)pos : NAN;
  size_t top = n / 10 ? n / 10 : 1, top_pos = 0;
  for (size_t i = 0; i < top; i++)
    top_pos += v[i].y;
  q->lift_top_decile = pos ? ((double)top_pos / (double)top) / ((double)pos / (double)n) : NAN;
  /* calibration: ten groups from the lowest scores up */
  for (int k = 0; k < 10; k++) {
    size_t lo = n * (size_t)(9 - k) / 10, hi = n * (size_t)(10 - k) / 10;
    double ss = 0, yy = 0;
    for (size_t i = lo; i < hi; i++) {
      ss += v[i].s;
      yy += v[i].y;
    }
    q->cal_n[k] = hi - lo;
    q->cal_score[k] = hi > lo ? ss / (double)(hi - lo) : NAN;
    q->cal_rate[k] = hi > lo ? yy / (double)(hi - lo) : NAN;
  }
  rt_free(v);
}

int rt_churn_evaluate(const rt_ctable *t, uint64_t seed, rt_churn_eval *out,
                      rt_churn_model **model, rt_error *err) {
  memset(out, 0, sizeof *out);
  *model = NULL;
  size_t n = t->nrows, pos = 0;
  for (size_t i = 0; i < n; i++)
    pos += t->y[i];
  if (n < 50 || pos < 5 || pos + 5 > n)
    return rt_error_set(err, RT_EINVAL, "churn: too few customers to train and test on (%zu, "
                        "%zu churned)", n, pos);
  size_t *rows = rt_malloc(n * sizeof *rows);
  double *score = rt_malloc(n * sizeof *score), *lscore = rt_malloc(n * sizeof *lscore);
  uint8_t *y = rt_malloc(n);
  rt_churn_model *m = rt_calloc(1, sizeof *m);
  void *dte = NULL;
  int rc = 0;
  if (!rows || !score || !lscore || !y || !m) {
    rc = rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
    goto out;
  }
  rt__shuffled_rows(rows, n, seed, 29);
  size_t nte = n / 5, ntr = n - nte;
  const size_t *te = rows + ntr;
  void *b = NULL;
  rc = rt__xgb_train(t, rows, ntr, ntr / 5, &b, &m->rounds);
  m->booster = b;
  if (!rc)
    rc = rt__xgb_dmatrix(t, te, nte, &dte);
  if (!rc)
    rc = rt__xgb_predict(m->booster, dte, 0, nte, t->ncols, score, NULL);
  if (!rc)
    rc = rt__logistic_fold(t, rows, ntr, te, nte, lscore);
  if (rc) {
    rc = rt_error_set(err, rc, "churn: %s", rc == RT_EIO ? XGBGetLastError()
                                                         : rt_strerror(rc));
    goto out;
  }
  for (size_t i = 0; i < nte; i++)
    y[i] = t->y[te[i]];
  rt_churn_quality_of(score, y, nte, &out->xgboost);
  out->logistic_auc = rt_auc(lscore, y, nte);
  out->train = ntr;
  out->test = nte;
  out->rounds = m->rounds;
  if (keep_names(m, t)) {
    rc = rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
    goto out;
  }
  *model = m;
  m = NULL;
out:
  XGDMatrixFree(dte);
  rt_churn_model_free(m);
  rt_free(rows);
  rt_free(score);
  rt_free(lscore);
  rt_free(y);
  return rc;
}
