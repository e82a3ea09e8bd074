/* analytics_speed.c - how long the cohort matrix and the retention report take on a large
 * model: ~2M synthetic customers and ~6M orders over three years (random but deterministic),
 * built with the model builder, then rt_cohort_compute (both modes) and rt_report_compute (all
 * periods) by month, week and day. Prints the best and median of several runs in ms.
 *
 *   cmake --build build --target bench && build/bench/analytics_speed [customers] [runs] */
#include <retain/cohort.h>
#include <retain/metrics.h>
#include <retain/model.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double urand(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void die(const char *what, int rc, const rt_error *err) {
  fprintf(stderr, "%s failed (%d): %s\n", what, rc, err ? err->msg : "");
  exit(1);
}

/* Runs one computation `runs` times; prints best and median. */
#define TIME(label, runs, body)                                                                \
  do {                                                                                         \
    double t_[64];                                                                             \
    for (int r_ = 0; r_ < (runs); r_++) {                                                      \
      double t0_ = now_ms();                                                                   \
      body;                                                                                    \
      t_[r_] = now_ms() - t0_;                                                                 \
    }                                                                                          \
    qsort(t_, (size_t)(runs), sizeof t_[0], cmp_double);                                       \
    printf("%-34s best %8.2f ms   median %8.2f ms\n", label, t_[0], t_[(runs) / 2]);           \
  } while (0)

int main(int argc, char **argv) {
  long ncust = argc > 1 ? atol(argv[1]) : 2000000;
  int runs = argc > 2 ? atoi(argv[2]) : 7;
  if (runs < 1 || runs > 64)
    runs = 7;
  rt_error err = {0};
  rt_model_builder *b;
  int rc = rt_model_builder_new(NULL, "USD", &b);
  if (rc)
    die("builder", rc, NULL);
  const int64_t day0 = rt_days_from_civil(2022, 1, 1), ndays = 3 * 365;
  double t0 = now_ms();
  for (long i = 0; i < ncust; i++) {
    char id[24];
    int len = snprintf(id, sizeof id, "c%ld", i);
    uint32_t ix;
    if ((rc = rt_model_builder_customer(b, id, (size_t)len, 0, &ix)))
      die("customer", rc, NULL);
    int64_t day = day0 + (int64_t)(urand() * (double)ndays);
    /* 1 + a geometric number of repeat orders (fewer once past the data end): ~3 */
    int n = 1;
    while (urand() < 0.72 && n < 200)
      n++;
    for (int k = 0; k < n && day < day0 + ndays; k++) {
      int64_t ms = day * 86400000LL + (int64_t)(urand() * 86400000.0);
      if ((rc = rt_model_builder_order(b, ix, ms, 500 + (int64_t)(rnd() % 20000), "USD")))
        die("order", rc, NULL);
      if (rnd() % 50 == 0 &&
          (rc = rt_model_builder_refund(b, ix, ms + 86400000LL * 3, 300, "USD")))
        die("refund", rc, NULL);
      day += 1 + (int64_t)(-60.0 * __builtin_log(1.0 - urand()));
    }
    if (rnd() % 20 == 0) {
      int64_t s = (day0 + (int64_t)(urand() * (double)ndays)) * 86400000LL;
      int64_t e = rnd() % 2 ? s + (int64_t)(rnd() % 400) * 86400000LL : 0;
      if ((rc = rt_model_builder_subscription(b, ix, s, e, 999, "USD")))
        die("subscription", rc, NULL);
    }
  }
  rt_model *m;
  if ((rc = rt_model_build(b, &m, &err)))
    die("build", rc, &err);
  printf("model: %zu customers, %zu orders, %zu refunds, %zu subscriptions (built in %.0f ms)\n",
         m->ncustomers, m->norders, m->nrefunds, m->nsubs, now_ms() - t0);

  static const struct {
    rt_period_unit u;
    const char *name;
  } units[] = {{RT_PERIOD_MONTH, "month"}, {RT_PERIOD_WEEK, "week"}, {RT_PERIOD_DAY, "day"}};
  for (size_t ui = 0; ui < sizeof units / sizeof units[0]; ui++) {
    char label[64];
    for (int mode = 0; mode < 2; mode++) {
      rt_cohort_opts co;
      rt_cohort_opts_init(&co);
      co.unit = units[ui].u;
      co.mode = mode ? RT_COHORT_ON_OR_AFTER : RT_COHORT_ON;
      snprintf(label, sizeof label, "cohorts %s %s", units[ui].name, mode ? "on-or-after" : "on");
      TIME(label, runs, {
        rt_cohort_table *t;
        if ((rc = rt_cohort_compute(m, &co, &t, &err)))
          die("cohorts", rc, &err);
        rt_cohort_table_free(t);
      });
    }
    rt_report_opts ro;
    rt_report_opts_init(&ro);
    ro.unit = units[ui].u;
    ro.from_period = rt_period_of_day(ro.unit, m->min_day); /* every period */
    snprintf(label, sizeof label, "report %s (all periods)", units[ui].name);
    TIME(label, runs, {
      rt_report *r;
      if ((rc = rt_report_compute(m, &ro, &r, &err)))
        die("report", rc, &err);
      rt_report_free(r);
    });
  }
  rt_model_free(m);
  return 0;
}
