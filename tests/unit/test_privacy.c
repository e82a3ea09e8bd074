/* test_privacy.c - erasure and access export of one customer (store.h, docs/PRIVACY.md) on
 * real SQLite files: after an erasure no table of the schema holds a row of the customer or
 * of the customers merged into it (every table with a customer_id column is checked, so a
 * table added later is caught), the other customers are untouched, the log holds counts and
 * no id, the raw file and its WAL no longer contain the erased values, the ids go on the
 * suppression list as keyed hashes (new profiles under them are refused, unless the erasure
 * allowed a return or the id is lifted), bulk loading is not used past the list, and the
 * export holds every row of the person and nothing of anyone else. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <retain/alloc.h>
#include <retain/sha256.h>
#include <retain/store.h>

#include <dirent.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One integer from the file itself (a second connection), for what the API does not show. */
#include "store_fixture.h"

static int group_setup(void **state) {
  (void)state;
  return fixture_dir_make("privacy");
}

static int group_teardown(void **state) {
  (void)state;
  return fixture_dir_remove();
}

static int64_t sql_int(const char *path, const char *sql) {
  sqlite3 *db;
  sqlite3_stmt *s;
  int64_t v = -1;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
    fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  if (sqlite3_step(s) == SQLITE_ROW)
    v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

/* Rows that name one of ids (a SQL list "(1,2)") in any table of the schema: every table
 * with a customer_id column, customers by id and merges by either side. */
static int64_t rows_of(const char *path, const char *ids) {
  sqlite3 *db;
  sqlite3_stmt *s;
  int64_t total = 0;
  int tables = 0;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT m.name FROM sqlite_schema m WHERE m.type = 'table' "
                                      "AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) "
                                      "WHERE name = 'customer_id')",
                                      -1, &s, NULL),
                   SQLITE_OK);
  while (sqlite3_step(s) == SQLITE_ROW) {
    char q[512];
    snprintf(q, sizeof q, "SELECT count(*) FROM \"%s\" WHERE customer_id IN %s",
             (const char *)sqlite3_column_text(s, 0), ids);
    sqlite3_stmt *c;
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &c, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(c), SQLITE_ROW);
    total += sqlite3_column_int64(c, 0);
    sqlite3_finalize(c);
    tables++;
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  assert_true(tables >= 8); /* identities, events, orders, refunds, subscriptions, scores, ... */
  char q[512];
  snprintf(q, sizeof q, "SELECT (SELECT count(*) FROM customers WHERE id IN %s) + "
                        "(SELECT count(*) FROM merges WHERE from_id IN %s OR into_id IN %s)",
           ids, ids, ids);
  return total + sql_int(path, q);
}

/* Whether the bytes of s occur in the file (the database or its WAL). */
static int file_has(const char *path, const char *s) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return 0;
  size_t n = strlen(s), cap = 1 << 16, len = 0, got;
  char *buf = malloc(cap);
  int found = 0;
  while (buf && !found && (got = fread(buf + len, 1, cap - len, f)) > 0) {
    len += got;
    for (size_t i = 0; !found && i + n <= len; i++)
      found = !memcmp(buf + i, s, n);
    if (len >= n) { /* keep the last n-1 bytes: a match may straddle two reads */
      memmove(buf, buf + len - (n - 1), n - 1);
      len = n - 1;
    }
  }
  free(buf);
  fclose(f);
  return found;
}

static int store_has(const char *db, const char *s) {
  char wal[600];
  snprintf(wal, sizeof wal, "%s-wal", db);
  return file_has(db, s) || file_has(wal, s);
}

#define EMAIL "erase-me.7f3a@example.com"
#define EXT "customer-7f3a-erase"
#define ANON "anon-device-7f3a"

/* Two people: the one to erase (EXT, with a customer merged into it, every kind of row, a
 * score, a segment membership and its history, an undone merge with a third customer) and
 * one to keep. Returns the ids: [0] to erase, [1] merged into it, [2] kept, [3] the third. */
static void populate(rt_store *st, int64_t id[4]) {
  rt_error err = {0};
  assert_int_equal(rt_store_begin(st, &err), 0);
  id[0] = cust(st, EXT);
  id[1] = cust(st, "old-account-7f3a");
  id[2] = cust(st, "keep-me");
  id[3] = cust(st, "third");
  int64_t other;
  assert_int_equal(rt_store_customer_set_attrs(st, id[0], "{\"name\":\"Erin Erase\"}", &err), 0);
  assert_int_equal(rt_store_identity_link(st, "email", EMAIL, id[0], "test", &other, &err), 0);
  assert_int_equal(rt_store_identity_link(st, "anonymous", ANON, id[0], "test", &other, &err), 0);
  assert_int_equal(rt_store_identity_link(st, "email", "old.7f3a@example.com", id[1], "test",
                                          &other, &err),
                   0);
  assert_int_equal(rt_store_identity_link(st, "email", "keep@example.com", id[2], "test", &other,
                                          &err),
                   0);
  for (int c = 0; c < 4; c++) {
    char ext[64];
    int status;
    rt_line_rec lines[2] = {{"sku-1", "Secret thing 7f3a", 1, 500, 500},
                            {"sku-2", NULL, 2, 250, 500}};
    snprintf(ext, sizeof ext, "order-%d", c);
    rt_order_rec o = {id[c], ext, 86400000LL * (10 + c), 1000, "USD", 0};
    assert_int_equal(rt_store_order_put(st, &o, lines, 2, &status, &err), 0);
    snprintf(ext, sizeof ext, "event-%d", c);
    rt_event_rec e = {id[c], "login", 86400000LL * (11 + c), "{\"ip\":\"10.7.3.10\"}", ext, 0, 0};
    assert_int_equal(rt_store_event_put(st, &e, &status, &err), 0);
    snprintf(ext, sizeof ext, "refund-%d", c);
    rt_refund_rec r = {id[c], ext, "order-0", 86400000LL * 12, 100, "USD", "broken", 0};
    assert_int_equal(rt_store_refund_put(st, &r, &status, &err), 0);
    snprintf(ext, sizeof ext, "sub-%d", c);
    rt_subscription_rec sub = {id[c], ext, "pro", 86400000LL * 10, 0, 0, 900, "USD", "month", 0};
    assert_int_equal(rt_store_subscription_put(st, &sub, &status, &err), 0);
  }
  assert_int_equal(rt_store_commit(st, &err), 0);
  int64_t run, seg, merge;
  assert_int_equal(rt_store_score_run_begin(st, "churn", "{}", &run, &err), 0);
  for (int c = 0; c < 4; c++) {
    rt_score_rec sc = {id[c], 0.5, 1, 10, 0.25, "2024-01-01", "[\"quiet\"]"};
    assert_int_equal(rt_store_score_put(st, run, &sc, &err), 0);
  }
  assert_int_equal(rt_store_score_run_finish(st, run, 4, &err), 0);
  assert_int_equal(rt_store_segment_create(st, "vip", "orders >= 1", NULL, &seg, &err), 0);
  for (int c = 0; c < 3; c++)
    assert_int_equal(rt_store_segment_move(st, seg, id[c], 1, 5000, &err), 0);
  assert_int_equal(rt_store_segment_move(st, seg, id[1], 0, 6000, &err), 0);
  assert_int_equal(rt_store_segment_evaluated(st, seg, 6000, 2, 3, 1, &err), 0);
  /* an undone merge of the third customer into the one to erase: its record goes too */
  assert_int_equal(rt_store_customer_merge(st, id[3], id[0], "test", 7000, &merge, &err), 0);
  assert_int_equal(rt_store_customer_unmerge(st, merge, 8000, &err), 0);
  assert_int_equal(rt_store_customer_merge(st, id[1], id[0], "same person", 9000, &merge, &err),
                   0);
}

static int64_t removed(const rt_erasure *e, const char *table) {
  for (size_t i = 0; i < e->ntables; i++)
    if (!strcmp(e->removed[i].table, table))
      return e->removed[i].rows;
  fail_msg("the erasure does not report table %s", table);
  return -1;
}

static void test_erase_removes_every_row(void **state) {
  (void)state;
  const char *path = fresh("erase");
  rt_store *st = open_rw(path);
  int64_t id[4];
  populate(st, id);
  char gone[64], kept[64];
  snprintf(gone, sizeof gone, "(%lld,%lld)", (long long)id[0], (long long)id[1]);
  snprintf(kept, sizeof kept, "(%lld,%lld)", (long long)id[2], (long long)id[3]);
  int64_t before_kept = rows_of(path, kept), before_gone = rows_of(path, gone);
  assert_true(before_gone > 20);
  int64_t dv0, dv1;
  assert_int_equal(rt_store_data_version(st, &dv0, NULL), 0);
  rt_erasure e;
  rt_error err = {0};
  /* named by the merged-away customer: the whole person goes */
  assert_int_equal(rt_store_customer_erase(st, id[1], "test", 0, 123456, &e, &err), 0);
  assert_int_equal(e.customer, id[0]);
  assert_int_equal(e.customers, 2);
  assert_int_equal(rows_of(path, gone), 0);
  assert_int_equal(rows_of(path, kept), before_kept - 1); /* the third's undone merge record */
  assert_int_equal(removed(&e, "events"), 2);
  assert_int_equal(removed(&e, "orders"), 2);
  assert_int_equal(removed(&e, "order_lines"), 4);
  assert_int_equal(removed(&e, "identities"), 3);
  assert_int_equal(removed(&e, "customer_scores"), 2);
  assert_int_equal(removed(&e, "segment_members"), 1);
  assert_int_equal(removed(&e, "segment_events"), 3);
  assert_int_equal(removed(&e, "merges"), 2);
  assert_int_equal(removed(&e, "customers"), 2);
  assert_int_equal(e.suppressed, 3); /* both customer ids and the anonymous id */
  assert_int_equal(sql_int(path, "SELECT count(*) FROM order_lines"), 4); /* the others' */
  assert_int_equal(sql_int(path, "SELECT count(*) FROM merge_rows"), 0);
  assert_int_equal(sql_int(path, "SELECT count(*) FROM merge_identities"), 0);
  /* anonymous counts stay: the evaluation's size and the run's customers */
  assert_int_equal(sql_int(path, "SELECT size FROM segment_sizes"), 2);
  assert_int_equal(sql_int(path, "SELECT customers FROM model_runs"), 4);
  /* the log: when, who, counts; no id */
  assert_int_equal(sql_int(path, "SELECT count(*) FROM erasures WHERE erased_ms = 123456 AND "
                                 "requested_by = 'test' AND customers = 2 AND suppressed = 3 "
                                 "AND json_extract(removed, '$.events') = 2"),
                   1);
  assert_int_equal(sql_int(path, "SELECT count(*) FROM erasures WHERE removed LIKE '%7f3a%' OR "
                                 "requested_by LIKE '%7f3a%'"),
                   0);
  assert_int_equal(rt_store_data_version(st, &dv1, NULL), 0);
  assert_true(dv1 > dv0);
  /* a second time: nobody left */
  assert_int_equal(rt_store_customer_erase(st, id[0], "test", 0, 0, &e, &err), RT_ENOTFOUND);
  assert_int_equal(sql_int(path, "SELECT count(*) FROM erasures"), 1);
  rt_store_close(st);
}

/* The values erased are gone from the bytes of the file and its WAL, not just unlinked. */
static void test_erase_wipes_the_file(void **state) {
  (void)state;
  const char *path = fresh("wipe");
  rt_store *st = open_rw(path);
  int64_t id[4];
  populate(st, id);
  /* a value overwritten before the erasure: its old copy must not linger in free space */
  assert_int_equal(rt_store_customer_set_attrs(st, id[0], "{\"phone\":\"+15550107f3a\"}", NULL),
                   0);
  assert_int_equal(rt_store_customer_set_attrs(st, id[0], "{\"phone\":null}", NULL), 0);
  static const char *const secrets[] = {EMAIL,        EXT,
                                        ANON,         "Erin Erase",
                                        "old-account-7f3a", "+15550107f3a"};
  for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
    if (!store_has(path, secrets[i]))
      fail_msg("'%s' is not in the store's files: the check cannot see it", secrets[i]);
  assert_int_equal(rt_store_customer_erase(st, id[0], "test", 0, 1, NULL, NULL), 0);
  for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
    if (store_has(path, secrets[i]))
      fail_msg("'%s' is still in the store's files after the erasure", secrets[i]);
  assert_true(store_has(path, "keep@example.com"));
  rt_store_close(st);
  for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
    assert_false(store_has(path, secrets[i]));
}

/* Inside a caller's transaction (the server's writer) the wipe happens at its commit. */
static void test_erase_in_transaction(void **state) {
  (void)state;
  const char *path = fresh("txn");
  rt_store *st = open_rw(path);
  int64_t id[4];
  populate(st, id);
  rt_error err = {0};
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_customer_erase(st, id[0], "api key 1", 0, 1, NULL, &err), 0);
  rt_store_rollback(st); /* nothing happened */
  assert_true(store_has(path, EMAIL));
  assert_int_equal(sql_int(path, "SELECT count(*) FROM erasures"), 0);
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_customer_erase(st, id[0], "api key 1", 0, 1, NULL, &err), 0);
  assert_int_equal(rt_store_commit(st, &err), 0);
  assert_false(store_has(path, EMAIL));
  assert_int_equal(sql_int(path, "SELECT count(*) FROM erasures WHERE requested_by = "
                                 "'api key 1'"),
                   1);
  rt_store_close(st);
}

static void test_suppression(void **state) {
  (void)state;
  const char *path = fresh("suppress");
  rt_store *st = open_rw(path);
  int64_t id[4], nid;
  int created, erased;
  rt_error err = {0};
  populate(st, id);
  assert_int_equal(rt_store_erased(st, "customer", EXT, strlen(EXT), &erased, &err), 0);
  assert_int_equal(erased, 0);
  assert_int_equal(rt_store_customer_erase(st, id[0], "test", 0, 1, NULL, &err), 0);
  /* refused, creating nothing, with the reason */
  assert_int_equal(rt_store_customer_upsert(st, EXT, strlen(EXT), 1, &nid, &created, &err),
                   RT_EERASED);
  assert_non_null(strstr(err.msg, "erased"));
  assert_int_equal(rt_store_customer_upsert(st, "old-account-7f3a", 16, 1, &nid, &created, &err),
                   RT_EERASED);
  assert_int_equal(sql_int(path, "SELECT count(*) FROM customers"), 2);
  assert_int_equal(rt_store_erased(st, "customer", EXT, strlen(EXT), &erased, &err), 0);
  assert_int_equal(erased, 1);
  assert_int_equal(rt_store_erased(st, "anonymous", ANON, strlen(ANON), &erased, &err), 0);
  assert_int_equal(erased, 1);
  assert_int_equal(rt_store_erased(st, "customer", ANON, strlen(ANON), &erased, &err), 0);
  assert_int_equal(erased, 0); /* the kind is part of the key */
  assert_int_equal(rt_store_erased(st, "customer", "keep-me", 7, &erased, &err), 0);
  assert_int_equal(erased, 0);
  assert_int_equal(rt_store_erased(st, "email", EMAIL, strlen(EMAIL), &erased, &err), RT_EINVAL);
  /* the list holds keyed hashes: neither the id nor its plain SHA-256 */
  uint8_t d[RT_SHA256_SIZE];
  char plain[RT_SHA256_HEX_SIZE], q[256];
  rt_sha256(EXT, strlen(EXT), d);
  rt_sha256_hex(d, plain);
  snprintf(q, sizeof q, "SELECT count(*) FROM erased_ids WHERE hash = '%s' OR hash LIKE '%%7f3a%%'",
           plain);
  assert_int_equal(sql_int(path, q), 0);
  assert_int_equal(sql_int(path, "SELECT count(*) FROM erased_ids WHERE length(hash) = 64"), 3);
  /* lifted: the id may start a new, empty profile */
  int lifted;
  assert_int_equal(rt_store_erased_lift(st, "customer", EXT, strlen(EXT), &lifted, &err), 0);
  assert_int_equal(lifted, 1);
  assert_int_equal(rt_store_erased_lift(st, "customer", EXT, strlen(EXT), &lifted, &err), 0);
  assert_int_equal(lifted, 0);
  assert_int_equal(rt_store_customer_upsert(st, EXT, strlen(EXT), 1, &nid, &created, &err), 0);
  assert_int_equal(created, 1);
  /* with ALLOW_RETURN nothing goes on the list */
  int64_t suppressed_before = sql_int(path, "SELECT count(*) FROM erased_ids");
  rt_erasure e;
  assert_int_equal(rt_store_customer_erase(st, nid, "test", RT_ERASE_ALLOW_RETURN, 2, &e, &err),
                   0);
  assert_int_equal(e.suppressed, 0);
  assert_int_equal(sql_int(path, "SELECT count(*) FROM erased_ids"), suppressed_before);
  assert_int_equal(rt_store_customer_upsert(st, EXT, strlen(EXT), 1, &nid, &created, &err), 0);
  assert_int_equal(created, 1);
  rt_store_close(st);
}

/* An import into a store whose customers were all erased must not bulk load: bulk inserts
 * would not look at the suppression list. */
static void test_no_bulk_past_the_list(void **state) {
  (void)state;
  const char *path = fresh("bulk");
  rt_store *st = open_rw(path);
  rt_error err = {0};
  int64_t a = cust(st, "only-one"), nid;
  assert_int_equal(rt_store_customer_erase(st, a, "test", 0, 1, NULL, &err), 0);
  assert_int_equal(sql_int(path, "SELECT count(*) FROM customers"), 0);
  int active = -1, created;
  assert_int_equal(rt_store_begin(st, &err), 0);
  assert_int_equal(rt_store_bulk_begin(st, &active, &err), 0);
  assert_int_equal(active, 0);
  assert_int_equal(rt_store_customer_upsert(st, "only-one", 8, 1, &nid, &created, &err),
                   RT_EERASED);
  rt_store_rollback(st);
  rt_store_close(st);
}

typedef struct text_buf {
  char *p;
  size_t n, cap;
} text_buf;

static int append(void *ctx, const char *data, size_t n) {
  text_buf *b = ctx;
  if (b->n + n + 1 > b->cap) {
    b->cap = (b->n + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
    assert_non_null(b->p);
  }
  memcpy(b->p + b->n, data, n);
  b->n += n;
  b->p[b->n] = '\0';
  return 0;
}

static json_t *export_json(rt_store *st, int64_t id, text_buf *b) {
  rt_error err = {0};
  b->n = 0;
  if (rt_store_customer_export(st, id, append, b, &err))
    fail_msg("export: %s", err.msg);
  json_error_t je;
  json_t *j = json_loads(b->p, JSON_REJECT_DUPLICATES, &je);
  if (!j)
    fail_msg("the export is not JSON: line %d: %s", je.line, je.text);
  return j;
}

static size_t rows(json_t *j, const char *table) {
  json_t *a = json_object_get(j, table);
  if (!json_is_array(a))
    fail_msg("the export has no array '%s'", table);
  return json_array_size(a);
}

static void test_export(void **state) {
  (void)state;
  const char *path = fresh("export");
  rt_store *st = open_rw(path);
  int64_t id[4];
  populate(st, id);
  text_buf b = {0};
  /* by the merged-away customer's id too: the person is the survivor and what merged into it */
  for (int k = 0; k < 2; k++) {
    json_t *j = export_json(st, id[k], &b);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "customer"),
                                                          "customer_id")),
                        EXT);
    assert_int_equal(rows(j, "customers"), 2);
    assert_int_equal(rows(j, "identities"), 3);
    assert_int_equal(rows(j, "events"), 2);
    assert_int_equal(rows(j, "orders"), 2);
    assert_int_equal(rows(j, "order_lines"), 4);
    assert_int_equal(rows(j, "refunds"), 2);
    assert_int_equal(rows(j, "subscriptions"), 2);
    assert_int_equal(rows(j, "customer_scores"), 2);
    assert_int_equal(rows(j, "segment_members"), 1);
    assert_int_equal(rows(j, "segment_events"), 3);
    assert_int_equal(rows(j, "merges"), 2);
    assert_int_equal(rows(j, "merge_identities"), 1);
    json_t *ev = json_array_get(json_object_get(j, "events"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "props"), "ip")),
                        "10.7.3.10");
    assert_non_null(strstr(json_string_value(json_object_get(ev, "ts")), "T"));
    json_t *m = json_array_get(json_object_get(j, "segment_members"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "segment")), "vip");
    json_t *sc = json_array_get(json_object_get(j, "customer_scores"), 0);
    assert_string_equal(json_string_value(json_object_get(sc, "model")), "churn");
    assert_true(json_is_array(json_object_get(sc, "reasons")));
    json_t *c0 = json_array_get(json_object_get(j, "customers"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(c0, "attrs"), "name")),
                        "Erin Erase");
    json_decref(j);
    assert_non_null(strstr(b.p, EMAIL));
    assert_non_null(strstr(b.p, "Secret thing 7f3a"));
    assert_null(strstr(b.p, "keep@example.com")); /* nothing of anyone else */
    assert_null(strstr(b.p, "keep-me"));
  }
  /* the kept customer alone: no merges, empty arrays still there */
  json_t *j = export_json(st, id[2], &b);
  assert_int_equal(rows(j, "customers"), 1);
  assert_int_equal(rows(j, "merges"), 0);
  assert_null(strstr(b.p, EMAIL));
  json_decref(j);
  rt_error err = {0};
  b.n = 0;
  assert_int_equal(rt_store_customer_export(st, 999999, append, &b, &err), RT_ENOTFOUND);
  assert_int_equal(b.n, 0);
  free(b.p);
  rt_store_close(st);
}

/* A read-only store can be exported (the CLI opens it so). */
static void test_export_read_only(void **state) {
  (void)state;
  const char *path = fresh("export_ro");
  rt_store *st = open_rw(path);
  int64_t id[4];
  populate(st, id);
  rt_store_close(st);
  rt_store_config cfg = {.path = path, .read_only = 1};
  rt_error err = {0};
  assert_int_equal(rt_store_open(&cfg, &st, &err), 0);
  text_buf b = {0};
  json_t *j = export_json(st, id[0], &b);
  assert_int_equal(rows(j, "events"), 2);
  json_decref(j);
  free(b.p);
  assert_int_equal(rt_store_customer_erase(st, id[0], "test", 0, 1, NULL, &err), RT_EINVAL);
  rt_store_close(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_erase_removes_every_row),
      cmocka_unit_test(test_erase_wipes_the_file),
      cmocka_unit_test(test_erase_in_transaction),
      cmocka_unit_test(test_suppression),
      cmocka_unit_test(test_no_bulk_past_the_list),
      cmocka_unit_test(test_export),
      cmocka_unit_test(test_export_read_only),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
