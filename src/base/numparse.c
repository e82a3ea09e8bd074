/* numparse.c - exact parsing of money amounts into integer minor units, and of plain numbers.
 * Money never goes through floating point: "19.99" with 2 decimals is 1999 exactly. */
#include "internal.h"

#include <retain/error.h>
#include <errno.h>
#include <stdlib.h>

static void trim(const char **s, size_t *n) {
  while (*n && (**s == ' ' || **s == '\t')) {
    (*s)++;
    (*n)--;
  }
  while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
    (*n)--;
}

int rt__parse_money(const char *s, size_t n, int exp, int64_t *out) {
  /* strict on purpose: no blanks, no exponent, no hex, no "inf" (strtod would take all of
   * them); callers trim a CSV field's padding before (see rt__trim) */
  size_t i = 0;
  int neg = 0;
  if (i < n && (s[i] == '-' || s[i] == '+')) {
    neg = s[i] == '-';
    i++;
  }
  uint64_t v = 0;
  size_t digits = 0;
  const uint64_t lim = (uint64_t)INT64_MAX / 10 - 10;
  for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
    if (v > lim)
      return RT_ERANGE;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (digits == 0)
    return RT_EPARSE;
  int frac = 0;
  int round_up = 0;
  if (i < n && s[i] == '.') {
    i++;
    size_t fdigits = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, fdigits++) {
      if (frac < exp) {
        if (v > lim)
          return RT_ERANGE;
        v = v * 10 + (uint64_t)(s[i] - '0');
        frac++;
      } else if (frac == exp) {
        round_up = s[i] >= '5'; /* half away from zero on the first dropped digit */
        frac++;
      }
    }
    if (fdigits == 0)
      return RT_EPARSE;
  }
  if (i != n)
    return RT_EPARSE;
  if (frac > exp)
    frac = exp;
  for (; frac < exp; frac++) {
    if (v > lim)
      return RT_ERANGE;
    v *= 10;
  }
  v += (uint64_t)round_up;
  if (v > (uint64_t)RT__MONEY_MAX)
    return RT_ERANGE;
  *out = neg ? -(int64_t)v : (int64_t)v;
  return 0;
}

int rt__parse_double(const char *s, size_t n, double *out) {
  trim(&s, &n);
  if (n == 0 || n > 63)
    return RT_EPARSE;
  char buf[64];
  memcpy(buf, s, n);
  buf[n] = '\0';
  char *end;
  errno = 0;
  double d = strtod(buf, &end);
  if (end != buf + n || errno == ERANGE)
    return RT_EPARSE;
  /* strtod accepts "inf", "nan" and hex floats; a data file never means those */
  for (size_t i = 0; i < n; i++)
    if (!((buf[i] >= '0' && buf[i] <= '9') || buf[i] == '.' || buf[i] == '-' ||
          buf[i] == '+' || buf[i] == 'e' || buf[i] == 'E'))
      return RT_EPARSE;
  *out = d;
  return 0;
}

int rt__parse_i64(const char *s, size_t n, int64_t *out) {
  trim(&s, &n);
  size_t i = 0;
  int neg = 0;
  if (i < n && (s[i] == '-' || s[i] == '+')) {
    neg = s[i] == '-';
    i++;
  }
  if (i == n)
    return RT_EPARSE;
  uint64_t v = 0;
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return RT_EPARSE;
    if (v > ((uint64_t)INT64_MAX - 9) / 10)
      return RT_ERANGE;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = neg ? -(int64_t)v : (int64_t)v;
  return 0;
}
