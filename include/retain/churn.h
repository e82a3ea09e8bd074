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

#endif
