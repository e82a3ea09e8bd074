/* rates_import.c - files of exchange rates into the store (rt_rates_import_file, rates.h).
 *
 * Two layouts, told apart by the header: wide (the ECB's eurofxref-hist.csv, a date column
 * and one column per currency, each cell the rate per 1 base) and long (date, currency, rate
 * and an optional base per row). Every rate is checked and put in one transaction; the first
 * bad cell rolls it back unless skip_bad, when the cell is reported and skipped. The store's
 * put is idempotent, so the summary tells rates new, replaced and already there. */
#include "ingest/columns.h"
#include "internal.h"

#include <retain/alloc.h>
#include <retain/datetime.h>
#include <retain/rates.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct rimp {
  rt_store *st;
  const rt_rates_import_opts *o;
  rt_rates_import_result *res;
  rt_error *err;
  rt_csv *csv;
  const char *file;
  rt_datefmt *fmt;
  char base[4];
  FILE *rejects;
  /* the header */
  rt__colmap cm;     /* only its names (NULL for empty cells), for messages */
  size_t ncols;
  char (*code)[4];   /* wide: each column's currency, "" for the date and ignored columns */
  size_t need;       /* fields a row must have (up to the last column read) */
  int c_date, c_cur, c_rate, c_base; /* long: column indexes (c_base -1 when absent) */
  char (*seen)[4];   /* distinct currencies with a rate */
  int nseen, capseen;
} rimp;

/* Reports a bad cell (col 0-based, or -1 for the whole row). Returns the error code when the
 * import must stop, 0 when the cell is skipped (skip_bad). */
static int bad_cell(rimp *im, const rt_csv_record *rec, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int bad_cell(rimp *im, const rt_csv_record *rec, int col, const char *fmt, ...) {
  char reason[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  rt_rates_import_result *r = im->res;
  rt__rejects rj = {im->o->skip_bad, im->rejects, &r->skipped, r->first_rejects,
                    RT_ARRAY_LEN(r->first_rejects)};
  return rt__bad_row(&rj, im->file, &im->cm, rec, col, reason, im->err);
}

/* A currency code: 3 letters, upper-cased into out. */
static int code_of(const char *s, size_t n, char out[4]) {
  s = rt__trim(s, &n);
  if (n != 3)
    return 0;
  for (int i = 0; i < 3; i++) {
    if (!isalpha((unsigned char)s[i]) || (unsigned char)s[i] > 127)
      return 0;
    out[i] = (char)toupper((unsigned char)s[i]);
  }
  out[3] = '\0';
  return 1;
}

/* A header name compared without case and punctuation ("Base Currency" = "base_currency"). */
static int name_is(const char *name, const char *want) {
  char a[64];
  rt__colname_normalise(name ? name : "", a, sizeof a);
  return strcmp(a, want) == 0;
}

static int find_col(const rimp *im, const char *const *names) {
  for (const char *const *n = names; *n; n++)
    for (size_t i = 0; i < im->ncols; i++)
      if (name_is(im->cm.names[i], *n))
        return (int)i;
  return -1;
}

static const char *const DATE_NAMES[] = {"date", "day", NULL};
static const char *const CURRENCY_NAMES[] = {"currency", "currencycode", "code", NULL};
static const char *const RATE_NAMES[] = {"rate", "value", NULL};
static const char *const BASE_NAMES[] = {"base", "basecurrency", NULL};

/* Reads the header and decides the layout. */
static int read_header(rimp *im, const rt_csv_record *rec) {
  im->ncols = rec->nfields;
  im->cm.nheader = (int)im->ncols;
  im->cm.names = rt_calloc(im->ncols + 1, sizeof *im->cm.names);
  im->code = rt_calloc(im->ncols + 1, sizeof *im->code);
  if (!im->cm.names || !im->code)
    return rt_error_set(im->err, RT_ENOMEM, "%s: out of memory", im->file);
  for (size_t i = 0; i < im->ncols; i++) {
    size_t n = rec->lens[i];
    const char *s = rt__trim(rec->fields[i], &n);
    if (n && !(im->cm.names[i] = rt_strndup(s, n)))
      return rt_error_set(im->err, RT_ENOMEM, "%s: out of memory", im->file);
  }
  im->c_date = find_col(im, DATE_NAMES);
  im->c_cur = find_col(im, CURRENCY_NAMES);
  im->c_rate = find_col(im, RATE_NAMES);
  im->c_base = find_col(im, BASE_NAMES);
  if (im->c_date >= 0 && im->c_cur >= 0 && im->c_rate >= 0) {
    im->res->layout = RT_RATES_LONG;
    int cols[4] = {im->c_date, im->c_cur, im->c_rate, im->c_base};
    for (int i = 0; i < 4; i++)
      if (cols[i] + 1 > (int)im->need)
        im->need = (size_t)cols[i] + 1;
    return 0;
  }
  if (im->ncols < 2 || !name_is(im->cm.names[0], "date"))
    return rt_error_set(im->err, RT_EPARSE,
                        "%s:%llu: cannot tell the layout from the header: expected "
                        "'Date,USD,JPY,...' (a column per currency, like the ECB's "
                        "eurofxref-hist.csv) or columns date, currency, rate and optionally base",
                        im->file, (unsigned long long)rec->line);
  im->res->layout = RT_RATES_WIDE;
  for (size_t i = 1; i < im->ncols; i++) {
    const char *name = im->cm.names[i];
    if (!name)
      continue; /* the ECB's trailing comma */
    if (!code_of(name, strlen(name), im->code[i]))
      return rt_error_set(im->err, RT_EPARSE,
                          "%s:%llu:%zu (column %zu '%s'): not a currency code (3 letters, like "
                          "USD)",
                          im->file, (unsigned long long)rec->line, i + 1, i + 1, name);
    for (size_t j = 1; j < i; j++)
      if (strcmp(im->code[j], im->code[i]) == 0)
        return rt_error_set(im->err, RT_EPARSE,
                            "%s:%llu:%zu (column %zu '%s'): %s is also column %zu", im->file,
                            (unsigned long long)rec->line, i + 1, i + 1, name, im->code[i],
                            j + 1);
    im->need = i + 1;
  }
  if (!im->need)
    return rt_error_set(im->err, RT_EPARSE, "%s:%llu: no currency columns after '%s'", im->file,
                        (unsigned long long)rec->line, im->cm.names[0]);
  return 0;
}

/* The day of a date cell: 1 with *day set, 0 when the cell was bad and skipped, < 0 to stop. */
static int cell_day(rimp *im, const rt_csv_record *rec, int col, int64_t *day) {
  size_t n = rec->lens[col];
  const char *s = rt__trim(rec->fields[col], &n);
  rt_error e = {0};
  int64_t ms;
  if (!n)
    return bad_cell(im, rec, col, "no date") ? -1 : 0;
  if (rt_date_parse(im->fmt, s, n, NULL, &ms, &e))
    return bad_cell(im, rec, col, "%s", e.msg) ? -1 : 0;
  *day = rt_floordiv(ms, RT_MS_PER_DAY);
  return 1;
}

static int is_missing(const char *s, size_t n) {
  return n == 0 || (n == 3 && strncasecmp(s, "N/A", 3) == 0) ||
         (n == 2 && strncasecmp(s, "NA", 2) == 0);
}

static void note_currency(rimp *im, const char *code) {
  for (int i = 0; i < im->nseen; i++)
    if (strcmp(im->seen[i], code) == 0)
      return;
  if (im->nseen == im->capseen) {
    int cap = im->capseen ? im->capseen * 2 : 32;
    char(*p)[4] = rt_reallocarray(im->seen, (size_t)cap, sizeof *p);
    if (!p)
      return; /* only the summary's count suffers */
    im->seen = p;
    im->capseen = cap;
  }
  memcpy(im->seen[im->nseen++], code, 4);
}

/* One rate cell: checked, then stored. 0 when stored, missing or skipped; < 0 to stop. */
static int put_cell(rimp *im, const rt_csv_record *rec, int col, int64_t day, const char *base,
                    const char *cur) {
  size_t n = rec->lens[col];
  const char *s = rt__trim(rec->fields[col], &n);
  if (is_missing(s, n)) {
    im->res->missing++;
    return 0;
  }
  double rate;
  if (rt__parse_double(s, n, &rate))
    return bad_cell(im, rec, col, "invalid rate '%.*s' (expected a decimal number like 1.0921)",
                    (int)RT_MIN(n, 40), s);
  if (!(rate > 0))
    return bad_cell(im, rec, col, "rate %.*s is not above 0", (int)RT_MIN(n, 40), s);
  if (strcmp(base, cur) == 0) /* the base against itself: 1 by definition, nothing to store */
    return rate == 1 ? 0
                     : bad_cell(im, rec, col, "the rate of %s against itself must be 1, not %.*s",
                                base, (int)RT_MIN(n, 40), s);
  rt_rate_rec r = {.day = day, .base = base, .currency = cur, .rate = rate, .source = im->file};
  int status;
  int rc = rt_store_rate_put(im->st, &r, &status, im->err);
  if (rc)
    return rc; /* the store failed: never skippable */
  rt_rates_import_result *res = im->res;
  if (status == RT_PUT_NEW)
    res->stored++;
  else if (status == RT_PUT_MERGED)
    res->replaced++;
  else
    res->unchanged++;
  if (day < res->first_day)
    res->first_day = day;
  if (day > res->last_day)
    res->last_day = day;
  note_currency(im, cur);
  return 0;
}

static int short_row(rimp *im, const rt_csv_record *rec) {
  return bad_cell(im, rec, -1, "%zu fields, but the header has %zu", rec->nfields, im->ncols);
}

static int wide_row(rimp *im, const rt_csv_record *rec) {
  if (rec->nfields < im->need)
    return short_row(im, rec);
  /* a value where the header has no currency means the columns are not what they seem */
  for (size_t i = 1; i < rec->nfields; i++) {
    size_t n = rec->lens[i];
    if (i < im->ncols && im->code[i][0])
      continue;
    rt__trim(rec->fields[i], &n);
    if (n && i < im->ncols)
      return bad_cell(im, rec, (int)i, "a value in a column without a name");
    if (n)
      return bad_cell(im, rec, (int)i, "a value beyond the header's %zu columns", im->ncols);
  }
  int64_t day;
  int rc = cell_day(im, rec, 0, &day);
  if (rc <= 0)
    return rc;
  rc = 0;
  for (size_t i = 1; i < im->need && !rc; i++)
    if (im->code[i][0])
      rc = put_cell(im, rec, (int)i, day, im->base, im->code[i]);
  return rc;
}

static int long_row(rimp *im, const rt_csv_record *rec) {
  if (rec->nfields < im->need)
    return short_row(im, rec);
  char cur[4], base[4];
  memcpy(base, im->base, 4);
  if (im->c_base >= 0 && rec->lens[im->c_base]) {
    size_t n = rec->lens[im->c_base];
    const char *s = rt__trim(rec->fields[im->c_base], &n);
    if (n && !code_of(s, n, base))
      return bad_cell(im, rec, im->c_base, "invalid currency '%.*s' (expected 3 letters, like EUR)",
                      (int)RT_MIN(n, 20), s);
  }
  size_t n = rec->lens[im->c_cur];
  const char *s = rt__trim(rec->fields[im->c_cur], &n);
  if (!code_of(s, n, cur))
    return bad_cell(im, rec, im->c_cur, "invalid currency '%.*s' (expected 3 letters, like USD)",
                    (int)RT_MIN(n, 20), s);
  int64_t day;
  int rc = cell_day(im, rec, im->c_date, &day);
  if (rc <= 0)
    return rc;
  return put_cell(im, rec, im->c_rate, day, base, cur);
}

static int run(rimp *im, const char *path) {
  const rt_rates_import_opts *o = im->o;
  rt_error *err = im->err;
  int rc = rt_csv_open_file(path, &o->csv, &im->csv, err);
  if (rc)
    return rc;
  im->file = rt_csv_name(im->csv);
  rt_csv_record rec;
  int got = rt_csv_next(im->csv, &rec, err);
  if (got < 0)
    return got;
  if (got == 0)
    return rt_error_set(err, RT_EEMPTY, "%s: empty file", im->file);
  if ((rc = read_header(im, &rec)))
    return rc;
  if (o->skip_bad && o->rejects_path) {
    im->rejects = fopen(o->rejects_path, "w");
    if (!im->rejects)
      return rt_error_set(err, RT_EIO, "%s: cannot write the rejects file: %s", o->rejects_path,
                          strerror(errno));
    fputs("line,reason,fields...\n", im->rejects);
  }
  while ((got = rt_csv_next(im->csv, &rec, err)) > 0) {
    im->res->rows++;
    rc = im->res->layout == RT_RATES_WIDE ? wide_row(im, &rec) : long_row(im, &rec);
    if (rc)
      return rc;
  }
  return got;
}

void rt_rates_import_opts_init(rt_rates_import_opts *o) {
  memset(o, 0, sizeof *o);
  o->csv.delimiter = ',';
}

int rt_rates_import_file(rt_store *st, const char *path, const rt_rates_import_opts *opts,
                         rt_rates_import_result *res, rt_error *err) {
  rt_error local;
  if (!err)
    err = &local;
  rt_error_clear(err);
  if (!st || !path || !opts || !res)
    return rt_error_set(err, RT_EINVAL, "rt_rates_import_file: NULL argument");
  memset(res, 0, sizeof *res);
  res->first_day = INT64_MAX;
  res->last_day = INT64_MIN;
  rimp im = {.st = st, .o = opts, .res = res, .err = err, .file = path};
  int rc = 0;
  const char *base = opts->base ? opts->base : "EUR";
  if (!code_of(base, strlen(base), im.base))
    return rt_error_set(err, RT_EINVAL, "invalid base currency '%s' (expected 3 letters, like EUR)",
                        base);
  if (opts->date_format && strcmp(opts->date_format, "auto") != 0 &&
      (rc = rt_datefmt_compile(opts->date_format, &im.fmt, err)))
    return rc;
  rc = rt_store_begin(st, err);
  if (!rc)
    rc = run(&im, path);
  if (!rc)
    rc = rt_store_commit(st, err);
  else
    rt_store_rollback(st);
  res->currencies = im.nseen;
  if (rc) { /* nothing was stored */
    res->stored = res->replaced = res->unchanged = 0;
  }
  if (im.rejects)
    fclose(im.rejects);
  rt_csv_close(im.csv);
  rt_datefmt_free(im.fmt);
  rt__colmap_free(&im.cm);
  rt_free(im.code);
  rt_free(im.seen);
  return rc;
}
