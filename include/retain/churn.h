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

/* ---- reasons: what moves one customer's risk, with its direction and size ----
 * A model's SHAP contributions are in log-odds, one per feature. Features that tell one story
 * are one reason, their contributions summed: recency, the usual gap and recency in gaps; the
 * orders and spend of the last two 90-day windows; refunds and their share; subscriptions;
 * product usage; support tickets; the 0/1 columns of one category ("plan=pro", "plan=basic").
 * For one customer two more join: with a single order day the missing gap features belong to
 * the order count, and with no order in either 90-day window the windows belong to recency.
 * Each reason is sized in percentage points of churn probability (the customer's risk minus
 * the model's baseline, spread over the reasons in proportion to their log-odds; the
 * arithmetic is at the top of reasons.c) and told as facts against what is typical: the median
 * of the customers the model was trained on. The words never carry a direction; the sign of
 * `points` is the direction. */
typedef struct rt_churn_why {
  double log_odds; /* the reason's summed SHAP contributions */
  double points;   /* its part of (risk - baseline), in percentage points; > 0 raises risk */
  char text[200];  /* the facts, e.g. "no order for 233 days (usually every 26)" */
} rt_churn_why;

/* Smaller reasons are left out: they would print as 0.0 points. */
#define RT_CHURN_MIN_POINTS 0.05

/* The groups of a table's features and what is typical of each. m gives the medians it was
 * trained on (NULL, or a model saved without them: the medians of t's rows). t is borrowed and
 * must outlive the explainer. Not thread-safe: one explainer per thread. */
typedef struct rt_churn_explainer rt_churn_explainer;
int rt_churn_explainer_new(const rt_churn_model *m, const rt_ctable *t,
                           rt_churn_explainer **out, rt_error *err);
void rt_churn_explainer_free(rt_churn_explainer *e);
/* What is typical of feature j (the median; NAN when unknown). */
double rt_churn_typical(const rt_churn_explainer *e, size_t j);
/* Row row's reasons from its contributions (contrib: ncols + 1 values, the bias last, as
 * rt_churn_predict writes them): the max largest by |points|, largest first, distinct (one per
 * group). Returns how many were written. *baseline (may be NULL) gets the model's baseline
 * probability, the logistic of the bias. */
size_t rt_churn_explain(rt_churn_explainer *e, size_t row, const float *contrib,
                        rt_churn_why *out, size_t max, double *baseline);

/* ---- value at risk ----
 * What a customer's churn would cost: value_at_risk = P(churn) x value. The value is the
 * predicted CLV of the latest stored CLV run (`retain clv predict --save`, kinds "bgnbd" and
 * "pareto") or, as a stand-in, the customer's net revenue (orders minus refunds, at least 0)
 * over the RT_CHURN_VALUE_DAYS days up to the as-of day. Money is in minor units of the
 * model's currency. */
#define RT_CHURN_VALUE_DAYS 365
#define RT_CHURN_NO_VALUE INT64_MIN /* a customer the CLV run has no value for */
typedef enum {
  RT_CHURN_VALUE_AUTO = 0, /* the CLV run when there is one, else the revenue */
  RT_CHURN_VALUE_CLV,
  RT_CHURN_VALUE_REVENUE
} rt_churn_value_kind;
typedef struct rt_churn_values {
  rt_churn_value_kind kind; /* what was used: RT_CHURN_VALUE_CLV or RT_CHURN_VALUE_REVENUE */
  int64_t *minor;           /* per row: the value, or RT_CHURN_NO_VALUE */
  size_t missing;           /* rows without a value */
  /* CLV: the run read, its model, and its "until" day and horizon (from its parameters) */
  int64_t clv_run;
  char clv_model[16];
  char clv_until[16];
  double clv_horizon_days;
  /* revenue: the window, days first_day..as_of */
  int32_t first_day, as_of;
} rt_churn_values;
/* The values of the n rows whose model indexes are customer[] (rt_churn_features). st may be
 * NULL (a model from a file: the revenue only); asking for the CLV without a stored run is
 * RT_ENOTFOUND. Free with rt_churn_values_free. */
int rt_churn_values_get(const struct rt_model *m, struct rt_store *st, const uint32_t *customer,
                        size_t n, int32_t as_of, rt_churn_value_kind want,
                        rt_churn_values *out, rt_error *err);
void rt_churn_values_free(rt_churn_values *v);
/* p x value in minor units, to the minor unit, with p taken to 6 decimals as it is printed
 * (halves away from zero); RT_CHURN_NO_VALUE when value is. */
int64_t rt_churn_value_at_risk(double p, int64_t value);
/* p to the 6 decimals it is printed and stored with. */
double rt_churn_round_p(double p);

/* The rows in the order a list shows them: by value at risk (the default: where a retention
 * budget saves the most), by risk, or by value; each descending, rows without a value last,
 * ties broken by the other two (risk first), then by row. value may be NULL (none). order gets
 * n row numbers. RT_ENOMEM. */
typedef enum { RT_CHURN_BY_VALUE_AT_RISK = 0, RT_CHURN_BY_RISK, RT_CHURN_BY_VALUE } rt_churn_sort;
int rt_churn_rank(const double *prob, const int64_t *value, size_t n, rt_churn_sort by,
                  size_t *order, rt_error *err);

#endif
