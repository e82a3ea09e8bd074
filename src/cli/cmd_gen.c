/* cmd_gen.c - `retain gen`: writes a deterministic synthetic business as CSV files (see
 * include/retain/gen.h and docs/DATA.md for what is in them). */
#include "cli/cli.h"

#include <retain/gen.h>

#include <string.h>

static void help(void) {
  printf("Usage: retain gen [--customers N] [--seed S] [--out DIR] [options]\n\n"
         "Writes a realistic synthetic business into DIR: customers.csv, orders.csv,\n"
         "order_lines.csv, subscriptions.csv and events.csv (formats in docs/DATA.md).\n"
         "The same seed always gives the same files.\n\n"
         "Options:\n"
         "  --customers N   customers to acquire (default 10000; 50k and 2M work too)\n"
         "  --seed S        random seed (default 1)\n"
         "  --out DIR       output directory, created if missing (default retain-data)\n"
         "  --start DATE    first acquisition day (default 2022-01-01)\n"
         "  --end DATE      last day of data (default 2024-12-31)\n"
         "  --no-lines      skip order_lines.csv\n"
         "  --no-events     skip events.csv\n");
}

static int parse_day(const char *opt, const char *s, int64_t *out) {
  int64_t ms;
  rt_error err = {0};
  if (rt_date_parse(NULL, s, strlen(s), NULL, &ms, &err))
    return cli_usage_error("gen", "%s: %s", opt, err.msg);
  *out = ms / RT_MS_PER_DAY;
  return 0;
}

int cmd_gen(const cli_global *g, int argc, char **argv) {
  rt_gen_opts o;
  rt_gen_opts_init(&o);
  o.out_dir = "retain-data";
  for (int i = 1; i < argc; i++) {
    const char *v;
    int r;
    if (cli_is_help(argv[i])) {
      help();
      return CLI_OK;
    }
    if (cli_flag(argv, i, "--no-lines")) {
      o.lines = 0;
      continue;
    }
    if (cli_flag(argv, i, "--no-events")) {
      o.events = 0;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--customers", &v)) != 0) {
      if (r < 0 || cli_parse_count("gen", "--customers", v, &o.customers)) return CLI_USAGE;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--seed", &v)) != 0) {
      int64_t s;
      if (r < 0 || cli_parse_int("gen", "--seed", v, 0, INT64_MAX, &s)) return CLI_USAGE;
      o.seed = (uint64_t)s;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--out", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      o.out_dir = v;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--start", &v)) != 0) {
      if (r < 0 || parse_day("--start", v, &o.start_day)) return CLI_USAGE;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--end", &v)) != 0) {
      if (r < 0 || parse_day("--end", v, &o.end_day)) return CLI_USAGE;
      continue;
    }
    return cli_usage_error("gen", "unknown argument '%s'", argv[i]);
  }
  if (o.end_day <= o.start_day) return cli_usage_error("gen", "--end must be after --start");
  cli_progress p;
  cli_progress_init(&p, g, "generating");
  o.progress_cb = cli_progress_items;
  o.progress_ctx = &p;
  rt_gen_stats st;
  rt_error err = {0};
  double t0 = cli_now();
  int rc = rt_gen_run(&o, &st, &err);
  cli_progress_end(&p);
  if (rc) return cli_fail(&err);
  double el = cli_now() - t0;
  if (!g->quiet) {
    char a[32], b[32], c[32], d[32], e[32];
    printf("wrote %s: %s customers, %s orders (%s refunds), %s subscriptions, %s events "
           "in %.2f s\n",
           o.out_dir, cli_count((int64_t)st.customers, a, sizeof a),
           cli_count((int64_t)st.orders, b, sizeof b), cli_count((int64_t)st.refunds, c, sizeof c),
           cli_count((int64_t)st.subscriptions, d, sizeof d),
           cli_count((int64_t)st.events, e, sizeof e), el);
  }
  return CLI_OK;
}
