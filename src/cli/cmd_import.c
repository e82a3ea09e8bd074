/* cmd_import.c - `retain import orders|customers|events|subscriptions FILE`: one CSV file into
 * the store, all or nothing, with a progress bar and a summary of what was stored. */
#include "cli/cli.h"

#include <retain/alloc.h>

#include <inttypes.h>
#include <string.h>

static void help(void) {
  printf("Usage: retain [--db PATH] import orders|customers|events|subscriptions FILE [options]\n\n"
         "Imports a CSV file (\"-\" reads standard input) in one transaction: every row is\n"
         "stored or, at the first bad row, nothing; the error names file, line, column and\n"
         "reason. Importing the same file twice stores nothing twice.\n\n%s"
         "Other:\n"
         "  --timezone TZ     zone of times without an offset (default: the store's, or UTC)\n"
         "  --no-segments     do not re-evaluate the stored segments after the import (by\n"
         "                    default they are, recording who entered and who left)\n\n"
         "Examples:\n"
         "  retain import orders orders.csv\n"
         "  retain import orders CDNOW_master.txt --delimiter whitespace\n"
         "  retain import orders CDNOW_sample.txt --no-header --delimiter whitespace \\\n"
         "      --customer-col 2 --date-col 3 --quantity-col 4 --amount-col 5\n"
         "  retain import orders online_retail.csv --skip-bad --currency GBP\n"
         "See docs/IMPORT.md for the column names recognised and the rules.\n",
         cli_import_options_help);
}

int cmd_import(const cli_global *g, int argc, char **argv) {
  rt_import_kind kind = RT_IMPORT_ORDERS;
  const char *kind_s = NULL, *path = NULL, *tzname = g->timezone;
  rt_import_opts o;
  rt_import_opts_init(&o, RT_IMPORT_ORDERS);
  rt_import_opts tmp;
  int no_segments = 0;
  for (int i = 1; i < argc; i++) {
    if (cli_is_help(argv[i]) && !kind_s) {
      help();
      return CLI_OK;
    }
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help();
      return CLI_OK;
    }
    if (cli_flag(argv, i, "--no-segments")) {
      no_segments = 1;
      continue;
    }
    if (argv[i][0] == '-' && argv[i][1]) {
      const char *v;
      int r = cli_value(argc, argv, &i, "--timezone", &v);
      if (r < 0) return CLI_USAGE;
      if (r > 0) {
        tzname = v;
        continue;
      }
      r = cli_import_option("import", argc, argv, &i, &o);
      if (r < 0) return CLI_USAGE;
      if (r == 0) return cli_usage_error("import", "unknown option '%s'", argv[i]);
      continue;
    }
    if (!kind_s) kind_s = argv[i];
    else if (!path) path = argv[i];
    else return cli_usage_error("import", "unexpected argument '%s'", argv[i]);
  }
  if (!kind_s || !path)
    return cli_usage_error("import", "want a kind (orders, customers, events, subscriptions) "
                                     "and a FILE");
  if (rt_import_kind_parse(kind_s, &kind))
    return cli_usage_error("import", "unknown kind '%s' (expected orders, customers, events "
                                     "or subscriptions)", kind_s);
  /* The kind decides the defaults; the options parsed so far are kept. */
  tmp = o;
  rt_import_opts_init(&o, kind);
  memcpy(o.cols, tmp.cols, sizeof o.cols);
  o.csv = tmp.csv;
  o.no_header = tmp.no_header;
  o.date_format = tmp.date_format;
  o.currency = tmp.currency ? tmp.currency : g->currency;
  o.skip_bad = tmp.skip_bad;
  o.rejects_path = tmp.rejects_path;

  rt_store *st = NULL;
  rt_tz *tz = NULL;
  rt_error err = {0};
  int rc = cli_open_store(g, 0, &st);
  if (rc) return rc;
  cli_global g2 = *g;
  g2.timezone = tzname;
  if ((rc = cli_load_tz(&g2, st, &tz))) goto out;
  o.tz = tz;

  cli_progress p;
  cli_progress_init(&p, g, "importing");
  if (p.enabled) {
    o.progress_cb = cli_progress_bytes;
    o.progress_ctx = &p;
  }
  rt_import_result res;
  double t0 = cli_now();
  int irc = rt_import_file(st, path, &o, &res, &err);
  cli_progress_end(&p);
  if (irc) {
    rc = cli_fail(&err);
    fprintf(stderr, "retain: nothing was imported from %s\n", path);
    goto out;
  }
  double el = cli_now() - t0;
  char a[32], b[32], c[32];
  printf("imported %s: %s rows in %.2f s (%s rows/s)\n", path, cli_count(res.rows, a, sizeof a),
         el, cli_count(el > 0 ? (int64_t)((double)res.rows / el) : res.rows, b, sizeof b));
  const char *what = kind == RT_IMPORT_ORDERS          ? "orders and refunds"
                     : kind == RT_IMPORT_CUSTOMERS     ? "customers"
                     : kind == RT_IMPORT_EVENTS        ? "events"
                                                       : "subscriptions";
  printf("  stored %s new %s", cli_count(res.stored, a, sizeof a), what);
  if (kind == RT_IMPORT_ORDERS) printf(" (%s refunds)", cli_count(res.refunds, c, sizeof c));
  if (kind == RT_IMPORT_CUSTOMERS) printf("\n"); /* the customers are what was stored */
  else printf(", %s new customers\n", cli_count(res.new_customers, b, sizeof b));
  if (res.merged)
    printf("  %s rows merged into their order or record\n", cli_count(res.merged, a, sizeof a));
  if (res.duplicates)
    printf("  %s already in the store (not stored again)\n",
           cli_count(res.duplicates, a, sizeof a));
  if (res.skipped) {
    printf("  skipped %s bad rows:\n", cli_count(res.skipped, a, sizeof a));
    for (int k = 0; k < 5 && k < res.skipped; k++) printf("    %s\n", res.first_rejects[k]);
    if (res.skipped > 5) printf("    ...\n");
    if (o.rejects_path) printf("  every skipped row is in %s\n", o.rejects_path);
    else printf("  every skipped row is in %s.rejects.csv\n", path);
  }
  if (tzname) {
    /* An import's --timezone is the business zone from now on, unless one is set. */
    char *cur = NULL;
    if (rt_store_meta_get(st, "timezone", &cur, &err) == 0 && !cur)
      rt_store_meta_set(st, "timezone", tzname, &err);
    rt_free(cur);
  }
out:
  rt_tz_free(tz);
  rt_store_close(st);
  /* the stored segments follow the new data (who entered and left is recorded) */
  if (rc == CLI_OK && !no_segments) rc = cli_segments_refresh(g, NULL);
  return rc;
}
