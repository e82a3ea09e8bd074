/* fuzz_num.c - libFuzzer target for the number parsers (src/base/numparse.c) and the value
 * rules shared by the importer and the events API (src/base/validate.c): amounts, plain
 * numbers, integers, quantities, currency codes and ids.
 *
 * The first byte picks the amount's decimals (0..4); the rest is the text. rt__parse_money
 * must accept exactly the plain decimal numbers (an optional sign, digits, optionally a point
 * and digits: checked here by a separate reading) within RT__MONEY_MAX, and give the value
 * that reading gives; an id's NFC form must be its own NFC form.
 *
 *   CC=clang cmake -S . -B /tmp/build-fuzz -G Ninja -DRT_FUZZ=ON -DRT_SANITIZE=ON && \
 *   cmake --build /tmp/build-fuzz --target fuzz_num && \
 *   cp -r tests/fuzz/corpus_num /tmp/corpus_num && /tmp/build-fuzz/fuzz_num -max_total_time=600 /tmp/corpus_num */
#include <retain/error.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The grammar, read again: 1 with the value (rounded half away from zero at exp decimals) when
 * s is an optional sign, digits, optionally a point and digits; 2 when it is but too large. */
static int reference(const char *s, size_t n, int exp, int64_t *out) {
  size_t i = 0;
  int neg = 0;
  if (i < n && (s[i] == '+' || s[i] == '-'))
    neg = s[i++] == '-';
  size_t int_start = i;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++;
  size_t int_end = i, frac_start = i, frac_end = i;
  if (int_end == int_start)
    return 0;
  if (i < n && s[i] == '.') {
    frac_start = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
    frac_end = i;
    if (frac_end == frac_start)
      return 0;
  }
  if (i != n)
    return 0;
  /* the value in minor units, as a decimal of at most 19 significant digits, else too large */
  unsigned __int128 v = 0;
  for (size_t k = int_start; k < int_end; k++) {
    v = v * 10 + (unsigned)(s[k] - '0');
    if (v > (unsigned __int128)RT__MONEY_MAX * 10)
      return 2;
  }
  for (int d = 0; d < exp; d++) {
    size_t k = frac_start + (size_t)d;
    v = v * 10 + (k < frac_end ? (unsigned)(s[k] - '0') : 0);
  }
  size_t next = frac_start + (size_t)exp;
  if (next < frac_end && s[next] >= '5')
    v++;
  if (v > (unsigned __int128)RT__MONEY_MAX)
    return 2;
  *out = neg ? -(int64_t)v : (int64_t)v;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  int exp = data[0] % 5;
  const char *s = (const char *)data + 1;
  size_t n = size - 1;
  int64_t got = 0, want = 0;
  int rc = rt__parse_money(s, n, exp, &got);
  int ref = reference(s, n, exp, &want);
  if ((ref == 1) != (rc == 0) || (ref == 1 && got != want) || (ref == 2 && rc != RT_ERANGE) ||
      (ref == 0 && rc == 0))
    abort();
  double d;
  if (rt__parse_double(s, n, &d) == 0) {
    const char *why = NULL;
    if (rt__quantity_check(d, 1, &why) == 0 && (d != (double)(int64_t)d || d == 0 ||
                                                 d > RT__QUANTITY_MAX || d < -RT__QUANTITY_MAX))
      abort();
    int64_t m;
    if (rt__money_from_double(d, exp, &m) == 0 && (m > RT__MONEY_MAX || m < -RT__MONEY_MAX))
      abort();
  }
  int64_t i;
  if (rt__parse_i64(s, n, &i) == 0) {
    int64_t p = 0, sum = i;
    if (rt__money_mul(i, got, &p) == 0 && (p > RT__MONEY_MAX || p < -RT__MONEY_MAX))
      abort();
    if (rt__money_add(&sum, got) == 0 && (sum > RT__MONEY_MAX || sum < -RT__MONEY_MAX))
      abort();
  }
  char cur[4];
  if (rt__currency_check(s, n, cur) == 0)
    for (int k = 0; k < 3; k++)
      if (cur[k] < 'A' || cur[k] > 'Z' || cur[3])
        abort();
  char *nfc, *again;
  size_t len, len2;
  const char *why;
  if (rt__id_check(s, n, &nfc, &len, &why) == 0 && nfc) {
    if (memchr(nfc, '\0', len) || rt__id_check(nfc, len, &again, &len2, &why) || again)
      abort();
    free(nfc);
  }
  return 0;
}
