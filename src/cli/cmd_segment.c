/* cmd_segment.c - `retain segment create|update|list|show|members|export|delete|refresh|events|
 * preview`: dynamic segments, each a rule (docs/RULES.md) over the customers' features whose
 * members the store keeps, with every entry and exit recorded. */
#include "cli/cli.h"

#include <retain/alloc.h>
#include <retain/features.h>
#include <retain/rule.h>
#include <retain/segment.h>

#include <jansson.h>
#include <string.h>
#include <time.h>

static void help(void) {
  printf("Usage: retain [--db PATH] segment COMMAND ...\n\n"
         "Dynamic segments: a name and a rule over the customers' features (see `retain\n"
         "features` for the fields, docs/RULES.md for the language). The store keeps each\n"
         "segment's members and records every entry and exit with its time.\n\n"
         "Commands:\n"
         "  create NAME --rule RULE [--description TEXT]   define and evaluate a segment\n"
         "  update NAME [--rule RULE] [--description TEXT] change it, re-evaluate\n"
         "  list                                           segments with their sizes\n"
         "  show NAME                                      rule, how it is judged, sizes\n"
         "  members NAME                                   the members (customer id first)\n"
         "  export NAME [--fields F1,F2,...]               the members with their features\n"
         "  delete NAME                                    forget a segment\n"
         "  refresh [NAME ...]                             re-evaluate (all by default)\n"
         "  events [NAME] [--since DATE]                   who entered or left, when\n"
         "  preview --rule RULE [--limit N]                count and sample, nothing stored\n\n"
         "A segment is live - judged as of the store's day (today while its data is live,\n"
         "else its last day; or $RETAIN_NOW) at every evaluation - unless created or updated\n"
         "with --as-of DATE: then it is pinned to that day, and refresh and export keep it\n"
         "there (update --live makes it live again). The feature settings it was made with\n"
         "(--rfm-bins, the lifecycle windows) are kept with it too.\n\n"
         "Options:\n"
         "  --as-of DATE   pin the segment to this day (create, update); for refresh and\n"
         "                 preview: judge live segments as of this day\n"
         "  --live         update: judge it as of the store's day again\n"
         "  --format F     table (default), csv or json (members and export: csv or json)\n"
         "%s\n"
         "Example:\n"
         "  retain segment create lapsing-vips --rule \\\n"
         "    \"orders >= 3 and days_since_last_order > 60 and value_tier in ('platinum', 'gold')\"\n",
         cli_feature_options_help);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- compiling and evaluating a rule ---- */

/* Prints a rule error, with the rule and a caret under the column it names (one-line rules). */
static int rule_fail(const char *rule, const rt_error *err) {
  fprintf(stderr, "retain: rule: %s\n", err->msg);
  const char *at = strstr(err->msg, " at ");
  int line, col;
  if (at && sscanf(at, " at %d:%d", &line, &col) == 2 && line == 1 && !strchr(rule, '\n') &&
      col >= 1 && (size_t)col <= strlen(rule) + 1)
    fprintf(stderr, "  %s\n  %*s^\n", rule, col - 1, "");
  return CLI_FAIL;
}

static int compile(const cli_features *cf, const char *name, const char *rule, rt_rule **out) {
  rt_error err = {0};
  int rc = rt_segment_compile(cf->st, cf->f, name, rule, out, &err);
  if (rc) return rule_fail(rule, &err);
  for (size_t i = 0; i < rt_rule_nwarnings(*out); i++)
    fprintf(stderr, "retain: rule: warning: %s\n", rt_rule_warning(*out, i));
  return CLI_OK;
}

/* The members of rule as a bitmap (rt_free it). */
static int evaluate(const cli_features *cf, const char *name, const char *rule, uint64_t **bits,
                    size_t *count) {
  rt_rule *r = NULL;
  int rc = compile(cf, name, rule, &r);
  if (rc) return rc;
  rt_error err = {0};
  rc = rt_segment_eval(r, cf->f->n, bits, count, &err);
  rt_rule_free(r);
  return rc ? cli_fail(&err) : CLI_OK;
}

static int is_member(const uint64_t *bits, size_t i) { return (int)((bits[i / 64] >> (i % 64)) & 1); }

/* Evaluates segment id's rule and records who entered and who left, in one transaction. */
static int apply(cli_features *cf, int64_t id, const char *name, const char *rule, int quiet) {
  uint64_t *bits = NULL;
  size_t count = 0;
  int rc = evaluate(cf, name, rule, &bits, &count);
  if (rc) return rc;
  rt_error err = {0};
  rt_segment_changes ch;
  const rt_model *m = cf->model;
  if (rt_store_begin(cf->st, &err) ||
      rt_segment_sync(cf->st, m, id, bits, now_ms(), &ch, &err) ||
      rt_store_commit(cf->st, &err)) {
    rt_store_rollback(cf->st);
    rc = cli_fail(&err);
  }
  if (!rc && !quiet) {
    char n1[32], n2[32], n3[32], asof[64];
    printf("segment %s: %s customers (%.1f%% of the profiles) · %s entered, %s left · as of %s\n",
           name, cli_count((int64_t)count, n1, sizeof n1),
           m->ncustomers ? 100.0 * (double)count / (double)m->ncustomers : 0.0,
           cli_count(ch.entered, n2, sizeof n2), cli_count(ch.exited, n3, sizeof n3),
           cli_as_of_text(m, asof, sizeof asof));
  }
  rt_free(bits);
  return rc;
}

/* ---- commands ---- */

typedef struct seg_args {
  const char *name, *rule, *description, *as_of, *fields, *since;
  const char *names[64];
  int nnames;
  int64_t limit;
  cli_format format;
  int live;                /* --live */
  cli_feature_settings fs; /* --rfm-bins, the lifecycle windows */
  int settings_given;
} seg_args;

static int parse(int argc, char **argv, int first, seg_args *a) {
  cli_feature_settings_init(&a->fs);
  for (int i = first; i < argc; i++) {
    const char *v;
    int r;
    if (cli_is_help(argv[i])) {
      help();
      return -1;
    }
    if ((r = cli_feature_option("segment", argc, argv, &i, &a->fs)) != 0) {
      if (r < 0) return CLI_USAGE;
      a->settings_given = 1;
      continue;
    }
    if (cli_flag(argv, i, "--live")) {
      a->live = 1;
    } else if ((r = cli_value(argc, argv, &i, "--rule", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      a->rule = v;
    } else if ((r = cli_value(argc, argv, &i, "--description", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      a->description = v;
    } else if ((r = cli_value(argc, argv, &i, "--as-of", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      a->as_of = v;
    } else if ((r = cli_value(argc, argv, &i, "--fields", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      a->fields = v;
    } else if ((r = cli_value(argc, argv, &i, "--since", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      a->since = v;
    } else if ((r = cli_value(argc, argv, &i, "--limit", &v)) != 0) {
      if (r < 0 || cli_parse_int("segment", "--limit", v, 0, 1000000, &a->limit)) return CLI_USAGE;
    } else if ((r = cli_value(argc, argv, &i, "--format", &v)) != 0) {
      if (r < 0 || cli_parse_format("segment", v, &a->format)) return CLI_USAGE;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return cli_usage_error("segment", "unknown option '%s'", argv[i]);
    } else {
      if (a->nnames == 64) return cli_usage_error("segment", "too many names");
      a->names[a->nnames++] = argv[i];
    }
  }
  a->name = a->nnames ? a->names[0] : NULL;
  return 0;
}

static int need_name(const char *cmd, const seg_args *a) {
  if (a->nnames != 1) return cli_usage_error("segment", "%s wants one segment name", cmd);
  return 0;
}

/* The store and the segment a command names (one name). Returns an exit code; on success the
 * caller closes the store and frees info. */
static int open_segment(const cli_global *g, const char *cmd, const seg_args *a, int writable,
                        rt_store **st, rt_segment_info *info) {
  int rc = need_name(cmd, a);
  if (rc || (rc = cli_open_store(g, !writable, st))) return rc;
  rt_error err = {0};
  if (rt_store_segment_get(*st, a->name, info, &err)) {
    rt_store_close(*st);
    *st = NULL;
    return cli_fail(&err);
  }
  return CLI_OK;
}

/* The features a segment is judged with: as of as_of (NULL: the store's day, or --as-of for
 * a live segment's refresh) with the settings of a cli_feature_settings_json text (NULL: the
 * defaults). Returns an exit code. */
static int load_basis(const cli_global *g, const char *as_of, const char *settings, int writable,
                      cli_features *cf) {
  cli_feature_settings fs;
  if (cli_feature_settings_parse(settings, &fs)) {
    fprintf(stderr, "retain: the stored segment settings are not valid: %s\n", settings);
    return CLI_FAIL;
  }
  return cli_features_load_with(g, "segment", as_of, writable, &fs, cf);
}

static int cmd_create(const cli_global *g, const char *cmd, seg_args *a) {
  int rc = need_name(cmd, a), create = !strcmp(cmd, "create");
  if (rc) return rc;
  if (create && !rt_segment_valid_name(a->name))
    return cli_usage_error("segment", "'%s' is not a segment name (letters, digits, _ - ., at "
                                      "most 64, starting with a letter or digit)",
                           a->name);
  if (create && !a->rule) return cli_usage_error("segment", "%s wants --rule RULE", cmd);
  if (a->live && a->as_of)
    return cli_usage_error("segment", "--live and --as-of contradict each other");
  rt_error err = {0};
  rt_segment_info info = {0};
  if (!create) { /* what update keeps: the rule, the day and the settings it does not change */
    rt_store *st;
    if ((rc = open_segment(g, cmd, a, 0, &st, &info))) return rc;
    rt_store_close(st);
  }
  const char *rule = a->rule ? a->rule : info.rule;
  const char *as_of = a->live ? NULL : a->as_of ? a->as_of : info.as_of;
  char *settings = a->settings_given ? cli_feature_settings_json(&a->fs) : NULL;
  const char *use = a->settings_given ? settings : info.settings;
  cli_features cf;
  if ((rc = load_basis(g, as_of, use, 1, &cf))) {
    rt_free(settings);
    rt_segment_info_free(&info);
    return rc;
  }
  /* the rule must compile before anything is stored */
  rt_rule *r = NULL;
  rc = compile(&cf, a->name, rule, &r);
  rt_rule_free(r);
  char day[16];
  rt_day_format(cf.model->as_of, day, sizeof day); /* pinned: the day as a date */
  int64_t id = info.id;
  if (!rc && (rt_store_begin(cf.st, &err) ||
              (create ? rt_store_segment_create(cf.st, a->name, rule, a->description, &id, &err)
                      : rt_store_segment_update(cf.st, id, rule, a->description, &err)) ||
              rt_store_segment_set_basis(cf.st, id, as_of ? day : NULL, use, &err) ||
              rt_store_commit(cf.st, &err))) {
    rt_store_rollback(cf.st);
    rc = cli_fail(&err);
  }
  if (!rc) rc = apply(&cf, id, a->name, rule, g->quiet);
  if (!rc && !g->quiet) {
    if (as_of) printf("  pinned: judged as of %s at every evaluation\n", day);
    else printf("  live: judged as of the store's day at every evaluation\n");
    if (use) printf("  settings: %s\n", use);
  }
  cli_features_free(&cf);
  rt_free(settings);
  rt_segment_info_free(&info);
  return rc;
}

typedef struct list_ctx {
  cli_format format;
  cli_table t;
  json_t *arr;
} list_ctx;

static void when(int64_t ms, char *buf, size_t n) {
  if (ms <= 0) snprintf(buf, n, "never");
  else rt_time_format(NULL, ms, buf, n);
}

/* How a segment is judged, and its settings, as JSON members of o. */
static void basis_json(const rt_segment_info *s, json_t *o) {
  json_object_set_new(o, "as_of", s->as_of ? json_string(s->as_of) : json_null());
  json_object_set_new(o, "judged", json_string(s->as_of ? "pinned" : "live"));
  json_t *set = s->settings ? json_loads(s->settings, 0, NULL) : NULL;
  json_object_set_new(o, "settings", set ? set : json_object());
}

static int on_segment(void *ctx, const rt_segment_info *s) {
  list_ctx *l = ctx;
  char ev[48], sz[32];
  when(s->evaluated_ms, ev, sizeof ev);
  const char *judged = s->as_of ? s->as_of : "live";
  if (l->format == FMT_JSON) {
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(s->name));
    json_object_set_new(o, "size", json_integer(s->size));
    json_object_set_new(o, "rule", json_string(s->rule));
    json_object_set_new(o, "description", s->description ? json_string(s->description)
                                                         : json_null());
    json_object_set_new(o, "evaluated", json_string(ev));
    basis_json(s, o);
    json_array_append_new(l->arr, o);
  } else if (l->format == FMT_CSV) {
    cli_csv_field(stdout, s->name);
    printf(",%lld,", (long long)s->size);
    cli_csv_field(stdout, ev);
    putchar(',');
    cli_csv_field(stdout, s->rule);
    printf(",%s,", judged);
    cli_csv_field(stdout, s->settings ? s->settings : "");
    putchar('\n');
  } else {
    cli_count(s->size, sz, sizeof sz);
    cli_table_row(&l->t, (const char *[]){s->name, sz, judged, ev, s->rule});
  }
  return 0;
}

static int cmd_list(const cli_global *g, seg_args *a) {
  rt_store *st;
  int rc = cli_open_store(g, 1, &st);
  if (rc) return rc;
  list_ctx l = {a->format, {0}, NULL};
  cli_table_init(&l.t, 5);
  l.t.left = 1u << 4;
  if (a->format == FMT_JSON) l.arr = json_array();
  else if (a->format == FMT_CSV) printf("name,size,evaluated,rule,as_of,settings\n");
  else cli_table_row(&l.t, (const char *[]){"segment", "customers", "as of", "evaluated", "rule"});
  rt_error err = {0};
  if (rt_store_scan_segments(st, on_segment, &l, &err)) rc = cli_fail(&err);
  if (!rc && a->format == FMT_JSON) {
    json_dumpf(l.arr, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    printf("\n");
  } else if (!rc && a->format == FMT_TABLE) {
    if (l.t.nrows == 1) printf("No segments yet: retain segment create NAME --rule RULE\n");
    else cli_table_print(&l.t, stdout);
  }
  json_decref(l.arr);
  cli_table_free(&l.t);
  rt_store_close(st);
  return rc;
}

typedef struct sizes_ctx {
  cli_format format;
  cli_table t;
  json_t *arr;
} sizes_ctx;

static int on_size(void *ctx, int64_t at_ms, int64_t size, int64_t entered, int64_t exited) {
  sizes_ctx *s = ctx;
  char at[48], a[32], b[32], c[32];
  when(at_ms, at, sizeof at);
  if (s->format == FMT_JSON) {
    json_t *o = json_object();
    json_object_set_new(o, "at", json_string(at));
    json_object_set_new(o, "size", json_integer(size));
    json_object_set_new(o, "entered", json_integer(entered));
    json_object_set_new(o, "left", json_integer(exited));
    json_array_append_new(s->arr, o);
  } else if (s->format == FMT_CSV) {
    printf("%s,%lld,%lld,%lld\n", at, (long long)size, (long long)entered, (long long)exited);
  } else {
    cli_table_row(&s->t, (const char *[]){at, cli_count(size, a, sizeof a),
                                          cli_count(entered, b, sizeof b),
                                          cli_count(exited, c, sizeof c)});
  }
  return 0;
}

static int cmd_show(const cli_global *g, seg_args *a) {
  rt_store *st;
  rt_segment_info info;
  int rc = open_segment(g, "show", a, 0, &st, &info);
  if (rc) return rc;
  rt_error err = {0};
  sizes_ctx s = {a->format, {0}, NULL};
  cli_table_init(&s.t, 4);
  char created[48], ev[48], sz[32];
  when(info.created_ms, created, sizeof created);
  when(info.evaluated_ms, ev, sizeof ev);
  if (a->format == FMT_JSON) {
    s.arr = json_array();
  } else if (a->format == FMT_CSV) {
    printf("evaluated,size,entered,left\n");
  } else {
    printf("segment %s\n  rule:        %s\n", info.name, info.rule);
    if (info.description) printf("  description: %s\n", info.description);
    if (info.as_of) printf("  as of:       %s (pinned)\n", info.as_of);
    else printf("  as of:       live (the store's day at every evaluation)\n");
    if (info.settings) printf("  settings:    %s\n", info.settings);
    printf("  customers:   %s (evaluated %s)\n  created:     %s\n\nsize over time:\n",
           cli_count(info.size, sz, sizeof sz), ev, created);
    cli_table_row(&s.t, (const char *[]){"evaluated", "customers", "entered", "left"});
  }
  if (rt_store_scan_segment_sizes(st, info.id, on_size, &s, &err)) rc = cli_fail(&err);
  if (!rc && a->format == FMT_JSON) {
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(info.name));
    json_object_set_new(o, "rule", json_string(info.rule));
    json_object_set_new(o, "description", info.description ? json_string(info.description)
                                                           : json_null());
    json_object_set_new(o, "size", json_integer(info.size));
    json_object_set_new(o, "created", json_string(created));
    json_object_set_new(o, "evaluated", json_string(ev));
    basis_json(&info, o);
    json_object_set_new(o, "sizes", s.arr);
    s.arr = NULL;
    json_dumpf(o, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    printf("\n");
    json_decref(o);
  } else if (!rc && a->format == FMT_TABLE) {
    cli_table_print(&s.t, stdout);
  }
  json_decref(s.arr);
  cli_table_free(&s.t);
  rt_segment_info_free(&info);
  rt_store_close(st);
  return rc;
}

typedef struct members_ctx {
  int json;
  json_t *arr;
} members_ctx;

static int on_member(void *ctx, int64_t customer, const char *ext_id, int64_t entered_ms) {
  (void)customer;
  members_ctx *m = ctx;
  char at[48];
  when(entered_ms, at, sizeof at);
  if (m->json) {
    json_t *o = json_object();
    json_object_set_new(o, "customer_id", json_string(ext_id));
    json_object_set_new(o, "entered", json_string(at));
    json_array_append_new(m->arr, o);
  } else {
    cli_csv_field(stdout, ext_id);
    printf(",%s\n", at);
  }
  return 0;
}

static int cmd_members(const cli_global *g, seg_args *a) {
  rt_store *st;
  rt_segment_info info;
  int rc = open_segment(g, "members", a, 0, &st, &info);
  if (rc) return rc;
  rt_error err = {0};
  members_ctx m = {a->format == FMT_JSON, NULL};
  if (m.json) m.arr = json_array();
  else printf("customer_id,entered\n");
  if (rt_store_scan_segment_members(st, info.id, on_member, &m, &err)) rc = cli_fail(&err);
  if (!rc && m.json) {
    json_dumpf(m.arr, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    printf("\n");
  }
  json_decref(m.arr);
  rt_segment_info_free(&info);
  rt_store_close(st);
  return rc;
}

/* The stored members with their features, judged as the segment is (its day when pinned, the
 * store's day when live; its settings). */
static int cmd_export(const cli_global *g, seg_args *a) {
  rt_store *st;
  rt_segment_info info;
  int rc = open_segment(g, "export", a, 0, &st, &info);
  if (rc) return rc;
  rt_store_close(st);
  cli_features cf;
  if ((rc = load_basis(g, info.as_of ? info.as_of : a->as_of, info.settings, 0, &cf))) {
    rt_segment_info_free(&info);
    return rc;
  }
  rt_error err = {0};
  const rt_column *cols[128];
  int ncols = 0;
  uint64_t *bits = NULL;
  size_t count = 0;
  const char *fields = a->fields ? a->fields
                                 : "orders,net_revenue,aov,first_order_at,last_order_at,"
                                   "days_since_last_order,rfm_segment,lifecycle_stage,value_tier";
  for (const char *p = fields; *p && !rc;) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)(n < 127 ? n : 127), p);
    const rt_column *c = rt_features_find(cf.f, name);
    if (!c) rc = cli_usage_error("segment", "--fields: unknown field '%s' (see retain features)",
                                 name);
    else if (ncols < 128) cols[ncols++] = c;
    p = e ? e + 1 : p + n;
  }
  if (!rc && rt_segment_member_bits(cf.st, cf.model, info.id, &bits, &count, &err))
    rc = cli_fail(&err);
  if (!rc && a->format != FMT_JSON) cli_as_of_note(g, cf.model);
  if (!rc) {
    int json = a->format == FMT_JSON;
    json_t *arr = json ? json_array() : NULL;
    char buf[64];
    if (!json) {
      printf("customer_id");
      for (int k = 0; k < ncols; k++) {
        putchar(',');
        cli_csv_field(stdout, cols[k]->name);
      }
      putchar('\n');
    }
    for (size_t i = 0; i < cf.f->n; i++) {
      if (!is_member(bits, i)) continue;
      if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "customer_id", json_string(rt_model_ext_id(cf.model, i)));
        for (int k = 0; k < ncols; k++) {
          const char *s = cli_feature_value(cols[k], i, buf, sizeof buf);
          json_t *v = !*s ? json_null()
                      : cols[k]->type == RT_TYPE_NUMBER ? json_real(cols[k]->num[i])
                      : cols[k]->type == RT_TYPE_BOOL   ? json_boolean(cols[k]->num[i] != 0)
                                                        : json_string(s);
          json_object_set_new(o, cols[k]->name, v);
        }
        json_array_append_new(arr, o);
      } else {
        cli_csv_field(stdout, rt_model_ext_id(cf.model, i));
        for (int k = 0; k < ncols; k++) {
          putchar(',');
          cli_csv_feature(stdout, cols[k], i);
        }
        putchar('\n');
      }
    }
    if (json) {
      json_t *root = json_object();
      json_object_set_new(root, "segment", json_string(info.name));
      cli_as_of_json(cf.model, root);
      json_object_set_new(root, "members", arr);
      json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
      printf("\n");
      json_decref(root);
    }
  }
  rt_free(bits);
  rt_segment_info_free(&info);
  cli_features_free(&cf);
  return rc;
}

static int cmd_delete(const cli_global *g, seg_args *a) {
  rt_store *st;
  rt_segment_info info;
  int rc = open_segment(g, "delete", a, 1, &st, &info);
  if (rc) return rc;
  rt_error err = {0};
  if (rt_store_segment_delete(st, info.id, &err)) rc = cli_fail(&err);
  else if (!g->quiet) printf("segment %s deleted\n", a->name);
  rt_segment_info_free(&info);
  rt_store_close(st);
  return rc;
}

/* refresh: every segment (or the named ones), in name order */
typedef struct names_ctx {
  rt_segment_info *v;
  size_t n, cap;
  int oom;
} names_ctx;

static int on_segment_copy(void *ctx, const rt_segment_info *s) {
  names_ctx *c = ctx;
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 16;
    rt_segment_info *v = rt_realloc(c->v, cap * sizeof *v);
    if (!v) return c->oom = 1;
    c->v = v;
    c->cap = cap;
  }
  rt_segment_info *d = &c->v[c->n];
  memset(d, 0, sizeof *d);
  d->id = s->id;
  d->name = rt_strdup(s->name);
  d->rule = rt_strdup(s->rule);
  d->as_of = s->as_of ? rt_strdup(s->as_of) : NULL;
  d->settings = s->settings ? rt_strdup(s->settings) : NULL;
  c->n++;
  if (!d->name || !d->rule || (s->as_of && !d->as_of) || (s->settings && !d->settings))
    return c->oom = 1;
  return 0;
}

static int same_text(const char *x, const char *y) { return x == y || (x && y && !strcmp(x, y)); }

/* Re-evaluates every segment (or the named ones) as it is judged: a pinned one as of its day,
 * a live one as of --as-of or the store's day; each with its settings. The features are built
 * once per (day, settings) in a row. */
static int refresh(const cli_global *g, const seg_args *a) {
  rt_store *st;
  int rc = cli_open_store(g, 1, &st);
  if (rc) return rc;
  names_ctx all = {0};
  rt_error err = {0};
  if (rt_store_scan_segments(st, on_segment_copy, &all, &err)) rc = all.oom ? CLI_FAIL : cli_fail(&err);
  rt_store_close(st);
  cli_features cf = {0};
  const char *have_as_of = NULL, *have_settings = NULL;
  int loaded = 0;
  for (int k = 0; k < a->nnames && !rc; k++) {
    size_t j = 0;
    while (j < all.n && strcmp(all.v[j].name, a->names[k])) j++;
    if (j == all.n) {
      fprintf(stderr, "retain: no segment named '%s'\n", a->names[k]);
      rc = CLI_FAIL;
    }
  }
  for (size_t j = 0; j < all.n && !rc; j++) {
    const rt_segment_info *sg = &all.v[j];
    int wanted = a->nnames == 0;
    for (int k = 0; k < a->nnames; k++) wanted |= !strcmp(sg->name, a->names[k]);
    if (!wanted) continue;
    const char *as_of = sg->as_of ? sg->as_of : a->as_of;
    if (!loaded || !same_text(as_of, have_as_of) || !same_text(sg->settings, have_settings)) {
      if (loaded) cli_features_free(&cf);
      loaded = 0;
      if ((rc = load_basis(g, as_of, sg->settings, 1, &cf))) break;
      loaded = 1;
      have_as_of = as_of;
      have_settings = sg->settings;
    }
    rc = apply(&cf, sg->id, sg->name, sg->rule, g->quiet);
  }
  if (!rc && all.n == 0 && !g->quiet) printf("No segments to refresh.\n");
  if (loaded) cli_features_free(&cf);
  for (size_t j = 0; j < all.n; j++) rt_segment_info_free(&all.v[j]);
  rt_free(all.v);
  return rc;
}

int cli_segments_refresh(const cli_global *g, const char *as_of) {
  rt_store *st;
  int64_t n = 0;
  rt_error err = {0};
  int rc = cli_open_store(g, 1, &st);
  if (rc) return rc;
  if (rt_store_count(st, "segments", &n, &err)) rc = cli_fail(&err);
  rt_store_close(st);
  if (rc || n == 0) return rc;
  seg_args a = {0};
  a.as_of = as_of;
  return refresh(g, &a);
}

typedef struct events_ctx {
  cli_format format;
  json_t *arr;
} events_ctx;

static int on_event(void *ctx, const char *segment, int64_t customer, const char *ext_id,
                    int enter, int64_t at_ms) {
  (void)customer;
  events_ctx *e = ctx;
  char at[48];
  when(at_ms, at, sizeof at);
  if (e->format == FMT_JSON) {
    json_t *o = json_object();
    json_object_set_new(o, "at", json_string(at));
    json_object_set_new(o, "segment", json_string(segment));
    json_object_set_new(o, "customer_id", json_string(ext_id));
    json_object_set_new(o, "event", json_string(enter ? "enter" : "exit"));
    json_array_append_new(e->arr, o);
  } else {
    printf("%s,", at);
    cli_csv_field(stdout, segment);
    putchar(',');
    cli_csv_field(stdout, ext_id);
    printf(",%s\n", enter ? "enter" : "exit");
  }
  return 0;
}

static int cmd_events(const cli_global *g, seg_args *a) {
  if (a->nnames > 1) return cli_usage_error("segment", "events wants at most one segment name");
  rt_store *st;
  int rc = cli_open_store(g, 1, &st);
  if (rc) return rc;
  rt_error err = {0};
  int64_t id = 0, since = INT64_MIN;
  rt_tz *tz = NULL;
  if (a->since) {
    if ((rc = cli_load_tz(g, st, &tz)) == 0 &&
        rt_date_parse(NULL, a->since, strlen(a->since), tz, &since, &err))
      rc = cli_usage_error("segment", "--since: %s", err.msg);
  }
  if (!rc && a->name) {
    rt_segment_info info;
    if (rt_store_segment_get(st, a->name, &info, &err)) rc = cli_fail(&err);
    else {
      id = info.id;
      rt_segment_info_free(&info);
    }
  }
  events_ctx e = {a->format, a->format == FMT_JSON ? json_array() : NULL};
  if (!rc && !e.arr) printf("at,segment,customer_id,event\n");
  if (!rc && rt_store_scan_segment_events(st, id, since, on_event, &e, &err)) rc = cli_fail(&err);
  if (!rc && e.arr) {
    json_dumpf(e.arr, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    printf("\n");
  }
  json_decref(e.arr);
  rt_tz_free(tz);
  rt_store_close(st);
  return rc;
}

static int cmd_preview(const cli_global *g, seg_args *a) {
  if (!a->rule) return cli_usage_error("segment", "preview wants --rule RULE");
  cli_features cf;
  int rc = cli_features_load_with(g, "segment", a->as_of, 0, &a->fs, &cf);
  if (rc) return rc;
  uint64_t *bits = NULL;
  size_t count = 0;
  if ((rc = evaluate(&cf, NULL, a->rule, &bits, &count)) == 0) {
    char n1[32], n2[32];
    int64_t limit = a->limit ? a->limit : 10;
    if (a->format == FMT_JSON) {
      json_t *o = json_object(), *arr = json_array();
      json_object_set_new(o, "customers", json_integer((json_int_t)count));
      for (size_t i = 0; i < cf.f->n && (int64_t)json_array_size(arr) < limit; i++)
        if (is_member(bits, i)) json_array_append_new(arr, json_string(rt_model_ext_id(cf.model, i)));
      json_object_set_new(o, "sample", arr);
      json_dumpf(o, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
      printf("\n");
      json_decref(o);
    } else {
      printf("%s of %s customers match", cli_count((int64_t)count, n1, sizeof n1),
             cli_count((int64_t)cf.f->n, n2, sizeof n2));
      int64_t shown = 0;
      for (size_t i = 0; i < cf.f->n && shown < limit; i++)
        if (is_member(bits, i)) printf("%s%s", shown++ ? ", " : ": ", rt_model_ext_id(cf.model, i));
      printf(shown < (int64_t)count ? ", ...\n" : "\n");
    }
  }
  rt_free(bits);
  cli_features_free(&cf);
  return rc;
}

int cmd_segment(const cli_global *g, int argc, char **argv) {
  if (argc < 2 || cli_is_help(argv[1])) {
    help();
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  const char *cmd = argv[1];
  seg_args a = {0};
  int rc = parse(argc, argv, 2, &a);
  if (rc < 0) return CLI_OK; /* --help */
  if (rc) return rc;
  if (!strcmp(cmd, "create") || !strcmp(cmd, "update")) return cmd_create(g, cmd, &a);
  if (!strcmp(cmd, "list")) return cmd_list(g, &a);
  if (!strcmp(cmd, "show")) return cmd_show(g, &a);
  if (!strcmp(cmd, "members")) return cmd_members(g, &a);
  if (!strcmp(cmd, "export")) return cmd_export(g, &a);
  if (!strcmp(cmd, "delete")) return cmd_delete(g, &a);
  if (!strcmp(cmd, "refresh")) return refresh(g, &a);
  if (!strcmp(cmd, "events")) return cmd_events(g, &a);
  if (!strcmp(cmd, "preview")) return cmd_preview(g, &a);
  return cli_usage_error("segment", "unknown command '%s' (create, update, list, show, members, "
                                    "export, delete, refresh, events, preview)",
                         cmd);
}
