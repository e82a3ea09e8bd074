/* test_rates.c - exchange rates (src/model/rates.c, src/ingest/rates_import.c): conversions
 * against values computed independently (tests/fixtures/rates_expected.py: exact fractions in
 * Python), the latest rate on or before a day (weekends, before the first, after the last),
 * cross rates through the pivot and through other bases, minor-unit exponents, rounding half
 * away from zero on exact ties, identity, "no rate" answers and their messages, the day tables
 * against binary search and a brute-force scan, overflow, concurrent readers, loading from the
 * store, and importing both file layouts with their errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "internal.h"
#include <retain/alloc.h>
#include <retain/datetime.h>
#include <retain/rates.h>
#include <retain/store.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t day(const char *iso) {
  int y, m, d;
  assert_int_equal(sscanf(iso, "%d-%d-%d", &y, &m, &d), 3);
  return rt_days_from_civil(y, m, d);
}

/* The rates of rates_expected.py: the ECB's EUR rates of 2024-03-14, -15 and -18 (Thursday,
 * Friday, Monday; as in tests/fixtures/ecb_rates.csv), KWD with a gap, ARS against USD, and EUR
 * per NOK (to be used backwards); KWD, ARS and NOK/EUR are invented. */
static const struct {
  const char *base, *cur, *day;
  double rate;
} RATES[] = {
    {"EUR", "USD", "2024-03-14", 1.0925},  {"EUR", "USD", "2024-03-15", 1.0892},
    {"EUR", "USD", "2024-03-18", 1.0892},  {"EUR", "JPY", "2024-03-14", 161.7},
    {"EUR", "JPY", "2024-03-15", 162.03},  {"EUR", "JPY", "2024-03-18", 162.51},
    {"EUR", "GBP", "2024-03-14", 0.8542},  {"EUR", "GBP", "2024-03-15", 0.8541},
    {"EUR", "GBP", "2024-03-18", 0.85525}, {"EUR", "CHF", "2024-03-14", 0.9616},
    {"EUR", "CHF", "2024-03-15", 0.9613},  {"EUR", "CHF", "2024-03-18", 0.963},
    {"EUR", "HUF", "2024-03-14", 394.9},   {"EUR", "HUF", "2024-03-15", 393.2},
    {"EUR", "HUF", "2024-03-18", 394.95},  {"EUR", "KWD", "2024-03-14", 0.3357},
    {"EUR", "KWD", "2024-03-18", 0.3342},  {"USD", "ARS", "2024-03-15", 855.25},
    {"USD", "ARS", "2024-03-18", 856.0},   {"NOK", "EUR", "2024-03-14", 0.08721},
};

/* Printed by tests/fixtures/rates_expected.py. */
static const struct {
  long long amount;
  const char *from, *to, *day;
  long long want;
} CASES[] = {
    {10000LL, "EUR", "USD", "2024-03-15", 10892LL},
    {10000LL, "USD", "EUR", "2024-03-15", 9181LL},
    {10000LL, "USD", "JPY", "2024-03-15", 14876LL},
    {10000LL, "USD", "JPY", "2024-03-16", 14876LL},
    {10000LL, "USD", "JPY", "2024-03-17", 14876LL},
    {10000LL, "USD", "JPY", "2024-03-18", 14920LL},
    {10000LL, "USD", "JPY", "2031-01-01", 14920LL},
    {123456LL, "JPY", "GBP", "2024-03-14", 65217LL},
    {123456LL, "GBP", "JPY", "2024-03-14", 233702LL},
    {-123456LL, "GBP", "JPY", "2024-03-14", -233702LL},
    {1LL, "JPY", "USD", "2024-03-18", 1LL},
    {99LL, "JPY", "KWD", "2024-03-15", 205LL},
    {1000LL, "KWD", "JPY", "2024-03-16", 483LL},
    {1234567LL, "KWD", "USD", "2024-03-18", 402361LL},
    {50000LL, "CHF", "HUF", "2024-03-15", 20451472LL},
    {50000LL, "HUF", "CHF", "2024-03-15", 122LL},
    {100000LL, "ARS", "EUR", "2024-03-15", 107LL},
    {100000LL, "ARS", "GBP", "2024-03-17", 92LL},
    {2500LL, "GBP", "ARS", "2024-03-18", 2725388LL},
    {100000LL, "NOK", "USD", "2024-03-18", 9499LL},
    {777LL, "USD", "NOK", "2024-03-15", 8180LL},
    {100000LL, "NOK", "ARS", "2024-03-15", 8123946LL},
    {0LL, "USD", "JPY", "2024-03-15", 0LL},
    {9007199254740993LL, "EUR", "USD", "2024-03-15", 9810641428263890LL},
    {1000LL, "USD", "ARS", "2024-03-16", 855250LL},
    {123457LL, "ARS", "USD", "2024-03-18", 144LL},
    {200LL, "EUR", "USD", "2024-03-14", 219LL},
    {-200LL, "EUR", "USD", "2024-03-14", -219LL},
    {1500LL, "EUR", "JPY", "2024-03-14", 2426LL},
    {-1500LL, "EUR", "JPY", "2024-03-14", -2426LL},
    {2404LL, "CHF", "JPY", "2024-03-14", 4043LL},
    {601LL, "CHF", "HUF", "2024-03-14", 246813LL},
    {165LL, "EUR", "HUF", "2024-03-14", 65159LL},
};

static rt_rates *build(size_t dense_max) {
  rt_rates *r = NULL;
  rt_error err = {0};
  assert_int_equal(rt_rates_new(&r), 0);
  if (dense_max != (size_t)-1)
    rt__rates_set_dense_max(r, dense_max);
  /* added in reverse, so that nothing depends on the order of adding */
  for (size_t i = RT_ARRAY_LEN(RATES); i-- > 0;)
    assert_int_equal(rt_rates_add(r, day(RATES[i].day), RATES[i].base, RATES[i].cur,
                                  RATES[i].rate, &err),
                     0);
  assert_int_equal(rt_rates_finish(r, &err), 0);
  return r;
}

static void check_cases(const rt_rates *r) {
  for (size_t i = 0; i < RT_ARRAY_LEN(CASES); i++) {
    int64_t out = -42;
    rt_error err = {0};
    int rc = rt_rates_convert(r, CASES[i].amount, CASES[i].from, CASES[i].to, day(CASES[i].day),
                              &out, &err);
    if (rc || out != CASES[i].want)
      fail_msg("case %zu: %lld %s -> %s on %s: rc %d (%s), %lld, wanted %lld", i,
               CASES[i].amount, CASES[i].from, CASES[i].to, CASES[i].day, rc, err.msg,
               (long long)out, CASES[i].want);
    /* by index: the same */
    int64_t out2 = -42;
    assert_int_equal(rt_rates_convert_index(r, CASES[i].amount,
                                            rt_rates_currency(r, CASES[i].from),
                                            rt_rates_currency(r, CASES[i].to),
                                            day(CASES[i].day), &out2),
                     0);
    assert_int_equal(out2, out);
  }
}

static void test_conversions(void **state) {
  (void)state;
  rt_rates *r = build((size_t)-1);
  assert_string_equal(rt_rates_pivot(r), "EUR");
  assert_int_equal(rt_rates_count(r), RT_ARRAY_LEN(RATES));
  check_cases(r);
  rt_rates_free(r);
  /* the same answers with every series searched instead of looked up by day */
  r = build(0);
  check_cases(r);
  rt_rates_free(r);
  /* and with only some series in the day tables (the budget runs out part way) */
  r = build(3);
  check_cases(r);
  rt_rates_free(r);
}

/* No rate on or before the day: an answer of its own, naming the currency and where its rates
 * start; never an older or a later guess. */
static void test_no_rate(void **state) {
  (void)state;
  rt_rates *r = build((size_t)-1);
  rt_error err = {0};
  int64_t out = 7;
  /* before the first USD rate (2024-03-14), in both directions */
  assert_int_equal(rt_rates_convert(r, 100, "USD", "EUR", day("2024-03-13"), &out, &err),
                   RT_ENOTFOUND);
  assert_int_equal(out, 7);
  assert_string_equal(err.msg,
                      "no exchange rate for USD on or before 2024-03-13: the EUR/USD rates start "
                      "on 2024-03-14");
  assert_int_equal(rt_rates_convert(r, 100, "EUR", "USD", day("1999-01-04"), &out, &err),
                   RT_ENOTFOUND);
  /* a chain: ARS needs USD (there on 03-14) and USD/ARS (from 03-15) */
  assert_int_equal(rt_rates_convert(r, 100, "ARS", "GBP", day("2024-03-14"), &out, &err),
                   RT_ENOTFOUND);
  assert_string_equal(err.msg,
                      "no exchange rate for ARS on or before 2024-03-14: the USD/ARS rates start "
                      "on 2024-03-15");
  /* both sides lack a rate: the amount's own currency is named */
  assert_int_equal(rt_rates_convert(r, 100, "GBP", "ARS", day("2024-03-13"), &out, &err),
                   RT_ENOTFOUND);
  assert_string_equal(err.msg,
                      "no exchange rate for GBP on or before 2024-03-13: the EUR/GBP rates start "
                      "on 2024-03-14");
  assert_int_equal(rt_rates_convert(r, 100, "ARS", "GBP", day("2024-03-13"), &out, &err),
                   RT_ENOTFOUND);
  assert_non_null(strstr(err.msg, "for ARS on or before 2024-03-13: the EUR/USD rates start"));
  /* a code no rate mentions */
  assert_int_equal(rt_rates_convert(r, 100, "XYZ", "USD", day("2024-03-18"), &out, &err),
                   RT_ENOTFOUND);
  assert_string_equal(err.msg, "no exchange rate for XYZ: no rate mentions it");
  assert_int_equal(rt_rates_convert(r, 100, "USD", "xyz", day("2024-03-18"), &out, &err),
                   RT_ENOTFOUND);
  assert_int_equal(rt_rates_currency(r, "XYZ"), -1);
  assert_int_equal(rt_rates_currency(r, "US"), -1);
  assert_int_equal(rt_rates_convert_index(r, 100, -1, 0, day("2024-03-18"), &out),
                   RT_ENOTFOUND);
  assert_int_equal(rt_rates_convert_index(r, 100, 0, 99, day("2024-03-18"), &out),
                   RT_ENOTFOUND);
  /* err may be NULL */
  assert_int_equal(rt_rates_convert(r, 100, "USD", "EUR", day("2024-03-13"), &out, NULL),
                   RT_ENOTFOUND);
  rt_rates_free(r);
}

/* A currency into itself is the amount, with or without rates; the pivot has the rate 1. */
static void test_identity(void **state) {
  (void)state;
  rt_rates *r = build((size_t)-1);
  int64_t out;
  const int64_t amounts[] = {0, 1, -1, 123456789, INT64_MAX, INT64_MIN};
  for (size_t i = 0; i < RT_ARRAY_LEN(amounts); i++) {
    assert_int_equal(rt_rates_convert(r, amounts[i], "USD", "USD", day("1990-01-01"), &out, NULL),
                     0);
    assert_int_equal(out, amounts[i]);
    assert_int_equal(rt_rates_convert(r, amounts[i], "QQQ", "QQQ", 0, &out, NULL), 0);
    assert_int_equal(out, amounts[i]);
    int usd = rt_rates_currency(r, "USD");
    assert_int_equal(rt_rates_convert_index(r, amounts[i], usd, usd, 0, &out), 0);
    assert_int_equal(out, amounts[i]);
    /* -1 stands for any code the rates do not know: never the same currency */
    assert_int_equal(rt_rates_convert_index(r, amounts[i], -1, -1, 0, &out), RT_ENOTFOUND);
  }
  double x;
  assert_int_equal(rt_rates_rate(r, "EUR", "USD", day("2024-03-15"), &x, NULL), 0);
  assert_true(x == 1.0892);
  assert_int_equal(rt_rates_rate(r, "USD", "EUR", day("2024-03-16"), &x, NULL), 0);
  assert_true(fabs(x - 1 / 1.0892) < 1e-15);
  assert_int_equal(rt_rates_rate(r, "NOK", "EUR", day("2024-03-20"), &x, NULL), 0);
  assert_true(x == 0.08721);
  assert_int_equal(rt_rates_rate(r, "ARS", "ARS", 0, &x, NULL), 0);
  assert_true(x == 1);
  /* minor units cancel out of a rate: 1 JPY = 1/162.03 EUR */
  assert_int_equal(rt_rates_rate(r, "JPY", "KWD", day("2024-03-15"), &x, NULL), 0);
  assert_true(fabs(x - 0.3357 / 162.03) < 1e-15);
  assert_int_equal(rt_rates_rate(r, "JPY", "KWD", day("2024-03-13"), &x, NULL), RT_ENOTFOUND);
  rt_rates_free(r);

  /* no rates at all: only identities */
  assert_int_equal(rt_rates_new(&r), 0);
  assert_int_equal(rt_rates_finish(r, NULL), 0);
  assert_string_equal(rt_rates_pivot(r), "");
  assert_int_equal(rt_rates_nseries(r), 0);
  assert_int_equal(rt_rates_ncurrencies(r), 0);
  assert_int_equal(rt_rates_convert(r, 5, "EUR", "EUR", 0, &out, NULL), 0);
  assert_int_equal(out, 5);
  assert_int_equal(rt_rates_convert(r, 5, "EUR", "USD", 0, &out, NULL), RT_ENOTFOUND);
  rt_rates_free(r);
  rt_rates_free(NULL);
}

/* Minor-unit exponents by hand: JPY 0, USD 2, KWD 3, at rates that make the digits plain. */
static void test_exponents(void **state) {
  (void)state;
  rt_rates *r;
  assert_int_equal(rt_rates_new(&r), 0);
  int64_t d = day("2024-01-02");
  assert_int_equal(rt_rates_add(r, d, "USD", "JPY", 150, NULL), 0);
  assert_int_equal(rt_rates_add(r, d, "USD", "KWD", 0.3, NULL), 0);
  assert_int_equal(rt_rates_add(r, d, "USD", "EUR", 0.5, NULL), 0);
  assert_int_equal(rt_rates_finish(r, NULL), 0);
  static const struct {
    int64_t amount;
    const char *from, *to;
    int64_t want;
  } cases[] = {
      {100, "USD", "JPY", 150}, /* 1.00 USD = 150 JPY */
      {100, "USD", "KWD", 300}, /* = 0.300 KWD */
      {1, "JPY", "USD", 1},     /* 1 JPY = 0.667 cents -> 1 cent */
      {1, "JPY", "KWD", 2},     /* = 0.002 KWD exactly */
      {1, "KWD", "JPY", 1},     /* 0.001 KWD = 0.5 JPY: a tie, away from zero */
      {-1, "KWD", "JPY", -1},
      {3, "KWD", "JPY", 2},     /* 1.5 JPY */
      {2, "KWD", "JPY", 1},
      {1, "EUR", "USD", 2},     /* 0.01 EUR = 0.02 USD */
      {1, "USD", "EUR", 1},     /* 0.005 EUR: a tie */
      {-1, "USD", "EUR", -1},
      {3, "USD", "EUR", 2},     /* 0.015 EUR */
  };
  for (size_t i = 0; i < RT_ARRAY_LEN(cases); i++) {
    int64_t out;
    assert_int_equal(rt_rates_convert(r, cases[i].amount, cases[i].from, cases[i].to, d, &out,
                                      NULL),
                     0);
    if (out != cases[i].want)
      fail_msg("%lld %s -> %s: %lld, wanted %lld", (long long)cases[i].amount, cases[i].from,
               cases[i].to, (long long)out, (long long)cases[i].want);
  }
  assert_string_equal(rt_rates_pivot(r), "USD");
  rt_rates_free(r);
}

/* Adding: the later of two rates for one day wins; bad input is refused. */
static void test_add(void **state) {
  (void)state;
  rt_rates *r;
  rt_error err = {0};
  assert_int_equal(rt_rates_new(&r), 0);
  assert_int_equal(rt_rates_add(r, 10, "EUR", "USD", 1.1, &err), 0);
  assert_int_equal(rt_rates_add(r, 10, "EUR", "USD", 1.2, &err), 0);
  assert_int_equal(rt_rates_add(r, 9, "EUR", "USD", 1.0, &err), 0);
  assert_int_equal(rt_rates_add(r, 10, "EUR", "usd", 1.1, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "3 capital letters"));
  assert_int_equal(rt_rates_add(r, 10, "EUR", NULL, 1.1, &err), RT_EINVAL);
  assert_int_equal(rt_rates_add(r, 10, "EURO", "USD", 1.1, &err), RT_EINVAL);
  assert_int_equal(rt_rates_add(r, 10, "EUR", "EUR", 1, &err), RT_EINVAL);
  assert_int_equal(rt_rates_add(r, 10, "EUR", "GBP", 0, &err), RT_EINVAL);
  assert_int_equal(rt_rates_add(r, 10, "EUR", "GBP", -0.8, &err), RT_EINVAL);
  assert_int_equal(rt_rates_add(r, 10, "EUR", "GBP", NAN, &err), RT_EINVAL);
  assert_int_equal(rt_rates_add(r, 10, "EUR", "GBP", INFINITY, &err), RT_EINVAL);
  assert_int_equal(rt_rates_add(r, 3000000, "EUR", "GBP", 0.8, &err), RT_EINVAL);
  assert_int_equal(rt_rates_add(NULL, 10, "EUR", "GBP", 0.8, &err), RT_EINVAL);
  assert_int_equal(rt_rates_count(r), 3);
  assert_int_equal(rt_rates_finish(r, &err), 0);
  assert_int_equal(rt_rates_finish(r, &err), 0); /* twice is harmless */
  assert_int_equal(rt_rates_count(r), 2);
  assert_int_equal(rt_rates_add(r, 11, "EUR", "USD", 1.3, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "finished"));
  int64_t out;
  assert_int_equal(rt_rates_convert(r, 1000, "EUR", "USD", 10, &out, NULL), 0);
  assert_int_equal(out, 1200);
  assert_int_equal(rt_rates_convert(r, 1000, "EUR", "USD", 9, &out, NULL), 0);
  assert_int_equal(out, 1000);
  rt_rates_free(r);
  /* unfinished rates do not convert */
  assert_int_equal(rt_rates_new(&r), 0);
  assert_int_equal(rt_rates_convert(r, 1, "EUR", "USD", 0, &out, &err), RT_EINVAL);
  assert_int_equal(rt_rates_convert(r, 1, NULL, "USD", 0, &out, &err), RT_EINVAL);
  rt_rates_free(r);
}

/* Series in order of base and currency; the pivot is the base with the most rates (ties: the
 * first code). */
static void test_series_and_pivot(void **state) {
  (void)state;
  rt_rates *r = build((size_t)-1);
  assert_int_equal(rt_rates_nseries(r), 8);
  rt_rate_series s;
  static const char *const want[8][2] = {{"EUR", "CHF"}, {"EUR", "GBP"}, {"EUR", "HUF"},
                                         {"EUR", "JPY"}, {"EUR", "KWD"}, {"EUR", "USD"},
                                         {"NOK", "EUR"}, {"USD", "ARS"}};
  for (size_t i = 0; i < 8; i++) {
    assert_int_equal(rt_rates_series(r, i, &s), 0);
    assert_string_equal(s.base, want[i][0]);
    assert_string_equal(s.currency, want[i][1]);
  }
  assert_int_equal(rt_rates_series(r, 4, &s), 0); /* KWD: two rates with a gap */
  assert_int_equal(s.first_day, day("2024-03-14"));
  assert_int_equal(s.last_day, day("2024-03-18"));
  assert_int_equal(s.count, 2);
  assert_true(s.latest == 0.3342);
  assert_int_equal(rt_rates_series(r, 8, &s), RT_EINVAL);
  assert_int_equal(rt_rates_ncurrencies(r), 9);
  assert_string_equal(rt_rates_currency_code(r, 0), "ARS");
  assert_string_equal(rt_rates_currency_code(r, rt_rates_currency(r, "USD")), "USD");
  assert_null(rt_rates_currency_code(r, 9));
  assert_null(rt_rates_currency_code(r, -1));
  rt_rates_free(r);

  /* GBP and USD have two rates each as base: GBP, the first code, is the pivot */
  assert_int_equal(rt_rates_new(&r), 0);
  assert_int_equal(rt_rates_add(r, 1, "USD", "JPY", 150, NULL), 0);
  assert_int_equal(rt_rates_add(r, 2, "USD", "JPY", 151, NULL), 0);
  assert_int_equal(rt_rates_add(r, 1, "GBP", "USD", 1.25, NULL), 0);
  assert_int_equal(rt_rates_add(r, 1, "GBP", "EUR", 1.15, NULL), 0);
  assert_int_equal(rt_rates_finish(r, NULL), 0);
  assert_string_equal(rt_rates_pivot(r), "GBP");
  int64_t out;
  /* 1.00 EUR on day 2 = 1/1.15 GBP = 1.25/1.15 USD = 151 * 1.25 / 1.15 JPY = 164.13 -> 164 */
  assert_int_equal(rt_rates_convert(r, 100, "EUR", "JPY", 2, &out, NULL), 0);
  assert_int_equal(out, 164);
  rt_rates_free(r);
}

/* Chains of at most RT_RATES_MAX_LEGS rates reach the pivot; longer ones and islands do not. */
static void test_chains(void **state) {
  (void)state;
  rt_rates *r;
  rt_error err = {0};
  assert_int_equal(rt_rates_new(&r), 0);
  /* EUR -> AAA -> BBB -> CCC -> DDD -> FFF, each worth 2 of the one before, and EUR the pivot
   * by its extra series; GGG/HHH an island */
  const char *chain[] = {"EUR", "AAA", "BBB", "CCC", "DDD", "FFF"};
  for (int i = 0; i + 1 < 6; i++)
    assert_int_equal(rt_rates_add(r, 0, chain[i], chain[i + 1], 2, &err), 0);
  assert_int_equal(rt_rates_add(r, 0, "EUR", "ZZZ", 3, &err), 0);
  assert_int_equal(rt_rates_add(r, 0, "GGG", "HHH", 3, &err), 0);
  assert_int_equal(rt_rates_finish(r, &err), 0);
  assert_string_equal(rt_rates_pivot(r), "EUR");
  int64_t out;
  assert_int_equal(rt_rates_convert(r, 100, "EUR", "DDD", 0, &out, &err), 0);
  assert_int_equal(out, 1600);
  assert_int_equal(rt_rates_convert(r, 1600, "DDD", "ZZZ", 5, &out, &err), 0);
  assert_int_equal(out, 300);
  assert_int_equal(rt_rates_convert(r, 100, "EUR", "FFF", 0, &out, &err), RT_ENOTFOUND);
  assert_string_equal(err.msg,
                      "no exchange rate for FFF: its rates do not lead to EUR in at most 4 steps");
  assert_int_equal(rt_rates_convert(r, 100, "HHH", "EUR", 0, &out, &err), RT_ENOTFOUND);
  assert_non_null(strstr(err.msg, "HHH"));
  /* the island converts within itself only through the pivot, so not at all */
  assert_int_equal(rt_rates_convert(r, 100, "GGG", "HHH", 0, &out, &err), RT_ENOTFOUND);
  rt_rates_free(r);

  /* two currencies quoted against USD convert with their own rates on a day when USD has no
   * EUR rate yet: the EUR/USD step of both chains cancels */
  assert_int_equal(rt_rates_new(&r), 0);
  assert_int_equal(rt_rates_add(r, 10, "EUR", "USD", 1.1, &err), 0);
  assert_int_equal(rt_rates_add(r, 10, "EUR", "GBP", 0.9, &err), 0);
  assert_int_equal(rt_rates_add(r, 0, "USD", "ARS", 800, &err), 0);
  assert_int_equal(rt_rates_add(r, 0, "USD", "CAD", 1.25, &err), 0);
  assert_int_equal(rt_rates_finish(r, &err), 0);
  assert_int_equal(rt_rates_convert(r, 80000, "ARS", "CAD", 0, &out, &err), 0);
  assert_int_equal(out, 125);
  assert_int_equal(rt_rates_convert(r, 80000, "ARS", "EUR", 0, &out, &err), RT_ENOTFOUND);
  assert_int_equal(rt_rates_convert(r, 80000, "ARS", "EUR", 10, &out, &err), 0);
  assert_int_equal(out, 91); /* 800 ARS = 1 USD = 1/1.1 EUR = 0.909 */
  rt_rates_free(r);
}

/* Random series with gaps: the day tables, the binary search and a brute-force scan of the
 * rates added agree on the rate in force on every day, and both lookups on every conversion. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static void test_lookup_random(void **state) {
  (void)state;
  enum { NCUR = 6, MAXN = 300 };
  static const char *const codes[NCUR] = {"USD", "JPY", "GBP", "KWD", "CHF", "SEK"};
  static int32_t days[NCUR][MAXN];
  static double vals[NCUR][MAXN];
  int n[NCUR];
  rt_rates *dense, *search;
  assert_int_equal(rt_rates_new(&dense), 0);
  assert_int_equal(rt_rates_new(&search), 0);
  rt__rates_set_dense_max(search, 0);
  for (int c = 0; c < NCUR; c++) {
    int32_t d = (int32_t)(rnd() % 50) - 25 + 19000;
    n[c] = 50 + (int)(rnd() % (MAXN - 50));
    for (int i = 0; i < n[c]; i++) {
      d += 1 + (int32_t)(rnd() % 4); /* gaps of up to 3 days */
      days[c][i] = d;
      vals[c][i] = (double)(1 + rnd() % 2000000) / 10000; /* 4 decimals, like the ECB */
      assert_int_equal(rt_rates_add(dense, d, "EUR", codes[c], vals[c][i], NULL), 0);
      assert_int_equal(rt_rates_add(search, d, "EUR", codes[c], vals[c][i], NULL), 0);
    }
  }
  assert_int_equal(rt_rates_finish(dense, NULL), 0);
  assert_int_equal(rt_rates_finish(search, NULL), 0);
  for (int q = 0; q < 20000; q++) {
    int c = (int)(rnd() % NCUR), c2 = (int)(rnd() % NCUR);
    int64_t d = 19000 - 40 + (int64_t)(rnd() % 1300);
    /* the rate in force by brute force */
    int found = -1;
    for (int i = 0; i < n[c]; i++)
      if (days[c][i] <= d)
        found = i;
    double x;
    int rc = rt_rates_rate(dense, "EUR", codes[c], d, &x, NULL);
    if (found < 0) {
      assert_int_equal(rc, RT_ENOTFOUND);
    } else {
      assert_int_equal(rc, 0);
      assert_true(fabs(x - vals[c][found]) <= 1e-15 * vals[c][found]);
    }
    assert_int_equal(rt_rates_rate(search, "EUR", codes[c], d, &x, NULL), rc);
    int64_t a = (int64_t)(rnd() % 100000000) - 50000000, o1 = 1, o2 = 2;
    int r1 = rt_rates_convert(dense, a, codes[c], codes[c2], d, &o1, NULL);
    int r2 = rt_rates_convert(search, a, codes[c], codes[c2], d, &o2, NULL);
    assert_int_equal(r1, r2);
    if (!r1)
      assert_int_equal(o1, o2);
  }
  rt_rates_free(dense);
  rt_rates_free(search);
}

/* A rate is the decimal written in the file: m / 10^k read by strtod converts A cents of EUR
 * into exactly round(A m / 10^k) cents, ties away from zero, computed here in integers. */
static void test_decimals(void **state) {
  (void)state;
  for (int i = 0; i < 20000; i++) {
    int digits = 1 + (int)(rnd() % 12), k = (int)(rnd() % (unsigned)(digits + 3));
    uint64_t lim = 1, p = 1;
    for (int d = 0; d < digits; d++)
      lim *= 10;
    for (int d = 0; d < k; d++)
      p *= 10;
    uint64_t m = 1 + rnd() % (lim - 1);
    int tie = i % 7 == 0 && k > 0;
    if (tie) /* the rate j.5: 1 cent is worth j.5 cents, a tie */
      m = p / 2 + p * (rnd() % 1000);
    char text[64];
    int len = snprintf(text, sizeof text, "%llu", (unsigned long long)(m / p));
    if (k)
      snprintf(text + len, sizeof text - (size_t)len, ".%0*llu", k, (unsigned long long)(m % p));
    rt_rates *r;
    assert_int_equal(rt_rates_new(&r), 0);
    assert_int_equal(rt_rates_add(r, 0, "EUR", "USD", strtod(text, NULL), NULL), 0);
    assert_int_equal(rt_rates_finish(r, NULL), 0);
    int64_t a = tie ? 1 : (int64_t)(rnd() % 10000), out;
    __extension__ unsigned __int128 prod = (unsigned __int128)a * m;
    uint64_t want = (uint64_t)((prod + p / 2) / p); /* half up: away from zero for a >= 0 */
    assert_int_equal(rt_rates_convert(r, a, "EUR", "USD", 0, &out, NULL), 0);
    if ((uint64_t)out != want)
      fail_msg("%lld EUR cents at %s: %lld, wanted %llu", (long long)a, text, (long long)out,
               (unsigned long long)want);
    assert_int_equal(rt_rates_convert(r, -a, "EUR", "USD", 0, &out, NULL), 0);
    assert_int_equal(out, -(int64_t)want);
    rt_rates_free(r);
  }
}

/* Results beyond 64 bits are an error; products beyond 128 bits fall back to long double. */
static void test_range(void **state) {
  (void)state;
  rt_rates *r = build((size_t)-1);
  int64_t out;
  rt_error err = {0};
  /* INT64_MAX cents of EUR are 162.03 / 100 times as many yen */
  assert_int_equal(rt_rates_convert(r, INT64_MAX, "EUR", "JPY", day("2024-03-15"), &out, &err),
                   RT_ERANGE);
  assert_non_null(strstr(err.msg, "64 bits"));
  assert_int_equal(rt_rates_convert(r, INT64_MIN, "EUR", "HUF", day("2024-03-15"), &out, &err),
                   RT_ERANGE);
  /* a tenth of it fits: 922337203685477580 cents x 162.03 / 100 (Python, fractions) */
  assert_int_equal(
      rt_rates_convert(r, INT64_MAX / 10, "EUR", "JPY", day("2024-03-15"), &out, &err), 0);
  assert_int_equal(out, 1494462971131579323LL);
  rt_rates_free(r);

  /* 15-digit rates through a chain: A x m1 x m2 needs about 140 bits, so long double is
   * used. The exact value (Python, fractions): 10^15 x 1.08901234567891 x 855.250123456789
   * centavos = 931377943087855156.376... -> 931377943087855156; long double may miss by 1 */
  assert_int_equal(rt_rates_new(&r), 0);
  assert_int_equal(rt_rates_add(r, 0, "EUR", "USD", 1.08901234567891, NULL), 0);
  assert_int_equal(rt_rates_add(r, 0, "USD", "ARS", 855.250123456789, NULL), 0);
  assert_int_equal(rt_rates_add(r, 0, "EUR", "GBP", 0.85, NULL), 0);
  assert_int_equal(rt_rates_finish(r, NULL), 0);
  assert_int_equal(rt_rates_convert(r, 1000000000000000LL, "EUR", "ARS", 0, &out, &err), 0);
  assert_true(llabs(out - 931377943087855156LL) <= 1);
  rt_rates_free(r);
}

/* Many threads convert with one finished set of rates at once and all get the right answers
 * (run under the sanitizers too). */
static void *convert_all(void *arg) {
  const rt_rates *r = arg;
  for (int rep = 0; rep < 200; rep++)
    for (size_t i = 0; i < RT_ARRAY_LEN(CASES); i++) {
      int64_t out;
      if (rt_rates_convert(r, CASES[i].amount, CASES[i].from, CASES[i].to, day(CASES[i].day),
                           &out, NULL) ||
          out != CASES[i].want)
        return (void *)1;
    }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  rt_rates *r = build((size_t)-1);
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&t[i], NULL, convert_all, r), 0);
  for (int i = 0; i < 4; i++) {
    void *ret;
    assert_int_equal(pthread_join(t[i], &ret), 0);
    assert_null(ret);
  }
  rt_rates_free(r);
}

static void test_amount_parse(void **state) {
  (void)state;
  int64_t v;
  rt_error err = {0};
  assert_int_equal(rt_amount_parse("12.5", "USD", &v, &err), 0);
  assert_int_equal(v, 1250);
  assert_int_equal(rt_amount_parse("12.5", "JPY", &v, &err), 0);
  assert_int_equal(v, 13);
  assert_int_equal(rt_amount_parse("-12.5", "JPY", &v, &err), 0);
  assert_int_equal(v, -13);
  assert_int_equal(rt_amount_parse("1.2345", "KWD", &v, &err), 0);
  assert_int_equal(v, 1235);
  assert_int_equal(rt_amount_parse("1,000", "USD", &v, &err), RT_EPARSE);
  assert_non_null(strstr(err.msg, "1,000"));
  assert_int_equal(rt_amount_parse("", "USD", &v, &err), RT_EPARSE);
  assert_int_equal(rt_amount_parse("99999999999999999999", "USD", &v, &err), RT_ERANGE);
}

/* ---- the store and files ---- */

typedef struct fx {
  char dir[64];
  char db[128];
  rt_store *st;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/rt_test_rates_XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  snprintf(f->db, sizeof f->db, "%s/t.db", f->dir);
  rt_store_config cfg = {.path = f->db};
  if (rt_store_open(&cfg, &f->st, NULL))
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  rt_store_close(f->st);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  if (system(cmd) != 0)
    return -1;
  free(f);
  return 0;
}

static const char *fixture(const char *name) {
  static char p[512];
  const char *dir = getenv("RT_FIXTURES");
  snprintf(p, sizeof p, "%s/%s", dir ? dir : "tests/fixtures", name);
  return p;
}

/* Writes text to a file in the test's directory and returns its path. */
static const char *write_file(fx *f, const char *name, const char *text) {
  static char p[256];
  snprintf(p, sizeof p, "%s/%s", f->dir, name);
  FILE *o = fopen(p, "w");
  assert_non_null(o);
  fputs(text, o);
  fclose(o);
  return p;
}

static int64_t count(rt_store *st) {
  int64_t n = -1;
  assert_int_equal(rt_store_count(st, "exchange_rates", &n, NULL), 0);
  return n;
}

static int64_t data_version(rt_store *st) {
  int64_t v = -1;
  assert_int_equal(rt_store_data_version(st, &v, NULL), 0);
  return v;
}

static int import(fx *f, const char *path, const rt_rates_import_opts *o,
                  rt_rates_import_result *res, rt_error *err) {
  rt_rates_import_opts d;
  rt_rates_import_opts_init(&d);
  int rc = rt_rates_import_file(f->st, path, o ? o : &d, res, err);
  if (rc && getenv("RT_TEST_VERBOSE"))
    fprintf(stderr, "import %s: %s\n", path, err->msg);
  return rc;
}

/* The ECB's layout: 7 rows of 41 currencies, 213 rates and 74 N/A (counted with pandas),
 * stored once; the same file again stores nothing and leaves the data version alone. */
static void test_import_ecb(void **state) {
  fx *f = *state;
  rt_rates_import_result res;
  rt_error err = {0};
  int64_t v0 = data_version(f->st);
  assert_int_equal(import(f, fixture("ecb_rates.csv"), NULL, &res, &err), 0);
  assert_int_equal(res.layout, RT_RATES_WIDE);
  assert_int_equal(res.rows, 7);
  assert_int_equal(res.stored, 213);
  assert_int_equal(res.missing, 74);
  assert_int_equal(res.replaced + res.unchanged + res.skipped, 0);
  assert_int_equal(res.currencies, 41);
  assert_int_equal(res.first_day, day("1999-01-04"));
  assert_int_equal(res.last_day, day("2024-03-18"));
  assert_int_equal(count(f->st), 213);
  int64_t v1 = data_version(f->st);
  assert_true(v1 > v0);
  assert_int_equal(import(f, fixture("ecb_rates.csv"), NULL, &res, &err), 0);
  assert_int_equal(res.stored, 0);
  assert_int_equal(res.unchanged, 213);
  assert_int_equal(count(f->st), 213);
  assert_int_equal(data_version(f->st), v1);

  /* what was stored converts like the rates of the cases above */
  rt_rates *r;
  assert_int_equal(rt_rates_load(f->st, &r, &err), 0);
  assert_string_equal(rt_rates_pivot(r), "EUR");
  assert_int_equal(rt_rates_count(r), 213);
  assert_int_equal(rt_rates_nseries(r), 41);
  int64_t out;
  assert_int_equal(rt_rates_convert(r, 10000, "USD", "JPY", day("2024-03-17"), &out, &err), 0);
  assert_int_equal(out, 14876);
  assert_int_equal(rt_rates_convert(r, 1500, "EUR", "JPY", day("2024-03-14"), &out, &err), 0);
  assert_int_equal(out, 2426);
  /* CYP has a rate in 1999 only, which still holds in 2019 (the latest on or before):
   * 100 CYP = 100 / 0.58231 x 0.86335 GBP of 2019-04-09 = 148.26 */
  assert_int_equal(rt_rates_convert(r, 10000, "CYP", "GBP", day("2019-04-09"), &out, &err), 0);
  assert_int_equal(out, 14826);
  /* HRK is quoted in 2019 only: no rate before 2019-04-08 */
  assert_int_equal(rt_rates_convert(r, 100, "HRK", "EUR", day("2019-04-07"), &out, &err),
                   RT_ENOTFOUND);
  assert_non_null(strstr(err.msg, "EUR/HRK rates start on 2019-04-08"));
  rt_rates_free(r);

  /* a corrected value replaces the stored one */
  const char *fix = write_file(f, "fix.csv", "Date,USD,JPY,\n2024-03-18,1.0892,162.50,\n");
  assert_int_equal(import(f, fix, NULL, &res, &err), 0);
  assert_int_equal(res.replaced, 1);
  assert_int_equal(res.unchanged, 1);
  assert_int_equal(count(f->st), 213);
  assert_true(data_version(f->st) > v1);
}

/* The long layout, with bases per row, lower-case codes, the default base and --base. */
static void test_import_long(void **state) {
  fx *f = *state;
  rt_rates_import_result res;
  rt_error err = {0};
  assert_int_equal(import(f, fixture("rates_long.csv"), NULL, &res, &err), 0);
  assert_int_equal(res.layout, RT_RATES_LONG);
  assert_int_equal(res.rows, 5);
  assert_int_equal(res.stored, 5);
  assert_int_equal(res.currencies, 3); /* ARS, KWD, EUR */
  /* with the ECB's rows of 2024 (the header and the first three rows of the fixture) */
  FILE *in = fopen(fixture("ecb_rates.csv"), "r");
  assert_non_null(in);
  char text[4096] = "", line[1024];
  for (int i = 0; i < 4 && fgets(line, sizeof line, in); i++)
    strcat(text, line);
  fclose(in);
  assert_int_equal(import(f, write_file(f, "ecb2024.csv", text), NULL, &res, &err), 0);
  assert_int_equal(res.stored, 3 * 30); /* 41 columns, 11 of them N/A in 2024 */
  rt_rates *r;
  assert_int_equal(rt_rates_load(f->st, &r, &err), 0);
  int64_t out;
  for (size_t i = 0; i < RT_ARRAY_LEN(CASES); i++) { /* the same rates as RATES */
    /* but for NOK: the ECB's file quotes it against EUR, which is preferred to NOK/EUR */
    if (!strcmp(CASES[i].from, "NOK") || !strcmp(CASES[i].to, "NOK"))
      continue;
    assert_int_equal(rt_rates_convert(r, CASES[i].amount, CASES[i].from, CASES[i].to,
                                      day(CASES[i].day), &out, &err),
                     0);
    assert_int_equal(out, CASES[i].want);
  }
  rt_rates_free(r);
  /* another base for rows without one; other columns ignored; any column order */
  rt_rates_import_opts o;
  rt_rates_import_opts_init(&o);
  o.base = "usd";
  const char *p = write_file(f, "usd.csv", "Rate,Note,Currency,Date\n3.75,x,PEN,2024-01-02\n");
  assert_int_equal(import(f, p, &o, &res, &err), 0);
  assert_int_equal(res.stored, 1);
  assert_int_equal(rt_rates_load(f->st, &r, &err), 0);
  assert_int_equal(rt_rates_convert(r, 400, "USD", "PEN", day("2024-01-02"), &out, &err), 0);
  assert_int_equal(out, 1500);
  /* PEN reaches EUR only through USD, which has no EUR rate before 2024-03-14 */
  assert_int_equal(rt_rates_convert(r, 400, "EUR", "PEN", day("2024-01-02"), &out, &err),
                   RT_ENOTFOUND);
  assert_non_null(strstr(err.msg, "for PEN on or before 2024-01-02: the EUR/USD rates start"));
  rt_rates_free(r);
  o.base = "EURO";
  assert_int_equal(import(f, p, &o, &res, &err), RT_EINVAL);
}

/* Each bad cell fails the whole import with its place, and nothing is stored. */
static void test_import_errors(void **state) {
  fx *f = *state;
  static const struct {
    const char *text, *want;
  } bad[] = {
      {"Date,USD,JPY,\n2024-01-02,1.09,160.1,\n2024-01-03,1.1,16O.2,\n",
       "bad.csv:3:3 (column 3 'JPY'): invalid rate '16O.2' (expected a decimal number like "
       "1.0921)"},
      {"Date,USD,JPY,\n2024-01-02,1.09,160.1,\n2024-13-03,1.1,160.2,\n",
       "bad.csv:3:1 (column 1 'Date'): invalid date '2024-13-03': month 13 out of range"},
      {"Date,USD,JPY\n2024-01-02,0,160.1\n", "bad.csv:2:2 (column 2 'USD'): rate 0 is not above 0"},
      {"Date,USD,JPY\n2024-01-02,-1.5,160.1\n",
       "bad.csv:2:2 (column 2 'USD'): rate -1.5 is not above 0"},
      {"Date,USD,JPY\n2024-01-02,1.09\n", "bad.csv:2: 2 fields, but the header has 3"},
      {"Date,USD,JPY,\n2024-01-02,1.09,160,5\n",
       "bad.csv:2:4 (column 4): a value in a column without a name"},
      {"Date,USD,JPY,\n2024-01-02,1.09,160,,7\n",
       "bad.csv:2:5 (column 5): a value beyond the header's 4 columns"},
      {"Date,USD,US Dollar\n", "bad.csv:1:3 (column 3 'US Dollar'): not a currency code"},
      {"Date,USD,JPY,usd\n", "bad.csv:1:4 (column 4 'usd'): USD is also column 2"},
      {"Date,EUR,USD\n2024-01-02,1.5,1.09\n",
       "bad.csv:2:2 (column 2 'EUR'): the rate of EUR against itself must be 1, not 1.5"},
      {"Datum,USD\n2024-01-02,1.09\n", "bad.csv:1: cannot tell the layout"},
      {"Date\n2024-01-02\n", "bad.csv:1: cannot tell the layout"},
      {"date,currency,rate\n2024-01-02,US,1.1\n",
       "bad.csv:2:2 (column 2 'currency'): invalid currency 'US'"},
      {"date,currency,rate,base\n2024-01-02,USD,1.1,E1R\n",
       "bad.csv:2:4 (column 4 'base'): invalid currency 'E1R'"},
      {"date,currency,rate\n,USD,1.1\n", "bad.csv:2:1 (column 1 'date'): no date"},
      {"date,currency,rate\n2024-01-02,USD,1e400\n", "bad.csv:2:3 (column 3 'rate'): invalid rate"},
      {"", "bad.csv: empty file"},
  };
  rt_rates_import_result res;
  rt_error err = {0};
  const char *good = write_file(f, "good.csv", "Date,GBP\n2024-01-02,0.86\n");
  assert_int_equal(import(f, good, NULL, &res, &err), 0);
  int64_t v = data_version(f->st);
  for (size_t i = 0; i < RT_ARRAY_LEN(bad); i++) {
    const char *p = write_file(f, "bad.csv", bad[i].text);
    int rc = import(f, p, NULL, &res, &err);
    assert_true(rc < 0);
    const char *at = strstr(err.msg, "bad.csv");
    if (!at || !strstr(at, bad[i].want + strlen("bad.csv")) ||
        strncmp(at, bad[i].want, strlen("bad.csv")) != 0)
      fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].want);
    assert_int_equal(res.stored, 0);
    assert_int_equal(count(f->st), 1);
    assert_int_equal(data_version(f->st), v);
  }
  assert_int_equal(import(f, "/nonexistent/rates.csv", NULL, &res, &err), RT_EIO);
  assert_non_null(strstr(err.msg, "/nonexistent/rates.csv"));
}

/* skip_bad: the good cells are stored, each bad one reported and written to the rejects file. */
static void test_import_skip_bad(void **state) {
  fx *f = *state;
  const char *p = write_file(f, "mixed.csv",
                             "Date,USD,JPY,\n"
                             "2024-01-03,1.1,x,\n"      /* JPY bad, USD stored */
                             "2024-02-30,1.2,161,\n"    /* the date bad: the row skipped */
                             "2024-01-04,N/A,160.5,\n"  /* a missing value is no error */
                             "2024-01-05,-1,0,\n");     /* two bad cells */
  char rejects[256];
  snprintf(rejects, sizeof rejects, "%s/mixed.rejects.csv", f->dir);
  rt_rates_import_opts o;
  rt_rates_import_opts_init(&o);
  o.skip_bad = 1;
  o.rejects_path = rejects;
  rt_rates_import_result res;
  rt_error err = {0};
  assert_int_equal(import(f, p, &o, &res, &err), 0);
  assert_int_equal(res.rows, 4);
  assert_int_equal(res.stored, 2);
  assert_int_equal(res.missing, 1);
  assert_int_equal(res.skipped, 4);
  assert_non_null(strstr(res.first_rejects[0], "mixed.csv:2:3 (column 3 'JPY'): invalid rate 'x'"));
  assert_non_null(strstr(res.first_rejects[1], "mixed.csv:3:1 (column 1 'Date'): invalid date"));
  assert_non_null(strstr(res.first_rejects[3], "mixed.csv:5:3 (column 3 'JPY'): rate 0"));
  assert_int_equal(count(f->st), 2);
  FILE *in = fopen(rejects, "r");
  assert_non_null(in);
  char line[512];
  int lines = 0;
  while (fgets(line, sizeof line, in)) {
    if (lines == 0)
      assert_string_equal(line, "line,reason,fields...\n");
    if (lines == 1)
      assert_string_equal(line, "2,\"invalid rate 'x' (expected a decimal number like 1.0921)\","
                                "\"2024-01-03\",\"1.1\",\"x\",\"\"\n");
    lines++;
  }
  fclose(in);
  assert_int_equal(lines, 5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conversions),
      cmocka_unit_test(test_no_rate),
      cmocka_unit_test(test_identity),
      cmocka_unit_test(test_exponents),
      cmocka_unit_test(test_add),
      cmocka_unit_test(test_series_and_pivot),
      cmocka_unit_test(test_chains),
      cmocka_unit_test(test_lookup_random),
      cmocka_unit_test(test_decimals),
      cmocka_unit_test(test_range),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_amount_parse),
      cmocka_unit_test_setup_teardown(test_import_ecb, setup, teardown),
      cmocka_unit_test_setup_teardown(test_import_long, setup, teardown),
      cmocka_unit_test_setup_teardown(test_import_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_import_skip_bad, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
