/* test_model.c - the columnar customer model: grouping, time order, currencies, derived
 * columns, and loading from a real SQLite store. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "internal.h"
#include <retain/alloc.h>
#include <retain/model.h>
#include <retain/rates.h>
#include <retain/store.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define DAY(y, m, d) rt_days_from_civil(y, m, d)
#define MS(y, m, d) (DAY(y, m, d) * RT_MS_PER_DAY + 12 * 3600000LL)

static void test_currency_exponent(void **state) {
  (void)state;
  assert_int_equal(rt_currency_exponent("USD"), 2);
  assert_int_equal(rt_currency_exponent("GBP"), 2);
  assert_int_equal(rt_currency_exponent("JPY"), 0);
  assert_int_equal(rt_currency_exponent("XPF"), 0);
  assert_int_equal(rt_currency_exponent("KWD"), 3);
  assert_int_equal(rt_currency_exponent("TND"), 3);
  assert_int_equal(rt_currency_exponent("CLF"), 4);
  assert_int_equal(rt_currency_exponent("JP"), 2);
  assert_int_equal(rt_currency_exponent("JPYX"), 2);
  assert_int_equal(rt_currency_exponent(NULL), 2);
}

/* Enough rows for the two-thread grouping, customers in random order, times shuffled with
 * many ties, a second currency mixed in: every customer's slice holds exactly its rows, in
 * time order, ties in arrival order (the amount records the arrival number). */
static void test_group_many_rows(void **state) {
  (void)state;
  enum { NC = 70000, NR = 700000 };
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(NULL, "USD", &b), 0);
  char key[16];
  for (int i = 0; i < NC; i++) {
    uint32_t ix;
    int n = snprintf(key, sizeof key, "k%d", i);
    assert_int_equal(rt_model_builder_customer(b, key, (size_t)n, 0, &ix), 0);
    assert_int_equal(ix, (uint32_t)i);
  }
  int64_t *count = calloc(NC, sizeof *count), *sum = calloc(NC, sizeof *sum);
  uint32_t x = 7;
  int64_t other = 0;
  for (int64_t r = 0; r < NR; r++) {
    x = x * 1664525u + 1013904223u;
    uint32_t c = r % 50 == 0 ? 0 : (x >> 8) % NC; /* customer 0: a long slice, sorted apart */
    x = x * 1664525u + 1013904223u;
    int64_t ms = (int64_t)((x >> 8) % 40) * 86400000; /* 40 distinct days: many ties */
    if (r % 97 == 0) {
      assert_int_equal(rt_model_builder_order(b, c, ms, r + 1, "EUR"), 0);
      other++;
      continue;
    }
    assert_int_equal(rt_model_builder_order(b, c, ms, r + 1, "USD"), 0);
    count[c]++;
    sum[c] += r + 1;
  }
  rt_model *m;
  rt_error err;
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  assert_int_equal(m->norders, NR - other);
  assert_int_equal(m->other_currency_rows, other);
  assert_int_equal(m->order_start[0], 0);
  assert_int_equal(m->order_start[NC], NR - other);
  for (int c = 0; c < NC; c++) {
    uint32_t lo = m->order_start[c], hi = m->order_start[c + 1];
    assert_int_equal(hi - lo, count[c]);
    int64_t s = 0;
    for (uint32_t j = lo; j < hi; j++) {
      s += m->order_amount[j];
      if (j > lo) {
        assert_true(m->order_ms[j - 1] <= m->order_ms[j]);
        if (m->order_ms[j - 1] == m->order_ms[j])
          assert_true(m->order_amount[j - 1] < m->order_amount[j]);
      }
    }
    assert_int_equal(s, sum[c]);
  }
  free(count);
  free(sum);
  rt_model_free(m);
}

/* Row sets handed over by the file reader join rows added one by one: orders and refunds told
 * apart by sign, customers through a map, currencies by packed code, grouped with the rest. */
static void test_row_sets(void **state) {
  (void)state;
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(NULL, "USD", &b), 0);
  uint32_t a, c;
  assert_int_equal(rt_model_builder_customer(b, "a", 1, 0, &a), 0);
  assert_int_equal(rt_model_builder_customer(b, "c", 1, 0, &c), 0);
  assert_int_equal(rt_model_builder_order(b, a, MS(2024, 2, 1), 100, "USD"), 0);
  const uint32_t usd = 'U' << 16 | 'S' << 8 | 'D', eur = 'E' << 16 | 'U' << 8 | 'R';
  rt__rowset set = {.from = 1, .n = 5};
  set.cust = rt_malloc(5 * sizeof *set.cust);
  set.map = rt_malloc(2 * sizeof *set.map);
  set.ms = rt_malloc(5 * sizeof *set.ms);
  set.amount = rt_malloc(5 * sizeof *set.amount);
  set.cur = rt_malloc(5 * sizeof *set.cur);
  set.map[0] = c; /* the set's customer 0 is c, 1 is a */
  set.map[1] = a;
  const uint32_t cu[5] = {0, 1, 0, 1, 0};
  const int64_t ms[5] = {MS(2024, 1, 9), MS(2024, 1, 1), MS(2024, 3, 1), MS(2024, 1, 20),
                         MS(2024, 1, 5)};
  const int64_t am[5] = {999, 250, -40, 70, 30}; /* row 0 is before `from`: not the set's */
  const uint32_t cc[5] = {usd, usd, usd, eur, usd};
  for (int i = 0; i < 5; i++) {
    set.cust[i] = cu[i];
    set.ms[i] = ms[i];
    set.amount[i] = am[i];
    set.cur[i] = cc[i];
  }
  assert_int_equal(rt__model_builder_take(b, &set, 1), 0);
  assert_null(set.cust); /* taken */
  rt_model *m;
  rt_error err;
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  /* a: 250 on Jan 1 (set) then 100 on Feb 1 (added one by one); the EUR order is left out */
  assert_int_equal(m->order_start[a + 1] - m->order_start[a], 2);
  assert_int_equal(m->order_amount[m->order_start[a]], 250);
  assert_int_equal(m->order_amount[m->order_start[a] + 1], 100);
  assert_int_equal(m->other_currency_rows, 1);
  /* c: one order of 30 on Jan 5 and a refund of 40 on Mar 1 */
  assert_int_equal(m->order_start[c + 1] - m->order_start[c], 1);
  assert_int_equal(m->order_amount[m->order_start[c]], 30);
  assert_int_equal(m->nrefunds, 1);
  assert_int_equal(m->refund_start[c + 1] - m->refund_start[c], 1);
  assert_int_equal(m->refund_amount[m->refund_start[c]], 40);
  assert_int_equal(m->refund_day[m->refund_start[c]], DAY(2024, 3, 1));
  rt_model_free(m);

  /* a customer the builder does not have is refused, and the set is freed */
  assert_int_equal(rt_model_builder_new(NULL, "USD", &b), 0);
  rt__rowset bad = {.from = 0, .n = 1};
  bad.cust = rt_malloc(sizeof *bad.cust);
  bad.ms = rt_malloc(sizeof *bad.ms);
  bad.amount = rt_malloc(sizeof *bad.amount);
  bad.cur = rt_malloc(sizeof *bad.cur);
  bad.cust[0] = 7;
  bad.ms[0] = MS(2024, 1, 1);
  bad.amount[0] = 1;
  bad.cur[0] = usd;
  assert_int_equal(rt__model_builder_take(b, &bad, 1), RT_EINVAL);
  assert_null(bad.cust);
  rt_model_builder_free(b);
}

static void test_group_and_sort(void **state) {
  (void)state;
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(NULL, NULL, &b), 0);
  uint32_t a, c, z;
  assert_int_equal(rt_model_builder_customer(b, "alice", 5, 0, &a), 0);
  assert_int_equal(rt_model_builder_customer(b, "carol", 5, 0, &c), 0);
  assert_int_equal(rt_model_builder_customer(b, "zed", 3, 0, &z), 0); /* no orders */
  uint32_t again;
  assert_int_equal(rt_model_builder_customer(b, "alice", 5, 0, &again), 0);
  assert_int_equal(again, a);
  /* carol's orders arrive out of time order, alice's interleaved */
  assert_int_equal(rt_model_builder_order(b, c, MS(2024, 3, 5), 500, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, a, MS(2024, 1, 1), 1000, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, c, MS(2024, 1, 2), 700, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, a, MS(2024, 2, 1), 2000, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, c, MS(2024, 2, 9), 300, "EUR"), 0);
  assert_int_equal(rt_model_builder_refund(b, a, MS(2024, 2, 3), 250, "USD"), 0);
  assert_int_equal(rt_model_builder_subscription(b, z, MS(2024, 1, 10), MS(2024, 4, 10), 999, "USD"),
                   0);
  assert_int_equal(rt_model_builder_order(b, 99, MS(2024, 1, 1), 1, "USD"), RT_EINVAL);
  rt_model *m;
  rt_error err;
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  assert_int_equal(m->ncustomers, 3);
  assert_string_equal(m->currency, "USD"); /* the most frequent */
  assert_int_equal(m->currency_exp, 2);
  assert_int_equal(m->norders, 4);
  assert_int_equal(m->other_currency_rows, 1);
  assert_string_equal(rt_model_ext_id(m, c), "carol");
  /* alice: two orders in time order */
  assert_int_equal(m->order_start[a + 1] - m->order_start[a], 2);
  assert_int_equal(m->order_day[m->order_start[a]], DAY(2024, 1, 1));
  assert_int_equal(m->order_amount[m->order_start[a] + 1], 2000);
  /* carol: sorted although added backwards */
  uint32_t s = m->order_start[c];
  assert_int_equal(m->order_day[s], DAY(2024, 1, 2));
  assert_int_equal(m->order_day[s + 1], DAY(2024, 3, 5));
  assert_int_equal(m->first_order_day[c], DAY(2024, 1, 2));
  assert_int_equal(m->last_order_day[c], DAY(2024, 3, 5));
  assert_int_equal(m->revenue[a], 3000);
  assert_int_equal(m->revenue[c], 1200);
  assert_int_equal(m->refunded[a], 250);
  assert_int_equal(m->first_order_day[z], INT32_MAX);
  assert_int_equal(m->last_order_day[z], INT32_MIN);
  assert_int_equal(m->nsubs, 1);
  assert_int_equal(m->sub_first_day[m->sub_start[z]], DAY(2024, 1, 10));
  assert_int_equal(m->sub_end_day[m->sub_start[z]], DAY(2024, 4, 10));
  assert_int_equal(m->min_day, DAY(2024, 1, 1));
  assert_int_equal(m->max_day, DAY(2024, 4, 10));
  rt_model_free(m);
}

static void test_explicit_currency_and_long_slice(void **state) {
  (void)state;
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(NULL, "EUR", &b), 0);
  uint32_t x;
  assert_int_equal(rt_model_builder_customer(b, "x", 1, 0, &x), 0);
  /* 500 orders in reverse time order: the long-slice sort path */
  for (int i = 499; i >= 0; i--)
    assert_int_equal(rt_model_builder_order(b, x, MS(2020, 1, 1) + i * RT_MS_PER_DAY, i, "EUR"), 0);
  assert_int_equal(rt_model_builder_order(b, x, MS(2020, 1, 1), 5, "USD"), 0);
  rt_model *m;
  assert_int_equal(rt_model_build(b, &m, NULL), 0);
  assert_string_equal(m->currency, "EUR");
  assert_int_equal(m->norders, 500);
  for (int i = 0; i < 500; i++)
    assert_int_equal(m->order_amount[i], i);
  assert_int_equal(m->other_currency_rows, 1);
  rt_model_free(m);
}

static void test_timezone_days(void **state) {
  (void)state;
  rt_tz *tz;
  assert_int_equal(rt_tz_load("+10:00", &tz, NULL), 0);
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(tz, NULL, &b), 0);
  uint32_t x;
  assert_int_equal(rt_model_builder_customer(b, "x", 1, 0, &x), 0);
  /* 2024-01-01 20:00 UTC is already 2024-01-02 in UTC+10 */
  assert_int_equal(rt_model_builder_order(b, x, DAY(2024, 1, 1) * RT_MS_PER_DAY + 20 * 3600000LL, 1, NULL), 0);
  rt_model *m;
  assert_int_equal(rt_model_build(b, &m, NULL), 0);
  assert_int_equal(m->order_day[0], DAY(2024, 1, 2));
  rt_model_free(m);
  rt_tz_free(tz);
}

static void test_empty(void **state) {
  (void)state;
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(NULL, NULL, &b), 0);
  rt_model *m;
  assert_int_equal(rt_model_build(b, &m, NULL), 0);
  assert_int_equal(m->ncustomers, 0);
  assert_int_equal(m->norders, 0);
  assert_true(m->min_day > m->max_day);
  rt_model_free(m);
  rt_model_builder_free(NULL);
  rt_model_free(NULL);
}


/* A snapshot maps back to the same columns; another data version, zone or currency, or a
 * damaged file, is refused so the caller rebuilds. */
static void test_snapshot_round_trip(void **state) {
  (void)state;
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(NULL, NULL, &b), 0);
  char id[16];
  for (int i = 0; i < 300; i++) {
    uint32_t c;
    int n = snprintf(id, sizeof id, "c%d", i);
    assert_int_equal(rt_model_builder_customer(b, id, (size_t)n, i + 1, &c), 0);
    for (int k = 0; k <= i % 4; k++)
      assert_int_equal(rt_model_builder_order(b, c, MS(2024, 1 + k, 1 + i % 28), 100 * i + k, "EUR"), 0);
    if (i % 7 == 0) assert_int_equal(rt_model_builder_refund(b, c, MS(2024, 6, 1), 50, "EUR"), 0);
    if (i % 11 == 1) /* pays back the first order in full: cancels it */
      assert_int_equal(rt_model_builder_refund(b, c, MS(2024, 7, 1), 100 * i, "EUR"), 0);
    if (i % 5 == 0)
      assert_int_equal(rt_model_builder_subscription(b, c, MS(2024, 2, 1), 0, 999, "EUR"), 0);
  }
  rt_model *m, *s;
  rt_error err = {0};
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  m->data_version = 42;
  char path[] = "/tmp/rt-snap-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(rt_model_snapshot_write(m, path, &err), 0);
  assert_int_equal(rt_model_snapshot_open(path, 42, NULL, "EUR", &s, &err), 0);
  assert_int_equal(s->ncustomers, m->ncustomers);
  assert_int_equal(s->norders, m->norders);
  assert_int_equal(s->nrefunds, m->nrefunds);
  assert_int_equal(s->nsubs, m->nsubs);
  assert_string_equal(s->currency, "EUR");
  assert_int_equal(s->min_day, m->min_day);
  assert_int_equal(s->max_day, m->max_day);
  assert_memory_equal(s->order_day, m->order_day, m->norders * sizeof *m->order_day);
  assert_memory_equal(s->order_amount, m->order_amount, m->norders * sizeof *m->order_amount);
  assert_memory_equal(s->order_start, m->order_start, (m->ncustomers + 1) * sizeof *m->order_start);
  assert_memory_equal(s->refund_amount, m->refund_amount, m->nrefunds * sizeof *m->refund_amount);
  assert_memory_equal(s->sub_end_day, m->sub_end_day, m->nsubs * sizeof *m->sub_end_day);
  assert_memory_equal(s->revenue, m->revenue, m->ncustomers * sizeof *m->revenue);
  assert_string_equal(rt_model_ext_id(s, 299), rt_model_ext_id(m, 299));
  assert_int_equal(s->store_id[7], m->store_id[7]);
  assert_int_equal(m->ncancelled, 28); /* i = 1, 12, ..., 298 */
  assert_int_equal(s->ncancelled, m->ncancelled);
  assert_int_equal(s->as_of, m->max_day);
  assert_memory_equal(s->cancel_start, m->cancel_start, (m->ncustomers + 1) * sizeof *m->cancel_start);
  assert_memory_equal(s->cancel_at, m->cancel_at, m->ncancelled * sizeof *m->cancel_at);
  assert_memory_equal(s->cancel_amount, m->cancel_amount, m->ncancelled * sizeof *m->cancel_amount);
  assert_memory_equal(s->cancel_ms, m->cancel_ms, m->ncancelled * sizeof *m->cancel_ms);
  rt_model_free(s);
  /* stale: another data version, another currency */
  assert_int_equal(rt_model_snapshot_open(path, 43, NULL, "EUR", &s, &err), RT_ENOTFOUND);
  assert_null(s);
  assert_int_equal(rt_model_snapshot_open(path, 42, NULL, "USD", &s, &err), RT_ENOTFOUND);
  /* damaged: truncated */
  assert_int_equal(truncate(path, 200), 0);
  assert_int_equal(rt_model_snapshot_open(path, 42, NULL, "EUR", &s, &err), RT_ENOTFOUND);
  unlink(path);
  assert_int_equal(rt_model_snapshot_open(path, 42, NULL, "EUR", &s, &err), RT_ENOTFOUND);
  rt_model_free(m);
}

/* A new store in a new directory made from the template dir (XXXXXX replaced). */
static rt_store *temp_store(char *dir) {
  assert_non_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/t.db", dir);
  rt_store_config cfg = {.path = path};
  rt_store *st;
  rt_error err;
  assert_int_equal(rt_store_open(&cfg, &st, &err), 0);
  return st;
}

static void remove_dir(const char *dir) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

static void test_load_from_store(void **state) {
  (void)state;
  char dir[] = "/tmp/rt_test_model_XXXXXX";
  rt_store *st = temp_store(dir);
  rt_error err;
  assert_int_equal(rt_store_begin(st, &err), 0);
  int64_t c1, c2;
  int created;
  assert_int_equal(rt_store_customer_upsert(st, "c1", 2, MS(2023, 5, 1), &c1, &created, &err), 0);
  assert_int_equal(rt_store_customer_upsert(st, "c2", 2, MS(2023, 5, 2), &c2, &created, &err), 0);
  int status;
  rt_order_rec o = {.customer = c1, .ext_id = "o1", .ts_ms = MS(2023, 5, 1), .amount = 1500,
                    .currency = "USD"};
  assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), 0);
  o = (rt_order_rec){.customer = c2, .ext_id = "o2", .ts_ms = MS(2023, 6, 1), .amount = 100,
                     .currency = "USD"};
  assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), 0);
  o = (rt_order_rec){.customer = c1, .ext_id = "o3", .ts_ms = MS(2023, 4, 1), .amount = 700,
                     .currency = "USD"};
  assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), 0);
  rt_refund_rec r = {.customer = c2, .ext_id = "r1", .ts_ms = MS(2023, 6, 3), .amount = 40,
                     .currency = "USD"};
  assert_int_equal(rt_store_refund_put(st, &r, &status, &err), 0);
  rt_subscription_rec s = {.customer = c2, .ext_id = "s1", .plan = "basic",
                           .started_ms = MS(2023, 5, 2), .amount = 999, .currency = "USD",
                           .interval = "month"};
  assert_int_equal(rt_store_subscription_put(st, &s, &status, &err), 0);
  assert_int_equal(rt_store_commit(st, &err), 0);

  rt_model *m;
  assert_int_equal(rt_model_load(st, NULL, NULL, &m, &err), 0);
  assert_int_equal(m->ncustomers, 2);
  assert_int_equal(m->norders, 3);
  assert_int_equal(m->nrefunds, 1);
  assert_int_equal(m->nsubs, 1);
  assert_true(m->data_version >= 0);
  for (size_t i = 0; i < m->ncustomers; i++) {
    if (m->store_id[i] == c1) {
      assert_string_equal(rt_model_ext_id(m, i), "c1");
      assert_int_equal(m->created_day[i], DAY(2023, 5, 1)); /* the store's created_ms */
      assert_int_equal(m->revenue[i], 2200);
      assert_int_equal(m->first_order_day[i], DAY(2023, 4, 1));
    } else {
      assert_int_equal(m->store_id[i], c2);
      assert_int_equal(m->refunded[i], 40);
      assert_int_equal(m->sub_end_day[m->sub_start[i]], INT32_MAX);
    }
  }
  rt_model_free(m);
  rt_store_close(st);
  remove_dir(dir);
}

/* A subset keeps the chosen customers in order with all their rows and the parent's data
 * range; rt_model_index_of finds a customer by store id. */
static void test_subset(void **state) {
  (void)state;
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(NULL, "USD", &b), 0);
  uint32_t c[4];
  const char *ids[] = {"w", "x", "y", "z"};
  for (int k = 0; k < 4; k++)
    assert_int_equal(rt_model_builder_customer(b, ids[k], 1, 10 * (k + 1), &c[k]), 0);
  for (int k = 0; k < 4; k++)
    for (int o = 0; o <= k; o++)
      assert_int_equal(rt_model_builder_order(b, c[k], (int64_t)(100 + 10 * k + o) * 86400000,
                                              100 * (k + 1), "USD"), 0);
  assert_int_equal(rt_model_builder_refund(b, c[2], 200LL * 86400000, 50, "USD"), 0);
  assert_int_equal(rt_model_builder_subscription(b, c[3], 90LL * 86400000, 0, 900, "USD"), 0);
  rt_model *m, *s;
  rt_error err = {0};
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  assert_int_equal(rt_model_index_of(m, 30), 2);
  assert_int_equal(rt_model_index_of(m, 10), 0);
  assert_true(rt_model_index_of(m, 25) == SIZE_MAX);
  assert_true(rt_model_index_of(m, 99) == SIZE_MAX);
  uint64_t bits[1] = {(1u << 1) | (1u << 2)}; /* x and y */
  assert_int_equal(rt_model_subset(m, bits, &s, &err), 0);
  rt_model_free(m); /* the subset owns its rows */
  assert_int_equal(s->ncustomers, 2);
  assert_string_equal(rt_model_ext_id(s, 0), "x");
  assert_string_equal(rt_model_ext_id(s, 1), "y");
  assert_true(s->store_id[1] == 30);
  assert_int_equal(s->norders, 5);
  assert_int_equal(s->order_start[1], 2);
  assert_int_equal(s->order_day[2], 120);
  assert_true(s->revenue[1] == 900);
  assert_int_equal(s->nrefunds, 1);
  assert_int_equal(s->refund_start[1], 0);
  assert_int_equal(s->nsubs, 0);
  assert_int_equal(s->min_day, 90); /* the parent's range, z's subscription included */
  assert_int_equal(s->max_day, 200);
  rt_model_free(s);
}

/* ---- purchases and cancellations ---- */

/* One customer's purchases (amount@day, ascending) as text, for compact checks. */
static void purchases_of(const rt_model *m, size_t i, char *buf, size_t n) {
  size_t len = 0;
  buf[0] = 0;
  for (uint32_t k = m->order_start[i]; k < m->order_start[i + 1]; k++)
    len += (size_t)snprintf(buf + len, n - len, "%s%lld@%d", len ? " " : "",
                            (long long)m->order_amount[k], (int)(m->order_day[k] - DAY(2024, 1, 1)));
}

static void cancelled_of(const rt_model *m, size_t i, char *buf, size_t n) {
  size_t len = 0;
  buf[0] = 0;
  for (uint32_t k = rt_model_cancel_lo(m, i); k < rt_model_cancel_hi(m, i); k++)
    len += (size_t)snprintf(buf + len, n - len, "%s%lld@%d/%d", len ? " " : "",
                            (long long)m->cancel_amount[k], (int)(m->cancel_day[k] - DAY(2024, 1, 1)),
                            (int)(m->cancel_at[k] - DAY(2024, 1, 1)));
}

static void refunds_of(const rt_model *m, size_t i, char *buf, size_t n) {
  size_t len = 0;
  buf[0] = 0;
  for (uint32_t k = m->refund_start[i]; k < m->refund_start[i + 1]; k++)
    len += (size_t)snprintf(buf + len, n - len, "%s%lld@%d", len ? " " : "",
                            (long long)m->refund_amount[k], (int)(m->refund_day[k] - DAY(2024, 1, 1)));
}

#define D(k) (MS(2024, 1, 1) + (int64_t)(k) * RT_MS_PER_DAY) /* noon of day k of 2024 */

/* The model of the customers used by the cancellation tests (days counted from 2024-01-01). */
static rt_model *cancel_fixture(void) {
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(NULL, "USD", &b), 0);
  uint32_t c[8];
  const char *ids = "abcdefgh";
  for (int k = 0; k < 8; k++)
    assert_int_equal(rt_model_builder_customer(b, ids + k, 1, k + 1, &c[k]), 0);
  /* a: a refund equal to the day-5 order cancels it; a smaller one stays a partial refund */
  assert_int_equal(rt_model_builder_order(b, c[0], D(1), 10000, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, c[0], D(5), 5000, "USD"), 0);
  assert_int_equal(rt_model_builder_refund(b, c[0], D(6), 5000, "USD"), 0);
  assert_int_equal(rt_model_builder_refund(b, c[0], D(7), 3000, "USD"), 0);
  /* b: two orders of 20; each refund takes the latest one on or before its day not taken */
  assert_int_equal(rt_model_builder_order(b, c[1], D(1), 2000, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, c[1], D(3), 2000, "USD"), 0);
  assert_int_equal(rt_model_builder_refund(b, c[1], D(2), 2000, "USD"), 0);
  assert_int_equal(rt_model_builder_refund(b, c[1], D(4), 2000, "USD"), 0);
  /* c: a refund naming the older of two equal orders cancels that one */
  assert_int_equal(rt_model_builder_order(b, c[2], D(1), 4000, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, c[2], D(2), 4000, "USD"), 0);
  assert_int_equal(rt_model_builder_refund_of(b, c[2], D(3), 4000, "USD", D(1)), 0);
  /* d: a refund naming an order it does not cover is partial, even with an order its size */
  assert_int_equal(rt_model_builder_order(b, c[3], D(1), 10000, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, c[3], D(2), 6000, "USD"), 0);
  assert_int_equal(rt_model_builder_refund_of(b, c[3], D(3), 6000, "USD", D(1)), 0);
  /* e: a refund naming an order and paying back more: cancelled, the rest a refund */
  assert_int_equal(rt_model_builder_order(b, c[4], D(1), 5000, "USD"), 0);
  assert_int_equal(rt_model_builder_refund_of(b, c[4], D(2), 7000, "USD", D(1)), 0);
  /* f: a refund before the order of its amount cancels nothing */
  assert_int_equal(rt_model_builder_refund(b, c[5], D(1), 1000, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, c[5], D(2), 1000, "USD"), 0);
  /* g: the refund is in another currency than the order of its amount */
  assert_int_equal(rt_model_builder_order(b, c[6], D(1), 1000, "USD"), 0);
  assert_int_equal(rt_model_builder_refund(b, c[6], D(2), 1000, "EUR"), 0);
  /* h: the only order cancelled on its own day: no purchase left, not a buyer; and a
   * subscription cancelled on day 20 */
  assert_int_equal(rt_model_builder_order(b, c[7], D(10), 16846960, "USD"), 0);
  assert_int_equal(rt_model_builder_refund(b, c[7], D(10), 16846960, "USD"), 0);
  assert_int_equal(rt_model_builder_subscription(b, c[7], D(8), D(20), 999, "USD"), 0);
  rt_model *m;
  rt_error err = {0};
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  return m;
}

static void check_rows(const rt_model *m, size_t i, const char *p, const char *c, const char *r) {
  char buf[256];
  purchases_of(m, i, buf, sizeof buf);
  assert_string_equal(buf, p);
  cancelled_of(m, i, buf, sizeof buf);
  assert_string_equal(buf, c);
  refunds_of(m, i, buf, sizeof buf);
  assert_string_equal(buf, r);
}

static void test_cancellations(void **state) {
  (void)state;
  rt_model *m = cancel_fixture();
  check_rows(m, 0, "10000@1", "5000@5/6", "3000@7");
  check_rows(m, 1, "", "2000@1/2 2000@3/4", "");
  check_rows(m, 2, "4000@2", "4000@1/3", "");
  check_rows(m, 3, "10000@1 6000@2", "", "6000@3");
  check_rows(m, 4, "", "5000@1/2", "2000@2");
  check_rows(m, 5, "1000@2", "", "1000@1");
  check_rows(m, 6, "1000@1", "", "");
  check_rows(m, 7, "", "16846960@10/10", "");
  assert_int_equal(m->ncancelled, 6);
  assert_int_equal(m->norders, 6);
  assert_int_equal(m->nrefunds, 4);
  assert_int_equal(m->other_currency_rows, 1);
  assert_int_equal(m->nother, 1);
  assert_string_equal(m->other[0].code, "EUR");
  assert_int_equal(m->other[0].rows, 1);
  /* the derived columns count purchases only */
  assert_int_equal(m->revenue[0], 10000);
  assert_int_equal(m->refunded[0], 3000);
  assert_int_equal(m->last_order_day[0], DAY(2024, 1, 2));
  assert_int_equal(m->first_order_day[7], INT32_MAX);
  assert_int_equal(rt_model_buyers(m), 5);
  assert_int_equal(m->as_of, m->max_day);
  assert_int_equal(m->max_day, DAY(2024, 1, 21));
  /* a subset keeps its customers' cancellations */
  uint64_t bits[1] = {(1u << 1) | (1u << 7)};
  rt_model *s;
  rt_error err = {0};
  assert_int_equal(rt_model_subset(m, bits, &s, &err), 0);
  assert_int_equal(s->ncancelled, 3);
  check_rows(s, 0, "", "2000@1/2 2000@3/4", "");
  check_rows(s, 1, "", "16846960@10/10", "");
  rt_model_free(s);
  rt_model_free(m);
}

/* As of a day: what was known then. Matching the rows up to the day from scratch gives the
 * same as cutting the whole model back. */
static void test_as_of(void **state) {
  (void)state;
  rt_model *m = cancel_fixture();
  rt_error err = {0};
  /* on or after the last day: only as_of moves, the rows are the same model */
  rt_model *same = m;
  assert_int_equal(rt_model_set_as_of(&m, DAY(2024, 3, 1), RT_AS_OF_GIVEN, &err), 0);
  assert_ptr_equal(m, same);
  assert_int_equal(m->as_of, DAY(2024, 3, 1));
  /* day 3: a's day-5 order not placed yet, b's second order a purchase (it is cancelled on
   * day 4), c's first order cancelled that very day */
  assert_int_equal(rt_model_set_as_of(&m, DAY(2024, 1, 4), RT_AS_OF_GIVEN, &err), 0);
  assert_int_equal(m->as_of, DAY(2024, 1, 4));
  check_rows(m, 0, "10000@1", "", "");
  check_rows(m, 1, "2000@3", "2000@1/2", "");
  check_rows(m, 2, "4000@2", "4000@1/3", "");
  check_rows(m, 3, "10000@1 6000@2", "", "6000@3");
  check_rows(m, 4, "", "5000@1/2", "2000@2");
  check_rows(m, 7, "", "", "");
  assert_int_equal(m->nsubs, 0); /* h's subscription started on day 8: after */
  assert_int_equal(m->max_day, DAY(2024, 1, 4));
  assert_int_equal(m->min_day, DAY(2024, 1, 2));
  assert_int_equal(m->revenue[1], 2000);
  assert_int_equal(m->last_order_day[1], DAY(2024, 1, 4));
  /* earlier still: day 1 only */
  assert_int_equal(rt_model_set_as_of(&m, DAY(2024, 1, 2), RT_AS_OF_GIVEN, &err), 0);
  check_rows(m, 1, "2000@1", "", "");
  check_rows(m, 2, "4000@1", "", "");
  rt_model_free(m);
  /* a subscription cancelled after the day is live as of it */
  m = cancel_fixture();
  assert_int_equal(rt_model_set_as_of(&m, DAY(2024, 1, 15), RT_AS_OF_GIVEN, &err), 0);
  assert_int_equal(m->sub_end_day[m->sub_start[7]], INT32_MAX);
  check_rows(m, 7, "", "16846960@10/10", "");
  assert_int_equal(m->max_day, DAY(2024, 1, 11));
  rt_model_free(m);
}

/* A profile first seen after the as-of day is not there, unless it has a row by then (one a
 * merge gave it); one of unknown creation (from a file) always is. */
static void test_as_of_profiles(void **state) {
  (void)state;
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(NULL, "USD", &b), 0);
  uint32_t c[4];
  const char *ids = "pqrs";
  for (int k = 0; k < 4; k++)
    assert_int_equal(rt_model_builder_customer(b, ids + k, 1, k + 1, &c[k]), 0);
  assert_int_equal(rt_model_builder_created(b, c[0], D(1)), 0);  /* p: seen on day 1 */
  assert_int_equal(rt_model_builder_created(b, c[1], D(30)), 0); /* q: a sign-up of day 30 */
  assert_int_equal(rt_model_builder_created(b, c[2], D(30)), 0); /* r: day 30, an order of 5 */
  assert_int_equal(rt_model_builder_order(b, c[0], D(2), 100, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, c[2], D(5), 200, "USD"), 0);
  assert_int_equal(rt_model_builder_order(b, c[0], D(40), 100, "USD"), 0);
  rt_model *m;
  rt_error err = {0};
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  assert_int_equal(m->created_day[1], DAY(2024, 1, 31));
  assert_int_equal(m->created_day[3], INT32_MIN);
  /* as of day 40 (the last day with data) q exists: nothing is cut */
  rt_model *same = m;
  assert_int_equal(rt_model_set_as_of(&m, DAY(2024, 2, 10), RT_AS_OF_GIVEN, &err), 0);
  assert_ptr_equal(m, same);
  assert_int_equal(m->ncustomers, 4);
  /* as of day 10: q is not there yet; r is (its order), s is (never known) */
  assert_int_equal(rt_model_set_as_of(&m, DAY(2024, 1, 11), RT_AS_OF_GIVEN, &err), 0);
  assert_int_equal(m->ncustomers, 3);
  assert_string_equal(rt_model_ext_id(m, 0), "p");
  assert_string_equal(rt_model_ext_id(m, 1), "r");
  assert_string_equal(rt_model_ext_id(m, 2), "s");
  assert_int_equal(m->store_id[1], 3);
  assert_int_equal(rt_model_index_of(m, 2), SIZE_MAX);
  check_rows(m, 1, "200@5", "", "");
  assert_int_equal(m->norders, 2);
  rt_model_free(m);
}

static void test_default_as_of(void **state) {
  (void)state;
  rt_model *m = cancel_fixture(); /* data ends 2024-01-21 */
  rt_as_of_basis why;
  int32_t end = DAY(2024, 1, 21);
  assert_int_equal(rt_model_default_as_of(m, end + 7, &why), end + 7);
  assert_int_equal(why, RT_AS_OF_TODAY);
  assert_int_equal(rt_model_default_as_of(m, end + 8, &why), end);
  assert_int_equal(why, RT_AS_OF_DATA_END);
  assert_string_equal(rt_as_of_basis_name(why), "data end");
  assert_int_equal(rt_model_default_as_of(m, end - 100, &why), end - 100); /* data past today */
  assert_int_equal(why, RT_AS_OF_TODAY);
  rt_model_free(m);
}

/* A refund naming its order by id in the store cancels that order, not the latest of its
 * amount. */
static void test_load_named_refund(void **state) {
  (void)state;
  char dir[] = "/tmp/rt_test_model_XXXXXX";
  rt_store *st = temp_store(dir);
  rt_error err;
  assert_int_equal(rt_store_begin(st, &err), 0);
  int64_t c1;
  int created, status;
  assert_int_equal(rt_store_customer_upsert(st, "c1", 2, D(0), &c1, &created, &err), 0);
  rt_order_rec o = {.customer = c1, .ext_id = "first", .ts_ms = D(1), .amount = 900,
                    .currency = "USD"};
  assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), 0);
  o.ext_id = "second";
  o.ts_ms = D(2);
  assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), 0);
  rt_refund_rec r = {.customer = c1, .ext_id = "r1", .order_ext_id = "first", .ts_ms = D(3),
                     .amount = 900, .currency = "USD"};
  assert_int_equal(rt_store_refund_put(st, &r, &status, &err), 0);
  assert_int_equal(rt_store_commit(st, &err), 0);
  rt_model *m;
  assert_int_equal(rt_model_load(st, NULL, NULL, &m, &err), 0);
  check_rows(m, 0, "900@2", "900@1/3", "");
  rt_model_free(m);
  rt_store_close(st);
  remove_dir(dir);
}

/* Other currencies converted at their own day's rate; without a rate left out and counted; a
 * refund cancels an order of its own currency, matched before conversion. Rates per EUR:
 * from day 10, GBP 0.80 and USD 1.10; from day 20, USD 1.25 (days from 2024-01-01). */
static void test_currencies(void **state) {
  (void)state;
  rt_rates *r;
  rt_error err = {0};
  assert_int_equal(rt_rates_new(&r), 0);
  int64_t d10 = DAY(2024, 1, 11), d20 = DAY(2024, 1, 21);
  assert_int_equal(rt_rates_add(r, d10, "EUR", "GBP", 0.80, &err), 0);
  assert_int_equal(rt_rates_add(r, d10, "EUR", "USD", 1.10, &err), 0);
  assert_int_equal(rt_rates_add(r, d20, "EUR", "USD", 1.25, &err), 0);
  assert_int_equal(rt_rates_finish(r, &err), 0);
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(NULL, "GBP", &b), 0);
  rt_model_builder_set_rates(b, r);
  uint32_t a, c;
  assert_int_equal(rt_model_builder_customer(b, "a", 1, 1, &a), 0);
  assert_int_equal(rt_model_builder_customer(b, "c", 1, 2, &c), 0);
  assert_int_equal(rt_model_builder_order(b, a, D(12), 5000, "GBP"), 0);  /* 50.00 GBP */
  assert_int_equal(rt_model_builder_order(b, a, D(15), 1100, "USD"), 0);  /* 11.00 USD: 8.00 GBP */
  assert_int_equal(rt_model_builder_order(b, a, D(25), 1000, "USD"), 0);  /* 10.00 USD: 6.40 GBP */
  assert_int_equal(rt_model_builder_order(b, a, D(5), 2200, "USD"), 0);   /* before any rate */
  assert_int_equal(rt_model_builder_order(b, a, D(16), 900, "JPY"), 0);   /* no JPY rate */
  assert_int_equal(rt_model_builder_refund(b, a, D(26), 1000, "USD"), 0); /* cancels the 10.00 */
  assert_int_equal(rt_model_builder_order(b, c, D(15), 800, "GBP"), 0);   /* 8.00 GBP */
  assert_int_equal(rt_model_builder_refund(b, c, D(16), 1100, "USD"), 0); /* 11 USD: partial */
  rt_model *m;
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  rt_rates_free(r);
  assert_string_equal(m->currency, "GBP");
  check_rows(m, 0, "5000@12 800@15", "640@25/26", "");
  /* c's USD refund does not cancel its GBP order of the same converted value */
  check_rows(m, 1, "800@15", "", "800@16");
  assert_int_equal(m->other_currency_rows, 2);
  assert_int_equal(m->nother, 2);
  assert_int_equal(m->other[0].rows, 1);
  assert_int_equal(m->other[1].rows, 1);
  assert_true(!strcmp(m->other[0].code, "USD") || !strcmp(m->other[0].code, "JPY"));
  assert_int_equal(m->revenue[0], 5800);
  rt_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_currencies),
      cmocka_unit_test(test_cancellations),
      cmocka_unit_test(test_as_of),
      cmocka_unit_test(test_default_as_of),
      cmocka_unit_test(test_as_of_profiles),
      cmocka_unit_test(test_load_named_refund),
      cmocka_unit_test(test_currency_exponent),
      cmocka_unit_test(test_group_and_sort),
      cmocka_unit_test(test_row_sets),
      cmocka_unit_test(test_group_many_rows),
      cmocka_unit_test(test_explicit_currency_and_long_slice),
      cmocka_unit_test(test_timezone_days),
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_load_from_store),
      cmocka_unit_test(test_snapshot_round_trip),
      cmocka_unit_test(test_subset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
