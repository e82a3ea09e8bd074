/* cmd_customers.c - `retain customers export|erase|unsuppress|erasures`: one customer's rights
 * over its data (docs/PRIVACY.md). export writes everything the store holds about a customer
 * as JSON (GDPR Art. 15, access); erase deletes it for good (Art. 17, erasure), asking first
 * or taking --yes, and puts its ids on the suppression list unless --allow-return;
 * unsuppress takes an id off that list; erasures lists the log of erasures, which holds no
 * personal data. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void help(void) {
  printf("Usage: retain [--db PATH] customers COMMAND ...\n\n"
         "One customer's rights over its data (docs/PRIVACY.md). ID is the customer's own id\n"
         "(as your systems gave it), else retain's number for it. A customer merged into\n"
         "another is the same person: either id means the survivor with every customer\n"
         "merged into it.\n\n"
         "Commands:\n"
         "  export ID [--output FILE]     everything held about the customer as JSON\n"
         "                                (GDPR Art. 15): every row of every table that\n"
         "                                holds its data; FILE is created mode 0600\n"
         "  erase ID [--yes] [--allow-return] [--format F]\n"
         "                                deletes the customer and everything held about it\n"
         "                                (GDPR Art. 17), then prints what was removed; asks\n"
         "                                first unless --yes (needed without a terminal)\n"
         "  unsuppress ID [--anonymous]   takes an erased id off the suppression list: new\n"
         "                                data under it starts a new, empty profile\n"
         "  erasures [--format F]         the log of erasures: when, who asked, counts\n\n"
         "Options:\n"
         "  --yes            erase without asking (it cannot be undone)\n"
         "  --allow-return   do not put the ids on the suppression list: later data under\n"
         "                   them (the same tracking firing again) starts a new profile\n"
         "                   instead of being refused\n"
         "  --anonymous      unsuppress: ID is an anonymousId, not a customer id\n"
         "  --output FILE    export: write to FILE instead of standard output\n"
         "  --format F       table (default), csv or json\n\n"
         "Examples:\n"
         "  retain customers export 17850 --output 17850.json\n"
         "  retain customers erase 17850 --yes\n");
}

/* The customer id names: its own id, else retain's number. Prints why not and returns
 * CLI_FAIL when there is none. */
static int find(rt_store *st, const char *id, rt_customer_view *v) {
  rt_error err = {0};
  int rc = rt_store_customer_get(st, id, 0, v, &err);
  if (rc == RT_ENOTFOUND && *id && strspn(id, "0123456789") == strlen(id) && strlen(id) < 19) {
    rt_error_clear(&err);
    rc = rt_store_customer_get(st, NULL, strtoll(id, NULL, 10), v, &err);
  }
  if (rc == RT_ENOTFOUND) {
    fprintf(stderr, "retain: no customer '%s' (neither a customer's id nor retain's number "
                    "for one)\n", id);
    return CLI_FAIL;
  }
  return rc ? cli_fail(&err) : CLI_OK;
}

/* Opens the store and finds the customer id names; on failure nothing is left open. Returns
 * an exit code. */
static int open_customer(const cli_global *g, int read_only, const char *id, rt_store **st,
                         rt_customer_view *v) {
  int rc = cli_open_store(g, read_only, st);
  if (!rc && (rc = find(*st, id, v))) {
    rt_store_close(*st);
    *st = NULL;
  }
  return rc;
}

static int to_file(void *ctx, const char *data, size_t n) {
  return fwrite(data, 1, n, ctx) == n ? 0 : RT_EIO;
}

static int cmd_export(const cli_global *g, const char *id, const char *path) {
  rt_store *st;
  rt_customer_view v;
  int rc = open_customer(g, 1, id, &st, &v);
  if (rc) return rc;
  FILE *f = stdout;
  if (path) { /* personal data: readable by its owner only */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) || !(f = fdopen(fd, "w"))) {
      fprintf(stderr, "retain: %s: %s\n", path, strerror(errno));
      if (fd >= 0) close(fd);
      rt_customer_view_free(&v);
      rt_store_close(st);
      return CLI_FAIL;
    }
  }
  rt_error err = {0};
  int x = rt_store_customer_export(st, v.id, to_file, f, &err);
  if (fflush(f) && !x) x = RT_EIO;
  if (x == RT_EIO && !err.msg[0])
    rt_error_set(&err, RT_EIO, "%s: %s", path ? path : "standard output", strerror(errno));
  if (path && fclose(f) && !x)
    x = rt_error_set(&err, RT_EIO, "%s: %s", path, strerror(errno));
  if (x) {
    if (path) unlink(path); /* no half export left behind */
    rc = cli_fail(&err);
  } else if (path && !g->quiet) {
    fprintf(stderr, "retain: exported customer '%s' (id %lld) to %s\n", v.ext_id,
            (long long)v.id, path);
  }
  rt_customer_view_free(&v);
  rt_store_close(st);
  return rc;
}

/* Asks on the terminal: the customer's id typed back confirms. 1 when confirmed. */
static int confirmed(const rt_customer_view *v) {
  fprintf(stderr,
          "Erase customer '%s' (id %lld) and everything retain holds about it? This cannot "
          "be undone.\nType the customer's id to confirm: ",
          v->ext_id, (long long)v->id);
  char line[1024];
  if (!fgets(line, sizeof line, stdin)) return 0;
  line[strcspn(line, "\r\n")] = '\0';
  return !strcmp(line, v->ext_id);
}

static void print_erasure(const rt_customer_view *v, const rt_erasure *e, int allow_return,
                          cli_format format) {
  if (format == FMT_JSON) {
    json_t *o = json_object(), *removed = json_object();
    json_object_set_new(o, "erased", json_string(v->ext_id));
    json_object_set_new(o, "id", json_integer(e->customer));
    json_object_set_new(o, "customers", json_integer(e->customers));
    for (size_t i = 0; i < e->ntables; i++)
      json_object_set_new(removed, e->removed[i].table, json_integer(e->removed[i].rows));
    json_object_set_new(o, "removed", removed);
    json_object_set_new(o, "suppressed", json_integer(e->suppressed));
    json_object_set_new(o, "erasure", json_integer(e->id));
    json_dumpf(o, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    printf("\n");
    json_decref(o);
    return;
  }
  if (format == FMT_CSV) {
    printf("table,rows\n");
    for (size_t i = 0; i < e->ntables; i++)
      printf("%s,%lld\n", e->removed[i].table, (long long)e->removed[i].rows);
    return;
  }
  printf("Erased customer '%s' (id %lld)", v->ext_id, (long long)e->customer);
  if (e->customers > 1)
    printf(" with %lld customer%s merged into it", (long long)e->customers - 1,
           e->customers == 2 ? "" : "s");
  printf(".\n\n");
  cli_table t;
  cli_table_init(&t, 2);
  cli_table_row(&t, (const char *[]){"table", "rows"});
  char n[32];
  for (size_t i = 0; i < e->ntables; i++) {
    cli_count(e->removed[i].rows, n, sizeof n);
    cli_table_row(&t, (const char *[]){e->removed[i].table, n});
  }
  cli_table_print(&t, stdout);
  cli_table_free(&t);
  if (allow_return)
    printf("\nIts ids are not suppressed (--allow-return): new data under them starts a new, "
           "empty profile.\n");
  else
    printf("\n%lld id%s on the suppression list: new data under %s is refused "
           "(retain customers unsuppress ID lets one back).\n",
           (long long)e->suppressed, e->suppressed == 1 ? " is" : "s are",
           e->suppressed == 1 ? "it" : "them");
}

static int cmd_erase(const cli_global *g, const char *id, int yes, int allow_return,
                     cli_format format) {
  if (!yes && !isatty(STDIN_FILENO))
    return cli_usage_error("customers", "erase cannot be undone: give --yes to erase without "
                                        "a terminal to confirm on");
  rt_store *st;
  rt_customer_view v;
  int rc = open_customer(g, 0, id, &st, &v);
  if (rc) return rc;
  if (!yes && !confirmed(&v)) {
    fprintf(stderr, "retain: not confirmed; nothing was erased\n");
    rt_customer_view_free(&v);
    rt_store_close(st);
    return CLI_FAIL;
  }
  rt_erasure e;
  rt_error err = {0};
  if (rt_store_customer_erase(st, v.id, "cli", allow_return ? RT_ERASE_ALLOW_RETURN : 0,
                              0, &e, &err))
    rc = cli_fail(&err);
  else
    print_erasure(&v, &e, allow_return, format);
  rt_customer_view_free(&v);
  rt_store_close(st);
  return rc;
}

static int cmd_unsuppress(const cli_global *g, const char *id, int anonymous) {
  rt_store *st;
  int rc = cli_open_store(g, 0, &st);
  if (rc) return rc;
  rt_error err = {0};
  int lifted = 0;
  if (rt_store_erased_lift(st, anonymous ? "anonymous" : "customer", id, strlen(id), &lifted,
                           &err)) {
    rc = cli_fail(&err);
  } else if (!lifted) {
    fprintf(stderr, "retain: %s '%s' is not on the suppression list\n",
            anonymous ? "anonymousId" : "customer id", id);
    rc = CLI_FAIL;
  } else if (!g->quiet) {
    fprintf(stderr, "retain: %s '%s' is off the suppression list: new data under it starts a "
                    "new, empty profile\n",
            anonymous ? "anonymousId" : "customer id", id);
  }
  rt_store_close(st);
  return rc;
}

typedef struct log_ctx {
  cli_format format;
  cli_table t;
  json_t *arr;
} log_ctx;

static int on_erasure(void *ctx, const rt_erasure_log *e) {
  log_ctx *l = ctx;
  char when[48], id[24], customers[24], suppressed[24];
  rt_time_format(NULL, e->erased_ms, when, sizeof when);
  snprintf(id, sizeof id, "%lld", (long long)e->id);
  snprintf(customers, sizeof customers, "%lld", (long long)e->customers);
  snprintf(suppressed, sizeof suppressed, "%lld", (long long)e->suppressed);
  if (l->format == FMT_JSON) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(e->id));
    json_object_set_new(o, "erased", json_string(when));
    json_object_set_new(o, "requested_by", json_string(e->requested_by));
    json_object_set_new(o, "customers", json_integer(e->customers));
    json_t *r = json_loads(e->removed, 0, NULL);
    json_object_set_new(o, "removed", r ? r : json_object());
    json_object_set_new(o, "suppressed", json_integer(e->suppressed));
    json_array_append_new(l->arr, o);
  } else if (l->format == FMT_CSV) {
    printf("%s,%s,", id, when);
    cli_csv_field(stdout, e->requested_by);
    printf(",%s,%s,", customers, suppressed);
    cli_csv_field(stdout, e->removed);
    printf("\n");
  } else {
    cli_table_row(&l->t, (const char *[]){id, when, e->requested_by, customers, suppressed,
                                          e->removed});
  }
  return 0;
}

static int cmd_erasures(const cli_global *g, cli_format format) {
  rt_store *st;
  int rc = cli_open_store(g, 1, &st);
  if (rc) return rc;
  log_ctx l = {format, {0}, NULL};
  cli_table_init(&l.t, 6);
  l.t.left = 1u << 1 | 1u << 2 | 1u << 5;
  if (format == FMT_JSON) l.arr = json_array();
  else if (format == FMT_CSV) printf("id,erased,requested_by,customers,suppressed,removed\n");
  else
    cli_table_row(&l.t, (const char *[]){"id", "erased", "requested by", "customers",
                                         "suppressed", "rows removed"});
  rt_error err = {0};
  if (rt_store_scan_erasures(st, on_erasure, &l, &err)) rc = cli_fail(&err);
  if (!rc && format == FMT_JSON) {
    json_dumpf(l.arr, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    printf("\n");
  } else if (!rc && format == FMT_TABLE) {
    if (l.t.nrows == 1) printf("No erasures.\n");
    else cli_table_print(&l.t, stdout);
  }
  json_decref(l.arr);
  cli_table_free(&l.t);
  rt_store_close(st);
  return rc;
}

int cmd_customers(const cli_global *g, int argc, char **argv) {
  if (argc < 2 || cli_is_help(argv[1])) {
    help();
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  const char *cmd = argv[1], *id = NULL, *output = NULL;
  int exporting = !strcmp(cmd, "export"), erasing = !strcmp(cmd, "erase"),
      lifting = !strcmp(cmd, "unsuppress"), listing = !strcmp(cmd, "erasures");
  int yes = 0, allow_return = 0, anonymous = 0;
  cli_format format = FMT_TABLE;
  if (!exporting && !erasing && !lifting && !listing)
    return cli_usage_error("customers", "unknown command '%s' (export, erase, unsuppress, "
                                        "erasures)", cmd);
  for (int i = 2; i < argc; i++) {
    const char *v;
    int r;
    if (cli_is_help(argv[i])) {
      help();
      return CLI_OK;
    }
    if (erasing && cli_flag(argv, i, "--yes")) {
      yes = 1;
    } else if (erasing && cli_flag(argv, i, "--allow-return")) {
      allow_return = 1;
    } else if (lifting && cli_flag(argv, i, "--anonymous")) {
      anonymous = 1;
    } else if (exporting && (r = cli_value(argc, argv, &i, "--output", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      output = v;
    } else if ((erasing || listing) && (r = cli_value(argc, argv, &i, "--format", &v)) != 0) {
      if (r < 0 || cli_parse_format("customers", v, &format)) return CLI_USAGE;
    } else if (!listing && !id && (argv[i][0] != '-' || !argv[i][1])) {
      id = argv[i];
    } else {
      return cli_usage_error("customers", "unknown argument '%s'", argv[i]);
    }
  }
  if (listing) return cmd_erasures(g, format);
  if (!id || !*id)
    return cli_usage_error("customers", "%s needs the customer's id", cmd);
  if (exporting) return cmd_export(g, id, output);
  if (lifting) return cmd_unsuppress(g, id, anonymous);
  return cmd_erase(g, id, yes, allow_return, format);
}
