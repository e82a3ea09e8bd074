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
 * BG/NBD and MBG/NBD row (x, t_x, T), theta (r, alpha, a, b); Gamma-Gamma row (x, m), theta
 * (p, q, v). */
double rt__bgnbd_ll(const double *theta, const double *row, double *grad, double *hess,
                    const void *ctx);
double rt__mbgnbd_ll(const double *theta, const double *row, double *grad, double *hess,
                     const void *ctx);
double rt__gamma_gamma_ll(const double *theta, const double *row, double *grad, double *hess,
                          const void *ctx);
/* Pareto/NBD: row (x, t_x, T), theta (r, alpha, s, beta). */
double rt__pareto_ll(const double *theta, const double *row, double *grad, double *hess,
                     const void *ctx);
/* Pareto/NBD's conditional expectation over t divided by P(alive): it depends on x and T only. */
double rt__pareto_numerator(const rt_pareto *p, double t, double x, double T);
/* Pareto/NBD's rt_btyd_p_buy and rt_btyd_next_purchase, theta (r, alpha, s, beta). */
double rt__pareto_p_buy(const double *theta, double t, double x, double t_x, double T);
double rt__pareto_next(const double *theta, double x, double t_x, double T);

/* The BG/NBD family, theta (r, alpha, a, b), k the shift (0 BG/NBD, 1 MBG/NBD; bgnbd.c):
 * P(alive); the conditional expectation (equation 10) as a numerator that depends on x and T
 * only (through Gauss's 2F1) times P(alive), so that customers with the same x and T share
 * the numerators: num[j] for horizons t[j], nt <= 16, with one pass over the series; and
 * rt_btyd_p_buy and rt_btyd_next_purchase. */
double rt__bg_p_alive(const double *theta, int k, double x, double t_x, double T);
void rt__bg_numerators(const double *theta, int k, const double *t, int nt, double x, double T,
                       double *num);
double rt__bg_p_buy(const double *theta, int k, double t, double x, double t_x, double T);
double rt__bg_next(const double *theta, int k, double x, double t_x, double T);

/* Any purchase model's numerators (see rt__bg_numerators). */
void rt__btyd_numerators(const rt_btyd *m, const double *t, int nt, double x, double T,
                         double *num);

/* After a purchase model's fit (theta, with info's covariance filled): its expected share of
 * dropped-out customers over the rows, its mean dropout with the standard error of the log,
 * and RT_FIT_NO_DROPOUT when the history does not identify dropout (clv.h). */
void rt__dropout_check(const rt__rows *rows, const double *theta, rt_btyd_kind kind,
                       rt_fit_info *info);

#endif
