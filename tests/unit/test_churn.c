/* test_churn.c - the churn classifiers (src/churn/): the AUC on hand-computed cases, reading a
 * labelled table (types, categories, blanks, ids, errors), and cross-validation of both models
 * on a table whose churn follows a known logistic rule. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "gen/rng.h"
#include <retain/churn.h>
#include <retain/model.h>
#include <retain/store.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NEAR(a, b, tol) assert_true(fabs((a) - (b)) <= (tol))

/* Removes a test store and its WAL files. */
static void remove_db(const char *path) {
  char side[300];
  remove(path);
  snprintf(side, sizeof side, "%s-wal", path);
  remove(side);
  snprintf(side, sizeof side, "%s-shm", path);
  remove(side);
}

static size_t col_of(const rt_ctable *t, const char *name) {
  for (size_t j = 0; j < t->ncols; j++)
    if (!strcmp(t->names[j], name))
      return j;
  fail_msg("no feature %s", name);
  return 0;
}

static void test_auc(void **state) {
  (void)state;
  const double s[] = {0.1, 0.4, 0.35, 0.8};
  const uint8_t y[] = {0, 0, 1, 1};
  NEAR(rt_auc(s, y, 4), 0.75, 1e-12); /* pairs (pos, neg): 0.35>0.1, 0.35<0.4, 0.8>both */
  const double perfect[] = {0, 1, 2, 3}, ties[] = {1, 1, 1, 1};
  const uint8_t y2[] = {0, 0, 1, 1}, y3[] = {1, 1, 0, 0};
  NEAR(rt_auc(perfect, y2, 4), 1, 0);
  NEAR(rt_auc(perfect, y3, 4), 0, 0);
  NEAR(rt_auc(ties, y2, 4), 0.5, 0);
  const uint8_t one_class[] = {1, 1, 1, 1};
  assert_true(isnan(rt_auc(perfect, one_class, 4)));
}

static char *write_file(const char *name, const char *text) {
  static char path[256];
  snprintf(path, sizeof path, "/tmp/retain-test-churn-%d-%s", (int)getpid(), name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static void test_table(void **state) {
  (void)state;
  const char *p = write_file("t.csv", "id,plan,tenure,charges,Churn\n"
                                      "a,basic,1,10.5,Yes\n"
                                      "b,pro,12, ,No\n"
                                      "c,,3,7,no\n"
                                      "d,basic,40,20,TRUE\n");
  rt_ctable *t;
  rt_error err;
  assert_int_equal(rt_ctable_read_csv(p, "id", "Churn", &t, &err), 0);
  assert_int_equal(t->nrows, 4);
  assert_int_equal(t->ncols, 4); /* plan=basic, plan=pro, tenure, charges */
  assert_string_equal(t->names[0], "plan=basic");
  assert_string_equal(t->names[1], "plan=pro");
  assert_string_equal(t->names[2], "tenure");
  assert_string_equal(t->names[3], "charges");
  assert_int_equal(t->y[0], 1);
  assert_int_equal(t->y[1], 0);
  assert_int_equal(t->y[2], 0);
  assert_int_equal(t->y[3], 1);
  assert_string_equal(t->ids[2], "c");
  NEAR(t->x[0 * 4 + 0], 1, 0);
  NEAR(t->x[0 * 4 + 1], 0, 0);
  assert_true(isnan(t->x[1 * 4 + 3]));           /* blank number */
  assert_true(isnan(t->x[2 * 4 + 0]));           /* blank category */
  NEAR(t->x[3 * 4 + 2], 40, 0);
  rt_ctable_free(t);
  remove(p);
  /* errors name the place */
  p = write_file("bad.csv", "id,x,Churn\na,1,Yes\nb,2,maybe\n");
  assert_int_not_equal(rt_ctable_read_csv(p, "id", "Churn", &t, &err), 0);
  assert_non_null(strstr(err.msg, ":3:3"));
  assert_non_null(strstr(err.msg, "maybe"));
  assert_int_not_equal(rt_ctable_read_csv(p, "id", "Label", &t, &err), 0);
  assert_non_null(strstr(err.msg, "Label"));
  remove(p);
  p = write_file("ragged.csv", "id,x,Churn\na,1,Yes\nb,No\n");
  assert_int_not_equal(rt_ctable_read_csv(p, NULL, "Churn", &t, &err), 0);
  assert_non_null(strstr(err.msg, ":3"));
  remove(p);
}

/* A table whose churn follows a logistic rule in one number and one category, with an id-like
 * text column and some blanks: both models find the signal (AUC close to the rule's own). */
static void test_cv(void **state) {
  (void)state;
  char path[256];
  snprintf(path, sizeof path, "/tmp/retain-test-churn-%d-cv.csv", (int)getpid());
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("customer,note,x,plan,noise,churn\n", f);
  rt__rng g;
  rt__rng_seed(&g, 3, 1, 1);
  const char *plans[] = {"a", "b", "c"};
  double *score = malloc(4000 * sizeof *score);
  uint8_t *label = malloc(4000);
  for (int i = 0; i < 4000; i++) {
    double x = rt__rng_normal(&g);
    int plan = (int)(rt__rng_unif(&g) * 3);
    double z = 1.5 * x + (plan == 0 ? 1.2 : plan == 1 ? -0.5 : 0) - 0.8;
    int y = rt__rng_unif(&g) < 1 / (1 + exp(-z));
    score[i] = z;
    label[i] = (uint8_t)y;
    if (i % 50 == 7)
      fprintf(f, "c%d,n%d,,%s,%.3f,%d\n", i, i, plans[plan], rt__rng_normal(&g), y);
    else
      fprintf(f, "c%d,n%d,%.4f,%s,%.3f,%d\n", i, i, x, plans[plan], rt__rng_normal(&g), y);
  }
  fclose(f);
  double best = rt_auc(score, label, 4000); /* what the true rule achieves */
  rt_ctable *t;
  rt_error err;
  assert_int_equal(rt_ctable_read_csv(path, "customer", "churn", &t, &err), 0);
  assert_int_equal(t->skipped, 1); /* "note": one value per row */
  assert_int_equal(t->ncols, 5);   /* x, plan=a/b/c, noise */
  for (int algo = 0; algo < 2; algo++) {
    rt_cv_result r, again;
    assert_int_equal(rt_churn_cv(t, (rt_churn_algo)algo, 5, 9, &r, &err), 0);
    assert_int_equal(r.folds, 5);
    assert_true(r.mean > best - 0.03 && r.mean < best + 0.03);
    assert_true(r.sd > 0 && r.sd < 0.05);
    assert_int_equal(rt_churn_cv(t, (rt_churn_algo)algo, 5, 9, &again, &err), 0);
    for (int k = 0; k < 5; k++)
      NEAR(again.auc[k], r.auc[k], 0); /* the seed fixes everything */
  }
  rt_cv_result r;
  assert_int_not_equal(rt_churn_cv(t, RT_CHURN_LOGISTIC, 1, 9, &r, &err), 0);
  rt_ctable_free(t);
  free(score);
  free(label);
  remove(path);
}

/* Features and labels of a small hand-made history, checked value by value. */
static void test_features(void **state) {
  (void)state;
  rt_model_builder *b;
  rt_error err;
  assert_int_equal(rt_model_builder_new(NULL, "USD", &b), 0);
  const int64_t day = 86400000;
  uint32_t a, z, q;
  assert_int_equal(rt_model_builder_customer(b, "a", 1, 0, &a), 0);
  assert_int_equal(rt_model_builder_customer(b, "z", 1, 0, &z), 0);
  assert_int_equal(rt_model_builder_customer(b, "q", 1, 0, &q), 0);
  /* a: orders on days 0, 10, 20 and 150 (after the cutoff 100: not churned), a refund */
  const int ad[] = {0, 10, 20, 150};
  for (int k = 0; k < 4; k++)
    assert_int_equal(rt_model_builder_order(b, a, ad[k] * day, 1000 * (k + 1), NULL), 0);
  assert_int_equal(rt_model_builder_refund(b, a, 15 * day, 500, NULL), 0);
  /* z: one order on day 50, nothing after: churned; a subscription that ended on day 60 */
  assert_int_equal(rt_model_builder_order(b, z, 50 * day, 2000, NULL), 0);
  assert_int_equal(rt_model_builder_subscription(b, z, 40 * day, 60 * day, 999, NULL), 0);
  /* q: first order after the cutoff: not a row */
  assert_int_equal(rt_model_builder_order(b, q, 120 * day, 100, NULL), 0);
  rt_model *m;
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  rt_ctable *t;
  uint32_t *cust;
  assert_int_equal(rt_churn_features(m, 100, 90, 0, &t, &cust, &err), 0);
  assert_int_equal(t->nrows, 2);
  assert_string_equal(t->ids[0], "a");
  assert_string_equal(t->ids[1], "z");
  size_t k = t->ncols;
  const float *x = t->x;
#define F(name) (col_of(t, name))
  NEAR(x[F("days_since_last_order")], 80, 0);
  NEAR(x[F("order_days")], 3, 0);
  NEAR(x[F("tenure_days")], 100, 0);
  NEAR(x[F("mean_days_between_orders")], 10, 1e-6);
  NEAR(x[F("recency_in_gaps")], 8, 1e-6);
  NEAR(x[F("mean_order_value")], 20, 1e-4); /* (10 + 20 + 30) / 3 */
  NEAR(x[F("orders_last_90d")], 1, 0);      /* day 20 > 100 - 90 */
  NEAR(x[F("orders_prior_90d")], 2, 0);
  NEAR(x[F("refunds")], 1, 0);
  NEAR(x[F("refunded_share")], 5.0 / 60, 1e-6);
  assert_int_equal(t->y[0], 0);
  NEAR(x[k + F("order_days")], 1, 0);
  assert_true(isnan(x[k + F("mean_days_between_orders")]));
  NEAR(x[k + F("subscriptions")], 1, 0);
  NEAR(x[k + F("subscription_active")], 0, 0);
  assert_int_equal(t->y[1], 1);
  char why[160];
  rt_churn_reason(t, x, F("days_since_last_order"), why, sizeof why);
  assert_string_equal(why, "no order for 80 days, 8.0× the usual gap");
  rt_churn_reason(t, x + k, F("subscription_active"), why, sizeof why);
  assert_string_equal(why, "no active subscription");
#undef F
  rt_ctable_free(t);
  free(cust);
  /* customers in play: an order within 60 days of the cutoff drops a (last order day 20) */
  assert_int_equal(rt_churn_features(m, 100, 90, 60, &t, &cust, &err), 0);
  assert_int_equal(t->nrows, 1);
  assert_string_equal(t->ids[0], "z");
  rt_ctable_free(t);
  free(cust);
  rt_model_free(m);
}

/* Event features from a real store: usage windows, tickets and the last survey answers, and
 * events after the cutoff ignored. */
static void test_event_features(void **state) {
  (void)state;
  char path[256];
  snprintf(path, sizeof path, "/tmp/retain-test-churn-%d-ev.db", (int)getpid());
  remove(path);
  rt_store_config cfg = {.path = path};
  rt_store *st;
  rt_error err;
  assert_int_equal(rt_store_open(&cfg, &st, &err), 0);
  const int64_t day = 86400000;
  int64_t a, b;
  int created, status;
  assert_int_equal(rt_store_customer_upsert(st, "a", 1, 0, &a, &created, &err), 0);
  assert_int_equal(rt_store_customer_upsert(st, "b", 1, 0, &b, &created, &err), 0);
  rt_order_rec o1 = {.customer = a, .ext_id = "1", .ts_ms = 10 * day, .amount = 100,
                     .currency = "USD"};
  rt_order_rec o2 = {.customer = b, .ext_id = "2", .ts_ms = 20 * day, .amount = 100,
                     .currency = "USD"};
  assert_int_equal(rt_store_order_put(st, &o1, NULL, 0, &status, &err), 0);
  assert_int_equal(rt_store_order_put(st, &o2, NULL, 0, &status, &err), 0);
  /* cutoff day 100: a logs in on days 50 (prior 30) and 80, 90 (last 30), opens two tickets
   * (days 5 and 95, the first resolved), answers NPS 9 then 3, CSAT 4; a login on day 120 is
   * after the cutoff */
  struct {
    int64_t who;
    const char *type;
    int d;
    const char *props;
  } ev[] = {{a, "login", 50, NULL},
            {a, "login", 80, NULL},
            {a, "feature_used", 90, "{\"feature\":\"reports\"}"},
            {a, "ticket_opened", 5, "{\"ticket\":\"T1\"}"},
            {a, "ticket_opened", 95, "{\"ticket\":\"T2\"}"},
            {a, "ticket_resolved", 40, "{\"ticket\":\"T1\"}"},
            {a, "survey_answered", 60, "{\"survey\":\"nps\",\"score\":9}"},
            {a, "survey_answered", 85, "{\"survey\":\"nps\",\"score\":3}"},
            {a, "survey_answered", 70, "{\"survey\":\"csat\",\"score\":4}"},
            {a, "login", 120, NULL}};
  for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++) {
    char id[16];
    snprintf(id, sizeof id, "e%zu", i);
    rt_event_rec e = {.customer = ev[i].who, .type = ev[i].type, .ts_ms = ev[i].d * day,
                      .props = ev[i].props, .ext_id = id};
    assert_int_equal(rt_store_event_put(st, &e, &status, &err), 0);
  }
  rt_model *m;
  assert_int_equal(rt_model_load(st, NULL, NULL, &m, &err), 0);
  rt_ctable *t;
  uint32_t *cust;
  assert_int_equal(rt_churn_features(m, 100, 30, 0, &t, &cust, &err), 0);
  size_t before = t->ncols;
  assert_int_equal(rt_churn_add_events(t, cust, m, st, 100, NULL, &err), 0);
  assert_int_equal(t->ncols, before + 8);
  size_t ra = !strcmp(t->ids[0], "a") ? 0 : 1, rb = 1 - ra;
  const float *xa = t->x + ra * t->ncols, *xb = t->x + rb * t->ncols;
  NEAR(xa[col_of(t, "usage_last_30d")], 2, 0);
  NEAR(xa[col_of(t, "usage_prior_30d")], 1, 0);
  NEAR(xa[col_of(t, "days_since_last_use")], 10, 0);
  NEAR(xa[col_of(t, "tickets")], 2, 0);
  NEAR(xa[col_of(t, "tickets_last_90d")], 1, 0);
  NEAR(xa[col_of(t, "tickets_unresolved")], 1, 0);
  NEAR(xa[col_of(t, "last_nps")], 3, 0);
  NEAR(xa[col_of(t, "last_csat")], 4, 0);
  NEAR(xa[col_of(t, "days_since_last_order")], 90, 0); /* the order features stay */
  assert_true(isnan(xb[col_of(t, "days_since_last_use")]));
  assert_true(isnan(xb[col_of(t, "last_nps")]));
  NEAR(xb[col_of(t, "tickets")], 0, 0);
  char why[160];
  rt_churn_reason(t, xa, col_of(t, "last_nps"), why, sizeof why);
  assert_string_equal(why, "last NPS answer: 3");
  rt_churn_reason(t, xb, col_of(t, "days_since_last_use"), why, sizeof why);
  assert_string_equal(why, "never used the product");
  rt_ctable_free(t);
  free(cust);
  rt_model_free(m);
  rt_store_close(st);
  remove_db(path);
}

/* Attributes from the store: numbers, booleans, categories, an id-like key left out, keys a
 * customer lacks as missing; and a model trained on one column order scores a table whose
 * columns come in another order, with one more and one fewer, by name. */
static void test_attributes_and_alignment(void **state) {
  (void)state;
  char path[256];
  snprintf(path, sizeof path, "/tmp/retain-test-churn-%d-attr.db", (int)getpid());
  remove(path);
  rt_store_config cfg = {.path = path};
  rt_store *st;
  rt_error err;
  assert_int_equal(rt_store_open(&cfg, &st, &err), 0);
  int status, created;
  for (int i = 0; i < 120; i++) {
    char id[16], attrs[160];
    int64_t c;
    snprintf(id, sizeof id, "k%d", i);
    assert_int_equal(rt_store_customer_upsert(st, id, strlen(id), 0, &c, &created, &err), 0);
    if (i % 10 != 9) { /* every tenth customer has no attributes */
      snprintf(attrs, sizeof attrs,
               "{\"plan\":\"%s\",\"seats\":%d,\"vip\":%s,\"email\":\"u%d@x.org\"}",
               i % 3 == 0 ? "pro" : "basic", i % 7, i % 2 ? "true" : "false", i);
      assert_int_equal(rt_store_customer_set_attrs(st, c, attrs, &err), 0);
    }
    rt_order_rec o = {.customer = c, .ext_id = id, .ts_ms = (int64_t)(i % 50) * 86400000,
                      .amount = 100, .currency = "USD"};
    assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), 0);
  }
  rt_model *m;
  assert_int_equal(rt_model_load(st, NULL, NULL, &m, &err), 0);
  rt_ctable *t;
  uint32_t *cust;
  assert_int_equal(rt_churn_features(m, 60, 30, 0, &t, &cust, &err), 0);
  size_t before = t->ncols;
  assert_int_equal(rt_churn_add_attributes(t, cust, m, st, &err), 0);
  /* plan=basic, plan=pro, seats, vip; the email (120 values) is left out */
  assert_int_equal(t->ncols, before + 4);
  size_t basic = col_of(t, "attr:plan=basic"), pro = col_of(t, "attr:plan=pro");
  size_t seats = col_of(t, "attr:seats"), vip = col_of(t, "attr:vip");
  for (size_t i = 0; i < t->nrows; i++) {
    int k = atoi(t->ids[i] + 1);
    const float *x = t->x + i * t->ncols;
    if (k % 10 == 9) {
      assert_true(isnan(x[basic]) && isnan(x[seats]) && isnan(x[vip]));
      continue;
    }
    NEAR(x[pro], k % 3 == 0, 0);
    NEAR(x[basic], k % 3 != 0, 0);
    NEAR(x[seats], k % 7, 0);
    NEAR(x[vip], k % 2, 0);
  }
  char why[160];
  rt_churn_reason(t, t->x, pro, why, sizeof why);
  assert_non_null(strstr(why, "plan is"));
  /* alignment by name: train on t, score a copy with the columns reversed, a column dropped
   * and an unknown one added: the same probabilities as with the dropped column missing */
  for (size_t i = 0; i < t->nrows; i++)
    t->y[i] = (uint8_t)(i % 3 == 0);
  rt_churn_model *cm;
  assert_int_equal(rt_churn_train(t, 1, &cm, &err), 0);
  rt_ctable u = *t, v = *t;
  size_t nc = t->ncols;
  u.names = malloc(nc * sizeof *u.names);
  u.x = malloc(t->nrows * nc * sizeof *u.x);
  v.x = malloc(t->nrows * nc * sizeof *v.x);
  static char extra[] = "not_a_feature";
  size_t dropped = col_of(t, "attr:seats");
  for (size_t j = 0; j < nc; j++) {
    size_t from = nc - 1 - j; /* reversed; the dropped column's place holds the unknown one */
    u.names[j] = from == dropped ? extra : t->names[from];
    for (size_t i = 0; i < t->nrows; i++) {
      u.x[i * nc + j] = from == dropped ? 123.0f : t->x[i * nc + from];
      v.x[i * nc + from] = from == dropped ? NAN : t->x[i * nc + from];
    }
  }
  double *pu = malloc(t->nrows * sizeof *pu), *pv = malloc(t->nrows * sizeof *pv);
  float *cu = malloc(t->nrows * (nc + 1) * sizeof *cu);
  float *cv = malloc(t->nrows * (nc + 1) * sizeof *cv);
  assert_int_equal(rt_churn_predict(cm, &u, pu, cu, &err), 0);
  assert_int_equal(rt_churn_predict(cm, &v, pv, cv, &err), 0);
  for (size_t i = 0; i < t->nrows; i++) {
    NEAR(pu[i], pv[i], 1e-6);
    for (size_t j = 0; j < nc; j++) {
      size_t from = nc - 1 - j;
      if (from == dropped)
        NEAR(cu[i * (nc + 1) + j], 0, 0); /* the unknown column moves nothing */
      else
        NEAR(cu[i * (nc + 1) + j], cv[i * (nc + 1) + from], 1e-5);
    }
  }
  free(pu);
  free(pv);
  free(cu);
  free(cv);
  free(u.names);
  free(u.x);
  free(v.x);
  rt_churn_model_free(cm);
  rt_ctable_free(t);
  free(cust);
  rt_model_free(m);
  rt_store_close(st);
  remove_db(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_auc),
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_cv),
      cmocka_unit_test(test_features),
      cmocka_unit_test(test_event_features),
      cmocka_unit_test(test_attributes_and_alignment),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
