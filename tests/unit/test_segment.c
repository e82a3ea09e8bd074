/* test_segment.c - the customers' features and the built-in segmentations (src/segment/):
 * RFM quantile scores with ties and their named grid, lifecycle stages relative to each
 * customer's rhythm, and rt_features_build on a hand-made model: every field's value checked
 * against the orders, only what happened up to the as-of day counted, value tiers, and rules
 * over the features. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <retain/features.h>
#include <retain/rule.h>

#include <retain/store.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY_MS 86400000LL

static void test_rfm_scores(void **state) {
  (void)state;
  /* 10 customers: recency 1..10 days (1 best), frequency with ties, one without orders */
  double rec[11] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, NAN};
  double freq[11] = {1, 1, 1, 1, 1, 2, 2, 3, 4, 9, NAN};
  double mon[11] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, NAN};
  uint8_t r[11], f[11], m[11];
  rt_rfm_scores(rec, freq, mon, 11, 5, r, f, m);
  /* recency: 2 customers per quintile, the most recent get 5 */
  const uint8_t want_r[10] = {5, 5, 4, 4, 3, 3, 2, 2, 1, 1};
  const uint8_t want_m[10] = {1, 1, 2, 2, 3, 3, 4, 4, 5, 5};
  /* frequency by mid-rank: the five with one order tie at the bottom, mid-rank share 2.5/10
   * -> 1 + floor(5 * 0.25) = 2; 2 orders: (5 + 1) / 10 -> 4; 3: 7.5/10 -> 4; 4 and 9: 5 */
  const uint8_t want_f[10] = {2, 2, 2, 2, 2, 4, 4, 4, 5, 5};
  for (int i = 0; i < 10; i++) {
    assert_int_equal(r[i], want_r[i]);
    assert_int_equal(f[i], want_f[i]);
    assert_int_equal(m[i], want_m[i]);
  }
  assert_int_equal(r[10], 0);
  assert_int_equal(f[10], 0);
  assert_int_equal(m[10], 0);
  /* four bins */
  rt_rfm_scores(rec, freq, mon, 11, 4, r, f, m);
  assert_int_equal(r[0], 4);
  assert_int_equal(r[9], 1);
  /* a lone buyer, or a base where everybody ties, is in the middle: 3 of 5, "need attention" */
  rt_rfm_scores(rec, freq, mon, 1, 5, r, f, m);
  assert_int_equal(r[0], 3);
  assert_int_equal(f[0], 3);
  assert_int_equal(m[0], 3);
  assert_string_equal(rt_rfm_segment(r[0], f[0], m[0]), "need attention");
  double same[4] = {7, 7, 7, 7};
  rt_rfm_scores(same, same, same, 4, 5, r, f, m);
  for (int i = 0; i < 4; i++)
    assert_int_equal(r[i] * 100 + f[i] * 10 + m[i], 333);
}

static void test_rfm_grid(void **state) {
  (void)state;
  assert_string_equal(rt_rfm_segment(5, 5, 5), "champions");
  assert_string_equal(rt_rfm_segment(4, 5, 5), "champions");
  assert_string_equal(rt_rfm_segment(4, 4, 4), "loyal");
  assert_string_equal(rt_rfm_segment(3, 5, 4), "loyal");
  assert_string_equal(rt_rfm_segment(5, 2, 3), "potential loyalists");
  assert_string_equal(rt_rfm_segment(5, 1, 1), "new");
  assert_string_equal(rt_rfm_segment(4, 1, 1), "promising");
  assert_string_equal(rt_rfm_segment(3, 3, 3), "need attention");
  assert_string_equal(rt_rfm_segment(3, 1, 2), "about to sleep");
  assert_string_equal(rt_rfm_segment(2, 4, 4), "at risk");
  assert_string_equal(rt_rfm_segment(1, 5, 5), "cannot lose them");
  assert_string_equal(rt_rfm_segment(2, 1, 1), "hibernating");
  assert_string_equal(rt_rfm_segment(1, 1, 2), "lost");
  assert_null(rt_rfm_segment(0, 0, 0));
  /* every cell of the grid has one of the 11 names, and every name is used */
  int used[11] = {0};
  for (int r = 1; r <= 5; r++)
    for (int f = 1; f <= 5; f++)
      for (int m = 1; m <= 5; m++) {
        const char *s = rt_rfm_segment(r, f, m);
        int k = 0;
        while (rt_rfm_segment_names[k] && strcmp(rt_rfm_segment_names[k], s))
          k++;
        assert_non_null(rt_rfm_segment_names[k]);
        used[k] = 1;
      }
  for (int k = 0; k < 11; k++)
    assert_true(used[k]);
}

static void test_lifecycle(void **state) {
  (void)state;
  rt_features_options o;
  rt_features_defaults(&o, 1000);
  const double gap = 30; /* the business's median gap */
  assert_int_equal(rt_lifecycle_stage(NULL, 0, 1000, gap, &o), RT_STAGE_NONE);
  int32_t one_recent[] = {990};
  assert_int_equal(rt_lifecycle_stage(one_recent, 1, 1000, gap, &o), RT_STAGE_NEW);
  int32_t one_older[] = {950}; /* 50 days: past new (30), within 2 gaps (60) */
  assert_int_equal(rt_lifecycle_stage(one_older, 1, 1000, gap, &o), RT_STAGE_FIRST_TIME);
  int32_t one_at_risk[] = {930}; /* 70 days: past 2 gaps, within 4 (120) */
  assert_int_equal(rt_lifecycle_stage(one_at_risk, 1, 1000, gap, &o), RT_STAGE_AT_RISK);
  int32_t one_lapsed[] = {800};
  assert_int_equal(rt_lifecycle_stage(one_lapsed, 1, 1000, gap, &o), RT_STAGE_LAPSED);
  /* a weekly buyer back after 94 days (more than 4 of its gaps, and the 90-day minimum) */
  int32_t weekly[] = {800, 807, 814, 821, 828, 835, 842, 849, 856, 863, 870, 877, 884, 891, 985};
  assert_int_equal(rt_lifecycle_stage(weekly, 15, 1000, gap, &o), RT_STAGE_WON_BACK);
  int32_t weekly_now[] = {940, 947, 954, 961, 968, 975, 982, 989, 996};
  assert_int_equal(rt_lifecycle_stage(weekly_now, 9, 1000, gap, &o), RT_STAGE_LOYAL);
  assert_int_equal(rt_lifecycle_stage(weekly_now, 9, 1030, gap, &o), RT_STAGE_AT_RISK);
  /* a yearly buyer is still active 200 days after its last order (2 gaps = 730) */
  int32_t yearly[] = {0, 365, 730};
  assert_int_equal(rt_lifecycle_stage(yearly, 3, 930, gap, &o), RT_STAGE_ACTIVE);
  /* orders after the as-of day do not count */
  assert_int_equal(rt_lifecycle_stage(yearly, 3, 40, gap, &o), RT_STAGE_FIRST_TIME);
  /* two orders the same day are one order day, two orders */
  int32_t same_day[] = {900, 900};
  assert_int_equal(rt_lifecycle_stage(same_day, 2, 950, gap, &o), RT_STAGE_FIRST_TIME);
}

/* a model: a (3 orders, a refund, a running subscription), b (1 order), c (none), d (an order
 * after the as-of day only), e (5 orders) */
static rt_model *small_model(void) {
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(NULL, "USD", &b), 0);
  uint32_t a, bb, c, d, e;
  assert_int_equal(rt_model_builder_customer(b, "a", 1, 1, &a), 0);
  assert_int_equal(rt_model_builder_customer(b, "b", 1, 2, &bb), 0);
  assert_int_equal(rt_model_builder_customer(b, "c", 1, 3, &c), 0);
  assert_int_equal(rt_model_builder_customer(b, "d", 1, 4, &d), 0);
  assert_int_equal(rt_model_builder_customer(b, "e", 1, 5, &e), 0);
  assert_int_equal(rt_model_builder_order(b, a, 100 * DAY_MS, 1000, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, a, 160 * DAY_MS, 3000, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, a, 190 * DAY_MS, 2000, "USD"), 0);
  assert_int_equal(rt_model_builder_refund(b, a, 191 * DAY_MS, 500, "USD"), 0);
  assert_int_equal(rt_model_builder_subscription(b, a, 150 * DAY_MS, 0, 900, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, bb, 20 * DAY_MS, 9900, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, d, 250 * DAY_MS, 700, "USD"), 0);
  for (int k = 0; k < 5; k++)
    assert_int_equal(rt_model_builder_order(b, e, (180 + 5 * k) * DAY_MS, 100, "USD"), 0);
  rt_model *m;
  rt_error err = {0};
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  return m;
}

/* 60 buyers with varied orders, and `prospects` customers without any (sign-ups) after them */
static rt_model *buyers_model(int prospects) {
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(NULL, "USD", &b), 0);
  char id[16];
  for (int i = 0; i < 60 + prospects; i++) {
    uint32_t c;
    int n = snprintf(id, sizeof id, "c%d", i);
    assert_int_equal(rt_model_builder_customer(b, id, (size_t)n, i + 1, &c), 0);
    for (int k = 0; i < 60 && k <= i % 5; k++)
      assert_int_equal(rt_model_builder_order(b, c, (int64_t)(10 + (i * 7 + k * 13) % 180) * DAY_MS,
                                              500 + 37 * i + k, "USD"), 0);
  }
  rt_model *m;
  rt_error err = {0};
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  return m;
}

static double num(const rt_features *f, const char *name, size_t i);
static const char *text(const rt_features *f, const char *name, size_t i);

/* Customers without purchases take no part in the buyers' RFM scores and value tiers. */
static void test_prospects_do_not_shift_scores(void **state) {
  (void)state;
  rt_model *m0 = buyers_model(0), *m1 = buyers_model(4000);
  rt_features_options o;
  rt_features_defaults(&o, 200);
  rt_features *f0, *f1;
  rt_error err = {0};
  assert_int_equal(rt_features_build(m0, NULL, &o, &f0, &err), 0);
  assert_int_equal(rt_features_build(m1, NULL, &o, &f1, &err), 0);
  for (size_t i = 0; i < 60; i++) {
    assert_true(num(f0, "rfm_score", i) == num(f1, "rfm_score", i));
    assert_string_equal(text(f0, "rfm_segment", i), text(f1, "rfm_segment", i));
    assert_string_equal(text(f0, "value_tier", i), text(f1, "value_tier", i));
  }
  assert_null(text(f1, "rfm_segment", 100));
  assert_null(text(f1, "value_tier", 100));
  rt_features_free(f0);
  rt_features_free(f1);
  rt_model_free(m0);
  rt_model_free(m1);
}

static double num(const rt_features *f, const char *name, size_t i) {
  const rt_column *c = rt_features_find(f, name);
  assert_non_null(c);
  return c->num[i];
}

static const char *text(const rt_features *f, const char *name, size_t i) {
  const rt_column *c = rt_features_find(f, name);
  assert_non_null(c);
  assert_int_equal(c->type, RT_TYPE_TEXT);
  return c->code[i] == UINT32_MAX ? NULL : c->dict[c->code[i]];
}

static void test_features(void **state) {
  (void)state;
  rt_model *m = small_model();
  rt_features_options o;
  rt_features_defaults(&o, 200);
  rt_features *f;
  rt_error err = {0};
  assert_int_equal(rt_features_build(m, NULL, &o, &f, &err), 0);
  assert_int_equal(f->n, 5);
  size_t a = 0, b = 1, c = 2, d = 3, e = 4;
  assert_string_equal(rt_model_ext_id(m, a), "a");
  assert_true(num(f, "orders", a) == 3);
  assert_true(fabs(num(f, "revenue", a) - 60.0) < 1e-9);
  assert_true(fabs(num(f, "refunded", a) - 5.0) < 1e-9);
  assert_true(fabs(num(f, "net_revenue", a) - 55.0) < 1e-9);
  assert_true(fabs(num(f, "aov", a) - 20.0) < 1e-9);
  assert_true(num(f, "days_since_last_order", a) == 10);
  assert_true(num(f, "days_since_first_order", a) == 100);
  assert_true(num(f, "avg_days_between_orders", a) == 45);
  assert_true(num(f, "orders_30d", a) == 1);
  assert_true(num(f, "orders_90d", a) == 2);
  assert_true(num(f, "subscriptions", a) == 1);
  assert_true(num(f, "subscriber", a) == 1);
  assert_int_equal(rt_features_find(f, "first_order_at")->day[a], 100);
  assert_int_equal(rt_features_find(f, "last_order_at")->day[a], 190);
  /* b: one order long ago; c: none; d: only a future order, so none yet */
  assert_true(num(f, "orders", b) == 1);
  assert_true(isnan(num(f, "avg_days_between_orders", b)));
  assert_true(num(f, "orders", c) == 0);
  assert_true(isnan(num(f, "days_since_last_order", c)));
  assert_true(isnan(num(f, "aov", c)));
  assert_int_equal(rt_features_find(f, "first_order_at")->day[c], INT32_MIN);
  assert_true(num(f, "orders", d) == 0);
  assert_true(num(f, "revenue", d) == 0);
  assert_true(num(f, "subscriber", b) == 0);
  /* stages */
  assert_string_equal(text(f, "lifecycle_stage", a), "active");
  assert_string_equal(text(f, "lifecycle_stage", b), "lapsed");
  assert_string_equal(text(f, "lifecycle_stage", c), "prospect");
  assert_string_equal(text(f, "lifecycle_stage", d), "prospect");
  assert_string_equal(text(f, "lifecycle_stage", e), "new");
  /* RFM: only the three buyers have scores */
  assert_true(isnan(num(f, "recency_score", c)));
  assert_null(text(f, "rfm_segment", c));
  assert_non_null(text(f, "rfm_segment", a));
  assert_true(num(f, "recency_score", e) > num(f, "recency_score", b));
  assert_true(num(f, "monetary_score", b) > num(f, "monetary_score", e));
  /* tiers by mid-rank share from the top, of the three buyers: b (net 99.00) 0.5/3 = 0.17,
   * silver (top 30%, not the top 10% or 1%); a (55.00) 1.5/3 and e (5.00) 2.5/3 bronze */
  assert_string_equal(text(f, "value_tier", b), "silver");
  assert_string_equal(text(f, "value_tier", a), "bronze");
  assert_string_equal(text(f, "value_tier", e), "bronze");
  assert_null(text(f, "value_tier", c));
  assert_string_equal(text(f, "customer_id", e), "e");

  /* a rule over the features */
  rt_rule_env env;
  rt_features_env(f, &env);
  rt_rule *r;
  assert_int_equal(rt_rule_compile("orders >= 3 and subscriber", &env, &r, &err), 0);
  uint64_t bits[1] = {0};
  assert_int_equal(rt_rule_eval(r, bits, &err), 0);
  assert_true(bits[0] == 1u); /* a only */
  rt_rule_free(r);
  assert_int_equal(rt_rule_compile("lifecycle_stage in ('prospect', 'lapsed') and "
                                   "first_order_at is null", &env, &r, &err), 0);
  assert_int_equal(rt_rule_eval(r, bits, &err), 0);
  assert_true(bits[0] == ((1u << c) | (1u << d)));
  rt_rule_free(r);

  /* later, d's order counts and a's subscription is still running */
  rt_features_free(f);
  rt_features_defaults(&o, 260);
  assert_int_equal(rt_features_build(m, NULL, &o, &f, &err), 0);
  assert_true(num(f, "orders", d) == 1);
  assert_string_equal(text(f, "lifecycle_stage", d), "new");
  rt_features_free(f);
  rt_model_free(m);
}

/* A business of 3000 customers with pseudo-random orders, refunds and subscriptions. */
static rt_model *random_model(void) {
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(NULL, "USD", &b), 0);
  uint64_t st = 7;
  for (int c = 0; c < 3000; c++) {
    char id[16];
    int len = snprintf(id, sizeof id, "r%d", c);
    uint32_t ci;
    assert_int_equal(rt_model_builder_customer(b, id, (size_t)len, c + 1, &ci), 0);
    st = st * 6364136223846793005ULL + 1442695040888963407ULL;
    int norders = (int)(st >> 60) % 9, day = 100 + (int)((st >> 20) % 600);
    for (int k = 0; k < norders; k++) {
      st = st * 6364136223846793005ULL + 1442695040888963407ULL;
      day += (int)((st >> 33) % 90);
      assert_int_equal(rt_model_builder_order(b, ci, (int64_t)day * DAY_MS,
                                              500 + (int64_t)((st >> 40) % 20000), "USD"), 0);
      if ((st >> 13) % 17 == 0)
        assert_int_equal(rt_model_builder_refund(b, ci, (int64_t)(day + 3) * DAY_MS, 300, "USD"), 0);
    }
    if ((st >> 7) % 5 == 0)
      assert_int_equal(rt_model_builder_subscription(b, ci, 200 * DAY_MS,
                                                     (st >> 9) % 2 ? 0 : 700 * DAY_MS, 900, "USD"),
                       0);
  }
  rt_model *m;
  rt_error err = {0};
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  return m;
}

static rt_customer_rows rows_of(const rt_model *m, size_t i) {
  rt_customer_rows r = {m->order_day + m->order_start[i], m->order_amount + m->order_start[i],
                        m->order_start[i + 1] - m->order_start[i],
                        m->refund_day + m->refund_start[i], m->refund_amount + m->refund_start[i],
                        m->refund_start[i + 1] - m->refund_start[i],
                        m->sub_first_day + m->sub_start[i], m->sub_end_day + m->sub_start[i],
                        m->sub_start[i + 1] - m->sub_start[i]};
  return r;
}

static int same_value(const rt_column *c, size_t i, const rt_column *d, size_t j) {
  switch (c->type) {
  case RT_TYPE_NUMBER:
  case RT_TYPE_BOOL:
    if (c->i32 && (c->i32[i] != d->i32[j] ||
                   c->i32[i] != (isnan(c->num[i]) ? INT32_MIN : (int32_t)c->num[i])))
      return 0; /* the int32 copy agrees with the doubles */
    return (isnan(c->num[i]) && isnan(d->num[j])) || c->num[i] == d->num[j];
  case RT_TYPE_DATE:
    return c->day[i] == d->day[j];
  case RT_TYPE_TEXT:
    return c->code[i] == d->code[j];
  }
  return 0;
}

/* One customer updated from its own rows gets exactly the features the whole build gave it;
 * a customer whose rows change moves alone, and a rule's match follows. */
static void test_set_customer(void **state) {
  (void)state;
  rt_model *m = random_model();
  rt_features_options o;
  rt_features_defaults(&o, 800);
  rt_features *f, *g;
  rt_error err = {0};
  assert_int_equal(rt_features_build(m, NULL, &o, &f, &err), 0);
  assert_int_equal(rt_features_build(m, NULL, &o, &g, &err), 0); /* the reference */
  for (size_t i = 0; i < f->n; i++) {
    rt_customer_rows r = rows_of(m, i);
    assert_int_equal(rt_features_set_customer(f, i, &r), 0);
  }
  for (size_t k = 0; k < f->ncols; k++)
    for (size_t i = 0; i < f->n; i++)
      if (!same_value(&f->cols[k], i, &g->cols[k], i))
        fail_msg("%s of customer %zu differs after rt_features_set_customer", f->cols[k].name, i);
  /* customer 0 buys a lot today: only it changes */
  size_t who = 0;
  while (who < f->n && m->order_start[who + 1] - m->order_start[who] != 0)
    who++;
  assert_true(who < f->n); /* one without orders */
  int32_t days[12];
  int64_t amounts[12];
  for (int k = 0; k < 12; k++) {
    days[k] = 790 + k / 2;
    amounts[k] = 1000000;
  }
  rt_customer_rows big = {days, amounts, 12, NULL, NULL, 0, NULL, NULL, 0};
  rt_rule_env env;
  rt_features_env(f, &env);
  rt_rule *r;
  assert_int_equal(rt_rule_compile("rfm_segment = 'champions' and value_tier = 'platinum'",
                                   &env, &r, &err), 0);
  assert_int_equal(rt_rule_match(r, who), 0);
  assert_int_equal(rt_features_set_customer(f, who, &big), 0);
  assert_int_equal(rt_rule_match(r, who), 1);
  assert_true(num(f, "orders", who) == 12);
  assert_string_equal(text(f, "lifecycle_stage", who), "new");
  for (size_t k = 0; k < f->ncols; k++)
    for (size_t i = 0; i < f->n; i++)
      if (i != who && !same_value(&f->cols[k], i, &g->cols[k], i))
        fail_msg("%s of customer %zu changed with another customer's order", f->cols[k].name, i);
  assert_int_equal(rt_features_set_customer(f, f->n, &big), RT_EINVAL);
  rt_rule_free(r);

  /* rt_features_one: every customer on its own from its rows is the customer of the full
   * build, and a big buyer there is what rt_features_set_customer made of it above, all
   * without touching f */
  for (size_t i = 0; i < g->n; i++) {
    rt_customer_rows rows = rows_of(m, i);
    rt_features *one;
    assert_int_equal(rt_features_one(g, i, &rows, NULL, &one, &err), 0);
    assert_int_equal(one->n, 1);
    assert_int_equal(one->ncols, g->ncols);
    for (size_t k = 0; k < g->ncols; k++)
      if (!same_value(&one->cols[k], 0, &g->cols[k], i))
        fail_msg("%s of customer %zu differs on its own", g->cols[k].name, i);
    rt_features_free(one);
  }
  rt_features *one;
  assert_int_equal(rt_features_one(g, who, &big, NULL, &one, &err), 0);
  for (size_t k = 0; k < g->ncols; k++)
    if (!same_value(&one->cols[k], 0, &f->cols[k], who))
      fail_msg("%s of the big buyer on its own differs", g->cols[k].name);
  rt_rule_env env1;
  rt_features_env(one, &env1);
  assert_int_equal(rt_rule_compile("rfm_segment = 'champions' and value_tier = 'platinum'",
                                   &env1, &r, &err), 0);
  assert_int_equal(rt_rule_match(r, 0), 1);
  rt_rule_free(r);
  rt_features_free(one);
  /* a customer the table does not have: its orders count, the rest is missing */
  assert_int_equal(rt_features_one(g, SIZE_MAX, &big, NULL, &one, &err), 0);
  assert_true(num(one, "orders", 0) == 12);
  assert_null(text(one, "customer_id", 0));
  rt_features_free(one);
  assert_int_equal(rt_features_one(g, g->n, &big, NULL, &one, &err), RT_EINVAL);
  for (size_t k = 0; k < g->ncols; k++) /* g itself untouched */
    for (size_t i = 0; i < g->n; i++)
      if (i != who && !same_value(&f->cols[k], i, &g->cols[k], i))
        fail_msg("%s of customer %zu changed", g->cols[k].name, i);
  rt_features_free(f);
  rt_features_free(g);
  rt_model_free(m);
}

/* Imported attributes from a real store: text, numbers, booleans, escapes and non-ASCII text,
 * nested values as their compact sorted JSON, a key whose values are numbers for some customers
 * and text for others (a text column with the numbers as they are written), absent and null
 * values missing. */
static void test_attributes(void **state) {
  (void)state;
  char path[] = "/tmp/retain-test-attrs-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  unlink(path);
  rt_store *st;
  rt_store_config cfg = {.path = path};
  rt_error err = {0};
  assert_int_equal(rt_store_open(&cfg, &st, &err), 0);
  static const char *const attrs[] = {
      "{\"plan\":\"pro\",\"seats\":12,\"vip\":true,\"score\":1.5,\"tags\":[\"x\",\"y\"],"
      "\"esc\":\"a\\\"b\\\\c\\u00e9\\ud83d\\ude00 \\n\",\"mixed\":1}",
      "{\"plan\":\"free\",\"seats\":3,\"vip\":false,\"mixed\":\"one\",\"meta\":{\"z\":1,\"a\":[2]}}",
      "{\"plan\":null,\"seats\":null}",
      "{}",
      "{ \"big\" : 12345678901234 , \"mixed\" : 2.5, \"vip\" : true, \"caf\u00e9\": \"\u00fcber\" }",
  };
  for (int i = 0; i < 5; i++) {
    char id[8];
    int64_t cid;
    int created;
    snprintf(id, sizeof id, "c%d", i);
    assert_int_equal(rt_store_customer_upsert(st, id, strlen(id), 1000, &cid, &created, &err), 0);
    assert_int_equal(rt_store_customer_set_attrs(st, cid, attrs[i], &err), 0);
  }
  rt_model *m;
  assert_int_equal(rt_model_load(st, NULL, "USD", &m, &err), 0);
  assert_int_equal(m->ncustomers, 5);
  rt_features_options o;
  rt_features_defaults(&o, 200);
  rt_features *f;
  assert_int_equal(rt_features_build(m, st, &o, &f, &err), 0);
  assert_string_equal(text(f, "attributes.plan", 0), "pro");
  assert_string_equal(text(f, "attributes.plan", 1), "free");
  assert_null(text(f, "attributes.plan", 2));
  assert_null(text(f, "attributes.plan", 3));
  assert_int_equal(rt_features_find(f, "attributes.seats")->type, RT_TYPE_NUMBER);
  assert_true(num(f, "attributes.seats", 0) == 12 && num(f, "attributes.seats", 1) == 3);
  assert_true(isnan(num(f, "attributes.seats", 2)) && isnan(num(f, "attributes.seats", 4)));
  assert_int_equal(rt_features_find(f, "attributes.vip")->type, RT_TYPE_BOOL);
  assert_true(num(f, "attributes.vip", 0) == 1 && num(f, "attributes.vip", 1) == 0);
  assert_true(isnan(num(f, "attributes.vip", 3)) && num(f, "attributes.vip", 4) == 1);
  assert_true(num(f, "attributes.score", 0) == 1.5);
  assert_string_equal(text(f, "attributes.tags", 0), "[\"x\",\"y\"]");
  assert_string_equal(text(f, "attributes.meta", 1), "{\"a\":[2],\"z\":1}");
  assert_string_equal(text(f, "attributes.esc", 0), "a\"b\\c\xC3\xA9\xF0\x9F\x98\x80 \n");
  assert_int_equal(rt_features_find(f, "attributes.mixed")->type, RT_TYPE_TEXT);
  assert_string_equal(text(f, "attributes.mixed", 0), "1");
  assert_string_equal(text(f, "attributes.mixed", 1), "one");
  assert_string_equal(text(f, "attributes.mixed", 4), "2.5");
  assert_null(text(f, "attributes.mixed", 2));
  assert_true(num(f, "attributes.big", 4) == 12345678901234.0);
  assert_string_equal(text(f, "attributes.caf__", 4), "\xC3\xBC" "ber");
  /* one customer on its own with new attributes: values the columns can hold are shown, any
   * other is refused (the caller then waits for a rebuild) */
  rt_customer_rows none = {0};
  rt_features *one;
  assert_int_equal(rt_features_one(f, 0, &none, "{\"plan\":\"free\",\"seats\":5,\"vip\":false,"
                                                "\"mixed\":2.5}", &one, &err), 0);
  assert_string_equal(text(one, "attributes.plan", 0), "free");
  assert_true(num(one, "attributes.seats", 0) == 5 && num(one, "attributes.vip", 0) == 0);
  assert_string_equal(text(one, "attributes.mixed", 0), "2.5");
  assert_null(text(one, "attributes.tags", 0)); /* gone from the customer: missing */
  assert_true(isnan(num(one, "attributes.score", 0)));
  rt_features_free(one);
  assert_int_equal(rt_features_one(f, 0, &none, "{\"plan\":\"enterprise\"}", &one, &err),
                   RT_ENOTFOUND);
  assert_int_equal(rt_features_one(f, 0, &none, "{\"newkey\":1}", &one, &err), RT_ENOTFOUND);
  assert_int_equal(rt_features_one(f, 0, &none, "{\"seats\":\"many\"}", &one, &err),
                   RT_ENOTFOUND);
  rt_features_free(f);
  rt_model_free(m);
  rt_store_close(st);
  unlink(path);
  char side[64];
  snprintf(side, sizeof side, "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", path);
  unlink(side);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfm_scores),
      cmocka_unit_test(test_prospects_do_not_shift_scores),
      cmocka_unit_test(test_rfm_grid),
      cmocka_unit_test(test_lifecycle),
      cmocka_unit_test(test_features),
      cmocka_unit_test(test_set_customer),
      cmocka_unit_test(test_attributes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
