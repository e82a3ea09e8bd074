/* test_cohort.c - cohort matrices (src/analytics/cohort.c): a hand-computed fixture checked
 * cell by cell in both modes, with horizons and from/to limits; ISO weeks across a year
 * boundary; empty and order-less models; and random models against a brute-force reference
 * (a plain per-cohort, per-period, per-customer loop) for every unit and mode. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <retain/alloc.h>
#include <retain/cohort.h>
#include <retain/model.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY(y, m, d) rt_days_from_civil(y, m, d)
#define MS_OF_DAY(day) ((int64_t)(day) * RT_MS_PER_DAY + 12 * 3600000LL)

/* ---- building models ---- */

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

static rt_model *build(rt_model_builder *b) {
  rt_model *m;
  rt_error err;
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  return m;
}

static rt_cohort_table *compute(const rt_model *m, rt_period_unit u, rt_cohort_mode mode,
                                int64_t from, int64_t to, int64_t horizon) {
  rt_cohort_opts o;
  rt_cohort_opts_init(&o);
  o.unit = u;
  o.mode = mode;
  o.from_period = from;
  o.to_period = to;
  o.horizon = horizon;
  rt_cohort_table *t = NULL;
  rt_error err;
  assert_int_equal(rt_cohort_compute(m, &o, &t, &err), 0);
  assert_non_null(t);
  return t;
}

/* Checks one row: customers and revenue of periods 0..width-1. */
static void check_row(const rt_cohort_table *t, size_t c, int64_t size, size_t len,
                      const int64_t *cu, const int64_t *rv) {
  assert_true(c < t->ncohorts);
  assert_int_equal(t->size[c], size);
  assert_int_equal(rt_cohort_row_len(t, c), len);
  for (size_t k = 0; k < t->width; k++) {
    assert_int_equal(t->customers[c * t->width + k], cu[k]);
    assert_int_equal(t->revenue[c * t->width + k], rv[k]);
  }
}

/* The fixture (months of 2024):
 *   A: Jan 5 (100), Jan 20 (50), Mar 2 (70)    cohort Jan
 *   B: Jan 31 (200), Feb 1 (30)                cohort Jan
 *   C: Feb 15 (40), Apr 10 (60)                cohort Feb
 *   D: a refund on Mar 1 only; E: a subscription only (neither is in a cohort)
 * The data ends on Apr 10, so the last period is April. */
static rt_model *fixture(void) {
  rt_model_builder *b = new_builder();
  uint32_t a = cust(b, "A"), bb = cust(b, "B"), c = cust(b, "C"), d = cust(b, "D"),
           e = cust(b, "E");
  order(b, a, DAY(2024, 3, 2), 70); /* out of time order on purpose */
  order(b, a, DAY(2024, 1, 5), 100);
  order(b, a, DAY(2024, 1, 20), 50);
  order(b, bb, DAY(2024, 1, 31), 200);
  order(b, bb, DAY(2024, 2, 1), 30);
  order(b, c, DAY(2024, 2, 15), 40);
  order(b, c, DAY(2024, 4, 10), 60);
  assert_int_equal(rt_model_builder_refund(b, d, MS_OF_DAY(DAY(2024, 3, 1)), 25, "USD"), 0);
  assert_int_equal(
      rt_model_builder_subscription(b, e, MS_OF_DAY(DAY(2023, 12, 1)), 0, 999, "USD"), 0);
  return build(b);
}

static int64_t month(int y, int m) { return rt_period_of_day(RT_PERIOD_MONTH, DAY(y, m, 1)); }

static void test_fixture_on(void **state) {
  (void)state;
  rt_model *m = fixture();
  rt_cohort_table *t = compute(m, RT_PERIOD_MONTH, RT_COHORT_ON, INT64_MIN, INT64_MAX, -1);
  assert_int_equal(t->unit, RT_PERIOD_MONTH);
  assert_int_equal(t->mode, RT_COHORT_ON);
  assert_int_equal(t->first_cohort, month(2024, 1));
  assert_int_equal(t->last_period, month(2024, 4));
  assert_int_equal(t->ncohorts, 2);
  assert_int_equal(t->width, 4);
  check_row(t, 0, 2, 4, (int64_t[]){2, 1, 1, 0}, (int64_t[]){350, 30, 70, 0});
  check_row(t, 1, 1, 3, (int64_t[]){1, 0, 1, 0}, (int64_t[]){40, 0, 60, 0});
  /* the JSON document: each cohort's row within the data, percentages of its size */
  assert_true(rt_cohort_percent(t, 0, 1, RT_COHORT_CUSTOMERS) == 50);
  char *json = rt_cohort_json(t, m, 1);
  assert_non_null(json);
  assert_non_null(strstr(json, "{\"cohort\":\"2024-01\",\"size\":2,\"customers\":[2,1,1,0],"));
  assert_non_null(strstr(json, "\"percent\":[100.0,50.0,50.0,0.0]"));
  assert_non_null(strstr(json, "{\"cohort\":\"2024-02\",\"size\":1,\"customers\":[1,0,1],"));
  rt_free(json);
  rt_cohort_table_free(t);

  /* the same with NULL options (the defaults) */
  rt_error err;
  assert_int_equal(rt_cohort_compute(m, NULL, &t, &err), 0);
  check_row(t, 0, 2, 4, (int64_t[]){2, 1, 1, 0}, (int64_t[]){350, 30, 70, 0});
  rt_cohort_table_free(t);

  /* horizon 1: periods 0 and 1 only */
  t = compute(m, RT_PERIOD_MONTH, RT_COHORT_ON, INT64_MIN, INT64_MAX, 1);
  assert_int_equal(t->width, 2);
  check_row(t, 0, 2, 2, (int64_t[]){2, 1}, (int64_t[]){350, 30});
  check_row(t, 1, 1, 2, (int64_t[]){1, 0}, (int64_t[]){40, 0});
  rt_cohort_table_free(t);

  /* horizon 0: the acquisition period */
  t = compute(m, RT_PERIOD_MONTH, RT_COHORT_ON, INT64_MIN, INT64_MAX, 0);
  assert_int_equal(t->width, 1);
  check_row(t, 0, 2, 1, (int64_t[]){2}, (int64_t[]){350});
  check_row(t, 1, 1, 1, (int64_t[]){1}, (int64_t[]){40});
  rt_cohort_table_free(t);

  /* from February: only C's cohort, counted to April */
  t = compute(m, RT_PERIOD_MONTH, RT_COHORT_ON, month(2024, 2), INT64_MAX, -1);
  assert_int_equal(t->first_cohort, month(2024, 2));
  assert_int_equal(t->ncohorts, 1);
  assert_int_equal(t->width, 3);
  check_row(t, 0, 1, 3, (int64_t[]){1, 0, 1}, (int64_t[]){40, 0, 60});
  rt_cohort_table_free(t);

  /* to February: nothing after February is counted */
  t = compute(m, RT_PERIOD_MONTH, RT_COHORT_ON, INT64_MIN, month(2024, 2), -1);
  assert_int_equal(t->last_period, month(2024, 2));
  assert_int_equal(t->ncohorts, 2);
  assert_int_equal(t->width, 2);
  check_row(t, 0, 2, 2, (int64_t[]){2, 1}, (int64_t[]){350, 30});
  check_row(t, 1, 1, 1, (int64_t[]){1, 0}, (int64_t[]){40, 0});
  rt_cohort_table_free(t);

  /* to January: one cohort, one period */
  t = compute(m, RT_PERIOD_MONTH, RT_COHORT_ON, INT64_MIN, month(2024, 1), -1);
  assert_int_equal(t->ncohorts, 1);
  assert_int_equal(t->width, 1);
  check_row(t, 0, 2, 1, (int64_t[]){2}, (int64_t[]){350});
  rt_cohort_table_free(t);

  /* a range with no acquisitions (March, April), and one before the data */
  t = compute(m, RT_PERIOD_MONTH, RT_COHORT_ON, month(2024, 3), INT64_MAX, -1);
  assert_int_equal(t->ncohorts, 0);
  rt_cohort_table_free(t);
  t = compute(m, RT_PERIOD_MONTH, RT_COHORT_ON, INT64_MIN, month(2023, 6), -1);
  assert_int_equal(t->ncohorts, 0);
  rt_cohort_table_free(t);
  /* to past the data: counted up to the last period with data */
  t = compute(m, RT_PERIOD_MONTH, RT_COHORT_ON, month(2023, 1), month(2030, 1), -1);
  assert_int_equal(t->first_cohort, month(2024, 1));
  assert_int_equal(t->last_period, month(2024, 4));
  assert_int_equal(t->width, 4);
  rt_cohort_table_free(t);

  /* quarters: Q1 = {A, B, C}; Q2: C (April) */
  t = compute(m, RT_PERIOD_QUARTER, RT_COHORT_ON, INT64_MIN, INT64_MAX, -1);
  assert_int_equal(t->ncohorts, 1);
  assert_int_equal(t->width, 2);
  check_row(t, 0, 3, 2, (int64_t[]){3, 1}, (int64_t[]){490, 60});
  rt_cohort_table_free(t);
  rt_model_free(m);
}

static void test_fixture_on_or_after(void **state) {
  (void)state;
  rt_model *m = fixture();
  rt_cohort_table *t =
      compute(m, RT_PERIOD_MONTH, RT_COHORT_ON_OR_AFTER, INT64_MIN, INT64_MAX, -1);
  assert_int_equal(t->mode, RT_COHORT_ON_OR_AFTER);
  assert_int_equal(t->ncohorts, 2);
  assert_int_equal(t->width, 4);
  /* Jan: A (Jan, Mar) and B (Jan, Feb). Period 1 or later: both; 2 or later: A. */
  check_row(t, 0, 2, 4, (int64_t[]){2, 2, 1, 0}, (int64_t[]){450, 100, 70, 0});
  /* Feb: C (Feb, Apr) */
  check_row(t, 1, 1, 3, (int64_t[]){1, 1, 1, 0}, (int64_t[]){100, 60, 60, 0});
  rt_cohort_table_free(t);

  /* horizon 1: the last column still counts later orders (on or after, unbounded) */
  t = compute(m, RT_PERIOD_MONTH, RT_COHORT_ON_OR_AFTER, INT64_MIN, INT64_MAX, 1);
  assert_int_equal(t->width, 2);
  check_row(t, 0, 2, 2, (int64_t[]){2, 2}, (int64_t[]){450, 100});
  check_row(t, 1, 1, 2, (int64_t[]){1, 1}, (int64_t[]){100, 60});
  rt_cohort_table_free(t);

  /* to February: A's March order and C's April order are past the last period counted */
  t = compute(m, RT_PERIOD_MONTH, RT_COHORT_ON_OR_AFTER, INT64_MIN, month(2024, 2), -1);
  check_row(t, 0, 2, 2, (int64_t[]){2, 1}, (int64_t[]){380, 30});
  check_row(t, 1, 1, 1, (int64_t[]){1, 0}, (int64_t[]){40, 0});
  rt_cohort_table_free(t);
  rt_model_free(m);
}

/* ISO weeks: 2020-12-28 (Mon) .. 2021-01-03 (Sun) is 2020-W53; 2021-01-04 starts 2021-W01. */
static void test_week_year_boundary(void **state) {
  (void)state;
  rt_model_builder *b = new_builder();
  uint32_t x = cust(b, "x"), y = cust(b, "y"), z = cust(b, "z");
  order(b, x, DAY(2020, 12, 28), 1);
  order(b, x, DAY(2021, 1, 3), 2);   /* same week */
  order(b, y, DAY(2021, 1, 3), 10);
  order(b, y, DAY(2021, 1, 4), 20);  /* next week, next ISO year */
  order(b, z, DAY(2021, 1, 10), 100); /* 2021-W01's last day */
  order(b, z, DAY(2021, 1, 11), 200); /* 2021-W02 */
  rt_model *m = build(b);
  int64_t w53 = rt_period_of_day(RT_PERIOD_WEEK, DAY(2020, 12, 28));
  assert_int_equal(rt_period_of_day(RT_PERIOD_WEEK, DAY(2021, 1, 3)), w53);
  assert_int_equal(rt_period_of_day(RT_PERIOD_WEEK, DAY(2021, 1, 4)), w53 + 1);
  rt_cohort_table *t = compute(m, RT_PERIOD_WEEK, RT_COHORT_ON, INT64_MIN, INT64_MAX, -1);
  assert_int_equal(t->first_cohort, w53);
  assert_int_equal(t->ncohorts, 2);
  assert_int_equal(t->width, 3);
  assert_int_equal(t->last_period, w53 + 2);
  check_row(t, 0, 2, 3, (int64_t[]){2, 1, 0}, (int64_t[]){13, 20, 0});
  check_row(t, 1, 1, 2, (int64_t[]){1, 1, 0}, (int64_t[]){100, 200, 0});
  rt_cohort_table_free(t);
  t = compute(m, RT_PERIOD_WEEK, RT_COHORT_ON_OR_AFTER, INT64_MIN, INT64_MAX, -1);
  check_row(t, 0, 2, 3, (int64_t[]){2, 1, 0}, (int64_t[]){33, 20, 0});
  check_row(t, 1, 1, 2, (int64_t[]){1, 1, 0}, (int64_t[]){300, 200, 0});
  rt_cohort_table_free(t);
  /* by calendar year: x is 2020's cohort (and ordered again in 2021), y and z are 2021's */
  t = compute(m, RT_PERIOD_YEAR, RT_COHORT_ON, INT64_MIN, INT64_MAX, -1);
  assert_int_equal(t->first_cohort, rt_period_of_day(RT_PERIOD_YEAR, DAY(2020, 6, 1)));
  assert_int_equal(t->ncohorts, 2);
  check_row(t, 0, 1, 2, (int64_t[]){1, 1}, (int64_t[]){1, 2});
  check_row(t, 1, 2, 1, (int64_t[]){2, 0}, (int64_t[]){330, 0});
  rt_cohort_table_free(t);
  rt_model_free(m);
}

static void test_empty(void **state) {
  (void)state;
  /* no customers at all */
  rt_model *m = build(new_builder());
  for (int mode = 0; mode < 2; mode++) {
    rt_cohort_table *t = compute(m, RT_PERIOD_MONTH, (rt_cohort_mode)mode, INT64_MIN,
                                 INT64_MAX, -1);
    assert_int_equal(t->ncohorts, 0);
    rt_cohort_table_free(t);
  }
  rt_model_free(m);
  /* customers with refunds and subscriptions but no orders */
  rt_model_builder *b = new_builder();
  uint32_t r = cust(b, "refunds-only"), s = cust(b, "subscriber");
  cust(b, "nothing");
  assert_int_equal(rt_model_builder_refund(b, r, MS_OF_DAY(DAY(2024, 1, 2)), 5, "USD"), 0);
  assert_int_equal(rt_model_builder_subscription(b, s, MS_OF_DAY(DAY(2024, 1, 1)),
                                                 MS_OF_DAY(DAY(2024, 5, 1)), 9, "USD"),
                   0);
  m = build(b);
  rt_cohort_table *t = compute(m, RT_PERIOD_DAY, RT_COHORT_ON, INT64_MIN, INT64_MAX, -1);
  assert_int_equal(t->ncohorts, 0);
  assert_int_equal(rt_cohort_row_len(t, 0), 0);
  rt_cohort_table_free(t);
  rt_cohort_table_free(NULL);
  rt_model_free(m);
}

static void test_bad_options(void **state) {
  (void)state;
  rt_model *m = fixture();
  rt_cohort_opts o;
  rt_cohort_opts_init(&o);
  assert_int_equal(o.unit, RT_PERIOD_MONTH);
  assert_int_equal(o.mode, RT_COHORT_ON);
  assert_true(o.from_period == INT64_MIN && o.to_period == INT64_MAX && o.horizon < 0);
  rt_cohort_table *t = (rt_cohort_table *)1;
  rt_error err = {0};
  o.unit = (rt_period_unit)9;
  assert_int_equal(rt_cohort_compute(m, &o, &t, &err), RT_EINVAL);
  assert_null(t);
  assert_true(err.msg[0] != '\0');
  rt_cohort_opts_init(&o);
  o.mode = (rt_cohort_mode)7;
  assert_int_equal(rt_cohort_compute(m, &o, &t, NULL), RT_EINVAL);
  rt_model_free(m);
}

/* ---- random models against a brute-force reference ---- */

static uint64_t rng;
static uint32_t rnd(uint32_t n) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)((rng >> 33) % n);
}

/* ncust customers over `span` days from day0: orders, refunds and subscriptions at random. */
static rt_model *random_model(int64_t day0, int span, int ncust, int max_orders) {
  rt_model_builder *b = new_builder();
  for (int i = 0; i < ncust; i++) {
    char id[16];
    snprintf(id, sizeof id, "c%d", i);
    uint32_t c = cust(b, id);
    int n = (int)rnd((uint32_t)max_orders + 1);
    if (rnd(4) == 0)
      n = 0;
    int64_t start = day0 + rnd((uint32_t)span);
    for (int k = 0; k < n; k++) /* any order: the builder sorts */
      order(b, c, start + rnd((uint32_t)(day0 + span - start)), rnd(3) ? rnd(10000) : 0);
    if (rnd(5) == 0)
      assert_int_equal(rt_model_builder_refund(b, c, MS_OF_DAY(day0 + rnd((uint32_t)span)),
                                               1 + rnd(500), "USD"),
                       0);
    if (rnd(6) == 0) {
      int64_t s = day0 + rnd((uint32_t)span);
      int64_t e = rnd(2) ? MS_OF_DAY(s + rnd(200)) : 0;
      assert_int_equal(rt_model_builder_subscription(b, c, MS_OF_DAY(s), e, 100, "USD"), 0);
    }
  }
  return build(b);
}

/* The reference: every cell by the definition, one customer and one period at a time. */
static void check_against_reference(const rt_model *m, const rt_cohort_table *t,
                                    rt_period_unit u, rt_cohort_mode mode, int64_t from,
                                    int64_t to, int64_t horizon) {
  int64_t data_last = rt_period_of_day(u, m->as_of);
  int64_t last = to < data_last ? to : data_last;
  int64_t cmin = INT64_MAX, cmax = INT64_MIN;
  for (size_t i = 0; i < m->ncustomers; i++) {
    if (m->order_start[i] == m->order_start[i + 1])
      continue;
    int64_t c = rt_period_of_day(u, m->order_day[m->order_start[i]]);
    if (c >= from && c <= last) {
      if (c < cmin)
        cmin = c;
      if (c > cmax)
        cmax = c;
    }
  }
  if (cmin > cmax) {
    assert_int_equal(t->ncohorts, 0);
    return;
  }
  int64_t width = last - cmin + 1;
  if (horizon >= 0 && width > horizon + 1)
    width = horizon + 1;
  assert_int_equal(t->first_cohort, cmin);
  assert_int_equal(t->ncohorts, cmax - cmin + 1);
  assert_int_equal(t->width, width);
  assert_int_equal(t->last_period, last);
  for (int64_t c = cmin; c <= cmax; c++) {
    size_t row = (size_t)(c - cmin);
    int64_t size = 0;
    for (size_t i = 0; i < m->ncustomers; i++)
      if (m->order_start[i] < m->order_start[i + 1] &&
          rt_period_of_day(u, m->order_day[m->order_start[i]]) == c)
        size++;
    assert_int_equal(t->size[row], size);
    int64_t len = last - c + 1 < width ? last - c + 1 : width;
    assert_int_equal(rt_cohort_row_len(t, row), len);
    for (int64_t k = 0; k < width; k++) {
      int64_t q = c + k, ncust = 0, revenue = 0, refunded = 0;
      for (size_t i = 0; i < m->ncustomers; i++) {
        uint32_t o0 = m->order_start[i], o1 = m->order_start[i + 1];
        if (o0 == o1 || rt_period_of_day(u, m->order_day[o0]) != c)
          continue;
        /* refunds: in their period, period 0 if before the first purchase; past the horizon,
         * on-or-after folds them into its last column like everything else */
        for (uint32_t j = m->refund_start[i]; j < m->refund_start[i + 1]; j++) {
          int64_t p = rt_period_of_day(u, m->refund_day[j]);
          if (p < c)
            p = c;
          int in = mode == RT_COHORT_ON ? p == q : (p >= q && p <= last);
          if (q <= last && in)
            refunded += m->refund_amount[j];
        }
        int counted = 0;
        for (uint32_t j = o0; j < o1; j++) {
          int64_t p = rt_period_of_day(u, m->order_day[j]);
          int in = mode == RT_COHORT_ON ? p == q : (p >= q && p <= last);
          if (q > last)
            in = 0;
          if (in) {
            revenue += m->order_amount[j];
            counted = 1;
          }
        }
        ncust += counted;
      }
      if (t->customers[row * (size_t)width + (size_t)k] != ncust ||
          t->revenue[row * (size_t)width + (size_t)k] != revenue ||
          t->refunded[row * (size_t)width + (size_t)k] != refunded)
        fail_msg("unit %d mode %d from %lld to %lld horizon %lld: cohort %lld period %lld: "
                 "customers %lld (want %lld), revenue %lld (want %lld)",
                 (int)u, (int)mode, (long long)from, (long long)to, (long long)horizon,
                 (long long)c, (long long)k,
                 (long long)t->customers[row * (size_t)width + (size_t)k], (long long)ncust,
                 (long long)t->revenue[row * (size_t)width + (size_t)k], (long long)revenue);
    }
  }
}

static void test_random_against_reference(void **state) {
  (void)state;
  rng = 12345;
  for (int round = 0; round < 12; round++) {
    /* around a year boundary, spans from a few days to four years */
    static const int spans[] = {5, 40, 400, 1500};
    int span = spans[round % 4];
    int64_t day0 = DAY(2019 + round % 3, 12, 1) + rnd(60);
    rt_model *m = random_model(day0, span, 20 + (int)rnd(60), 1 + (int)rnd(8));
    for (int u = RT_PERIOD_DAY; u <= RT_PERIOD_YEAR; u++) {
      if (u == RT_PERIOD_DAY && span > 400)
        continue; /* the reference is quadratic in periods */
      int64_t p0 = rt_period_of_day((rt_period_unit)u, m->min_day);
      int64_t p1 = rt_period_of_day((rt_period_unit)u, m->as_of);
      for (int mode = 0; mode < 2; mode++)
        for (int trial = 0; trial < 6; trial++) {
          int64_t from = INT64_MIN, to = INT64_MAX, horizon = -1;
          int64_t n = p1 - p0 + 1;
          if (trial & 1)
            from = p0 - 1 + (int64_t)rnd((uint32_t)n + 2);
          if (trial & 2)
            to = p0 - 1 + (int64_t)rnd((uint32_t)n + 2);
          if (trial >= 4)
            horizon = rnd((uint32_t)n + 1);
          rt_cohort_table *t =
              compute(m, (rt_period_unit)u, (rt_cohort_mode)mode, from, to, horizon);
          check_against_reference(m, t, (rt_period_unit)u, (rt_cohort_mode)mode, from, to,
                                  horizon);
          rt_cohort_table_free(t);
        }
    }
    rt_model_free(m);
  }
}

/* Big enough to be scanned by several threads: the partial matrices must add up. */
static void test_large_random(void **state) {
  (void)state;
  rng = 777;
  rt_model *m = random_model(DAY(2021, 11, 15), 800, 300000, 4);
  for (int mode = 0; mode < 2; mode++) {
    rt_cohort_table *t = compute(m, RT_PERIOD_MONTH, (rt_cohort_mode)mode, INT64_MIN,
                                 INT64_MAX, -1);
    /* a linear reference for this size: per customer, the months ordered in */
    int64_t *cu = calloc(t->ncohorts * t->width, sizeof *cu);
    int64_t *rv = calloc(t->ncohorts * t->width, sizeof *rv);
    assert_non_null(cu);
    assert_non_null(rv);
    for (size_t i = 0; i < m->ncustomers; i++) {
      uint32_t o0 = m->order_start[i], o1 = m->order_start[i + 1];
      if (o0 == o1)
        continue;
      int64_t c = rt_period_of_day(RT_PERIOD_MONTH, m->order_day[o0]) - t->first_cohort;
      char seen[64] = {0};
      for (uint32_t j = o0; j < o1; j++) {
        int64_t k = rt_period_of_day(RT_PERIOD_MONTH, m->order_day[j]) - t->first_cohort - c;
        assert_true(k >= 0 && k < 64);
        for (int64_t q = mode ? 0 : k; q <= k; q++) {
          rv[(size_t)c * t->width + (size_t)q] += m->order_amount[j];
          if (!seen[q]) {
            seen[q] = 1;
            cu[(size_t)c * t->width + (size_t)q]++;
          }
        }
      }
    }
    assert_memory_equal(t->customers, cu, t->ncohorts * t->width * sizeof *cu);
    assert_memory_equal(t->revenue, rv, t->ncohorts * t->width * sizeof *rv);
    free(cu);
    free(rv);
    rt_cohort_table_free(t);
  }
  rt_model_free(m);
}

/* Refunds and cancellations (months of 2024, as of April 10):
 *   A: orders Jan 5 (100), Feb 3 (80); a partial refund of 30 on Feb 10; a refund before the
 *      first order, Jan 2 (5), counts in period 0
 *   B: orders Jan 7 (500), Mar 3 (40); the 500 paid back in full on Jan 9: cancelled, so B's
 *      cohort is March, and B's cancelled order is no revenue anywhere
 * Net revenue = revenue - refunds paid in the period. April is partial (10 of 30 days). */
static void test_net_revenue_and_partial(void **state) {
  (void)state;
  rt_model_builder *b = new_builder();
  uint32_t a = cust(b, "A"), bb = cust(b, "B");
  order(b, a, DAY(2024, 1, 5), 100);
  order(b, a, DAY(2024, 2, 3), 80);
  assert_int_equal(rt_model_builder_refund(b, a, MS_OF_DAY(DAY(2024, 2, 10)), 30, "USD"), 0);
  assert_int_equal(rt_model_builder_refund(b, a, MS_OF_DAY(DAY(2024, 1, 2)), 5, "USD"), 0);
  order(b, bb, DAY(2024, 1, 7), 500);
  assert_int_equal(rt_model_builder_refund(b, bb, MS_OF_DAY(DAY(2024, 1, 9)), 500, "USD"), 0);
  order(b, bb, DAY(2024, 3, 3), 40);
  rt_model *m = build(b);
  rt_error err;
  assert_int_equal(rt_model_set_as_of(&m, DAY(2024, 4, 10), RT_AS_OF_GIVEN, &err), 0);
  rt_cohort_table *t = compute(m, RT_PERIOD_MONTH, RT_COHORT_ON, INT64_MIN, INT64_MAX, -1);
  assert_int_equal(t->first_cohort, month(2024, 1));
  assert_int_equal(t->last_period, month(2024, 4));
  assert_int_equal(t->ncohorts, 3);
  assert_true(t->last_partial);
  assert_int_equal(t->last_days, 10);
  check_row(t, 0, 1, 4, (int64_t[]){1, 1, 0, 0}, (int64_t[]){100, 80, 0, 0});
  check_row(t, 2, 1, 2, (int64_t[]){1, 0, 0, 0}, (int64_t[]){40, 0, 0, 0});
  assert_int_equal(t->size[1], 0); /* February: nobody's first purchase */
  assert_int_equal(rt_cohort_cell(t, 0, 0, RT_COHORT_NET_REVENUE), 95);
  assert_int_equal(rt_cohort_cell(t, 0, 1, RT_COHORT_NET_REVENUE), 50);
  assert_int_equal(rt_cohort_cell(t, 2, 0, RT_COHORT_NET_REVENUE), 40);
  assert_true(rt_cohort_percent(t, 0, 1, RT_COHORT_NET_REVENUE) == 100.0 * 50 / 95);
  assert_true(rt_cohort_cell_partial(t, 0, 3));
  assert_true(rt_cohort_cell_partial(t, 2, 1));
  assert_false(rt_cohort_cell_partial(t, 0, 2));
  char *json = rt_cohort_json(t, m, 0);
  assert_non_null(strstr(json, "\"last_period\":\"2024-04\",\"last_period_partial\":true,"
                               "\"last_period_days\":10"));
  assert_non_null(strstr(json, "\"net_revenue\":[0.95,0.5,0.0,0.0]"));
  rt_free(json);
  rt_cohort_table_free(t);
  /* on or after: suffix sums of both */
  t = compute(m, RT_PERIOD_MONTH, RT_COHORT_ON_OR_AFTER, INT64_MIN, INT64_MAX, -1);
  assert_int_equal(rt_cohort_cell(t, 0, 0, RT_COHORT_NET_REVENUE), 145);
  assert_int_equal(rt_cohort_cell(t, 0, 1, RT_COHORT_NET_REVENUE), 50);
  rt_cohort_table_free(t);
  rt_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_net_revenue_and_partial),
      cmocka_unit_test(test_fixture_on),
      cmocka_unit_test(test_fixture_on_or_after),
      cmocka_unit_test(test_week_year_boundary),
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_bad_options),
      cmocka_unit_test(test_random_against_reference),
      cmocka_unit_test(test_large_random),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
