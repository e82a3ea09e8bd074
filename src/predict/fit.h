/* fit.h - maximum likelihood for the models of clv.h: the distinct rows of a summary with their
 * weights, and a fit of a per-row log-likelihood by NLopt's L-BFGS on the log parameters. */
#ifndef RETAIN_PREDICT_FIT_H
#define RETAIN_PREDICT_FIT_H

#include <retain/clv.h>

#include <stddef.h>
#include <stdint.h>

#define RT__FIT_MAXP 4

/* Rows of k values, each distinct row once with the number of times it occurs. */
typedef struct rt__rows {
  size_t n;
  int k;
  double *v; /* n * k */
  double *w; /* n */
  size_t total;
} rt__rows;

/* The distinct rows of the columns cols[0..k-1] (n values each), skipping row i when keep is
 * given and keep(ctx, i) is 0, in a fixed pseudo-random order. RT_ENOMEM. */
int rt__rows_distinct(const double *const *cols, int k, size_t n,
                      int (*keep)(const void *ctx, size_t i), const void *ctx, rt__rows *out);
void rt__rows_free(rt__rows *r);
/* The distinct (x, t_x, T) rows of a summary for a purchase model (named in the errors), and
 * the customers' mean age plus one (*mean_T, may be NULL), which scales the starting points. */
int rt__purchase_rows(const rt_clv_summary *s, const char *model, rt__rows *rows,
                      double *mean_T, rt_error *err);

/* One row's log-likelihood at theta (natural parameters); when grad is given, also its
 * derivatives with respect to each parameter, and when hess is given too (only to models fitted
 * with hessian = 1), its second derivatives (np x np, row-major). ctx is what prepare (if any)
 * computed for this theta, or NULL. */
typedef double (*rt__loglik_fn)(const double *theta, const double *row, double *grad,
                                double *hess, const void *ctx);
/* Computes, once per evaluation and before the rows, what the rows share at theta. */
typedef void (*rt__prepare_fn)(const double *theta, void *ctx);

/* Maximizes sum_i w_i f(theta, row_i) over positive theta from each starting point; theta gets
 * the best. With many distinct rows the starts are compared on a first part of the rows and
 * the best is then run on all of them. The rows are summed on up to two threads. With hessian,
 * f gives second derivatives too: the final Newton steps and the standard errors use them
 * (otherwise they difference the gradient). info gets the log-likelihood and how the
 * best start ended. 0, or RT_EINVAL when no start gave a finite likelihood. */
int rt__fit_ml(const rt__rows *rows, int np, rt__loglik_fn f, rt__prepare_fn prepare, void *ctx,
               int hessian, const double *starts, int nstarts, double *theta, rt_fit_info *info);

/* The models' per-row log-likelihoods with their gradients (rt__loglik_fn), for the tests:
 * BG/NBD row (x, t_x, T), theta (r, alpha, a, b); Gamma-Gamma row (x, m), theta (p, q, v). */
double rt__bgnbd_ll(const double *theta, const double *row, double *grad, double *hess,
                    const void *ctx);
double rt__gamma_gamma_ll(const double *theta, const double *row, double *grad, double *hess,
                          const void *ctx);
/* Pareto/NBD: row (x, t_x, T), theta (r, alpha, s, beta). */
double rt__pareto_ll(const double *theta, const double *row, double *grad, double *hess,
                     const void *ctx);
/* Pareto/NBD's conditional expectation over t divided by P(alive): it depends on x and T only. */
double rt__pareto_numerator(const rt_pareto *p, double t, double x, double T);

/* BG/NBD's conditional expectation (equation 10) is a numerator that depends on x and T only
 * (through Gauss's 2F1) times P(alive): customers with the same x and T share the numerators.
 * num[j] for horizons t[j], nt <= 16, with one pass over the series. */
void rt__bgnbd_numerators(const rt_bgnbd *p, const double *t, int nt, double x, double T,
                          double *num);

/* Either model's numerators (see rt__bgnbd_numerators), and the mean wait to the next purchase
 * of a customer still alive, (alpha + T) / (r + x - 1) or NAN. */
void rt__btyd_numerators(const rt_btyd *m, const double *t, int nt, double x, double T,
                         double *num);
double rt__btyd_wait(const rt_btyd *m, double x, double T);

#endif
