/* validate.c - the rules every value from outside must pass, shared by the HTTP API's event
 * parser (server/ingest.c) and the CSV importer (ingest/import.c), so the two can never
 * disagree: external ids (valid UTF-8, no NUL, normalised to NFC), currency codes (a known
 * ISO 4217 code), quantities (whole numbers, bounded) and sums and products of money (checked
 * against RT__MONEY_MAX instead of wrapping around). */
#include "internal.h"

#include <retain/error.h>

#include <math.h>
#include <stdlib.h>
#include <utf8proc.h>

int rt__id_check(const char *s, size_t n, char **nfc, size_t *nfc_len, const char **why) {
  *nfc = NULL;
  *nfc_len = n;
  int ascii = 1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == 0) {
      *why = "contains a NUL byte";
      return RT_EINVAL;
    }
    ascii &= c < 0x80;
  }
  if (ascii) /* ASCII text is its own NFC form: the common case costs one pass */
    return 0;
  utf8proc_uint8_t *out = NULL;
  utf8proc_ssize_t len = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &out,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  if (len < 0) {
    *why = len == UTF8PROC_ERROR_INVALIDUTF8 ? "is not valid UTF-8"
                                             : "cannot be normalised to Unicode NFC";
    return RT_EINVAL;
  }
  if ((size_t)len == n && memcmp(out, s, n) == 0) {
    free(out); /* already NFC */
    return 0;
  }
  *nfc = (char *)out;
  *nfc_len = (size_t)len;
  return 0;
}

/* ISO 4217 Table A.1 ("current currency & funds code list", the standard's list one) as
 * amended up to 2025, alphabetic codes, sorted: national currencies, the funds codes (BOV,
 * CHE, CHW, CLF, COU, MXV, USN, UYI, UYW) and the X codes for gold, SDRs and the like. Codes
 * being replaced but still listed during their transition (ANG, SLL, ZWL) are kept; codes
 * withdrawn before that (HRK, CYP, DEM...) are not: they belong to Table A.3. Exchange-rate
 * files are not checked against it (rates_import.c), as their history has old codes. */
static const char iso4217[][4] = {
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS",
    "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW",
    "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD",
    "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR",
    "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL",
    "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
    "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR",
    "XOF", "XPD", "XPF", "XPT", "XSU", "XTS", "XUA", "XXX", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
};

int rt__currency_check(const char *s, size_t n, char out[4]) {
  if (n != 3)
    return RT_EINVAL;
  char up[4];
  for (int i = 0; i < 3; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 'a' && c <= 'z')
      c = (unsigned char)(c - 'a' + 'A');
    if (c < 'A' || c > 'Z')
      return RT_EINVAL;
    up[i] = (char)c;
  }
  up[3] = '\0';
  size_t lo = 0, hi = RT_ARRAY_LEN(iso4217);
  while (lo < hi) { /* binary search: the table is sorted */
    size_t mid = (lo + hi) / 2;
    int c = memcmp(iso4217[mid], up, 3);
    if (c == 0) {
      memcpy(out, up, 4);
      return 0;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return RT_EINVAL;
}

int rt__quantity_check(double q, int allow_negative, const char **why) {
  /* the range first: converting a double beyond int64 to int64 is undefined (found by
   * fuzz_num: quantity 1e300) */
  if (!(q <= RT__QUANTITY_MAX && q >= -RT__QUANTITY_MAX) || q != (double)(int64_t)q) {
    *why = "a quantity is a whole number from 1 to 1000000";
    return RT_EINVAL;
  }
  if (q == 0 || (q < 0 && !allow_negative)) {
    *why = q == 0 ? "a quantity of 0 is no line"
                  : "a negative quantity is a return: send it as an Order Refunded event";
    return RT_EINVAL;
  }
  return 0;
}

int rt__money_mul(int64_t qty, int64_t unit, int64_t *out) {
  int64_t p;
  if (__builtin_mul_overflow(qty, unit, &p) || p > RT__MONEY_MAX || p < -RT__MONEY_MAX)
    return RT_ERANGE;
  *out = p;
  return 0;
}

int rt__money_add(int64_t *sum, int64_t x) {
  int64_t s;
  if (__builtin_add_overflow(*sum, x, &s) || s > RT__MONEY_MAX || s < -RT__MONEY_MAX)
    return RT_ERANGE;
  *sum = s;
  return 0;
}

int rt__money_from_double(double x, int exp, int64_t *out) {
  double scaled = x * pow(10, exp);
  /* NaN fails both compares; the bound keeps llround's result in range */
  if (!(scaled <= (double)RT__MONEY_MAX && scaled >= -(double)RT__MONEY_MAX))
    return RT_ERANGE;
  *out = llround(scaled);
  return 0;
}
