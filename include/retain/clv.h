/* clv.h - buy-till-you-die models: who is still a customer, how much will they buy, what are
 * they worth. On the customer model (model.h):
 *  - rt_clv_summarize: each customer's repeat purchase days x, recency t_x and age T (in a time
 *    unit, up to a calibration end), and the mean amount of the repeat purchase days;
 *  - BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): purchases at
 *    rate lambda ~ Gamma(r, alpha) while alive, dropping out after each purchase with
 *    probability p ~ Beta(a, b);
 *  - MBG/NBD (Batislam, Denizel & Filiztekin 2007): BG/NBD with a chance to drop out right
 *    after the first purchase too, so that one-time buyers are not certain to be alive;
 *  - Pareto/NBD: purchases as above during an exponential lifetime;
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
#include <retain/store.h>
#include <stddef.h>
#include <stdint.h>

/* One row per customer whose first order is on or before the calibration end. */
typedef struct rt_clv_summary {
  size_t n;
  uint32_t *customer;   /* the model's customer index */
  double *x;            /* repeat purchase days: distinct order days - 1 */
  double *t_x;          /* recency: first to last order day, in units */
  double *T;            /* age: first order day to the calibration end, in units */
  double *m;            /* mean amount of the repeat days (major units), net of refunds: times
                           max(0, revenue - refunded) / revenue of the customer's orders and
                           refunds up to the calibration end; 0 when x = 0 */
  double *spent;        /* max(0, orders less refunds) up to the calibration end (major
                           units) */
  double unit_days;     /* 1 (day), 7 (week), 365.25 / 12 (month) */
  int32_t until_day;    /* the calibration end (inclusive), a model day */
} rt_clv_summary;

/* Summarizes the orders on or before until_day (a model day; INT32_MAX: all of them) in
 * units of unit_days days. */
int rt_clv_summarize(const rt_model *m, int32_t until_day, double unit_days,
                     rt_clv_summary **out, rt_error *err);
void rt_clv_summary_free(rt_clv_summary *s);

/* Why a fit's estimates should not be trusted as they are (rt_fit_info.warnings), each
 * told in words by rt_fit_warnings. */
enum {
  RT_FIT_NOT_CONVERGED = 1 << 0, /* the optimizer failed, or the gradient is not flat */
  RT_FIT_EVAL_LIMIT = 1 << 1,    /* the optimizer stopped at its evaluation limit */
  RT_FIT_SINGULAR = 1 << 2,      /* the likelihood's curvature is singular: some standard
                                    errors cannot be computed (the data do not determine
                                    every parameter) */
  RT_FIT_AT_BOUND = 1 << 3,      /* an estimate at the search's bound, e^-25 or e^25 */
  RT_FIT_WIDE_SE = 1 << 4,       /* a standard error larger than its estimate */
  RT_FIT_NO_DROPOUT = 1 << 5,    /* purchase models: the history does not identify dropout
                                    (see rt_btyd_fit); P(alive) is not reported */
};

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
  double lcov[4][4]; /* the covariance of the log parameters (the inverse of that
                        information); NAN when singular */
  int prior;         /* under 500 customers: a weak prior, log(parameter) ~ N(0, 3^2),
                        keeps a small shop's estimates finite (the MAP estimate) */
  unsigned warnings; /* RT_FIT_* bits */
  unsigned wide;     /* bit j: parameter j's standard error exceeds it (RT_FIT_WIDE_SE) */
  unsigned at_bound; /* bit j: parameter j at the search's bound (RT_FIT_AT_BOUND) */
  /* purchase models: the expected share of the fitted customers who had dropped out by the
   * calibration end, the mean of 1 - P(alive); and the mean dropout (BG/NBD and MBG/NBD:
   * a / (a + b) per purchase; Pareto/NBD: s / beta per unit of time) with the standard error
   * of its logarithm (NAN when singular). NAN for other models. */
  double dropped_share, dropout, dropout_lse;
} rt_fit_info;

/* The identification test of dropout (RT_FIT_NO_DROPOUT): the history identifies it unless
 * the model expects fewer than RT_DROPOUT_MIN_SHARE of the customers to have dropped out by
 * the calibration end (negligible), or the 95% interval of the mean dropout,
 * estimate +- 1.96 standard errors, reaches zero, i.e. the standard error of its logarithm is
 * at least 1 / 1.96, or cannot be computed (undetermined). */
#define RT_DROPOUT_MIN_SHARE 0.05

/* One warning in words. */
typedef struct rt_fit_warning {
  unsigned code; /* one RT_FIT_* bit */
  char text[480];
} rt_fit_warning;

/* The warnings of a fit of `model` (a name for people, like "BG/NBD") with parameters
 * names[0..np-1] = values[0..np-1], one per bit set in info->warnings, in bit order, into
 * out[0..max-1]; until (YYYY-MM-DD, or NULL) names the calibration end. Returns how many were
 * written. */
int rt_fit_warnings(const rt_fit_info *info, const char *model, const char *const *names,
                    const double *values, int np, const char *until, rt_fit_warning *out,
                    int max);
/* A short stable name of a warning bit, for machines: "not_converged", "eval_limit",
 * "singular", "at_bound", "wide_se", "no_dropout". */
const char *rt_fit_warning_key(unsigned code);

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

/* MBG/NBD (Batislam, Denizel & Filiztekin 2007, "Empirical validation and comparison of
 * models for customer base analysis", IJRM 24(3); the "modified BG/NBD" of Hoppe & Wagner
 * 2007): as BG/NBD, but a customer may also drop out right after the first purchase (with the
 * same probability p), so that P(alive) of a one-time buyer is below 1. */
typedef struct rt_mbgnbd {
  double r, alpha, a, b;
  rt_fit_info info;
} rt_mbgnbd;

int rt_mbgnbd_fit(const rt_clv_summary *s, rt_mbgnbd *out, rt_error *err);
double rt_mbgnbd_loglik(const rt_mbgnbd *p, double x, double t_x, double T);
double rt_mbgnbd_p_alive(const rt_mbgnbd *p, double x, double t_x, double T);
double rt_mbgnbd_expected(const rt_mbgnbd *p, double t, double x, double t_x, double T);

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

/* Any of the purchase models, for what works with all of them (value, predictions,
 * holdout). The default is RT_BTYD_DEFAULT (docs/MODELS.md has the holdout comparison that
 * chose it). */
typedef enum { RT_BTYD_BGNBD = 0, RT_BTYD_PARETO, RT_BTYD_MBGNBD } rt_btyd_kind;
#define RT_BTYD_DEFAULT RT_BTYD_MBGNBD
typedef struct rt_btyd {
  rt_btyd_kind kind;
  union {
    rt_bgnbd bg;
    rt_pareto pn;
    rt_mbgnbd mbg;
  };
} rt_btyd;

/* Fits the model. Every purchase model's fit (rt_bgnbd_fit, rt_mbgnbd_fit, rt_pareto_fit)
 * also tests whether the history identifies dropout (RT_DROPOUT_MIN_SHARE) and sets
 * RT_FIT_NO_DROPOUT in its info's warnings when it does not. */
int rt_btyd_fit(const rt_clv_summary *s, rt_btyd_kind kind, rt_btyd *out, rt_error *err);
const rt_fit_info *rt_btyd_info(const rt_btyd *m);
/* The model's name for people ("BG/NBD"), its name in options and stored runs ("bgnbd"), and
 * its four parameters' names and values. */
const char *rt_btyd_name(rt_btyd_kind kind);
const char *rt_btyd_key(rt_btyd_kind kind);
/* The latest stored CLV run, of any purchase model (the highest run id of the kinds
 * rt_btyd_key names): 0 and *out filled (free kind and params with rt_free), or RT_ENOTFOUND
 * when there is none. */
int rt_clv_latest_run(rt_store *st, rt_score_run *out, rt_error *err);
void rt_btyd_params(const rt_btyd *m, const char *names[4], double values[4]);
/* rt_fit_warnings of the purchase model, with its name and parameters. */
int rt_btyd_warnings(const rt_btyd *m, const char *until, rt_fit_warning *out, int max);
double rt_btyd_p_alive(const rt_btyd *m, double x, double t_x, double T);
double rt_btyd_expected(const rt_btyd *m, double t, double x, double t_x, double T);
/* P(at least one purchase in (T, T + t] | x, t_x, T): P(alive) times the chance that a
 * customer alive at T buys within t (for Pareto/NBD, before dropping out during the wait). */
double rt_btyd_p_buy(const rt_btyd *m, double t, double x, double t_x, double T);
/* The median time to the next purchase: the t (units after T) at which rt_btyd_p_buy reaches
 * 1/2, i.e. by T + t the customer is more likely than not to have bought again; INFINITY when
 * it never reaches 1/2 (probably gone, or buying too rarely). */
double rt_btyd_next_purchase(const rt_btyd *m, double x, double t_x, double T);

typedef struct rt_gamma_gamma {
  double p, q, v;
  rt_fit_info info;
} rt_gamma_gamma;

/* Fits on the customers with x > 0 and a positive mean amount (net of refunds, see
 * rt_clv_summarize). */
int rt_gamma_gamma_fit(const rt_clv_summary *s, rt_gamma_gamma *out, rt_error *err);
/* E[mean spend | x repeat purchases of mean m]: p (v + x m) / (p x + q - 1), also for m = 0
 * (a repeat buyer whose purchases were refunded); the population mean p v / (q - 1) when
 * x = 0. */
double rt_gamma_gamma_spend(const rt_gamma_gamma *g, double x, double m);
/* rt_fit_warnings of the spend model. */
int rt_gamma_gamma_warnings(const rt_gamma_gamma *g, rt_fit_warning *out, int max);

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
  double *p_alive;     /* NAN for every customer when the model's fit has RT_FIT_NO_DROPOUT:
                          the history cannot tell who is gone */
  double *expected;    /* purchases in the horizon */
  double *value;       /* rt_clv_value over the horizon (NAN without a spend model) */
  double *next;        /* rt_btyd_next_purchase (units after the calibration end) when it is
                          within the horizon, else NAN; NAN for every customer with
                          RT_FIT_NO_DROPOUT */
} rt_clv_predictions;

/* gg may be NULL (no values). discount is per unit; with 0 the value is the expected purchases
 * times the expected spend. */
int rt_clv_predict(const rt_clv_summary *s, const rt_btyd *bg, const rt_gamma_gamma *gg,
                   double horizon, double discount, rt_clv_predictions **out, rt_error *err);
void rt_clv_predictions_free(rt_clv_predictions *p);

#endif
