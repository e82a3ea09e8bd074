/* test_base.c - the base helpers: errors, allocation hook, string map, number parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "internal.h"
#include <retain/alloc.h>
#include <retain/error.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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
  assert_int_equal(rt__parse_money("12", 2, 2, &v), 0);
  assert_int_equal(v, 1200);
  assert_int_equal(rt__parse_money("0.125", 5, 2, &v), 0); /* half away from zero */
  assert_int_equal(v, 13);
  assert_int_equal(rt__parse_money("-0.125", 6, 2, &v), 0);
  assert_int_equal(v, -13);
  assert_int_equal(rt__parse_money("7", 1, 0, &v), 0);
  assert_int_equal(v, 7);
  assert_int_equal(rt__parse_money("0.5", 3, 2, &v), 0);
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

/* Amounts are plain decimal numbers: what strtod would also take is refused (issue 13). */
static void test_money_strict(void **state) {
  (void)state;
  static const char *const bad[] = {"0x1p4", " 5", "5 ", "\t5", "inf", "-inf", "nan", "1e3",
                                    "1E3", ".5", "5.", "-.5", "+", "1 000", "--5", "5-"};
  int64_t v = 77;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(rt__parse_money(bad[i], strlen(bad[i]), 2, &v), RT_EPARSE);
    assert_int_equal(v, 77);
  }
  assert_int_equal(rt__parse_money("+5", 2, 2, &v), 0);
  assert_int_equal(v, 500);
  /* the bound: 9e15 minor units either way, and no further */
  assert_int_equal(rt__parse_money("90000000000000.00", 17, 2, &v), 0);
  assert_true(v == RT__MONEY_MAX);
  assert_int_equal(rt__parse_money("-90000000000000", 15, 2, &v), 0);
  assert_true(v == -RT__MONEY_MAX);
  assert_int_equal(rt__parse_money("90000000000000.01", 17, 2, &v), RT_ERANGE);
  assert_int_equal(rt__parse_money("9000000000000001", 16, 0, &v), RT_ERANGE);
  /* products and sums of money never wrap around */
  int64_t p;
  assert_int_equal(rt__money_mul(3, 250, &p), 0);
  assert_true(p == 750);
  assert_int_equal(rt__money_mul(1000000, RT__MONEY_MAX, &p), RT_ERANGE);
  assert_int_equal(rt__money_mul(INT64_MAX, 2, &p), RT_ERANGE);
  assert_int_equal(rt__money_mul(-1000000, 9000000000, &p), 0);
  assert_true(p == -RT__MONEY_MAX);
  int64_t sum = RT__MONEY_MAX - 1;
  assert_int_equal(rt__money_add(&sum, 1), 0);
  assert_int_equal(rt__money_add(&sum, 1), RT_ERANGE);
  assert_true(sum == RT__MONEY_MAX);
  assert_int_equal(rt__money_from_double(19.99, 2, &p), 0);
  assert_true(p == 1999);
  assert_int_equal(rt__money_from_double(1e300, 2, &p), RT_ERANGE);
  assert_int_equal(rt__money_from_double(NAN, 2, &p), RT_ERANGE);
}

/* Quantities: whole numbers 1..1,000,000; negative only where a return is meant. */
static void test_quantity(void **state) {
  (void)state;
  const char *why = NULL;
  assert_int_equal(rt__quantity_check(1, 0, &why), 0);
  assert_int_equal(rt__quantity_check(1000000, 0, &why), 0);
  assert_int_equal(rt__quantity_check(-3, 1, &why), 0);
  static const double bad[] = {0, 1.5, 1e300, 1000001, -1e300, INFINITY};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    why = NULL;
    assert_int_equal(rt__quantity_check(bad[i], 1, &why), RT_EINVAL);
    assert_non_null(why);
  }
  assert_int_equal(rt__quantity_check(NAN, 1, &why), RT_EINVAL);
  assert_int_equal(rt__quantity_check(-3, 0, &why), RT_EINVAL);
  assert_non_null(strstr(why, "Order Refunded"));
}

/* Currencies: a current ISO 4217 code, any case; three letters alone are not enough. */
static void test_currency(void **state) {
  (void)state;
  char c[4];
  assert_int_equal(rt__currency_check("usd", 3, c), 0);
  assert_string_equal(c, "USD");
  static const char *const good[] = {"AED", "EUR", "JPY", "KWD", "XAU", "ZWG", "CLF", "gbp"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    assert_int_equal(rt__currency_check(good[i], 3, c), 0);
  static const char *const bad[] = {"zzz", "ABC", "US", "USDX", "U$D", "HRK", "DEM", "us1", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(rt__currency_check(bad[i], strlen(bad[i]), c), RT_EINVAL);
  assert_int_equal(rt__currency_check("US\0", 3, c), RT_EINVAL);
}

/* Ids: NFC, so the two spellings of "café" are one; NUL and invalid UTF-8 refused. */
static void test_id_check(void **state) {
  (void)state;
  const char *pre = "caf\xc3\xa9", *dec = "cafe\xcc\x81", *why = NULL;
  char *nfc;
  size_t n;
  assert_int_equal(rt__id_check(pre, strlen(pre), &nfc, &n, &why), 0);
  assert_null(nfc); /* already NFC */
  assert_int_equal(n, strlen(pre));
  assert_int_equal(rt__id_check(dec, strlen(dec), &nfc, &n, &why), 0);
  assert_non_null(nfc);
  assert_int_equal(n, strlen(pre));
  assert_memory_equal(nfc, pre, n);
  free(nfc);
  assert_int_equal(rt__id_check("ab", 2, &nfc, &n, &why), 0);
  assert_null(nfc);
  assert_int_equal(rt__id_check("a\0b", 3, &nfc, &n, &why), RT_EINVAL);
  assert_string_equal(why, "contains a NUL byte");
  assert_int_equal(rt__id_check("a\xff", 2, &nfc, &n, &why), RT_EINVAL);
  assert_string_equal(why, "is not valid UTF-8");
  assert_int_equal(rt__id_check("\xed\xa0\x80", 3, &nfc, &n, &why), RT_EINVAL); /* a surrogate */
  assert_int_equal(rt__id_check("\xc3", 1, &nfc, &n, &why), RT_EINVAL);          /* cut short */
}

/* The hash of the tables keyed by outside ids (issue 13): SipHash, checked against the
 * published SipHash-2-4 vectors (key 00..0f; messages 00 01 02 ...), keyed per process. */
static void test_siphash(void **state) {
  (void)state;
  uint64_t key[2] = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
  unsigned char msg[15];
  for (int i = 0; i < 15; i++)
    msg[i] = (unsigned char)i;
  assert_true(rt__siphash(key, msg, 0, 2, 4) == 0x726fdb47dd0e0e31ULL);
  assert_true(rt__siphash(key, msg, 15, 2, 4) == 0xa129ca6149be45e5ULL);
  /* two keys (seeds), one id: two hashes */
  uint64_t other[2] = {key[0] + 1, key[1]};
  assert_true(rt__siphash(key, "customer-42", 11, 1, 3) !=
              rt__siphash(other, "customer-42", 11, 1, 3));
}

/* Two processes hash the same id differently (each draws its own key), so colliding ids cannot
 * be prepared in advance; within a process the hash is stable, and lookups work. */
static void test_hash_table_keyed(void **state) {
  (void)state;
  uint64_t h[2];
  char self[512], cmd[600];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  assert_true(len > 0);
  self[len] = '\0';
  snprintf(cmd, sizeof cmd, "'%s' --hash-table customer-42", self);
  for (int i = 0; i < 2; i++) {
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    unsigned long long v = 0;
    assert_int_equal(fscanf(p, "%llx", &v), 1);
    assert_int_equal(pclose(p), 0);
    h[i] = v;
  }
  assert_true(h[0] != h[1]);
  assert_true(rt__hash_table("customer-42", 11) == rt__hash_table("customer-42", 11));
  rt__strmap m;
  rt__strmap_init(&m);
  char k[32];
  for (int i = 0; i < 50000; i++) {
    uint32_t ix;
    int n = snprintf(k, sizeof k, "cust-%d", i);
    assert_int_equal(rt__strmap_intern(&m, k, (size_t)n, &ix, NULL), 0);
    assert_int_equal(ix, (uint32_t)i);
  }
  for (int i = 0; i < 50000; i++) {
    uint32_t ix = 0;
    int n = snprintf(k, sizeof k, "cust-%d", i);
    assert_int_equal(rt__strmap_find(&m, k, (size_t)n, &ix), 1);
    assert_int_equal(ix, (uint32_t)i);
  }
  rt__strmap_free(&m);
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

int main(int argc, char **argv) {
  /* for test_hash_table_keyed: this process's hash of an id */
  if (argc == 3 && !strcmp(argv[1], "--hash-table")) {
    printf("%llx\n", (unsigned long long)rt__hash_table(argv[2], strlen(argv[2])));
    return 0;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strerror),
      cmocka_unit_test(test_money),
      cmocka_unit_test(test_money_strict),
      cmocka_unit_test(test_quantity),
      cmocka_unit_test(test_currency),
      cmocka_unit_test(test_id_check),
      cmocka_unit_test(test_siphash),
      cmocka_unit_test(test_hash_table_keyed),
      cmocka_unit_test(test_strmap),
      cmocka_unit_test(test_strmap_numbers_and_strings),
      cmocka_unit_test(test_strmap_merge),
      cmocka_unit_test(test_strmap_from_numbers),
      cmocka_unit_test(test_alloc_fail),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
