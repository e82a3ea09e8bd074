/* test_base.c - the base helpers: errors, allocation hook, string map, number parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "internal.h"
#include <retain/alloc.h>
#include <retain/error.h>
#include <stdio.h>
#include <stdlib.h>

static void test_strerror(void **state) {
  (void)state;
  assert_string_equal(rt_strerror(RT_OK), "success");
  assert_string_equal(rt_strerror(RT_EPARSE), "invalid input");
  assert_string_equal(rt_strerror(-999), "unknown error");
  rt_error e;
  rt_error_clear(&e);
  assert_int_equal(rt_error_set(&e, RT_EIO, "x %d", 5), RT_EIO);
  assert_int_equal(e.code, RT_EIO);
  rt_error_prefix(&e, "%s: ", "f.csv");
  assert_string_equal(e.msg, "f.csv: x 5");
  assert_int_equal(rt_error_set(NULL, RT_EIO, "ignored"), RT_EIO);
}

static void test_money(void **state) {
  (void)state;
  int64_t v;
  assert_int_equal(rt__parse_money("19.99", 5, 2, &v), 0);
  assert_int_equal(v, 1999);
  assert_int_equal(rt__parse_money("-2.5", 4, 2, &v), 0);
  assert_int_equal(v, -250);
  assert_int_equal(rt__parse_money(" 12 ", 4, 2, &v), 0);
  assert_int_equal(v, 1200);
  assert_int_equal(rt__parse_money("0.125", 5, 2, &v), 0); /* half away from zero */
  assert_int_equal(v, 13);
  assert_int_equal(rt__parse_money("-0.125", 6, 2, &v), 0);
  assert_int_equal(v, -13);
  assert_int_equal(rt__parse_money("7", 1, 0, &v), 0);
  assert_int_equal(v, 7);
  assert_int_equal(rt__parse_money(".5", 2, 2, &v), 0);
  assert_int_equal(v, 50);
  assert_int_equal(rt__parse_money("1.234", 5, 3, &v), 0);
  assert_int_equal(v, 1234);
  assert_int_equal(rt__parse_money("abc", 3, 2, &v), RT_EPARSE);
  assert_int_equal(rt__parse_money("1,5", 3, 2, &v), RT_EPARSE);
  assert_int_equal(rt__parse_money("", 0, 2, &v), RT_EPARSE);
  assert_int_equal(rt__parse_money("-", 1, 2, &v), RT_EPARSE);
  assert_int_equal(rt__parse_money("99999999999999999999", 20, 2, &v), RT_ERANGE);
  double d;
  assert_int_equal(rt__parse_double("2.5", 3, &d), 0);
  assert_true(d == 2.5);
  assert_int_equal(rt__parse_double("nan", 3, &d), RT_EPARSE);
  assert_int_equal(rt__parse_double("1x", 2, &d), RT_EPARSE);
  int64_t i;
  assert_int_equal(rt__parse_i64("-42", 3, &i), 0);
  assert_int_equal(i, -42);
  assert_int_equal(rt__parse_i64("4.2", 3, &i), RT_EPARSE);
}

static void test_strmap(void **state) {
  (void)state;
  rt__strmap m;
  rt__strmap_init(&m);
  char key[32];
  for (int i = 0; i < 100000; i++) {
    uint32_t ix;
    int ins;
    int n = snprintf(key, sizeof key, "cust-%d", i);
    assert_int_equal(rt__strmap_intern(&m, key, (size_t)n, &ix, &ins), 0);
    assert_int_equal(ins, 1);
    assert_int_equal(ix, (uint32_t)i);
  }
  for (int i = 0; i < 100000; i += 7) {
    uint32_t ix;
    int ins;
    int n = snprintf(key, sizeof key, "cust-%d", i);
    assert_int_equal(rt__strmap_intern(&m, key, (size_t)n, &ix, &ins), 0);
    assert_int_equal(ins, 0);
    assert_int_equal(ix, (uint32_t)i);
    assert_string_equal(rt__strmap_key(&m, ix), key);
  }
  uint32_t ix;
  assert_int_equal(rt__strmap_find(&m, "cust-100000", 11, &ix), 0);
  assert_int_equal(rt__strmap_find(&m, "cust-5", 6, &ix), 1);
  assert_int_equal(ix, 5);
  /* a key that is a prefix of another is a different key */
  assert_int_equal(rt__strmap_find(&m, "cust-1", 5, &ix), 0);
  assert_int_equal(m.count, 100000);
  rt__strmap_free(&m);
}

/* Numbers, numbers with leading zeros, huge numbers, short and long strings, mixed and
 * revisited in a scrambled order: every key keeps its first index, and the direct array for
 * numbers and the hash table agree with a plain list of what was inserted. */
static void format_mixed_key(uint32_t r, char *key, size_t cap) {
  switch (r % 6) {
  case 0: snprintf(key, cap, "%u", r % 50000); break;            /* dense numbers */
  case 1: snprintf(key, cap, "%u", r % 3000 + 1); break;         /* more, overlapping */
  case 2: snprintf(key, cap, "0%u", r % 3000); break;            /* leading zero: a string */
  case 3: snprintf(key, cap, "%u", 900000000u + r % 5000); break; /* sparse numbers */
  case 4: snprintf(key, cap, "c%u", r % 4000); break;            /* short strings */
  default: snprintf(key, cap, "someone%u@example.com", r % 4000); break;
  }
}

static void test_strmap_numbers_and_strings(void **state) {
  (void)state;
  rt__strmap m;
  rt__strmap_init(&m);
  char key[64];
  char **seen = calloc(200000, sizeof *seen);
  uint32_t nseen = 0, x = 12345;
  for (int round = 0; round < 200000; round++) {
    x = x * 1103515245u + 12345u;
    format_mixed_key(x >> 8, key, sizeof key);
    size_t n = strlen(key);
    uint32_t ix, found;
    int ins;
    int had = rt__strmap_find(&m, key, n, &found);
    assert_int_equal(rt__strmap_intern(&m, key, n, &ix, &ins), 0);
    assert_int_equal(ins, !had);
    if (had) {
      assert_int_equal(found, ix);
      assert_string_equal(seen[ix], key);
    } else {
      assert_int_equal(ix, nseen);
      seen[nseen++] = strdup(key);
    }
  }
  assert_int_equal(m.count, nseen);
  for (uint32_t i = 0; i < nseen; i++) {
    uint32_t ix;
    assert_int_equal(rt__strmap_find(&m, seen[i], strlen(seen[i]), &ix), 1);
    assert_int_equal(ix, i);
    assert_string_equal(rt__strmap_key(&m, i), seen[i]);
    assert_int_equal(rt__strmap_len(&m, i), strlen(seen[i]));
    free(seen[i]);
  }
  uint32_t ix;
  assert_int_equal(rt__strmap_find(&m, "00", 2, &ix), 0);
  assert_int_equal(rt__strmap_find(&m, "4294967296", 10, &ix), 0);
  assert_int_equal(rt__strmap_find(&m, "", 0, &ix), 0);
  free(seen);
  rt__strmap_free(&m);
}

/* Merging map b into map a gives a what interning b's keys one by one would (new keys after
 * a's, in b's order), and each key of b its index there: with the numbers of each side in
 * direct arrays of different reach, and strings and sparse numbers hashed. */
static void fill_mixed(rt__strmap *m, uint32_t seed, int rounds, uint32_t spread) {
  char key[64];
  for (int i = 0; i < rounds; i++) {
    seed = seed * 1103515245u + 12345u;
    uint32_t r = seed >> 8;
    if (r % 6 == 0)
      snprintf(key, sizeof key, "%u", r % spread); /* dense numbers, up to spread */
    else
      format_mixed_key(r, key, sizeof key);
    uint32_t ix;
    assert_int_equal(rt__strmap_intern(m, key, strlen(key), &ix, NULL), 0);
  }
}

static void test_strmap_merge(void **state) {
  (void)state;
  const uint32_t spreads[][2] = {{50000, 50000}, {1000, 400000}, {400000, 1000}};
  for (int c = 0; c < 3; c++) {
    rt__strmap a, b, want;
    rt__strmap_init(&a);
    rt__strmap_init(&b);
    rt__strmap_init(&want);
    fill_mixed(&a, 11, 60000, spreads[c][0]);
    fill_mixed(&b, 29, 60000, spreads[c][1]);
    uint32_t ix;
    for (uint32_t i = 0; i < a.count; i++)
      assert_int_equal(rt__strmap_intern(&want, rt__strmap_key(&a, i), rt__strmap_len(&a, i),
                                         &ix, NULL), 0);
    uint32_t *map = malloc(b.count * sizeof *map);
    assert_non_null(map);
    assert_int_equal(rt__strmap_merge(&a, &b, map), 0);
    for (uint32_t i = 0; i < b.count; i++) {
      assert_int_equal(rt__strmap_intern(&want, rt__strmap_key(&b, i), rt__strmap_len(&b, i),
                                         &ix, NULL), 0);
      assert_int_equal(map[i], ix);
    }
    assert_true(want.count > b.count && want.count < a.count + b.count); /* overlapping */
    assert_int_equal(a.count, want.count);
    for (uint32_t i = 0; i < a.count; i++) {
      assert_string_equal(rt__strmap_key(&a, i), rt__strmap_key(&want, i));
      assert_int_equal(rt__strmap_find(&a, rt__strmap_key(&want, i), rt__strmap_len(&want, i),
                                       &ix), 1);
      assert_int_equal(ix, i);
    }
    free(map);
    rt__strmap_free(&a);
    rt__strmap_free(&b);
    rt__strmap_free(&want);
  }
}

/* A map filled from a bit set of numbers equals interning the numbers one by one in
 * increasing order: dense numbers (direct array) and sparse ones (hash table). */
static void test_strmap_from_numbers(void **state) {
  (void)state;
  for (int sparse = 0; sparse < 2; sparse++) {
    size_t nwords = sparse ? ((size_t)1 << 24) / 64 : 4000;
    uint64_t *bits = calloc(nwords, sizeof *bits);
    assert_non_null(bits);
    uint32_t x = 99;
    for (int i = 0; i < 30000; i++) {
      x = x * 1103515245u + 12345u;
      uint32_t v = sparse ? (x >> 4) % (uint32_t)(nwords * 64) : (x >> 8) % 100000;
      bits[v >> 6] |= UINT64_C(1) << (v & 63);
    }
    bits[0] |= 1; /* the number 0 */
    rt__strmap m, want;
    rt__strmap_init(&m);
    rt__strmap_init(&want);
    assert_int_equal(rt__strmap_from_numbers(&m, bits, nwords), 0);
    char key[16];
    uint32_t ix;
    for (size_t v = 0; v < nwords * 64; v++)
      if (bits[v >> 6] >> (v & 63) & 1) {
        snprintf(key, sizeof key, "%zu", v);
        assert_int_equal(rt__strmap_intern(&want, key, strlen(key), &ix, NULL), 0);
        assert_int_equal(rt__strmap_find(&m, key, strlen(key), &ix), 1);
        assert_int_equal(ix, want.count - 1);
        assert_string_equal(rt__strmap_key(&m, ix), key);
      }
    assert_int_equal(m.count, want.count);
    assert_int_equal(m.dense_len > 0, !sparse); /* dense numbers get the direct array */
    assert_int_equal(rt__strmap_find(&m, "00", 2, &ix), 0);
    /* more keys go on as usual */
    assert_int_equal(rt__strmap_intern(&m, "someone", 7, &ix, NULL), 0);
    assert_int_equal(ix, want.count);
    free(bits);
    rt__strmap_free(&m);
    rt__strmap_free(&want);
  }
}

static void test_alloc_fail(void **state) {
  (void)state;
  rt__strmap m;
  rt__strmap_init(&m);
  uint32_t ix;
  rt_alloc_fail_after(0);
  assert_int_equal(rt__strmap_intern(&m, "a", 1, &ix, NULL), RT_ENOMEM);
  rt_alloc_fail_after(-1);
  assert_int_equal(rt__strmap_intern(&m, "a", 1, &ix, NULL), 0);
  rt__strmap_free(&m);
  assert_null((rt_alloc_fail_after(0), rt_malloc(8)));
  rt_alloc_fail_after(-1);
  void *p = rt_malloc(8);
  assert_non_null(p);
  rt_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strerror),
      cmocka_unit_test(test_money),
      cmocka_unit_test(test_strmap),
      cmocka_unit_test(test_strmap_numbers_and_strings),
      cmocka_unit_test(test_strmap_merge),
      cmocka_unit_test(test_strmap_from_numbers),
      cmocka_unit_test(test_alloc_fail),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
