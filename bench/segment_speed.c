/* segment_speed.c - how fast a segment rule is answered over the customer model, and what one
 * incoming order costs a segment's membership.
 *
 * Builds a model of N customers (a buy-till-you-die business over three years: each customer
 * buys at its own rate until it drops out; amounts log-normal), computes the features, then
 * times rt_rule_compile + rt_rule_eval of a rule (median of R runs), and rt_rule_match for single
 * customers. Optionally writes the features the rule reads as CSV for the SQL peers
 * (bench/segments.py loads it into SQLite and PostgreSQL with indexes and runs the same WHERE).
 * Prints one JSON object.
 *
 *   cmake --build build --target bench && \
 *   build/bench/segment_speed [--customers N] [--runs R] [--rule RULE] [--csv PATH] */
#include <retain/alloc.h>
#include <retain/features.h>
#include <retain/model.h>
#include <retain/rule.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen/rng.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const rt_error *err) {
  fprintf(stderr, "segment_speed: %s: %s\n", what, err ? err->msg : "failed");
  exit(1);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define DAYS 1096 /* 2022-01-01 .. 2024-12-31 */
#define DAY0 18993 /* 2022-01-01 as a day number */

int main(int argc, char **argv) {
  size_t n = 10000000;
  int runs = 11;
  const char *rule = "orders >= 3 and days_since_last_order > 60 and net_revenue > 500";
  const char *csv = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--customers") && i + 1 < argc) n = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--rule") && i + 1 < argc) rule = argv[++i];
    else if (!strcmp(argv[i], "--csv") && i + 1 < argc) csv = argv[++i];
    else {
      fprintf(stderr, "usage: segment_speed [--customers N] [--runs R] [--rule RULE] [--csv PATH]\n");
      return 2;
    }
  }
  if (runs < 1) runs = 1;
  if (runs > 101) runs = 101;
  rt_error err = {0};
  double t0 = now_s();
  rt_model_builder *b;
  if (rt_model_builder_new(NULL, "USD", &b)) die("builder", NULL);
  rt__rng rng;
  char id[24];
  size_t orders = 0;
  for (size_t c = 0; c < n; c++) {
    rt__rng_seed(&rng, 42, c, 0);
    uint32_t ci;
    int len = snprintf(id, sizeof id, "c%zu", c);
    if (rt_model_builder_customer(b, id, (size_t)len, (int64_t)c + 1, &ci)) die("customer", NULL);
    double day = rt__rng_unif(&rng) * DAYS;        /* acquisition */
    double rate = rt__rng_gamma(&rng, 0.8, 1.0 / 60); /* orders per day while alive */
    double drop = rt__rng_beta(&rng, 1.2, 4);      /* chance to drop out after each order */
    double spend = exp(3.8 + 0.7 * rt__rng_normal(&rng));
    for (;;) {
      int64_t ms = ((int64_t)DAY0 + (int64_t)day) * 86400000LL + 43200000LL;
      int64_t amount = (int64_t)(spend * (0.6 + 0.8 * rt__rng_unif(&rng)) * 100);
      if (rt_model_builder_order(b, ci, ms, amount, "USD")) die("order", NULL);
      orders++;
      if (rt__rng_unif(&rng) < drop) break;
      day += rt__rng_exp(&rng, 1 / rate);
      if (day >= DAYS) break;
    }
  }
  rt_model *m;
  if (rt_model_build(b, &m, &err)) die("model", &err);
  double t_model = now_s() - t0;

  rt_features_options o;
  rt_features_defaults(&o, DAY0 + DAYS);
  t0 = now_s();
  rt_features *f;
  if (rt_features_build(m, NULL, &o, &f, &err)) die("features", &err);
  double t_features = now_s() - t0;

  rt_rule_env env;
  rt_features_env(f, &env);
  uint64_t *bits = rt_calloc((n + 63) / 64 + 1, sizeof *bits);
  double times[101], compile_times[101];
  size_t members = 0;
  for (int r = 0; r < runs; r++) {
    double a = now_s();
    rt_rule *rr;
    if (rt_rule_compile(rule, &env, &rr, &err)) die("rule", &err);
    double c = now_s();
    if (rt_rule_eval(rr, bits, &err)) die("eval", &err);
    double e = now_s();
    compile_times[r] = (c - a) * 1e3;
    times[r] = (e - a) * 1e3;
    members = 0;
    for (size_t w = 0; w < (n + 63) / 64; w++) members += (size_t)__builtin_popcountll(bits[w]);
    rt_rule_free(rr);
  }
  double t_eval = median(times, runs), t_compile = median(compile_times, runs);

  if (csv) { /* the columns the default rule reads, for the SQL peers (before the updates
              * below change some customers) */
    FILE *out = fopen(csv, "w");
    if (!out) die("csv", NULL);
    const rt_column *co = rt_features_find(f, "orders"), *cd = rt_features_find(f, "days_since_last_order"),
                    *cn = rt_features_find(f, "net_revenue");
    fprintf(out, "customer_id,orders,days_since_last_order,net_revenue\n");
    for (size_t i = 0; i < n; i++) {
      fprintf(out, "%s,%.0f,", rt_model_ext_id(m, i), co->num[i]);
      if (!isnan(cd->num[i])) fprintf(out, "%.0f", cd->num[i]);
      fprintf(out, ",%.2f\n", cn->num[i]);
    }
    fclose(out);
  }
  /* one customer: does the rule hold for it? - median over blocks of random customers (before
   * any update, so it must agree with the bitmap) */
  rt_rule *rr;
  if (rt_rule_compile(rule, &env, &rr, &err)) die("rule", &err);
  double per[21];
  uint64_t st = 12345, agree = 0, matched = 0;
  for (int r = 0; r < 21; r++) {
    double a = now_s();
    for (int k = 0; k < 10000; k++) {
      st = st * 6364136223846793005ULL + 1442695040888963407ULL;
      size_t i = (size_t)(st >> 11) % (n ? n : 1);
      matched += (size_t)rt_rule_match(rr, i) == ((bits[i / 64] >> (i % 64)) & 1);
    }
    per[r] = (now_s() - a) / 10000 * 1e9;
  }
  double t_match = median(per, 21);
  /* one incoming order: the customer's rows with it appended, its features recomputed
   * (rt_features_set_customer) and the rule asked again */
  int32_t days[4096];
  int64_t amounts[4096];
  double upd[21];
  for (int r = 0; r < 21; r++) {
    double a = now_s();
    for (int k = 0; k < 10000; k++) {
      st = st * 6364136223846793005ULL + 1442695040888963407ULL;
      size_t i = (size_t)(st >> 11) % (n ? n : 1);
      size_t no = m->order_start[i + 1] - m->order_start[i];
      if (no >= 4095) no = 4094;
      memcpy(days, m->order_day + m->order_start[i], no * sizeof *days);
      memcpy(amounts, m->order_amount + m->order_start[i], no * sizeof *amounts);
      days[no] = DAY0 + DAYS;
      amounts[no] = 2500;
      rt_customer_rows rows = {days, amounts, no + 1,
                               m->refund_day + m->refund_start[i], m->refund_amount + m->refund_start[i],
                               m->refund_start[i + 1] - m->refund_start[i],
                               m->sub_first_day + m->sub_start[i], m->sub_end_day + m->sub_start[i],
                               m->sub_start[i + 1] - m->sub_start[i]};
      if (rt_features_set_customer(f, i, &rows)) die("set_customer", NULL);
      agree += (size_t)rt_rule_match(rr, i);
    }
    upd[r] = (now_s() - a) / 10000 * 1e9;
  }
  rt_rule_free(rr);
  double t_update = median(upd, 21);

  printf("{\"customers\": %zu, \"orders\": %zu, \"model_s\": %.2f, \"features_s\": %.2f, "
         "\"rule\": \"%s\", \"members\": %zu, \"compile_ms\": %.3f, \"eval_ms\": %.2f, "
         "\"match_ns\": %.1f, \"match_agrees\": %s, \"update_ns\": %.1f}\n",
         n, orders, t_model, t_features, rule, members, t_compile, t_eval, t_match,
         matched == 21 * 10000 ? "true" : "false", t_update + 0 * (double)agree);
  rt_free(bits);
  rt_features_free(f);
  rt_model_free(m);
  return 0;
}
