/* cmd_rates.c - `retain rates import|list|convert`: the exchange rates that convert amounts in
 * other currencies into the reporting currency (rates.h, docs/CURRENCIES.md). import stores a
 * CSV file of dated rates (the ECB's layout or date,currency,rate[,base]) all or nothing; list
 * shows what the store holds per base and currency; convert answers one conversion. */
#include "cli/cli.h"

#include <retain/rates.h>

#include <ctype.h>
#include <jansson.h>
#include <string.h>

static void help(void) {
  printf("Usage: retain [--db PATH] rates COMMAND ...\n\n"
         "Exchange rates: an amount in another currency counts in the reporting currency at\n"
         "the latest rate on or before the order's day (a rate holds until the next one is\n"
         "published, so weekends use Friday's). Without a rate the amount is not guessed.\n\n"
         "Commands:\n"
         "  import FILE [options]    store the rates of a CSV file, all or nothing\n"
         "  list [options]           what is stored: per base and currency the first and last\n"
         "                           day, the number of rates and the latest\n"
         "  convert AMOUNT FROM TO --date D\n"
         "                           one conversion with the stored rates\n\n"
         "Files (the layout is told from the header):\n"
         "  the ECB's eurofxref-hist.csv: Date,USD,JPY,... - a row per day, a column per\n"
         "      currency, rates per 1 EUR (or --base), N/A or empty where there is none;\n"
         "  long: columns date, currency, rate and optionally base (default EUR or --base).\n"
         "Importing a file again stores nothing; a different rate for a stored day replaces it.\n\n"
         "import options:\n"
         "  --base CODE         the base of a wide file and of rows without one (default EUR)\n"
         "  --delimiter D       one character or 'tab' (default ',')\n"
         "  --encoding E        utf-8 (default, checked) or latin1\n"
         "  --date-format F     e.g. '%%d.%%m.%%Y' (default: automatic, as for import)\n"
         "  --skip-bad          store the good rates, report every bad cell\n"
         "  --rejects FILE      where skipped cells go (default FILE.rejects.csv)\n"
         "list options:\n"
         "  --currency CODE     only the series of this currency (as currency or base)\n"
         "  --format F          table (default), csv or json\n"
         "convert options:\n"
         "  --date D            the day whose rates apply (YYYY-MM-DD); required\n"
         "  --format F          table (default: one line) or json\n\n"
         "Examples:\n"
         "  curl -sO https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip\n"
         "  unzip eurofxref-hist.zip && retain rates import eurofxref-hist.csv\n"
         "  retain rates list --currency USD\n"
         "  retain rates convert 100.00 USD GBP --date 2024-03-16\n"
         "See docs/CURRENCIES.md for the rules.\n");
}

/* A currency code from the command line, upper-cased into out; 0, or a usage error. */
static int code_arg(const char *what, const char *s, char out[4]) {
  if (strlen(s) != 3 || !isalpha((unsigned char)s[0]) || !isalpha((unsigned char)s[1]) ||
      !isalpha((unsigned char)s[2]))
    return cli_usage_error("rates", "%s wants a 3-letter currency code, not '%s'", what, s);
  for (int i = 0; i < 3; i++) out[i] = (char)toupper((unsigned char)s[i]);
  out[3] = '\0';
  return 0;
}

static char *day_text(int64_t day, char *buf, size_t n) {
  rt_day_format(day, buf, n);
  return buf;
}

/* ---- import ---- */

static int rates_import(const cli_global *g, int argc, char **argv) {
  const char *path = NULL, *base = NULL;
  rt_import_opts io;
  rt_import_opts_init(&io, RT_IMPORT_ORDERS);
  for (int i = 2; i < argc; i++) {
    const char *v;
    int r;
    if (cli_is_help(argv[i])) {
      help();
      return CLI_OK;
    }
    if ((r = cli_value(argc, argv, &i, "--base", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      base = v;
      continue;
    }
    if (argv[i][0] == '-' && argv[i][1]) {
      /* the file options the importer of orders has; its column options mean nothing here */
      int was = i;
      r = cli_import_option("rates", argc, argv, &i, &io);
      if (r < 0) return CLI_USAGE;
      int fits = r > 0 && (!strcmp(argv[was], "--skip-bad") ||
                           !strncmp(argv[was], "--delimiter", 11) ||
                           !strncmp(argv[was], "--encoding", 10) ||
                           !strncmp(argv[was], "--date-format", 13) ||
                           !strncmp(argv[was], "--rejects", 9));
      if (!fits) return cli_usage_error("rates", "unknown option '%s' for rates import", argv[was]);
      continue;
    }
    if (path) return cli_usage_error("rates", "unexpected argument '%s'", argv[i]);
    path = argv[i];
  }
  if (!path) return cli_usage_error("rates", "import wants a FILE");
  char base_code[4] = "EUR";
  if (base && code_arg("--base", base, base_code)) return CLI_USAGE;
  rt_rates_import_opts o;
  rt_rates_import_opts_init(&o);
  o.base = base_code;
  o.csv = io.csv;
  o.date_format = io.date_format;
  o.skip_bad = io.skip_bad;
  char rejects[4096];
  if (o.skip_bad && strcmp(path, "-") != 0) {
    snprintf(rejects, sizeof rejects, "%s.rejects.csv", path);
    o.rejects_path = io.rejects_path ? io.rejects_path : rejects;
  } else if (o.skip_bad) {
    o.rejects_path = io.rejects_path;
  }

  rt_store *st;
  int rc = cli_open_store(g, 0, &st);
  if (rc) return rc;
  rt_error err = {0};
  rt_rates_import_result res;
  if (rt_rates_import_file(st, path, &o, &res, &err)) {
    rc = cli_fail(&err);
    fprintf(stderr, "retain: no rates were imported from %s\n", path);
    rt_store_close(st);
    return rc;
  }
  rt_store_close(st);
  char a[32], b[32], c[32], d1[16], d2[16];
  int wide = res.layout == RT_RATES_WIDE;
  printf("imported %s (%s): %s rows, %s rates of %d currencies", path,
         wide ? "a column per currency" : "date,currency,rate", cli_count(res.rows, a, sizeof a),
         cli_count(res.stored + res.replaced + res.unchanged, b, sizeof b), res.currencies);
  if (wide) printf(" against %s", base_code);
  if (res.first_day <= res.last_day)
    printf(", %s to %s", day_text(res.first_day, d1, sizeof d1),
           day_text(res.last_day, d2, sizeof d2));
  printf("\n  stored %s new, replaced %s, %s already in the store",
         cli_count(res.stored, a, sizeof a), cli_count(res.replaced, b, sizeof b),
         cli_count(res.unchanged, c, sizeof c));
  if (res.missing) printf("; %s cells without a rate (N/A)", cli_count(res.missing, a, sizeof a));
  printf("\n");
  if (res.skipped) {
    printf("  skipped %s bad cells:\n", cli_count(res.skipped, a, sizeof a));
    for (int k = 0; k < 5 && k < res.skipped; k++) printf("    %s\n", res.first_rejects[k]);
    if (res.skipped > 5) printf("    ...\n");
    if (o.rejects_path) printf("  every skipped cell is in %s\n", o.rejects_path);
  }
  return CLI_OK;
}

/* ---- list ---- */

static int rates_list(const cli_global *g, const char *only, cli_format format) {
  rt_store *st;
  int rc = cli_open_store(g, 1, &st);
  if (rc) return rc;
  rt_error err = {0};
  rt_rates *r = NULL;
  if (rt_rates_load(st, &r, &err)) {
    rt_store_close(st);
    return cli_fail(&err);
  }
  rt_store_close(st);
  cli_table t;
  cli_table_init(&t, 6);
  t.left = 1u << 1 | 1u << 2 | 1u << 3;
  json_t *arr = format == FMT_JSON ? json_array() : NULL;
  if (format == FMT_CSV) printf("base,currency,first,last,rates,latest\n");
  else if (format == FMT_TABLE)
    cli_table_row(&t, (const char *[]){"base", "currency", "first", "last", "rates", "latest"});
  size_t shown = 0;
  for (size_t i = 0; i < rt_rates_nseries(r); i++) {
    rt_rate_series s;
    rt_rates_series(r, i, &s);
    if (only && strcmp(s.currency, only) && strcmp(s.base, only)) continue;
    shown++;
    char first[16], last[16], count[32], latest[40];
    day_text(s.first_day, first, sizeof first);
    day_text(s.last_day, last, sizeof last);
    snprintf(latest, sizeof latest, "%.15g", s.latest); /* the decimal as published */
    if (format == FMT_JSON) {
      json_t *o = json_object();
      json_object_set_new(o, "base", json_string(s.base));
      json_object_set_new(o, "currency", json_string(s.currency));
      json_object_set_new(o, "first", json_string(first));
      json_object_set_new(o, "last", json_string(last));
      json_object_set_new(o, "rates", json_integer((json_int_t)s.count));
      json_object_set_new(o, "latest", json_real(s.latest));
      json_array_append_new(arr, o);
    } else if (format == FMT_CSV) {
      printf("%s,%s,%s,%s,%zu,%s\n", s.base, s.currency, first, last, s.count, latest);
    } else {
      cli_table_row(&t, (const char *[]){s.base, s.currency, first, last,
                                         cli_count((int64_t)s.count, count, sizeof count),
                                         latest});
    }
  }
  if (format == FMT_JSON) {
    json_dumpf(arr, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    printf("\n");
  } else if (format == FMT_TABLE) {
    if (!rt_rates_nseries(r))
      printf("No exchange rates yet: retain rates import FILE (see retain rates --help)\n");
    else if (!shown)
      printf("No rates of %s (retain rates list shows them all)\n", only);
    else {
      cli_table_print(&t, stdout);
      char n[32];
      printf("%s rates; conversions go through %s\n",
             cli_count((int64_t)rt_rates_count(r), n, sizeof n), rt_rates_pivot(r));
    }
  }
  json_decref(arr);
  cli_table_free(&t);
  rt_rates_free(r);
  return CLI_OK;
}

/* ---- convert ---- */

static int rates_convert(const cli_global *g, const char *amount_s, const char *from_s,
                       const char *to_s, const char *date_s, cli_format format) {
  char from[4], to[4];
  if (code_arg("FROM", from_s, from) || code_arg("TO", to_s, to)) return CLI_USAGE;
  if (!date_s)
    return cli_usage_error("rates", "convert wants --date D: the day whose rates apply");
  rt_error err = {0};
  int64_t amount, ms;
  if (rt_amount_parse(amount_s, from, &amount, &err))
    return cli_usage_error("rates", "%s", err.msg);
  if (rt_date_parse(NULL, date_s, strlen(date_s), NULL, &ms, &err))
    return cli_usage_error("rates", "--date: %s", err.msg);
  int64_t day = rt_floordiv(ms, RT_MS_PER_DAY);
  rt_store *st;
  int rc = cli_open_store(g, 1, &st);
  if (rc) return rc;
  rt_rates *r = NULL;
  if (rt_rates_load(st, &r, &err)) {
    rt_store_close(st);
    return cli_fail(&err);
  }
  rt_store_close(st);
  int64_t out;
  double rate = 0;
  if (rt_rates_convert(r, amount, from, to, day, &out, &err) ||
      rt_rates_rate(r, from, to, day, &rate, &err)) {
    rt_rates_free(r);
    return cli_fail(&err);
  }
  char a[48], b[48], d[16];
  cli_money(amount, rt_currency_exponent(from), a, sizeof a);
  cli_money(out, rt_currency_exponent(to), b, sizeof b);
  day_text(day, d, sizeof d);
  if (format == FMT_JSON) {
    json_t *o = json_object();
    json_object_set_new(o, "amount", json_string(a));
    json_object_set_new(o, "from", json_string(from));
    json_object_set_new(o, "to", json_string(to));
    json_object_set_new(o, "date", json_string(d));
    json_object_set_new(o, "result", json_string(b));
    json_object_set_new(o, "result_minor", json_integer(out));
    json_object_set_new(o, "rate", json_real(rate));
    json_dumpf(o, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    printf("\n");
    json_decref(o);
  } else {
    printf("%s %s = %s %s on %s (1 %s = %.10g %s)\n", a, from, b, to, d, from, rate, to);
  }
  rt_rates_free(r);
  return CLI_OK;
}

int cmd_rates(const cli_global *g, int argc, char **argv) {
  if (argc < 2 || cli_is_help(argv[1])) {
    help();
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "import")) return rates_import(g, argc, argv);
  int listing = !strcmp(cmd, "list"), converting = !strcmp(cmd, "convert");
  if (!listing && !converting)
    return cli_usage_error("rates", "unknown command '%s' (import, list, convert)", cmd);
  const char *only_s = NULL, *date_s = NULL, *pos[3] = {NULL, NULL, NULL};
  int npos = 0;
  cli_format format = FMT_TABLE;
  for (int i = 2; i < argc; i++) {
    const char *v;
    int r;
    if (cli_is_help(argv[i])) {
      help();
      return CLI_OK;
    }
    if ((r = cli_value(argc, argv, &i, "--format", &v)) != 0) {
      if (r < 0 || cli_parse_format("rates", v, &format)) return CLI_USAGE;
      if (converting && format == FMT_CSV)
        return cli_usage_error("rates", "convert prints a line or json, not csv");
    } else if (listing && (r = cli_value(argc, argv, &i, "--currency", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      only_s = v;
    } else if (converting && (r = cli_value(argc, argv, &i, "--date", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      date_s = v;
    } else if (converting && npos < 3 &&
               (argv[i][0] != '-' || (argv[i][1] >= '0' && argv[i][1] <= '9') ||
                argv[i][1] == '.')) {
      pos[npos++] = argv[i]; /* a negative amount is an argument, not an option */
    } else {
      return cli_usage_error("rates", "unknown argument '%s'", argv[i]);
    }
  }
  if (listing) {
    char only[4];
    if (only_s && code_arg("--currency", only_s, only)) return CLI_USAGE;
    return rates_list(g, only_s ? only : NULL, format);
  }
  if (npos < 3) return cli_usage_error("rates", "convert wants AMOUNT FROM TO --date D");
  return rates_convert(g, pos[0], pos[1], pos[2], date_s, format);
}
