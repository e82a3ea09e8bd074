/* clv.h - buy-till-you-die models: who is still a customer, how much will they buy, what are
 * they worth. On the customer model (model.h):
 *  - rt_clv_summarize: each customer's repeat purchase days x, recency t_x and age T (in a time
 *    unit, up to a calibration end), and the mean amount of the repeat purchase days;
 *  - BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): purchases at
 *    rate lambda ~ Gamma(r, alpha) while alive, dropping out after each purchase with
 *    probability p ~ Beta(a, b);
 *  - Gamma-Gamma spend (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie's note on the
 *    Gamma-Gamma model): a customer's mean spend per transaction ~ Gamma(p, nu),
 *    nu ~ Gamma(q, v);
 * fitted by maximum likelihood (NLopt's L-BFGS on the log parameters, analytic gradients,
 * several starting points; identical summaries are counted once with a weight), and the
 * per-customer predictions built on them. Formulas and references: docs/MODELS.md. */
#ifndef RETAIN_CLV_H
#define RETAIN_CLV_H

#include <retain/error.h>
#include <retain/model.h>
#include <stddef.h>
#include <stdint.h>

/* One row per customer whose first order is on or before the calibration end. */
typedef struct rt_clv_summary {
  size_t n;
  uint32_t *customer;   /* the model's customer index */
  double *x;            /* repeat purchase days: distinct order days - 1 */
  double *t_x;          /* recency: first to last order day, in units */
  double *T;            /* age: first order day to the calibration end, in units */
  double *m;            /* mean amount of the repeat days (major units); 0 when x = 0 */
  double *spent;        /* orders less refunds up to the calibration end (major units) */
  double unit_days;     /* 1 (day), 7 (week), 365.25 / 12 (month) */
  int32_t until_day;    /* the calibration end (inclusive), a model day */
} rt_clv_summary;

/* Summarizes the orders on or before until_day (a model day; INT32_MAX: all of them) in
 * units of unit_days days. */
int rt_clv_summarize(const rt_model *m, int32_t until_day, double unit_days,
                     rt_clv_summary **out, rt_error *err);
void rt_clv_summary_free(rt_clv_summary *s);

/* A fit's outcome. */
typedef struct rt_fit_info {
  double loglik;     /* the maximized log-likelihood (sum over customers) */
  size_t n;          /* customers fitted */
  size_t distinct;   /* distinct summaries (each fitted once, weighted) */
  int evaluations;   /* likelihood evaluations of the best start */
  int starts;        /* starting points tried */
  int converged;     /* the optimizer met its tolerance (not only the evaluation limit) */
  double se[4];      /* standard errors of the parameters, from the observed information
                        (the likelihood's curvature at the estimate); NAN when singular */
  int prior;         /* under 500 customers: a weak prior, log(parameter) ~ N(0, 3^2),
                        keeps a small shop's estimates finite (the MAP estimate) */
} rt_fit_info;

typedef struct rt_bgnbd {
  double r, alpha, a, b;
  rt_fit_info info;
} rt_bgnbd;

int rt_bgnbd_fit(const rt_clv_summary *s, rt_bgnbd *out, rt_error *err);
/* The log-likelihood of one customer. */
double rt_bgnbd_loglik(const rt_bgnbd *p, double x, double t_x, double T);
/* P(alive at T | x, t_x, T). */
double rt_bgnbd_p_alive(const rt_bgnbd *p, double x, double t_x, double T);
/* E[purchases in (T, T + t] | x, t_x, T]. */
double rt_bgnbd_expected(const rt_bgnbd *p, double t, double x, double t_x, double T);

/* Pareto/NBD (Schmittlein, Morrison & Colombo 1987; the likelihood as in Fader, Hardie &
 * Lee's 2005 note): purchases at rate lambda ~ Gamma(r, alpha) during an exponential lifetime
 * of rate mu ~ Gamma(s, beta). */
typedef struct rt_pareto {
  double r, alpha, s, beta;
  rt_fit_info info;
} rt_pareto;

int rt_pareto_fit(const rt_clv_summary *s, rt_pareto *out, rt_error *err);
double rt_pareto_loglik(const rt_pareto *p, double x, double t_x, double T);
double rt_pareto_p_alive(const rt_pareto *p, double x, double t_x, double T);
double rt_pareto_expected(const rt_pareto *p, double t, double x, double t_x, double T);

/* Either purchase model, for what works with both (value, predictions, holdout). */
typedef enum { RT_BTYD_BGNBD = 0, RT_BTYD_PARETO } rt_btyd_kind;
typedef struct rt_btyd {
  rt_btyd_kind kind;
  union {
    rt_bgnbd bg;
    rt_pareto pn;
  };
} rt_btyd;

int rt_btyd_fit(const rt_clv_summary *s, rt_btyd_kind kind, rt_btyd *out, rt_error *err);
const rt_fit_info *rt_btyd_info(const rt_btyd *m);
double rt_btyd_p_alive(const rt_btyd *m, double x, double t_x, double T);
double rt_btyd_expected(const rt_btyd *m, double t, double x, double t_x, double T);

typedef struct rt_gamma_gamma {
  double p, q, v;
  rt_fit_info info;
} rt_gamma_gamma;

/* Fits on the customers with x > 0 and a positive mean amount. */
int rt_gamma_gamma_fit(const rt_clv_summary *s, rt_gamma_gamma *out, rt_error *err);
/* E[mean spend | x repeat purchases of mean m]; the population mean p v / (q - 1) when x = 0. */
double rt_gamma_gamma_spend(const rt_gamma_gamma *g, double x, double m);

/* Predicted value over the next `horizon` units: expected purchases in each of `steps` equal
 * slices of the horizon (at most 16), times the expected spend, discounted at `discount` per
 * unit to the end of each slice. */
double rt_clv_value(const rt_btyd *bg, const rt_gamma_gamma *gg, double x, double t_x, double T,
                    double m, double horizon, int steps, double discount);

/* The holdout check: for the customers of a calibration summary, the repeat purchases (order
 * days) they actually made in each of the `periods` units after the calibration end, and the
 * number the model expected: actual[k] and predicted[k] for period k + 1 (arrays of `periods`).
 * Periods past the data's last day are not asked for (see rt_clv_holdout_periods). */
int rt_clv_holdout(const rt_model *m, const rt_clv_summary *s, const rt_btyd *bg, int periods,
                   double *actual, double *predicted, rt_error *err);
/* Whole units between the calibration end and the model's last day. */
int rt_clv_holdout_periods(const rt_model *m, const rt_clv_summary *s);

/* ---- subscriptions: the shifted-beta-geometric model (Fader & Hardie 2007, "How to project
 * customer retention", Journal of Interactive Marketing 21(1)) ----
 * Each subscriber churns at the end of a period with probability theta ~ Beta(alpha, beta). */
typedef struct rt_sbg {
  double alpha, beta;
  rt_fit_info info;
} rt_sbg;

/* Fits from a survival table: alive[t] subscribers at the start of period t = 0..n-1 (a
 * non-increasing sequence, alive[0] the cohort's size). */
int rt_sbg_fit(const double *alive, int n, rt_sbg *out, rt_error *err);
/* Fits from individual subscriptions: paid[i] periods paid for (>= 1); ended[i] 1 if it was
 * cancelled after them, 0 if still active (then it has renewed paid[i] - 1 times so far). */
int rt_sbg_fit_tenures(const int32_t *paid, const uint8_t *ended, size_t n, rt_sbg *out,
                       rt_error *err);
/* P(still subscribed after t periods) = B(alpha, beta + t) / B(alpha, beta). */
double rt_sbg_survival(const rt_sbg *m, int t);
/* Expected further renewals of a subscriber who has renewed `renewals` times:
 * (beta + renewals) / (alpha - 1), infinite when alpha <= 1. */
double rt_sbg_expected_remaining(const rt_sbg *m, int renewals);
/* Discounted expected residual lifetime value, per unit of value per period, of a subscriber
 * who has renewed `renewals` times, at discount rate d per period (after Fader & Hardie 2010,
 * "Customer-base valuation in a contractual setting"): the payments still to come, the next
 * one a period from now, each made only if the subscriber renews: sum over k >= 1 of
 * S(renewals + k) / S(renewals) / (1 + d)^k. With d = 0, rt_sbg_expected_remaining. */
double rt_sbg_derl(const rt_sbg *m, int renewals, double d);

/* Predictions for every customer of a summary, computed on up to two threads. */
typedef struct rt_clv_predictions {
  size_t n;            /* = the summary's n, in its order */
  double *p_alive;
  double *expected;    /* purchases in the horizon */
  double *value;       /* rt_clv_value over the horizon (NAN without a spend model) */
  double *wait;        /* if still a customer, the mean time to the next purchase (units):
                          (alpha + T) / (r + x - 1), the mean of 1/lambda given the data;
                          NAN when r + x <= 1 */
} rt_clv_predictions;

/* gg may be NULL (no values). discount is per unit; with 0 the value is the expected purchases
 * times the expected spend. */
int rt_clv_predict(const rt_clv_summary *s, const rt_btyd *bg, const rt_gamma_gamma *gg,
                   double horizon, double discount, rt_clv_predictions **out, rt_error *err);
void rt_clv_predictions_free(rt_clv_predictions *p);

#endif
