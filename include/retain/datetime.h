/* datetime.h - civil dates, time zones, date parsing and reporting periods.
 *
 * Instants are int64 UTC milliseconds since 1970-01-01T00:00:00Z. A "day" is a day number:
 * days since 1970-01-01 in the business time zone (proleptic Gregorian calendar). Periods
 * (day, ISO week, month, quarter, year) are integer indexes computed from day numbers, so
 * period arithmetic ("3 periods after acquisition") is subtraction. All functions here are
 * thread-safe; an rt_tz is immutable once loaded. */
#ifndef RETAIN_DATETIME_H
#define RETAIN_DATETIME_H

#include <retain/error.h>
#include <stddef.h>
#include <stdint.h>

#define RT_MS_PER_DAY 86400000LL

/* Day number of a civil date (month 1-12, day 1-31; not validated). */
int64_t rt_days_from_civil(int64_t y, int m, int d);
/* Civil date of a day number. */
void rt_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
/* 1 if y-m-d is a real calendar date. */
int rt_civil_valid(int64_t y, int m, int d);
/* Floor division helpers for negative values. */
int64_t rt_floordiv(int64_t a, int64_t b);

/* ---- time zones ---- */
typedef struct rt_tz rt_tz;
/* Loads a zone: "UTC", a fixed offset ("+05:30", "-0800", "UTC+2"), or an IANA name read from
 * the system's TZif files (/usr/share/zoneinfo, or $TZDIR). The result is freed with
 * rt_tz_free. NULL stands for UTC everywhere an rt_tz is taken. */
int rt_tz_load(const char *name, rt_tz **out, rt_error *err);
void rt_tz_free(rt_tz *tz);
const char *rt_tz_name(const rt_tz *tz); /* "UTC" for NULL */
/* Offset from UTC, in seconds, in force at the instant utc_ms. */
int32_t rt_tz_offset(const rt_tz *tz, int64_t utc_ms);
/* The instant of a local wall-clock time. In a gap (clocks jump forward) the offset before the
 * gap is used; in an overlap (clocks go back) the earlier instant is chosen. */
int64_t rt_tz_local_to_utc(const rt_tz *tz, int64_t local_ms);
/* The local day number of an instant. */
int64_t rt_tz_day(const rt_tz *tz, int64_t utc_ms);

/* ---- parsing dates and times ---- */
typedef struct rt_datefmt rt_datefmt;
/* Compiles a strftime-like pattern: %Y %m %d %H %M %S %y %b (Jan) %f (fraction) %z (+hh:mm or
 * Z) %p (AM/PM),
 * %% a literal percent sign. Other characters match themselves. NULL pattern or "auto"
 * gives the automatic format (see rt_date_parse). */
int rt_datefmt_compile(const char *pattern, rt_datefmt **out, rt_error *err);
void rt_datefmt_free(rt_datefmt *f);

/* Parses s[0..n) into a UTC instant. fmt NULL means automatic: YYYY-MM-DD, YYYYMMDD,
 * YYYY/MM/DD, each optionally followed by [T or space]HH:MM[:SS[.fff]] and an optional Z or
 * ±HH[:MM] offset; and M/D/YYYY[ H:MM[:SS]] (US order). Times without an offset are wall-clock
 * times in tz. On failure returns RT_EPARSE and puts the reason in err ("invalid date
 * '2023-13-45': month 13 out of range"), without file or line: the caller adds those. */
int rt_date_parse(const rt_datefmt *fmt, const char *s, size_t n, const rt_tz *tz, int64_t *out_ms,
                  rt_error *err);

/* Formats an instant as ISO 8601 in tz ("2024-03-01T09:30:00+01:00"; "...Z" for UTC). */
int rt_time_format(const rt_tz *tz, int64_t utc_ms, char *buf, size_t n);
/* Formats a day number as YYYY-MM-DD. */
int rt_day_format(int64_t day, char *buf, size_t n);

/* ---- periods ---- */
typedef enum {
  RT_PERIOD_DAY = 0,
  RT_PERIOD_WEEK,    /* ISO 8601 weeks, Monday to Sunday */
  RT_PERIOD_MONTH,
  RT_PERIOD_QUARTER,
  RT_PERIOD_YEAR
} rt_period_unit;

/* "day", "week", "month", "quarter", "year" (also plurals and d/w/m/q/y). */
int rt_period_unit_parse(const char *s, rt_period_unit *out);
const char *rt_period_unit_name(rt_period_unit u);
/* Index of the period containing day. Consecutive periods have consecutive indexes. */
int64_t rt_period_of_day(rt_period_unit u, int64_t day);
/* First day of a period (the next period's first day is rt_period_first_day(u, period + 1)). */
int64_t rt_period_first_day(rt_period_unit u, int64_t period);
/* Label: 1997-01-01 (day), 1997-W01 (ISO week-year and week), 1997-01 (month), 1997-Q1,
 * 1997 (year). Returns the length written (like snprintf). */
int rt_period_label(rt_period_unit u, int64_t period, char *buf, size_t n);
/* Parses a label of that unit (or any date YYYY-MM-DD, taken as the period containing it). */
int rt_period_parse_label(rt_period_unit u, const char *s, int64_t *out_period, rt_error *err);

/* Parses a duration such as "90d", "12w", "6m" (months), "1y", "36h"; a bare number is days. */
int rt_duration_parse(const char *s, int64_t *out_amount, char *out_unit, rt_error *err);

#endif
