/* test_metrics.c - the retention report (src/analytics/metrics.c): a hand-computed fixture
 * checked field by field (counts, rates, baselines), subscription-only customers, refunds of
 * customers without orders, period selection, empty models, and random models against a
 * brute-force reference that asks "active on day d?" customer by customer for every period,
 * for every unit and several inactivity windows. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <retain/alloc.h>
#include <retain/metrics.h>
#include <retain/model.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY(y, m, d) rt_days_from_civil(y, m, d)
#define MS_OF_DAY(day) ((int64_t)(day) * RT_MS_PER_DAY + 12 * 3600000LL)

static rt_model_builder *new_builder(void) {
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(NULL, "USD", &b), 0);
  return b;
}

static uint32_t cust(rt_model_builder *b, const char *id) {
  uint32_t ix;
  assert_int_equal(rt_model_builder_customer(b, id, strlen(id), 0, &ix), 0);
  return ix;
}

static void order(rt_model_builder *b, uint32_t c, int64_t day, int64_t amount) {
  assert_int_equal(rt_model_builder_order(b, c, MS_OF_DAY(day), amount, "USD"), 0);
}

static void refund(rt_model_builder *b, uint32_t c, int64_t day, int64_t amount) {
  assert_int_equal(rt_model_builder_refund(b, c, MS_OF_DAY(day), amount, "USD"), 0);
}

/* end_day < 0: still active */
static void sub(rt_model_builder *b, uint32_t c, int64_t start_day, int64_t end_day) {
  assert_int_equal(rt_model_builder_subscription(b, c, MS_OF_DAY(start_day),
                                                 end_day < 0 ? 0 : MS_OF_DAY(end_day), 100,
                                                 "USD"),
                   0);
}

static rt_model *build(rt_model_builder *b) {
  rt_model *m;
  rt_error err;
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  return m;
}

static rt_report *report(const rt_model *m, rt_period_unit u, int64_t from, int64_t to,
                         int baseline, int inactive_days) {
  rt_report_opts o;
  rt_report_opts_init(&o);
  o.unit = u;
  o.from_period = from;
  o.to_period = to;
  o.baseline = baseline;
  o.inactive_days = inactive_days;
  rt_report *r = NULL;
  rt_error err;
  assert_int_equal(rt_report_compute(m, &o, &r, &err), 0);
  assert_non_null(r);
  return r;
}

static int64_t month(int y, int m) { return rt_period_of_day(RT_PERIOD_MONTH, DAY(y, m, 1)); }

#define assert_rate(x, want)                                                                   \
  do {                                                                                         \
    double x_ = (x), w_ = (want);                                                              \
    if (isnan(w_))                                                                             \
      assert_true(isnan(x_));                                                                  \
    else                                                                                       \
      assert_true(fabs(x_ - w_) < 1e-9);                                                       \
  } while (0)

/* The fixture, months of 2024, inactivity window 30 days (an order on day o makes the
 * customer active on days o .. o+29):
 *   A: orders Jan 5 (1000), Jan 20 (500), Mar 10 (700)  active Jan 5..Feb 18, Mar 10..Apr 8
 *   B: order Jan 31 (2000), refund Feb 5 (300)           active Jan 31..Feb 29
 *   C: orders Feb 15 (400), Feb 16 (100)                 active Feb 15..Mar 16
 *   D: a refund on Mar 1 (999) and nothing else          never a buyer, never active
 *   E: a subscription Jan 10, cancelled Mar 20           active Jan 10..Mar 19, never a buyer
 * Active on Jan 31: A B E; on Feb 29: B C E; on Mar 31: A. */
static rt_model *fixture(void) {
  rt_model_builder *b = new_builder();
  uint32_t a = cust(b, "A"), bb = cust(b, "B"), c = cust(b, "C"), d = cust(b, "D"),
           e = cust(b, "E");
  order(b, a, DAY(2024, 1, 5), 1000);
  order(b, a, DAY(2024, 1, 20), 500);
  order(b, a, DAY(2024, 3, 10), 700);
  order(b, bb, DAY(2024, 1, 31), 2000);
  refund(b, bb, DAY(2024, 2, 5), 300);
  order(b, c, DAY(2024, 2, 16), 100);
  order(b, c, DAY(2024, 2, 15), 400);
  refund(b, d, DAY(2024, 3, 1), 999);
  sub(b, e, DAY(2024, 1, 10), DAY(2024, 3, 20));
  rt_model *m = build(b);
  /* judged as of the end of March (the data's last day is March 20) */
  rt_error err;
  assert_int_equal(rt_model_set_as_of(&m, DAY(2024, 3, 31), RT_AS_OF_GIVEN, &err), 0);
  return m;
}

static void test_fixture(void **state) {
  (void)state;
  rt_model *m = fixture();
  rt_report *r = report(m, RT_PERIOD_MONTH, month(2024, 1), month(2024, 3), 3, 30);
  assert_int_equal(r->unit, RT_PERIOD_MONTH);
  assert_int_equal(r->inactive_days, 30);
  assert_int_equal(r->baseline, 3);
  assert_int_equal(r->nperiods, 3);
  const rt_period_metrics *jan = &r->rows[0], *feb = &r->rows[1], *mar = &r->rows[2];

  assert_int_equal(jan->period, month(2024, 1));
  assert_int_equal(jan->customers, 2);
  assert_int_equal(jan->new_customers, 2);
  assert_int_equal(jan->active_start, 0);
  assert_int_equal(jan->active_end, 3);
  assert_int_equal(jan->churned, 0);
  assert_int_equal(jan->ordering, 2);
  assert_int_equal(jan->orders, 3);
  assert_int_equal(jan->refunds, 0);
  assert_int_equal(jan->revenue, 3500);
  assert_int_equal(jan->refunded, 0);
  assert_int_equal(jan->net_revenue_to_date, 3500);
  assert_int_equal(jan->repeat_buyers, 1);
  assert_rate(jan->churn_rate, NAN);
  assert_rate(jan->retention_rate, NAN);
  assert_rate(jan->repeat_rate, 0.5);
  assert_rate(jan->frequency, 1.5);
  assert_rate(jan->aov, 3500.0 / 3);
  assert_rate(jan->historic_clv, 1750);

  assert_int_equal(feb->period, month(2024, 2));
  assert_int_equal(feb->customers, 3);
  assert_int_equal(feb->new_customers, 1);
  assert_int_equal(feb->active_start, 3);
  assert_int_equal(feb->active_end, 3);
  assert_int_equal(feb->churned, 1); /* A */
  assert_int_equal(feb->ordering, 1);
  assert_int_equal(feb->orders, 2);
  assert_int_equal(feb->refunds, 1);
  assert_int_equal(feb->revenue, 500);
  assert_int_equal(feb->refunded, 300);
  assert_int_equal(feb->net_revenue_to_date, 3700);
  assert_int_equal(feb->repeat_buyers, 2);
  assert_rate(feb->churn_rate, 1.0 / 3);
  assert_int_equal(feb->retained, 2);  /* B and E */
  assert_int_equal(feb->returning, 0);
  assert_rate(feb->retention_rate, 2.0 / 3); /* retained / S */
  assert_rate(feb->textbook_retention_rate, 2.0 / 3); /* (E - N) / S = (3 - 1) / 3 */
  assert_rate(feb->repeat_rate, 2.0 / 3);
  assert_rate(feb->frequency, 2);
  assert_rate(feb->aov, 250);
  assert_rate(feb->historic_clv, 3700.0 / 3);

  assert_int_equal(mar->period, month(2024, 3));
  assert_int_equal(mar->customers, 3);
  assert_int_equal(mar->new_customers, 0);
  assert_int_equal(mar->active_start, 3);
  assert_int_equal(mar->active_end, 1);
  assert_int_equal(mar->churned, 3); /* B, C and E; A came back */
  assert_int_equal(mar->ordering, 1);
  assert_int_equal(mar->orders, 1);
  assert_int_equal(mar->refunds, 1);  /* D's: counted in the period... */
  assert_int_equal(mar->revenue, 700);
  assert_int_equal(mar->refunded, 999);
  assert_int_equal(mar->net_revenue_to_date, 4400); /* ...but D is not a buyer */
  assert_int_equal(mar->repeat_buyers, 2);
  assert_int_equal(mar->retained, 0);
  assert_int_equal(mar->returning, 1); /* A, a customer since January */
  assert_rate(mar->churn_rate, 1.0);
  assert_rate(mar->retention_rate, 0); /* churn and retention add up to 1 */
  assert_rate(mar->textbook_retention_rate, 1.0 / 3); /* A's return counts there */
  assert_int_equal(mar->days, 31);
  assert_int_equal(mar->period_days, 31);
  assert_int_equal(jan->retained, 0);
  assert_int_equal(jan->returning, 0); /* E subscribed in January: new, not returning */
  assert_rate(mar->repeat_rate, 2.0 / 3);
  assert_rate(mar->frequency, 1);
  assert_rate(mar->aov, 700);
  assert_rate(mar->historic_clv, 4400.0 / 3);

  /* baselines: none for January; January alone for February; Jan and Feb for March */
  assert_true(r->base[0].period == INT64_MIN);
  assert_rate(r->base[0].churn_rate, NAN);
  const rt_period_metrics *bf = &r->base[1], *bm = &r->base[2];
  assert_int_equal(bf->period, month(2024, 1));
  assert_int_equal(bf->customers, 2);
  assert_int_equal(bf->revenue, 3500);
  assert_rate(bf->churn_rate, NAN);
  assert_rate(bf->repeat_rate, 0.5);
  assert_int_equal(bm->period, month(2024, 1));
  assert_int_equal(bm->customers, 3);   /* 2.5 rounds away from zero */
  assert_int_equal(bm->new_customers, 2); /* 1.5 */
  assert_int_equal(bm->active_start, 2); /* 1.5 */
  assert_int_equal(bm->active_end, 3);
  assert_int_equal(bm->churned, 1);     /* 0.5 */
  assert_int_equal(bm->orders, 3);      /* 2.5 */
  assert_int_equal(bm->revenue, 2000);
  assert_int_equal(bm->refunded, 150);
  assert_int_equal(bm->net_revenue_to_date, 3600);
  assert_int_equal(bm->repeat_buyers, 2); /* 1.5 */
  assert_rate(bm->churn_rate, 1.0 / 3);   /* January's is undefined: February's alone */
  assert_rate(bm->retention_rate, 2.0 / 3);
  assert_rate(bm->repeat_rate, (0.5 + 2.0 / 3) / 2);
  assert_rate(bm->frequency, 1.75);
  assert_rate(bm->aov, (3500.0 / 3 + 250) / 2);
  assert_rate(bm->historic_clv, (1750 + 3700.0 / 3) / 2);
  rt_report_free(r);

  /* baseline 1: the period before */
  r = report(m, RT_PERIOD_MONTH, month(2024, 3), month(2024, 3), 1, 30);
  assert_int_equal(r->nperiods, 1);
  assert_int_equal(r->base[0].period, month(2024, 2));
  assert_int_equal(r->base[0].orders, 2);
  assert_rate(r->base[0].churn_rate, 1.0 / 3);
  rt_report_free(r);
  /* baseline 0: none */
  r = report(m, RT_PERIOD_MONTH, month(2024, 3), month(2024, 3), 0, 30);
  assert_true(r->base[0].period == INT64_MIN);
  rt_report_free(r);
  rt_model_free(m);
}

static void test_period_selection(void **state) {
  (void)state;
  rt_model *m = fixture();
  rt_error err;
  /* the defaults: the last period with data, 90 days, baseline 3 */
  rt_report *r = NULL;
  assert_int_equal(rt_report_compute(m, NULL, &r, &err), 0);
  assert_int_equal(r->inactive_days, 90);
  assert_int_equal(r->baseline, 3);
  assert_int_equal(r->nperiods, 1);
  assert_int_equal(r->rows[0].period, month(2024, 3));
  /* with 90 days nobody has lapsed by March 31 except E, whose subscription ended */
  assert_int_equal(r->rows[0].active_start, 3 + 1); /* A B E, and C since Feb 15 */
  assert_int_equal(r->rows[0].active_end, 3);       /* A B C */
  assert_int_equal(r->rows[0].churned, 1);
  /* the JSON document: the same numbers, by field name, money in major units */
  char *json = rt_report_json(r, m);
  assert_non_null(json);
  char want[160];
  snprintf(want, sizeof want, "\"active_start\":4,\"churned\":1,\"retained\":3,\"returning\":0,"
                              "\"active_end\":3,");
  assert_non_null(strstr(json, want));
  snprintf(want, sizeof want, "\"period\":\"2024-03\",\"days\":31,\"period_days\":31,"
                              "\"partial\":false,\"baseline\":{");
  assert_non_null(strstr(json, want));
  assert_non_null(strstr(json, "\"as_of\":\"2024-03-31\",\"as_of_basis\":\"given\""));
  assert_non_null(strstr(json, "\"periods\":[{\"customers\":"));
  rt_free(json);
  rt_report_free(r);
  /* to February only: February */
  r = report(m, RT_PERIOD_MONTH, INT64_MIN, month(2024, 2), 3, 30);
  assert_int_equal(r->nperiods, 1);
  assert_int_equal(r->rows[0].period, month(2024, 2));
  rt_report_free(r);
  /* a range reaching outside the data is cut to the data */
  r = report(m, RT_PERIOD_MONTH, month(2023, 1), month(2026, 1), 3, 30);
  assert_int_equal(r->nperiods, 3);
  assert_int_equal(r->rows[0].period, month(2024, 1));
  assert_int_equal(r->rows[2].period, month(2024, 3));
  rt_report_free(r);
  /* ranges entirely outside the data: no rows */
  r = report(m, RT_PERIOD_MONTH, month(2025, 1), INT64_MAX, 3, 30);
  assert_int_equal(r->nperiods, 0);
  rt_report_free(r);
  r = report(m, RT_PERIOD_MONTH, INT64_MIN, month(2023, 12), 3, 30);
  assert_int_equal(r->nperiods, 0);
  rt_report_free(r);
  /* by quarter: one period holding everything; S = 0, so no churn rate */
  r = report(m, RT_PERIOD_QUARTER, INT64_MIN, INT64_MAX, 3, 30);
  assert_int_equal(r->nperiods, 1);
  assert_int_equal(r->rows[0].customers, 3);
  assert_int_equal(r->rows[0].orders, 6);
  assert_int_equal(r->rows[0].active_end, 1);
  assert_rate(r->rows[0].churn_rate, NAN);
  assert_true(r->base[0].period == INT64_MIN);
  rt_report_free(r);
  /* bad options */
  rt_report_opts o;
  rt_report_opts_init(&o);
  o.inactive_days = -1;
  r = (rt_report *)1;
  assert_int_equal(rt_report_compute(m, &o, &r, &err), RT_EINVAL);
  assert_null(r);
  rt_report_opts_init(&o);
  o.unit = (rt_period_unit)42;
  assert_int_equal(rt_report_compute(m, &o, &r, NULL), RT_EINVAL);
  rt_report_free(NULL);
  rt_model_free(m);
}

/* A period that ends after the as-of day is partial: counted up to that day, and compared with
 * the same first days of the periods before it. Inactivity window 30 days; as of March 10.
 *   P: orders Jan 3, Feb 5, Mar 4   Q: order Jan 20   R: orders Feb 8, Feb 25   T: order Mar 9
 * March 1-10: S (Feb 29) = P R; E (Mar 10) = P R T; new T; orders 2.
 * Baseline windows: January 1-10: S none, E P, new P, orders 1; February 1-10: S (Jan 31) = P Q,
 * E (Feb 10) = P Q R, new R, orders 2 (whole months would have 2 and 3). */
static void test_partial_period(void **state) {
  (void)state;
  rt_model_builder *b = new_builder();
  uint32_t p = cust(b, "P"), q = cust(b, "Q"), r = cust(b, "R"), t = cust(b, "T");
  order(b, p, DAY(2024, 1, 3), 100);
  order(b, p, DAY(2024, 2, 5), 100);
  order(b, p, DAY(2024, 3, 4), 100);
  order(b, q, DAY(2024, 1, 20), 100);
  order(b, r, DAY(2024, 2, 8), 100);
  order(b, r, DAY(2024, 2, 25), 100);
  order(b, t, DAY(2024, 3, 9), 100);
  rt_model *m = build(b);
  rt_error err;
  assert_int_equal(rt_model_set_as_of(&m, DAY(2024, 3, 10), RT_AS_OF_GIVEN, &err), 0);
  rt_report *rep = report(m, RT_PERIOD_MONTH, INT64_MIN, INT64_MAX, 2, 30);
  assert_int_equal(rep->nperiods, 1);
  const rt_period_metrics *x = &rep->rows[0], *bl = &rep->base[0];
  assert_int_equal(x->period, month(2024, 3));
  assert_true(rt_period_partial(x));
  assert_int_equal(x->days, 10);
  assert_int_equal(x->period_days, 31);
  assert_int_equal(x->active_start, 2);
  assert_int_equal(x->active_end, 3);
  assert_int_equal(x->churned, 0);
  assert_int_equal(x->new_customers, 1);
  assert_int_equal(x->orders, 2);
  assert_int_equal(bl->days, 10);
  assert_int_equal(bl->averaged, 2);
  assert_int_equal(bl->active_start, 1); /* (0 + 2) / 2 */
  assert_int_equal(bl->active_end, 2);   /* (1 + 3) / 2 */
  assert_int_equal(bl->new_customers, 1);
  assert_int_equal(bl->orders, 2);       /* (1 + 2) / 2 = 1.5: whole months would give 3 */
  assert_rate(bl->churn_rate, 0);        /* January's undefined, February's 0 / 2 */
  rt_report_free(rep);
  /* the months before are whole and keep whole-month baselines */
  rep = report(m, RT_PERIOD_MONTH, month(2024, 2), month(2024, 2), 1, 30);
  assert_false(rt_period_partial(&rep->rows[0]));
  assert_int_equal(rep->rows[0].orders, 3);
  assert_int_equal(rep->base[0].orders, 2);
  assert_int_equal(rep->base[0].days, 31);
  rt_report_free(rep);
  rt_model_free(m);
}

/* Subscribers are active while a subscription is live and churn when their last live one is
 * cancelled; orders are not needed. */
static void test_subscriptions(void **state) {
  (void)state;
  rt_model_builder *b = new_builder();
  uint32_t s1 = cust(b, "live"), s2 = cust(b, "two"), s3 = cust(b, "sameday"),
           s4 = cust(b, "buyer");
  sub(b, s1, DAY(2023, 1, 10), -1);                  /* never cancelled */
  sub(b, s2, DAY(2023, 1, 1), DAY(2023, 2, 10));     /* overlapping subscriptions: */
  sub(b, s2, DAY(2023, 2, 5), DAY(2023, 3, 31));     /* the last one ends on Mar 31 */
  sub(b, s3, DAY(2023, 2, 3), DAY(2023, 2, 3));      /* cancelled the day it started */
  order(b, s4, DAY(2023, 1, 15), 100);               /* a buyer with a subscription that */
  sub(b, s4, DAY(2023, 1, 15), DAY(2023, 2, 28));    /* ends after the order's 30 days */
  refund(b, s4, DAY(2023, 4, 2), 40);
  rt_model *m = build(b);
  rt_report *r = report(m, RT_PERIOD_MONTH, month(2023, 1), month(2023, 4), 3, 30);
  assert_int_equal(r->nperiods, 4);
  /* Jan 31: live, two, buyer. Feb 28: live, two (buyer's ends on Feb 28: no longer active
   * that day). Mar 31: live (two's ends that day). Apr 30: live. */
  static const int64_t S[] = {0, 3, 2, 1}, E[] = {3, 2, 1, 1}, churned[] = {0, 1, 1, 0};
  for (int i = 0; i < 4; i++) {
    assert_int_equal(r->rows[i].active_start, S[i]);
    assert_int_equal(r->rows[i].active_end, E[i]);
    assert_int_equal(r->rows[i].churned, churned[i]);
    assert_int_equal(r->rows[i].customers, 1); /* only the buyer bought */
  }
  assert_int_equal(r->rows[0].new_customers, 1);
  assert_rate(r->rows[1].churn_rate, 1.0 / 3);
  assert_rate(r->rows[1].retention_rate, 2.0 / 3);
  assert_int_equal(r->rows[3].refunded, 40);
  assert_int_equal(r->rows[3].net_revenue_to_date, 60);
  assert_rate(r->rows[3].historic_clv, 60);
  assert_rate(r->rows[3].frequency, NAN); /* nobody ordered in April */
  assert_rate(r->rows[3].aov, NAN);
  rt_report_free(r);
  rt_model_free(m);
}

static void test_empty(void **state) {
  (void)state;
  rt_model *m = build(new_builder());
  rt_report *r = report(m, RT_PERIOD_MONTH, INT64_MIN, INT64_MAX, 3, 90);
  assert_int_equal(r->nperiods, 0);
  rt_report_free(r);
  rt_model_free(m);
  /* refunds only: counted, but nobody is a buyer or active */
  rt_model_builder *b = new_builder();
  uint32_t c = cust(b, "r");
  refund(b, c, DAY(2024, 5, 5), 700);
  m = build(b);
  r = report(m, RT_PERIOD_DAY, INT64_MIN, INT64_MAX, 3, 90);
  assert_int_equal(r->nperiods, 1);
  assert_int_equal(r->rows[0].period, DAY(2024, 5, 5));
  assert_int_equal(r->rows[0].refunds, 1);
  assert_int_equal(r->rows[0].refunded, 700);
  assert_int_equal(r->rows[0].customers, 0);
  assert_int_equal(r->rows[0].net_revenue_to_date, 0);
  assert_int_equal(r->rows[0].active_end, 0);
  assert_rate(r->rows[0].repeat_rate, NAN);
  assert_rate(r->rows[0].historic_clv, NAN);
  rt_report_free(r);
  rt_model_free(m);
}

/* ---- random models against a brute-force reference ---- */

static uint64_t rng;
static uint32_t rnd(uint32_t n) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)((rng >> 33) % n);
}

static rt_model *random_model(int64_t day0, int span, int ncust, int max_orders) {
  rt_model_builder *b = new_builder();
  for (int i = 0; i < ncust; i++) {
    char id[16];
    snprintf(id, sizeof id, "c%d", i);
    uint32_t c = cust(b, id);
    int n = rnd(4) == 0 ? 0 : (int)rnd((uint32_t)max_orders + 1);
    int64_t start = day0 + rnd((uint32_t)span);
    for (int k = 0; k < n; k++)
      order(b, c, start + rnd((uint32_t)(day0 + span - start)), rnd(3) ? rnd(10000) : 0);
    for (int k = rnd(3) == 0 ? (int)rnd(3) : 0; k > 0; k--) /* refunds, even before orders */
      refund(b, c, day0 + rnd((uint32_t)span), 1 + rnd(500));
    for (int k = rnd(4) == 0 ? 1 + (int)rnd(3) : 0; k > 0; k--) {
      int64_t s = day0 + rnd((uint32_t)span);
      sub(b, c, s, rnd(3) ? s + rnd(300) : -1);
    }
  }
  return build(b);
}

static int active_on(const rt_model *m, size_t i, int64_t d, int w) {
  for (uint32_t j = m->order_start[i]; j < m->order_start[i + 1]; j++)
    if (m->order_day[j] <= d && d < m->order_day[j] + (int64_t)w)
      return 1;
  for (uint32_t j = m->sub_start[i]; j < m->sub_start[i + 1]; j++)
    if (m->sub_first_day[j] <= d && d < m->sub_end_day[j])
      return 1;
  return 0;
}

/* The last day counted of period p: its last day, the as-of day if earlier, and with k > 0 its
 * k-th day if earlier still (a to-date window). */
static int64_t window_end(const rt_model *m, rt_period_unit u, int64_t p, int64_t k) {
  int64_t f = rt_period_first_day(u, p), e = rt_period_first_day(u, p + 1) - 1;
  if (e > m->as_of)
    e = m->as_of;
  if (k > 0 && f + k - 1 < e)
    e = f + k - 1;
  return e;
}

/* One period by the definitions, without the rates' baselines: counted over its window (k as
 * in window_end). */
static void reference_period(const rt_model *m, rt_period_unit u, int64_t p, int w, int64_t k,
                             rt_period_metrics *x) {
  memset(x, 0, sizeof *x);
  x->period = p;
  int64_t first = rt_period_first_day(u, p), last = window_end(m, u, p, k);
  x->days = (int32_t)(last - first + 1);
  x->period_days = (int32_t)(rt_period_first_day(u, p + 1) - first);
  x->averaged = 1;
  for (size_t i = 0; i < m->ncustomers; i++) {
    int s = active_on(m, i, first - 1, w), e = active_on(m, i, last, w);
    x->active_start += s;
    x->active_end += e;
    x->churned += s && !e;
    x->retained += s && e;
    /* returning: a customer (first purchase or subscription) since before the period */
    int64_t since = INT64_MAX;
    if (m->order_start[i] < m->order_start[i + 1])
      since = m->order_day[m->order_start[i]];
    for (uint32_t j = m->sub_start[i]; j < m->sub_start[i + 1]; j++)
      if (m->sub_first_day[j] < since)
        since = m->sub_first_day[j];
    x->returning += e && !s && since < first;
    int64_t n_upto = 0, net = 0, in_period = 0;
    int64_t first_order = INT64_MAX;
    for (uint32_t j = m->order_start[i]; j < m->order_start[i + 1]; j++) {
      int64_t d = m->order_day[j];
      if (d < first_order)
        first_order = d;
      if (d <= last) {
        n_upto++;
        net += m->order_amount[j];
      }
      if (d >= first && d <= last) {
        in_period++;
        x->revenue += m->order_amount[j];
      }
    }
    for (uint32_t j = m->refund_start[i]; j < m->refund_start[i + 1]; j++) {
      int64_t d = m->refund_day[j];
      if (d <= last)
        net -= m->refund_amount[j];
      if (d >= first && d <= last) {
        x->refunds++;
        x->refunded += m->refund_amount[j];
      }
    }
    for (uint32_t j = rt_model_cancel_lo(m, i); j < rt_model_cancel_hi(m, i); j++)
      if (m->cancel_day[j] >= first && m->cancel_day[j] <= last) {
        x->cancelled++;
        x->cancelled_value += m->cancel_amount[j];
      }
    x->orders += in_period;
    x->ordering += in_period > 0;
    if (first_order <= last) {
      x->customers++;
      x->net_revenue_to_date += net;
      x->repeat_buyers += n_upto >= 2;
      x->new_customers += first_order >= first;
    }
  }
  x->net_revenue = x->revenue - x->refunded;
  x->churn_rate = x->active_start ? (double)x->churned / (double)x->active_start : NAN;
  x->retention_rate = x->active_start ? (double)x->retained / (double)x->active_start : NAN;
  x->textbook_retention_rate = x->active_start ? (double)(x->active_end - x->new_customers) /
                                                     (double)x->active_start
                                               : NAN;
  x->repeat_rate = x->customers ? (double)x->repeat_buyers / (double)x->customers : NAN;
  x->frequency = x->ordering ? (double)x->orders / (double)x->ordering : NAN;
  x->aov = x->orders ? (double)x->revenue / (double)x->orders : NAN;
  x->historic_clv = x->customers ? (double)x->net_revenue_to_date / (double)x->customers : NAN;
}

static void same_metrics(const rt_period_metrics *a, const rt_period_metrics *b,
                         const char *what) {
#define SAME(f)                                                                                \
  if (a->f != b->f)                                                                            \
  fail_msg("%s period %lld: " #f " %lld, want %lld", what, (long long)b->period,              \
           (long long)a->f, (long long)b->f)
#define SAME_RATE(f)                                                                           \
  if (isnan(a->f) != isnan(b->f) || (!isnan(b->f) && fabs(a->f - b->f) > 1e-9 * (1 + fabs(b->f)))) \
  fail_msg("%s period %lld: " #f " %.17g, want %.17g", what, (long long)b->period, a->f, b->f)
  SAME(period);
  SAME(days);
  SAME(period_days);
  SAME(averaged);
  SAME(customers);
  SAME(new_customers);
  SAME(active_start);
  SAME(active_end);
  SAME(churned);
  SAME(retained);
  SAME(returning);
  SAME(ordering);
  SAME(orders);
  SAME(cancelled);
  SAME(refunds);
  SAME(revenue);
  SAME(cancelled_value);
  SAME(refunded);
  SAME(net_revenue);
  SAME(net_revenue_to_date);
  SAME(repeat_buyers);
  SAME_RATE(churn_rate);
  SAME_RATE(retention_rate);
  SAME_RATE(textbook_retention_rate);
  SAME_RATE(repeat_rate);
  SAME_RATE(frequency);
  SAME_RATE(aov);
  SAME_RATE(historic_clv);
#undef SAME
#undef SAME_RATE
}

/* The baseline by its definition: the mean of up to n previous periods within the data; for a
 * partial period, of their windows as long as its own. */
static void reference_baseline(const rt_model *m, rt_period_unit u, int64_t p, int n, int w,
                               rt_period_metrics *out) {
  int64_t first = rt_period_of_day(u, m->min_day);
  int64_t b0 = p - n < first ? first : p - n;
  memset(out, 0, sizeof *out);
  if (b0 >= p) {
    out->period = INT64_MIN;
    return;
  }
  int64_t f = rt_period_first_day(u, p), l = window_end(m, u, p, 0);
  int64_t k = l < rt_period_first_day(u, p + 1) - 1 ? l - f + 1 : 0;
  int c = (int)(p - b0);
  rt_period_metrics *rows = calloc((size_t)c, sizeof *rows);
  assert_non_null(rows);
  for (int i = 0; i < c; i++)
    reference_period(m, u, b0 + i, w, k, &rows[i]);
  out->period = b0;
  out->days = rows[0].days;
  out->period_days = rows[0].period_days;
  out->averaged = c;
#define MEAN(f)                                                                                \
  do {                                                                                         \
    double s = 0;                                                                              \
    for (int i = 0; i < c; i++)                                                                \
      s += (double)rows[i].f;                                                                  \
    out->f = llround(s / c);                                                                   \
  } while (0)
#define MEAN_RATE(f)                                                                           \
  do {                                                                                         \
    double s = 0;                                                                              \
    int q = 0;                                                                                 \
    for (int i = 0; i < c; i++)                                                                \
      if (!isnan(rows[i].f)) {                                                                 \
        s += rows[i].f;                                                                        \
        q++;                                                                                   \
      }                                                                                        \
    out->f = q ? s / q : NAN;                                                                  \
  } while (0)
  MEAN(customers);
  MEAN(new_customers);
  MEAN(active_start);
  MEAN(active_end);
  MEAN(churned);
  MEAN(retained);
  MEAN(returning);
  MEAN(ordering);
  MEAN(orders);
  MEAN(cancelled);
  MEAN(refunds);
  MEAN(revenue);
  MEAN(cancelled_value);
  MEAN(refunded);
  MEAN(net_revenue);
  MEAN(net_revenue_to_date);
  MEAN(repeat_buyers);
  MEAN_RATE(churn_rate);
  MEAN_RATE(retention_rate);
  MEAN_RATE(textbook_retention_rate);
  MEAN_RATE(repeat_rate);
  MEAN_RATE(frequency);
  MEAN_RATE(aov);
  MEAN_RATE(historic_clv);
#undef MEAN
#undef MEAN_RATE
  free(rows);
}

static void check_report(const rt_model *m, rt_period_unit u, int64_t from, int64_t to,
                         int baseline, int w) {
  rt_report *r = report(m, u, from, to, baseline, w);
  int64_t first = rt_period_of_day(u, m->min_day), last = rt_period_of_day(u, m->as_of);
  int64_t t = to < last ? to : last;
  int64_t f = from == INT64_MIN ? t : from;
  if (f < first)
    f = first;
  int64_t n = f <= t ? t - f + 1 : 0;
  assert_int_equal(r->nperiods, n);
  char what[96];
  snprintf(what, sizeof what, "unit %d window %d baseline %d", (int)u, w, baseline);
  for (int64_t i = 0; i < n; i++) {
    rt_period_metrics want, wantb;
    reference_period(m, u, f + i, w, 0, &want);
    same_metrics(&r->rows[i], &want, what);
    reference_baseline(m, u, f + i, baseline, w, &wantb);
    if (wantb.period == INT64_MIN)
      assert_true(r->base[i].period == INT64_MIN);
    else
      same_metrics(&r->base[i], &wantb, "baseline");
  }
  rt_report_free(r);
}

static void test_random_against_reference(void **state) {
  (void)state;
  rng = 4242;
  static const int windows[] = {0, 1, 7, 30, 90, 400};
  for (int round = 0; round < 10; round++) {
    static const int spans[] = {3, 50, 380, 1200};
    int span = spans[round % 4];
    int64_t day0 = DAY(2018 + round % 4, 12, 10) + rnd(40);
    rt_model *m = random_model(day0, span, 15 + (int)rnd(50), 1 + (int)rnd(7));
    if (round % 3 == 2) { /* judged as of a later day: periods with no data at the end */
      rt_error err;
      assert_int_equal(rt_model_set_as_of(&m, m->max_day + 1 + (int32_t)rnd(100),
                                          RT_AS_OF_GIVEN, &err), 0);
    }
    for (int u = RT_PERIOD_DAY; u <= RT_PERIOD_YEAR; u++) {
      if (u == RT_PERIOD_DAY && span > 400)
        continue;
      int64_t p0 = rt_period_of_day((rt_period_unit)u, m->min_day);
      int64_t p1 = rt_period_of_day((rt_period_unit)u, m->as_of);
      int w = windows[rnd(6)];
      /* every period with data, and a random range */
      check_report(m, (rt_period_unit)u, p0, p1, (int)rnd(5), w);
      int64_t n = p1 - p0 + 1;
      int64_t a = p0 - 1 + rnd((uint32_t)n + 2), b = p0 - 1 + rnd((uint32_t)n + 2);
      check_report(m, (rt_period_unit)u, rnd(4) ? a : INT64_MIN, rnd(4) ? b : INT64_MAX,
                   (int)rnd(4), windows[rnd(6)]);
    }
    rt_model_free(m);
  }
}

/* One period at a time, as `retain report` asks by default: the scan then skips the orders
 * too early to matter, and every row and baseline must still match the brute force. */
static void test_single_periods(void **state) {
  (void)state;
  rng = 777;
  static const int windows[] = {0, 1, 7, 30, 90, 400};
  for (int round = 0; round < 3; round++) {
    rt_model *m = random_model(DAY(2019, 3, 1) + rnd(30), 900, 200 + (int)rnd(200), 2 + round);
    for (int u = RT_PERIOD_WEEK; u <= RT_PERIOD_QUARTER; u++) {
      int64_t p0 = rt_period_of_day((rt_period_unit)u, m->min_day);
      int64_t p1 = rt_period_of_day((rt_period_unit)u, m->as_of);
      for (int64_t p = p0; p <= p1; p++)
        check_report(m, (rt_period_unit)u, p, p, (int)rnd(5), windows[rnd(6)]);
      check_report(m, (rt_period_unit)u, INT64_MIN, INT64_MAX, 3, 90); /* the default */
    }
    rt_model_free(m);
  }
}

/* Big enough to be scanned by several threads. The reference is the same brute force, by
 * quarter to keep it quick. */
static void test_large_random(void **state) {
  (void)state;
  rng = 99;
  rt_model *m = random_model(DAY(2022, 12, 20), 700, 250000, 3);
  check_report(m, RT_PERIOD_QUARTER, INT64_MIN + 1, INT64_MAX, 2, 90);
  int64_t last = rt_period_of_day(RT_PERIOD_QUARTER, m->as_of);
  check_report(m, RT_PERIOD_QUARTER, last - 1, last - 1, 3, 90);
  check_report(m, RT_PERIOD_QUARTER, last, last, 3, 90); /* partial: to-date baseline */
  rt_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixture),
      cmocka_unit_test(test_period_selection),
      cmocka_unit_test(test_partial_period),
      cmocka_unit_test(test_subscriptions),
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_random_against_reference),
      cmocka_unit_test(test_single_periods),
      cmocka_unit_test(test_large_random),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
