/* test_churn.c - the churn classifiers (src/churn/): the AUC on hand-computed cases, reading a
 * labelled table (types, categories, blanks, ids, errors), cross-validation of both models on a
 * table whose churn follows a known logistic rule, the features from a history, the reasons
 * (stories, sizes, directions, words), the values and value at risk, and a model on real data. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "gen/rng.h"
#include <retain/churn.h>
#include <retain/import.h>
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

/* The text of the one reason a contribution of 1 to feature (and nothing else) gives row i,
 * what is typical taken from t itself. */
static const char *why_of(const rt_ctable *t, size_t i, const char *feature) {
  static rt_churn_why w[64];
  rt_churn_explainer *e;
  rt_error err;
  assert_int_equal(rt_churn_explainer_new(NULL, t, &e, &err), 0);
  float *c = calloc(t->ncols + 1, sizeof *c);
  c[col_of(t, feature)] = 1;
  assert_int_equal(rt_churn_explain(e, i, c, w, 64, NULL), 1);
  assert_true(w[0].points > 0);
  free(c);
  rt_churn_explainer_free(e);
  return w[0].text;
}

/* A builder (USD) with the customers a, z and q. */
static rt_model_builder *builder_azq(uint32_t *a, uint32_t *z, uint32_t *q) {
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(NULL, "USD", &b), 0);
  assert_int_equal(rt_model_builder_customer(b, "a", 1, 0, a), 0);
  assert_int_equal(rt_model_builder_customer(b, "z", 1, 0, z), 0);
  assert_int_equal(rt_model_builder_customer(b, "q", 1, 0, q), 0);
  return b;
}

/* Features and labels of a small hand-made history, checked value by value. */
static void test_features(void **state) {
  (void)state;
  rt_error err;
  const int64_t day = 86400000;
  uint32_t a, z, q;
  rt_model_builder *b = builder_azq(&a, &z, &q);
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
  assert_string_equal(why_of(t, 0, "days_since_last_order"),
                      "no order for 80 days (usually every 10)");
  assert_string_equal(why_of(t, 1, "subscription_active"), "no running subscription (1 ended)");
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
  /* the last NPS answers are 3 and none: the typical one is 3 */
  assert_string_equal(why_of(t, ra, "last_nps"), "last NPS answer 3 (typical: 3)");
  assert_string_equal(why_of(t, rb, "days_since_last_use"), "never used the product");
  /* usage: the trend and the last use are one reason */
  assert_string_equal(why_of(t, ra, "usage_prior_30d"),
                      "last used the product 10 days ago; 2 uses in the last 30 days against 1 "
                      "in the 30 before");
  assert_string_equal(why_of(t, ra, "tickets_unresolved"),
                      "2 support tickets (1 in the last 90 days; 1 unresolved)");
  assert_string_equal(why_of(t, rb, "tickets"), "no support tickets");
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
  /* the 0/1 columns of one attribute are one reason: the value the customer has */
  for (size_t i = 0; i < t->nrows; i++) {
    int k = atoi(t->ids[i] + 1);
    assert_string_equal(why_of(t, i, "attr:plan=basic"),
                        k % 10 == 9 ? "plan unknown" : k % 3 == 0 ? "plan: pro" : "plan: basic");
  }
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

static double sigmoid(double z) { return 1 / (1 + exp(-z)); }

/* Sets contribution v of the feature called name in a row's contributions. */
static void put(const rt_ctable *t, float *c, const char *name, float v) { c[col_of(t, name)] = v; }

/* Reasons from hand-set contributions: the features of one story summed, the per-customer joins
 * (one order day, no order in either 90-day window), the points by the formula of reasons.c
 * worked out here, directions, texts against the customer's rhythm or the typical customer, and
 * no text twice. */
static void test_reasons(void **state) {
  (void)state;
  rt_error err;
  const int64_t day = 86400000;
  uint32_t a, z, q;
  rt_model_builder *b = builder_azq(&a, &z, &q);
  /* cutoff 400. a: 10.00, 20.00, 30.00 on days 300, 310, 320, a 5.00 refund on day 315;
   * z: two orders on day 350 (one order day); q: days 100 and 150, nothing in the 180 days
   * before the cutoff */
  const int ad[] = {300, 310, 320};
  for (int k = 0; k < 3; k++)
    assert_int_equal(rt_model_builder_order(b, a, ad[k] * day, 1000 * (k + 1), NULL), 0);
  assert_int_equal(rt_model_builder_refund(b, a, 315 * day, 500, NULL), 0);
  assert_int_equal(rt_model_builder_order(b, z, 350 * day, 4000, NULL), 0);
  assert_int_equal(rt_model_builder_order(b, z, 350 * day + 3600000, 2000, NULL), 0);
  assert_int_equal(rt_model_builder_order(b, q, 100 * day, 700, NULL), 0);
  assert_int_equal(rt_model_builder_order(b, q, 150 * day, 900, NULL), 0);
  rt_model *m;
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  rt_ctable *t;
  uint32_t *cust;
  assert_int_equal(rt_churn_features(m, 400, 30, 0, &t, &cust, &err), 0);
  assert_int_equal(t->nrows, 3);
  assert_string_equal(t->ids[0], "a");
  assert_string_equal(t->ids[1], "z");
  assert_string_equal(t->ids[2], "q");
  rt_churn_explainer *e;
  assert_int_equal(rt_churn_explainer_new(NULL, t, &e, &err), 0);
  /* typical: the medians of the three rows (recency 80, 50, 250; order days 3, 1, 2) */
  NEAR(rt_churn_typical(e, col_of(t, "days_since_last_order")), 80, 0);
  NEAR(rt_churn_typical(e, col_of(t, "order_days")), 2, 0);
  NEAR(rt_churn_typical(e, col_of(t, "mean_days_between_orders")), 30, 1e-6); /* 10, 50 */
  size_t nc = t->ncols;
  float *c = calloc(3 * (nc + 1), sizeof *c);
  float *ca = c, *cz = c + nc + 1, *cq = c + 2 * (nc + 1);
  put(t, ca, "days_since_last_order", 0.4f);
  put(t, ca, "recency_in_gaps", 0.3f);
  put(t, ca, "mean_days_between_orders", -0.1f);
  put(t, ca, "order_days", -0.5f);
  put(t, ca, "orders_last_90d", 0.2f);
  put(t, ca, "revenue_prior_90d", 0.1f);
  put(t, ca, "refunds", 0.05f);
  put(t, ca, "refunded_share", 0.05f);
  put(t, ca, "tenure_days", 0.0001f); /* 0.002 points: left out */
  ca[nc] = -0.2f;
  rt_churn_why w[32];
  double base;
  size_t n = rt_churn_explain(e, 0, ca, w, 32, &base);
  NEAR(base, sigmoid(-0.2), 1e-6);
  assert_int_equal(n, 4);
  double s = 0.6 + -0.5 + 0.3 + 0.1 + 0.0001;
  double slope = (sigmoid(-0.2 + s) - sigmoid(-0.2)) / s;
  const double lo[] = {0.6, -0.5, 0.3, 0.1};
  const char *text[] = {"no order for 80 days (usually every 10)",
                        "ordered on 3 different days (typical: 2)",
                        "1 order worth 30.00 in the last 90 days against 2 worth 30.00 in the 90 "
                        "before",
                        "1 refund, 8% of the spend"};
  double sum = 0;
  for (size_t r = 0; r < n; r++) {
    NEAR(w[r].log_odds, lo[r], 1e-6);
    NEAR(w[r].points, 100 * slope * lo[r], 1e-4);
    assert_string_equal(w[r].text, text[r]);
    sum += w[r].points;
  }
  /* with the left-out one, the points add up to the risk minus the baseline */
  NEAR(sum + 100 * slope * 0.0001, 100 * (sigmoid(-0.2 + s) - sigmoid(-0.2)), 1e-4);
  /* max: the largest only */
  assert_int_equal(rt_churn_explain(e, 0, ca, w, 2, NULL), 2);
  assert_string_equal(w[1].text, text[1]);
  /* z, one order day: the missing gap features belong to the order count; recency is told
   * against the typical customer */
  put(t, cz, "mean_days_between_orders", -0.2f);
  put(t, cz, "recency_in_gaps", 0.5f);
  put(t, cz, "order_days", 0.3f);
  put(t, cz, "days_since_last_order", -0.1f);
  n = rt_churn_explain(e, 1, cz, w, 32, NULL);
  assert_int_equal(n, 2);
  NEAR(w[0].log_odds, 0.6, 1e-6);
  assert_string_equal(w[0].text, "ordered on a single day so far (typical: 2)");
  NEAR(w[1].log_odds, -0.1, 1e-6);
  assert_true(w[1].points < 0);
  assert_string_equal(w[1].text, "last order 50 days ago (typical: 80)");
  /* q, no order in either 90-day window: the windows belong to recency */
  put(t, cq, "orders_last_90d", 0.2f);
  put(t, cq, "orders_prior_90d", 0.1f);
  put(t, cq, "revenue_last_90d", 0.05f);
  put(t, cq, "days_since_last_order", 0.4f);
  put(t, cq, "tenure_days", -0.3f);
  n = rt_churn_explain(e, 2, cq, w, 32, NULL);
  assert_int_equal(n, 2);
  NEAR(w[0].log_odds, 0.75, 1e-6);
  assert_string_equal(w[0].text, "no order for 250 days (usually every 50)");
  NEAR(w[1].log_odds, -0.3, 1e-6);
  assert_string_equal(w[1].text, "a customer for 300 days (typical: 100)");
  /* the direction is the sign, and the words never use the old ones ("only") */
  for (size_t i = 0; i < 3; i++) {
    n = rt_churn_explain(e, i, c + i * (nc + 1), w, 32, NULL);
    for (size_t r = 0; r < n; r++) {
      assert_true((w[r].points > 0) == (w[r].log_odds > 0));
      assert_null(strstr(w[r].text, "only"));
      for (size_t o = 0; o < r; o++)
        assert_string_not_equal(w[r].text, w[o].text);
    }
  }
  free(c);
  rt_churn_explainer_free(e);
  rt_ctable_free(t);
  free(cust);
  rt_model_free(m);
}

/* A labelled table's categories: one reason per category, the value the row has. */
static void test_reasons_categories(void **state) {
  (void)state;
  rt_ctable t = {0};
  char *names[] = {"plan=basic", "plan=pro", "seats"};
  float x[] = {0, 1, 5, NAN, NAN, 2, 1, 0, 4};
  t.nrows = 3;
  t.ncols = 3;
  t.names = names;
  t.x = x;
  rt_churn_explainer *e;
  rt_error err;
  assert_int_equal(rt_churn_explainer_new(NULL, &t, &e, &err), 0);
  float c[4] = {0.2f, 0.3f, -0.4f, 0};
  rt_churn_why w[4];
  assert_int_equal(rt_churn_explain(e, 0, c, w, 4, NULL), 2);
  NEAR(w[0].log_odds, 0.5, 1e-6);
  assert_string_equal(w[0].text, "plan: pro");
  assert_string_equal(w[1].text, "seats = 5 (typical: 4)");
  assert_int_equal(rt_churn_explain(e, 1, c, w, 4, NULL), 2);
  assert_string_equal(w[0].text, "plan unknown");
  assert_int_equal(rt_churn_explain(e, 2, c, w, 4, NULL), 2);
  assert_string_equal(w[0].text, "plan: basic");
  rt_churn_explainer_free(e);
}

/* Value at risk to the minor unit, worked out by hand, and the orders of a list. */
static void test_value_at_risk_and_rank(void **state) {
  (void)state;
  /* 0.123456 x 1234.56 = 152.41383936 */
  assert_int_equal(rt_churn_value_at_risk(0.123456, 123456), 15241);
  /* the probability as printed, to 6 decimals: 0.1234564 -> 0.123456 */
  assert_int_equal(rt_churn_value_at_risk(0.1234564, 123456), 15241);
  /* 0.5 x 0.01 = 0.005: halves away from zero */
  assert_int_equal(rt_churn_value_at_risk(0.5, 1), 1);
  assert_int_equal(rt_churn_value_at_risk(0.499999, 1), 0);
  assert_int_equal(rt_churn_value_at_risk(1, 987654321), 987654321);
  assert_int_equal(rt_churn_value_at_risk(0, 987654321), 0);
  /* beyond the exact range: to the double's precision */
  assert_int_equal(rt_churn_value_at_risk(0.5, 20000000000000LL), 10000000000000LL);
  assert_true(rt_churn_value_at_risk(NAN, 100) == RT_CHURN_NO_VALUE);
  assert_true(rt_churn_value_at_risk(0.5, RT_CHURN_NO_VALUE) == RT_CHURN_NO_VALUE);
  NEAR(rt_churn_round_p(0.1234565001), 0.123457, 1e-12);
  /* risk 0.9 of 1.00, 0.1 of 1000.00, 0.5 of 20.00, 0.5 without a value, 0.5 of 20.00:
   * value at risk 0.90, 100.00, 10.00, none, 10.00 */
  const double p[] = {0.9, 0.1, 0.5, 0.5, 0.5};
  const int64_t v[] = {100, 100000, 2000, RT_CHURN_NO_VALUE, 2000};
  size_t order[5];
  rt_error err;
  const size_t by_var[] = {1, 2, 4, 0, 3}, by_risk[] = {0, 2, 4, 3, 1},
               by_value[] = {1, 2, 4, 0, 3};
  assert_int_equal(rt_churn_rank(p, v, 5, RT_CHURN_BY_VALUE_AT_RISK, order, &err), 0);
  for (int i = 0; i < 5; i++) assert_int_equal(order[i], by_var[i]);
  assert_int_equal(rt_churn_rank(p, v, 5, RT_CHURN_BY_RISK, order, &err), 0);
  for (int i = 0; i < 5; i++) assert_int_equal(order[i], by_risk[i]);
  assert_int_equal(rt_churn_rank(p, v, 5, RT_CHURN_BY_VALUE, order, &err), 0);
  for (int i = 0; i < 5; i++) assert_int_equal(order[i], by_value[i]);
}

/* The values: the net revenue of the 365 days up to the as-of day, worked out by hand; the
 * latest CLV run's predictions from a store, and which one was used. */
static void test_values(void **state) {
  (void)state;
  char path[256];
  snprintf(path, sizeof path, "/tmp/retain-test-churn-%d-val.db", (int)getpid());
  remove_db(path);
  rt_store_config cfg = {.path = path};
  rt_store *st;
  rt_error err;
  assert_int_equal(rt_store_open(&cfg, &st, &err), 0);
  const int64_t day = 86400000;
  int64_t id[3];
  int created, status;
  const char *names[] = {"a", "b", "c"};
  for (int k = 0; k < 3; k++)
    assert_int_equal(rt_store_customer_upsert(st, names[k], 1, 0, &id[k], &created, &err), 0);
  /* as of day 400 the window is days 36..400. a: 1.00 on day 35 (out), 2.00 on day 36, 4.00
   * on day 400, a 0.50 refund on day 200: 5.50. b: 3.00 on day 390, refunds of 5.00 (day 395):
   * 0, not -2.00. c: 7.00 on day 100, 8.00 on day 401 (after: out, but the data's end) */
  struct {
    int who, d;
    int64_t amount;
  } o[] = {{0, 35, 100}, {0, 36, 200}, {0, 400, 400}, {1, 390, 300}, {2, 100, 700},
           {2, 401, 800}};
  for (size_t k = 0; k < sizeof o / sizeof o[0]; k++) {
    char ext[16];
    snprintf(ext, sizeof ext, "o%zu", k);
    rt_order_rec r = {.customer = id[o[k].who], .ext_id = ext, .ts_ms = o[k].d * day,
                      .amount = o[k].amount, .currency = "USD"};
    assert_int_equal(rt_store_order_put(st, &r, NULL, 0, &status, &err), 0);
  }
  rt_refund_rec ra = {.customer = id[0], .ext_id = "r1", .ts_ms = 200 * day, .amount = 50,
                      .currency = "USD"};
  rt_refund_rec rb = {.customer = id[1], .ext_id = "r2", .ts_ms = 395 * day, .amount = 500,
                      .currency = "USD"};
  assert_int_equal(rt_store_refund_put(st, &ra, &status, &err), 0);
  assert_int_equal(rt_store_refund_put(st, &rb, &status, &err), 0);
  rt_model *m;
  assert_int_equal(rt_model_load(st, NULL, NULL, &m, &err), 0);
  rt_ctable *t;
  uint32_t *cust;
  assert_int_equal(rt_churn_features(m, 400, 30, 0, &t, &cust, &err), 0);
  assert_int_equal(t->nrows, 3);
  rt_churn_values v;
  /* no CLV run: the revenue; asking for the CLV is an error */
  assert_int_equal(rt_churn_values_get(m, st, cust, 3, 400, RT_CHURN_VALUE_AUTO, &v, &err), 0);
  assert_int_equal(v.kind, RT_CHURN_VALUE_REVENUE);
  assert_int_equal(v.first_day, 36);
  const int64_t revenue[] = {550, 0, 700};
  for (int i = 0; i < 3; i++) assert_int_equal(v.minor[i], revenue[i]);
  rt_churn_values_free(&v);
  assert_int_equal(rt_churn_values_get(m, st, cust, 3, 400, RT_CHURN_VALUE_CLV, &v, &err),
                   RT_ENOTFOUND);
  assert_int_equal(rt_churn_values_get(m, NULL, cust, 3, 400, RT_CHURN_VALUE_CLV, &v, &err),
                   RT_ENOTFOUND);
  /* a BG/NBD run with a and c (c's value negative as a model could give: 0), then a newer
   * Pareto/NBD run with a and b: the newer one is read, c has no value in it */
  int64_t run1, run2;
  assert_int_equal(rt_store_score_run_begin(st, "bgnbd", "{\"until\":\"1971-01-01\"}", &run1,
                                            &err), 0);
  rt_score_rec s1 = {.customer = id[0], .p_alive = NAN, .expected_purchases = NAN,
                     .predicted_clv = 99.0, .churn_probability = NAN};
  assert_int_equal(rt_store_score_put(st, run1, &s1, &err), 0);
  assert_int_equal(rt_store_score_run_finish(st, run1, 1, &err), 0);
  assert_int_equal(rt_store_score_run_begin(st, "pareto",
                                            "{\"until\":\"1971-02-05\",\"horizon_days\":364}",
                                            &run2, &err), 0);
  rt_score_rec s2 = {.customer = id[0], .p_alive = NAN, .expected_purchases = NAN,
                     .predicted_clv = 123.456, .churn_probability = NAN};
  rt_score_rec s3 = {.customer = id[1], .p_alive = NAN, .expected_purchases = NAN,
                     .predicted_clv = -1.0, .churn_probability = NAN};
  assert_int_equal(rt_store_score_put(st, run2, &s2, &err), 0);
  assert_int_equal(rt_store_score_put(st, run2, &s3, &err), 0);
  assert_int_equal(rt_store_score_run_finish(st, run2, 2, &err), 0);
  assert_int_equal(rt_churn_values_get(m, st, cust, 3, 400, RT_CHURN_VALUE_AUTO, &v, &err), 0);
  assert_int_equal(v.kind, RT_CHURN_VALUE_CLV);
  assert_int_equal(v.clv_run, run2);
  assert_string_equal(v.clv_model, "pareto");
  assert_string_equal(v.clv_until, "1971-02-05");
  NEAR(v.clv_horizon_days, 364, 0);
  assert_int_equal(v.minor[0], 12346); /* 123.456 to the cent */
  assert_int_equal(v.minor[1], 0);
  assert_true(v.minor[2] == RT_CHURN_NO_VALUE);
  assert_int_equal(v.missing, 1);
  rt_churn_values_free(&v);
  /* the revenue when asked for, with a run there */
  assert_int_equal(rt_churn_values_get(m, st, cust, 3, 400, RT_CHURN_VALUE_REVENUE, &v, &err),
                   0);
  assert_int_equal(v.kind, RT_CHURN_VALUE_REVENUE);
  assert_int_equal(v.minor[0], 550);
  rt_churn_values_free(&v);
  rt_ctable_free(t);
  free(cust);
  rt_model_free(m);
  rt_store_close(st);
  remove_db(path);
}

/* A model trained on real data (the Online Retail slice, tests/fixtures): every customer's
 * reasons from XGBoost's SHAP values have the sign of their log-odds, no text twice, and add up
 * to the risk minus the baseline (up to the small ones left out); the medians the model keeps
 * are the training rows' and survive saving and loading. */
static void test_reasons_real_data(void **state) {
  (void)state;
  const char *dir = getenv("RT_FIXTURES");
  assert_non_null(dir);
  char path[512], saved[256];
  snprintf(path, sizeof path, "%s/online_retail_slice.csv", dir);
  rt_import_opts o;
  rt_import_opts_init(&o, RT_IMPORT_ORDERS);
  o.currency = "GBP";
  o.threads = 1;
  rt_model_builder *b;
  rt_import_result res;
  rt_error err;
  assert_int_equal(rt_model_builder_new(NULL, "GBP", &b), 0);
  assert_int_equal(rt_import_orders_to_model(path, &o, b, &res, &err), 0);
  rt_model *m;
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  rt_ctable *tr, *t;
  uint32_t *ctr, *cust;
  assert_int_equal(rt_churn_features(m, m->max_day - 90, 90, 365, &tr, &ctr, &err), 0);
  assert_int_equal(tr->nrows, 337); /* tests/fixtures/online_retail_slice_typical.txt */
  rt_churn_model *cm, *loaded;
  assert_int_equal(rt_churn_train(tr, 1, &cm, &err), 0);
  snprintf(saved, sizeof saved, "/tmp/retain-test-churn-%d-model.json", (int)getpid());
  assert_int_equal(rt_churn_model_save(cm, saved, &err), 0);
  assert_int_equal(rt_churn_model_load(saved, &loaded, &err), 0);
  remove(saved);
  assert_int_equal(rt_churn_features(m, m->max_day, 90, 365, &t, &cust, &err), 0);
  assert_int_equal(t->nrows, 433);
  rt_churn_explainer *e;
  assert_int_equal(rt_churn_explainer_new(loaded, t, &e, &err), 0);
  /* the training rows' median order days: 2 (pandas, online_retail_slice_typical.txt) */
  NEAR(rt_churn_typical(e, col_of(t, "order_days")), 2, 0);
  for (size_t j = 0; j < t->ncols; j++) {
    /* by hand: the middle of the sorted training column */
    float *col = malloc(tr->nrows * sizeof *col);
    size_t k = 0;
    for (size_t i = 0; i < tr->nrows; i++)
      if (!isnan(tr->x[i * tr->ncols + j])) col[k++] = tr->x[i * tr->ncols + j];
    for (size_t x = 1; x < k; x++) /* insertion sort: a few hundred values */
      for (size_t y = x; y > 0 && col[y - 1] > col[y]; y--) {
        float tmp = col[y];
        col[y] = col[y - 1];
        col[y - 1] = tmp;
      }
    double med = !k ? NAN : k % 2 ? col[k / 2] : ((double)col[k / 2 - 1] + col[k / 2]) / 2;
    double got = rt_churn_typical(e, j);
    assert_true(isnan(med) ? isnan(got) : fabs(got - med) < 1e-6 * (1 + fabs(med)));
    free(col);
  }
  double *prob = malloc(t->nrows * sizeof *prob);
  float *c = malloc(t->nrows * (t->ncols + 1) * sizeof *c);
  assert_int_equal(rt_churn_predict(loaded, t, prob, c, &err), 0);
  rt_churn_why w[64];
  size_t raising = 0, lowering = 0;
  for (size_t i = 0; i < t->nrows; i++) {
    double base;
    size_t n = rt_churn_explain(e, i, c + i * (t->ncols + 1), w, 64, &base);
    double sum = 0;
    for (size_t r = 0; r < n; r++) {
      assert_true(w[r].points != 0 && (w[r].points > 0) == (w[r].log_odds > 0));
      assert_true(fabs(w[r].points) >= RT_CHURN_MIN_POINTS);
      if (r) assert_true(fabs(w[r].points) <= fabs(w[r - 1].points));
      assert_null(strstr(w[r].text, "only"));
      for (size_t q = 0; q < r; q++) assert_string_not_equal(w[r].text, w[q].text);
      sum += w[r].points;
      raising += w[r].points > 0;
      lowering += w[r].points < 0;
    }
    assert_true(fabs(sum - 100 * (prob[i] - base)) <= RT_CHURN_MIN_POINTS * 14 + 1e-3);
  }
  assert_true(raising > 0 && lowering > 0);
  free(prob);
  free(c);
  rt_churn_explainer_free(e);
  rt_churn_model_free(cm);
  rt_churn_model_free(loaded);
  rt_ctable_free(t);
  rt_ctable_free(tr);
  free(cust);
  free(ctr);
  rt_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_auc),
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_cv),
      cmocka_unit_test(test_features),
      cmocka_unit_test(test_event_features),
      cmocka_unit_test(test_attributes_and_alignment),
      cmocka_unit_test(test_reasons),
      cmocka_unit_test(test_reasons_categories),
      cmocka_unit_test(test_value_at_risk_and_rank),
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_reasons_real_data),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
