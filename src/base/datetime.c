/* datetime.c - the proleptic Gregorian calendar on day numbers, reporting periods (day, ISO
 * week, month, quarter, year) with their labels, durations, and ISO 8601 formatting.
 *
 * Day numbers count days since 1970-01-01. The civil conversions use the era decomposition of
 * Howard Hinnant's "chrono-Compatible Low-Level Date Algorithms": years are shifted to start in
 * March so that the leap day is the last day of the shifted year, and a 400-year era holds
 * exactly 146097 days. Time zones live in tz.c, date parsing in dateparse.c. */
#include <retain/datetime.h>

#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Floor division; inlined here so that division by a constant becomes a multiplication. */
static inline int64_t fdiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    q--;
  return q;
}

int64_t rt_floordiv(int64_t a, int64_t b) { return fdiv(a, b); }

/* Day 0 of the shifted calendar (0000-03-01) is day -719468 of the Unix calendar. */
#define CIVIL_EPOCH_SHIFT 719468

int64_t rt_days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = fdiv(y, 400);
  int64_t yoe = y - era * 400;                                  /* [0, 399] */
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365] */
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
  return era * 146097 + doe - CIVIL_EPOCH_SHIFT;
}

void rt_civil_from_days(int64_t days, int64_t *y, int *m, int *d) {
  int64_t z = days + CIVIL_EPOCH_SHIFT;
  int64_t era = fdiv(z, 146097);
  int64_t doe = z - era * 146097;                                       /* [0, 146096] */
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                /* [0, 365] */
  int64_t mp = (5 * doy + 2) / 153;                                     /* [0, 11], March = 0 */
  int mm = (int)(mp < 10 ? mp + 3 : mp - 9);
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = mm;
  *y = yoe + era * 400 + (mm <= 2);
}

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int64_t y, int m) {
  static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 ? 28 + is_leap(y) : dim[m - 1];
}

int rt_civil_valid(int64_t y, int m, int d) {
  return m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

/* ---- ISO 8601 formatting ---- */

int rt_day_format(int64_t day, char *buf, size_t n) {
  int64_t y;
  int m, d;
  rt_civil_from_days(day, &y, &m, &d);
  if (y < 0 || y > 9999 || n < 11)
    return snprintf(buf, n, "%04lld-%02d-%02d", (long long)y, m, d);
  /* the common case without printf: exports write a date for each of millions of rows */
  buf[0] = (char)('0' + y / 1000);
  buf[1] = (char)('0' + y / 100 % 10);
  buf[2] = (char)('0' + y / 10 % 10);
  buf[3] = (char)('0' + y % 10);
  buf[4] = '-';
  buf[5] = (char)('0' + m / 10);
  buf[6] = (char)('0' + m % 10);
  buf[7] = '-';
  buf[8] = (char)('0' + d / 10);
  buf[9] = (char)('0' + d % 10);
  buf[10] = 0;
  return 10;
}

int rt_time_format(const rt_tz *tz, int64_t utc_ms, char *buf, size_t n) {
  int32_t off = rt_tz_offset(tz, utc_ms);
  int64_t local = utc_ms + (int64_t)off * 1000;
  int64_t day = fdiv(local, RT_MS_PER_DAY);
  int64_t msod = local - day * RT_MS_PER_DAY; /* milliseconds of the day */
  int64_t y;
  int m, d;
  rt_civil_from_days(day, &y, &m, &d);
  int hh = (int)(msod / 3600000), mi = (int)(msod / 60000 % 60), ss = (int)(msod / 1000 % 60);
  int ms = (int)(msod % 1000);

  char frac[8] = "", zone[16];
  if (ms)
    snprintf(frac, sizeof frac, ".%03d", ms);
  /* "Z" only for a UTC zone; a zone that is merely at offset 0 right now says "+00:00". */
  if (off == 0 && strcmp(rt_tz_name(tz), "UTC") == 0) {
    strcpy(zone, "Z");
  } else {
    int a = off < 0 ? -off : off;
    if (a % 60)
      snprintf(zone, sizeof zone, "%c%02d:%02d:%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60,
               a % 60);
    else
      snprintf(zone, sizeof zone, "%c%02d:%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
  }
  return snprintf(buf, n, "%04lld-%02d-%02dT%02d:%02d:%02d%s%s", (long long)y, m, d, hh, mi, ss,
                  frac, zone);
}

/* ---- periods ---- */

/* 1970-01-01 was a Thursday, so the Monday that starts its ISO week is day -3. */
#define WEEK_EPOCH_MONDAY (-3)

static const char *const unit_names[] = {"day", "week", "month", "quarter", "year"};

const char *rt_period_unit_name(rt_period_unit u) {
  return (unsigned)u < RT_ARRAY_LEN(unit_names) ? unit_names[u] : "?";
}

static int ieq(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
      return 0;
  return *a == *b;
}

int rt_period_unit_parse(const char *s, rt_period_unit *out) {
  static const struct {
    const char *name;
    rt_period_unit unit;
  } names[] = {
      {"day", RT_PERIOD_DAY},         {"days", RT_PERIOD_DAY},         {"d", RT_PERIOD_DAY},
      {"daily", RT_PERIOD_DAY},       {"week", RT_PERIOD_WEEK},        {"weeks", RT_PERIOD_WEEK},
      {"w", RT_PERIOD_WEEK},          {"weekly", RT_PERIOD_WEEK},      {"month", RT_PERIOD_MONTH},
      {"months", RT_PERIOD_MONTH},    {"m", RT_PERIOD_MONTH},          {"monthly", RT_PERIOD_MONTH},
      {"quarter", RT_PERIOD_QUARTER}, {"quarters", RT_PERIOD_QUARTER}, {"q", RT_PERIOD_QUARTER},
      {"quarterly", RT_PERIOD_QUARTER}, {"year", RT_PERIOD_YEAR},      {"years", RT_PERIOD_YEAR},
      {"y", RT_PERIOD_YEAR},          {"yearly", RT_PERIOD_YEAR},      {"annual", RT_PERIOD_YEAR},
  };
  if (!s)
    return RT_EINVAL;
  for (size_t i = 0; i < RT_ARRAY_LEN(names); i++)
    if (ieq(s, names[i].name)) {
      *out = names[i].unit;
      return 0;
    }
  return RT_EINVAL;
}

int64_t rt_period_of_day(rt_period_unit u, int64_t day) {
  int64_t y;
  int m, d;
  switch (u) {
  case RT_PERIOD_DAY:
    return day;
  case RT_PERIOD_WEEK:
    return fdiv(day - WEEK_EPOCH_MONDAY, 7);
  case RT_PERIOD_MONTH:
    rt_civil_from_days(day, &y, &m, &d);
    return y * 12 + (m - 1);
  case RT_PERIOD_QUARTER:
    rt_civil_from_days(day, &y, &m, &d);
    return y * 4 + (m - 1) / 3;
  case RT_PERIOD_YEAR:
    rt_civil_from_days(day, &y, &m, &d);
    return y;
  }
  return day;
}

int64_t rt_period_first_day(rt_period_unit u, int64_t period) {
  int64_t y;
  switch (u) {
  case RT_PERIOD_DAY:
    return period;
  case RT_PERIOD_WEEK:
    return period * 7 + WEEK_EPOCH_MONDAY;
  case RT_PERIOD_MONTH:
    y = fdiv(period, 12);
    return rt_days_from_civil(y, (int)(period - y * 12) + 1, 1);
  case RT_PERIOD_QUARTER:
    y = fdiv(period, 4);
    return rt_days_from_civil(y, (int)(period - y * 4) * 3 + 1, 1);
  case RT_PERIOD_YEAR:
    return rt_days_from_civil(period, 1, 1);
  }
  return period;
}

/* The ISO week-year and week number (1-53) of the week with the given index. The week belongs
 * to the year that holds its Thursday. */
static void iso_week(int64_t week, int64_t *wy, int *wn) {
  int64_t thursday = week * 7 + WEEK_EPOCH_MONDAY + 3;
  int m, d;
  rt_civil_from_days(thursday, wy, &m, &d);
  *wn = (int)((thursday - rt_days_from_civil(*wy, 1, 1)) / 7) + 1;
}

/* The index of week 1 of ISO week-year y: the week that holds January 4. */
static int64_t iso_week1(int64_t y) {
  return rt_period_of_day(RT_PERIOD_WEEK, rt_days_from_civil(y, 1, 4));
}

int rt_period_label(rt_period_unit u, int64_t period, char *buf, size_t n) {
  int64_t y;
  int w;
  switch (u) {
  case RT_PERIOD_DAY:
    return rt_day_format(period, buf, n);
  case RT_PERIOD_WEEK:
    iso_week(period, &y, &w);
    return snprintf(buf, n, "%04lld-W%02d", (long long)y, w);
  case RT_PERIOD_MONTH:
    y = fdiv(period, 12);
    return snprintf(buf, n, "%04lld-%02d", (long long)y, (int)(period - y * 12) + 1);
  case RT_PERIOD_QUARTER:
    y = fdiv(period, 4);
    return snprintf(buf, n, "%04lld-Q%d", (long long)y, (int)(period - y * 4) + 1);
  case RT_PERIOD_YEAR:
    return snprintf(buf, n, "%04lld", (long long)period);
  }
  return snprintf(buf, n, "?");
}

/* Reads exactly k digits at *p (advancing it); -1 if they are not all digits. */
static int take_digits(const char **p, const char *end, int k) {
  int v = 0;
  if (end - *p < k)
    return -1;
  for (int i = 0; i < k; i++) {
    unsigned dg = (unsigned char)(*p)[i] - '0';
    if (dg > 9)
      return -1;
    v = v * 10 + (int)dg;
  }
  *p += k;
  return v;
}

/* The string s (NULL: empty) without the white space around it, as [*b, *e). */
static void trim_span(const char *s, const char **b, const char **e) {
  if (!s)
    s = "";
  const char *x = s, *y = s + strlen(s);
  while (x < y && isspace((unsigned char)*x))
    x++;
  while (y > x && isspace((unsigned char)y[-1]))
    y--;
  *b = x;
  *e = y;
}

static const char *const label_forms[] = {"YYYY-MM-DD", "YYYY-Www or YYYY-MM-DD",
                                          "YYYY-MM or YYYY-MM-DD", "YYYY-Qn or YYYY-MM-DD",
                                          "YYYY or YYYY-MM-DD"};

int rt_period_parse_label(rt_period_unit u, const char *s, int64_t *out_period, rt_error *err) {
  if ((unsigned)u >= RT_ARRAY_LEN(unit_names))
    return rt_error_set(err, RT_EINVAL, "invalid period unit %d", (int)u);
  const char *b, *e;
  trim_span(s, &b, &e);
  int len = (int)(e - b);
  const char *p = b;
  int y = take_digits(&p, e, 4);
  if (y < 0)
    goto bad;
  /* year 0's first days are in ISO week-year -1, whose label no one could read back (found by
   * fuzz_query) */
  if (y == 0)
    return rt_error_set(err, RT_EPARSE, "invalid %s label '%.*s': years start at 0001",
                        unit_names[u], len, b);

  /* Any full date stands for the period that contains it. */
  if (len == 10 && p[0] == '-' && p[3] == '-') {
    p++;
    int m = take_digits(&p, e, 2);
    p++;
    int d = take_digits(&p, e, 2);
    if (m < 0 || d < 0)
      goto bad;
    if (m < 1 || m > 12)
      return rt_error_set(err, RT_EPARSE, "invalid %s label '%.*s': month %d out of range",
                          unit_names[u], len, b, m);
    if (!rt_civil_valid(y, m, d))
      return rt_error_set(err, RT_EPARSE,
                          "invalid %s label '%.*s': day %d out of range for %04d-%02d",
                          unit_names[u], len, b, d, y, m);
    *out_period = rt_period_of_day(u, rt_days_from_civil(y, m, d));
    return 0;
  }

  switch (u) {
  case RT_PERIOD_DAY:
    break;
  case RT_PERIOD_WEEK:
    if (len == 8 && p[0] == '-' && (p[1] == 'W' || p[1] == 'w')) {
      p += 2;
      int w = take_digits(&p, e, 2);
      if (w < 0)
        break;
      int64_t w1 = iso_week1(y);
      int weeks = (int)(iso_week1(y + 1) - w1);
      if (w < 1 || w > weeks)
        return rt_error_set(err, RT_EPARSE, "invalid week label '%.*s': %04d has weeks 1 to %d",
                            len, b, y, weeks);
      *out_period = w1 + (w - 1);
      return 0;
    }
    break;
  case RT_PERIOD_MONTH:
    if (len == 7 && p[0] == '-') {
      p++;
      int m = take_digits(&p, e, 2);
      if (m < 0)
        break;
      if (m < 1 || m > 12)
        return rt_error_set(err, RT_EPARSE, "invalid month label '%.*s': month %d out of range",
                            len, b, m);
      *out_period = (int64_t)y * 12 + (m - 1);
      return 0;
    }
    break;
  case RT_PERIOD_QUARTER:
    if (len == 7 && p[0] == '-' && (p[1] == 'Q' || p[1] == 'q')) {
      unsigned q = (unsigned char)p[2] - '0';
      if (q > 9)
        break;
      if (q < 1 || q > 4)
        return rt_error_set(err, RT_EPARSE,
                            "invalid quarter label '%.*s': quarter %u out of range (1-4)", len, b,
                            q);
      *out_period = (int64_t)y * 4 + (q - 1);
      return 0;
    }
    break;
  case RT_PERIOD_YEAR:
    if (len == 4) {
      *out_period = y;
      return 0;
    }
    break;
  }
bad:
  if (len == 0)
    return rt_error_set(err, RT_EPARSE, "empty %s label (expected %s)", unit_names[u],
                        label_forms[u]);
  return rt_error_set(err, RT_EPARSE, "invalid %s label '%.*s' (expected %s)", unit_names[u],
                      len > 64 ? 64 : len, b, label_forms[u]);
}

/* ---- durations ---- */

int rt_duration_parse(const char *s, int64_t *out_amount, char *out_unit, rt_error *err) {
  static const struct {
    const char *name;
    char unit;
  } units[] = {
      {"h", 'h'},     {"hour", 'h'},  {"hours", 'h'},  {"d", 'd'},      {"day", 'd'},
      {"days", 'd'},  {"w", 'w'},     {"week", 'w'},   {"weeks", 'w'},  {"m", 'm'},
      {"mo", 'm'},    {"month", 'm'}, {"months", 'm'}, {"y", 'y'},      {"yr", 'y'},
      {"year", 'y'},  {"years", 'y'},
  };
  const char *b, *e;
  trim_span(s, &b, &e);
  int len = (int)(e - b), shown = len > 64 ? 64 : len;
  if (len == 0)
    return rt_error_set(err, RT_EPARSE, "empty duration (expected a number and a unit, e.g. 90d)");
  const char *p = b;
  if (*p == '-')
    return rt_error_set(err, RT_EPARSE, "invalid duration '%.*s': must not be negative", shown, b);
  if (*p == '+')
    p++;
  int64_t v = 0;
  const char *digits = p;
  for (; p < e && (unsigned)(*p - '0') <= 9; p++) {
    if (v > (INT64_C(1) << 40))
      return rt_error_set(err, RT_ERANGE, "invalid duration '%.*s': too large", shown, b);
    v = v * 10 + (*p - '0');
  }
  if (p == digits)
    goto bad;
  while (p < e && *p == ' ')
    p++;
  char unit = 'd';
  if (p < e) {
    char word[8];
    size_t k = (size_t)(e - p);
    if (k >= sizeof word)
      goto bad;
    for (size_t i = 0; i < k; i++)
      word[i] = (char)tolower((unsigned char)p[i]);
    word[k] = '\0';
    size_t i;
    for (i = 0; i < RT_ARRAY_LEN(units); i++)
      if (strcmp(word, units[i].name) == 0)
        break;
    if (i == RT_ARRAY_LEN(units))
      goto bad;
    unit = units[i].unit;
  }
  *out_amount = v;
  *out_unit = unit;
  return 0;
bad:
  return rt_error_set(err, RT_EPARSE,
                      "invalid duration '%.*s': expected a number with an optional unit h, d, w, "
                      "m or y (e.g. 90d, 12w, 6m)",
                      shown, b);
}
