/* cmd_keys.c - `retain keys create|list|revoke`: the API keys of the HTTP server (`retain
 * serve`). The store keeps only a key's hash, so `create` prints the key once, alone on stdout
 * (KEY=$(retain keys create --scope write) works), and nothing can show it again. */
#include "cli/cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void help(void) {
  printf("Usage: retain [--db PATH] keys COMMAND ...\n\n"
         "API keys for the HTTP server (`retain serve`). Only a hash of each key is stored:\n"
         "the key is printed once, when it is created, and cannot be shown again.\n\n"
         "Commands:\n"
         "  create --scope S [--name NAME]   a new key, printed alone on stdout\n"
         "  list [--format F]                the keys: id, name, scope, first characters,\n"
         "                                   created, last used (the server records a\n"
         "                                   use at most once a minute), revoked\n"
         "  revoke ID                        the key stops working at once (stays listed)\n\n"
         "Options:\n"
         "  --scope S      write: may only ingest data; read: may read; admin: both, and\n"
         "                 manages the server\n"
         "  --name NAME    a label to tell keys apart (at most %d bytes)\n"
         "  --format F     table (default), csv or json\n\n"
         "Example:\n"
         "  KEY=$(retain keys create --scope write --name shop-webhook)\n",
         RT_KEY_NAME_MAX);
}

/* A time for the list: ISO 8601 UTC, or none (0). */
static const char *when(int64_t ms, const char *none, char *buf, size_t n) {
  if (ms <= 0) return none;
  rt_time_format(NULL, ms, buf, n);
  return buf;
}

static int cmd_create(const cli_global *g, const char *name, const char *scope) {
  if (!scope) return cli_usage_error("keys", "create needs --scope write, read or admin");
  rt_store *st;
  int rc = cli_open_store(g, 0, &st);
  if (rc) return rc;
  rt_error err = {0};
  char key[RT_KEY_SIZE];
  int64_t id;
  if (rt_store_key_create(st, name, scope, key, sizeof key, &id, &err)) {
    rc = cli_fail(&err);
  } else {
    printf("%s\n", key);
    fflush(stdout);
    if (!g->quiet)
      fprintf(stderr,
              "retain: API key %lld (%s%s%s) created. It is shown only this once: store it "
              "now.\n",
              (long long)id, scope, name && *name ? ", " : "", name ? name : "");
  }
  memset(key, 0, sizeof key);
  rt_store_close(st);
  return rc;
}

typedef struct list_ctx {
  cli_format format;
  cli_table t;
  json_t *arr;
} list_ctx;

static int on_key(void *ctx, const rt_key_info *k) {
  list_ctx *l = ctx;
  char created[48], used[48], revoked[48], id[24];
  snprintf(id, sizeof id, "%lld", (long long)k->id);
  when(k->created_ms, "", created, sizeof created);
  if (l->format == FMT_JSON) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(k->id));
    json_object_set_new(o, "name", k->name[0] ? json_string(k->name) : json_null());
    json_object_set_new(o, "scope", json_string(k->scope));
    json_object_set_new(o, "prefix", json_string(k->prefix));
    json_object_set_new(o, "created", json_string(created));
    json_object_set_new(o, "last_used", k->last_used_ms > 0
                                            ? json_string(when(k->last_used_ms, "", used,
                                                               sizeof used))
                                            : json_null());
    json_object_set_new(o, "revoked", k->revoked_ms > 0
                                          ? json_string(when(k->revoked_ms, "", revoked,
                                                             sizeof revoked))
                                          : json_null());
    json_array_append_new(l->arr, o);
  } else if (l->format == FMT_CSV) {
    printf("%s,", id);
    cli_csv_field(stdout, k->name);
    printf(",%s,", k->scope);
    cli_csv_field(stdout, k->prefix);
    printf(",%s,%s,%s\n", created, when(k->last_used_ms, "", used, sizeof used),
           when(k->revoked_ms, "", revoked, sizeof revoked));
  } else {
    cli_table_row(&l->t, (const char *[]){id, k->name[0] ? k->name : "-", k->scope, k->prefix,
                                          created, when(k->last_used_ms, "never", used,
                                                        sizeof used),
                                          when(k->revoked_ms, "-", revoked, sizeof revoked)});
  }
  return 0;
}

static int cmd_list(const cli_global *g, cli_format format) {
  rt_store *st;
  int rc = cli_open_store(g, 1, &st);
  if (rc) return rc;
  list_ctx l = {format, {0}, NULL};
  cli_table_init(&l.t, 7);
  l.t.left = 1u << 1 | 1u << 2 | 1u << 3 | 1u << 4 | 1u << 5 | 1u << 6;
  if (format == FMT_JSON) l.arr = json_array();
  else if (format == FMT_CSV) printf("id,name,scope,prefix,created,last_used,revoked\n");
  else
    cli_table_row(&l.t, (const char *[]){"id", "name", "scope", "prefix", "created", "last used",
                                         "revoked"});
  rt_error err = {0};
  if (rt_store_scan_keys(st, on_key, &l, &err)) rc = cli_fail(&err);
  if (!rc && format == FMT_JSON) {
    json_dumpf(l.arr, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    printf("\n");
  } else if (!rc && format == FMT_TABLE) {
    if (l.t.nrows == 1) printf("No API keys yet: retain keys create --scope write|read|admin\n");
    else cli_table_print(&l.t, stdout);
  }
  json_decref(l.arr);
  cli_table_free(&l.t);
  rt_store_close(st);
  return rc;
}

/* The key's row, for what revoke prints. */
typedef struct find_ctx {
  int64_t id;
  rt_key_info k;
  int found;
} find_ctx;

static int find_key(void *ctx, const rt_key_info *k) {
  find_ctx *f = ctx;
  if (k->id != f->id) return 0;
  f->k = *k;
  f->found = 1;
  return 1;
}

static int cmd_revoke(const cli_global *g, int64_t id) {
  rt_store *st;
  int rc = cli_open_store(g, 0, &st);
  if (rc) return rc;
  rt_error err = {0};
  find_ctx f = {.id = id};
  int x = rt_store_scan_keys(st, find_key, &f, &err);
  if (x < 0) rc = cli_fail(&err);
  else if (!f.found) {
    fprintf(stderr, "retain: no API key with id %lld (retain keys list shows them)\n",
            (long long)id);
    rc = CLI_FAIL;
  } else if (f.k.revoked_ms > 0) {
    char at[48];
    if (!g->quiet)
      fprintf(stderr, "retain: API key %lld (%s) was already revoked at %s\n", (long long)id,
              f.k.prefix, when(f.k.revoked_ms, "", at, sizeof at));
  } else if (rt_store_key_revoke(st, id, &err)) {
    rc = cli_fail(&err);
  } else if (!g->quiet) {
    fprintf(stderr, "retain: API key %lld (%s, %s%s%s) revoked\n", (long long)id, f.k.prefix,
            f.k.scope, f.k.name[0] ? ", " : "", f.k.name);
  }
  rt_store_close(st);
  return rc;
}

int cmd_keys(const cli_global *g, int argc, char **argv) {
  if (argc < 2 || cli_is_help(argv[1])) {
    help();
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  const char *cmd = argv[1], *name = NULL, *scope = NULL, *id_s = NULL;
  cli_format format = FMT_TABLE;
  int creating = !strcmp(cmd, "create"), listing = !strcmp(cmd, "list"),
      revoking = !strcmp(cmd, "revoke");
  if (!creating && !listing && !revoking)
    return cli_usage_error("keys", "unknown command '%s' (create, list, revoke)", cmd);
  for (int i = 2; i < argc; i++) {
    const char *v;
    int r;
    if (cli_is_help(argv[i])) {
      help();
      return CLI_OK;
    }
    if (creating && (r = cli_value(argc, argv, &i, "--scope", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      if (strcmp(v, "write") && strcmp(v, "read") && strcmp(v, "admin"))
        return cli_usage_error("keys", "--scope wants write, read or admin, not '%s'", v);
      scope = v;
    } else if (creating && (r = cli_value(argc, argv, &i, "--name", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      if (strlen(v) > RT_KEY_NAME_MAX)
        return cli_usage_error("keys", "--name is longer than %d bytes", RT_KEY_NAME_MAX);
      name = v;
    } else if (listing && (r = cli_value(argc, argv, &i, "--format", &v)) != 0) {
      if (r < 0 || cli_parse_format("keys", v, &format)) return CLI_USAGE;
    } else if (revoking && !id_s && argv[i][0] != '-') {
      id_s = argv[i];
    } else {
      return cli_usage_error("keys", "unknown argument '%s'", argv[i]);
    }
  }
  if (creating) return cmd_create(g, name, scope);
  if (listing) return cmd_list(g, format);
  int64_t id;
  if (!id_s) return cli_usage_error("keys", "revoke needs the key's id (see retain keys list)");
  if (cli_parse_int("keys", "revoke", id_s, 1, INT64_MAX, &id)) return CLI_USAGE;
  return cmd_revoke(g, id);
}
