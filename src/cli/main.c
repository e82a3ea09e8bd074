/* main.c - the `retain` command: global options (--db, --timezone, --currency, --as-of, --quiet), then
 * one subcommand from the table below. Exit status 0 on success, 1 on failure, 2 on a usage
 * error. */
#include "cli/cli.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#ifndef RETAIN_VERSION
#define RETAIN_VERSION "0.1.0"
#endif

static const struct {
  const char *name;
  cli_cmd_fn fn;
  const char *summary;
} commands[] = {
    {"import", cmd_import, "import orders, customers, events or subscriptions from CSV"},
    {"rates", cmd_rates, "exchange rates: import (the ECB's file), list, convert"},
    {"report", cmd_report, "retention KPIs for a period against a baseline"},
    {"cohorts", cmd_cohorts, "acquisition cohorts x periods since acquisition"},
    {"clv", cmd_clv, "who is still a customer and what each is worth (MBG/NBD, Gamma-Gamma)"},
    {"subscription", cmd_subscription, "subscription retention curve and residual value (sBG)"},
    {"churn", cmd_churn, "churn risk with reasons: train, score, explain; cv on a table"},
    {"scores", cmd_scores, "export the customer scores a model run stored"},
    {"features", cmd_features, "the fields segment rules use, or one customer's values"},
    {"rfm", cmd_rfm, "RFM scores and the named RFM segments"},
    {"lifecycle", cmd_lifecycle, "customers by lifecycle stage (new, active, at risk, ...)"},
    {"segment", cmd_segment, "dynamic segments: create, list, show, members, refresh, ..."},
    {"serve", cmd_serve, "the HTTP API: Segment-spec event ingest (identify, track, batch, ...)"},
    {"keys", cmd_keys, "API keys for the HTTP server: create, list, revoke"},
    {"customers", cmd_customers, "one customer's data: export it (GDPR access), erase it"},
    {"gen", cmd_gen, "generate a realistic synthetic business (CSV files)"},
    {"demo", cmd_demo, "generate a business, import it and show its retention report"},
};

static void usage(FILE *f) {
  fprintf(f,
          "retain %s - customer retention analytics\n\n"
          "Usage: retain [GLOBAL OPTIONS] COMMAND [OPTIONS]\n\n"
          "Commands:\n",
          RETAIN_VERSION);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
  fprintf(f,
          "\nGlobal options (before the command):\n"
          "  --db PATH         the store (SQLite file); default $RETAIN_DB or retain.db\n"
          "  --timezone TZ     business time zone for days and periods: UTC (default), an\n"
          "                    offset like +05:30, or an IANA name like Europe/Berlin\n"
          "  --currency CODE   report amounts in this currency (default: the most used)\n"
          "  --as-of DATE      judge everything as of this day (default: today while the\n"
          "                    data is live - its last day within a week - else the last\n"
          "                    day with data); every analytic command also takes --as-of\n"
          "  --quiet           no progress bars or notes on stderr\n"
          "  --help, --version\n\n"
          "Environment:\n"
          "  RETAIN_DB         the store when --db is not given\n"
          "  RETAIN_NOW        the as-of day when --as-of is not given (and the server's clock)\n"
          "  RETAIN_TRACE=1    print where a command spends its time, phase by phase\n"
          "  TZDIR             where the time zone files are (default /usr/share/zoneinfo)\n\n"
          "Run 'retain COMMAND --help' for a command's options. Docs: README.md, docs/.\n");
}

int main(int argc, char **argv) {
  /* A model build frees and allocates columns of hundreds of MB in turn. Served from the heap
   * and kept there, freed columns are reused instead of being handed back to the kernel and
   * faulted in (and zeroed) again. */
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  cli_global g = {0};
  g.prog = argc > 0 && argv[0][0] ? argv[0] : "retain";
  g.db = getenv("RETAIN_DB");
  g.db_given = g.db && *g.db;
  if (!g.db_given) g.db = "retain.db";
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *v;
    int r;
    if (cli_is_help(argv[i])) {
      usage(stdout);
      return CLI_OK;
    }
    if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V")) {
      printf("retain %s\n", RETAIN_VERSION);
      return CLI_OK;
    }
    if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
      g.quiet = 1;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--db", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      g.db = v;
      g.db_given = 1;
      g.db_flag = 1;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--timezone", &v)) != 0 ||
        (r = cli_value(argc, argv, &i, "--tz", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      g.timezone = v;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--as-of", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      g.as_of = v;
      continue;
    }
    if ((r = cli_value(argc, argv, &i, "--currency", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      if (strlen(v) != 3) {
        fprintf(stderr, "retain: --currency wants a 3-letter code, not '%s'\n", v);
        return CLI_USAGE;
      }
      g.currency = v;
      continue;
    }
    fprintf(stderr, "retain: unknown option '%s'\nRun 'retain --help' for usage.\n", argv[i]);
    return CLI_USAGE;
  }
  if (i >= argc) {
    usage(stderr);
    return CLI_USAGE;
  }
  if (!strcmp(argv[i], "help")) {
    if (i + 1 < argc) {
      char *hv[] = {argv[i + 1], "--help", NULL};
      for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
        if (!strcmp(commands[c].name, argv[i + 1])) return commands[c].fn(&g, 2, hv);
    }
    usage(stdout);
    return CLI_OK;
  }
  for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
    if (!strcmp(commands[c].name, argv[i])) return commands[c].fn(&g, argc - i, argv + i);
  fprintf(stderr, "retain: unknown command '%s'\nRun 'retain --help' for the commands.\n",
          argv[i]);
  return CLI_USAGE;
}
