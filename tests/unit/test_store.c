/* test_store.c - the store (src/store/) on real SQLite files in a temporary directory: open,
 * migrations and version refusal, read-only opens, customers, identities, the idempotency rules
 * of orders, refunds, events and subscriptions, bulk mode with and without duplicates,
 * transactions, the data version, scans, scores, segments (members, events, sizes and the
 * migration that added them), API keys (only their hash stored, revocation, the migration),
 * exchange rates (idempotent puts, replacement, the data version, the migration) and durability
 * across reopen. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <retain/alloc.h>
#include <retain/sha256.h>
#include <retain/store.h>

#include "store/store_internal.h" /* rt__store_sqlite_sql: the queries whose plans are checked */

#include <dirent.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_fixture.h"

static int group_setup(void **state) {
  (void)state;
  return fixture_dir_make("store");
}

static int group_teardown(void **state) {
  (void)state;
  return fixture_dir_remove();
}

static int64_t count(rt_store *st, const char *table) {
  int64_t n = -1;
  rt_error err = {0};
  assert_int_equal(rt_store_count(st, table, &n, &err), 0);
  return n;
}

static int64_t dv(rt_store *st) {
  int64_t v = -1;
  assert_int_equal(rt_store_data_version(st, &v, NULL), 0);
  return v;
}

/* One SQL value as text from the file itself, for checks the API does not expose. */
static void sql_text(const char *path, const char *sql, char *out, size_t n) {
  sqlite3 *db;
  sqlite3_stmt *s;
  out[0] = '\0';
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
  if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
    snprintf(out, n, "%s", (const char *)sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  sqlite3_close(db);
}

static void sql_exec(const char *path, const char *sql) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

/* What each migration added, undone newest first by downgrade(). */
static const char *const undo_migration[] = {
    [3] = "DROP TABLE segment_sizes; DROP TABLE segment_events; DROP TABLE segment_members; "
          "DROP TABLE segments;",
    [4] = "DROP TABLE api_keys;",
    [5] = "DROP INDEX orders_customer; DROP INDEX refunds_customer; DROP INDEX events_customer; "
          "DROP INDEX subscriptions_customer;",
    [6] = "DROP TABLE merge_identities; DROP TABLE merge_rows; DROP TABLE merges; "
          "ALTER TABLE customers DROP COLUMN merged_into;",
    [7] = "DROP TABLE exchange_rates;",
    [8] = "ALTER TABLE segments DROP COLUMN settings; ALTER TABLE segments DROP COLUMN as_of;",
    [9] = "DROP TABLE erased_ids; DROP TABLE erasures;",
};

/* Takes the file at path back to schema version to, as an older retain left it. */
static void downgrade(const char *path, int to) {
  int latest = rt_store_latest_schema_version();
  assert_int_equal(latest, (int)(sizeof undo_migration / sizeof undo_migration[0]) - 1);
  char sql[128];
  for (int v = latest; v > to; v--)
    sql_exec(path, undo_migration[v]);
  snprintf(sql, sizeof sql, "DELETE FROM schema_migrations WHERE version > %d", to);
  sql_exec(path, sql);
}

/* ---- open, migrate, versions ---- */

static void test_open_migrate_reopen(void **state) {
  (void)state;
  const char *path = fresh("open");
  rt_store *st = open_rw(path);
  assert_true(rt_store_latest_schema_version() >= 1);
  assert_int_equal(rt_store_schema_version(st), rt_store_latest_schema_version());
  assert_int_equal(count(st, "schema_migrations"), rt_store_latest_schema_version());
  assert_int_equal(count(st, "customers"), 0);
  assert_int_equal(dv(st), 0);
  rt_store_close(st);
  st = open_rw(path); /* reopening migrates nothing */
  assert_int_equal(rt_store_schema_version(st), rt_store_latest_schema_version());
  assert_int_equal(count(st, "schema_migrations"), rt_store_latest_schema_version());
  char mode[32];
  rt_store_close(st);
  sql_text(path, "PRAGMA journal_mode", mode, sizeof mode);
  assert_string_equal(mode, "wal");

  /* an existing empty file is a new store */
  path = fresh("empty_file");
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fclose(f);
  st = open_rw(path);
  assert_int_equal(rt_store_schema_version(st), rt_store_latest_schema_version());
  rt_store_close(st);
  rt_store_close(NULL);
}

static void test_newer_schema_refused(void **state) {
  (void)state;
  const char *path = fresh("newer");
  rt_store_close(open_rw(path));
  sql_exec(path, "INSERT INTO schema_migrations(version, name, applied_ms) "
                 "VALUES (999, 'from the future', 0)");
  rt_error err = {0};
  rt_store *st = (rt_store *)1;
  rt_store_config cfg = {.path = path};
  assert_int_equal(rt_store_open(&cfg, &st, &err), RT_ESCHEMA);
  assert_null(st);
  assert_int_equal(err.code, RT_ESCHEMA);
  assert_non_null(strstr(err.msg, "999"));
  assert_non_null(strstr(err.msg, path));
  cfg.read_only = 1;
  assert_int_equal(rt_store_open(&cfg, &st, &err), RT_ESCHEMA);
  assert_null(st);
}

static void test_open_errors(void **state) {
  (void)state;
  rt_error err = {0};
  rt_store *st = (rt_store *)1;
  rt_store_config cfg = {.path = "/nonexistent-dir/x/y.db"};
  assert_int_not_equal(rt_store_open(&cfg, &st, &err), 0);
  assert_null(st);
  assert_true(err.msg[0] != '\0');
  /* not a database */
  const char *path = fresh("garbage");
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("this is not an SQLite database, just text that is long enough to be a header....", f);
  fclose(f);
  cfg.path = path;
  assert_int_not_equal(rt_store_open(&cfg, &st, &err), 0);
  assert_null(st);
  assert_non_null(strstr(err.msg, path));
}

static void test_read_only(void **state) {
  (void)state;
  const char *path = fresh("ro");
  rt_store *st = open_rw(path);
  int64_t a = cust(st, "alice");
  assert_int_equal(rt_store_meta_set(st, "timezone", "Europe/Berlin", NULL), 0);
  rt_store_close(st);

  rt_error err = {0};
  rt_store_config cfg = {.path = path, .read_only = 1};
  assert_int_equal(rt_store_open(&cfg, &st, &err), 0);
  int64_t id;
  assert_int_equal(rt_store_customer_find(st, "alice", 5, &id, &err), 0);
  assert_int_equal(id, a);
  char *tz = NULL;
  assert_int_equal(rt_store_meta_get(st, "timezone", &tz, &err), 0);
  assert_string_equal(tz, "Europe/Berlin");
  rt_free(tz);
  assert_int_equal(rt_store_begin(st, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "read-only"));
  int created;
  assert_int_equal(rt_store_customer_upsert(st, "bob", 3, 0, &id, &created, &err), RT_EINVAL);
  assert_int_equal(rt_store_meta_set(st, "x", "y", &err), RT_EINVAL);
  assert_int_equal(count(st, "customers"), 1);
  rt_store_close(st);

  /* a read-only open never creates a file */
  cfg.path = fresh("ro_missing");
  assert_int_not_equal(rt_store_open(&cfg, &st, &err), 0);
  assert_null(st);
  assert_int_not_equal(access(cfg.path, F_OK), 0);
}

/* ---- meta, customers, identities ---- */

static void test_meta(void **state) {
  (void)state;
  rt_store *st = open_rw(fresh("meta"));
  char *v = (char *)1;
  assert_int_equal(rt_store_meta_get(st, "currency", &v, NULL), 0);
  assert_null(v);
  assert_int_equal(rt_store_meta_set(st, "currency", "EUR", NULL), 0);
  assert_int_equal(rt_store_meta_set(st, "currency", "GBP", NULL), 0);
  assert_int_equal(rt_store_meta_get(st, "currency", &v, NULL), 0);
  assert_string_equal(v, "GBP");
  rt_free(v);
  assert_int_equal(rt_store_meta_set(st, "data_version", "7", NULL), RT_EINVAL);
  rt_store_close(st);
}

static void test_customers(void **state) {
  (void)state;
  const char *path = fresh("customers");
  rt_store *st = open_rw(path);
  rt_error err = {0};
  int64_t a, a2, b, id;
  int created = -1;
  assert_int_equal(rt_store_customer_upsert(st, "alice", 5, 5000, &a, &created, &err), 0);
  assert_int_equal(created, 1);
  assert_true(a > 0);
  assert_int_equal(rt_store_customer_upsert(st, "alice", 5, 9000, &a2, &created, &err), 0);
  assert_int_equal(created, 0);
  assert_int_equal(a2, a);
  /* ext ids are byte strings with a length: "bobby" cut to "bob" */
  assert_int_equal(rt_store_customer_upsert(st, "bobby", 3, 7000, &b, &created, &err), 0);
  assert_int_equal(created, 1);
  assert_int_not_equal(b, a);
  assert_int_equal(rt_store_customer_find(st, "bob", 3, &id, &err), 0);
  assert_int_equal(id, b);
  assert_int_equal(rt_store_customer_find(st, "carol", 5, &id, &err), RT_ENOTFOUND);
  assert_int_equal(err.code, RT_ENOTFOUND);
  assert_int_equal(rt_store_customer_upsert(st, "", 0, 0, &id, &created, &err), RT_EINVAL);
  /* an earlier sighting moves the first-seen time back */
  assert_int_equal(rt_store_customer_upsert(st, "alice", 5, 1000, &a2, &created, &err), 0);
  char buf[256];
  rt_store_close(st);
  sql_text(path, "SELECT created_ms FROM customers WHERE ext_id = 'alice'", buf, sizeof buf);
  assert_string_equal(buf, "1000");
  st = open_rw(path);

  /* attributes merge; null deletes */
  assert_int_equal(rt_store_customer_set_attrs(st, a, "{\"country\":\"DE\",\"plan\":\"pro\"}", &err),
                   0);
  assert_int_equal(
      rt_store_customer_set_attrs(st, a, "{\"plan\":null,\"channel\":\"ads\",\"n\":3}", &err), 0);
  assert_int_equal(rt_store_customer_set_attrs(st, a, "[1,2]", &err), RT_EINVAL);
  assert_int_equal(rt_store_customer_set_attrs(st, a, "{not json", &err), RT_EINVAL);
  assert_int_equal(rt_store_customer_set_attrs(st, 12345, "{\"a\":1}", &err), RT_ENOTFOUND);
  rt_store_close(st);
  sql_text(path,
           "SELECT json_extract(attrs, '$.country') || ',' || ifnull(json_extract(attrs, "
           "'$.plan'), 'none') || ',' || json_extract(attrs, '$.channel') || ',' || "
           "json_extract(attrs, '$.n') FROM customers WHERE ext_id = 'alice'",
           buf, sizeof buf);
  assert_string_equal(buf, "DE,none,ads,3");
}

static void test_identities(void **state) {
  (void)state;
  rt_store *st = open_rw(fresh("identities"));
  rt_error err = {0};
  int64_t a = cust(st, "a"), b = cust(st, "b"), other = -1, id;
  assert_int_equal(rt_store_identity_link(st, "email", "x@y.z", a, "import", &other, &err), 0);
  assert_int_equal(rt_store_identity_link(st, "email", "x@y.z", a, "again", &other, &err), 0);
  assert_int_equal(rt_store_identity_link(st, "email", "x@y.z", b, "import", &other, &err),
                   RT_EEXISTS);
  assert_int_equal(other, a);
  assert_non_null(strstr(err.msg, "x@y.z"));
  /* the same value of another kind is another identity */
  assert_int_equal(rt_store_identity_link(st, "phone", "x@y.z", b, NULL, &other, &err), 0);
  assert_int_equal(rt_store_identity_find(st, "email", "x@y.z", &id, &err), 0);
  assert_int_equal(id, a);
  assert_int_equal(rt_store_identity_find(st, "phone", "x@y.z", &id, &err), 0);
  assert_int_equal(id, b);
  assert_int_equal(rt_store_identity_find(st, "email", "nobody@y.z", &id, &err), RT_ENOTFOUND);
  assert_int_equal(count(st, "identities"), 2);
  /* inside a transaction an RT_EEXISTS leaves the transaction usable */
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_identity_link(st, "email", "x@y.z", b, "import", &other, &err),
                   RT_EEXISTS);
  assert_int_equal(rt_store_identity_link(st, "email", "b@y.z", b, "import", &other, &err), 0);
  assert_int_equal(rt_store_commit(st, &err), 0);
  assert_int_equal(count(st, "identities"), 3);
  rt_store_close(st);
}

/* ---- orders, refunds, events, subscriptions ---- */

typedef struct money_row {
  int64_t customer, ts, amount;
  char currency[4];
} money_row;

typedef struct money_rows {
  money_row r[64];
  int64_t order_ms[64]; /* refunds: the time of the order named */
  int n;
  int stop_at; /* stop the scan with 42 at this row, 0 for never */
} money_rows;

static int collect(void *ctx, int64_t customer, int64_t ts_ms, int64_t amount,
                   const char *currency) {
  money_rows *m = ctx;
  if (m->n < 64) {
    m->r[m->n] = (money_row){customer, ts_ms, amount, {0}};
    snprintf(m->r[m->n].currency, 4, "%s", currency);
  }
  m->n++;
  return m->stop_at && m->n == m->stop_at ? 42 : 0;
}

static int collect_refund(void *ctx, int64_t customer, int64_t ts_ms, int64_t amount,
                          const char *currency, int64_t order_ms) {
  money_rows *m = ctx;
  if (m->n < 64)
    m->order_ms[m->n] = order_ms;
  return collect(ctx, customer, ts_ms, amount, currency);
}

static void test_orders(void **state) {
  (void)state;
  rt_store *st = open_rw(fresh("orders"));
  rt_error err = {0};
  int64_t a = cust(st, "a"), imp1, imp2;
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_import_begin(st, "orders", "x.csv", NULL, &imp1, &err), 0);
  rt_line_rec l1[2] = {{"SKU1", "Mug", 2, 500, 1000}, {NULL, NULL, 1, 250, 250}};
  rt_order_rec o = {.customer = a, .ext_id = "O1", .ts_ms = 1000, .amount = 1250,
                    .currency = "USD", .import_id = imp1};
  int status = 0;
  assert_int_equal(rt_store_order_put(st, &o, l1, 2, &status, &err), 0);
  assert_int_equal(status, RT_PUT_NEW);
  /* a later row of the same order in the same import: merged */
  rt_line_rec l2 = {"SKU2", "Tea", 1, 300, 300};
  o.amount = 300;
  assert_int_equal(rt_store_order_put(st, &o, &l2, 1, &status, &err), 0);
  assert_int_equal(status, RT_PUT_MERGED);
  o.ext_id = "O2";
  o.amount = 99;
  assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), 0);
  assert_int_equal(status, RT_PUT_NEW);
  assert_int_equal(rt_store_import_finish(st, imp1, 3, 2, 0, &err), 0);
  assert_int_equal(rt_store_commit(st, &err), 0);

  /* the same order from another import, or without one, is a duplicate */
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_import_begin(st, "orders", "x.csv", NULL, &imp2, &err), 0);
  o.ext_id = "O1";
  o.amount = 1250;
  o.import_id = imp2;
  assert_int_equal(rt_store_order_put(st, &o, l1, 2, &status, &err), 0);
  assert_int_equal(status, RT_PUT_DUPLICATE);
  o.import_id = 0;
  assert_int_equal(rt_store_order_put(st, &o, l1, 2, &status, &err), 0);
  assert_int_equal(status, RT_PUT_DUPLICATE);
  assert_int_equal(rt_store_commit(st, &err), 0);

  /* bad input */
  o.currency = "US";
  assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), RT_EINVAL);
  o.currency = "USD";
  o.amount = -1;
  assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), RT_EINVAL);
  o.amount = 1;
  o.ext_id = "";
  assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), RT_EINVAL);

  money_rows m = {0};
  assert_int_equal(rt_store_scan_orders(st, collect, &m, &err), 0);
  assert_int_equal(m.n, 2);
  assert_int_equal(m.r[0].customer, a);
  assert_int_equal(m.r[0].ts, 1000);
  assert_int_equal(m.r[0].amount, 1550);
  assert_string_equal(m.r[0].currency, "USD");
  assert_int_equal(m.r[1].amount, 99);
  assert_int_equal(count(st, "order_lines"), 3);
  assert_int_equal(count(st, "imports"), 2);
  /* a callback's nonzero return stops the scan and is returned */
  money_rows stop = {.stop_at = 1};
  assert_int_equal(rt_store_scan_orders(st, collect, &stop, &err), 42);
  assert_int_equal(stop.n, 1);
  rt_store_close(st);
}

static void test_refunds(void **state) {
  (void)state;
  rt_store *st = open_rw(fresh("refunds"));
  rt_error err = {0};
  int64_t a = cust(st, "a"), imp;
  int status;
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_import_begin(st, "orders", "r.csv", "sha256:00", &imp, &err), 0);
  rt_refund_rec r = {.customer = a, .ext_id = "C1", .order_ext_id = "O1", .ts_ms = 5,
                     .amount = 100, .currency = "EUR", .reason = "broken", .import_id = imp};
  assert_int_equal(rt_store_refund_put(st, &r, &status, &err), 0);
  assert_int_equal(status, RT_PUT_NEW);
  r.amount = 50;
  assert_int_equal(rt_store_refund_put(st, &r, &status, &err), 0);
  assert_int_equal(status, RT_PUT_MERGED);
  assert_int_equal(rt_store_commit(st, &err), 0);
  r.import_id = 0;
  assert_int_equal(rt_store_refund_put(st, &r, &status, &err), 0);
  assert_int_equal(status, RT_PUT_DUPLICATE);
  r.amount = 0;
  assert_int_equal(rt_store_refund_put(st, &r, &status, &err), RT_EINVAL);
  money_rows m = {0};
  assert_int_equal(rt_store_scan_refunds(st, collect_refund, &m, &err), 0);
  assert_int_equal(m.n, 1);
  assert_int_equal(m.r[0].amount, 150);
  assert_string_equal(m.r[0].currency, "EUR");
  assert_int_equal(m.order_ms[0], 0); /* no order O1 stored */
  /* with the order it names stored, the scan gives that order's time */
  int st2;
  rt_order_rec o = {.customer = a, .ext_id = "O1", .ts_ms = 3, .amount = 150, .currency = "EUR"};
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &st2, &err), 0);
  assert_int_equal(rt_store_commit(st, &err), 0);
  memset(&m, 0, sizeof m);
  assert_int_equal(rt_store_scan_refunds(st, collect_refund, &m, &err), 0);
  assert_int_equal(m.n, 1);
  assert_int_equal(m.order_ms[0], 3);
  rt_store_close(st);
}

static void test_events(void **state) {
  (void)state;
  rt_store *st = open_rw(fresh("events"));
  rt_error err = {0};
  int64_t a = cust(st, "a");
  int status;
  rt_event_rec e = {.customer = a, .type = "login", .ts_ms = 10, .props = "{\"ip\":\"1.2.3.4\"}",
                    .ext_id = "m1"};
  assert_int_equal(rt_store_event_put(st, &e, &status, &err), 0);
  assert_int_equal(status, RT_PUT_NEW);
  e.ts_ms = 11; /* same message id: stored once */
  assert_int_equal(rt_store_event_put(st, &e, &status, &err), 0);
  assert_int_equal(status, RT_PUT_DUPLICATE);
  e.ext_id = NULL; /* without a key every event is new */
  e.props = NULL;
  assert_int_equal(rt_store_event_put(st, &e, &status, &err), 0);
  assert_int_equal(status, RT_PUT_NEW);
  assert_int_equal(rt_store_event_put(st, &e, &status, &err), 0);
  assert_int_equal(status, RT_PUT_NEW);
  e.props = "[1]";
  assert_int_equal(rt_store_event_put(st, &e, &status, &err), RT_EINVAL);
  e.props = NULL;
  e.type = "";
  assert_int_equal(rt_store_event_put(st, &e, &status, &err), RT_EINVAL);
  assert_int_equal(count(st, "events"), 3);
  rt_store_close(st);
}

typedef struct sub_rows {
  int n;
  int64_t customer, started, canceled, amount;
  char currency[4];
} sub_rows;

static int collect_sub(void *ctx, int64_t customer, int64_t started_ms, int64_t canceled_ms,
                       int64_t amount, const char *currency) {
  sub_rows *s = ctx;
  s->n++;
  s->customer = customer;
  s->started = started_ms;
  s->canceled = canceled_ms;
  s->amount = amount;
  snprintf(s->currency, 4, "%s", currency);
  return 0;
}

static void test_subscriptions(void **state) {
  (void)state;
  rt_store *st = open_rw(fresh("subs"));
  rt_error err = {0};
  int64_t a = cust(st, "a");
  int status;
  rt_subscription_rec s = {.customer = a, .ext_id = "S1", .plan = "pro", .started_ms = 100,
                           .renews_ms = 200, .amount = 900, .currency = "USD",
                           .interval = "month"};
  assert_int_equal(rt_store_subscription_put(st, &s, &status, &err), 0);
  assert_int_equal(status, RT_PUT_NEW);
  sub_rows r = {0};
  assert_int_equal(rt_store_scan_subscriptions(st, collect_sub, &r, &err), 0);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.canceled, 0);
  /* a later row cancels it */
  s.canceled_ms = 150;
  s.renews_ms = 0;
  s.plan = NULL;
  s.interval = NULL;
  assert_int_equal(rt_store_subscription_put(st, &s, &status, &err), 0);
  assert_int_equal(status, RT_PUT_MERGED);
  memset(&r, 0, sizeof r);
  assert_int_equal(rt_store_scan_subscriptions(st, collect_sub, &r, &err), 0);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.customer, a);
  assert_int_equal(r.started, 100);
  assert_int_equal(r.canceled, 150);
  assert_int_equal(r.amount, 900);
  assert_string_equal(r.currency, "USD");
  /* read back whole, for a caller that changes one field (the server's cancel events) */
  rt_subscription_rec got;
  assert_int_equal(rt_store_subscription_get(st, "S1", &got, &err), 0);
  assert_int_equal(got.customer, a);
  assert_string_equal(got.ext_id, "S1");
  assert_null(got.plan);
  assert_int_equal(got.started_ms, 100);
  assert_int_equal(got.renews_ms, 0);
  assert_int_equal(got.canceled_ms, 150);
  assert_int_equal(got.amount, 900);
  assert_string_equal(got.currency, "USD");
  rt_subscription_rec_free(&got);
  assert_int_equal(rt_store_subscription_get(st, "S2", &got, &err), RT_ENOTFOUND);
  assert_null(got.ext_id);
  rt_subscription_rec_free(NULL);
  rt_store_close(st);
}

/* ---- bulk mode ---- */

typedef struct cust_rows {
  int n;
  int64_t last_id;
  char last_ext[32];
} cust_rows;

static int collect_cust(void *ctx, int64_t id, const char *ext_id, int64_t created_ms) {
  cust_rows *c = ctx;
  (void)created_ms;
  c->n++;
  c->last_id = id;
  snprintf(c->last_ext, sizeof c->last_ext, "%s", ext_id);
  return 0;
}

static int64_t sum_amount;
static int sum_orders(void *ctx, int64_t customer, int64_t ts_ms, int64_t amount,
                      const char *currency) {
  (void)ctx;
  (void)customer;
  (void)ts_ms;
  (void)currency;
  sum_amount += amount;
  return 0;
}

static void test_bulk(void **state) {
  (void)state;
  const char *path = fresh("bulk");
  rt_store *st = open_rw(path);
  rt_error err = {0};
  int active = 0, status;
  int64_t imp, id;
  /* customer_insert and bulk_begin need bulk mode and a transaction */
  assert_int_equal(rt_store_customer_insert(st, "x", 1, 0, &id, &err), RT_EINVAL);
  assert_int_equal(rt_store_bulk_begin(st, &active, &err), RT_EINVAL);

  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_import_begin(st, "orders", "big.csv", NULL, &imp, &err), 0);
  assert_int_equal(rt_store_bulk_begin(st, &active, &err), 0);
  assert_int_equal(active, 1);
  enum { NC = 137, NO = 1234 };
  int64_t ids[NC];
  char key[32];
  for (int i = 0; i < NC; i++) {
    int n = snprintf(key, sizeof key, "cust%d", i);
    assert_int_equal(rt_store_customer_insert(st, key, (size_t)n, 1000 + i, &ids[i], &err), 0);
    assert_int_equal(ids[i], i + 1);
  }
  /* reads inside the transaction see buffered rows */
  assert_int_equal(rt_store_customer_find(st, "cust136", 7, &id, &err), 0);
  assert_int_equal(id, ids[136]);
  int64_t expect = 0;
  for (int i = 0; i < NO; i++) {
    snprintf(key, sizeof key, "O%d", i);
    rt_line_rec l[2] = {{"SKU", "thing", 1, i, i}, {NULL, "other", 0.5, 2, 1}};
    rt_order_rec o = {.customer = ids[i % NC], .ext_id = key, .ts_ms = i, .amount = i + 1,
                      .currency = "USD", .import_id = imp};
    assert_int_equal(rt_store_order_put(st, &o, l, (size_t)(i % 3), &status, &err), 0);
    assert_int_equal(status, RT_PUT_NEW);
    expect += i + 1;
    if (i == 60) /* a count in the middle flushes */
      assert_int_equal(count(st, "orders"), 61);
  }
  rt_refund_rec r = {.customer = ids[0], .ext_id = "C1", .ts_ms = 1, .amount = 5,
                     .currency = "USD", .import_id = imp};
  assert_int_equal(rt_store_refund_put(st, &r, &status, &err), 0);
  assert_int_equal(rt_store_bulk_end(st, &err), 0);
  assert_int_equal(rt_store_commit(st, &err), 0);

  assert_int_equal(count(st, "customers"), NC);
  assert_int_equal(count(st, "orders"), NO);
  int64_t lines = 0;
  for (int i = 0; i < NO; i++)
    lines += i % 3;
  assert_int_equal(count(st, "order_lines"), lines);
  sum_amount = 0;
  assert_int_equal(rt_store_scan_orders(st, sum_orders, NULL, &err), 0);
  assert_int_equal(sum_amount, expect);
  cust_rows c = {0};
  assert_int_equal(rt_store_scan_customers(st, collect_cust, &c, &err), 0);
  assert_int_equal(c.n, NC);
  assert_int_equal(c.last_id, NC);
  assert_string_equal(c.last_ext, "cust136");
  /* the unique indexes are back: the same order again is a duplicate */
  rt_order_rec o = {.customer = ids[0], .ext_id = "O7", .ts_ms = 1, .amount = 1,
                    .currency = "USD"};
  assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), 0);
  assert_int_equal(status, RT_PUT_DUPLICATE);
  /* tables with rows: bulk mode does not start */
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_bulk_begin(st, &active, &err), 0);
  assert_int_equal(active, 0);
  assert_int_equal(rt_store_bulk_end(st, &err), 0);
  rt_store_rollback(st);
  /* the unique indexes are back after a bulk load; the by-customer ones only once asked for */
  char buf[64];
  static const char *const q =
      "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name IN "
      "('customers_ext_id', 'orders_ext_id', 'refunds_ext_id', 'orders_customer', "
      "'refunds_customer')";
  sql_text(path, q, buf, sizeof buf);
  assert_string_equal(buf, "3");
  int built;
  assert_int_equal(rt_store_ensure_indexes(st, &built, &err), 0);
  assert_int_equal(built, 2);
  rt_store_close(st);
  sql_text(path, q, buf, sizeof buf);
  assert_string_equal(buf, "5");
}

static void test_bulk_duplicates(void **state) {
  (void)state;
  const char *path = fresh("bulk_dup");
  rt_store *st = open_rw(path);
  rt_error err = {0};
  int active = 0, status;
  int64_t imp, a, v0 = dv(st);
  for (int attempt = 0; attempt < 2; attempt++) {
    assert_int_equal(rt_store_begin(st, &err), 0);
    assert_int_equal(rt_store_import_begin(st, "orders", "dup.csv", NULL, &imp, &err), 0);
    assert_int_equal(rt_store_bulk_begin(st, &active, &err), 0);
    assert_int_equal(active, 1);
    assert_int_equal(rt_store_customer_insert(st, "a", 1, 0, &a, &err), 0);
    rt_order_rec o = {.customer = a, .ext_id = "O1", .ts_ms = 1, .amount = 10,
                      .currency = "USD", .import_id = imp};
    for (int i = 0; i < 3; i++) { /* O1 twice, not adjacent */
      o.ext_id = i == 1 ? "O2" : "O1";
      assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), 0);
    }
    if (attempt == 0) {
      assert_int_equal(rt_store_bulk_end(st, &err), RT_EEXISTS);
      assert_non_null(strstr(err.msg, "O1"));
      rt_store_rollback(st);
    } else {
      /* committing without looking at bulk_end's answer is refused and rolls back */
      assert_int_equal(rt_store_bulk_end(st, &err), RT_EEXISTS);
      assert_int_equal(rt_store_commit(st, &err), RT_EEXISTS);
    }
    assert_int_equal(count(st, "orders"), 0);
    assert_int_equal(count(st, "customers"), 0);
    assert_int_equal(count(st, "imports"), 0);
    assert_int_equal(dv(st), v0);
  }
  /* the careful path after the fallback merges the two rows */
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_import_begin(st, "orders", "dup.csv", NULL, &imp, &err), 0);
  a = cust(st, "a");
  rt_order_rec o = {.customer = a, .ext_id = "O1", .ts_ms = 1, .amount = 10, .currency = "USD",
                    .import_id = imp};
  int statuses[3];
  for (int i = 0; i < 3; i++) {
    o.ext_id = i == 1 ? "O2" : "O1";
    assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &statuses[i], &err), 0);
  }
  assert_int_equal(statuses[2], RT_PUT_MERGED);
  assert_int_equal(rt_store_commit(st, &err), 0);
  assert_int_equal(count(st, "orders"), 2);
  rt_store_close(st);
  char buf[64];
  sql_text(path,
           "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name IN "
           "('customers_ext_id', 'orders_ext_id', 'refunds_ext_id', 'orders_customer', "
           "'refunds_customer')",
           buf, sizeof buf);
  assert_string_equal(buf, "5");
}

/* Orders into empty tables for customers already stored: no bulk mode, and the by-customer
 * indexes are left out (they come back with a rollback) until rt_store_ensure_indexes. */
static void test_deferred_indexes(void **state) {
  (void)state;
  const char *path = fresh("deferred_indexes");
  rt_store *st = open_rw(path);
  rt_error err = {0};
  int64_t a = cust(st, "a");
  int active = 1, status;
  char buf[64];
  static const char *const q = "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND "
                               "name IN ('orders_customer', 'refunds_customer')";
  for (int commit = 0; commit < 2; commit++) {
    assert_int_equal(rt_store_begin(st, &err), 0);
    assert_int_equal(rt_store_bulk_begin(st, &active, &err), 0);
    assert_int_equal(active, 0);
    rt_order_rec o = {a, "o1", 10, 5, "USD", 0};
    assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), 0);
    assert_int_equal(rt_store_bulk_end(st, &err), 0);
    if (commit)
      assert_int_equal(rt_store_commit(st, &err), 0);
    else
      rt_store_rollback(st);
    sql_text(path, q, buf, sizeof buf);
    assert_string_equal(buf, commit ? "0" : "2"); /* left out; a rollback brings them back */
  }
  rt_customer_view v;
  assert_int_equal(rt_store_customer_get(st, NULL, a, &v, &err), 0); /* answers without them */
  assert_true(v.orders == 1);
  rt_customer_view_free(&v);
  int built = -1;
  assert_int_equal(rt_store_ensure_indexes(st, &built, &err), 0);
  assert_int_equal(built, 2);
  sql_text(path, q, buf, sizeof buf);
  assert_string_equal(buf, "2");
  assert_int_equal(rt_store_ensure_indexes(st, &built, &err), 0);
  assert_int_equal(built, 0); /* nothing left to build */
  assert_int_equal(rt_store_customer_get(st, NULL, a, &v, &err), 0);
  assert_true(v.orders == 1);
  rt_customer_view_free(&v);
  rt_store_close(st);
}

/* ---- transactions, data version, durability ---- */

static void test_rollback(void **state) {
  (void)state;
  rt_store *st = open_rw(fresh("rollback"));
  rt_error err = {0};
  int64_t v0 = dv(st);
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_begin(st, &err), RT_EINVAL); /* no nesting */
  int64_t a = cust(st, "a");
  rt_order_rec o = {.customer = a, .ext_id = "O1", .ts_ms = 1, .amount = 10, .currency = "USD"};
  int status;
  assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), 0);
  assert_int_equal(rt_store_meta_set(st, "k", "v", &err), 0);
  rt_store_rollback(st);
  rt_store_rollback(st); /* harmless */
  assert_int_equal(count(st, "customers"), 0);
  assert_int_equal(count(st, "orders"), 0);
  char *v = NULL;
  assert_int_equal(rt_store_meta_get(st, "k", &v, &err), 0);
  assert_null(v);
  assert_int_equal(dv(st), v0);
  assert_int_equal(rt_store_commit(st, &err), RT_EINVAL); /* nothing open */
  rt_store_close(st);
}

static void test_data_version(void **state) {
  (void)state;
  const char *path = fresh("dv");
  rt_store *st = open_rw(path), *other = open_rw(path);
  rt_error err = {0};
  int64_t v0 = dv(st);
  /* a transaction that writes nothing does not change it */
  assert_int_equal(rt_store_begin(st, &err), 0);
  int64_t id;
  assert_int_equal(rt_store_customer_find(st, "a", 1, &id, &err), RT_ENOTFOUND);
  assert_int_equal(rt_store_commit(st, &err), 0);
  assert_int_equal(dv(st), v0);
  /* a write does, seen from another connection too */
  assert_int_equal(rt_store_begin(st, &err), 0);
  int64_t a = cust(st, "a");
  assert_int_equal(rt_store_commit(st, &err), 0);
  assert_int_equal(dv(st), v0 + 1);
  assert_int_equal(dv(other), v0 + 1);
  /* a write outside a transaction commits on its own */
  assert_int_equal(rt_store_meta_set(other, "timezone", "UTC", &err), 0);
  assert_int_equal(dv(st), v0 + 2);
  /* only duplicates: nothing written, no change */
  rt_order_rec o = {.customer = a, .ext_id = "O1", .ts_ms = 1, .amount = 10, .currency = "USD"};
  int status;
  assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), 0);
  assert_int_equal(dv(st), v0 + 3);
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), 0);
  assert_int_equal(status, RT_PUT_DUPLICATE);
  assert_int_equal(rt_store_commit(st, &err), 0);
  assert_int_equal(dv(other), v0 + 3);
  /* a read-only store reads it as well */
  rt_store_config cfg = {.path = path, .read_only = 1};
  rt_store *ro;
  assert_int_equal(rt_store_open(&cfg, &ro, &err), 0);
  assert_int_equal(dv(ro), v0 + 3);
  rt_store_close(ro);
  rt_store_close(other);
  rt_store_close(st);
}

typedef struct score_rows {
  int n;
  char id[4][8], next[4][16];
  double p_alive[4];
} score_rows;

static int collect_score(void *ctx, const char *ext_id, const rt_score_rec *r) {
  score_rows *s = ctx;
  if (s->n < 4) {
    snprintf(s->id[s->n], sizeof s->id[0], "%s", ext_id);
    snprintf(s->next[s->n], sizeof s->next[0], "%s",
             r->expected_next_order ? r->expected_next_order : "");
    s->p_alive[s->n] = r->p_alive;
  }
  s->n++;
  return 0;
}

/* Model runs and scores: stored with their run, NAN as NULL, counted, and the data version
 * (customer data) untouched, so that a model snapshot stays valid. */
static void test_scores(void **state) {
  (void)state;
  const char *path = fresh("scores");
  rt_store *st = open_rw(path);
  rt_error err = {0};
  assert_int_equal(rt_store_begin(st, &err), 0);
  int64_t a = cust(st, "a"), b = cust(st, "b");
  assert_int_equal(rt_store_commit(st, &err), 0);
  int64_t v0 = dv(st), run;
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_score_run_begin(st, "bgnbd", "{\"r\": 0.5}", &run, &err), 0);
  rt_score_rec r1 = {.customer = a, .p_alive = 0.75, .expected_purchases = 1.5,
                     .predicted_clv = 30, .churn_probability = NAN,
                     .expected_next_order = "2024-05-01", .reasons = NULL};
  rt_score_rec r2 = {.customer = b, .p_alive = NAN, .expected_purchases = NAN,
                     .predicted_clv = NAN, .churn_probability = 0.9, .reasons = "no order"};
  assert_int_equal(rt_store_score_put(st, run, &r1, &err), 0);
  assert_int_equal(rt_store_score_put(st, run, &r2, &err), 0);
  assert_int_equal(rt_store_score_run_finish(st, run, 2, &err), 0);
  assert_int_equal(rt_store_commit(st, &err), 0);
  assert_int_equal(dv(st), v0);
  assert_int_equal(count(st, "model_runs"), 1);
  assert_int_equal(count(st, "customer_scores"), 2);
  /* a score of the same run twice for a customer is refused */
  assert_int_not_equal(rt_store_score_put(st, run, &r1, &err), 0);
  assert_int_equal(rt_store_score_run_finish(st, run + 5, 1, &err), RT_ENOTFOUND);
  /* read back: the latest run, by kind, by id; its scores in customer order */
  rt_score_run info;
  assert_int_equal(rt_store_score_run_get(st, 0, NULL, &info, &err), 0);
  assert_int_equal(info.id, run);
  assert_string_equal(info.kind, "bgnbd");
  assert_string_equal(info.params, "{\"r\": 0.5}");
  assert_int_equal(info.customers, 2);
  assert_int_equal(info.data_version, v0);
  rt_free(info.kind);
  rt_free(info.params);
  assert_int_equal(rt_store_score_run_get(st, 0, "churn", &info, &err), RT_ENOTFOUND);
  assert_int_equal(rt_store_score_run_get(st, run + 1, NULL, &info, &err), RT_ENOTFOUND);
  assert_int_equal(rt_store_score_run_get(st, run, NULL, &info, &err), 0);
  rt_free(info.kind);
  rt_free(info.params);
  score_rows got = {0};
  assert_int_equal(rt_store_scan_scores(st, run, collect_score, &got, &err), 0);
  assert_int_equal(got.n, 2);
  assert_string_equal(got.id[0], "a");
  assert_true(got.p_alive[0] == 0.75 && isnan(got.p_alive[1]));
  assert_string_equal(got.next[0], "2024-05-01");
  assert_string_equal(got.next[1], "");
  rt_store_close(st);
  /* what SQL sees */
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_stmt *q;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT r.kind, r.customers, r.data_version, "
                                          "s.p_alive IS NULL, s.churn_probability, s.reasons "
                                          "FROM customer_scores s JOIN model_runs r "
                                          "ON r.id = s.run_id WHERE s.customer_id = ?1",
                                      -1, &q, NULL), SQLITE_OK);
  sqlite3_bind_int64(q, 1, b);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(q, 0), "bgnbd");
  assert_int_equal(sqlite3_column_int64(q, 1), 2);
  assert_int_equal(sqlite3_column_int64(q, 2), v0);
  assert_int_equal(sqlite3_column_int(q, 3), 1);
  assert_true(sqlite3_column_double(q, 4) == 0.9);
  assert_string_equal((const char *)sqlite3_column_text(q, 5), "no order");
  sqlite3_finalize(q);
  sqlite3_close(db);
}

/* ---- segments ---- */

typedef struct seg_list {
  int n;
  char name[8][16], desc[8][16], as_of[8][16];
  int64_t id[8], size[8];
} seg_list;

static int collect_segment(void *ctx, const rt_segment_info *s) {
  seg_list *l = ctx;
  if (l->n < 8) {
    snprintf(l->name[l->n], sizeof l->name[0], "%s", s->name);
    snprintf(l->desc[l->n], sizeof l->desc[0], "%s", s->description ? s->description : "-");
    snprintf(l->as_of[l->n], sizeof l->as_of[0], "%s", s->as_of ? s->as_of : "live");
    l->id[l->n] = s->id;
    l->size[l->n] = s->size;
  }
  l->n++;
  return 0;
}

static int stop_segments(void *ctx, const rt_segment_info *s) {
  (void)s;
  ++*(int *)ctx;
  return 42;
}

typedef struct member_list {
  int n;
  char ext[8][16];
  int64_t customer[8], entered_ms[8];
} member_list;

static int collect_member(void *ctx, int64_t customer, const char *ext_id, int64_t entered_ms) {
  member_list *l = ctx;
  if (l->n < 8) {
    snprintf(l->ext[l->n], sizeof l->ext[0], "%s", ext_id);
    l->customer[l->n] = customer;
    l->entered_ms[l->n] = entered_ms;
  }
  l->n++;
  return 0;
}

typedef struct size_list {
  int n;
  int64_t at_ms[8], size[8], entered[8], exited[8];
} size_list;

static int collect_size(void *ctx, int64_t at_ms, int64_t size, int64_t entered,
                        int64_t exited) {
  size_list *l = ctx;
  if (l->n < 8) {
    l->at_ms[l->n] = at_ms;
    l->size[l->n] = size;
    l->entered[l->n] = entered;
    l->exited[l->n] = exited;
  }
  l->n++;
  return 0;
}

typedef struct seg_event_list {
  int n;
  char segment[16][16], ext[16][16];
  int64_t customer[16], at_ms[16];
  int enter[16];
} seg_event_list;

static int collect_seg_event(void *ctx, const char *segment, int64_t customer,
                             const char *ext_id, int enter, int64_t at_ms) {
  seg_event_list *l = ctx;
  if (l->n < 16) {
    snprintf(l->segment[l->n], sizeof l->segment[0], "%s", segment);
    snprintf(l->ext[l->n], sizeof l->ext[0], "%s", ext_id);
    l->customer[l->n] = customer;
    l->enter[l->n] = enter;
    l->at_ms[l->n] = at_ms;
  }
  l->n++;
  return 0;
}

static int64_t ms_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Create, read back, list by name, update, delete; taken names and unknown segments. */
/* One customer's view: profile, identities oldest first, order and event counts, revenue by
 * currency; by external id or internal id; unknown ones are RT_ENOTFOUND. */
static void test_customer_view(void **state) {
  (void)state;
  rt_store *st = open_rw(fresh("customer_view"));
  rt_error err = {0};
  int64_t id, other;
  int created, status;
  assert_int_equal(rt_store_customer_upsert(st, "c1", 2, 1000, &id, &created, &err), 0);
  assert_int_equal(rt_store_customer_set_attrs(st, id, "{\"plan\":\"pro\"}", &err), 0);
  assert_int_equal(rt_store_identity_link(st, "email", "a@b.c", id, "import", &other, &err), 0);
  assert_int_equal(rt_store_identity_link(st, "anonymous", "x1", id, "identify", &other, &err), 0);
  rt_order_rec o1 = {id, "o1", 5000, 1999, "USD", 0}, o2 = {id, "o2", 9000, 500, "EUR", 0};
  assert_int_equal(rt_store_order_put(st, &o1, NULL, 0, &status, &err), 0);
  assert_int_equal(rt_store_order_put(st, &o2, NULL, 0, &status, &err), 0);
  rt_event_rec ev = {id, "login", 7000, NULL, "e1", 0, 0};
  assert_int_equal(rt_store_event_put(st, &ev, &status, &err), 0);
  rt_customer_view v;
  assert_int_equal(rt_store_customer_get(st, "c1", 0, &v, &err), 0);
  assert_true(v.id == id);
  assert_string_equal(v.ext_id, "c1");
  assert_true(v.created_ms == 1000);
  assert_string_equal(v.attrs, "{\"plan\":\"pro\"}");
  assert_int_equal(v.nidentities, 2);
  assert_string_equal(v.identities[0].kind, "email");
  assert_string_equal(v.identities[1].value, "x1");
  assert_true(v.orders == 2 && v.events == 1 && v.refunds == 0);
  assert_true(v.first_order_ms == 5000 && v.last_order_ms == 9000);
  assert_non_null(strstr(v.revenue, "\"USD\":1999"));
  assert_non_null(strstr(v.revenue, "\"EUR\":500"));
  rt_customer_view_free(&v);
  assert_int_equal(rt_store_customer_get(st, NULL, id, &v, &err), 0);
  assert_string_equal(v.ext_id, "c1");
  rt_customer_view_free(&v);
  assert_int_equal(rt_store_customer_get(st, "nobody", 0, &v, &err), RT_ENOTFOUND);
  assert_int_equal(rt_store_customer_get(st, NULL, id + 100, &v, &err), RT_ENOTFOUND);
  rt_store_close(st);
}

static void test_segments(void **state) {
  (void)state;
  rt_store *st = open_rw(fresh("segments"));
  rt_error err = {0};
  int64_t before = ms_now(), vip, lapsed;
  assert_int_equal(rt_store_segment_create(st, "vip", "orders >= 5", "best customers", &vip,
                                           &err), 0);
  assert_int_equal(rt_store_segment_create(st, "lapsed", "days_since_last_order > 90", NULL,
                                           &lapsed, &err), 0);
  int64_t after = ms_now();
  assert_true(vip > 0 && lapsed > 0 && vip != lapsed);
  assert_int_equal(count(st, "segments"), 2);

  rt_segment_info info;
  assert_int_equal(rt_store_segment_get(st, "vip", &info, &err), 0);
  assert_int_equal(info.id, vip);
  assert_string_equal(info.name, "vip");
  assert_string_equal(info.rule, "orders >= 5");
  assert_string_equal(info.description, "best customers");
  assert_true(info.created_ms >= before && info.created_ms <= after);
  assert_int_equal(info.updated_ms, info.created_ms);
  assert_int_equal(info.evaluated_ms, 0);
  assert_int_equal(info.size, 0);
  int64_t created = info.created_ms;
  rt_segment_info_free(&info);
  assert_null(info.name);
  rt_segment_info_free(&info); /* twice is harmless */
  rt_segment_info_free(NULL);
  assert_int_equal(rt_store_segment_get(st, "lapsed", &info, &err), 0);
  assert_null(info.description);
  rt_segment_info_free(&info);

  /* a taken name: refused, naming it, and nothing written */
  int64_t id = 7;
  assert_int_equal(rt_store_segment_create(st, "vip", "orders >= 1", NULL, &id, &err),
                   RT_EEXISTS);
  assert_int_equal(err.code, RT_EEXISTS);
  assert_non_null(strstr(err.msg, "'vip'"));
  assert_int_equal(id, 0);
  assert_int_equal(count(st, "segments"), 2);
  /* inside a transaction the refusal leaves it usable */
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_segment_create(st, "vip", "x", NULL, &id, &err), RT_EEXISTS);
  assert_int_equal(rt_store_segment_create(st, "new", "x", NULL, &id, &err), 0);
  assert_int_equal(rt_store_commit(st, &err), 0);
  assert_int_equal(count(st, "segments"), 3);

  /* listed by name */
  seg_list l = {0};
  assert_int_equal(rt_store_scan_segments(st, collect_segment, &l, &err), 0);
  assert_int_equal(l.n, 3);
  assert_string_equal(l.name[0], "lapsed");
  assert_string_equal(l.name[1], "new");
  assert_string_equal(l.name[2], "vip");
  assert_int_equal(l.id[2], vip);
  assert_string_equal(l.desc[0], "-");
  int calls = 0;
  assert_int_equal(rt_store_scan_segments(st, stop_segments, &calls, &err), 42);
  assert_int_equal(calls, 1);

  /* update: the rule, and the description only when given */
  assert_int_equal(rt_store_segment_update(st, vip, "orders >= 10", NULL, &err), 0);
  assert_int_equal(rt_store_segment_get(st, "vip", &info, &err), 0);
  assert_string_equal(info.rule, "orders >= 10");
  assert_string_equal(info.description, "best customers");
  assert_int_equal(info.created_ms, created);
  assert_true(info.updated_ms >= created);
  rt_segment_info_free(&info);
  assert_int_equal(rt_store_segment_update(st, vip, "orders >= 20", "the very best", &err), 0);
  assert_int_equal(rt_store_segment_get(st, "vip", &info, &err), 0);
  assert_string_equal(info.rule, "orders >= 20");
  assert_string_equal(info.description, "the very best");
  assert_null(info.as_of); /* live, default settings */
  assert_null(info.settings);
  rt_segment_info_free(&info);
  /* how it is judged: pinned to a day with its settings, and back to live */
  assert_int_equal(rt_store_segment_set_basis(st, vip, "2011-12-09", "{\"rfm_bins\":4}", &err), 0);
  assert_int_equal(rt_store_segment_get(st, "vip", &info, &err), 0);
  assert_string_equal(info.as_of, "2011-12-09");
  assert_string_equal(info.settings, "{\"rfm_bins\":4}");
  rt_segment_info_free(&info);
  memset(&l, 0, sizeof l);
  assert_int_equal(rt_store_scan_segments(st, collect_segment, &l, &err), 0);
  assert_string_equal(l.as_of[2], "2011-12-09");
  assert_string_equal(l.as_of[0], "live");
  assert_int_equal(rt_store_segment_set_basis(st, vip, NULL, NULL, &err), 0);
  assert_int_equal(rt_store_segment_get(st, "vip", &info, &err), 0);
  assert_null(info.as_of);
  assert_null(info.settings);
  rt_segment_info_free(&info);
  assert_int_equal(rt_store_segment_set_basis(st, 999, NULL, NULL, &err), RT_ENOTFOUND);

  /* unknown segments */
  info.name = (char *)1;
  assert_int_equal(rt_store_segment_get(st, "nope", &info, &err), RT_ENOTFOUND);
  assert_non_null(strstr(err.msg, "'nope'"));
  assert_null(info.name);
  assert_int_equal(rt_store_segment_update(st, 999, "x", NULL, &err), RT_ENOTFOUND);
  assert_non_null(strstr(err.msg, "999"));
  assert_int_equal(rt_store_segment_delete(st, 999, &err), RT_ENOTFOUND);
  assert_non_null(strstr(err.msg, "999"));
  assert_int_equal(rt_store_segment_evaluated(st, 999, 1, 0, 0, 0, &err), RT_ENOTFOUND);

  /* delete */
  assert_int_equal(rt_store_segment_delete(st, lapsed, &err), 0);
  assert_int_equal(rt_store_segment_get(st, "lapsed", &info, &err), RT_ENOTFOUND);
  assert_int_equal(rt_store_segment_delete(st, lapsed, &err), RT_ENOTFOUND);
  assert_int_equal(count(st, "segments"), 2);
  /* the name is free again */
  assert_int_equal(rt_store_segment_create(st, "lapsed", "y", NULL, &id, &err), 0);

  /* arguments */
  assert_int_equal(rt_store_segment_create(st, "", "x", NULL, &id, &err), RT_EINVAL);
  assert_int_equal(rt_store_segment_create(st, "a", NULL, NULL, &id, &err), RT_EINVAL);
  assert_int_equal(rt_store_segment_create(st, "a", "x", NULL, NULL, &err), RT_EINVAL);
  assert_int_equal(rt_store_segment_update(st, 0, "x", NULL, &err), RT_EINVAL);
  assert_int_equal(rt_store_segment_get(st, NULL, &info, &err), RT_EINVAL);
  assert_int_equal(rt_store_scan_segments(st, NULL, NULL, &err), RT_EINVAL);
  assert_int_equal(rt_store_segment_move(st, vip, 0, 1, 1, &err), RT_EINVAL);
  assert_int_equal(rt_store_scan_segment_events(st, -1, 0, collect_seg_event, NULL, &err),
                   RT_EINVAL);
  assert_int_equal(rt_store_segment_evaluated(st, vip, 1, -1, 0, 0, &err), RT_EINVAL);
  rt_store_close(st);
}

/* Entering and leaving: the members left behind and the events recorded; moves that do not
 * change the membership are refused. Deleting a segment takes all of it. */
static void test_segment_moves(void **state) {
  (void)state;
  rt_store *st = open_rw(fresh("segment_moves"));
  rt_error err = {0};
  int64_t c = cust(st, "carol"), a = cust(st, "alice"), b = cust(st, "bob");
  int64_t seg, other;
  assert_int_equal(rt_store_segment_create(st, "vip", "r", NULL, &seg, &err), 0);
  assert_int_equal(rt_store_segment_create(st, "other", "r", NULL, &other, &err), 0);
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_segment_move(st, seg, b, 1, 200, &err), 0);
  assert_int_equal(rt_store_segment_move(st, seg, c, 1, 100, &err), 0);
  assert_int_equal(rt_store_segment_move(st, seg, a, 5, 300, &err), 0); /* nonzero: enter */
  assert_int_equal(rt_store_segment_move(st, other, a, 1, 300, &err), 0);
  assert_int_equal(rt_store_commit(st, &err), 0);

  member_list m = {0};
  assert_int_equal(rt_store_scan_segment_members(st, seg, collect_member, &m, &err), 0);
  assert_int_equal(m.n, 3); /* by customer id */
  assert_int_equal(m.customer[0], c);
  assert_string_equal(m.ext[0], "carol");
  assert_int_equal(m.entered_ms[0], 100);
  assert_int_equal(m.customer[1], a);
  assert_string_equal(m.ext[1], "alice");
  assert_int_equal(m.entered_ms[1], 300);
  assert_int_equal(m.customer[2], b);
  assert_int_equal(m.entered_ms[2], 200);

  /* no change of membership: refused, naming both */
  assert_int_equal(rt_store_segment_move(st, seg, a, 1, 400, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "'alice'"));
  assert_non_null(strstr(err.msg, "'vip'"));
  assert_int_equal(rt_store_segment_move(st, seg, b, 0, 400, &err), 0);
  assert_int_equal(rt_store_segment_move(st, seg, b, 0, 500, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "'bob'"));
  /* unknown segment or customer */
  assert_int_equal(rt_store_segment_move(st, 999, a, 1, 400, &err), RT_ENOTFOUND);
  assert_int_equal(rt_store_segment_move(st, seg, 999, 1, 400, &err), RT_ENOTFOUND);
  assert_non_null(strstr(err.msg, "999"));

  memset(&m, 0, sizeof m);
  assert_int_equal(rt_store_scan_segment_members(st, seg, collect_member, &m, &err), 0);
  assert_int_equal(m.n, 2);
  assert_int_equal(m.customer[0], c);
  assert_int_equal(m.customer[1], a);
  /* entering again after leaving: a new entry time */
  assert_int_equal(rt_store_segment_move(st, seg, b, 1, 600, &err), 0);
  memset(&m, 0, sizeof m);
  assert_int_equal(rt_store_scan_segment_members(st, seg, collect_member, &m, &err), 0);
  assert_int_equal(m.n, 3);
  assert_int_equal(m.entered_ms[2], 600);

  /* the events, oldest first */
  seg_event_list e = {0};
  assert_int_equal(rt_store_scan_segment_events(st, seg, 0, collect_seg_event, &e, &err), 0);
  assert_int_equal(e.n, 5);
  int64_t want_at[] = {100, 200, 300, 400, 600};
  int64_t want_cust[] = {c, b, a, b, b};
  int want_enter[] = {1, 1, 1, 0, 1};
  for (int i = 0; i < 5; i++) {
    assert_int_equal(e.at_ms[i], want_at[i]);
    assert_int_equal(e.customer[i], want_cust[i]);
    assert_int_equal(e.enter[i], want_enter[i]);
    assert_string_equal(e.segment[i], "vip");
  }
  assert_string_equal(e.ext[3], "bob");
  assert_int_equal(count(st, "segment_events"), 6);
  assert_int_equal(count(st, "segment_members"), 4);

  /* delete takes members, events and sizes, and leaves the other segment alone */
  assert_int_equal(rt_store_segment_evaluated(st, seg, 700, 3, 4, 1, &err), 0);
  assert_int_equal(rt_store_segment_evaluated(st, other, 700, 1, 1, 0, &err), 0);
  assert_int_equal(rt_store_segment_delete(st, seg, &err), 0);
  assert_int_equal(count(st, "segments"), 1);
  assert_int_equal(count(st, "segment_members"), 1);
  assert_int_equal(count(st, "segment_events"), 1);
  assert_int_equal(count(st, "segment_sizes"), 1);
  memset(&m, 0, sizeof m);
  assert_int_equal(rt_store_scan_segment_members(st, seg, collect_member, &m, &err), 0);
  assert_int_equal(m.n, 0);
  memset(&e, 0, sizeof e);
  assert_int_equal(rt_store_scan_segment_events(st, 0, 0, collect_seg_event, &e, &err), 0);
  assert_int_equal(e.n, 1);
  assert_string_equal(e.segment[0], "other");
  rt_store_close(st);
}

/* Evaluations set the segment's size and time and are kept oldest first, even within one ms. */
static void test_segment_sizes(void **state) {
  (void)state;
  const char *path = fresh("segment_sizes");
  rt_store *st = open_rw(path);
  rt_error err = {0};
  int64_t seg, other;
  assert_int_equal(rt_store_segment_create(st, "s", "r", NULL, &seg, &err), 0);
  assert_int_equal(rt_store_segment_create(st, "t", "r", NULL, &other, &err), 0);
  assert_int_equal(rt_store_segment_evaluated(st, seg, 2000, 10, 10, 0, &err), 0);
  assert_int_equal(rt_store_segment_evaluated(st, seg, 1000, 5, 5, 0, &err), 0);
  assert_int_equal(rt_store_segment_evaluated(st, seg, 3000, 8, 1, 3, &err), 0);
  assert_int_equal(rt_store_segment_evaluated(st, seg, 3000, 9, 1, 0, &err), 0); /* same ms */
  assert_int_equal(rt_store_segment_evaluated(st, other, 1500, 1, 1, 0, &err), 0);
  rt_segment_info info;
  assert_int_equal(rt_store_segment_get(st, "s", &info, &err), 0);
  assert_int_equal(info.evaluated_ms, 3000);
  assert_int_equal(info.size, 9);
  rt_segment_info_free(&info);
  size_list l = {0};
  assert_int_equal(rt_store_scan_segment_sizes(st, seg, collect_size, &l, &err), 0);
  assert_int_equal(l.n, 4);
  int64_t want_at[] = {1000, 2000, 3000, 3000}, want_size[] = {5, 10, 8, 9};
  for (int i = 0; i < 4; i++) {
    assert_int_equal(l.at_ms[i], want_at[i]);
    assert_int_equal(l.size[i], want_size[i]);
  }
  assert_int_equal(l.entered[2], 1);
  assert_int_equal(l.exited[2], 3);
  memset(&l, 0, sizeof l);
  assert_int_equal(rt_store_scan_segment_sizes(st, other, collect_size, &l, &err), 0);
  assert_int_equal(l.n, 1);
  assert_int_equal(l.at_ms[0], 1500);
  memset(&l, 0, sizeof l);
  assert_int_equal(rt_store_scan_segment_sizes(st, 999, collect_size, &l, &err), 0);
  assert_int_equal(l.n, 0);
  rt_store_close(st);
  /* durable */
  st = open_rw(path);
  assert_int_equal(count(st, "segment_sizes"), 5);
  rt_store_close(st);
}

/* Events of one segment or all, since a time (inclusive), oldest first with ties by insertion. */
static void test_segment_events(void **state) {
  (void)state;
  rt_store *st = open_rw(fresh("segment_events"));
  rt_error err = {0};
  int64_t a = cust(st, "a"), b = cust(st, "b");
  int64_t s1, s2;
  assert_int_equal(rt_store_segment_create(st, "one", "r", NULL, &s1, &err), 0);
  assert_int_equal(rt_store_segment_create(st, "two", "r", NULL, &s2, &err), 0);
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_segment_move(st, s1, a, 1, 100, &err), 0);
  assert_int_equal(rt_store_segment_move(st, s2, a, 1, 150, &err), 0);
  assert_int_equal(rt_store_segment_move(st, s2, b, 1, 200, &err), 0);
  assert_int_equal(rt_store_segment_move(st, s1, b, 1, 200, &err), 0);
  assert_int_equal(rt_store_segment_move(st, s1, a, 0, 300, &err), 0);
  assert_int_equal(rt_store_segment_move(st, s2, a, 0, 50, &err), 0); /* an earlier time */
  assert_int_equal(rt_store_commit(st, &err), 0);

  seg_event_list e = {0};
  assert_int_equal(rt_store_scan_segment_events(st, 0, 0, collect_seg_event, &e, &err), 0);
  assert_int_equal(e.n, 6);
  int64_t want_at[] = {50, 100, 150, 200, 200, 300};
  const char *want_seg[] = {"two", "one", "two", "two", "one", "one"};
  const char *want_ext[] = {"a", "a", "a", "b", "b", "a"};
  int want_enter[] = {0, 1, 1, 1, 1, 0};
  for (int i = 0; i < 6; i++) {
    assert_int_equal(e.at_ms[i], want_at[i]);
    assert_string_equal(e.segment[i], want_seg[i]);
    assert_string_equal(e.ext[i], want_ext[i]);
    assert_int_equal(e.enter[i], want_enter[i]);
  }
  /* since is inclusive */
  memset(&e, 0, sizeof e);
  assert_int_equal(rt_store_scan_segment_events(st, 0, 200, collect_seg_event, &e, &err), 0);
  assert_int_equal(e.n, 3);
  assert_int_equal(e.at_ms[0], 200);
  assert_string_equal(e.segment[0], "two");
  /* one segment */
  memset(&e, 0, sizeof e);
  assert_int_equal(rt_store_scan_segment_events(st, s1, 0, collect_seg_event, &e, &err), 0);
  assert_int_equal(e.n, 3);
  for (int i = 0; i < 3; i++)
    assert_string_equal(e.segment[i], "one");
  assert_int_equal(e.customer[0], a);
  assert_int_equal(e.customer[1], b);
  assert_int_equal(e.at_ms[2], 300);
  memset(&e, 0, sizeof e);
  assert_int_equal(rt_store_scan_segment_events(st, s2, 151, collect_seg_event, &e, &err), 0);
  assert_int_equal(e.n, 1);
  assert_int_equal(e.customer[0], b);
  memset(&e, 0, sizeof e);
  assert_int_equal(rt_store_scan_segment_events(st, s1, 301, collect_seg_event, &e, &err), 0);
  assert_int_equal(e.n, 0);
  rt_store_close(st);
}

/* Segment writes are not customer data: the data version stays, alone or in a transaction of
 * their own, and a rollback takes them back. Customer writes beside them still count. */
static void test_segment_data_version(void **state) {
  (void)state;
  const char *path = fresh("segment_dv");
  rt_store *st = open_rw(path), *other = open_rw(path);
  rt_error err = {0};
  int64_t a = cust(st, "a"), b = cust(st, "b");
  int64_t v0 = dv(st), seg;
  assert_int_equal(rt_store_segment_create(st, "s", "r", "d", &seg, &err), 0);
  assert_int_equal(rt_store_segment_update(st, seg, "r2", NULL, &err), 0);
  assert_int_equal(rt_store_segment_move(st, seg, a, 1, 10, &err), 0);
  assert_int_equal(dv(st), v0);
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_segment_move(st, seg, b, 1, 20, &err), 0);
  assert_int_equal(rt_store_segment_move(st, seg, a, 0, 20, &err), 0);
  assert_int_equal(rt_store_segment_evaluated(st, seg, 20, 1, 1, 1, &err), 0);
  assert_int_equal(rt_store_commit(st, &err), 0);
  assert_int_equal(dv(st), v0);
  assert_int_equal(dv(other), v0);
  int64_t tmp;
  assert_int_equal(rt_store_segment_create(st, "gone", "r", NULL, &tmp, &err), 0);
  assert_int_equal(rt_store_segment_delete(st, tmp, &err), 0);
  assert_int_equal(dv(st), v0);
  /* a customer write beside segment writes bumps it once */
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_segment_move(st, seg, a, 1, 30, &err), 0);
  cust(st, "c");
  assert_int_equal(rt_store_commit(st, &err), 0);
  assert_int_equal(dv(other), v0 + 1);
  /* rolled back: gone */
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_segment_move(st, seg, b, 0, 40, &err), 0);
  assert_int_equal(rt_store_segment_evaluated(st, seg, 40, 1, 0, 1, &err), 0);
  rt_store_rollback(st);
  assert_int_equal(count(st, "segment_members"), 2);
  assert_int_equal(count(st, "segment_sizes"), 1);
  assert_int_equal(dv(st), v0 + 1);
  rt_store_close(other);
  rt_store_close(st);
}

/* A store at schema version 2 (before segments and API keys) migrates to the current version
 * on a read-write open, keeping its data; a read-only open refuses to migrate it. */
static void test_segment_migration(void **state) {
  (void)state;
  const char *path = fresh("segment_migrate");
  rt_store *st = open_rw(path);
  int64_t a = cust(st, "kept");
  rt_store_close(st);
  /* back to version 2: the segment tables and the record of migration 3 removed */
  downgrade(path, 2);
  char buf[64];
  sql_text(path, "SELECT max(version) FROM schema_migrations", buf, sizeof buf);
  assert_string_equal(buf, "2");

  rt_error err = {0};
  rt_store_config cfg = {.path = path, .read_only = 1};
  assert_int_equal(rt_store_open(&cfg, &st, &err), RT_ESTORE);
  assert_null(st);
  assert_non_null(strstr(err.msg, "version 2"));

  st = open_rw(path);
  assert_true(rt_store_latest_schema_version() >= 3);
  assert_int_equal(rt_store_schema_version(st), rt_store_latest_schema_version());
  assert_int_equal(count(st, "schema_migrations"), rt_store_latest_schema_version());
  assert_int_equal(count(st, "segments"), 0);
  assert_int_equal(count(st, "segment_members"), 0);
  assert_int_equal(count(st, "segment_events"), 0);
  assert_int_equal(count(st, "segment_sizes"), 0);
  int64_t id;
  assert_int_equal(rt_store_customer_find(st, "kept", 4, &id, &err), 0);
  assert_int_equal(id, a);
  int64_t seg;
  assert_int_equal(rt_store_segment_create(st, "s", "r", NULL, &seg, &err), 0);
  assert_int_equal(rt_store_segment_move(st, seg, a, 1, 5, &err), 0);
  rt_store_close(st);
  sql_text(path, "SELECT name FROM schema_migrations WHERE version = 3", buf, sizeof buf);
  assert_string_equal(buf, "segments");
  sql_text(path,
           "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name IN "
           "('segment_events_segment', 'segment_events_customer', 'segment_sizes_segment')",
           buf, sizeof buf);
  assert_string_equal(buf, "3");
}

/* A read-only store reads segments but refuses every segment write. */
static void test_segment_read_only(void **state) {
  (void)state;
  const char *path = fresh("segment_ro");
  rt_store *st = open_rw(path);
  rt_error err = {0};
  int64_t a = cust(st, "a"), seg;
  assert_int_equal(rt_store_segment_create(st, "s", "r", NULL, &seg, &err), 0);
  assert_int_equal(rt_store_segment_move(st, seg, a, 1, 5, &err), 0);
  assert_int_equal(rt_store_segment_evaluated(st, seg, 5, 1, 1, 0, &err), 0);
  rt_store_close(st);

  rt_store_config cfg = {.path = path, .read_only = 1};
  assert_int_equal(rt_store_open(&cfg, &st, &err), 0);
  int64_t id;
  assert_int_equal(rt_store_segment_create(st, "t", "r", NULL, &id, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "read-only"));
  assert_int_equal(rt_store_segment_update(st, seg, "r2", NULL, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "read-only"));
  assert_int_equal(rt_store_segment_move(st, seg, a, 0, 6, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "read-only"));
  assert_int_equal(rt_store_segment_evaluated(st, seg, 6, 0, 0, 1, &err), RT_EINVAL);
  assert_int_equal(rt_store_segment_delete(st, seg, &err), RT_EINVAL);
  rt_segment_info info;
  assert_int_equal(rt_store_segment_get(st, "s", &info, &err), 0);
  assert_string_equal(info.rule, "r");
  assert_int_equal(info.size, 1);
  rt_segment_info_free(&info);
  member_list m = {0};
  assert_int_equal(rt_store_scan_segment_members(st, seg, collect_member, &m, &err), 0);
  assert_int_equal(m.n, 1);
  seg_list l = {0};
  assert_int_equal(rt_store_scan_segments(st, collect_segment, &l, &err), 0);
  assert_int_equal(l.n, 1);
  assert_int_equal(count(st, "segment_events"), 1);
  rt_store_close(st);
}

/* ---- API keys ---- */

typedef struct key_list {
  int n;
  rt_key_info k[8];
} key_list;

static int collect_key(void *ctx, const rt_key_info *k) {
  key_list *l = ctx;
  if (l->n < 8)
    l->k[l->n++] = *k;
  return 0;
}

static int stop_keys(void *ctx, const rt_key_info *k) {
  (void)k;
  ++*(int *)ctx;
  return 7;
}

static int is_base62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Whether the bytes of a file contain s (the key must be in neither the database nor its WAL). */
static int file_contains(const char *path, const char *s) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return 0;
  size_t n = strlen(s), len = 0, cap = 1 << 16;
  char *buf = malloc(cap);
  assert_non_null(buf);
  size_t r;
  while ((r = fread(buf + len, 1, cap - len, f)) > 0) {
    len += r;
    if (len == cap) {
      cap *= 2;
      buf = realloc(buf, cap);
      assert_non_null(buf);
    }
  }
  fclose(f);
  int found = 0;
  for (size_t i = 0; !found && i + n <= len; i++)
    found = memcmp(buf + i, s, n) == 0;
  free(buf);
  return found;
}

/* Create keys of each scope, check the right one, a wrong one, a prefix of one; list them by
 * id; revoke (twice) and touch; the arguments the store refuses. */
static void test_keys(void **state) {
  (void)state;
  rt_store *st = open_rw(fresh("keys"));
  rt_error err = {0};
  char kw[RT_KEY_SIZE], kr[RT_KEY_SIZE], ka[RT_KEY_SIZE];
  int64_t w, r, a;
  assert_int_equal(rt_store_key_create(st, "ingest", "write", kw, sizeof kw, &w, &err), 0);
  assert_int_equal(rt_store_key_create(st, NULL, "read", kr, sizeof kr, &r, &err), 0);
  assert_int_equal(rt_store_key_create(st, "", "admin", ka, sizeof ka, &a, &err), 0);
  assert_true(w > 0 && r > w && a > r);
  assert_int_equal(count(st, "api_keys"), 3);
  /* "rk_" and 40 base62 characters, different every time */
  const char *keys[] = {kw, kr, ka};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(strlen(keys[i]), RT_KEY_LEN);
    assert_memory_equal(keys[i], "rk_", 3);
    for (int j = 3; j < RT_KEY_LEN; j++)
      assert_true(is_base62(keys[i][j]));
  }
  assert_string_not_equal(kw, kr);
  assert_string_not_equal(kr, ka);

  /* the right key: its row */
  rt_key_info k;
  int64_t t0 = (int64_t)time(NULL) * 1000;
  assert_int_equal(rt_store_key_check(st, kw, strlen(kw), &k, &err), 0);
  assert_int_equal(k.id, w);
  assert_string_equal(k.name, "ingest");
  assert_string_equal(k.scope, "write");
  assert_int_equal(strlen(k.prefix), RT_KEY_PREFIX_LEN);
  assert_memory_equal(k.prefix, kw, RT_KEY_PREFIX_LEN);
  assert_true(k.created_ms > t0 - 60000 && k.created_ms < t0 + 60000);
  assert_int_equal(k.revoked_ms, 0);
  assert_int_equal(k.last_used_ms, 0);
  assert_int_equal(rt_store_key_check(st, kr, strlen(kr), &k, &err), 0);
  assert_int_equal(k.id, r);
  assert_string_equal(k.scope, "read");
  assert_string_equal(k.name, "");
  assert_int_equal(rt_store_key_check(st, ka, strlen(ka), &k, &err), 0);
  assert_string_equal(k.scope, "admin");
  assert_string_equal(k.name, ""); /* "" is no name */
  /* len bytes count, not the NUL: a key inside a longer buffer (an HTTP header) */
  char header[96];
  snprintf(header, sizeof header, "%s\r\nHost: x", kr);
  assert_int_equal(rt_store_key_check(st, header, RT_KEY_LEN, &k, &err), 0);
  assert_int_equal(k.id, r);

  /* wrong keys: one character changed, cut short, longer, empty; the message never shows it */
  char bad[RT_KEY_SIZE + 1];
  memcpy(bad, kw, RT_KEY_SIZE);
  bad[20] = bad[20] == 'x' ? 'y' : 'x';
  memset(&k, 0x55, sizeof k);
  assert_int_equal(rt_store_key_check(st, bad, strlen(bad), &k, &err), RT_ENOTFOUND);
  assert_int_equal(k.id, 0); /* zeroed on failure */
  assert_null(strstr(err.msg, bad));
  assert_null(strstr(err.msg, "rk_"));
  assert_int_equal(rt_store_key_check(st, kw, RT_KEY_LEN - 1, &k, &err), RT_ENOTFOUND);
  snprintf(bad, sizeof bad, "%sx", kw);
  assert_int_equal(rt_store_key_check(st, bad, strlen(bad), &k, &err), RT_ENOTFOUND);
  assert_int_equal(rt_store_key_check(st, "", 0, &k, &err), RT_ENOTFOUND);
  assert_int_equal(rt_store_key_check(st, NULL, 0, &k, &err), RT_ENOTFOUND);

  /* the list, by id */
  key_list l = {0};
  assert_int_equal(rt_store_scan_keys(st, collect_key, &l, &err), 0);
  assert_int_equal(l.n, 3);
  assert_int_equal(l.k[0].id, w);
  assert_string_equal(l.k[0].scope, "write");
  assert_string_equal(l.k[0].name, "ingest");
  assert_int_equal(l.k[1].id, r);
  assert_memory_equal(l.k[1].prefix, kr, RT_KEY_PREFIX_LEN);
  assert_int_equal(l.k[2].id, a);
  int calls = 0;
  assert_int_equal(rt_store_scan_keys(st, stop_keys, &calls, &err), 7);
  assert_int_equal(calls, 1);

  /* revoked: not found any more, listed with the time; revoking again keeps that time */
  assert_int_equal(rt_store_key_revoke(st, r, &err), 0);
  assert_int_equal(rt_store_key_check(st, kr, strlen(kr), &k, &err), RT_ENOTFOUND);
  assert_int_equal(rt_store_key_check(st, kw, strlen(kw), &k, &err), 0);
  memset(&l, 0, sizeof l);
  assert_int_equal(rt_store_scan_keys(st, collect_key, &l, &err), 0);
  assert_int_equal(l.n, 3);
  assert_int_equal(l.k[0].revoked_ms, 0);
  int64_t revoked = l.k[1].revoked_ms;
  assert_true(revoked > t0 - 60000);
  assert_int_equal(l.k[2].revoked_ms, 0);
  struct timespec ms = {0, 3000000};
  nanosleep(&ms, NULL);
  assert_int_equal(rt_store_key_revoke(st, r, &err), 0);
  memset(&l, 0, sizeof l);
  assert_int_equal(rt_store_scan_keys(st, collect_key, &l, &err), 0);
  assert_int_equal(l.k[1].revoked_ms, revoked);
  assert_int_equal(rt_store_key_revoke(st, 999, &err), RT_ENOTFOUND);
  assert_non_null(strstr(err.msg, "999"));

  /* touch records the last use */
  assert_int_equal(rt_store_key_touch(st, w, 123456, &err), 0);
  assert_int_equal(rt_store_key_check(st, kw, strlen(kw), &k, &err), 0);
  assert_int_equal(k.last_used_ms, 123456);
  assert_int_equal(rt_store_key_touch(st, 999, 1, &err), RT_ENOTFOUND);

  /* refused arguments store nothing */
  char small[RT_KEY_SIZE - 1];
  int64_t id = 5;
  assert_int_equal(rt_store_key_create(st, NULL, "write", small, sizeof small, &id, &err),
                   RT_EINVAL);
  assert_int_equal(id, 0);
  assert_int_equal(small[0], '\0');
  assert_int_equal(rt_store_key_create(st, NULL, "root", kw, sizeof kw, &id, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "root"));
  assert_int_equal(rt_store_key_create(st, NULL, "", kw, sizeof kw, &id, &err), RT_EINVAL);
  assert_int_equal(rt_store_key_create(st, NULL, "Write", kw, sizeof kw, &id, &err), RT_EINVAL);
  assert_int_equal(rt_store_key_create(st, NULL, NULL, kw, sizeof kw, &id, &err), RT_EINVAL);
  char longname[RT_KEY_NAME_MAX + 2];
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_int_equal(rt_store_key_create(st, longname, "read", kw, sizeof kw, &id, &err),
                   RT_EINVAL);
  longname[RT_KEY_NAME_MAX] = '\0'; /* the longest name fits */
  assert_int_equal(rt_store_key_create(st, longname, "read", kw, sizeof kw, &id, &err), 0);
  assert_int_equal(rt_store_key_check(st, kw, strlen(kw), &k, &err), 0);
  assert_string_equal(k.name, longname);
  assert_int_equal(rt_store_key_create(st, NULL, "read", NULL, 64, &id, &err), RT_EINVAL);
  assert_int_equal(rt_store_key_create(st, NULL, "read", kw, sizeof kw, NULL, &err), RT_EINVAL);
  assert_int_equal(rt_store_key_check(st, kw, strlen(kw), NULL, &err), RT_EINVAL);
  assert_int_equal(rt_store_key_check(st, NULL, 5, &k, &err), RT_EINVAL);
  assert_int_equal(rt_store_key_revoke(st, 0, &err), RT_EINVAL);
  assert_int_equal(rt_store_key_touch(st, -1, 0, &err), RT_EINVAL);
  assert_int_equal(rt_store_scan_keys(st, NULL, NULL, &err), RT_EINVAL);
  assert_int_equal(count(st, "api_keys"), 4);
  rt_store_close(st);
}

/* Only the hash is stored: the key is in neither the database file nor its WAL, the hash
 * column is the hex SHA-256 of the whole key, and what a scan returns never holds the hash. */
static void test_key_storage(void **state) {
  (void)state;
  const char *path = fresh("key_storage");
  char wal[600];
  snprintf(wal, sizeof wal, "%s-wal", path);
  rt_store *st = open_rw(path);
  rt_error err = {0};
  char key[RT_KEY_SIZE];
  int64_t id;
  assert_int_equal(rt_store_key_create(st, "svc", "write", key, sizeof key, &id, &err), 0);
  assert_false(file_contains(path, key));
  assert_false(file_contains(wal, key)); /* still in the WAL: the store is open */
  uint8_t d[RT_SHA256_SIZE];
  char want[RT_SHA256_HEX_SIZE], got[128];
  rt_sha256(key, strlen(key), d);
  rt_sha256_hex(d, want);
  key_list l = {0};
  assert_int_equal(rt_store_scan_keys(st, collect_key, &l, &err), 0);
  assert_int_equal(l.n, 1);
  char head[9];
  memcpy(head, want, 8);
  head[8] = '\0';
  assert_null(strstr(l.k[0].name, head));
  assert_null(strstr(l.k[0].prefix, head));
  rt_store_close(st);
  assert_false(file_contains(path, key)); /* checkpointed */
  assert_false(file_contains(path, key + RT_KEY_PREFIX_LEN)); /* nor its secret part */
  assert_true(file_contains(path, want));
  assert_true(file_contains(path, l.k[0].prefix));
  sql_text(path, "SELECT hash FROM api_keys", got, sizeof got);
  assert_string_equal(got, want);
  sql_text(path, "SELECT prefix || ' ' || scope || ' ' || name FROM api_keys", got, sizeof got);
  char line[64];
  snprintf(line, sizeof line, "%.*s write svc", RT_KEY_PREFIX_LEN, key);
  assert_string_equal(got, line);
  /* the schema refuses a scope the store would never write */
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_not_equal(sqlite3_exec(db,
                                    "INSERT INTO api_keys(scope, prefix, hash, created_ms) "
                                    "VALUES ('root', 'rk_x', 'h', 1)",
                                    NULL, NULL, NULL),
                       SQLITE_OK);
  assert_int_not_equal(sqlite3_exec(db,
                                    "INSERT INTO api_keys(scope, prefix, hash, created_ms) "
                                    "SELECT 'read', 'rk_y', hash, 1 FROM api_keys",
                                    NULL, NULL, NULL),
                       SQLITE_OK); /* hash is unique */
  sqlite3_close(db);
}

/* Key writes are not customer data: the data version stays, alone or in a transaction, and a
 * rollback takes them back; a customer write beside them still counts once. */
static void test_key_data_version(void **state) {
  (void)state;
  const char *path = fresh("key_dv");
  rt_store *st = open_rw(path), *other = open_rw(path);
  rt_error err = {0};
  cust(st, "a");
  int64_t v0 = dv(st), id, id2;
  char key[RT_KEY_SIZE], key2[RT_KEY_SIZE];
  assert_int_equal(rt_store_key_create(st, "k", "read", key, sizeof key, &id, &err), 0);
  assert_int_equal(rt_store_key_touch(st, id, 5, &err), 0);
  assert_int_equal(rt_store_key_revoke(st, id, &err), 0);
  assert_int_equal(dv(st), v0);
  assert_int_equal(dv(other), v0);
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_key_create(st, NULL, "write", key2, sizeof key2, &id2, &err), 0);
  assert_int_equal(rt_store_key_touch(st, id2, 6, &err), 0);
  assert_int_equal(rt_store_commit(st, &err), 0);
  assert_int_equal(dv(other), v0);
  rt_key_info k;
  assert_int_equal(rt_store_key_check(other, key2, strlen(key2), &k, &err), 0);
  /* beside a customer write: one bump */
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_key_create(st, NULL, "admin", key, sizeof key, &id, &err), 0);
  cust(st, "b");
  assert_int_equal(rt_store_commit(st, &err), 0);
  assert_int_equal(dv(other), v0 + 1);
  /* rolled back: the key is gone */
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_key_create(st, NULL, "read", key, sizeof key, &id, &err), 0);
  rt_store_rollback(st);
  assert_int_equal(rt_store_key_check(st, key, strlen(key), &k, &err), RT_ENOTFOUND);
  assert_int_equal(count(st, "api_keys"), 3);
  assert_int_equal(dv(st), v0 + 1);
  rt_store_close(other);
  rt_store_close(st);
}

/* A read-only store checks and lists keys but refuses to create, revoke or touch one. */
static void test_key_read_only(void **state) {
  (void)state;
  const char *path = fresh("key_ro");
  rt_store *st = open_rw(path);
  rt_error err = {0};
  char key[RT_KEY_SIZE];
  int64_t id;
  assert_int_equal(rt_store_key_create(st, "k", "read", key, sizeof key, &id, &err), 0);
  rt_store_close(st);

  rt_store_config cfg = {.path = path, .read_only = 1};
  assert_int_equal(rt_store_open(&cfg, &st, &err), 0);
  rt_key_info k;
  assert_int_equal(rt_store_key_check(st, key, strlen(key), &k, &err), 0);
  assert_int_equal(k.id, id);
  key_list l = {0};
  assert_int_equal(rt_store_scan_keys(st, collect_key, &l, &err), 0);
  assert_int_equal(l.n, 1);
  char k2[RT_KEY_SIZE];
  int64_t id2 = 9;
  assert_int_equal(rt_store_key_create(st, NULL, "admin", k2, sizeof k2, &id2, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "read-only"));
  assert_int_equal(id2, 0);
  assert_string_equal(k2, "");
  assert_int_equal(rt_store_key_revoke(st, id, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "read-only"));
  assert_int_equal(rt_store_key_touch(st, id, 1, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "read-only"));
  assert_int_equal(rt_store_key_check(st, key, strlen(key), &k, &err), 0); /* still valid */
  assert_int_equal(count(st, "api_keys"), 1);
  rt_store_close(st);
}

/* A store at schema version 3 (before API keys) migrates to version 4 on a read-write open,
 * keeping its segments and customers; a read-only open refuses to migrate it. */
static void test_key_migration(void **state) {
  (void)state;
  const char *path = fresh("key_migrate");
  rt_store *st = open_rw(path);
  rt_error err = {0};
  int64_t a = cust(st, "kept"), seg;
  assert_int_equal(rt_store_segment_create(st, "s", "r", NULL, &seg, &err), 0);
  rt_store_close(st);
  downgrade(path, 3);
  char buf[64];
  sql_text(path, "SELECT max(version) FROM schema_migrations", buf, sizeof buf);
  assert_string_equal(buf, "3");

  rt_store_config cfg = {.path = path, .read_only = 1};
  assert_int_equal(rt_store_open(&cfg, &st, &err), RT_ESTORE);
  assert_null(st);
  assert_non_null(strstr(err.msg, "version 3"));

  st = open_rw(path);
  assert_true(rt_store_latest_schema_version() >= 4);
  assert_int_equal(rt_store_schema_version(st), rt_store_latest_schema_version());
  assert_int_equal(count(st, "schema_migrations"), rt_store_latest_schema_version());
  assert_int_equal(count(st, "api_keys"), 0);
  int64_t id;
  assert_int_equal(rt_store_customer_find(st, "kept", 4, &id, &err), 0);
  assert_int_equal(id, a);
  rt_segment_info info;
  assert_int_equal(rt_store_segment_get(st, "s", &info, &err), 0);
  assert_int_equal(info.id, seg);
  rt_segment_info_free(&info);
  char key[RT_KEY_SIZE];
  assert_int_equal(rt_store_key_create(st, NULL, "write", key, sizeof key, &id, &err), 0);
  rt_key_info k;
  assert_int_equal(rt_store_key_check(st, key, strlen(key), &k, &err), 0);
  rt_store_close(st);
  sql_text(path, "SELECT name FROM schema_migrations WHERE version = 4", buf, sizeof buf);
  assert_string_equal(buf, "api keys");
}

/* ---- customer indexes, timeline, merges ---- */

/* The plan SQLite chooses for statement name of the backend, its details joined. */
static void query_plan(const char *path, const char *name, char *out, size_t n) {
  const char *sql = rt__store_sqlite_sql(name);
  assert_non_null(sql);
  char *explain = malloc(strlen(sql) + 32);
  assert_non_null(explain);
  sprintf(explain, "EXPLAIN QUERY PLAN %s", sql);
  sqlite3 *db;
  sqlite3_stmt *s;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, explain, -1, &s, NULL), SQLITE_OK);
  size_t len = 0;
  out[0] = '\0';
  while (sqlite3_step(s) == SQLITE_ROW)
    len += (size_t)snprintf(out + len, len < n ? n - len : 0, "%s\n",
                            (const char *)sqlite3_column_text(s, 3));
  sqlite3_finalize(s);
  sqlite3_close(db);
  free(explain);
}

/* The customer reads use the (customer_id, time) indexes of migration 5 and never scan a
 * table; a store at version 4 gains them on open. */
static void test_customer_indexes(void **state) {
  (void)state;
  const char *path = fresh("customer_indexes");
  rt_store *st = open_rw(path);
  int64_t a = cust(st, "kept");
  rt_store_close(st);
  downgrade(path, 4);
  st = open_rw(path);
  assert_int_equal(rt_store_schema_version(st), rt_store_latest_schema_version());
  int64_t id;
  assert_int_equal(rt_store_customer_find(st, "kept", 4, &id, NULL), 0);
  assert_int_equal(id, a);
  rt_store_close(st);
  char plan[4096];
  query_plan(path, "TIMELINE", plan, sizeof plan);
  assert_non_null(strstr(plan, "USING INDEX events_customer (customer_id=? AND ts_ms<?)"));
  assert_non_null(strstr(plan, "USING INDEX orders_customer (customer_id=? AND ts_ms<?)"));
  assert_non_null(strstr(plan, "USING INDEX refunds_customer (customer_id=? AND ts_ms<?)"));
  assert_non_null(
      strstr(plan, "USING INDEX subscriptions_customer (customer_id=? AND started_ms<?)"));
  /* each kind is read along its index (only the few rows of the page are then sorted) */
  static const char *const tables[] = {"events", "orders", "refunds", "subscriptions"};
  for (int i = 0; i < 4; i++) {
    char scan[32];
    snprintf(scan, sizeof scan, "SCAN %s", tables[i]);
    assert_null(strstr(plan, scan));
  }
  query_plan(path, "CUST_ORDERS", plan, sizeof plan);
  assert_non_null(strstr(plan, "orders_customer (customer_id=?)"));
  assert_non_null(strstr(plan, "refunds_customer (customer_id=?)"));
  assert_non_null(strstr(plan, "events_customer (customer_id=?)"));
  assert_null(strstr(plan, "SCAN orders"));
  query_plan(path, "CUST_VIEW", plan, sizeof plan);
  assert_null(strstr(plan, "SCAN customers"));
}

typedef struct tl_item {
  char kind[16];
  int64_t id, ts;
  int rank;
} tl_item;

typedef struct tl_seen {
  tl_item items[64];
  int n;
  int stop_after; /* 0: never stop */
} tl_seen;

static int rank_of(const char *kind) {
  return strcmp(kind, "event") == 0          ? 0
         : strcmp(kind, "subscription") == 0 ? 1
         : strcmp(kind, "order") == 0        ? 2
                                             : 3;
}

static int on_item(void *ctx, const rt_timeline_item *it) {
  tl_seen *t = ctx;
  assert_true(t->n < 64);
  tl_item *x = &t->items[t->n++];
  snprintf(x->kind, sizeof x->kind, "%s", it->kind);
  x->id = it->id;
  x->ts = it->ts_ms;
  x->rank = rank_of(it->kind);
  return t->stop_after && t->n == t->stop_after ? 7 : 0;
}

/* Reads the whole timeline of customer c in pages of limit items, each cursor going through
 * its token as the server would hand it out. */
static void read_paged(rt_store *st, int64_t c, size_t limit, tl_seen *out) {
  rt_error err = {0};
  rt_timeline_cursor cur, *after = NULL;
  memset(out, 0, sizeof *out);
  for (int pages = 0;; pages++) {
    assert_true(pages < 64);
    int before = out->n;
    rt_timeline_cursor next;
    assert_int_equal(rt_store_customer_timeline(st, c, after, limit, on_item, out, &next, &err),
                     0);
    assert_true((size_t)(out->n - before) <= limit);
    if (!next.more)
      break;
    assert_int_equal((size_t)(out->n - before), limit);
    char token[RT_TIMELINE_TOKEN_SIZE];
    assert_int_equal(rt_timeline_cursor_format(&next, token, sizeof token), 0);
    assert_int_equal(strlen(token), RT_TIMELINE_TOKEN_LEN);
    assert_int_equal(rt_timeline_cursor_parse(token, strlen(token), &cur, &err), 0);
    assert_true(cur.ts_ms == next.ts_ms && cur.rank == next.rank && cur.id == next.id);
    after = &cur;
  }
}

typedef struct tl_fields {
  int refunds;
  int subs;
  int events;
} tl_fields;

static int check_fields(void *ctx, const rt_timeline_item *it) {
  tl_fields *f = ctx;
  if (strcmp(it->kind, "refund") == 0) {
    assert_string_equal(it->order_ext_id, "o1");
    assert_string_equal(it->reason, "damaged");
    assert_string_equal(it->currency, "USD");
    assert_true(it->amount == 300);
    f->refunds++;
  } else if (strcmp(it->kind, "subscription") == 0) {
    assert_string_equal(it->plan, "pro");
    assert_true(it->canceled_ms == 900 && it->amount == 1000);
    f->subs++;
  } else if (strcmp(it->kind, "event") == 0 && it->ts_ms == 50) {
    assert_string_equal(it->type, "login");
    assert_string_equal(it->props, "{\"via\":\"app\"}");
    assert_string_equal(it->ext_id, "e-early");
    assert_null(it->currency);
    f->events++;
  }
  return 0;
}

/* Items with equal times in every kind: every page size visits each item once, in the one
 * order (time, rank, id) descending. */
static void test_timeline(void **state) {
  (void)state;
  rt_store *st = open_rw(fresh("timeline"));
  rt_error err = {0};
  int64_t c = cust(st, "c"), other = cust(st, "other");
  int status;
  char key[32];
  int total = 0;
  assert_int_equal(rt_store_begin(st, &err), 0);
  for (int i = 0; i < 4; i++) { /* four events at 100, one earlier, one later */
    snprintf(key, sizeof key, "e%d", i);
    rt_event_rec e = {c, "page", 100, NULL, key, 0, 0};
    assert_int_equal(rt_store_event_put(st, &e, &status, &err), 0);
    total++;
  }
  rt_event_rec e1 = {c, "login", 50, "{\"via\":\"app\"}", "e-early", 0, 0};
  rt_event_rec e2 = {c, "logout", 200, NULL, NULL, 0, 0};
  rt_event_rec e3 = {other, "login", 100, NULL, "e-other", 0, 0};
  assert_int_equal(rt_store_event_put(st, &e1, &status, &err), 0);
  assert_int_equal(rt_store_event_put(st, &e2, &status, &err), 0);
  assert_int_equal(rt_store_event_put(st, &e3, &status, &err), 0);
  total += 2;
  for (int i = 0; i < 3; i++) {
    snprintf(key, sizeof key, "o%d", i);
    rt_order_rec o = {c, key, 100, 500 + i, "USD", 0};
    assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), 0);
    total++;
  }
  rt_order_rec oo = {other, "o-other", 100, 1, "USD", 0};
  assert_int_equal(rt_store_order_put(st, &oo, NULL, 0, &status, &err), 0);
  for (int i = 0; i < 2; i++) {
    snprintf(key, sizeof key, "r%d", i);
    rt_refund_rec r = {c, key, "o1", 100, 300, "USD", "damaged", 0};
    assert_int_equal(rt_store_refund_put(st, &r, &status, &err), 0);
    total++;
  }
  rt_subscription_rec sub = {c, "s1", "pro", 100, 0, 900, 1000, "USD", "month", 0};
  assert_int_equal(rt_store_subscription_put(st, &sub, &status, &err), 0);
  total++;
  assert_int_equal(rt_store_commit(st, &err), 0);

  tl_seen all;
  read_paged(st, c, RT_TIMELINE_LIMIT_MAX, &all);
  assert_int_equal(all.n, total);
  assert_string_equal(all.items[0].kind, "event"); /* the logout at 200 */
  assert_true(all.items[0].ts == 200);
  assert_string_equal(all.items[1].kind, "refund"); /* highest rank at 100 */
  assert_true(all.items[total - 1].ts == 50);
  for (int i = 1; i < all.n; i++) {
    const tl_item *p = &all.items[i - 1], *q = &all.items[i];
    int descending = p->ts > q->ts || (p->ts == q->ts && p->rank > q->rank) ||
                     (p->ts == q->ts && p->rank == q->rank && p->id > q->id);
    assert_true(descending);
  }
  for (size_t limit = 1; limit <= (size_t)total + 1; limit++) {
    tl_seen paged;
    read_paged(st, c, limit, &paged);
    assert_int_equal(paged.n, total);
    for (int i = 0; i < total; i++) {
      assert_string_equal(paged.items[i].kind, all.items[i].kind);
      assert_true(paged.items[i].id == all.items[i].id);
    }
  }
  tl_fields f = {0};
  assert_int_equal(rt_store_customer_timeline(st, c, NULL, 100, check_fields, &f, NULL, &err), 0);
  assert_true(f.refunds == 2 && f.subs == 1 && f.events == 1);

  /* a callback that stops: its value, and a cursor after the last item it saw */
  tl_seen part = {.stop_after = 3};
  rt_timeline_cursor next;
  assert_int_equal(rt_store_customer_timeline(st, c, NULL, 10, on_item, &part, &next, &err), 7);
  assert_int_equal(part.n, 3);
  assert_true(next.more == 1 && next.id == part.items[2].id && next.rank == part.items[2].rank);
  tl_seen rest = {0};
  assert_int_equal(rt_store_customer_timeline(st, c, &next, 100, on_item, &rest, &next, &err), 0);
  assert_int_equal(rest.n, total - 3);
  assert_int_equal(next.more, 0);

  /* an empty timeline, and the errors */
  int64_t empty = cust(st, "empty");
  tl_seen none = {0};
  assert_int_equal(rt_store_customer_timeline(st, empty, NULL, 5, on_item, &none, &next, &err), 0);
  assert_true(none.n == 0 && next.more == 0);
  assert_int_equal(rt_store_customer_timeline(st, 9999, NULL, 5, on_item, &none, &next, &err),
                   RT_ENOTFOUND);
  assert_int_equal(rt_store_customer_timeline(st, c, NULL, 0, on_item, &none, &next, &err),
                   RT_EINVAL);
  assert_int_equal(rt_store_customer_timeline(st, c, NULL, RT_TIMELINE_LIMIT_MAX + 1, on_item,
                                              &none, &next, &err),
                   RT_EINVAL);
  assert_int_equal(rt_store_customer_timeline(st, c, NULL, 5, NULL, &none, &next, &err),
                   RT_EINVAL);
  rt_timeline_cursor bad = {.ts_ms = 1, .rank = 5, .id = 1};
  assert_int_equal(rt_store_customer_timeline(st, c, &bad, 5, on_item, &none, &next, &err),
                   RT_EINVAL);
  rt_store_close(st);
}

static void test_timeline_cursor(void **state) {
  (void)state;
  rt_error err = {0};
  char token[RT_TIMELINE_TOKEN_SIZE];
  rt_timeline_cursor c = {.ts_ms = -86400000, .rank = 3, .id = 42}, back;
  assert_int_equal(rt_timeline_cursor_format(&c, token, sizeof token), 0);
  assert_string_equal(token, "fffffffffad9a4003000000000000002a");
  assert_int_equal(rt_timeline_cursor_parse(token, strlen(token), &back, &err), 0);
  assert_true(back.ts_ms == c.ts_ms && back.rank == 3 && back.id == 42 && back.more == 1);
  c = (rt_timeline_cursor){.ts_ms = INT64_MAX, .rank = 0, .id = INT64_MAX};
  assert_int_equal(rt_timeline_cursor_format(&c, token, sizeof token), 0);
  assert_int_equal(rt_timeline_cursor_parse(token, strlen(token), &back, &err), 0);
  assert_true(back.ts_ms == INT64_MAX && back.rank == 0 && back.id == INT64_MAX);
  /* format refuses a short buffer and a cursor it could not have made */
  assert_int_equal(rt_timeline_cursor_format(&c, token, RT_TIMELINE_TOKEN_LEN), RT_EINVAL);
  c.id = 0;
  assert_int_equal(rt_timeline_cursor_format(&c, token, sizeof token), RT_EINVAL);
  assert_int_equal(rt_timeline_cursor_format(NULL, token, sizeof token), RT_EINVAL);

  static const char *const bad[] = {
      "",
      "0000000000000064",                    /* short */
      "00000000000000642000000000000000a0",  /* long */
      "00000000000000642000000000000000A",   /* upper case */
      "0000000000000064200000000000000 0a",  /* a space */
      "000000000000006g2000000000000000a",   /* not hex */
      "00000000000000644000000000000000a",   /* rank 4 */
      "00000000000000642000000000000000-",   /* sign */
      "000000000000006420000000000000000",   /* id 0 */
      "00000000000000642800000000000000a",   /* id past INT64_MAX */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rt_error_clear(&err);
    back.id = 99;
    assert_int_equal(rt_timeline_cursor_parse(bad[i], strlen(bad[i]), &back, &err), RT_EINVAL);
    assert_true(err.code == RT_EINVAL && err.msg[0]);
    assert_true(back.id == 0);
  }
  assert_int_equal(rt_timeline_cursor_parse(NULL, 0, &back, &err), RT_EINVAL);
  assert_int_equal(rt_timeline_cursor_parse("x", 1, NULL, &err), RT_EINVAL);
  /* a length shorter than the string: only len bytes count */
  const char *ok = "00000000000000642000000000000000aEXTRA";
  assert_int_equal(rt_timeline_cursor_parse(ok, RT_TIMELINE_TOKEN_LEN, &back, &err), 0);
  assert_true(back.ts_ms == 100 && back.rank == 2 && back.id == 10);
}

/* Everything rt_store_customer_get shows of a customer, in one comparable string. */
static void describe(rt_store *st, int64_t id, char *out, size_t n) {
  rt_customer_view v;
  assert_int_equal(rt_store_customer_get(st, NULL, id, &v, NULL), 0);
  size_t len = (size_t)snprintf(
      out, n, "%s created=%lld merged=%lld/%lld attrs=%s orders=%lld refunds=%lld events=%lld "
              "first=%lld last=%lld revenue=%s ids=",
      v.ext_id, (long long)v.created_ms, (long long)v.merged_into, (long long)v.merge_id,
      v.attrs ? v.attrs : "-", (long long)v.orders, (long long)v.refunds, (long long)v.events,
      (long long)v.first_order_ms, (long long)v.last_order_ms, v.revenue ? v.revenue : "-");
  for (size_t i = 0; i < v.nidentities && len < n; i++)
    len += (size_t)snprintf(out + len, n - len, "%s:%s:%s ", v.identities[i].kind,
                            v.identities[i].value, v.identities[i].reason);
  rt_customer_view_free(&v);
}

static int count_cust(void *ctx, int64_t id, const char *ext_id, int64_t created_ms) {
  (void)id;
  (void)ext_id;
  (void)created_ms;
  ++*(int *)ctx;
  return 0;
}

/* Two customers with a bit of everything: a (ext "a") and b (ext "b"). */
static void two_customers(rt_store *st, int64_t *a, int64_t *b) {
  rt_error err = {0};
  int status, created;
  int64_t other;
  assert_int_equal(rt_store_customer_upsert(st, "a", 1, 500, a, &created, &err), 0);
  assert_int_equal(rt_store_customer_upsert(st, "b", 1, 800, b, &created, &err), 0);
  assert_int_equal(
      rt_store_customer_set_attrs(st, *a, "{\"plan\":\"free\",\"x\":{\"p\":1},\"a_only\":true}",
                                  &err),
      0);
  assert_int_equal(rt_store_customer_set_attrs(st, *b, "{\"plan\":\"pro\",\"x\":{\"q\":2}}", &err),
                   0);
  assert_int_equal(rt_store_identity_link(st, "email", "a@x.io", *a, "import", &other, &err), 0);
  assert_int_equal(rt_store_identity_link(st, "phone", "+1555", *a, "crm", &other, &err), 0);
  assert_int_equal(rt_store_identity_link(st, "email", "b@x.io", *b, "import", &other, &err), 0);
  rt_order_rec o[] = {{*a, "oa1", 1000, 100, "USD", 0}, {*a, "oa2", 3000, 50, "EUR", 0},
                      {*b, "ob1", 2000, 70, "USD", 0}};
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(rt_store_order_put(st, &o[i], NULL, 0, &status, &err), 0);
  rt_refund_rec r = {*a, "ra1", "oa1", 1500, 20, "USD", NULL, 0};
  assert_int_equal(rt_store_refund_put(st, &r, &status, &err), 0);
  rt_event_rec e[] = {{*a, "login", 1200, NULL, "ea1", 0, 0}, {*b, "login", 1300, NULL, "eb1", 0, 0}};
  for (size_t i = 0; i < 2; i++)
    assert_int_equal(rt_store_event_put(st, &e[i], &status, &err), 0);
  rt_subscription_rec sub = {*a, "sa1", "pro", 900, 0, 0, 1000, "USD", "month", 0};
  assert_int_equal(rt_store_subscription_put(st, &sub, &status, &err), 0);
}

/* A merge moves everything and an unmerge puts back exactly the earlier state. */
static void test_merge_unmerge(void **state) {
  (void)state;
  const char *path = fresh("merge");
  rt_store *st = open_rw(path);
  rt_error err = {0};
  int64_t a, b, id, mid;
  two_customers(st, &a, &b);
  char a0[1024], b0[1024], now[1024];
  describe(st, a, a0, sizeof a0);
  describe(st, b, b0, sizeof b0);
  int64_t v0 = dv(st);

  assert_int_equal(rt_store_customer_merge(st, a, b, "same email", 5000, &mid, &err), 0);
  assert_true(mid > 0);
  assert_int_equal(dv(st), v0 + 1);
  rt_customer_view v;
  assert_int_equal(rt_store_customer_get(st, "a", 0, &v, &err), 0);
  assert_true(v.id == a && v.merged_into == b && v.merge_id == mid);
  assert_true(v.orders == 0 && v.refunds == 0 && v.events == 0 && v.nidentities == 0);
  assert_non_null(strstr(v.attrs, "a_only")); /* a keeps its own attributes */
  rt_customer_view_free(&v);
  assert_int_equal(rt_store_customer_get(st, NULL, b, &v, &err), 0);
  assert_true(v.merged_into == 0 && v.merge_id == 0);
  assert_true(v.orders == 3 && v.refunds == 1 && v.events == 2 && v.nidentities == 3);
  assert_true(v.created_ms == 500 && v.first_order_ms == 1000 && v.last_order_ms == 3000);
  assert_non_null(strstr(v.revenue, "\"USD\":170"));
  /* b wins the conflict, nested objects merge, a's other keys come along */
  char buf[256];
  snprintf(buf, sizeof buf, "%s", v.attrs);
  rt_customer_view_free(&v);
  sql_text(path, "SELECT json_extract(attrs, '$.plan') || json_extract(attrs, '$.x.p') || "
                 "json_extract(attrs, '$.x.q') || json_extract(attrs, '$.a_only') "
                 "FROM customers WHERE ext_id = 'b'",
           buf, sizeof buf);
  assert_string_equal(buf, "pro121");
  /* a's ext_id and identities lead to b; scans see one customer */
  assert_int_equal(rt_store_customer_find(st, "a", 1, &id, &err), 0);
  assert_true(id == b);
  assert_int_equal(rt_store_identity_find(st, "phone", "+1555", &id, &err), 0);
  assert_true(id == b);
  int created = -1;
  assert_int_equal(rt_store_customer_upsert(st, "a", 1, 100, &id, &created, &err), 0);
  assert_true(id == b && created == 0);
  int n = 0;
  assert_int_equal(rt_store_scan_customers(st, count_cust, &n, &err), 0);
  assert_int_equal(n, 1);
  tl_seen tl;
  read_paged(st, b, 3, &tl);
  assert_int_equal(tl.n, 7);
  read_paged(st, a, 3, &tl);
  assert_int_equal(tl.n, 0);
  sql_text(path, "SELECT count(*) || ' ' || (SELECT count(*) FROM merge_identities) FROM "
                 "merge_rows",
           buf, sizeof buf);
  assert_string_equal(buf, "5 2");
  /* the upsert above moved b's created_ms back to 100: unmerge keeps that newer fact */
  sql_exec(path, "UPDATE customers SET created_ms = 500 WHERE ext_id = 'b'");

  /* b gets an order after the merge: it stays with b */
  int status;
  rt_order_rec later = {b, "ob2", 6000, 5, "USD", 0};
  assert_int_equal(rt_store_order_put(st, &later, NULL, 0, &status, &err), 0);
  int64_t v1 = dv(st);
  assert_int_equal(rt_store_customer_unmerge(st, mid, 7000, &err), 0);
  assert_int_equal(dv(st), v1 + 1);
  describe(st, a, now, sizeof now);
  assert_string_equal(now, a0);
  assert_int_equal(rt_store_customer_get(st, NULL, b, &v, &err), 0);
  assert_true(v.orders == 2 && v.last_order_ms == 6000);
  rt_customer_view_free(&v);
  sql_exec(path, "DELETE FROM order_lines; DELETE FROM orders WHERE ext_id = 'ob2'");
  describe(st, b, now, sizeof now);
  assert_string_equal(now, b0);
  assert_int_equal(rt_store_customer_find(st, "a", 1, &id, &err), 0);
  assert_true(id == a);
  n = 0;
  assert_int_equal(rt_store_scan_customers(st, count_cust, &n, &err), 0);
  assert_int_equal(n, 2);
  sql_text(path, "SELECT from_id || '>' || into_id || ' ' || reason || ' ' || merged_ms || ' ' "
                 "|| unmerged_ms FROM merges",
           buf, sizeof buf);
  char expect[64];
  snprintf(expect, sizeof expect, "%lld>%lld same email 5000 7000", (long long)a, (long long)b);
  assert_string_equal(buf, expect);
  assert_int_equal(rt_store_customer_unmerge(st, mid, 8000, &err), RT_EINVAL);

  /* merged again; b's attributes change meanwhile: unmerge takes back only what a brought */
  assert_int_equal(rt_store_customer_merge(st, a, b, NULL, 9000, &mid, &err), 0);
  assert_int_equal(rt_store_customer_set_attrs(st, b, "{\"seen\":1}", &err), 0);
  assert_int_equal(rt_store_customer_unmerge(st, mid, 9500, &err), 0);
  sql_text(path, "SELECT attrs FROM customers WHERE ext_id = 'b'", buf, sizeof buf);
  assert_string_equal(buf, "{\"plan\":\"pro\",\"x\":{\"q\":2},\"seen\":1}");
  describe(st, a, now, sizeof now);
  assert_string_equal(now, a0);
  rt_store_close(st);
}

static void test_merge_errors(void **state) {
  (void)state;
  const char *path = fresh("merge_errors");
  rt_store *st = open_rw(path);
  rt_error err = {0};
  int64_t a, b, m1, m2, id;
  two_customers(st, &a, &b);
  int64_t c = cust(st, "c");
  int64_t v0 = dv(st);
  assert_int_equal(rt_store_customer_merge(st, a, a, "x", 1, &m1, &err), RT_EINVAL);
  assert_int_equal(rt_store_customer_merge(st, a, 999, "x", 1, &m1, &err), RT_ENOTFOUND);
  assert_int_equal(rt_store_customer_merge(st, 999, a, "x", 1, &m1, &err), RT_ENOTFOUND);
  assert_int_equal(rt_store_customer_merge(st, 0, a, "x", 1, &m1, &err), RT_EINVAL);
  assert_int_equal(rt_store_customer_merge(NULL, b, a, "x", 1, &m1, &err), RT_EINVAL);
  assert_int_equal(rt_store_customer_unmerge(st, 1, 1, &err), RT_ENOTFOUND);
  assert_int_equal(rt_store_customer_unmerge(st, 0, 1, &err), RT_EINVAL);
  assert_int_equal(dv(st), v0);

  /* a chain: a into b, then b into c */
  assert_int_equal(rt_store_customer_merge(st, a, b, "email", 10, &m1, &err), 0);
  assert_int_equal(rt_store_customer_merge(st, a, c, "again", 11, &m2, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "already merged"));
  assert_int_equal(rt_store_customer_merge(st, c, a, "into merged", 11, &m2, &err), RT_EINVAL);
  assert_int_equal(rt_store_customer_merge(st, b, c, "phone", 12, &m2, &err), 0);
  assert_int_equal(rt_store_customer_find(st, "a", 1, &id, &err), 0);
  assert_true(id == c);
  rt_customer_view v;
  assert_int_equal(rt_store_customer_get(st, NULL, c, &v, &err), 0);
  assert_true(v.orders == 3 && v.nidentities == 3);
  rt_customer_view_free(&v);
  assert_int_equal(rt_store_customer_unmerge(st, m1, 13, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "undo that merge first"));
  assert_int_equal(rt_store_customer_unmerge(st, m2, 14, &err), 0);
  assert_int_equal(rt_store_customer_unmerge(st, m1, 15, &err), 0);
  assert_int_equal(rt_store_customer_get(st, NULL, c, &v, &err), 0);
  assert_true(v.orders == 0 && v.nidentities == 0);
  rt_customer_view_free(&v);
  assert_int_equal(rt_store_customer_get(st, NULL, a, &v, &err), 0);
  assert_true(v.orders == 2 && v.nidentities == 2 && v.merged_into == 0);
  rt_customer_view_free(&v);

  /* a failed merge inside a transaction leaves it usable; read-only refuses */
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_customer_merge(st, a, 999, NULL, 1, &m1, &err), RT_ENOTFOUND);
  assert_int_equal(m1, 0);
  assert_int_equal(rt_store_customer_merge(st, a, c, NULL, 1, &m1, &err), 0);
  rt_store_rollback(st);
  assert_int_equal(rt_store_customer_find(st, "a", 1, &id, &err), 0);
  assert_true(id == a);
  rt_store_close(st);
  rt_store_config cfg = {.path = path, .read_only = 1};
  assert_int_equal(rt_store_open(&cfg, &st, &err), 0);
  assert_int_equal(rt_store_customer_merge(st, a, b, NULL, 1, &m1, &err), RT_EINVAL);
  assert_int_equal(rt_store_customer_unmerge(st, 1, 1, &err), RT_EINVAL);
  rt_store_close(st);
}

static void test_durability(void **state) {
  (void)state;
  const char *path = fresh("durable");
  rt_store *st = open_rw(path);
  rt_error err = {0};
  assert_int_equal(rt_store_begin(st, &err), 0);
  int64_t a = cust(st, "kept");
  rt_order_rec o = {.customer = a, .ext_id = "O1", .ts_ms = 1, .amount = 10, .currency = "USD"};
  int status;
  assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), 0);
  assert_int_equal(rt_store_commit(st, &err), 0);
  /* an uncommitted transaction when the store closes */
  assert_int_equal(rt_store_begin(st, &err), 0);
  cust(st, "lost");
  o.ext_id = "O2";
  assert_int_equal(rt_store_order_put(st, &o, NULL, 0, &status, &err), 0);
  rt_store_close(st);

  st = open_rw(path);
  int64_t id;
  assert_int_equal(rt_store_customer_find(st, "kept", 4, &id, &err), 0);
  assert_int_equal(id, a);
  assert_int_equal(rt_store_customer_find(st, "lost", 4, &id, &err), RT_ENOTFOUND);
  assert_int_equal(count(st, "orders"), 1);
  /* also an uncommitted bulk load: its buffered rows and dropped indexes are gone */
  int active;
  rt_store_close(st);
  path = fresh("durable_bulk");
  st = open_rw(path);
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_bulk_begin(st, &active, &err), 0);
  assert_int_equal(active, 1);
  assert_int_equal(rt_store_customer_insert(st, "x", 1, 0, &id, &err), 0);
  rt_store_close(st);
  st = open_rw(path);
  assert_int_equal(count(st, "customers"), 0);
  rt_store_close(st);
  char buf[64];
  sql_text(path,
           "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'orders_ext_id'",
           buf, sizeof buf);
  assert_string_equal(buf, "1");
}

/* ---- exchange rates ---- */

static int rate_put(rt_store *st, const char *base, const char *cur, int64_t day, double rate,
                    const char *source, int *status) {
  rt_rate_rec r = {.day = day, .base = base, .currency = cur, .rate = rate, .source = source};
  rt_error err = {0};
  return rt_store_rate_put(st, &r, status, &err);
}

/* The rates as "BASE/CUR@DAY=RATE(SOURCE)" lines, in scan order. */
typedef struct rate_list {
  char text[2048];
  size_t len;
  int stop_after; /* stop the scan after this many rows (0: never) */
  int rows;
} rate_list;

static int on_rate(void *ctx, const rt_rate_rec *r) {
  rate_list *l = ctx;
  l->len += (size_t)snprintf(l->text + l->len, sizeof l->text - l->len, "%s/%s@%lld=%.15g(%s)\n",
                             r->base, r->currency, (long long)r->day, r->rate,
                             r->source ? r->source : "-");
  l->rows++;
  return l->stop_after && l->rows >= l->stop_after ? 42 : 0;
}

static const char *rates_text(rt_store *st, rate_list *l) {
  memset(l, 0, sizeof *l);
  rt_error err = {0};
  assert_int_equal(rt_store_scan_rates(st, on_rate, l, &err), 0);
  return l->text;
}

static void test_rates(void **state) {
  (void)state;
  rt_store *st = open_rw(fresh("rates"));
  int status = -1;
  rate_list l;
  assert_string_equal(rates_text(st, &l), "");
  assert_int_equal(count(st, "exchange_rates"), 0);
  /* stored out of order, scanned by base, currency and day */
  assert_int_equal(rate_put(st, "EUR", "USD", 19727, 1.0921, "a.csv", &status), 0);
  assert_int_equal(status, RT_PUT_NEW);
  assert_int_equal(rate_put(st, "EUR", "JPY", 19727, 158.08, "a.csv", &status), 0);
  assert_int_equal(rate_put(st, "EUR", "USD", 19724, 1.0956, NULL, &status), 0);
  assert_int_equal(rate_put(st, "USD", "ARS", 19724, 808.45, "b.csv", &status), 0);
  assert_int_equal(status, RT_PUT_NEW);
  assert_int_equal(count(st, "exchange_rates"), 4);
  assert_string_equal(rates_text(st, &l), "EUR/JPY@19727=158.08(a.csv)\n"
                                          "EUR/USD@19724=1.0956(-)\n"
                                          "EUR/USD@19727=1.0921(a.csv)\n"
                                          "USD/ARS@19724=808.45(b.csv)\n");
  /* the same value again, from anywhere: nothing written, the first source kept */
  assert_int_equal(rate_put(st, "EUR", "USD", 19727, 1.0921, "copy.csv", &status), 0);
  assert_int_equal(status, RT_PUT_DUPLICATE);
  /* another value for the key replaces the stored one, with its source */
  assert_int_equal(rate_put(st, "EUR", "JPY", 19727, 158.1, "fix.csv", &status), 0);
  assert_int_equal(status, RT_PUT_MERGED);
  assert_int_equal(count(st, "exchange_rates"), 4);
  assert_string_equal(rates_text(st, &l), "EUR/JPY@19727=158.1(fix.csv)\n"
                                          "EUR/USD@19724=1.0956(-)\n"
                                          "EUR/USD@19727=1.0921(a.csv)\n"
                                          "USD/ARS@19724=808.45(b.csv)\n");
  /* a callback's stop value comes back as is */
  memset(&l, 0, sizeof l);
  l.stop_after = 2;
  assert_int_equal(rt_store_scan_rates(st, on_rate, &l, NULL), 42);
  assert_int_equal(l.rows, 2);
  /* rolled back: gone */
  rt_error err = {0};
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rate_put(st, "EUR", "GBP", 19727, 0.86, NULL, &status), 0);
  rt_store_rollback(st);
  assert_int_equal(count(st, "exchange_rates"), 4);
  rt_store_close(st);
}

static void test_rate_errors(void **state) {
  (void)state;
  const char *path = fresh("rate_errors");
  rt_store *st = open_rw(path);
  int status = -1;
  rt_error err = {0};
  rt_rate_rec r = {.day = 0, .base = "EUR", .currency = "USD", .rate = 1.1};
  assert_int_equal(rt_store_rate_put(NULL, &r, &status, &err), RT_EINVAL);
  assert_int_equal(rt_store_rate_put(st, NULL, &status, &err), RT_EINVAL);
  static const char *const bad_codes[] = {"usd", "US", "USDX", "U$D", ""};
  for (size_t i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++) {
    assert_int_equal(rate_put(st, "EUR", bad_codes[i], 0, 1.1, NULL, &status), RT_EINVAL);
    assert_int_equal(status, 0);
    assert_int_equal(rate_put(st, bad_codes[i], "EUR", 0, 1.1, NULL, &status), RT_EINVAL);
  }
  r.currency = NULL;
  assert_int_equal(rt_store_rate_put(st, &r, &status, &err), RT_EINVAL);
  assert_int_equal(rate_put(st, "EUR", "EUR", 0, 1, NULL, &status), RT_EINVAL);
  const double bad_rates[] = {0, -1.5, NAN, INFINITY};
  for (size_t i = 0; i < sizeof bad_rates / sizeof bad_rates[0]; i++)
    assert_int_equal(rate_put(st, "EUR", "USD", 0, bad_rates[i], NULL, &status), RT_EINVAL);
  /* years 1..9999 */
  assert_int_equal(rate_put(st, "EUR", "USD", -719162, 1.1, NULL, &status), 0);
  assert_int_equal(rate_put(st, "EUR", "USD", 2932896, 1.1, NULL, &status), 0);
  assert_int_equal(rate_put(st, "EUR", "USD", -719163, 1.1, NULL, &status), RT_EINVAL);
  assert_int_equal(rate_put(st, "EUR", "USD", 2932897, 1.1, NULL, &status), RT_EINVAL);
  assert_int_equal(count(st, "exchange_rates"), 2);
  assert_int_equal(rt_store_scan_rates(st, NULL, NULL, &err), RT_EINVAL);
  rt_store_close(st);
  /* a read-only store scans but does not write */
  rt_store_config cfg = {.path = path, .read_only = 1};
  assert_int_equal(rt_store_open(&cfg, &st, &err), 0);
  r = (rt_rate_rec){.day = 0, .base = "EUR", .currency = "GBP", .rate = 0.8};
  assert_int_equal(rt_store_rate_put(st, &r, &status, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "read-only"));
  rate_list l;
  rates_text(st, &l);
  assert_int_equal(l.rows, 2);
  rt_store_close(st);
}

/* Rates are data the model depends on: a change bumps the data version (seen by every
 * connection), putting the same values again does not. */
static void test_rate_data_version(void **state) {
  (void)state;
  const char *path = fresh("rate_dv");
  rt_store *st = open_rw(path), *other = open_rw(path);
  rt_error err = {0};
  int status;
  int64_t v0 = dv(st);
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rate_put(st, "EUR", "USD", 10, 1.1, "f", &status), 0);
  assert_int_equal(rate_put(st, "EUR", "USD", 11, 1.2, "f", &status), 0);
  assert_int_equal(rt_store_commit(st, &err), 0);
  assert_int_equal(dv(other), v0 + 1);
  /* a re-import: the same values, nothing written, no bump */
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rate_put(st, "EUR", "USD", 10, 1.1, "f", &status), 0);
  assert_int_equal(status, RT_PUT_DUPLICATE);
  assert_int_equal(rate_put(st, "EUR", "USD", 11, 1.2, "g", &status), 0);
  assert_int_equal(status, RT_PUT_DUPLICATE);
  assert_int_equal(rt_store_commit(st, &err), 0);
  assert_int_equal(dv(other), v0 + 1);
  /* a corrected value: one bump (an implicit transaction) */
  assert_int_equal(rate_put(st, "EUR", "USD", 11, 1.25, "g", &status), 0);
  assert_int_equal(status, RT_PUT_MERGED);
  assert_int_equal(dv(other), v0 + 2);
  rt_store_close(other);
  rt_store_close(st);
}

/* A store of schema version 6 gets the rates table on its first read-write open. */
static void test_rate_migration(void **state) {
  (void)state;
  const char *path = fresh("rate_migrate");
  rt_store *st = open_rw(path);
  int64_t a = cust(st, "kept");
  rt_store_close(st);
  downgrade(path, 6);
  char buf[64];
  sql_text(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'exchange_rates'", buf,
           sizeof buf);
  assert_string_equal(buf, "0");
  st = open_rw(path);
  assert_true(rt_store_latest_schema_version() >= 7);
  assert_int_equal(rt_store_schema_version(st), rt_store_latest_schema_version());
  assert_int_equal(count(st, "exchange_rates"), 0);
  int64_t id;
  assert_int_equal(rt_store_customer_find(st, "kept", 4, &id, NULL), 0);
  assert_int_equal(id, a);
  int status;
  assert_int_equal(rate_put(st, "EUR", "USD", 1, 1.1, NULL, &status), 0);
  assert_int_equal(count(st, "exchange_rates"), 1);
  rt_store_close(st);
  sql_text(path, "SELECT name FROM schema_migrations WHERE version = 7", buf, sizeof buf);
  assert_string_equal(buf, "exchange rates");
  /* the table refuses a rate that is not positive even from outside the API */
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_not_equal(sqlite3_exec(db, "INSERT INTO exchange_rates VALUES ('EUR','GBP',1,0,NULL)",
                                    NULL, NULL, NULL),
                       SQLITE_OK);
  sqlite3_close(db);
}

static void test_count_and_args(void **state) {
  (void)state;
  rt_store *st = open_rw(fresh("args"));
  rt_error err = {0};
  int64_t n;
  assert_int_equal(rt_store_count(st, "customers; DROP TABLE orders", &n, &err), RT_EINVAL);
  assert_int_equal(rt_store_count(st, "meta", &n, &err), 0);
  assert_int_equal(n, 1); /* data_version */
  assert_int_equal(rt_store_open(NULL, NULL, &err), RT_EINVAL);
  assert_int_equal(rt_store_scan_orders(st, NULL, NULL, &err), RT_EINVAL);
  assert_int_equal(rt_store_import_finish(st, 999, 0, 0, 0, &err), RT_ENOTFOUND);
  rt_store_close(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_open_migrate_reopen),
      cmocka_unit_test(test_newer_schema_refused),
      cmocka_unit_test(test_open_errors),
      cmocka_unit_test(test_read_only),
      cmocka_unit_test(test_meta),
      cmocka_unit_test(test_customers),
      cmocka_unit_test(test_identities),
      cmocka_unit_test(test_orders),
      cmocka_unit_test(test_refunds),
      cmocka_unit_test(test_events),
      cmocka_unit_test(test_subscriptions),
      cmocka_unit_test(test_bulk),
      cmocka_unit_test(test_bulk_duplicates),
      cmocka_unit_test(test_deferred_indexes),
      cmocka_unit_test(test_rollback),
      cmocka_unit_test(test_data_version),
      cmocka_unit_test(test_scores),
      cmocka_unit_test(test_segments),
      cmocka_unit_test(test_segment_moves),
      cmocka_unit_test(test_segment_sizes),
      cmocka_unit_test(test_segment_events),
      cmocka_unit_test(test_segment_data_version),
      cmocka_unit_test(test_segment_migration),
      cmocka_unit_test(test_segment_read_only),
      cmocka_unit_test(test_customer_view),
      cmocka_unit_test(test_keys),
      cmocka_unit_test(test_key_storage),
      cmocka_unit_test(test_key_data_version),
      cmocka_unit_test(test_key_read_only),
      cmocka_unit_test(test_key_migration),
      cmocka_unit_test(test_customer_indexes),
      cmocka_unit_test(test_timeline),
      cmocka_unit_test(test_timeline_cursor),
      cmocka_unit_test(test_merge_unmerge),
      cmocka_unit_test(test_merge_errors),
      cmocka_unit_test(test_durability),
      cmocka_unit_test(test_rates),
      cmocka_unit_test(test_rate_errors),
      cmocka_unit_test(test_rate_data_version),
      cmocka_unit_test(test_rate_migration),
      cmocka_unit_test(test_count_and_args),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
