/* xgb.h - the XGBoost calls the churn models share (classify.c): a DMatrix of table rows, a
 * training run with early stopping, and predictions or SHAP contributions. Handles are the C
 * API's (void pointers here, so that callers need not include its header). */
#ifndef RETAIN_CHURN_XGB_H
#define RETAIN_CHURN_XGB_H

#include <retain/churn.h>

/* rows NULL: the first n rows in order. RT_ENOMEM or RT_EIO (XGBGetLastError says why). */
int rt__xgb_dmatrix(const rt_ctable *t, const size_t *rows, size_t n, void **out);
/* Trains on rows tr, the last nval of which validate: boosting stops 50 rounds after the
 * validation log-loss last improved, and the booster keeps the best rounds (*rounds). */
int rt__xgb_train(const rt_ctable *t, const size_t *tr, size_t ntr, size_t nval, void **out,
                  int *rounds);
/* P(churn) into prob, or (contrib) SHAP contributions into contribs, n * (ncols + 1). */
int rt__xgb_predict(void *booster, void *dmat, int contrib, size_t n, size_t ncols, double *prob,
                    float *contribs);

/* The logistic baseline: trained on rows tr, P(churn) of rows te into score. RT_ENOMEM. */
int rt__logistic_fold(const rt_ctable *t, const size_t *tr, size_t ntr, const size_t *te,
                      size_t nte, double *score);

/* What is typical of the feature called name among the customers model m was trained on (the
 * median it recorded): 0, or -1 when m recorded none for it. */
int rt__churn_model_typical(const rt_churn_model *m, const char *name, double *out);

/* rows = 0..n-1 in the order of a shuffle fixed by (seed, key). */
void rt__shuffled_rows(size_t *rows, size_t n, uint64_t seed, uint64_t key);

#endif
