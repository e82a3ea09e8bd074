/* gen.c - the synthetic business behind `retain gen` (include/retain/gen.h, docs/DATA.md).
 *
 * Three phases, each run on two threads: (1) every customer is drawn from its own random
 * substreams (seed, customer id, lane) into compact fixed-size records, (2) the records are
 * sorted by time with a stable LSD radix sort (so ties stay in customer order and the output
 * does not depend on how customers were split between threads), (3) the CSV files are written
 * with hand-rolled number formatting into large buffers. The model behind the draws is
 * described in docs/DATA.md ("How the data is generated"). */
#include <retain/alloc.h>
#include <retain/gen.h>

#include "gen/rng.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* see rng.c: no fused multiply-adds, same numbers everywhere */
#endif

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)0)
#endif

#ifdef GEN_TIMING
#include <time.h>
#define GEN_T(k) do { struct timespec ts_; clock_gettime(CLOCK_MONOTONIC, &ts_); \
  fprintf(stderr, "phase %d %.3f\n", k, ts_.tv_sec + ts_.tv_nsec / 1e9); } while (0)
#else
#define GEN_T(k) ((void)0)
#endif

#define SEC_PER_DAY 86400u
#define N_PRODUCTS 500
#define MAX_LINES 5
#define MAX_ORDERS 400    /* per customer; a safety cap for extreme purchase rates */
#define MAX_LOGINS 3000   /* per customer, likewise */
#define NO_CANCEL 0xFFFFFFFFu
#define WBUF_SIZE (4u << 20)
#define ROW_MAX 512       /* no row is longer; the writer flushes when less room is left */

/* ---- the business: tunable constants ---- */

/* Purchases (BG/NBD): rate lambda ~ Gamma(PUR_R, 1/PUR_ALPHA) per day, so a typical customer
 * (lambda = r/alpha) buys every PUR_ALPHA/PUR_R days; drop-out p ~ Beta(DROP_A, DROP_B). */
#define PUR_R 0.8
#define PUR_ALPHA 70.0
#define DROP_A 0.8
#define DROP_B 2.5
/* Spend (Gamma-Gamma style): customer mean ~ Gamma(SPEND_SHAPE, mean SPEND_MEAN cents); each
 * order's target ~ Gamma(ORDER_SHAPE) around it, then built from catalogue lines. */
#define SPEND_MEAN 5500.0
#define SPEND_SHAPE 2.5
#define ORDER_SHAPE 3.0
#define REFUND_P 0.013      /* per order */
#define REFUND_P_LAST 0.06  /* the last order before a customer drops out */
/* Engagement: logins per day while healthy = e * LOGIN_RATE, e ~ Gamma(2, 1/2); in the
 * CHURN_WINDOW days before drop-out the rate falls linearly to LOGIN_FLOOR of it. */
#define LOGIN_RATE 0.012
#define LOGIN_FLOOR 0.1
#define CHURN_WINDOW 42.0
#define FEATURE_P 0.6       /* a login leads to a feature_used event */
#define TICKET_RATE (0.15 / 365.0) /* baseline tickets per day */
#define TICKET_CHURN 0.9    /* extra tickets, on average, in the window before drop-out */
#define NPS_FIRST 30.0      /* days after acquisition of the first NPS invitation */
#define NPS_EVERY 180.0
#define NPS_ANSWER 0.35
#define CSAT_P 0.35         /* a resolved ticket is followed by a CSAT answer */

enum { CH_ORGANIC, CH_PAID, CH_SOCIAL, CH_REFERRAL, CH_EMAIL, N_CHANNELS };
static const char *const channel_name[N_CHANNELS] = {"organic", "paid_search", "social",
                                                     "referral", "email"};
static const double channel_w[N_CHANNELS] = {0.34, 0.26, 0.16, 0.09, 0.15};
static const double channel_drop[N_CHANNELS] = {0.85, 1.15, 1.4, 0.7, 0.9}; /* scales p */
static const double channel_sub[N_CHANNELS] = {0.17, 0.12, 0.11, 0.2, 0.17}; /* P(subscribes) */

#define N_COUNTRIES 10
static const char *const country_name[N_COUNTRIES] = {"US", "GB", "DE", "FR", "CA",
                                                      "AU", "NL", "ES", "IT", "SE"};
static const double country_w[N_COUNTRIES] = {38, 12, 10, 8, 7, 6, 5, 5, 5, 4};

/* Share of orders per hour of the day (UTC): quiet nights, busy evenings. */
static const double hour_w[24] = {0.5, 0.3, 0.2, 0.15, 0.15, 0.2, 0.4, 0.8, 1.1, 1.3, 1.4, 1.5,
                                  1.6, 1.5, 1.4, 1.4, 1.5, 1.7, 2.0, 2.3, 2.5, 2.3, 1.7, 1.0};
static const double nlines_w[MAX_LINES] = {0.36, 0.26, 0.18, 0.12, 0.08};
static const double lag_w[3] = {0.6, 0.3, 0.1}; /* signup 0, 1, 2 days before first order */

enum { PLAN_BASIC, PLAN_PLUS, PLAN_ANNUAL, N_PLANS };
static const char *const plan_row[N_PLANS] = {"basic", "plus", "annual"};
static const char *const plan_tail[N_PLANS] = {"9.99,USD,month\n", "19.99,USD,month\n",
                                               "99.00,USD,year\n"};
static const double plan_w[N_PLANS] = {0.55, 0.30, 0.15};

#define N_FEATURES 8
static const char *const feature_name[N_FEATURES] = {"dashboard", "search",   "reports",
                                                     "wishlist",  "reviews",  "export",
                                                     "alerts",    "integrations"};
static const double feature_w[N_FEATURES] = {30, 22, 14, 12, 9, 6, 4, 3};

#define N_TOPICS 4
static const char *const topic_name[N_TOPICS] = {"billing", "shipping", "product", "account"};
static const double topic_healthy_w[N_TOPICS] = {0.2, 0.35, 0.3, 0.15};
static const double topic_churn_w[N_TOPICS] = {0.35, 0.25, 0.3, 0.1};
static const double csat_healthy_w[5] = {0.04, 0.06, 0.15, 0.35, 0.40};
static const double csat_churn_w[5] = {0.25, 0.25, 0.25, 0.15, 0.10};

/* Event records carry their kind in the low 3 bits of info, details above. */
enum { EV_LOGIN, EV_FEATURE, EV_TICKET_OPEN, EV_TICKET_DONE, EV_NPS, EV_CSAT };
#define EV_INFO(kind, a, b) ((uint32_t)(kind) | ((uint32_t)(a) << 3) | ((uint32_t)(b) << 11))

/* ---- records ---- */

/* Orders: ts (seconds since start_day 00:00), customer, cents, ref = generation index (keys the
 * order's lines). Refunds: the same with ref = generation index of the refunded order.
 * Subscriptions: cents = cancel ts or NO_CANCEL, ref = plan. */
typedef struct orec {
  uint32_t ts, cust, cents, ref;
} orec;

typedef struct erec {
  uint32_t ts, cust, info;
} erec;

typedef struct vec {
  void *p;
  size_t n, cap;
} vec;

static int vec_grow(vec *v, size_t elem) {
  size_t cap = v->cap ? v->cap + v->cap / 2 : 4096;
  void *p = rt_reallocarray(v->p, cap, elem);
  if (!p)
    return RT_ENOMEM;
  v->p = p;
  v->cap = cap;
  return 0;
}

#define VEC_PUSH(v, T, val)                                      \
  do {                                                           \
    if ((v)->n == (v)->cap && vec_grow((v), sizeof(T)))          \
      return RT_ENOMEM;                                          \
    ((T *)(v)->p)[(v)->n++] = (val);                             \
  } while (0)

/* ---- shared, read-only after setup ---- */

typedef struct gen_ctx {
  const rt_gen_opts *o;
  uint32_t ndays;     /* end_day - start_day + 1 */
  uint32_t span;      /* ndays * 86400: every ts is below this */
  uint32_t *acq_first; /* [ndays + 1]: first customer id acquired on each day */
  /* customers.csv columns, filled by the workers at their own customers' indexes */
  uint32_t *signup;   /* day index */
  uint8_t *country, *channel;
  /* catalogue */
  uint32_t price[N_PRODUCTS]; /* cents */
  double prod_prob[N_PRODUCTS];
  uint32_t prod_alias[N_PRODUCTS];
  double hour_prob[24];
  uint32_t hour_alias[24];
  double channel_cum[N_CHANNELS], country_cum[N_COUNTRIES], nlines_cum[MAX_LINES];
  double lag_cum[3], plan_cum[N_PLANS], feature_cum[N_FEATURES];
  double topic_cum[2][N_TOPICS], csat_cum[2][5];
  atomic_uint_fast64_t done; /* customers generated, all workers */
} gen_ctx;

typedef struct worker {
  gen_ctx *g;
  uint64_t c0, c1; /* customer ids [c0, c1) */
  int report;      /* this worker runs on the caller's thread and may call progress_cb */
  vec orders, refunds, subs, events, lines, lstart;
  int rc;
  /* one customer's orders while it is drawn */
  uint32_t cur_ts[MAX_ORDERS], cur_cents[MAX_ORDERS];
} worker;

/* ---- calendar (own helpers; days since 1970-01-01, proleptic Gregorian) ---- */

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468; /* shift the epoch to 0000-03-01 so leap days end each 400-year era */
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int days_in_month(int64_t y, int m) {
  static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 ? 28 + leap : dm[m - 1];
}

/* day + n months (or years when months is a multiple of 12), day of month clamped. */
static int64_t add_months(int64_t day, uint64_t n) {
  int64_t y;
  int m, d;
  civil_from_days(day, &y, &m, &d);
  int64_t mi = (int64_t)(m - 1) + (int64_t)n;
  y += mi / 12;
  m = (int)(mi % 12) + 1;
  int dim = days_in_month(y, m);
  return days_from_civil(y, m, d > dim ? dim : d);
}

/* ---- drawing one customer ---- */

static uint32_t time_of_day(gen_ctx *g, rt__rng *r) {
  return rt__rng_alias(r, g->hour_prob, g->hour_alias, 24) * 3600u + rt__rng_below(r, 3600);
}

/* Acquisition weight of a day: growth over the span, a November-December peak, a weekly
 * rhythm. */
static double acq_weight(int64_t day, double frac) {
  static const double dow_w[7] = {1.05, 1.0, 1.0, 0.97, 0.93, 0.95, 1.1}; /* Mon..Sun */
  int64_t y;
  int m, d;
  civil_from_days(day, &y, &m, &d);
  double season = 1.0;
  if (m == 11)
    season = d >= 20 ? 1.9 : 1.3; /* Black Friday weeks */
  else if (m == 12)
    season = d <= 20 ? 1.7 : 1.1;
  else if (m == 1)
    season = 0.85;
  int dow = (int)(((day + 3) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
  return (1.0 + 1.6 * frac) * season * dow_w[dow];
}

/* Builds one order from 1-5 distinct catalogue lines whose quantities approximate target
 * cents; returns the exact amount (sum of quantity x unit price). */
static int draw_order_lines(gen_ctx *g, worker *w, rt__rng *r, double target, uint32_t *cents) {
  uint32_t k = (uint32_t)rt__rng_categorical(r, g->nlines_cum, MAX_LINES) + 1;
  uint32_t prods[MAX_LINES];
  uint64_t sum = 0;
  double share = target / k;
  for (uint32_t i = 0; i < k; i++) {
    uint32_t p;
    int tries = 0;
    for (;;) {
      p = rt__rng_alias(r, g->prod_prob, g->prod_alias, N_PRODUCTS);
      uint32_t j = 0;
      while (j < i && prods[j] != p)
        j++;
      if (j == i || ++tries == 8)
        break;
    }
    prods[i] = p;
    double q = share / g->price[p] + rt__rng_unif(r); /* randomized rounding */
    uint32_t qty = q < 1.0 ? 1 : q > 12.0 ? 12 : (uint32_t)q;
    sum += (uint64_t)qty * g->price[p];
    if (g->o->lines)
      VEC_PUSH(&w->lines, uint32_t, (p << 16) | qty);
  }
  *cents = (uint32_t)sum;
  return 0;
}

static int draw_events(gen_ctx *g, worker *w, uint32_t cust, double t_first, double tau,
                       double p_drop) {
  rt__rng r;
  rt__rng_seed(&r, g->o->seed, cust, 1);
  double horizon = g->ndays;
  double end = tau < horizon ? tau : horizon;
  double win0 = tau - CHURN_WINDOW; /* the pre-churn window starts here (tau = inf: never) */
  uint32_t span = g->span;

  /* Logins (and the feature use they lead to): a Poisson process thinned in the window. */
  double rate = rt__rng_gamma(&r, 2.0, 0.5) * LOGIN_RATE;
  double t = t_first;
  for (int n = 0; n < MAX_LOGINS; n++) {
    t += rt__rng_exp(&r, 1.0 / rate);
    if (t >= end)
      break;
    if (t >= win0 && !rt__rng_bern(&r, LOGIN_FLOOR + (1.0 - LOGIN_FLOOR) * (tau - t) / CHURN_WINDOW))
      continue;
    uint32_t ts = (uint32_t)t * SEC_PER_DAY + time_of_day(g, &r);
    VEC_PUSH(&w->events, erec, ((erec){ts, cust, EV_INFO(EV_LOGIN, 0, 0)}));
    if (rt__rng_bern(&r, FEATURE_P)) {
      uint32_t f = (uint32_t)rt__rng_categorical(&r, g->feature_cum, N_FEATURES);
      uint32_t ft = ts + 30 + rt__rng_below(&r, 1800);
      if (ft < span)
        VEC_PUSH(&w->events, erec, ((erec){ft, cust, EV_INFO(EV_FEATURE, f, 0)}));
    }
  }

  /* Support tickets: a slow baseline while a customer, and a burst before drop-out that is
   * more often about billing and more often left unresolved. */
  uint32_t ticket = 0;
  double tt = t_first;
  int phase = 0; /* 0 baseline, 1 pre-churn burst */
  uint32_t burst = 0;
  double b0 = win0 > t_first ? win0 : t_first, b1 = end;
  if (tau < horizon + CHURN_WINDOW && b1 > b0)
    burst = rt__rng_poisson(&r, TICKET_CHURN);
  for (;;) {
    if (phase == 0) {
      tt += rt__rng_exp(&r, 1.0 / TICKET_RATE);
      if (tt >= end) {
        phase = 1;
        continue;
      }
    } else {
      if (!burst || ticket >= 250)
        break;
      burst--;
      tt = b0 + (b1 - b0) * rt__rng_unif(&r);
    }
    int churny = phase == 1;
    uint32_t topic = (uint32_t)rt__rng_categorical(&r, g->topic_cum[churny], N_TOPICS);
    uint32_t ts = (uint32_t)tt * SEC_PER_DAY + time_of_day(g, &r);
    if (ts >= span)
      continue;
    ticket++;
    VEC_PUSH(&w->events, erec, ((erec){ts, cust, EV_INFO(EV_TICKET_OPEN, topic, ticket)}));
    if (!rt__rng_bern(&r, churny ? 0.5 : 0.93))
      continue;
    double rs = (double)ts + 600.0 + rt__rng_exp(&r, 1.2 * SEC_PER_DAY);
    if (rs >= span)
      continue;
    uint32_t rts = (uint32_t)rs;
    VEC_PUSH(&w->events, erec, ((erec){rts, cust, EV_INFO(EV_TICKET_DONE, topic, ticket)}));
    if (rt__rng_bern(&r, CSAT_P)) {
      uint32_t score = (uint32_t)rt__rng_categorical(&r, g->csat_cum[churny], 5) + 1;
      double cs = (double)rts + 300.0 + rt__rng_exp(&r, 0.5 * SEC_PER_DAY);
      if (cs < span)
        VEC_PUSH(&w->events, erec, ((erec){(uint32_t)cs, cust, EV_INFO(EV_CSAT, score, 0)}));
    }
  }

  /* NPS: invitations 30 days in and every 180 days while a customer; satisfaction is lower
   * for customers likely to drop out, and lower still close to drop-out. */
  for (double ts_d = t_first + NPS_FIRST; ts_d < end; ts_d += NPS_EVERY) {
    if (!rt__rng_bern(&r, NPS_ANSWER))
      continue;
    double mu = 9.3 - 7.0 * p_drop;
    if (ts_d >= win0)
      mu -= 3.0 * (1.0 - (tau - ts_d) / CHURN_WINDOW * 0.5);
    double s = mu + 1.8 * rt__rng_normal(&r) + 0.5;
    uint32_t score = s < 0 ? 0 : s >= 10 ? 10 : (uint32_t)s;
    double at = ts_d + rt__rng_exp(&r, 2.0);
    if (at >= horizon)
      continue;
    uint32_t ts = (uint32_t)at * SEC_PER_DAY + time_of_day(g, &r);
    VEC_PUSH(&w->events, erec, ((erec){ts, cust, EV_INFO(EV_NPS, score, 0)}));
  }
  return 0;
}

static int draw_subscription(gen_ctx *g, worker *w, uint32_t cust, uint32_t first_ts,
                             int channel, double p_drop) {
  rt__rng r;
  rt__rng_seed(&r, g->o->seed, cust, 2);
  if (!rt__rng_bern(&r, channel_sub[channel]))
    return 0;
  double st = (double)first_ts + rt__rng_exp(&r, 4.0 * SEC_PER_DAY);
  if (st >= g->span)
    return 0;
  uint32_t start = (uint32_t)st;
  uint32_t plan = (uint32_t)rt__rng_categorical(&r, g->plan_cum, N_PLANS);
  double theta = rt__rng_beta(&r, 0.7, 1.2) * (0.6 + 1.6 * p_drop);
  theta = theta < 0.005 ? 0.005 : theta > 0.95 ? 0.95 : theta;
  uint64_t periods = rt__rng_geometric(&r, theta); /* shifted-beta-geometric lifetime */
  uint32_t back = rt__rng_below(&r, 4), tod = time_of_day(g, &r);
  uint32_t cancel = NO_CANCEL;
  uint64_t months = plan == PLAN_ANNUAL ? periods * 12 : periods;
  if (months <= (uint64_t)g->ndays / 28 + 1) {
    int64_t d0 = g->o->start_day + start / SEC_PER_DAY;
    int64_t cd = add_months(d0, months) - g->o->start_day - (int64_t)back;
    int64_t cts = cd * (int64_t)SEC_PER_DAY + tod;
    if (cts <= (int64_t)start)
      cts = (int64_t)start + 3600;
    if (cts < (int64_t)g->span)
      cancel = (uint32_t)cts;
  }
  VEC_PUSH(&w->subs, orec, ((orec){start, cust, cancel, plan}));
  return 0;
}

static int draw_customer(gen_ctx *g, worker *w, uint32_t cust, uint32_t acq_day) {
  const rt_gen_opts *o = g->o;
  rt__rng r;
  rt__rng_seed(&r, o->seed, cust, 0);
  int channel = (int)rt__rng_categorical(&r, g->channel_cum, N_CHANNELS);
  g->channel[cust - 1] = (uint8_t)channel;
  g->country[cust - 1] = (uint8_t)rt__rng_categorical(&r, g->country_cum, N_COUNTRIES);
  uint32_t lag = (uint32_t)rt__rng_categorical(&r, g->lag_cum, 3);
  g->signup[cust - 1] = acq_day > lag ? acq_day - lag : 0;

  double lambda = rt__rng_gamma(&r, PUR_R, 1.0 / PUR_ALPHA);
  if (lambda < 1e-6)
    lambda = 1e-6;
  double p = rt__rng_beta(&r, DROP_A, DROP_B) * channel_drop[channel];
  if (p > 0.95)
    p = 0.95;
  double spend = rt__rng_gamma(&r, SPEND_SHAPE, SPEND_MEAN / SPEND_SHAPE);

  /* Purchases: the first on the acquisition day, then exponential gaps; after each one the
   * customer drops out with probability p. */
  uint32_t day = acq_day, sec = time_of_day(g, &r);
  uint32_t n = 0;
  int dropped = 0;
  for (;;) {
    uint32_t ts = day * SEC_PER_DAY + sec;
    if (n && ts <= w->cur_ts[n - 1]) /* same day as the last one: keep them in sequence */
      ts = w->cur_ts[n - 1] % SEC_PER_DAY < SEC_PER_DAY - 1 ? w->cur_ts[n - 1] + 1 : w->cur_ts[n - 1];
    if (o->lines)
      VEC_PUSH(&w->lstart, uint32_t, (uint32_t)w->lines.n);
    uint32_t cents;
    if (draw_order_lines(g, w, &r, rt__rng_gamma(&r, ORDER_SHAPE, spend / ORDER_SHAPE), &cents))
      return RT_ENOMEM;
    w->cur_ts[n] = ts;
    w->cur_cents[n] = cents;
    n++;
    if (rt__rng_bern(&r, p)) {
      dropped = 1;
      break;
    }
    if (n == MAX_ORDERS)
      break;
    double t = (double)ts / SEC_PER_DAY + rt__rng_exp(&r, 1.0 / lambda);
    if (t >= g->ndays)
      break;
    day = (uint32_t)t;
    sec = time_of_day(g, &r);
  }

  /* Refunds, some days later; likelier on the order before drop-out. */
  size_t g0 = w->orders.n;
  for (uint32_t i = 0; i < n; i++) {
    orec rec = {w->cur_ts[i], cust, w->cur_cents[i], (uint32_t)(g0 + i)};
    VEC_PUSH(&w->orders, orec, rec);
    if (!rt__rng_bern(&r, dropped && i == n - 1 ? REFUND_P_LAST : REFUND_P))
      continue;
    double rts = (double)rec.ts + SEC_PER_DAY * (1.0 + rt__rng_exp(&r, 7.0));
    uint32_t amount = rec.cents;
    if (!rt__rng_bern(&r, 0.6)) /* partial: 10-90% */
      amount = (uint32_t)((double)amount * (0.1 + 0.8 * rt__rng_unif(&r)));
    if (amount == 0)
      amount = 1;
    if (rts < g->span)
      VEC_PUSH(&w->refunds, orec, ((orec){(uint32_t)rts, cust, amount, rec.ref}));
  }

  double t_first = (double)w->cur_ts[0] / SEC_PER_DAY;
  double t_last = (double)w->cur_ts[n - 1] / SEC_PER_DAY;
  /* A customer who dropped out goes quiet some time after the last purchase. */
  double tau = 1e18;
  if (dropped) {
    double lag_days = rt__rng_exp(&r, 0.5 / lambda);
    tau = t_last + (lag_days < 120.0 ? lag_days : 120.0);
  }
  if (o->events && draw_events(g, w, cust, t_first, tau, p))
    return RT_ENOMEM;
  return draw_subscription(g, w, cust, w->cur_ts[0], channel, p);
}

static void *worker_run(void *arg) {
  worker *w = arg;
  gen_ctx *g = w->g;
  const rt_gen_opts *o = g->o;
  /* The acquisition day of c0: the last day whose first id is <= c0. */
  uint32_t lo = 0, hi = g->ndays;
  while (lo + 1 < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (g->acq_first[mid] <= w->c0)
      lo = mid;
    else
      hi = mid;
  }
  uint32_t day = lo;
  uint64_t pending = 0, next_report = 0;
  for (uint64_t c = w->c0; c < w->c1; c++) {
    while (g->acq_first[day + 1] <= c)
      day++;
    w->rc = draw_customer(g, w, (uint32_t)c, day);
    if (w->rc)
      return NULL;
    if (++pending == 4096) {
      uint64_t done = atomic_fetch_add(&g->done, pending) + pending;
      pending = 0;
      if (w->report && o->progress_cb && done >= next_report) {
        o->progress_cb(o->progress_ctx, done, o->customers);
        next_report = done + o->customers / 50;
      }
    }
  }
  atomic_fetch_add(&g->done, pending);
  GEN_T(10 + w->report);
  return NULL;
}

/* Runs a(pa) here and b(pb) on a second thread (or here too if threads are off or fail). */
static void run2(void *(*a)(void *), void *pa, void *(*b)(void *), void *pb, int threads) {
  pthread_t th;
  int started = threads && pthread_create(&th, NULL, b, pb) == 0;
  a(pa);
  if (started)
    pthread_join(th, NULL);
  else
    b(pb);
}

/* ---- sorting ---- */

/* Stable LSD radix sort on the u32 field ts, 11 bits a pass, skipping passes where every key
 * has the same digit. Returns whichever of a / tmp holds the result. */
#define DEFINE_RADIX_SORT(NAME, T)                                                          \
  static T *NAME(T *a, T *tmp, size_t n) {                                                  \
    static const int shift[3] = {0, 11, 22};                                                \
    size_t(*cnt)[2048] = rt_calloc(3, sizeof *cnt);                                         \
    if (!cnt)                                                                               \
      return NULL;                                                                          \
    for (size_t i = 0; i < n; i++) {                                                        \
      uint32_t k = a[i].ts;                                                                 \
      cnt[0][k & 2047]++;                                                                   \
      cnt[1][(k >> 11) & 2047]++;                                                           \
      cnt[2][k >> 22]++;                                                                    \
    }                                                                                       \
    T *src = a, *dst = tmp;                                                                 \
    for (int ps = 0; ps < 3 && n; ps++) {                                                   \
      size_t *c = cnt[ps];                                                                  \
      if (c[(src[0].ts >> shift[ps]) & 2047] == n)                                          \
        continue;                                                                           \
      size_t sum = 0;                                                                       \
      for (int d = 0; d < 2048; d++) {                                                      \
        size_t t = c[d];                                                                    \
        c[d] = sum;                                                                         \
        sum += t;                                                                           \
      }                                                                                     \
      for (size_t i = 0; i < n; i++)                                                        \
        dst[c[(src[i].ts >> shift[ps]) & 2047]++] = src[i];                                 \
      T *x = src;                                                                           \
      src = dst;                                                                            \
      dst = x;                                                                              \
    }                                                                                       \
    rt_free(cnt);                                                                           \
    return src;                                                                             \
  }

DEFINE_RADIX_SORT(sort_orecs, orec)
DEFINE_RADIX_SORT(sort_erecs, erec)

/* Sorts *v (n records of T) by time; the result replaces v->p. */
#define SORT_VEC(FN, T, v, rc)                                     \
  do {                                                             \
    if ((v)->n < 2)                                                \
      break;                                                       \
    T *tmp_ = rt_reallocarray(NULL, (v)->n ? (v)->n : 1, sizeof(T)); \
    T *res_ = tmp_ ? FN((T *)(v)->p, tmp_, (v)->n) : NULL;         \
    if (!res_) {                                                   \
      rt_free(tmp_);                                               \
      rc = RT_ENOMEM;                                              \
      break;                                                       \
    }                                                              \
    rt_free(res_ == tmp_ ? (v)->p : (void *)tmp_);                 \
    (v)->p = res_;                                                 \
  } while (0)

/* Appends b's records to a (b is freed). */
static int vec_append(vec *a, vec *b, size_t elem) {
  if (b->n) {
    if (a->n + b->n > a->cap) {
      void *p = rt_reallocarray(a->p, a->n + b->n, elem);
      if (!p)
        return RT_ENOMEM;
      a->p = p;
      a->cap = a->n + b->n;
    }
    memcpy((char *)a->p + a->n * elem, b->p, b->n * elem);
    a->n += b->n;
  }
  rt_free(b->p);
  memset(b, 0, sizeof *b);
  return 0;
}

typedef struct sort_job {
  worker *w; /* [2] */
  int kind;  /* 0 orders, refunds, subscriptions; 1 events */
  int rc;
} sort_job;

static void *sort_run(void *arg) {
  sort_job *j = arg;
  worker *w0 = &j->w[0], *w1 = &j->w[1];
  int rc = 0;
  if (j->kind == 1) {
    if ((rc = vec_append(&w0->events, &w1->events, sizeof(erec))))
      goto out;
    SORT_VEC(sort_erecs, erec, &w0->events, rc);
    goto out;
  }
  /* Second worker's generation indexes and line offsets continue the first's. */
  uint32_t goff = (uint32_t)w0->orders.n, loff = (uint32_t)w0->lines.n;
  orec *o1 = w1->orders.p, *r1 = w1->refunds.p;
  for (size_t i = 0; i < w1->orders.n; i++)
    o1[i].ref += goff;
  for (size_t i = 0; i < w1->refunds.n; i++)
    r1[i].ref += goff;
  uint32_t *l1 = w1->lstart.p;
  for (size_t i = 0; i < w1->lstart.n; i++)
    l1[i] += loff;
  if ((rc = vec_append(&w0->orders, &w1->orders, sizeof(orec))) ||
      (rc = vec_append(&w0->refunds, &w1->refunds, sizeof(orec))) ||
      (rc = vec_append(&w0->subs, &w1->subs, sizeof(orec))) ||
      (rc = vec_append(&w0->lstart, &w1->lstart, sizeof(uint32_t))) ||
      (rc = vec_append(&w0->lines, &w1->lines, sizeof(uint32_t))))
    goto out;
  if (w0->lstart.n) { /* sentinel: the end of the last order's lines */
    uint32_t end = (uint32_t)w0->lines.n;
    vec *v = &w0->lstart;
    if (v->n == v->cap && vec_grow(v, sizeof(uint32_t))) {
      rc = RT_ENOMEM;
      goto out;
    }
    ((uint32_t *)v->p)[v->n] = end; /* kept past n: lstart.n stays the order count */
  }
  SORT_VEC(sort_orecs, orec, &w0->orders, rc);
  if (rc)
    goto out;
  SORT_VEC(sort_orecs, orec, &w0->refunds, rc);
  if (rc)
    goto out;
  SORT_VEC(sort_orecs, orec, &w0->subs, rc);
out:
  j->rc = rc;
  return NULL;
}

/* ---- writing ---- */

static char digits2[200]; /* "00".."99" */
static pthread_once_t digits_once = PTHREAD_ONCE_INIT;
static void digits_init(void) {
  for (int i = 0; i < 100; i++) {
    digits2[2 * i] = (char)('0' + i / 10);
    digits2[2 * i + 1] = (char)('0' + i % 10);
  }
}

static inline char *put_u64(char *p, uint64_t v) {
  char tmp[20];
  char *e = tmp + 20, *s = e;
  while (v >= 100) {
    uint64_t q = v / 100;
    s -= 2;
    memcpy(s, digits2 + 2 * (v - q * 100), 2);
    v = q;
  }
  if (v >= 10) {
    s -= 2;
    memcpy(s, digits2 + 2 * v, 2);
  } else {
    *--s = (char)('0' + v);
  }
  size_t n = (size_t)(e - s);
  memcpy(p, s, n);
  return p + n;
}

static inline char *put_cents(char *p, int64_t c) {
  if (c < 0) {
    *p++ = '-';
    c = -c;
  }
  p = put_u64(p, (uint64_t)c / 100);
  *p++ = '.';
  memcpy(p, digits2 + 2 * ((uint64_t)c % 100), 2);
  return p + 2;
}

static inline char *put_str(char *p, const char *s) {
  size_t n = strlen(s);
  memcpy(p, s, n);
  return p + n;
}

typedef struct writer {
  int fd;
  char *buf, *p, *end;
  char path[4096];
  int err_no; /* errno of the failure, formatted by the caller's thread */
  const char *dates; /* 10 chars a day index: "YYYY-MM-DD" */
} writer;

static int wr_open(writer *w, const char *dir, const char *name, const char *dates) {
  memset(w, 0, sizeof *w);
  w->fd = -1;
  w->dates = dates;
  int n = snprintf(w->path, sizeof w->path, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= sizeof w->path) {
    w->err_no = ENAMETOOLONG;
    return RT_EIO;
  }
  w->buf = rt_malloc(WBUF_SIZE);
  if (!w->buf)
    return RT_ENOMEM;
  w->p = w->buf;
  w->end = w->buf + WBUF_SIZE;
  w->fd = open(w->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (w->fd < 0) {
    w->err_no = errno;
    return RT_EIO;
  }
  return 0;
}

static int wr_flush(writer *w) {
  const char *s = w->buf;
  size_t n = (size_t)(w->p - w->buf);
  while (n) {
    ssize_t k = write(w->fd, s, n);
    if (k < 0) {
      if (errno == EINTR)
        continue;
      w->err_no = errno;
      return RT_EIO;
    }
    s += k;
    n -= (size_t)k;
  }
  w->p = w->buf;
  return 0;
}

static inline int wr_room(writer *w) {
  return w->end - w->p < ROW_MAX ? wr_flush(w) : 0;
}

/* Flushes and closes; keeps the first error. */
static int wr_close(writer *w, int rc) {
  if (w->fd >= 0) {
    if (!rc)
      rc = wr_flush(w);
    if (close(w->fd) && !rc) {
      w->err_no = errno;
      rc = RT_EIO;
    }
    w->fd = -1;
  }
  rt_free(w->buf);
  w->buf = NULL;
  return rc;
}

static inline char *put_datetime(const writer *w, char *p, uint32_t ts) {
  uint32_t day = ts / SEC_PER_DAY, s = ts - day * SEC_PER_DAY;
  memcpy(p, w->dates + (size_t)day * 10, 10);
  p[10] = ' ';
  uint32_t h = s / 3600, m = s / 60 % 60;
  memcpy(p + 11, digits2 + 2 * h, 2);
  p[13] = ':';
  memcpy(p + 14, digits2 + 2 * m, 2);
  p[16] = ':';
  memcpy(p + 17, digits2 + 2 * (s % 60), 2);
  return p + 19;
}

typedef struct write_job {
  gen_ctx *g;
  worker *w; /* merged results in w[0] */
  const char *dates;
  int kind; /* 0: orders + lines; 1: customers, subscriptions, events */
  int rc;
  writer fw; /* the file that failed, for the message */
  rt_gen_stats st;
} write_job;

static int write_orders(write_job *j, writer *f) {
  worker *w = j->w;
  const orec *ord = w->orders.p, *ref = w->refunds.p;
  size_t n = w->orders.n, nr = w->refunds.n;
  uint32_t *id_of = NULL;
  if (nr) { /* refunds name their order by id, known only now that orders are sorted */
    id_of = rt_reallocarray(NULL, n, sizeof *id_of);
    if (!id_of)
      return RT_ENOMEM;
    for (size_t i = 0; i < n; i++)
      id_of[ord[i].ref] = (uint32_t)(i + 1);
  }
  int rc = wr_open(f, j->g->o->out_dir, "orders.csv", j->dates);
  if (rc)
    goto out;
  f->p = put_str(f->p, "order_id,customer_id,order_date,amount,currency\n");
  size_t i = 0, k = 0;
  while (i < n || k < nr) {
    if ((rc = wr_room(f)))
      goto out;
    char *p = f->p;
    if (k < nr && (i == n || ref[k].ts < ord[i].ts)) {
      const orec *x = &ref[k++];
      *p++ = 'C';
      p = put_u64(p, id_of[x->ref]);
      *p++ = ',';
      p = put_u64(p, x->cust);
      *p++ = ',';
      p = put_datetime(f, p, x->ts);
      *p++ = ',';
      p = put_cents(p, -(int64_t)x->cents);
    } else {
      const orec *x = &ord[i++];
      p = put_u64(p, i);
      *p++ = ',';
      p = put_u64(p, x->cust);
      *p++ = ',';
      p = put_datetime(f, p, x->ts);
      *p++ = ',';
      p = put_cents(p, x->cents);
    }
    memcpy(p, ",USD\n", 5);
    f->p = p + 5;
  }
  j->st.orders = n;
  j->st.refunds = nr;
out:
  rt_free(id_of);
  return wr_close(f, rc);
}

static int write_lines(write_job *j, writer *f) {
  worker *w = j->w;
  const orec *ord = w->orders.p;
  const uint32_t *ls = w->lstart.p, *lines = w->lines.p;
  size_t n = w->orders.n;
  /* ",42,Product 0042," and "12.99\n" for every product, formatted once. */
  char mid[N_PRODUCTS][24], tail[N_PRODUCTS][16];
  uint8_t midn[N_PRODUCTS], tailn[N_PRODUCTS];
  for (int p = 0; p < N_PRODUCTS; p++) {
    midn[p] = (uint8_t)snprintf(mid[p], sizeof mid[p], ",%d,Product %04d,", p + 1, p + 1);
    char *e = put_cents(tail[p], j->g->price[p]);
    *e++ = '\n';
    tailn[p] = (uint8_t)(e - tail[p]);
  }
  int rc = wr_open(f, j->g->o->out_dir, "order_lines.csv", j->dates);
  if (rc)
    return wr_close(f, rc);
  f->p = put_str(f->p, "order_id,product_id,product_name,quantity,unit_price\n");
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    /* Sorted by time, orders visit their lines in random order: fetch ahead. */
    if (i + 16 < n)
      PREFETCH(&ls[ord[i + 16].ref]);
    if (i + 8 < n)
      PREFETCH(&lines[ls[ord[i + 8].ref]]);
    if ((rc = wr_room(f)))
      break;
    uint32_t g = ord[i].ref;
    char idbuf[24];
    size_t idn = (size_t)(put_u64(idbuf, i + 1) - idbuf);
    char *p = f->p;
    for (uint32_t l = ls[g]; l < ls[g + 1]; l++) {
      uint32_t prod = lines[l] >> 16, qty = lines[l] & 0xFFFF;
      memcpy(p, idbuf, idn);
      p += idn;
      memcpy(p, mid[prod], 24);
      p += midn[prod];
      p = put_u64(p, qty);
      *p++ = ',';
      memcpy(p, tail[prod], 16);
      p += tailn[prod];
    }
    total += ls[g + 1] - ls[g];
    f->p = p;
  }
  j->st.lines = total;
  return wr_close(f, rc);
}

static int write_customers(write_job *j, writer *f) {
  gen_ctx *g = j->g;
  uint64_t n = g->o->customers;
  int rc = wr_open(f, g->o->out_dir, "customers.csv", j->dates);
  if (rc)
    return wr_close(f, rc);
  f->p = put_str(f->p, "customer_id,email,signup_date,country,channel\n");
  for (uint64_t c = 1; c <= n && !rc; c++) {
    if ((rc = wr_room(f)))
      break;
    char *p = f->p;
    p = put_u64(p, c);
    memcpy(p, ",c", 2);
    p = put_u64(p + 2, c);
    memcpy(p, "@example.com,", 13);
    p += 13;
    memcpy(p, f->dates + (size_t)g->signup[c - 1] * 10, 10);
    p[10] = ',';
    memcpy(p + 11, country_name[g->country[c - 1]], 2);
    p[13] = ',';
    p = put_str(p + 14, channel_name[g->channel[c - 1]]);
    *p++ = '\n';
    f->p = p;
  }
  j->st.customers = n;
  return wr_close(f, rc);
}

static int write_subs(write_job *j, writer *f) {
  const orec *s = j->w->subs.p;
  size_t n = j->w->subs.n;
  int rc = wr_open(f, j->g->o->out_dir, "subscriptions.csv", j->dates);
  if (rc)
    return wr_close(f, rc);
  f->p = put_str(f->p,
                 "subscription_id,customer_id,plan,started_at,canceled_at,amount,currency,interval\n");
  for (size_t i = 0; i < n; i++) {
    if ((rc = wr_room(f)))
      break;
    char *p = f->p;
    p = put_u64(p, i + 1);
    *p++ = ',';
    p = put_u64(p, s[i].cust);
    *p++ = ',';
    p = put_str(p, plan_row[s[i].ref]);
    *p++ = ',';
    p = put_datetime(f, p, s[i].ts);
    *p++ = ',';
    if (s[i].cents != NO_CANCEL)
      p = put_datetime(f, p, s[i].cents);
    *p++ = ',';
    f->p = put_str(p, plan_tail[s[i].ref]);
  }
  j->st.subscriptions = n;
  return wr_close(f, rc);
}

static int write_events(write_job *j, writer *f) {
  const erec *e = j->w->events.p;
  size_t n = j->w->events.n;
  /* The properties of feature_used events, CSV-quoted JSON, formatted once. */
  char feat[N_FEATURES][64];
  for (int i = 0; i < N_FEATURES; i++)
    snprintf(feat[i], sizeof feat[i], ",\"{\"\"feature\"\":\"\"%s\"\"}\"\n", feature_name[i]);
  int rc = wr_open(f, j->g->o->out_dir, "events.csv", j->dates);
  if (rc)
    return wr_close(f, rc);
  f->p = put_str(f->p, "event_id,customer_id,type,timestamp,properties\n");
  for (size_t i = 0; i < n; i++) {
    if ((rc = wr_room(f)))
      break;
    char *p = f->p;
    const erec *x = &e[i];
    p = put_u64(p, i + 1);
    *p++ = ',';
    p = put_u64(p, x->cust);
    uint32_t kind = x->info & 7, a = (x->info >> 3) & 0xFF, b = x->info >> 11;
    switch (kind) {
    case EV_LOGIN:
      p = put_str(p, ",login,");
      p = put_datetime(f, p, x->ts);
      p = put_str(p, ",{}\n");
      break;
    case EV_FEATURE: {
      p = put_str(p, ",feature_used,");
      p = put_datetime(f, p, x->ts);
      p = put_str(p, feat[a]);
      break;
    }
    case EV_TICKET_OPEN:
    case EV_TICKET_DONE:
      p = put_str(p, kind == EV_TICKET_OPEN ? ",ticket_opened," : ",ticket_resolved,");
      p = put_datetime(f, p, x->ts);
      p = put_str(p, ",\"{\"\"ticket\"\":\"\"T");
      p = put_u64(p, x->cust);
      *p++ = '-';
      p = put_u64(p, b);
      p = put_str(p, "\"\",\"\"topic\"\":\"\"");
      p = put_str(p, topic_name[a]);
      p = put_str(p, "\"\"}\"\n");
      break;
    default: /* EV_NPS, EV_CSAT */
      p = put_str(p, ",survey_answered,");
      p = put_datetime(f, p, x->ts);
      p = put_str(p, ",\"{\"\"score\"\":");
      p = put_u64(p, a);
      p = put_str(p, kind == EV_NPS ? ",\"\"survey\"\":\"\"nps\"\"}\"\n"
                                    : ",\"\"survey\"\":\"\"csat\"\"}\"\n");
      break;
    }
    f->p = p;
  }
  j->st.events = n;
  return wr_close(f, rc);
}

static void *write_run(void *arg) {
  write_job *j = arg;
  int rc = 0;
  if (j->kind == 0) {
    rc = write_orders(j, &j->fw);
    if (!rc && j->g->o->lines)
      rc = write_lines(j, &j->fw);
  } else {
    rc = write_customers(j, &j->fw);
    if (!rc)
      rc = write_subs(j, &j->fw);
    if (!rc && j->g->o->events)
      rc = write_events(j, &j->fw);
  }
  j->rc = rc;
  return NULL;
}

/* ---- setup ---- */

static int mkdir_p(const char *dir, rt_error *err) {
  char path[4096];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof path)
    return rt_error_set(err, RT_EINVAL, "invalid output directory '%s'", dir);
  memcpy(path, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (path[i] != '/' && path[i] != '\0')
      continue;
    char c = path[i];
    path[i] = '\0';
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
      return rt_error_set(err, RT_EIO, "cannot create directory '%s': %s", path,
                          strerror(errno));
    path[i] = c;
  }
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return rt_error_set(err, RT_EIO, "'%s' is not a directory", dir);
  return 0;
}

static void build_tables(gen_ctx *g) {
  static const struct {
    const double *w;
    size_t n;
    size_t off;
  } cums[] = {
      {channel_w, N_CHANNELS, offsetof(gen_ctx, channel_cum)},
      {country_w, N_COUNTRIES, offsetof(gen_ctx, country_cum)},
      {nlines_w, MAX_LINES, offsetof(gen_ctx, nlines_cum)},
      {lag_w, 3, offsetof(gen_ctx, lag_cum)},
      {plan_w, N_PLANS, offsetof(gen_ctx, plan_cum)},
      {feature_w, N_FEATURES, offsetof(gen_ctx, feature_cum)},
      {topic_healthy_w, N_TOPICS, offsetof(gen_ctx, topic_cum)},
      {topic_churn_w, N_TOPICS, offsetof(gen_ctx, topic_cum) + N_TOPICS * sizeof(double)},
      {csat_healthy_w, 5, offsetof(gen_ctx, csat_cum)},
      {csat_churn_w, 5, offsetof(gen_ctx, csat_cum) + 5 * sizeof(double)},
  };
  for (size_t i = 0; i < RT_ARRAY_LEN(cums); i++) {
    double *dst = (double *)((char *)g + cums[i].off);
    memcpy(dst, cums[i].w, cums[i].n * sizeof(double));
    rt__cumulate(dst, cums[i].n);
  }
  uint32_t scratch[2 * N_PRODUCTS];
  rt__alias_build(hour_w, 24, g->hour_prob, g->hour_alias, scratch);

  /* The catalogue: log-normal prices ending in .99 or .49 (median about $18), Zipf-like
   * popularity over a shuffled ranking. */
  rt__rng r;
  rt__rng_seed(&r, g->o->seed, 0, 7);
  uint32_t rank[N_PRODUCTS];
  double pop[N_PRODUCTS];
  for (uint32_t i = 0; i < N_PRODUCTS; i++) {
    double dollars = 18.0 * rt__exp(0.8 * rt__rng_normal(&r));
    if (dollars < 1.0)
      dollars = 1.0;
    if (dollars > 900.0)
      dollars = 900.0;
    g->price[i] = (uint32_t)dollars * 100 + (rt__rng_bern(&r, 0.8) ? 99 : 49);
    rank[i] = i;
  }
  for (uint32_t i = N_PRODUCTS - 1; i > 0; i--) {
    uint32_t k = rt__rng_below(&r, i + 1), t = rank[i];
    rank[i] = rank[k];
    rank[k] = t;
  }
  for (uint32_t i = 0; i < N_PRODUCTS; i++)
    pop[i] = rt__exp(-0.9 * rt__log((double)rank[i] + 1.0));
  rt__alias_build(pop, N_PRODUCTS, g->prod_prob, g->prod_alias, scratch);
}

/* Spreads customers 1..N over the days in proportion to acq_weight times a little day-to-day
 * noise: acq_first[d] = 1 + round(N * cumulative share before day d). */
static void spread_acquisitions(gen_ctx *g) {
  const rt_gen_opts *o = g->o;
  rt__rng r;
  rt__rng_seed(&r, o->seed, 0, 8);
  double total = 0;
  /* Two passes over the days (the second replays the same noise) need no table of weights. */
  for (uint32_t d = 0; d < g->ndays; d++)
    total += acq_weight(o->start_day + d, g->ndays > 1 ? (double)d / (g->ndays - 1) : 0) *
             rt__rng_gamma(&r, 60.0, 1.0 / 60.0);
  rt__rng_seed(&r, o->seed, 0, 8);
  double acc = 0;
  g->acq_first[0] = 1;
  for (uint32_t d = 0; d < g->ndays; d++) {
    acc += acq_weight(o->start_day + d, g->ndays > 1 ? (double)d / (g->ndays - 1) : 0) *
           rt__rng_gamma(&r, 60.0, 1.0 / 60.0);
    double x = (double)o->customers * (acc / total) + 0.5;
    uint64_t upto = d + 1 == g->ndays ? o->customers : (uint64_t)x;
    if (upto > o->customers)
      upto = o->customers;
    g->acq_first[d + 1] = (uint32_t)(upto + 1);
  }
}

/* The customer id at which the work (customer-days to the end of the span) is about half. */
static uint64_t split_point(const gen_ctx *g) {
  double total = 0, acc = 0;
  for (uint32_t d = 0; d < g->ndays; d++)
    total += (double)(g->acq_first[d + 1] - g->acq_first[d]) * (g->ndays - d + 60.0);
  for (uint32_t d = 0; d < g->ndays; d++) {
    acc += (double)(g->acq_first[d + 1] - g->acq_first[d]) * (g->ndays - d + 60.0);
    if (acc >= total / 2)
      return g->acq_first[d + 1];
  }
  return g->o->customers + 1;
}


void rt_gen_opts_init(rt_gen_opts *o) {
  memset(o, 0, sizeof *o);
  o->customers = 10000;
  o->seed = 1;
  o->start_day = 18993; /* 2022-01-01 */
  o->end_day = 20088;   /* 2024-12-31 */
  o->lines = 1;
  o->events = 1;
}

static void worker_free(worker *w) {
  vec *v[] = {&w->orders, &w->refunds, &w->subs, &w->events, &w->lines, &w->lstart};
  for (size_t i = 0; i < RT_ARRAY_LEN(v); i++)
    rt_free(v[i]->p);
}

int rt_gen_run(const rt_gen_opts *o, rt_gen_stats *stats, rt_error *err) {
  if (stats)
    memset(stats, 0, sizeof *stats);
  if (!o || !o->out_dir)
    return rt_error_set(err, RT_EINVAL, "gen: no output directory");
  if (o->end_day < o->start_day)
    return rt_error_set(err, RT_EINVAL, "gen: end day %lld is before start day %lld",
                        (long long)o->end_day, (long long)o->start_day);
  /* Seconds from the start fit in 32 bits; years keep four digits. */
  if (o->end_day - o->start_day >= 49000 || o->start_day < days_from_civil(1000, 1, 1) ||
      o->end_day > days_from_civil(9999, 12, 31))
    return rt_error_set(err, RT_ERANGE,
                        "gen: the span must lie within the years 1000-9999 and be under 49000 days");
  if (o->customers >= 0xFFFFFFF0u)
    return rt_error_set(err, RT_ERANGE, "gen: at most %u customers", 0xFFFFFFF0u);
  int rc = mkdir_p(o->out_dir, err);
  if (rc)
    return rc;
  pthread_once(&digits_once, digits_init);

  gen_ctx *g = rt_calloc(1, sizeof *g);
  worker *w = rt_calloc(2, sizeof *w);
  char *dates = NULL;
  write_job *wj = NULL;
  if (!g || !w)
    goto nomem;
  g->o = o;
  g->ndays = (uint32_t)(o->end_day - o->start_day + 1);
  g->span = g->ndays * SEC_PER_DAY;
  atomic_init(&g->done, 0);
  uint64_t n = o->customers;
  g->acq_first = rt_reallocarray(NULL, g->ndays + 1, sizeof(uint32_t));
  g->signup = rt_reallocarray(NULL, n ? n : 1, sizeof(uint32_t));
  g->country = rt_malloc(n ? n : 1);
  g->channel = rt_malloc(n ? n : 1);
  dates = rt_malloc((size_t)g->ndays * 10);
  if (!g->acq_first || !g->signup || !g->country || !g->channel || !dates)
    goto nomem;
  for (uint32_t d = 0; d < g->ndays; d++) {
    int64_t y;
    int m, dd;
    civil_from_days(o->start_day + d, &y, &m, &dd);
    char *p = dates + (size_t)d * 10;
    memcpy(p, digits2 + 2 * (y / 100), 2);
    memcpy(p + 2, digits2 + 2 * (y % 100), 2);
    p[4] = '-';
    memcpy(p + 5, digits2 + 2 * m, 2);
    p[7] = '-';
    memcpy(p + 8, digits2 + 2 * dd, 2);
  }
  build_tables(g);
  spread_acquisitions(g);

  /* Phase 1: draw. Small runs stay on one thread. */
  int threads = n >= 20000;
  uint64_t mid = threads ? split_point(g) : n + 1;
  w[0] = (worker){.g = g, .c0 = 1, .c1 = mid, .report = 1};
  w[1] = (worker){.g = g, .c0 = mid, .c1 = n + 1};
  GEN_T(0);
  run2(worker_run, &w[0], worker_run, &w[1], threads);
  GEN_T(1);
  if (w[0].rc || w[1].rc)
    goto nomem;
  if (o->progress_cb)
    o->progress_cb(o->progress_ctx, n, n);

  /* Phase 2: sort (orders & co. on this thread, events on the other). */
  sort_job sj[2] = {{w, 0, 0}, {w, 1, 0}};
  run2(sort_run, &sj[0], sort_run, &sj[1], 1);
  GEN_T(2);
  if (sj[0].rc || sj[1].rc)
    goto nomem;

  /* Phase 3: write. */
  wj = rt_calloc(2, sizeof *wj);
  if (!wj)
    goto nomem;
  for (int k = 0; k < 2; k++)
    wj[k] = (write_job){.g = g, .w = w, .dates = dates, .kind = k};
  run2(write_run, &wj[0], write_run, &wj[1], 1);
  GEN_T(3);
  for (int k = 0; k < 2 && !rc; k++) {
    rc = wj[k].rc;
    if (rc == RT_ENOMEM)
      rt_error_set(err, rc, "gen: out of memory");
    else if (rc)
      rt_error_set(err, rc, "gen: cannot write '%s': %s", wj[k].fw.path,
                   strerror(wj[k].fw.err_no));
  }
  if (!rc && stats) {
    stats->customers = wj[1].st.customers;
    stats->subscriptions = wj[1].st.subscriptions;
    stats->events = wj[1].st.events;
    stats->orders = wj[0].st.orders;
    stats->refunds = wj[0].st.refunds;
    stats->lines = wj[0].st.lines;
  }
  goto out;
nomem:
  rc = rt_error_set(err, RT_ENOMEM, "gen: out of memory");
out:
  if (w) {
    worker_free(&w[0]);
    worker_free(&w[1]);
  }
  if (g) {
    rt_free(g->acq_first);
    rt_free(g->signup);
    rt_free(g->country);
    rt_free(g->channel);
  }
  rt_free(g);
  rt_free(w);
  rt_free(wj);
  rt_free(dates);
  return rc;
}
