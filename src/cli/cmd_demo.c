/* cmd_demo.c - `retain demo`: generates a synthetic business, imports it into a fresh store and
 * shows its retention report, cohorts, customer-value models and churn risks: the whole product
 * in one command. */
#include "cli/cli.h"

#include <retain/gen.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void help(void) {
  printf("Usage: retain demo [--customers N] [--seed S] [--dir DIR]\n\n"
         "Generates a realistic business (retain gen) into DIR/data, imports its customers,\n"
         "orders, subscriptions and events into DIR/retain.db (or the global --db PATH),\n"
         "then shows the retention report, the quarterly cohorts, the customer-value models,\n"
         "a churn model with the riskiest customers, the lifecycle stages and a segment.\n"
         "DIR defaults to retain-demo; an existing demo store there is replaced. RETAIN_DB is\n"
         "ignored, so a demo never lands in your real store.\n\n"
         "Options:\n"
         "  --customers N   default 20000\n"
         "  --seed S        default 1\n"
         "  --dir DIR       default retain-demo\n");
}

static int run(const cli_global *g, cli_cmd_fn fn, char **argv) {
  int argc = 0;
  while (argv[argc]) argc++;
  return fn(g, argc, argv);
}

int cmd_demo(const cli_global *g, int argc, char **argv) {
  const char *dir = "retain-demo", *customers = "20000", *seed = "1";
  for (int i = 1; i < argc; i++) {
    int r;
    if (cli_is_help(argv[i])) {
      help();
      return CLI_OK;
    }
    if ((r = cli_value(argc, argv, &i, "--customers", &customers)) != 0 ||
        (r = cli_value(argc, argv, &i, "--seed", &seed)) != 0 ||
        (r = cli_value(argc, argv, &i, "--dir", &dir)) != 0) {
      if (r < 0) return CLI_USAGE;
      continue;
    }
    return cli_usage_error("demo", "unknown argument '%s'", argv[i]);
  }
  uint64_t n;
  if (cli_parse_count("demo", "--customers", customers, &n)) return CLI_USAGE;

  char data[4096], db[4096], path[4200];
  snprintf(data, sizeof data, "%s/data", dir);
  if (g->db_flag) {
    snprintf(db, sizeof db, "%s", g->db);
  } else {
    if (mkdir(dir, 0777) && errno != EEXIST) {
      fprintf(stderr, "retain: cannot create '%s': %s\n", dir, strerror(errno));
      return CLI_FAIL;
    }
    snprintf(db, sizeof db, "%s/retain.db", dir);
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t k = 0; k < sizeof suffix / sizeof suffix[0]; k++) {
      snprintf(path, sizeof path, "%s%s", db, suffix[k]);
      unlink(path);
    }
  }
  cli_global dg = *g;
  dg.db = db;
  dg.db_given = 1;

  printf("== 1. Generating a business of %s customers (seed %s) into %s\n", customers, seed,
         data);
  char *gen_argv[] = {"gen", "--customers", (char *)customers, "--seed", (char *)seed,
                      "--out", data, NULL};
  int rc = run(&dg, cmd_gen, gen_argv);
  if (rc) return rc;

  printf("\n== 2. Importing it into %s\n", db);
  static const char *const kinds[] = {"customers", "orders", "subscriptions", "events"};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    snprintf(path, sizeof path, "%s/%s.csv", data, kinds[k]);
    char *imp_argv[] = {"import", (char *)kinds[k], path, NULL};
    if ((rc = run(&dg, cmd_import, imp_argv))) return rc;
  }

  printf("\n== 3. The retention report for the last month\n\n");
  char *rep_argv[] = {"report", NULL};
  if ((rc = run(&dg, cmd_report, rep_argv))) return rc;

  printf("\n== 4. Quarterly cohorts: %% of each cohort ordering in later quarters\n\n");
  char *coh_argv[] = {"cohorts", "--period", "quarter", "--percent", NULL};
  if ((rc = run(&dg, cmd_cohorts, coh_argv))) return rc;

  printf("\n== 5. Who is still a customer, and what each is worth (MBG/NBD, Gamma-Gamma)\n\n");
  char *clv_argv[] = {"clv", "fit", NULL};
  if ((rc = run(&dg, cmd_clv, clv_argv))) return rc;

  printf("\n== 6. Who is about to leave, and why (a churn model on the history)\n\n");
  char *train_argv[] = {"churn", "train", NULL};
  if ((rc = run(&dg, cmd_churn, train_argv))) return rc;
  printf("\n");
  char *score_argv[] = {"churn", "score", "--top", "5", NULL};
  if ((rc = run(&dg, cmd_churn, score_argv))) return rc;

  printf("\n== 7. Customers by lifecycle stage, and a segment to act on\n\n");
  /* as of the generated data's last day (gen's default end), not the wall clock */
  char *life_argv[] = {"lifecycle", "--as-of", "2024-12-31", NULL};
  if ((rc = run(&dg, cmd_lifecycle, life_argv))) return rc;
  printf("\n");
  char *seg_argv[] = {"segment", "create", "lapsing-vips", "--rule",
                      "orders >= 3 and days_since_last_order > 60 and "
                      "value_tier in ('platinum', 'gold')",
                      "--description", "good customers going quiet", "--as-of", "2024-12-31",
                      NULL};
  if ((rc = run(&dg, cmd_segment, seg_argv))) return rc;

  const char *prog = g->prog ? g->prog : "retain";
  printf("\nNext steps:\n"
         "  %s --db %s report --period week --from 2024-W40\n"
         "  %s --db %s cohorts --metric revenue --format csv\n"
         "  %s --db %s clv predict --horizon 52w --save > clv.csv\n"
         "  %s --db %s churn score --top 20\n"
         "  %s --db %s segment members lapsing-vips > lapsing.csv\n"
         "  %s --db %s report --by segment\n"
         "  %s --db %s import orders YOUR_ORDERS.csv   (see docs/IMPORT.md)\n",
         prog, db, prog, db, prog, db, prog, db, prog, db, prog, db, prog, db);
  return CLI_OK;
}
