/* churn.h - churn classifiers on a labelled customer table: reading the table (numeric and
 * categorical columns detected, blanks as missing values, labels Yes/No, 1/0 or true/false),
 * gradient-boosted trees through the XGBoost C API with early stopping, an L2-regularized
 * logistic regression as the baseline, the AUC, and stratified k-fold cross-validation.
 * docs/MODELS.md has the details. */
#ifndef RETAIN_CHURN_H
#define RETAIN_CHURN_H

#include <retain/error.h>
#include <stddef.h>
#include <stdint.h>

/* A table of customers: features after encoding (numbers as they are, each category of a text
 * column as a 0/1 column "column=value"), NaN where a value is missing, and the label. */
typedef struct rt_ctable {
  size_t nrows, ncols;
  float *x;        /* nrows * ncols, row-major */
  uint8_t *y;      /* 1 = churned */
  char **names;    /* ncols feature names */
  char **ids;      /* nrows customer ids (NULL without an id column) */
  size_t skipped;  /* text columns left out: nearly one value per row, like an id */
} rt_ctable;

/* Reads a CSV table. id_col may be NULL; label_col names the 0/1 column. Errors name the file,
 * line and column. */
int rt_ctable_read_csv(const char *path, const char *id_col, const char *label_col,
                       rt_ctable **out, rt_error *err);
void rt_ctable_free(rt_ctable *t);

/* The area under the ROC curve of scores against 0/1 labels (ties count half); NAN when one
 * class is absent. */
double rt_auc(const double *score, const uint8_t *y, size_t n);

typedef enum { RT_CHURN_XGBOOST = 0, RT_CHURN_LOGISTIC } rt_churn_algo;

#define RT_CV_MAX_FOLDS 20

typedef struct rt_cv_result {
  int folds;
  double auc[RT_CV_MAX_FOLDS];
  double mean, sd;             /* of the folds' AUCs */
  int rounds[RT_CV_MAX_FOLDS]; /* XGBoost: trees kept after early stopping */
} rt_cv_result;

/* Stratified k-fold cross-validation (folds 2..RT_CV_MAX_FOLDS, the split fixed by seed). */
int rt_churn_cv(const rt_ctable *t, rt_churn_algo algo, int folds, uint64_t seed,
                rt_cv_result *out, rt_error *err);

/* ---- churn from the customer history ----
 * Features of each customer at a cutoff day, from what the model holds up to it: recency,
 * order days, tenure, mean gap between orders and recency in gaps, mean order value, orders
 * and revenue in the last 90 days and the 90 before (the trend), refunds, subscriptions.
 * The label, when the data reaches cutoff + horizon: churned = no order in the horizon and no
 * subscription still running at its end. The rows are the customers still in play at the
 * cutoff: an order within active_days before it (0: any order before it) or a running
 * subscription; ids are their external ids, and customer[i] their model index. */
struct rt_model;
int rt_churn_features(const struct rt_model *m, int32_t cutoff, int horizon_days,
                      int active_days, rt_ctable **out, uint32_t **customer, rt_error *err);

/* Appends the features the store's events give at the cutoff: product usage (logins and
 * features used in the last 30 days and the 30 before, days since the last use), support
 * (tickets opened, in the last 90 days, not resolved) and feedback (the last NPS and CSAT
 * answers: survey_answered events with {"survey": "nps"|"csat", "score": N}). customer[i] is
 * row i's model index (rt_churn_features); events after the cutoff are ignored. */
struct rt_store;
struct rt_tz;
int rt_churn_add_events(rt_ctable *t, const uint32_t *customer, const struct rt_model *m,
                        struct rt_store *st, int32_t cutoff, const struct rt_tz *tz,
                        rt_error *err);

/* Appends the customers' attributes from the store (the JSON object of a customers import's
 * extra columns): numbers as "attr:key", text as one 0/1 column per value "attr:key=value"
 * (keys with more than 50 values, like ids or emails, left out). */
int rt_churn_add_attributes(rt_ctable *t, const uint32_t *customer, const struct rt_model *m,
                            struct rt_store *st, rt_error *err);

/* A trained gradient-boosted churn model (XGBoost) with its feature names. */
typedef struct rt_churn_model rt_churn_model;

/* Trains on the rows of t (the last fifth of a seeded shuffle validates, for early stopping). */
int rt_churn_train(const rt_ctable *t, uint64_t seed, rt_churn_model **out, rt_error *err);
/* P(churn) for every row of t; with contrib given (nrows * (ncols + 1)), each row's SHAP
 * contributions to the log-odds, the bias last, in t's column order. The model keeps the
 * names of the features it was trained on: t's columns are matched to them by name (a feature
 * t lacks is missing; one the model does not know is left out, contribution 0). */
int rt_churn_predict(const rt_churn_model *m, const rt_ctable *t, double *prob, float *contrib,
                     rt_error *err);
int rt_churn_model_save(const rt_churn_model *m, const char *path, rt_error *err);
int rt_churn_model_load(const char *path, rt_churn_model **out, rt_error *err);
void rt_churn_model_free(rt_churn_model *m);

/* Quality of scores against labels: AUC, average precision (PR-AUC), the churn rate in the top
 * tenth of scores over the overall rate (lift), and a calibration table of ten equal groups
 * by score (mean score, churn rate). */
typedef struct rt_churn_quality {
  double auc, pr_auc, lift_top_decile;
  double cal_score[10], cal_rate[10];
  size_t cal_n[10];
} rt_churn_quality;
void rt_churn_quality_of(const double *score, const uint8_t *y, size_t n, rt_churn_quality *q);

/* The time-split evaluation `retain churn train` prints: a seeded fifth of the rows is held
 * out; XGBoost (the returned model) and the logistic baseline are trained on the rest and
 * scored on it. */
typedef struct rt_churn_eval {
  size_t train, test;
  rt_churn_quality xgboost;
  double logistic_auc;
  int rounds;
} rt_churn_eval;
int rt_churn_evaluate(const rt_ctable *t, uint64_t seed, rt_churn_eval *out,
                      rt_churn_model **model, rt_error *err);

/* The reason feature j (with value v; row values x for context) gives, in words, into buf. */
void rt_churn_reason(const rt_ctable *t, const float *x, size_t j, char *buf, size_t n);

#endif
