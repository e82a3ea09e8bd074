/* cli.c - helpers shared by the subcommands: argument matching, errors, progress bars, number
 * formatting, text tables, and opening the store, time zone and customer model. */
#include "cli/cli.h"

#include <retain/alloc.h>
#include <retain/csv.h>
#include <retain/segment.h>
#include <jansson.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int cli_is_help(const char *arg) {
  return !strcmp(arg, "--help") || !strcmp(arg, "-h") || !strcmp(arg, "help");
}

int cli_flag(char **argv, int i, const char *name) { return !strcmp(argv[i], name); }

int cli_value(int argc, char **argv, int *i, const char *name, const char **val) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (a[n] != '\0') return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "retain: option %s needs a value\n", name);
    return -1;
  }
  *val = argv[++*i];
  return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "retain %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nRun 'retain %s --help' for its options.\n", cmd);
  return CLI_USAGE;
}

int cli_fail(const rt_error *err) {
  fprintf(stderr, "retain: %s\n", err->msg[0] ? err->msg : rt_strerror(err->code));
  if (err->code == RT_EBUSY) /* the lock a writer holds: most likely the server's */
    fprintf(stderr,
            "retain: another process holds the store for writing - most likely `retain serve`,\n"
            "        which writes whenever events arrive. Send data through it instead:\n"
            "        POST /v1/import (or /v1/batch) with a write key (docs/SERVER.md), or stop\n"
            "        it, or try again when it is idle.\n");
  return CLI_FAIL;
}

int cli_parse_format(const char *cmd, const char *s, cli_format *out) {
  if (!strcmp(s, "table") || !strcmp(s, "text")) *out = FMT_TABLE;
  else if (!strcmp(s, "csv")) *out = FMT_CSV;
  else if (!strcmp(s, "json")) *out = FMT_JSON;
  else return cli_usage_error(cmd, "unknown format '%s' (expected table, csv or json)", s);
  return 0;
}

int cli_parse_int(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi,
                  int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi)
    return cli_usage_error(cmd, "%s wants a whole number from %" PRId64 " to %" PRId64
                           ", not '%s'", opt, lo, hi, s);
  *out = v;
  return 0;
}

int cli_parse_count(const char *cmd, const char *opt, const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  double mul = 1;
  if (end != s && (*end == 'k' || *end == 'K')) mul = 1e3, end++;
  else if (end != s && (*end == 'm' || *end == 'M')) mul = 1e6, end++;
  v *= mul;
  if (errno || end == s || *end || !(v >= 1) || v > 4e9 || v != (double)(uint64_t)v)
    return cli_usage_error(cmd, "%s wants a count such as 10000, 50k or 2M, not '%s'", opt, s);
  *out = (uint64_t)v;
  return 0;
}

/* ---- import options ---- */

const char cli_import_options_help[] =
    "Columns (a header name, or a 1-based number; found by common names when not given):\n"
    "  --customer-col C  --email-col C  --phone-col C  --order-col C  --date-col C\n"
    "  --amount-col C  --quantity-col C  --price-col C  --currency-col C  --product-col C\n"
    "  --name-col C  --type-col C  --properties-col C  --event-id-col C\n"
    "  --subscription-col C  --plan-col C  --canceled-col C  --renews-col C\n"
    "  --interval-col C\n"
    "File format:\n"
    "  --no-header         the first row is data; name columns by number\n"
    "  --delimiter D       one character, 'tab', or 'whitespace' (runs of blanks)\n"
    "  --encoding E        utf-8 (default, checked) or latin1\n"
    "  --date-format F     e.g. '%d.%m.%Y %H:%M' (default: automatic, see docs/IMPORT.md)\n"
    "  --currency CODE     currency of amounts when there is no currency column (USD)\n"
    "Bad rows:\n"
    "  --skip-bad          store the good rows, report every bad one\n"
    "  --rejects FILE      where skipped rows go (default FILE.rejects.csv)\n";

int cli_import_option(const char *cmd, int argc, char **argv, int *i, rt_import_opts *o) {
  const char *v;
  int r;
  const char *a = argv[*i];
  if (!strncmp(a, "--", 2)) {
    for (int c = 0; c < RT_COL_COUNT; c++) {
      char name[48];
      snprintf(name, sizeof name, "--%s-col", rt_import_col_name((rt_import_col)c));
      if ((r = cli_value(argc, argv, i, name, &v)) != 0) {
        if (r < 0) return -1;
        if (!*v) return cli_usage_error(cmd, "%s wants a column name or number", name), -1;
        o->cols[c] = v;
        return 1;
      }
    }
  }
  if (cli_flag(argv, *i, "--no-header")) {
    o->no_header = 1;
    return 1;
  }
  if (cli_flag(argv, *i, "--skip-bad")) {
    o->skip_bad = 1;
    return 1;
  }
  if ((r = cli_value(argc, argv, i, "--delimiter", &v)) != 0) {
    if (r < 0) return -1;
    if (!strcmp(v, "whitespace") || !strcmp(v, "space") || !strcmp(v, "blank")) {
      o->csv.whitespace = 1;
    } else if (!strcmp(v, "tab") || !strcmp(v, "\\t")) {
      o->csv.delimiter = '\t';
    } else if (strlen(v) == 1 && v[0] != '"' && v[0] != '\n' && v[0] != '\r') {
      o->csv.delimiter = v[0];
    } else {
      cli_usage_error(cmd, "--delimiter wants one character, 'tab' or 'whitespace', not '%s'", v);
      return -1;
    }
    return 1;
  }
  if ((r = cli_value(argc, argv, i, "--encoding", &v)) != 0) {
    if (r < 0) return -1;
    if (!strcasecmp(v, "utf-8") || !strcasecmp(v, "utf8")) {
      o->csv.encoding = RT_ENC_UTF8;
    } else if (!strcasecmp(v, "latin1") || !strcasecmp(v, "latin-1") ||
               !strcasecmp(v, "iso-8859-1") || !strcasecmp(v, "iso8859-1")) {
      o->csv.encoding = RT_ENC_LATIN1;
    } else {
      cli_usage_error(cmd, "--encoding wants utf-8 or latin1, not '%s'", v);
      return -1;
    }
    return 1;
  }
  if ((r = cli_value(argc, argv, i, "--date-format", &v)) != 0) {
    if (r < 0) return -1;
    o->date_format = v;
    return 1;
  }
  if ((r = cli_value(argc, argv, i, "--currency", &v)) != 0) {
    if (r < 0) return -1;
    if (strlen(v) != 3) {
      cli_usage_error(cmd, "--currency wants a 3-letter ISO 4217 code, not '%s'", v);
      return -1;
    }
    o->currency = v;
    return 1;
  }
  if ((r = cli_value(argc, argv, i, "--rejects", &v)) != 0) {
    if (r < 0) return -1;
    o->rejects_path = v;
    return 1;
  }
  return 0;
}

/* ---- store, zone, model ---- */

int cli_open_store(const cli_global *g, int read_only, rt_store **out) {
  rt_error err = {0};
  struct stat sb;
  *out = NULL;
  if (read_only && stat(g->db, &sb) != 0) {
    fprintf(stderr,
            "retain: no store at '%s'. Import data first (retain --db %s import orders FILE),\n"
            "        name another with --db or RETAIN_DB, or run straight from a file with "
            "--orders FILE.\n",
            g->db, g->db);
    return CLI_FAIL;
  }
  /* a write waits for another writer's lock a few seconds, not the library's 10 */
  rt_store_config cfg = {.path = g->db, .read_only = read_only, .busy_ms = CLI_BUSY_MS};
  if (rt_store_open(&cfg, out, &err)) return cli_fail(&err);
  return 0;
}

int cli_load_tz(const cli_global *g, rt_store *st, rt_tz **out) {
  rt_error err = {0};
  char *name = NULL;
  *out = NULL;
  if (g->timezone) {
    if (rt_tz_load(g->timezone, out, &err)) return cli_fail(&err);
    return 0;
  }
  if (st && rt_store_meta_get(st, "timezone", &name, &err) == 0 && name) {
    int rc = rt_tz_load(name, out, &err);
    rt_free(name);
    if (rc) return cli_fail(&err);
  }
  return 0;
}

int cli_load_model(const cli_global *g, const char *orders_path, const rt_import_opts *io,
                   const rt_tz *tz, rt_model **out) {
  rt_error err = {0};
  *out = NULL;
  if (orders_path) {
    rt_model_builder *b = NULL;
    rt_import_result res;
    rt_import_opts o = *io;
    o.tz = tz;
    if (!o.currency) o.currency = g->currency; /* `retain --currency GBP cohorts --orders F` */
    cli_progress p;
    cli_progress_init(&p, g, "reading");
    if (p.enabled) {
      o.progress_cb = cli_progress_bytes;
      o.progress_ctx = &p;
    }
    if (rt_model_builder_new(tz, g->currency ? g->currency : io->currency, &b) ||
        rt_import_orders_to_model(orders_path, &o, b, &res, &err)) {
      cli_progress_end(&p);
      rt_model_builder_free(b);
      if (!err.code) rt_error_set(&err, RT_ENOMEM, "out of memory");
      return cli_fail(&err);
    }
    cli_progress_end(&p);
    if (res.skipped && !g->quiet)
      fprintf(stderr, "retain: skipped %" PRId64 " bad rows of %s\n", res.skipped, orders_path);
    if (rt_model_build(b, out, &err)) return cli_fail(&err);
    return 0;
  }
  rt_store *st = NULL;
  int rc = cli_open_store(g, 1, &st);
  if (rc) return rc;
  char *cur = NULL;
  if (!g->currency) rt_store_meta_get(st, "currency", &cur, &err);
  const char *currency = g->currency ? g->currency : cur;
  /* A snapshot next to the store saves rebuilding the model while the store is unchanged. */
  int64_t version = -1;
  size_t plen = strlen(g->db) + sizeof ".model";
  char *snap = rt_malloc(plen);
  rc = rt_store_data_version(st, &version, &err);
  if (!rc && snap) {
    snprintf(snap, plen, "%s.model", g->db);
    rt_error e2 = {0};
    if (rt_model_snapshot_open(snap, version, tz, currency, out, &e2) == 0) goto done;
  }
  if (!rc) rc = rt_model_load(st, tz, currency, out, &err);
  if (!rc && snap && (*out)->ncustomers > 0) {
    rt_error e2 = {0}; /* a read-only directory only costs the next command the rebuild */
    rt_model_snapshot_write(*out, snap, &e2);
  }
done:
  rt_free(snap);
  rt_free(cur);
  rt_store_close(st);
  if (rc) return cli_fail(&err);
  return 0;
}

/* ---- progress ---- */

double cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_progress_init(cli_progress *p, const cli_global *g, const char *what) {
  p->enabled = !g->quiet && isatty(STDERR_FILENO);
  p->what = what;
  p->started = cli_now();
  p->last = 0;
}

static void draw_bar(cli_progress *p, double frac, const char *tail) {
  char bar[31];
  int w = (int)(frac * 30.0 + 0.5);
  if (w < 0) w = 0;
  if (w > 30) w = 30;
  memset(bar, '#', (size_t)w);
  memset(bar + w, '.', (size_t)(30 - w));
  bar[30] = '\0';
  fprintf(stderr, "\r%-9s [%s] %3.0f%%  %s\x1b[K", p->what, bar, frac * 100.0, tail);
  fflush(stderr);
}

void cli_progress_bytes(void *ctx, uint64_t done, uint64_t total, uint64_t rows) {
  cli_progress *p = ctx;
  double now = cli_now();
  if (!p->enabled || now - p->last < 0.1) return;
  p->last = now;
  char tail[96], c[32];
  double el = now - p->started;
  snprintf(tail, sizeof tail, "%s rows  %.1f MB/s", cli_count((int64_t)rows, c, sizeof c),
           el > 0 ? (double)done / 1e6 / el : 0.0);
  draw_bar(p, total ? (double)done / (double)total : 0.0, tail);
}

void cli_progress_items(void *ctx, uint64_t done, uint64_t total) {
  cli_progress *p = ctx;
  double now = cli_now();
  if (!p->enabled || now - p->last < 0.1) return;
  p->last = now;
  char tail[64], c[32], t[32];
  snprintf(tail, sizeof tail, "%s of %s", cli_count((int64_t)done, c, sizeof c),
           cli_count((int64_t)total, t, sizeof t));
  draw_bar(p, total ? (double)done / (double)total : 0.0, tail);
}

void cli_progress_end(cli_progress *p) {
  if (p->enabled && p->last > 0) fprintf(stderr, "\r\x1b[K");
  fflush(stderr);
}

/* ---- formatting ---- */

int cli_parse_days(const char *s, double max_days, double *days) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || !(v > 0)) return -1;
  double mult;
  switch (*end) {
  case '\0':
  case 'd': mult = 1; break;
  case 'w': mult = 7; break;
  case 'm': mult = 365.25 / 12; break;
  case 'y': mult = 365.25; break;
  default: return -1;
  }
  if (*end && end[1]) return -1;
  if (v * mult > max_days) return -1;
  *days = v * mult;
  return 0;
}

char *cli_money(int64_t minor, int exp, char *buf, size_t n) {
  if (exp <= 0) {
    snprintf(buf, n, "%" PRId64, minor);
    return buf;
  }
  if (exp > 9) exp = 9;
  uint64_t scale = 1;
  for (int i = 0; i < exp; i++) scale *= 10;
  uint64_t a = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
  char frac[12];
  uint64_t f = a % scale;
  for (int i = exp - 1; i >= 0; i--, f /= 10) frac[i] = (char)('0' + f % 10);
  frac[exp] = '\0';
  snprintf(buf, n, "%s%" PRIu64 ".%s", minor < 0 ? "-" : "", a / scale, frac);
  return buf;
}

char *cli_count(int64_t v, char *buf, size_t n) {
  char tmp[32];
  int len = snprintf(tmp, sizeof tmp, "%" PRId64, v);
  size_t o = 0;
  int start = tmp[0] == '-' ? 1 : 0;
  if (start && o + 1 < n) buf[o++] = '-';
  int digits = len - start;
  for (int i = start; i < len && o + 1 < n; i++) {
    buf[o++] = tmp[i];
    int left = len - i - 1;
    if (left > 0 && left % 3 == 0 && digits > 3 && o + 1 < n) buf[o++] = ',';
  }
  buf[o] = '\0';
  return buf;
}

char *cli_money_human(int64_t minor, int exp, char *buf, size_t n) {
  char plain[48];
  cli_money(minor, exp, plain, sizeof plain);
  const char *p = plain;
  size_t o = 0;
  if (*p == '-' && o + 1 < n) buf[o++] = *p++;
  size_t digits = strcspn(p, ".");
  for (size_t i = 0; p[i] && o + 1 < n; i++) {
    buf[o++] = p[i];
    size_t left = digits - i - 1;
    if (i < digits && left > 0 && left % 3 == 0 && o + 1 < n) buf[o++] = ',';
  }
  buf[o] = '\0';
  return buf;
}

void cli_note_other_currencies(const cli_global *g, const rt_model *m) {
  if (g->quiet || !m->other_currency_rows)
    return;
  char c[32];
  fprintf(stderr, "retain: note: %s orders and refunds in other currencies than %s are left out "
                  "(no exchange rate):", cli_count(m->other_currency_rows, c, sizeof c),
          m->currency);
  for (int i = 0; i < m->nother; i++)
    fprintf(stderr, "%s %s %s", i ? "," : "", cli_count(m->other[i].rows, c, sizeof c),
            m->other[i].code);
  fprintf(stderr, "%s\n", m->nother == 8 ? ", ..." : "");
}

void cli_table_init(cli_table *t, size_t ncols) {
  memset(t, 0, sizeof *t);
  t->ncols = ncols;
}

int cli_table_row(cli_table *t, const char *const *cells) {
  if (t->nrows == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    char **c = rt_realloc(t->cells, cap * t->ncols * sizeof *c);
    if (!c) return RT_ENOMEM;
    t->cells = c;
    t->cap = cap;
  }
  for (size_t j = 0; j < t->ncols; j++) {
    t->cells[t->nrows * t->ncols + j] = rt_strdup(cells[j] ? cells[j] : "");
    if (!t->cells[t->nrows * t->ncols + j]) return RT_ENOMEM;
  }
  t->nrows++;
  return 0;
}

/* Display width of UTF-8 text: code points (good enough for our labels). */
static size_t text_width(const char *s) {
  size_t w = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80) w++;
  return w;
}

void cli_table_print(const cli_table *t, FILE *f) {
  size_t *w = rt_calloc(t->ncols ? t->ncols : 1, sizeof *w);
  if (!w) return;
  for (size_t i = 0; i < t->nrows; i++)
    for (size_t j = 0; j < t->ncols; j++) {
      size_t l = text_width(t->cells[i * t->ncols + j]);
      if (l > w[j]) w[j] = l;
    }
  for (size_t i = 0; i < t->nrows; i++) {
    for (size_t j = 0; j < t->ncols; j++) {
      const char *c = t->cells[i * t->ncols + j];
      size_t pad = w[j] - text_width(c);
      if (j) fputs("  ", f);
      if (j == 0 || (t->left >> j & 1)) {
        fputs(c, f);
        if (j + 1 < t->ncols)
          for (size_t k = 0; k < pad; k++) fputc(' ', f);
      } else {
        for (size_t k = 0; k < pad; k++) fputc(' ', f);
        fputs(c, f);
      }
    }
    fputc('\n', f);
    if (i == 0 && t->nrows > 1) { /* rule under the header */
      size_t total = 0;
      for (size_t j = 0; j < t->ncols; j++) total += w[j] + (j ? 2 : 0);
      for (size_t k = 0; k < total; k++) fputs("─", f);
      fputc('\n', f);
    }
  }
  rt_free(w);
}

void cli_table_free(cli_table *t) {
  for (size_t i = 0; i < t->nrows * t->ncols; i++) rt_free(t->cells[i]);
  rt_free(t->cells);
  memset(t, 0, sizeof *t);
}

void cli_csv_cell(FILE *f, const char *s, int kind) {
  char stack[256];
  size_t room = RT_CSV_CELL_ROOM(strlen(s));
  char *buf = room <= sizeof stack ? stack : rt_malloc(room);
  if (!buf) { /* out of memory: the cell is lost, the output error shows at the flush */
    fputs("\"'\"", f);
    return;
  }
  fwrite(buf, 1, rt_csv_cell(buf, s, (rt_csv_kind)kind), f);
  if (buf != stack) rt_free(buf);
}

void cli_csv_field(FILE *f, const char *s) { cli_csv_cell(f, s, RT_CSV_TEXT); }

void cli_csv_feature(FILE *f, const rt_column *c, size_t i) {
  char buf[64];
  cli_csv_cell(f, cli_feature_value(c, i, buf, sizeof buf),
               c->type == RT_TYPE_TEXT ? RT_CSV_TEXT : RT_CSV_NUMBER);
}

/* ---- report and cohorts ---- */

const char cli_analysis_options_help[] =
    "  --period UNIT      day, week (ISO), month (default), quarter or year\n"
    "  --from P, --to P   first and last period, as a label (2024-03, 2024-W10, 2024-Q1,\n"
    "                     2024) or any date inside it (2024-03-15)\n"
    "  --format F         table (default), csv or json\n"
    "  --orders FILE      run straight from an orders CSV, without a store; the import\n"
    "                     options (--customer-col, --delimiter, ...) describe the file\n"
    "  --timezone TZ      business time zone (default: the store's, or UTC)\n"
    "  --segment NAME     only the members of a stored segment (see retain segment)\n"
    "  --as-of DATE       judge as of this day: nothing after it counts (default: today\n"
    "                     while the data is live, else its last day; or $RETAIN_NOW)\n";

void cli_analysis_init(cli_analysis *a, const cli_global *g) {
  memset(a, 0, sizeof *a);
  rt_import_opts_init(&a->io, RT_IMPORT_ORDERS);
  a->io.threads = 0; /* a large file is read by two threads */
  a->unit = RT_PERIOD_MONTH;
  a->tzname = g->timezone;
  a->from = INT64_MIN;
  a->to = INT64_MAX;
}

int cli_analysis_option(const char *cmd, int argc, char **argv, int *i, cli_analysis *a) {
  const char *v;
  int r;
  if ((r = cli_value(argc, argv, i, "--orders", &v)) != 0) {
    if (r > 0) a->orders_path = v;
    return r;
  }
  if ((r = cli_value(argc, argv, i, "--period", &v)) != 0 ||
      (r = cli_value(argc, argv, i, "--unit", &v)) != 0) {
    if (r < 0) return -1;
    if (rt_period_unit_parse(v, &a->unit)) {
      cli_usage_error(cmd, "unknown period '%s' (expected day, week, month, quarter or year)", v);
      return -1;
    }
    return 1;
  }
  if ((r = cli_value(argc, argv, i, "--from", &v)) != 0) {
    if (r > 0) a->from_s = v;
    return r;
  }
  if ((r = cli_value(argc, argv, i, "--as-of", &v)) != 0) {
    if (r > 0) a->as_of_s = v;
    return r;
  }
  if ((r = cli_value(argc, argv, i, "--to", &v)) != 0) {
    if (r > 0) a->to_s = v;
    return r;
  }
  if ((r = cli_value(argc, argv, i, "--format", &v)) != 0) {
    if (r < 0) return -1;
    return cli_parse_format(cmd, v, &a->format) ? -1 : 1;
  }
  if ((r = cli_value(argc, argv, i, "--timezone", &v)) != 0) {
    if (r > 0) a->tzname = v;
    return r;
  }
  if ((r = cli_value(argc, argv, i, "--segment", &v)) != 0) {
    if (r > 0) a->segment = v;
    return r;
  }
  return cli_import_option(cmd, argc, argv, i, &a->io);
}

static int load_members(const cli_global *g, cli_analysis *a);

int cli_analysis_load(const char *cmd, const cli_global *g, cli_analysis *a) {
  rt_error err = {0};
  int rc;
  if (a->from_s && rt_period_parse_label(a->unit, a->from_s, &a->from, &err))
    return cli_usage_error(cmd, "--from: %s", err.msg);
  if (a->to_s && rt_period_parse_label(a->unit, a->to_s, &a->to, &err))
    return cli_usage_error(cmd, "--to: %s", err.msg);
  if (a->from_s && a->to_s && a->from > a->to)
    return cli_usage_error(cmd, "--from %s is after --to %s", a->from_s, a->to_s);
  cli_global g2 = *g;
  g2.timezone = a->tzname;
  rt_store *st = NULL;
  if (!a->orders_path && !a->tzname) {
    /* the store's zone setting */
    if ((rc = cli_open_store(g, 1, &st))) return rc;
  }
  rc = cli_load_tz(&g2, st, &a->tz);
  rt_store_close(st);
  if (rc) return rc;
  if (a->segment && a->orders_path)
    return cli_usage_error(cmd, "--segment needs the store (segments live there), not --orders");
  rc = cli_load_model(g, a->orders_path, &a->io, a->tz, &a->model);
  if (!rc) rc = cli_judge(cmd, g, a->as_of_s, &a->model);
  if (rc || !a->segment) return rc;
  return load_members(g, a);
}

int cli_judge(const char *cmd, const cli_global *g, const char *given, rt_model **m) {
  rt_error err = {0};
  const char *s = given ? given : g->as_of ? g->as_of : getenv("RETAIN_NOW");
  const char *what = given || g->as_of ? "--as-of" : "RETAIN_NOW";
  int32_t day;
  rt_as_of_basis basis = RT_AS_OF_GIVEN;
  if (s && *s) {
    int64_t ms;
    if (rt_date_parse(NULL, s, strlen(s), (*m)->tz, &ms, &err))
      return cli_usage_error(cmd, "%s: %s", what, err.msg);
    day = (int32_t)rt_tz_day((*m)->tz, ms);
  } else {
    int64_t today = rt_tz_day((*m)->tz, (int64_t)time(NULL) * 1000);
    day = rt_model_default_as_of(*m, (int32_t)today, &basis);
  }
  if (rt_model_set_as_of(m, day, basis, &err)) return cli_fail(&err);
  cli_note_other_currencies(g, *m);
  return 0;
}

char *cli_as_of_text(const rt_model *m, char *buf, size_t n) {
  char d[16];
  rt_day_format(m->as_of, d, sizeof d);
  const char *why = m->as_of_basis == RT_AS_OF_TODAY      ? "today"
                    : m->as_of_basis == RT_AS_OF_DATA_END ? "the last day with data"
                                                          : "as asked";
  snprintf(buf, n, "%s (%s)", d, why);
  return buf;
}

void cli_as_of_note(const cli_global *g, const rt_model *m) {
  char buf[64];
  if (!g->quiet) fprintf(stderr, "retain: as of %s\n", cli_as_of_text(m, buf, sizeof buf));
}

void cli_as_of_json(const rt_model *m, json_t *obj) {
  char d[16];
  rt_day_format(m->as_of, d, sizeof d);
  json_object_set_new(obj, "as_of", json_string(d));
  json_object_set_new(obj, "as_of_basis",
                      json_string(rt_as_of_basis_name((rt_as_of_basis)m->as_of_basis)));
}

int cli_segment_members(const cli_global *g, const rt_model *m, const char *name,
                        uint64_t **bits, size_t *count) {
  rt_store *st = NULL;
  rt_error err = {0};
  *bits = NULL;
  *count = 0;
  int rc = cli_open_store(g, 1, &st);
  if (rc) return rc;
  rt_segment_info info = {0};
  if (!rt_store_segment_get(st, name, &info, &err))
    rc = rt_segment_member_bits(st, m, info.id, bits, count, &err);
  else
    rc = err.code;
  rt_segment_info_free(&info);
  rt_store_close(st);
  return rc ? cli_fail(&err) : CLI_OK;
}

int cli_segment_model(const cli_global *g, const rt_model *m, const char *name, rt_model **out,
                      size_t *count) {
  uint64_t *bits;
  rt_error err = {0};
  *out = NULL;
  int rc = cli_segment_members(g, m, name, &bits, count);
  if (!rc && rt_model_subset(m, bits, out, &err)) rc = cli_fail(&err);
  rt_free(bits);
  return rc;
}

int cli_by_option(const char *cmd, int argc, char **argv, int *i, int *by) {
  const char *v;
  int r = cli_value(argc, argv, i, "--by", &v);
  if (r <= 0) return r;
  if (strcmp(v, "segment")) {
    cli_usage_error(cmd, "--by wants 'segment', not '%s'", v);
    return -1;
  }
  *by = 1;
  return 1;
}

static int load_members(const cli_global *g, cli_analysis *a) {
  return cli_segment_members(g, a->model, a->segment, &a->members, &a->nmembers);
}

static int on_segment_name(void *ctx, const rt_segment_info *s) {
  cli_names *l = ctx;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    char **v = realloc(l->v, cap * sizeof *v);
    if (!v) return RT_ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  if (!(l->v[l->n] = strdup(s->name))) return RT_ENOMEM;
  l->n++;
  return 0;
}

int cli_segment_names(const cli_global *g, cli_names *out) {
  rt_store *st;
  rt_error err = {0};
  memset(out, 0, sizeof *out);
  int rc = cli_open_store(g, 1, &st);
  if (rc) return rc;
  int x = rt_store_scan_segments(st, on_segment_name, out, &err);
  if (x == RT_ENOMEM) rc = rt_error_set(&err, RT_ENOMEM, "out of memory"), cli_fail(&err);
  else if (x) rc = cli_fail(&err);
  rt_store_close(st);
  if (rc) cli_names_free(out);
  return rc;
}

void cli_names_free(cli_names *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

int cli_analysis_subset(cli_analysis *a) {
  if (!a->members) return CLI_OK;
  rt_model *s;
  rt_error err = {0};
  if (rt_model_subset(a->model, a->members, &s, &err)) return cli_fail(&err);
  rt_model_free(a->model);
  a->model = s;
  return CLI_OK;
}

void cli_analysis_free(cli_analysis *a) {
  rt_free(a->members);
  a->members = NULL;
  rt_model_free(a->model);
  rt_tz_free(a->tz);
  a->model = NULL;
  a->tz = NULL;
}
