/* cohort_sizes.c - the library in a few lines: open a store, load the customer model, compute
 * the monthly cohort matrix and print each cohort's size. The README shows this program.
 *
 *   cmake --build build && build/examples/cohort_sizes [retain.db] */
#include <retain/cohort.h>
#include <retain/model.h>
#include <retain/store.h>

#include <stdio.h>

int main(int argc, char **argv) {
  rt_error err = {0};
  rt_store *st = NULL;
  rt_model *m = NULL;
  rt_cohort_table *t = NULL;
  rt_store_config cfg = {.path = argc > 1 ? argv[1] : "retain.db", .read_only = 1};
  if (rt_store_open(&cfg, &st, &err) || rt_model_load(st, NULL, NULL, &m, &err)) {
    fprintf(stderr, "cohort_sizes: %s\n", err.msg);
    rt_store_close(st);
    return 1;
  }
  rt_cohort_opts co;
  rt_cohort_opts_init(&co); /* monthly cohorts, customers ordering in each month since */
  if (rt_cohort_compute(m, &co, &t, &err)) {
    fprintf(stderr, "cohort_sizes: %s\n", err.msg);
    rt_model_free(m);
    rt_store_close(st);
    return 1;
  }
  for (size_t c = 0; c < t->ncohorts; c++) {
    char label[32];
    rt_period_label(t->unit, t->first_cohort + (int64_t)c, label, sizeof label);
    printf("%s,%lld\n", label, (long long)t->size[c]);
  }
  rt_cohort_table_free(t);
  rt_model_free(m);
  rt_store_close(st);
  return 0;
}
