/* rates.h - exchange rates: converting an amount of one currency into another at a day, and
 * importing files of dated rates into the store.
 *
 * A rate says that on a day 1 unit of a base currency is worth `rate` units of another
 * (store.h, rt_rate_rec). An rt_rates holds them all, grouped in series (one per base and
 * currency, in day order), and answers "A minor units of X on day D are how many minor units
 * of Y?" with the latest rate on or before D of each currency involved: a rate holds until the
 * next one is published, so weekends and holidays use the last working day's. X and Y are
 * related through one pivot currency (the base with the most rates: EUR for the ECB's file),
 * which has the rate 1 on every day; a currency quoted against another base reaches the pivot
 * through that base's rate (or through the inverse of a rate), by the shortest chain of at most
 * RT_RATES_MAX_LEGS rates. When a currency has no rate on or before D the answer is "no rate"
 * (RT_ENOTFOUND), never an older or a later guess. docs/CURRENCIES.md has the rules and
 * examples.
 *
 * Exactness. A rate is taken as the decimal number of at most 15 significant digits nearest
 * to it, which is the number written in the file for every published rate. The conversion is
 *
 *     out = A x (rate_Y / rate_X) x 10^(e_Y - e_X)      (rates against the pivot on day D;
 *                                                         e = minor-unit exponent, model.h)
 *
 * computed exactly in integers (128-bit) and rounded once, half away from zero; only when an
 * intermediate product exceeds 128 bits (amounts and rates with very many digits) is it
 * computed in long double before the same rounding.
 *
 * Thread-safety: building (rt_rates_add, rt_rates_finish) is for one thread; a finished
 * rt_rates is immutable, and any number of threads may convert with it at once. Lookups cost
 * O(1) (a day-indexed table per series) or O(log n) for a series spanning too many days. */
#ifndef RETAIN_RATES_H
#define RETAIN_RATES_H

#include <retain/csv.h>
#include <retain/error.h>
#include <retain/store.h>
#include <stddef.h>
#include <stdint.h>

#define RT_RATES_MAX_LEGS 4 /* rates chained to reach the pivot from any currency */

typedef struct rt_rates rt_rates;

/* ---- building ---- */
/* An empty set of rates, to add to and then finish. RT_ENOMEM. */
int rt_rates_new(rt_rates **out);
/* Adds a rate: on day (a day number, years 1..9999), 1 base = rate currency. Codes are 3
 * capital letters (upper-case them first), base != currency, rate finite and > 0: else
 * RT_EINVAL (err says why). The same base, currency and day added twice: the later rate wins,
 * as in the store. Only before rt_rates_finish. */
int rt_rates_add(rt_rates *r, int64_t day, const char *base, const char *currency, double rate,
                 rt_error *err);
/* Sorts the rates, chooses the pivot, finds each currency's chain to it and builds the lookup
 * tables. After it r is read-only (rt_rates_add refuses) and may be shared between threads.
 * An empty r is fine: it converts only a currency into itself. RT_ENOMEM. */
int rt_rates_finish(rt_rates *r, rt_error *err);
/* Every rate of the store (rt_store_scan_rates), finished. On failure *out is NULL. */
int rt_rates_load(rt_store *st, rt_rates **out, rt_error *err);
void rt_rates_free(rt_rates *r); /* r may be NULL */

/* ---- converting (finished rates only) ---- */
/* amount minor units of from, on day, in minor units of to (rounded half away from zero).
 * from == to gives amount, with or without rates. RT_ENOTFOUND when from or to has no rate
 * on or before day (err names the currency, the day and when its rates start), RT_ERANGE when
 * the result does not fit in 64 bits, RT_EINVAL for a NULL argument. err may be NULL (no
 * message is then formatted: the cheap way to convert many amounts). */
int rt_rates_convert(const rt_rates *r, int64_t amount, const char *from, const char *to,
                     int64_t day, int64_t *out, rt_error *err);
/* The index of a currency (0 .. rt_rates_ncurrencies - 1), or -1 when no rate mentions it.
 * With indexes, rt_rates_convert_index skips the lookup of the codes: resolve each currency
 * once, then convert millions of amounts. */
int rt_rates_currency(const rt_rates *r, const char *code);
size_t rt_rates_ncurrencies(const rt_rates *r);
const char *rt_rates_currency_code(const rt_rates *r, int index); /* NULL out of range */
/* rt_rates_convert by index: from == to (>= 0) gives amount. -1 stands for any code the
 * rates do not know, so it is always RT_ENOTFOUND, even from -1 to -1: compare the codes
 * first when a currency may be unknown to the rates. Returns 0, RT_ENOTFOUND (an index of -1,
 * or no rate on or before day) or RT_ERANGE; sets *out only on success. */
int rt_rates_convert_index(const rt_rates *r, int64_t amount, int from, int to, int64_t day,
                           int64_t *out);
/* Units of to per 1 unit of from on day, as a double (for showing a rate; amounts go through
 * rt_rates_convert, which is exact). Same errors as rt_rates_convert. */
int rt_rates_rate(const rt_rates *r, const char *from, const char *to, int64_t day, double *out,
                  rt_error *err);

/* ---- what the rates cover ---- */
/* The pivot currency ("" when there are no rates). */
const char *rt_rates_pivot(const rt_rates *r);
/* Rates held (after finish: one per base, currency and day). */
size_t rt_rates_count(const rt_rates *r);
/* One series: the rates of currency against base, in day order. */
typedef struct rt_rate_series {
  const char *base, *currency; /* valid as long as r */
  int64_t first_day, last_day; /* day numbers */
  size_t count;
  double latest;               /* the rate on last_day */
} rt_rate_series;
/* Series i (0 .. rt_rates_nseries - 1) in order of base and currency; RT_EINVAL out of range. */
size_t rt_rates_nseries(const rt_rates *r);
int rt_rates_series(const rt_rates *r, size_t i, rt_rate_series *out);

/* Reads a decimal amount ("12.5", "-3", "1234.567"; no thousands separators) into minor units
 * of currency (rt_currency_exponent digits), rounding further digits half away from zero.
 * RT_EPARSE or RT_ERANGE with the reason in err. */
int rt_amount_parse(const char *s, const char *currency, int64_t *out, rt_error *err);

/* ---- importing a file of rates ----
 * Two layouts, told apart by the header:
 *   wide (the ECB's eurofxref-hist.csv): "Date,USD,JPY,BGN,...", one row per day, one column
 *     per currency, each cell the rate per 1 base (EUR unless opts.base says otherwise); "N/A"
 *     or an empty cell is a missing rate; empty header cells (the ECB's trailing comma) and
 *     their columns are ignored; a column of the base itself must hold 1 and is not stored;
 *   long: columns named date, currency and rate (any order, other columns ignored) and
 *     optionally base (an empty cell, or no such column: opts.base, else EUR).
 * Dates are read like the importer's (automatic formats, or opts.date_format); a time of day,
 * if given, is ignored, except that an offset moves the instant and so the UTC date. Codes are
 * upper-cased and must be 3 letters; rates are decimal numbers above 0.
 * All or nothing: the first bad cell stops the import, nothing is stored, and err reads
 * "FILE:LINE:COLUMN (column N 'NAME'): reason". With skip_bad the good cells are stored and
 * each bad one is counted, the first few kept in the result and all written to rejects_path.
 * Importing the same file again stores nothing and leaves the data version as it was; a value
 * that differs from the stored one for the same day replaces it (counted as replaced). */
typedef struct rt_rates_import_opts {
  const char *base;        /* base of a wide file and of long rows without one; NULL: "EUR" */
  rt_csv_opts csv;         /* delimiter (',' when 0), encoding */
  const char *date_format; /* NULL or "auto": automatic */
  int skip_bad;
  const char *rejects_path; /* with skip_bad: per bad cell its line, the reason and the row's
                               fields (as the importer of orders writes them); NULL: none */
} rt_rates_import_opts;
void rt_rates_import_opts_init(rt_rates_import_opts *o);

typedef enum { RT_RATES_WIDE = 1, RT_RATES_LONG = 2 } rt_rates_layout;

typedef struct rt_rates_import_result {
  rt_rates_layout layout;
  int64_t rows;      /* data rows read */
  int64_t stored;    /* rates new to the store */
  int64_t replaced;  /* rates that changed a stored value */
  int64_t unchanged; /* rates the store already had */
  int64_t missing;   /* N/A or empty cells */
  int64_t skipped;   /* bad cells skipped (skip_bad) */
  int64_t first_day, last_day; /* of the rates read (first_day > last_day when none) */
  int currencies;    /* distinct currencies with a rate in the file */
  char first_rejects[5][300];
} rt_rates_import_result;
/* Imports path ("-": standard input) into st in one transaction. */
int rt_rates_import_file(rt_store *st, const char *path, const rt_rates_import_opts *opts,
                         rt_rates_import_result *res, rt_error *err);

#endif
