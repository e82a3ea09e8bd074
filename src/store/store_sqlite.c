/* store_sqlite.c - the SQLite backend of the store (rt_store_ops, store_internal.h).
 *
 * One connection per store, opened in WAL mode with synchronous=FULL: a commit is durable when
 * it returns. Statements are prepared once (SQLITE_PREPARE_PERSISTENT) and reused. In bulk mode
 * (empty tables, unique indexes dropped) new customers, orders and order lines are given their
 * ids here and buffered, then written BATCH_ROWS at a time with one multi-row INSERT; every
 * operation that reads or writes those tables flushes the buffers first, so the connection
 * never sees a stale table. Schema and migrations: schema_sqlite.c; rules: docs/STORE.md. */
#include "store/attrs.h"
#include "store/schema_sqlite.h"
#include "store/store_internal.h"

#include <retain/alloc.h>
#include <retain/datetime.h>
#include <retain/error.h>

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"

/* Rows per multi-row INSERT in bulk mode. */
#ifndef BATCH_ROWS
#define BATCH_ROWS 50
#endif
/* Page cache: normal use, and while bulk loading (pages written once, at commit). */
#define CACHE_KIB_NORMAL 65536
#define CACHE_KIB_BULK 1048576
#define BUSY_TIMEOUT_MS 10000
/* Page size of new databases. Every commit writes each page it changed whole to the WAL (and
 * checksums it), and a small commit - the server's one track event - changes four or five:
 * with 64 KiB pages that was 300 KB per commit and half of the server's CPU time; 4 KiB pages
 * cut it to 20 KB (docs/PERFORMANCE.md, HTTP ingest) and bulk loads and scans measured the
 * same as with 64 KiB. */
#ifndef PAGE_SIZE
#define PAGE_SIZE 4096
#endif
#define RT__STR2(x) #x
#define RT__STR(x) RT__STR2(x)

/* Moves the rows of table t that merge ?1 recorded from customer ?2 to customer ?3 (a merge
 * and its undoing run the same statement with the customers swapped). */
#define MOVE_SQL(t)                                                                             \
  "UPDATE " t " SET customer_id = ?3 WHERE customer_id = ?2 AND id IN "                         \
  "(SELECT row_id FROM merge_rows WHERE merge_id = ?1 AND tbl = '" t "')"
/* One kind of a customer's timeline: rank, time, id, ext_id, two kind-specific texts, amount,
 * currency, canceled_ms; newest first after the cursor (?2, the kind's id bound idp), at most
 * ?7 rows, read backwards along the (customer_id, time) index. */
#define TIMELINE_PART(rank, ts, a, b, money, canceled, t, idp)                                   \
  "SELECT * FROM (SELECT " rank ", " ts ", id, ext_id, " a ", " b ", " money ", " canceled     \
  " FROM " t " WHERE customer_id = ?1 AND (" ts ", id) < (?2, " idp ") "                        \
  "ORDER BY " ts " DESC, id DESC LIMIT ?7)"

#define STATEMENTS(X)                                                                            \
  X(BEGIN, "BEGIN IMMEDIATE")                                                                    \
  X(COMMIT, "COMMIT")                                                                            \
  X(ROLLBACK, "ROLLBACK")                                                                        \
  X(READ_BEGIN, "BEGIN DEFERRED")                                                                \
  X(DV_GET, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'data_version'")                \
  X(DV_BUMP, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'data_version'")    \
  X(META_GET, "SELECT value FROM meta WHERE key = ?1")                                           \
  X(META_SET, "INSERT INTO meta(key, value) VALUES (?1, ?2) "                                    \
              "ON CONFLICT(key) DO UPDATE SET value = excluded.value")                           \
  X(CUST_FIND, "SELECT id, created_ms, merged_into FROM customers WHERE ext_id = ?1")            \
  X(CUST_BY_ID, "SELECT id, created_ms, merged_into, attrs FROM customers WHERE id = ?1")        \
  X(CUST_FIRST_SEEN, "UPDATE customers SET created_ms = ?2 WHERE id = ?1")                       \
  X(CUST_INSERT, "INSERT INTO customers(id, ext_id, created_ms) VALUES (?, ?, ?)")               \
  X(CUST_ATTRS, "UPDATE customers SET attrs = ?2 WHERE id = ?1")                                \
  X(IDENT_LINK, "INSERT INTO identities(kind, value, customer_id, reason, linked_ms) "           \
                "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(kind, value) DO NOTHING")               \
  X(IDENT_FIND, "SELECT customer_id FROM identities WHERE kind = ?1 AND value = ?2")             \
  X(ORDER_FIND, "SELECT id, import_id FROM orders WHERE ext_id = ?1")                            \
  X(ORDER_INSERT, "INSERT INTO orders(id, customer_id, ext_id, ts_ms, amount, currency, "        \
                  "import_id) VALUES (?, ?, ?, ?, ?, ?, ?)")                                     \
  X(ORDER_GROW, "UPDATE orders SET amount = amount + ?2 WHERE id = ?1")                          \
  X(LINE_INSERT, "INSERT INTO order_lines(order_id, product, name, quantity, unit_price, "       \
                 "amount) VALUES (?, ?, ?, ?, ?, ?)")                                            \
  X(REFUND_FIND, "SELECT id, import_id FROM refunds WHERE ext_id = ?1")                          \
  X(REFUND_INSERT, "INSERT INTO refunds(customer_id, ext_id, order_ext_id, ts_ms, amount, "      \
                   "currency, reason, import_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")       \
  X(REFUND_GROW, "UPDATE refunds SET amount = amount + ?2 WHERE id = ?1")                        \
  X(EVENT_INSERT, "INSERT INTO events(customer_id, type, ts_ms, props, ext_id, import_id) "      \
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(ext_id) DO NOTHING")              \
  X(SUB_FIND, "SELECT id FROM subscriptions WHERE ext_id = ?2")                                  \
  X(SUB_INSERT, "INSERT INTO subscriptions(customer_id, ext_id, plan, started_ms, renews_ms, "   \
                "canceled_ms, amount, currency, interval, import_id) "                           \
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                              \
  X(SUB_UPDATE, "UPDATE subscriptions SET customer_id = ?1, plan = ?3, started_ms = ?4, "        \
                "renews_ms = ?5, canceled_ms = ?6, amount = ?7, currency = ?8, interval = ?9, "  \
                "import_id = ?10 WHERE ext_id = ?2")                                             \
  X(SUB_GET, "SELECT customer_id, plan, started_ms, renews_ms, canceled_ms, amount, currency, "  \
             "interval, import_id FROM subscriptions WHERE ext_id = ?1")                         \
  X(IMPORT_BEGIN, "INSERT INTO imports(kind, path, digest, started_ms) VALUES (?1, ?2, ?3, ?4)") \
  X(RUN_BEGIN, "INSERT INTO model_runs(kind, created_ms, data_version, params) VALUES (?1, ?2, "   \
               "(SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'data_version'), ?3)")      \
  X(RUN_FINISH, "UPDATE model_runs SET customers = ?2 WHERE id = ?1")                            \
  X(SCORE_INSERT, "INSERT INTO customer_scores(run_id, customer_id, p_alive, "                   \
                  "expected_purchases, predicted_clv, expected_next_order, churn_probability, "  \
                  "reasons) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")                            \
  X(IMPORT_FINISH, "UPDATE imports SET finished_ms = ?2, rows = ?3, stored = ?4, skipped = ?5 "  \
                   "WHERE id = ?1")                                                              \
  X(BULK_NONEMPTY, "SELECT EXISTS (SELECT 1 FROM customers) OR EXISTS (SELECT 1 FROM "        \
                   "erased_ids), EXISTS (SELECT 1 FROM orders) "                                 \
                   "OR EXISTS (SELECT 1 FROM refunds)")                                          \
  X(SCAN_CUSTOMERS, "SELECT id, ext_id, created_ms FROM customers WHERE merged_into IS NULL")    \
  X(SCAN_ORDERS, "SELECT customer_id, ts_ms, amount, currency FROM orders")                      \
  X(SCAN_REFUNDS, "SELECT r.customer_id, r.ts_ms, r.amount, r.currency, o.ts_ms FROM refunds r" \
                  " LEFT JOIN orders o ON r.order_ext_id IS NOT NULL AND o.ext_id = r.order_ext_id")\
  X(SCAN_SUBS, "SELECT customer_id, started_ms, canceled_ms, amount, currency FROM subscriptions") \
  X(SCAN_EVENTS, "SELECT customer_id, type, ts_ms, props FROM events")                           \
  X(SCAN_ATTRS, "SELECT id, attrs FROM customers WHERE attrs IS NOT NULL "                       \
                "AND merged_into IS NULL")                                                       \
  X(RUN_GET, "SELECT id, kind, created_ms, data_version, customers, params FROM model_runs "      \
             "WHERE (?1 > 0 AND id = ?1) OR (?1 <= 0 AND (?2 IS NULL OR kind = ?2)) "            \
             "ORDER BY id DESC LIMIT 1")                                                         \
  X(SCAN_SCORES, "SELECT c.ext_id, s.customer_id, s.p_alive, s.expected_purchases, "             \
                 "s.predicted_clv, s.expected_next_order, s.churn_probability, s.reasons "       \
                 "FROM customer_scores s JOIN customers c ON c.id = s.customer_id "              \
                 "WHERE s.run_id = ?1 ORDER BY s.customer_id")                                  \
  X(SEG_INSERT, "INSERT INTO segments(name, rule, description, created_ms, updated_ms) "        \
                "VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT(name) DO NOTHING")                      \
  X(SEG_UPDATE, "UPDATE segments SET rule = ?2, description = coalesce(?3, description), "      \
                "updated_ms = ?4 WHERE id = ?1")                                                 \
  X(SEG_GET, "SELECT id, name, rule, description, created_ms, updated_ms, evaluated_ms, size, " \
             "as_of, settings FROM segments WHERE name = ?1")                                    \
  X(SEG_BASIS, "UPDATE segments SET as_of = ?2, settings = ?3 WHERE id = ?1")                    \
  X(SEG_DELETE, "DELETE FROM segments WHERE id = ?1")                                            \
  X(SEG_DELETE_MEMBERS, "DELETE FROM segment_members WHERE segment_id = ?1")                     \
  X(SEG_DELETE_EVENTS, "DELETE FROM segment_events WHERE segment_id = ?1")                       \
  X(SEG_DELETE_SIZES, "DELETE FROM segment_sizes WHERE segment_id = ?1")                         \
  X(SEG_MEMBER_STATE, "SELECT s.name, (SELECT ext_id FROM customers WHERE id = ?2), "            \
                      "EXISTS (SELECT 1 FROM segment_members WHERE segment_id = ?1 "             \
                      "AND customer_id = ?2) FROM segments s WHERE s.id = ?1")                   \
  X(SEG_ENTER, "INSERT INTO segment_members(segment_id, customer_id, entered_ms) "               \
               "VALUES (?1, ?2, ?3)")                                                            \
  X(SEG_LEAVE, "DELETE FROM segment_members WHERE segment_id = ?1 AND customer_id = ?2")         \
  X(SEG_EVENT_INSERT, "INSERT INTO segment_events(segment_id, customer_id, enter, at_ms) "       \
                      "VALUES (?1, ?2, ?3, ?4)")                                                 \
  X(SEG_EVALUATED, "UPDATE segments SET evaluated_ms = ?2, size = ?3 WHERE id = ?1")             \
  X(SEG_SIZE_INSERT, "INSERT INTO segment_sizes(segment_id, at_ms, size, entered, exited) "      \
                     "VALUES (?1, ?2, ?3, ?4, ?5)")                                              \
  X(SCAN_SEGMENTS, "SELECT id, name, rule, description, created_ms, updated_ms, evaluated_ms, "  \
                   "size, as_of, settings FROM segments ORDER BY name")                          \
  X(SCAN_SEG_MEMBERS, "SELECT m.customer_id, c.ext_id, m.entered_ms FROM segment_members m "     \
                      "JOIN customers c ON c.id = m.customer_id WHERE m.segment_id = ?1 "        \
                      "ORDER BY m.customer_id")                                                  \
  X(SCAN_SEG_SIZES, "SELECT at_ms, size, entered, exited FROM segment_sizes "                    \
                    "WHERE segment_id = ?1 ORDER BY at_ms, rowid")                               \
  X(SCAN_SEG_EVENTS, "SELECT s.name, e.customer_id, c.ext_id, e.enter, e.at_ms "                 \
                     "FROM segment_events e JOIN segments s ON s.id = e.segment_id "             \
                     "JOIN customers c ON c.id = e.customer_id "                                 \
                     "WHERE e.segment_id = ?1 AND e.at_ms >= ?2 ORDER BY e.at_ms, e.id")         \
  X(SCAN_ALL_SEG_EVENTS, "SELECT s.name, e.customer_id, c.ext_id, e.enter, e.at_ms "             \
                         "FROM segment_events e JOIN segments s ON s.id = e.segment_id "         \
                         "JOIN customers c ON c.id = e.customer_id "                             \
                         "WHERE e.at_ms >= ?2 ORDER BY e.at_ms, e.id")                   \
  X(KEY_INSERT, "INSERT INTO api_keys(name, scope, prefix, hash, created_ms) "                  \
                "VALUES (?1, ?2, ?3, ?4, ?5)")                                                   \
  X(KEY_CHECK, "SELECT id, name, scope, prefix, created_ms, revoked_ms, last_used_ms "           \
               "FROM api_keys WHERE hash = ?1 AND revoked_ms IS NULL")                           \
  X(KEY_REVOKE, "UPDATE api_keys SET revoked_ms = coalesce(revoked_ms, ?2) WHERE id = ?1")       \
  X(KEY_TOUCH, "UPDATE api_keys SET last_used_ms = ?2 WHERE id = ?1")                            \
  X(SCAN_KEYS, "SELECT id, name, scope, prefix, created_ms, revoked_ms, last_used_ms "           \
               "FROM api_keys ORDER BY id")                                                      \
  X(CUST_VIEW, "SELECT id, ext_id, created_ms, attrs, merged_into, (SELECT max(m.id) FROM "      \
               "merges m WHERE m.from_id = customers.id AND m.unmerged_ms IS NULL) FROM customers " \
               "WHERE (?1 IS NOT NULL AND ext_id = ?1) OR (?1 IS NULL AND id = ?2)")              \
  X(CUST_IDENTS, "SELECT kind, value, reason, linked_ms FROM identities WHERE customer_id = ?1 "   \
                 "ORDER BY linked_ms, rowid")                                                    \
  X(CUST_ORDERS, "SELECT count(*), coalesce(min(ts_ms), 0), coalesce(max(ts_ms), 0), "           \
                 "(SELECT json_group_object(currency, total) FROM (SELECT currency, "            \
                 "sum(amount) AS total FROM orders WHERE customer_id = ?1 GROUP BY currency)), " \
                 "(SELECT count(*) FROM refunds WHERE customer_id = ?1), "                       \
                 "(SELECT count(*) FROM events WHERE customer_id = ?1) "                         \
                 "FROM orders WHERE customer_id = ?1")                                           \
  X(TIMELINE, TIMELINE_PART("0", "ts_ms", "type", "props", "NULL, NULL", "NULL", "events", "?3") \
              " UNION ALL " TIMELINE_PART("1", "started_ms", "plan", "NULL", "amount, currency",  \
                                          "canceled_ms", "subscriptions", "?4")                  \
              " UNION ALL " TIMELINE_PART("2", "ts_ms", "NULL", "NULL", "amount, currency",       \
                                          "NULL", "orders", "?5")                                \
              " UNION ALL " TIMELINE_PART("3", "ts_ms", "order_ext_id", "reason",                 \
                                          "amount, currency", "NULL", "refunds", "?6")           \
              " ORDER BY 2 DESC, 1 DESC, 3 DESC LIMIT ?7")                                       \
  X(MERGE_INSERT, "INSERT INTO merges(from_id, into_id, reason, merged_ms, into_created_ms, "    \
                  "into_attrs, attrs_revert) SELECT ?1, id, ?3, ?4, created_ms, attrs, ?5 "      \
                  "FROM customers WHERE id = ?2")                                                \
  X(MERGE_ROWS, "INSERT INTO merge_rows(merge_id, tbl, row_id) "                                 \
                "SELECT ?1, 'events', id FROM events WHERE customer_id = ?2 UNION ALL "          \
                "SELECT ?1, 'orders', id FROM orders WHERE customer_id = ?2 UNION ALL "          \
                "SELECT ?1, 'refunds', id FROM refunds WHERE customer_id = ?2 UNION ALL "        \
                "SELECT ?1, 'subscriptions', id FROM subscriptions WHERE customer_id = ?2")      \
  X(MERGE_IDENTS, "INSERT INTO merge_identities(merge_id, kind, value) "                         \
                  "SELECT ?1, kind, value FROM identities WHERE customer_id = ?2")               \
  X(MOVE_EVENTS, MOVE_SQL("events"))                                                             \
  X(MOVE_ORDERS, MOVE_SQL("orders"))                                                             \
  X(MOVE_REFUNDS, MOVE_SQL("refunds"))                                                           \
  X(MOVE_SUBS, MOVE_SQL("subscriptions"))                                                        \
  X(MOVE_IDENTS, "UPDATE identities SET customer_id = ?3 WHERE customer_id = ?2 AND "            \
                 "(kind, value) IN (SELECT kind, value FROM merge_identities WHERE "             \
                 "merge_id = ?1)")                                                               \
  X(CUST_MERGED_INTO, "UPDATE customers SET merged_into = ?2 WHERE id = ?1")                     \
  X(MERGE_INTO, "UPDATE customers SET "                                                          \
                "created_ms = min(created_ms, (SELECT created_ms FROM customers WHERE id = ?2)), " \
                "attrs = coalesce(json_patch((SELECT attrs FROM customers WHERE id = ?2), "      \
                "coalesce(attrs, '{}')), attrs) WHERE id = ?1")                                  \
  X(MERGE_AFTER, "UPDATE merges SET merged_attrs = (SELECT attrs FROM customers "                \
                 "WHERE id = merges.into_id) WHERE id = ?1")                                     \
  X(UNMERGE_STATE, "SELECT m.from_id, m.into_id, m.unmerged_ms, c.merged_into FROM merges m "    \
                   "LEFT JOIN customers c ON c.id = m.into_id WHERE m.id = ?1")                  \
  X(UNMERGE_INTO, "UPDATE customers SET (attrs, created_ms) = (SELECT "                          \
                  "CASE WHEN customers.attrs IS m.merged_attrs THEN m.into_attrs "               \
                  "ELSE json_patch(coalesce(customers.attrs, '{}'), m.attrs_revert) END, "       \
                  "CASE WHEN customers.created_ms = min(m.into_created_ms, f.created_ms) "       \
                  "THEN m.into_created_ms ELSE customers.created_ms END "                        \
                  "FROM merges m JOIN customers f ON f.id = m.from_id WHERE m.id = ?1) "         \
                  "WHERE id = ?2")                                                               \
  X(UNMERGE_DONE, "UPDATE merges SET unmerged_ms = ?2 WHERE id = ?1")                           \
  X(RATE_INSERT, "INSERT INTO exchange_rates(base, currency, day, rate, source) "                \
                 "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(base, currency, day) DO NOTHING")      \
  X(RATE_REPLACE, "UPDATE exchange_rates SET rate = ?4, source = ?5 "                            \
                  "WHERE base = ?1 AND currency = ?2 AND day = ?3 AND rate <> ?4")               \
  X(SCAN_RATES, "SELECT base, currency, day, rate, source FROM exchange_rates "                  \
                "ORDER BY base, currency, day")

typedef enum stmt_id {
#define STMT_ENUM(name, sql) S_##name,
  STATEMENTS(STMT_ENUM)
#undef STMT_ENUM
      S__COUNT
} stmt_id;

static const char *const stmt_sql[S__COUNT] = {
#define STMT_SQL(name, sql) sql,
    STATEMENTS(STMT_SQL)
#undef STMT_SQL
};

static const char *const stmt_name[S__COUNT] = {
#define STMT_NAME(name, sql) #name,
    STATEMENTS(STMT_NAME)
#undef STMT_NAME
};

const char *rt__store_sqlite_sql(const char *name) {
  for (int i = 0; i < S__COUNT; i++)
    if (strcmp(stmt_name[i], name) == 0)
      return stmt_sql[i];
  return NULL;
}

/* ---- bulk buffers ----
 * A buffered row keeps its strings as offsets into its batch's pool (the pool may move while it
 * grows); they are bound SQLITE_STATIC at flush time and the pool is reset after. */

typedef struct str_ref {
  size_t off, len;
  int null;
} str_ref;

typedef struct cust_row {
  int64_t id, created_ms;
  str_ref ext;
} cust_row;

typedef struct order_row {
  int64_t id, customer, ts, amount, import_id;
  str_ref ext;
  char currency[4];
} order_row;

typedef struct line_row {
  int64_t order_id, unit_price, amount;
  double quantity;
  str_ref product, name;
} line_row;

typedef struct batch {
  int n;
  char *pool;
  size_t pool_len, pool_cap;
} batch;

enum { B_CUSTOMERS, B_ORDERS, B_LINES, B__COUNT };

struct rt_store_backend {
  sqlite3 *db;
  char *path;
  int read_only;
  int cache_kib; /* outside bulk loads */
  int version;
  /* the files under a writable store, by device and inode at open (see files_intact) */
  char *db_real, *wal_real; /* realpath()s; NULL: not watched (read-only, in memory) */
  struct stat db_st, wal_st;
  int wal_known;            /* wal_st is set (the -wal exists once a transaction has run) */
  rt_error broken;          /* code != 0: one of them changed; every write is refused */
  sqlite3_stmt *stmt[S__COUNT];
  sqlite3_stmt *count_stmt[RT_TABLE__COUNT];
  sqlite3_stmt *multi[B__COUNT]; /* the BATCH_ROWS-row INSERTs */
  /* transaction */
  int in_txn;
  int ddl;                  /* schema changed in this transaction (bulk mode) */
  int deferred;             /* the by-customer indexes are dropped until commit (see bulk_begin) */
  int64_t score_changes;    /* rows written for model runs: not data (see sq_commit) */
  int64_t segment_changes;  /* rows written for segments: not data either */
  int64_t key_changes;      /* rows written for API keys: not data either */
  sqlite3_int64 changes0;   /* sqlite3_total_changes64 at begin */
  /* bulk mode */
  int bulk;
  int64_t next_customer, next_order;
  batch b[B__COUNT];
  cust_row cust[BATCH_ROWS];
  order_row ord[BATCH_ROWS];
  line_row line[BATCH_ROWS];
  /* privacy (erasures) */
  sqlite3_stmt *priv[2]; /* the suppression list's lookup and lift */
  char secret[65];       /* the erasure secret once read ("": not yet, or none) */
};

/* ---- errors and statements ---- */

static int map_code(int x) {
  switch (x & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return RT_EBUSY;
  case SQLITE_NOMEM:
    return RT_ENOMEM;
  case SQLITE_CONSTRAINT:
    return RT_EEXISTS;
  case SQLITE_IOERR:
  case SQLITE_FULL:
  case SQLITE_CANTOPEN:
    return RT_EIO;
  default:
    return RT_ESTORE;
  }
}

/* Fills err from the connection's last error: "<what>: <sqlite message>". */
static int db_fail(rt_store_backend *b, rt_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int db_fail(rt_store_backend *b, rt_error *err, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  int x = sqlite3_extended_errcode(b->db);
  if (rt__sqlite_is_damage(x)) {
    char detail[600];
    snprintf(detail, sizeof detail, "%s: %s", what, sqlite3_errmsg(b->db));
    return rt__sqlite_damaged(b->path, x, detail, err);
  }
  if ((x & 0xff) == SQLITE_READONLY)
    return rt_error_set(err, RT_EIO,
                        "%s: %s: %s (the file or its directory cannot be written by this user; "
                        "commands that only read the store work)",
                        b->path, what, sqlite3_errmsg(b->db));
  return rt_error_set(err, map_code(x), "%s: %s: %s", b->path, what, sqlite3_errmsg(b->db));
}

static int prepare(rt_store_backend *b, const char *sql, sqlite3_stmt **out, rt_error *err) {
  if (sqlite3_prepare_v3(b->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK) {
    *out = NULL;
    return db_fail(b, err, "preparing '%.60s'", sql);
  }
  return 0;
}

/* The cached statement id, prepared on first use. */
static int get(rt_store_backend *b, stmt_id id, sqlite3_stmt **out, rt_error *err) {
  if (!b->stmt[id]) {
    int rc = prepare(b, stmt_sql[id], &b->stmt[id], err);
    if (rc)
      return rc;
  }
  *out = b->stmt[id];
  return 0;
}

/* Steps a statement that returns no row, then resets it. */
static int run(rt_store_backend *b, sqlite3_stmt *s, rt_error *err, const char *what) {
  int rc = sqlite3_step(s);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    int e = db_fail(b, err, "%s", what);
    sqlite3_reset(s);
    return e;
  }
  sqlite3_reset(s);
  return 0;
}

/* Steps a lookup: 1 with the row available (caller resets), 0 for no row (reset), <0 error. */
static int lookup(rt_store_backend *b, sqlite3_stmt *s, rt_error *err, const char *what) {
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    return 1;
  if (rc == SQLITE_DONE) {
    sqlite3_reset(s);
    return 0;
  }
  int e = db_fail(b, err, "%s", what);
  sqlite3_reset(s);
  return e;
}

static void bind_text(sqlite3_stmt *s, int i, const char *t, size_t n) {
  if (t)
    sqlite3_bind_text(s, i, t, (int)n, SQLITE_STATIC);
  else
    sqlite3_bind_null(s, i);
}

static void bind_str(sqlite3_stmt *s, int i, const char *t) {
  bind_text(s, i, t, t ? strlen(t) : 0);
}

/* 0 is "none" in the API and NULL in the database. */
static void bind_opt(sqlite3_stmt *s, int i, int64_t v) {
  if (v)
    sqlite3_bind_int64(s, i, v);
  else
    sqlite3_bind_null(s, i);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A write must run inside the transaction begin opened: SQLite rolls a transaction back by
 * itself after some errors (disk full, I/O), and later statements must not autocommit. */
static int in_txn(rt_store_backend *b, rt_error *err) {
  if (b->in_txn && !sqlite3_get_autocommit(b->db))
    return 0;
  return rt_error_set(err, RT_ESTORE,
                      "%s: the transaction was rolled back by an earlier error; roll back", b->path);
}

/* ---- row binders (one place for each table's columns; base is the parameter offset) ---- */

static void bind_customer(sqlite3_stmt *s, int base, int64_t id, const char *ext, size_t len,
                          int64_t created_ms) {
  bind_opt(s, base + 1, id); /* NULL: SQLite picks the next rowid */
  sqlite3_bind_text(s, base + 2, ext, (int)len, SQLITE_STATIC);
  sqlite3_bind_int64(s, base + 3, created_ms);
}

static void bind_order(sqlite3_stmt *s, int base, int64_t id, int64_t customer, const char *ext,
                       size_t len, int64_t ts, int64_t amount, const char *currency,
                       int64_t import_id) {
  bind_opt(s, base + 1, id);
  sqlite3_bind_int64(s, base + 2, customer);
  sqlite3_bind_text(s, base + 3, ext, (int)len, SQLITE_STATIC);
  sqlite3_bind_int64(s, base + 4, ts);
  sqlite3_bind_int64(s, base + 5, amount);
  sqlite3_bind_text(s, base + 6, currency, 3, SQLITE_STATIC);
  bind_opt(s, base + 7, import_id);
}

static void bind_line(sqlite3_stmt *s, int base, int64_t order_id, const char *product,
                      size_t product_len, const char *name, size_t name_len, double quantity,
                      int64_t unit_price, int64_t amount) {
  sqlite3_bind_int64(s, base + 1, order_id);
  bind_text(s, base + 2, product, product_len);
  bind_text(s, base + 3, name, name_len);
  sqlite3_bind_double(s, base + 4, quantity);
  sqlite3_bind_int64(s, base + 5, unit_price);
  sqlite3_bind_int64(s, base + 6, amount);
}

static const int batch_cols[B__COUNT] = {3, 7, 6};
static const char *const batch_head[B__COUNT] = {
    "INSERT INTO customers(id, ext_id, created_ms) VALUES ",
    "INSERT INTO orders(id, customer_id, ext_id, ts_ms, amount, currency, import_id) VALUES ",
    "INSERT INTO order_lines(order_id, product, name, quantity, unit_price, amount) VALUES ",
};
static const stmt_id batch_single[B__COUNT] = {S_CUST_INSERT, S_ORDER_INSERT, S_LINE_INSERT};

/* ---- bulk buffers ---- */

static int pool_add(batch *bt, const char *s, size_t n, str_ref *out) {
  out->null = s == NULL;
  out->off = bt->pool_len;
  out->len = s ? n : 0;
  if (!s)
    return 0;
  if (bt->pool_len + n > bt->pool_cap) {
    size_t cap = bt->pool_cap ? bt->pool_cap : 4096;
    while (cap < bt->pool_len + n)
      cap *= 2;
    char *p = rt_realloc(bt->pool, cap);
    if (!p)
      return RT_ENOMEM;
    bt->pool = p;
    bt->pool_cap = cap;
  }
  memcpy(bt->pool + bt->pool_len, s, n);
  bt->pool_len += n;
  return 0;
}

static const char *ref(const batch *bt, const str_ref *r) {
  return r->null ? NULL : bt->pool + r->off;
}

static void bind_buffered(rt_store_backend *b, int which, sqlite3_stmt *s, int base, int row) {
  const batch *bt = &b->b[which];
  switch (which) {
  case B_CUSTOMERS: {
    const cust_row *r = &b->cust[row];
    bind_customer(s, base, r->id, ref(bt, &r->ext), r->ext.len, r->created_ms);
    break;
  }
  case B_ORDERS: {
    const order_row *r = &b->ord[row];
    bind_order(s, base, r->id, r->customer, ref(bt, &r->ext), r->ext.len, r->ts, r->amount,
               r->currency, r->import_id);
    break;
  }
  default: {
    const line_row *r = &b->line[row];
    bind_line(s, base, r->order_id, ref(bt, &r->product), r->product.len, ref(bt, &r->name),
              r->name.len, r->quantity, r->unit_price, r->amount);
    break;
  }
  }
}

static int multi_stmt(rt_store_backend *b, int which, sqlite3_stmt **out, rt_error *err) {
  if (!b->multi[which]) {
    int cols = batch_cols[which];
    size_t head = strlen(batch_head[which]), row = (size_t)cols * 2 + 2;
    char *sql = rt_malloc(head + row * BATCH_ROWS + 1);
    if (!sql)
      return rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path);
    char *p = sql;
    memcpy(p, batch_head[which], head);
    p += head;
    for (int r = 0; r < BATCH_ROWS; r++) {
      *p++ = r ? ',' : ' ';
      *p++ = '(';
      for (int c = 0; c < cols; c++) {
        if (c)
          *p++ = ',';
        *p++ = '?';
      }
      *p++ = ')';
    }
    *p = '\0';
    int rc = prepare(b, sql, &b->multi[which], err);
    rt_free(sql);
    if (rc)
      return rc;
  }
  *out = b->multi[which];
  return 0;
}

static const char *const batch_what[B__COUNT] = {"inserting customers", "inserting orders",
                                                 "inserting order lines"};

/* Writes a batch's buffered rows: all at once when it is full, else one by one. */
static int flush_batch(rt_store_backend *b, int which, rt_error *err) {
  batch *bt = &b->b[which];
  int rc = 0;
  if (!bt->n)
    return 0;
  sqlite3_stmt *s = NULL;
  if (bt->n == BATCH_ROWS) {
    rc = multi_stmt(b, which, &s, err);
    if (!rc) {
      for (int r = 0; r < bt->n; r++)
        bind_buffered(b, which, s, r * batch_cols[which], r);
      rc = run(b, s, err, batch_what[which]);
    }
  } else {
    rc = get(b, batch_single[which], &s, err);
    for (int r = 0; !rc && r < bt->n; r++) {
      bind_buffered(b, which, s, 0, r);
      rc = run(b, s, err, batch_what[which]);
    }
  }
  bt->n = 0;
  bt->pool_len = 0;
  return rc;
}

static int flush(rt_store_backend *b, int which, rt_error *err) {
  return b->b[which].n ? flush_batch(b, which, err) : 0;
}

static int flush_all(rt_store_backend *b, rt_error *err) {
  int rc = 0;
  for (int i = 0; !rc && i < B__COUNT; i++)
    rc = flush(b, i, err);
  return rc;
}

static void discard_buffers(rt_store_backend *b) {
  for (int i = 0; i < B__COUNT; i++) {
    b->b[i].n = 0;
    b->b[i].pool_len = 0;
  }
}

static void set_cache(rt_store_backend *b, int kib) {
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", kib);
  sqlite3_exec(b->db, sql, NULL, NULL, NULL);
}

/* ---- open, close ---- */

static int pragma(rt_store_backend *b, const char *sql, rt_error *err) {
  if (sqlite3_exec(b->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    return db_fail(b, err, "%s", sql);
  return 0;
}

static void sq_close(rt_store_backend *b) {
  for (int i = 0; i < S__COUNT; i++)
    sqlite3_finalize(b->stmt[i]);
  for (int i = 0; i < RT_TABLE__COUNT; i++)
    sqlite3_finalize(b->count_stmt[i]);
  for (int i = 0; i < 2; i++)
    sqlite3_finalize(b->priv[i]);
  for (int i = 0; i < B__COUNT; i++) {
    sqlite3_finalize(b->multi[i]);
    rt_free(b->b[i].pool);
  }
  if (b->db && !sqlite3_get_autocommit(b->db))
    sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close_v2(b->db);
  free(b->db_real); /* realpath's */
  rt_free(b->wal_real);
  rt_free(b->path);
  rt_free(b);
}

/* ---- the files under the store ----
 * SQLite keeps the database and its -wal open. When either is deleted or replaced meanwhile
 * (an `rm store.db-wal`, a backup restored over a live store), commits go on succeeding into
 * a file nobody will open again, and the next crash loses every write since the last
 * checkpoint. So a writable store remembers both files' device and inode, and each commit
 * first checks that the paths still name them: two stat calls, 1.5 us, nothing beside a
 * commit's fsync (bench/commit_speed.c, docs/STORE.md). */

static int same_file(const char *path, const struct stat *was) {
  struct stat sb;
  return stat(path, &sb) == 0 && sb.st_dev == was->st_dev && sb.st_ino == was->st_ino;
}

/* Starts watching the files of a writable store on disk; a failure only means no watch. */
static void watch_files(rt_store_backend *b) {
  if (b->read_only || !b->path[0] || !strcmp(b->path, ":memory:") ||
      !strncmp(b->path, "file:", 5))
    return;
  char *real = realpath(b->path, NULL);
  size_t n = real ? strlen(real) : 0;
  if (!real || stat(real, &b->db_st) != 0 || !(b->wal_real = rt_malloc(n + 5))) {
    free(real);
    return;
  }
  memcpy(b->wal_real, real, n);
  memcpy(b->wal_real + n, "-wal", 5);
  b->db_real = real;
  b->wal_known = stat(b->wal_real, &b->wal_st) == 0;
}

/* 0 while the database and its -wal are the files the store opened. Otherwise RT_EIO: the
 * transaction is rolled back, and every later write is refused with the same message. The
 * writes committed so far (those since the change too: they went to the open -wal) are
 * copied into the database file by a checkpoint through SQLite's still open -wal when the
 * database file is the one opened, so they survive even a crash from then on. */
static int files_intact(rt_store_backend *b, rt_error *err) {
  if (b->broken.code) {
    *err = b->broken;
    return err->code;
  }
  if (!b->db_real)
    return 0;
  int db_ok = same_file(b->db_real, &b->db_st);
  if (db_ok && b->wal_known && same_file(b->wal_real, &b->wal_st))
    return 0;
  if (db_ok && !b->wal_known) {
    b->wal_known = stat(b->wal_real, &b->wal_st) == 0;
    return 0;
  }
  int log = -1, done = -2;
  if (!sqlite3_get_autocommit(b->db)) { /* a checkpoint cannot run inside a transaction */
    discard_buffers(b);
    sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
  }
  if (db_ok)
    sqlite3_wal_checkpoint_v2(b->db, NULL, SQLITE_CHECKPOINT_FULL, &log, &done);
  rt_error_set(&b->broken, RT_EIO,
               "%s%s was deleted or replaced while the store was open, so retain refuses "
               "writes from now on (this one was not committed). Stop retain and check the "
               "store with `sqlite3 %s 'PRAGMA integrity_check'` before starting it again; %s",
               b->path, db_ok ? "-wal" : "", b->path,
               log >= 0 && log == done
                   ? "every write committed before was copied into the database file"
                   : "writes committed since the last checkpoint may be lost");
  *err = b->broken;
  return err->code;
}

static int sq_check_files(rt_store_backend *b, rt_error *err) {
  if (!sqlite3_get_autocommit(b->db))
    return 0; /* inside a transaction: its commit checks */
  return files_intact(b, err);
}

/* SQLite keeps allocation statistics behind a global mutex taken on every malloc; retain
 * reads none of them. Turned off once, before SQLite initializes (when a program using
 * libretain has initialized SQLite already, the call is refused and changes nothing). */
static pthread_once_t sq_config_once = PTHREAD_ONCE_INIT;
static void sq_config(void) { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

static int connect(rt_store_backend *b, const char *name, int flags, rt_error *err) {
  if (sqlite3_open_v2(name, &b->db, flags, NULL) != SQLITE_OK) {
    if (!b->db)
      return rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path);
    return rt_error_set(err, map_code(sqlite3_extended_errcode(b->db)), "%s: cannot open: %s",
                        b->path, sqlite3_errmsg(b->db));
  }
  sqlite3_extended_result_codes(b->db, 1);
  return 0;
}

/* path as an SQLite URI that opens it immutable: no locks, no -shm, the file taken as it is.
 * path is absolute (realpath), so "file:" and the percent-encoded path is the whole URI. */
static char *immutable_uri(const char *path) {
  size_t n = strlen(path);
  char *u = rt_malloc(3 * n + sizeof "file:?immutable=1");
  if (!u)
    return NULL;
  char *p = u + sprintf(u, "file:");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)path[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        strchr("/._-~", c))
      *p++ = (char)c;
    else
      p += sprintf(p, "%%%02X", c);
  }
  strcpy(p, "?immutable=1");
  return u;
}

/* A read-only open of a WAL store: SQLite needs the -shm (and -wal) beside it, and creates
 * them when missing. Where the user may not create files (a read-only mount, a backup
 * directory, another user's store) the first read fails with SQLITE_READONLY or
 * SQLITE_CANTOPEN. When no -wal holds writes the database file alone is the whole store, so it
 * is opened again immutable (nothing to coordinate with: whoever could write it would need
 * that directory too); a -wal with writes in it cannot be read without the -shm, and the error
 * says what to do. */
static int readable(rt_store_backend *b, rt_error *err) {
  int x = sqlite3_exec(b->db, "PRAGMA schema_version", NULL, NULL, NULL);
  if (x == SQLITE_OK)
    return 0;
  x = sqlite3_extended_errcode(b->db);
  if ((x & 0xff) != SQLITE_READONLY && (x & 0xff) != SQLITE_CANTOPEN)
    return db_fail(b, err, "reading the store");
  char why[256];
  snprintf(why, sizeof why, "%s", sqlite3_errmsg(b->db));
  char *real = realpath(b->path, NULL);
  size_t n = real ? strlen(real) : 0;
  char wal[PATH_MAX + 8];
  struct stat sb;
  int pending = real && n + 5 <= sizeof wal &&
                (memcpy(wal, real, n), memcpy(wal + n, "-wal", 5), stat(wal, &sb) == 0) &&
                sb.st_size > 0;
  char *uri = real && !pending ? immutable_uri(real) : NULL;
  free(real);
  if (!uri)
    return pending ? rt_error_set(err, RT_EIO,
                                  "%s: cannot read the store (%s): it cannot be written here, "
                                  "and %s-wal holds writes not yet in the database file. Open "
                                  "it once where it can be written (any retain command that "
                                  "writes, or `sqlite3 %s 'PRAGMA wal_checkpoint'`), or read a "
                                  "copy",
                                  b->path, why, b->path, b->path)
                   : rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path);
  sqlite3_close_v2(b->db);
  b->db = NULL;
  int rc = connect(b, uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, err);
  rt_free(uri);
  if (!rc && sqlite3_exec(b->db, "PRAGMA schema_version", NULL, NULL, NULL) != SQLITE_OK)
    rc = db_fail(b, err, "reading the store");
  return rc;
}

/* PRAGMA quick_check(1): every page's structure, without the index contents (integrity_check
 * also compares each index with its table: several times longer). */
static int check_intact(rt_store_backend *b, rt_error *err) {
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(b->db, "PRAGMA quick_check(1)", -1, &s, NULL) != SQLITE_OK)
    return db_fail(b, err, "checking the store");
  int rc = 0, x = sqlite3_step(s);
  if (x != SQLITE_ROW) {
    rc = db_fail(b, err, "checking the store");
  } else {
    const char *r = (const char *)sqlite3_column_text(s, 0);
    if (!r || strcmp(r, "ok")) {
      char detail[600];
      if (r && !strncmp(r, "*** in database main ***\n", 25))
        r += 25;
      snprintf(detail, sizeof detail, "PRAGMA quick_check: %s", r ? r : "no answer");
      rc = rt__sqlite_damaged(b->path, SQLITE_CORRUPT, detail, err);
    }
  }
  sqlite3_finalize(s);
  return rc;
}

static int sq_open(const rt_store_config *cfg, rt_store_backend **out, rt_error *err) {
  pthread_once(&sq_config_once, sq_config);
  *out = NULL;
  rt_store_backend *b = rt_calloc(1, sizeof *b);
  if (!b || !(b->path = rt_strdup(cfg->path))) {
    rt_free(b);
    return rt_error_set(err, RT_ENOMEM, "%s: out of memory", cfg->path);
  }
  b->read_only = cfg->read_only != 0;
  b->cache_kib = cfg->cache_kib > 0 ? cfg->cache_kib : CACHE_KIB_NORMAL;
  /* NOMUTEX: one rt_store per thread (store.h), so SQLite's per-connection mutex is not needed */
  int flags = (b->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
              SQLITE_OPEN_NOMUTEX;
  int rc = connect(b, cfg->path, flags, err);
  if (!rc && b->read_only)
    rc = readable(b, err);
  if (rc)
    goto fail;
  sqlite3_busy_timeout(b->db, cfg->busy_ms > 0 ? cfg->busy_ms : BUSY_TIMEOUT_MS);
  if (!b->read_only) {
    /* page_size only takes effect on a new database, so it goes before journal_mode */
    rc = pragma(b, "PRAGMA page_size = " RT__STR(PAGE_SIZE), err);
    sqlite3_stmt *s = NULL;
    if (!rc && sqlite3_prepare_v2(b->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK)
      rc = db_fail(b, err, "setting WAL mode");
    if (!rc) {
      int x = sqlite3_step(s);
      if (x != SQLITE_ROW)
        rc = db_fail(b, err, "setting WAL mode");
      else if (sqlite3_stricmp((const char *)sqlite3_column_text(s, 0), "wal") != 0 &&
               strcmp(cfg->path, ":memory:") != 0)
        rc = rt_error_set(err, RT_ESTORE, "%s: cannot use WAL mode (journal mode stays '%s')",
                          cfg->path, (const char *)sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
  }
  if (!rc)
    rc = pragma(b, "PRAGMA synchronous = FULL", err);
  if (!rc)
    rc = pragma(b, "PRAGMA temp_store = MEMORY", err);
  if (!rc)
    rc = pragma(b, "PRAGMA foreign_keys = OFF", err); /* see docs/STORE.md */
  if (!rc)
    rc = pragma(b, "PRAGMA threads = 2", err); /* sorter threads for index rebuilds */
  if (!rc)
    rc = pragma(b, "PRAGMA mmap_size = 1073741824", err);
  if (!rc)
    set_cache(b, b->cache_kib);
  if (!rc && !b->read_only) /* a write must not go into a damaged file (docs/STORE.md: cost) */
    rc = check_intact(b, err);
  if (!rc)
    rc = rt__sqlite_migrate(b->db, b->path, b->read_only, &b->version, err);
  if (rc)
    goto fail;
  watch_files(b);
  *out = b;
  return 0;
fail:
  sq_close(b);
  return rc;
}

static int sq_schema_version(rt_store_backend *b) { return b->version; }

static int sq_data_version(rt_store_backend *b, int64_t *out, rt_error *err) {
  sqlite3_stmt *s;
  int rc = get(b, S_DV_GET, &s, err);
  if (rc)
    return rc;
  rc = lookup(b, s, err, "reading the data version");
  if (rc < 0)
    return rc;
  *out = rc ? sqlite3_column_int64(s, 0) : 0;
  if (rc)
    sqlite3_reset(s);
  return 0;
}

/* ---- transactions ---- */

static int sq_begin(rt_store_backend *b, rt_error *err) {
  sqlite3_stmt *s;
  if (b->broken.code) { /* files_intact found the files changed: no more writes */
    *err = b->broken;
    return err->code;
  }
  int rc = get(b, S_BEGIN, &s, err);
  if (!rc)
    rc = run(b, s, err, "beginning a write transaction");
  if (rc)
    return rc;
  b->in_txn = 1;
  b->ddl = 0;
  b->deferred = 0;
  b->bulk = 0;
  b->changes0 = sqlite3_total_changes64(b->db);
  b->score_changes = 0;
  b->segment_changes = 0;
  b->key_changes = 0;
  return 0;
}


static int sq_commit(rt_store_backend *b, rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = flush_all(b, err);
  b->deferred = 0; /* the by-customer indexes stay dropped: rt_store_ensure_indexes builds them */
  if (!rc && (b->ddl || sqlite3_total_changes64(b->db) - b->score_changes -
                             b->segment_changes - b->key_changes != b->changes0)) {
    rc = get(b, S_DV_BUMP, &s, err);
    if (!rc)
      rc = run(b, s, err, "bumping the data version");
  }
  if (!rc)
    rc = files_intact(b, err);
  if (!rc)
    rc = get(b, S_COMMIT, &s, err);
  if (!rc)
    rc = run(b, s, err, "committing");
  if (rc)
    return rc;
  rt__trace("store: committed");
  b->in_txn = 0;
  if (b->bulk) {
    b->bulk = 0;
    set_cache(b, b->cache_kib);
  }
  return 0;
}

static void sq_rollback(rt_store_backend *b) {
  discard_buffers(b);
  b->deferred = 0; /* the rollback brings the dropped indexes back */
  if (!sqlite3_get_autocommit(b->db)) {
    sqlite3_stmt *s;
    rt_error e;
    if (get(b, S_ROLLBACK, &s, &e) == 0)
      run(b, s, &e, "rolling back");
    else
      sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
  }
  b->in_txn = 0;
  if (b->bulk) {
    b->bulk = 0;
    set_cache(b, b->cache_kib);
  }
}

/* A deferred transaction takes no lock; its first read fixes the snapshot it sees (WAL). */
static int sq_read_begin(rt_store_backend *b, rt_error *err) {
  sqlite3_stmt *s;
  int rc = get(b, S_READ_BEGIN, &s, err);
  if (!rc)
    rc = run(b, s, err, "beginning a read transaction");
  return rc;
}

static void sq_read_end(rt_store_backend *b) {
  if (!sqlite3_get_autocommit(b->db))
    sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL);
}

/* ---- meta ---- */

static int sq_meta_get(rt_store_backend *b, const char *key, char **out, rt_error *err) {
  sqlite3_stmt *s;
  int rc = get(b, S_META_GET, &s, err);
  if (rc)
    return rc;
  bind_str(s, 1, key);
  rc = lookup(b, s, err, "reading a setting");
  if (rc <= 0)
    return rc;
  const char *v = (const char *)sqlite3_column_text(s, 0);
  if (v && !(*out = rt_strndup(v, (size_t)sqlite3_column_bytes(s, 0))))
    rc = rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path);
  else
    rc = 0;
  sqlite3_reset(s);
  return rc;
}

static int sq_meta_set(rt_store_backend *b, const char *key, const char *value, rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = get(b, S_META_SET, &s, err);
  if (rc)
    return rc;
  bind_str(s, 1, key);
  bind_str(s, 2, value);
  return run(b, s, err, "writing a setting");
}

/* ---- customers and identities ---- */

/* Longest chain of merges followed (they cannot form a cycle: a merged-away customer can
 * neither be merged nor receive a merge; the bound guards against a damaged file). */
#define MERGE_HOPS_MAX 64

/* The customer with internal id: 1 with its created_ms, merged_into (0: not merged) and, when
 * attrs is not NULL, its attributes (NULL for none, else JSON to json_decref); 0 when unknown,
 * <0 error. */
static int customer_by_id(rt_store_backend *b, int64_t id, int64_t *created_ms,
                          int64_t *merged_into, json_t **attrs, rt_error *err) {
  sqlite3_stmt *s;
  int rc = get(b, S_CUST_BY_ID, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, id);
  rc = lookup(b, s, err, "looking up a customer");
  if (rc <= 0)
    return rc;
  *created_ms = sqlite3_column_int64(s, 1);
  *merged_into = sqlite3_column_int64(s, 2);
  if (attrs && sqlite3_column_text(s, 3))
    *attrs = json_loads((const char *)sqlite3_column_text(s, 3), 0, NULL);
  sqlite3_reset(s);
  return 1;
}

/* The customer with ext_id or, when it was merged away, the customer it survives in. */
static int find_customer(rt_store_backend *b, const char *ext, size_t len, int64_t *id,
                         int64_t *created_ms, rt_error *err) {
  sqlite3_stmt *s;
  int rc = flush(b, B_CUSTOMERS, err);
  if (!rc)
    rc = get(b, S_CUST_FIND, &s, err);
  if (rc)
    return rc;
  bind_text(s, 1, ext, len);
  rc = lookup(b, s, err, "looking up a customer");
  if (rc <= 0)
    return rc;
  *id = sqlite3_column_int64(s, 0);
  *created_ms = sqlite3_column_int64(s, 1);
  int64_t next = sqlite3_column_int64(s, 2);
  sqlite3_reset(s);
  for (int hops = 0; next; hops++) {
    if (hops == MERGE_HOPS_MAX)
      return rt_error_set(err, RT_ESTORE, "%s: customer %lld: merges chained too deep",
                          b->path, (long long)*id);
    *id = next;
    rc = customer_by_id(b, next, created_ms, &next, NULL, err);
    if (rc < 0)
      return rc;
    if (rc == 0)
      return rt_error_set(err, RT_ESTORE, "%s: a customer was merged into unknown customer %lld",
                          b->path, (long long)*id);
  }
  return 1;
}

static int sq_customer_find(rt_store_backend *b, const char *ext_id, size_t len, int64_t *out_id,
                            rt_error *err) {
  int64_t created;
  int rc = find_customer(b, ext_id, len, out_id, &created, err);
  if (rc == 0)
    return rt_error_set(err, RT_ENOTFOUND, "no customer '%.*s'", (int)RT_MIN(len, 200), ext_id);
  return rc < 0 ? rc : 0;
}

static int buffer_customer(rt_store_backend *b, const char *ext, size_t len, int64_t created_ms,
                           int64_t *out_id, rt_error *err) {
  batch *bt = &b->b[B_CUSTOMERS];
  cust_row *r = &b->cust[bt->n];
  if (pool_add(bt, ext, len, &r->ext))
    return rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path);
  r->id = b->next_customer++;
  r->created_ms = created_ms;
  *out_id = r->id;
  return ++bt->n == BATCH_ROWS ? flush_batch(b, B_CUSTOMERS, err) : 0;
}

static int refuse_erased(rt_store_backend *b, const char *ext, size_t len, rt_error *err);

static int sq_customer_upsert(rt_store_backend *b, const char *ext_id, size_t len,
                              int64_t created_ms, int64_t *out_id, int *created, rt_error *err) {
  int64_t first = 0;
  int rc = in_txn(b, err);
  if (!rc)
    rc = find_customer(b, ext_id, len, out_id, &first, err);
  if (rc < 0)
    return rc;
  sqlite3_stmt *s;
  if (rc == 1) {
    *created = 0;
    if (created_ms >= first)
      return 0;
    /* created_ms is the first-seen time: an older sighting moves it back */
    rc = get(b, S_CUST_FIRST_SEEN, &s, err);
    if (rc)
      return rc;
    sqlite3_bind_int64(s, 1, *out_id);
    sqlite3_bind_int64(s, 2, created_ms);
    return run(b, s, err, "updating a customer");
  }
  if ((rc = refuse_erased(b, ext_id, len, err)))
    return rc;
  if (b->bulk) { /* ids are handed out here while bulk loading */
    rc = buffer_customer(b, ext_id, len, created_ms, out_id, err);
  } else {
    rc = get(b, S_CUST_INSERT, &s, err);
    if (!rc) {
      bind_customer(s, 0, 0, ext_id, len, created_ms);
      rc = run(b, s, err, "inserting a customer");
    }
    if (!rc)
      *out_id = sqlite3_last_insert_rowid(b->db);
  }
  if (!rc)
    *created = 1;
  return rc;
}

static int sq_customer_insert(rt_store_backend *b, const char *ext_id, size_t len,
                              int64_t created_ms, int64_t *out_id, rt_error *err) {
  assert(b->bulk);
  int rc = in_txn(b, err);
  return rc ? rc : buffer_customer(b, ext_id, len, created_ms, out_id, err);
}

/* The merge is done here (attrs.c) rather than with SQLite's json_patch, which is quadratic
 * in the number of keys, and checks the limits on the result. */
static int sq_customer_set_attrs(rt_store_backend *b, int64_t customer, const char *json_obj,
                                 rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = flush(b, B_CUSTOMERS, err);
  if (!rc)
    rc = get(b, S_CUST_BY_ID, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, customer);
  rc = lookup(b, s, err, "looking up a customer");
  if (rc <= 0)
    return rc < 0 ? rc
                  : rt_error_set(err, RT_ENOTFOUND, "no customer with id %lld", (long long)customer);
  char *merged = NULL;
  rc = rt__attrs_merge((const char *)sqlite3_column_text(s, 3), (size_t)sqlite3_column_bytes(s, 3),
                       json_obj, &merged, err);
  sqlite3_reset(s);
  if (rc == RT_ESTORE)
    rt_error_prefix(err, "%s: customer %lld: ", b->path, (long long)customer);
  if (!rc)
    rc = get(b, S_CUST_ATTRS, &s, err);
  if (!rc) {
    sqlite3_bind_int64(s, 1, customer);
    bind_str(s, 2, merged);
    rc = run(b, s, err, "setting customer attributes");
  }
  free(merged); /* json_dumps allocates with jansson's allocator, malloc by default */
  return rc;
}

static int sq_identity_find(rt_store_backend *b, const char *kind, const char *value,
                            int64_t *out_id, rt_error *err) {
  sqlite3_stmt *s;
  int rc = get(b, S_IDENT_FIND, &s, err);
  if (rc)
    return rc;
  bind_str(s, 1, kind);
  bind_str(s, 2, value);
  rc = lookup(b, s, err, "looking up an identity");
  if (rc < 0)
    return rc;
  if (rc == 0)
    return rt_error_set(err, RT_ENOTFOUND, "no customer with %s '%.200s'", kind, value);
  *out_id = sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
  return 0;
}

static int sq_identity_link(rt_store_backend *b, const char *kind, const char *value,
                            int64_t customer, const char *reason, int64_t *other_customer,
                            rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = get(b, S_IDENT_LINK, &s, err);
  if (rc)
    return rc;
  bind_str(s, 1, kind);
  bind_str(s, 2, value);
  sqlite3_bind_int64(s, 3, customer);
  bind_str(s, 4, reason);
  sqlite3_bind_int64(s, 5, now_ms());
  rc = run(b, s, err, "linking an identity");
  if (rc || sqlite3_changes(b->db) == 1)
    return rc;
  int64_t owner = 0;
  rc = sq_identity_find(b, kind, value, &owner, err);
  if (rc)
    return rc;
  if (owner == customer)
    return 0;
  *other_customer = owner;
  return rt_error_set(err, RT_EEXISTS, "%s '%.200s' already belongs to customer %lld", kind,
                      value, (long long)owner);
}

/* ---- orders and refunds ---- */

/* Inserts the lines of order id: buffered in bulk mode, else one statement each. */
static int put_lines(rt_store_backend *b, int64_t id, const rt_line_rec *lines, size_t n,
                     rt_error *err) {
  int rc = 0;
  if (b->bulk) {
    batch *bt = &b->b[B_LINES];
    for (size_t i = 0; !rc && i < n; i++) {
      const rt_line_rec *l = &lines[i];
      line_row *r = &b->line[bt->n];
      if (pool_add(bt, l->product, l->product ? strlen(l->product) : 0, &r->product) ||
          pool_add(bt, l->name, l->name ? strlen(l->name) : 0, &r->name))
        return rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path);
      r->order_id = id;
      r->quantity = l->quantity;
      r->unit_price = l->unit_price;
      r->amount = l->amount;
      if (++bt->n == BATCH_ROWS)
        rc = flush_batch(b, B_LINES, err);
    }
    return rc;
  }
  sqlite3_stmt *s;
  rc = get(b, S_LINE_INSERT, &s, err);
  for (size_t i = 0; !rc && i < n; i++) {
    const rt_line_rec *l = &lines[i];
    bind_line(s, 0, id, l->product, l->product ? strlen(l->product) : 0, l->name,
              l->name ? strlen(l->name) : 0, l->quantity, l->unit_price, l->amount);
    rc = run(b, s, err, "inserting an order line");
  }
  return rc;
}

/* Looks for ext_id in orders or refunds (find): 1 with *id and *import_id, 0, or <0. */
static int find_keyed(rt_store_backend *b, stmt_id find, const char *ext, int64_t *id,
                      int64_t *import_id, rt_error *err) {
  sqlite3_stmt *s;
  int rc = get(b, find, &s, err);
  if (rc)
    return rc;
  bind_str(s, 1, ext);
  rc = lookup(b, s, err, find == S_ORDER_FIND ? "looking up an order" : "looking up a refund");
  if (rc <= 0)
    return rc;
  *id = sqlite3_column_int64(s, 0);
  *import_id = sqlite3_column_int64(s, 1);
  sqlite3_reset(s);
  return 1;
}

static int grow(rt_store_backend *b, stmt_id g, int64_t id, int64_t amount, rt_error *err) {
  sqlite3_stmt *s;
  int rc = get(b, g, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, id);
  sqlite3_bind_int64(s, 2, amount);
  return run(b, s, err, "merging into an earlier row");
}

static int sq_order_put(rt_store_backend *b, const rt_order_rec *o, const rt_line_rec *lines,
                        size_t nlines, int bulk, int *status, rt_error *err) {
  int rc = in_txn(b, err);
  if (rc)
    return rc;
  size_t elen = strlen(o->ext_id);
  if (bulk) {
    assert(b->bulk);
    batch *bt = &b->b[B_ORDERS];
    order_row *r = &b->ord[bt->n];
    if (pool_add(bt, o->ext_id, elen, &r->ext))
      return rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path);
    r->id = b->next_order++;
    r->customer = o->customer;
    r->ts = o->ts_ms;
    r->amount = o->amount;
    r->import_id = o->import_id;
    memcpy(r->currency, o->currency, 4);
    if (++bt->n == BATCH_ROWS)
      rc = flush_batch(b, B_ORDERS, err);
    if (!rc)
      rc = put_lines(b, r->id, lines, nlines, err);
    if (!rc)
      *status = RT_PUT_NEW;
    return rc;
  }
  int64_t id = 0, imp = 0;
  rc = find_keyed(b, S_ORDER_FIND, o->ext_id, &id, &imp, err);
  if (rc < 0)
    return rc;
  if (rc == 1) {
    if (!o->import_id || imp != o->import_id) {
      *status = RT_PUT_DUPLICATE;
      return 0;
    }
    rc = grow(b, S_ORDER_GROW, id, o->amount, err);
    if (!rc)
      rc = put_lines(b, id, lines, nlines, err);
    if (!rc)
      *status = RT_PUT_MERGED;
    return rc;
  }
  sqlite3_stmt *s;
  rc = get(b, S_ORDER_INSERT, &s, err);
  if (rc)
    return rc;
  bind_order(s, 0, 0, o->customer, o->ext_id, elen, o->ts_ms, o->amount, o->currency,
             o->import_id);
  rc = run(b, s, err, "inserting an order");
  if (!rc)
    rc = put_lines(b, sqlite3_last_insert_rowid(b->db), lines, nlines, err);
  if (!rc)
    *status = RT_PUT_NEW;
  return rc;
}

static int sq_refund_put(rt_store_backend *b, const rt_refund_rec *r, int bulk, int *status,
                         rt_error *err) {
  int rc = in_txn(b, err);
  if (rc)
    return rc;
  if (!bulk) {
    int64_t id = 0, imp = 0;
    rc = find_keyed(b, S_REFUND_FIND, r->ext_id, &id, &imp, err);
    if (rc < 0)
      return rc;
    if (rc == 1) {
      if (!r->import_id || imp != r->import_id) {
        *status = RT_PUT_DUPLICATE;
        return 0;
      }
      rc = grow(b, S_REFUND_GROW, id, r->amount, err);
      if (!rc)
        *status = RT_PUT_MERGED;
      return rc;
    }
  }
  sqlite3_stmt *s;
  rc = get(b, S_REFUND_INSERT, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, r->customer);
  bind_str(s, 2, r->ext_id);
  bind_str(s, 3, r->order_ext_id);
  sqlite3_bind_int64(s, 4, r->ts_ms);
  sqlite3_bind_int64(s, 5, r->amount);
  sqlite3_bind_text(s, 6, r->currency, 3, SQLITE_STATIC);
  bind_str(s, 7, r->reason);
  bind_opt(s, 8, r->import_id);
  rc = run(b, s, err, "inserting a refund");
  if (!rc)
    *status = RT_PUT_NEW;
  return rc;
}

/* ---- events and subscriptions ---- */

static int sq_event_put(rt_store_backend *b, const rt_event_rec *e, int *status, rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = get(b, S_EVENT_INSERT, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, e->customer);
  bind_str(s, 2, e->type);
  sqlite3_bind_int64(s, 3, e->ts_ms);
  bind_str(s, 4, e->props);
  bind_str(s, 5, e->ext_id);
  bind_opt(s, 6, e->import_id);
  rc = run(b, s, err, "inserting an event");
  if (!rc)
    *status = sqlite3_changes(b->db) ? RT_PUT_NEW : RT_PUT_DUPLICATE;
  return rc;
}

static void bind_subscription(sqlite3_stmt *s, const rt_subscription_rec *r) {
  sqlite3_bind_int64(s, 1, r->customer);
  bind_str(s, 2, r->ext_id);
  bind_str(s, 3, r->plan);
  sqlite3_bind_int64(s, 4, r->started_ms);
  bind_opt(s, 5, r->renews_ms);
  bind_opt(s, 6, r->canceled_ms);
  sqlite3_bind_int64(s, 7, r->amount);
  sqlite3_bind_text(s, 8, r->currency, 3, SQLITE_STATIC);
  bind_str(s, 9, r->interval);
  bind_opt(s, 10, r->import_id);
}

static int sq_subscription_put(rt_store_backend *b, const rt_subscription_rec *r, int *status,
                               rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = get(b, S_SUB_FIND, &s, err);
  if (rc)
    return rc;
  bind_str(s, 2, r->ext_id);
  rc = lookup(b, s, err, "looking up a subscription");
  if (rc < 0)
    return rc;
  if (rc)
    sqlite3_reset(s);
  int exists = rc;
  rc = get(b, exists ? S_SUB_UPDATE : S_SUB_INSERT, &s, err);
  if (rc)
    return rc;
  bind_subscription(s, r);
  rc = run(b, s, err, exists ? "updating a subscription" : "inserting a subscription");
  if (!rc)
    *status = exists ? RT_PUT_MERGED : RT_PUT_NEW;
  return rc;
}

/* ---- bulk mode ---- */

/* Drops the bulk-mode indexes (with_unique 0: only the by-customer ones). */
static int drop_indexes(rt_store_backend *b, int with_unique, rt_error *err) {
  for (int i = 0; i < RT__SQLITE_BULK_INDEXES; i++) {
    const rt__sqlite_index *ix = &rt__sqlite_bulk_indexes[i];
    if (ix->unique && !with_unique)
      continue;
    char sql[128];
    snprintf(sql, sizeof sql, "DROP INDEX IF EXISTS %s", ix->name);
    if (sqlite3_exec(b->db, sql, NULL, NULL, NULL) != SQLITE_OK)
      return db_fail(b, err, "bulk mode: dropping %s", ix->name);
    b->ddl = 1;
  }
  return 0;
}

static int sq_bulk_begin(rt_store_backend *b, int *active, rt_error *err) {
  sqlite3_stmt *s;
  *active = 0;
  int rc = in_txn(b, err);
  if (!rc)
    rc = get(b, S_BULK_NONEMPTY, &s, err);
  if (rc)
    return rc;
  rc = lookup(b, s, err, "checking for empty tables");
  if (rc < 0)
    return rc;
  /* customers: or ids on the suppression list, which bulk inserts would not look up */
  int customers = rc && sqlite3_column_int(s, 0), money = rc && sqlite3_column_int(s, 1);
  if (rc)
    sqlite3_reset(s);
  if (money)
    return 0;
  if (customers) {
    /* Orders into empty tables for customers already stored (a customers file imported
     * first): no bulk mode, but the by-customer indexes, which only reads use, are built once
     * at commit instead of row by row. */
    rc = drop_indexes(b, 0, err);
    b->deferred = !rc;
    return rc;
  }
  if ((rc = drop_indexes(b, 1, err)))
    return rc;
  /* the tables are empty, so the ids start at 1 */
  b->next_customer = 1;
  b->next_order = 1;
  b->bulk = 1;
  set_cache(b, CACHE_KIB_BULK);
  *active = 1;
  return 0;
}

/* Builds the unique indexes drop_indexes dropped (unique 1), or the by-customer ones that are
 * missing (unique 0, IF NOT EXISTS; *built counts them): RT_EEXISTS when a unique one meets a
 * duplicate. */
static int create_indexes(rt_store_backend *b, int unique, int *built, rt_error *err) {
  int rc = 0;
  for (int i = 0; !rc && i < RT__SQLITE_BULK_INDEXES; i++) {
    const rt__sqlite_index *ix = &rt__sqlite_bulk_indexes[i];
    if (ix->unique != unique)
      continue;
    if (!unique) {
      char sql[160];
      sqlite3_stmt *q = NULL;
      snprintf(sql, sizeof sql, "SELECT 1 FROM sqlite_schema WHERE type = 'index' AND name = '%s'",
               ix->name);
      int exists = sqlite3_prepare_v2(b->db, sql, -1, &q, NULL) == SQLITE_OK &&
                   sqlite3_step(q) == SQLITE_ROW;
      sqlite3_finalize(q);
      if (exists)
        continue;
      if (built)
        (*built)++;
    }
    if (sqlite3_exec(b->db, ix->create_sql, NULL, NULL, NULL) == SQLITE_OK)
      continue;
    if (!ix->unique || (sqlite3_extended_errcode(b->db) & 0xff) != SQLITE_CONSTRAINT) {
      rc = db_fail(b, err, "bulk mode: rebuilding %s", ix->name);
      break;
    }
    /* name one duplicate key for the message */
    char sql[200], key[128] = "?";
    snprintf(sql, sizeof sql, "SELECT ext_id FROM %s GROUP BY ext_id HAVING count(*) > 1 LIMIT 1",
             ix->table);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(b->db, sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
      snprintf(key, sizeof key, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    rc = rt_error_set(err, RT_EEXISTS,
                      "%s: bulk load: two rows of %s share the id '%s'; roll back and load "
                      "without bulk mode",
                      b->path, ix->table, key);
  }
  b->deferred = 0;
  rt__trace("store: indexes rebuilt");
  return rc;
}

static int sq_bulk_end(rt_store_backend *b, rt_error *err) {
  int rc = in_txn(b, err);
  if (!rc)
    rc = flush_all(b, err);
  rt__trace("store: bulk rows written");
  if (!rc)
    rc = create_indexes(b, 1, NULL, err);
  b->bulk = 0;
  set_cache(b, b->cache_kib);
  return rc;
}

static int sq_ensure_indexes(rt_store_backend *b, int *built, rt_error *err) {
  *built = 0;
  int rc = create_indexes(b, 0, built, err);
  if (*built)
    b->ddl = 1;
  return rc;
}

/* ---- imports ---- */

static int sq_import_begin(rt_store_backend *b, const char *kind, const char *path,
                           const char *digest, int64_t *out_import_id, rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = get(b, S_IMPORT_BEGIN, &s, err);
  if (rc)
    return rc;
  bind_str(s, 1, kind);
  bind_str(s, 2, path);
  bind_str(s, 3, digest);
  sqlite3_bind_int64(s, 4, now_ms());
  rc = run(b, s, err, "recording an import");
  if (!rc)
    *out_import_id = sqlite3_last_insert_rowid(b->db);
  return rc;
}

static int sq_import_finish(rt_store_backend *b, int64_t import_id, int64_t rows, int64_t stored,
                            int64_t skipped, rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = get(b, S_IMPORT_FINISH, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, import_id);
  sqlite3_bind_int64(s, 2, now_ms());
  sqlite3_bind_int64(s, 3, rows);
  sqlite3_bind_int64(s, 4, stored);
  sqlite3_bind_int64(s, 5, skipped);
  rc = run(b, s, err, "recording the end of an import");
  if (!rc && sqlite3_changes(b->db) == 0)
    rc = rt_error_set(err, RT_ENOTFOUND, "no import with id %lld", (long long)import_id);
  return rc;
}

/* ---- model runs and customer scores ---- */

static int sq_score_run_begin(rt_store_backend *b, const char *kind, const char *params_json,
                              int64_t *out_run, rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = get(b, S_RUN_BEGIN, &s, err);
  if (rc)
    return rc;
  bind_str(s, 1, kind);
  sqlite3_bind_int64(s, 2, now_ms());
  bind_str(s, 3, params_json);
  rc = run(b, s, err, "recording a model run");
  if (!rc) {
    *out_run = sqlite3_last_insert_rowid(b->db);
    b->score_changes++;
  }
  return rc;
}

static void bind_real(sqlite3_stmt *s, int i, double v) {
  if (isnan(v))
    sqlite3_bind_null(s, i);
  else
    sqlite3_bind_double(s, i, v);
}

static int sq_score_put(rt_store_backend *b, int64_t run_id, const rt_score_rec *r,
                        rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = get(b, S_SCORE_INSERT, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, run_id);
  sqlite3_bind_int64(s, 2, r->customer);
  bind_real(s, 3, r->p_alive);
  bind_real(s, 4, r->expected_purchases);
  bind_real(s, 5, r->predicted_clv);
  bind_str(s, 6, r->expected_next_order);
  bind_real(s, 7, r->churn_probability);
  bind_str(s, 8, r->reasons);
  rc = run(b, s, err, "storing a customer score");
  if (!rc)
    b->score_changes++;
  return rc;
}

static int sq_score_run_finish(rt_store_backend *b, int64_t run_id, int64_t customers,
                               rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = get(b, S_RUN_FINISH, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, run_id);
  sqlite3_bind_int64(s, 2, customers);
  rc = run(b, s, err, "finishing a model run");
  if (!rc && sqlite3_changes(b->db) == 0)
    rc = rt_error_set(err, RT_ENOTFOUND, "no model run with id %lld", (long long)run_id);
  if (!rc)
    b->score_changes++;
  return rc;
}

/* ---- scans ---- */

/* Prepares a scan: flushes the bulk buffers (the scan must see every row) and refuses a scan
 * started from inside the callback of the same scan. */
static int scan_start(rt_store_backend *b, stmt_id id, sqlite3_stmt **s, rt_error *err) {
  int rc = flush_all(b, err);
  if (!rc)
    rc = get(b, id, s, err);
  if (!rc && sqlite3_stmt_busy(*s))
    rc = rt_error_set(err, RT_EINVAL, "store: a scan of the same table is already running");
  return rc;
}

/* Ends a scan: sqlite's step result x, or the callback's stop value. */
static int scan_end(rt_store_backend *b, sqlite3_stmt *s, int x, int stop, rt_error *err,
                    const char *what) {
  int rc = stop;
  if (!stop && x != SQLITE_DONE)
    rc = db_fail(b, err, "%s", what);
  sqlite3_reset(s);
  return rc;
}

static int sq_scan_customers(rt_store_backend *b, rt_store_customer_cb cb, void *ctx,
                             rt_error *err) {
  sqlite3_stmt *s;
  int rc = scan_start(b, S_SCAN_CUSTOMERS, &s, err), x = SQLITE_DONE, stop = 0;
  if (rc)
    return rc;
  while (!stop && (x = sqlite3_step(s)) == SQLITE_ROW)
    stop = cb(ctx, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
              sqlite3_column_int64(s, 2));
  return scan_end(b, s, stop ? SQLITE_DONE : x, stop, err, "reading customers");
}

static int scan_money(rt_store_backend *b, stmt_id id, rt_store_order_cb cb, void *ctx,
                      rt_error *err, const char *what) {
  sqlite3_stmt *s;
  int rc = scan_start(b, id, &s, err), x = SQLITE_DONE, stop = 0;
  if (rc)
    return rc;
  while (!stop && (x = sqlite3_step(s)) == SQLITE_ROW)
    stop = cb(ctx, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
              sqlite3_column_int64(s, 2), (const char *)sqlite3_column_text(s, 3));
  return scan_end(b, s, stop ? SQLITE_DONE : x, stop, err, what);
}

static int sq_scan_orders(rt_store_backend *b, rt_store_order_cb cb, void *ctx, rt_error *err) {
  return scan_money(b, S_SCAN_ORDERS, cb, ctx, err, "reading orders");
}

static int sq_scan_refunds(rt_store_backend *b, rt_store_refund_cb cb, void *ctx, rt_error *err) {
  sqlite3_stmt *s;
  int rc = scan_start(b, S_SCAN_REFUNDS, &s, err), x = SQLITE_DONE, stop = 0;
  if (rc)
    return rc;
  while (!stop && (x = sqlite3_step(s)) == SQLITE_ROW)
    stop = cb(ctx, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
              sqlite3_column_int64(s, 2), (const char *)sqlite3_column_text(s, 3),
              sqlite3_column_int64(s, 4)); /* NULL reads as 0 */
  return scan_end(b, s, stop ? SQLITE_DONE : x, stop, err, "reading refunds");
}

static int sq_scan_subscriptions(rt_store_backend *b, rt_store_subscription_cb cb, void *ctx,
                                 rt_error *err) {
  sqlite3_stmt *s;
  int rc = scan_start(b, S_SCAN_SUBS, &s, err), x = SQLITE_DONE, stop = 0;
  if (rc)
    return rc;
  while (!stop && (x = sqlite3_step(s)) == SQLITE_ROW)
    stop = cb(ctx, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
              sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 3),
              (const char *)sqlite3_column_text(s, 4));
  return scan_end(b, s, stop ? SQLITE_DONE : x, stop, err, "reading subscriptions");
}

static int sq_scan_events(rt_store_backend *b, rt_store_event_cb cb, void *ctx, rt_error *err) {
  sqlite3_stmt *s;
  int rc = scan_start(b, S_SCAN_EVENTS, &s, err), x = SQLITE_DONE, stop = 0;
  if (rc)
    return rc;
  while (!stop && (x = sqlite3_step(s)) == SQLITE_ROW)
    stop = cb(ctx, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
              sqlite3_column_int64(s, 2), (const char *)sqlite3_column_text(s, 3));
  return scan_end(b, s, stop ? SQLITE_DONE : x, stop, err, "reading events");
}

static int sq_scan_attrs(rt_store_backend *b, rt_store_attrs_cb cb, void *ctx, rt_error *err) {
  sqlite3_stmt *s;
  int rc = scan_start(b, S_SCAN_ATTRS, &s, err), x = SQLITE_DONE, stop = 0;
  if (rc)
    return rc;
  while (!stop && (x = sqlite3_step(s)) == SQLITE_ROW)
    stop = cb(ctx, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1));
  return scan_end(b, s, stop ? SQLITE_DONE : x, stop, err, "reading customer attributes");
}

static int sq_score_run_get(rt_store_backend *b, int64_t run_id, const char *kind,
                            rt_score_run *out, rt_error *err) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *s;
  int rc = get(b, S_RUN_GET, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, run_id);
  bind_str(s, 2, kind);
  rc = lookup(b, s, err, "reading a model run");
  if (rc < 0)
    return rc;
  if (!rc && run_id > 0)
    return rt_error_set(err, RT_ENOTFOUND, "no model run %lld", (long long)run_id);
  if (!rc)
    return rt_error_set(err, RT_ENOTFOUND, "no model run%s%s (save one with `clv predict "
                        "--save` or `churn score --save`)", kind ? " of kind " : "",
                        kind ? kind : "");
  out->id = sqlite3_column_int64(s, 0);
  out->created_ms = sqlite3_column_int64(s, 2);
  out->data_version = sqlite3_column_int64(s, 3);
  out->customers = sqlite3_column_int64(s, 4);
  const char *k = (const char *)sqlite3_column_text(s, 1);
  const char *p = (const char *)sqlite3_column_text(s, 5);
  out->kind = rt_strndup(k ? k : "", k ? strlen(k) : 0);
  out->params = rt_strndup(p ? p : "{}", p ? strlen(p) : 2);
  sqlite3_reset(s);
  if (!out->kind || !out->params) {
    rt_free(out->kind);
    rt_free(out->params);
    memset(out, 0, sizeof *out);
    return rt_error_set(err, RT_ENOMEM, "%s", rt_strerror(RT_ENOMEM));
  }
  return 0;
}

static double col_real(sqlite3_stmt *s, int i) {
  return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

static int sq_scan_scores(rt_store_backend *b, int64_t run_id, rt_store_score_cb cb, void *ctx,
                          rt_error *err) {
  sqlite3_stmt *s;
  int rc = scan_start(b, S_SCAN_SCORES, &s, err), x = SQLITE_DONE, stop = 0;
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, run_id);
  while (!stop && (x = sqlite3_step(s)) == SQLITE_ROW) {
    rt_score_rec r = {.customer = sqlite3_column_int64(s, 1), .p_alive = col_real(s, 2),
                      .expected_purchases = col_real(s, 3), .predicted_clv = col_real(s, 4),
                      .expected_next_order = (const char *)sqlite3_column_text(s, 5),
                      .churn_probability = col_real(s, 6),
                      .reasons = (const char *)sqlite3_column_text(s, 7)};
    stop = cb(ctx, (const char *)sqlite3_column_text(s, 0), &r);
  }
  return scan_end(b, s, stop ? SQLITE_DONE : x, stop, err, "reading scores");
}

/* ---- segments ---- */

/* Runs a write to a segment table and counts its rows apart: segments are not customer data,
 * so sq_commit must not bump the data version for them. */
static int seg_run(rt_store_backend *b, sqlite3_stmt *s, rt_error *err, const char *what) {
  int rc = run(b, s, err, what);
  if (!rc)
    b->segment_changes += sqlite3_changes64(b->db);
  return rc;
}

static int no_segment(rt_error *err, int64_t id) {
  return rt_error_set(err, RT_ENOTFOUND, "no segment with id %lld", (long long)id);
}

static int sq_segment_create(rt_store_backend *b, const char *name, const char *rule,
                             const char *description, int64_t *out_id, rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = get(b, S_SEG_INSERT, &s, err);
  if (rc)
    return rc;
  bind_str(s, 1, name);
  bind_str(s, 2, rule);
  bind_str(s, 3, description);
  sqlite3_bind_int64(s, 4, now_ms());
  rc = seg_run(b, s, err, "creating a segment");
  if (rc)
    return rc;
  if (sqlite3_changes(b->db) == 0) /* ON CONFLICT(name) DO NOTHING */
    return rt_error_set(err, RT_EEXISTS, "segment '%.200s' already exists", name);
  *out_id = sqlite3_last_insert_rowid(b->db);
  return 0;
}

static int sq_segment_update(rt_store_backend *b, int64_t id, const char *rule,
                             const char *description, rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = get(b, S_SEG_UPDATE, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, id);
  bind_str(s, 2, rule);
  bind_str(s, 3, description); /* NULL keeps the description */
  sqlite3_bind_int64(s, 4, now_ms());
  rc = seg_run(b, s, err, "updating a segment");
  if (!rc && sqlite3_changes(b->db) == 0)
    rc = no_segment(err, id);
  return rc;
}

static int sq_segment_set_basis(rt_store_backend *b, int64_t id, const char *as_of,
                                const char *settings, rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = get(b, S_SEG_BASIS, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, id);
  bind_str(s, 2, as_of);
  bind_str(s, 3, settings);
  rc = seg_run(b, s, err, "updating a segment");
  if (!rc && sqlite3_changes(b->db) == 0)
    rc = no_segment(err, id);
  return rc;
}

/* The columns of SEG_GET and SCAN_SEGMENTS; the strings belong to the statement's row. */
static void segment_row(sqlite3_stmt *s, rt_segment_info *out) {
  out->id = sqlite3_column_int64(s, 0);
  out->name = (char *)sqlite3_column_text(s, 1);
  out->rule = (char *)sqlite3_column_text(s, 2);
  out->description = (char *)sqlite3_column_text(s, 3);
  out->created_ms = sqlite3_column_int64(s, 4);
  out->updated_ms = sqlite3_column_int64(s, 5);
  out->evaluated_ms = sqlite3_column_int64(s, 6);
  out->size = sqlite3_column_int64(s, 7);
  out->as_of = (char *)sqlite3_column_text(s, 8);
  out->settings = (char *)sqlite3_column_text(s, 9);
}

static int sq_segment_get(rt_store_backend *b, const char *name, rt_segment_info *out,
                          rt_error *err) {
  sqlite3_stmt *s;
  int rc = get(b, S_SEG_GET, &s, err);
  if (rc)
    return rc;
  bind_str(s, 1, name);
  rc = lookup(b, s, err, "reading a segment");
  if (rc < 0)
    return rc;
  if (rc == 0)
    return rt_error_set(err, RT_ENOTFOUND, "no segment '%.200s'", name);
  rt_segment_info row;
  segment_row(s, &row);
  *out = row;
  out->name = row.name ? rt_strdup(row.name) : NULL;
  out->rule = row.rule ? rt_strdup(row.rule) : NULL;
  out->description = row.description ? rt_strdup(row.description) : NULL;
  out->as_of = row.as_of ? rt_strdup(row.as_of) : NULL;
  out->settings = row.settings ? rt_strdup(row.settings) : NULL;
  int oom = !out->name || !out->rule || (row.description && !out->description) ||
            (row.as_of && !out->as_of) || (row.settings && !out->settings);
  sqlite3_reset(s);
  if (oom) {
    rt_segment_info_free(out);
    memset(out, 0, sizeof *out);
    return rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path);
  }
  return 0;
}

static int sq_segment_delete(rt_store_backend *b, int64_t id, rt_error *err) {
  /* the segment first: when it is unknown nothing else is looked at */
  static const stmt_id steps[] = {S_SEG_DELETE, S_SEG_DELETE_MEMBERS, S_SEG_DELETE_EVENTS,
                                  S_SEG_DELETE_SIZES};
  int rc = in_txn(b, err);
  for (size_t i = 0; !rc && i < sizeof steps / sizeof steps[0]; i++) {
    sqlite3_stmt *s;
    rc = get(b, steps[i], &s, err);
    if (rc)
      break;
    sqlite3_bind_int64(s, 1, id);
    rc = seg_run(b, s, err, "deleting a segment");
    if (!rc && i == 0 && sqlite3_changes(b->db) == 0)
      rc = no_segment(err, id);
  }
  return rc;
}

static int sq_segment_move(rt_store_backend *b, int64_t id, int64_t customer, int enter,
                           int64_t at_ms, rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = flush(b, B_CUSTOMERS, err); /* the customer may still be buffered (bulk mode) */
  if (!rc)
    rc = get(b, S_SEG_MEMBER_STATE, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, id);
  sqlite3_bind_int64(s, 2, customer);
  rc = lookup(b, s, err, "reading a segment's member");
  if (rc < 0)
    return rc;
  if (rc == 0)
    return no_segment(err, id);
  const char *seg = (const char *)sqlite3_column_text(s, 0);
  const char *ext = (const char *)sqlite3_column_text(s, 1); /* NULL: no such customer */
  int member = sqlite3_column_int(s, 2);
  rc = 0;
  if (!ext)
    rc = rt_error_set(err, RT_ENOTFOUND, "segment '%.200s': no customer with id %lld",
                      seg ? seg : "", (long long)customer);
  else if (member == enter)
    rc = rt_error_set(err, RT_EINVAL,
                      enter ? "customer '%.200s' is already in segment '%.200s'"
                            : "customer '%.200s' is not in segment '%.200s'",
                      ext, seg ? seg : "");
  sqlite3_reset(s);
  if (rc)
    return rc;
  rc = get(b, enter ? S_SEG_ENTER : S_SEG_LEAVE, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, id);
  sqlite3_bind_int64(s, 2, customer);
  if (enter)
    sqlite3_bind_int64(s, 3, at_ms);
  rc = seg_run(b, s, err, enter ? "adding a segment member" : "removing a segment member");
  if (!rc)
    rc = get(b, S_SEG_EVENT_INSERT, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, id);
  sqlite3_bind_int64(s, 2, customer);
  sqlite3_bind_int(s, 3, enter);
  sqlite3_bind_int64(s, 4, at_ms);
  return seg_run(b, s, err, "recording a segment event");
}

static int sq_segment_evaluated(rt_store_backend *b, int64_t id, int64_t at_ms, int64_t size,
                                int64_t entered, int64_t exited, rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = get(b, S_SEG_EVALUATED, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, id);
  sqlite3_bind_int64(s, 2, at_ms);
  sqlite3_bind_int64(s, 3, size);
  rc = seg_run(b, s, err, "recording a segment evaluation");
  if (!rc && sqlite3_changes(b->db) == 0)
    rc = no_segment(err, id);
  if (!rc)
    rc = get(b, S_SEG_SIZE_INSERT, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, id);
  sqlite3_bind_int64(s, 2, at_ms);
  sqlite3_bind_int64(s, 3, size);
  sqlite3_bind_int64(s, 4, entered);
  sqlite3_bind_int64(s, 5, exited);
  return seg_run(b, s, err, "recording a segment size");
}

static int sq_scan_segments(rt_store_backend *b, rt_store_segment_cb cb, void *ctx,
                            rt_error *err) {
  sqlite3_stmt *s;
  int rc = scan_start(b, S_SCAN_SEGMENTS, &s, err), x = SQLITE_DONE, stop = 0;
  if (rc)
    return rc;
  while (!stop && (x = sqlite3_step(s)) == SQLITE_ROW) {
    rt_segment_info info;
    segment_row(s, &info);
    stop = cb(ctx, &info);
  }
  return scan_end(b, s, stop ? SQLITE_DONE : x, stop, err, "reading segments");
}

static int sq_scan_segment_members(rt_store_backend *b, int64_t id, rt_store_member_cb cb,
                                   void *ctx, rt_error *err) {
  sqlite3_stmt *s;
  int rc = scan_start(b, S_SCAN_SEG_MEMBERS, &s, err), x = SQLITE_DONE, stop = 0;
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, id);
  while (!stop && (x = sqlite3_step(s)) == SQLITE_ROW)
    stop = cb(ctx, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
              sqlite3_column_int64(s, 2));
  return scan_end(b, s, stop ? SQLITE_DONE : x, stop, err, "reading segment members");
}

static int sq_scan_segment_sizes(rt_store_backend *b, int64_t id, rt_store_segment_size_cb cb,
                                 void *ctx, rt_error *err) {
  sqlite3_stmt *s;
  int rc = scan_start(b, S_SCAN_SEG_SIZES, &s, err), x = SQLITE_DONE, stop = 0;
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, id);
  while (!stop && (x = sqlite3_step(s)) == SQLITE_ROW)
    stop = cb(ctx, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
              sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 3));
  return scan_end(b, s, stop ? SQLITE_DONE : x, stop, err, "reading segment sizes");
}

static int sq_scan_segment_events(rt_store_backend *b, int64_t id, int64_t since_ms,
                                  rt_store_segment_event_cb cb, void *ctx, rt_error *err) {
  sqlite3_stmt *s;
  /* one segment reads its (segment_id, at_ms) index in order; every segment sorts */
  int rc = scan_start(b, id ? S_SCAN_SEG_EVENTS : S_SCAN_ALL_SEG_EVENTS, &s, err);
  int x = SQLITE_DONE, stop = 0;
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, id);
  sqlite3_bind_int64(s, 2, since_ms);
  while (!stop && (x = sqlite3_step(s)) == SQLITE_ROW)
    stop = cb(ctx, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1),
              (const char *)sqlite3_column_text(s, 2), sqlite3_column_int(s, 3) != 0,
              sqlite3_column_int64(s, 4));
  return scan_end(b, s, stop ? SQLITE_DONE : x, stop, err, "reading segment events");
}

/* ---- API keys ---- */

/* Runs a write to api_keys and counts its rows apart: keys are not customer data, so sq_commit
 * must not bump the data version for them. */
static int key_run(rt_store_backend *b, sqlite3_stmt *s, rt_error *err, const char *what) {
  int rc = run(b, s, err, what);
  if (!rc)
    b->key_changes += sqlite3_changes64(b->db);
  return rc;
}

static int no_key(rt_error *err, int64_t id) {
  return rt_error_set(err, RT_ENOTFOUND, "no API key with id %lld", (long long)id);
}

static void copy_col(sqlite3_stmt *s, int i, char *out, size_t n) {
  const char *t = (const char *)sqlite3_column_text(s, i);
  snprintf(out, n, "%s", t ? t : "");
}

/* The columns of KEY_CHECK and SCAN_KEYS (never the hash); NULL times are 0. */
static void key_row(sqlite3_stmt *s, rt_key_info *out) {
  out->id = sqlite3_column_int64(s, 0);
  copy_col(s, 1, out->name, sizeof out->name);
  copy_col(s, 2, out->scope, sizeof out->scope);
  copy_col(s, 3, out->prefix, sizeof out->prefix);
  out->created_ms = sqlite3_column_int64(s, 4);
  out->revoked_ms = sqlite3_column_int64(s, 5);
  out->last_used_ms = sqlite3_column_int64(s, 6);
}

static int sq_key_create(rt_store_backend *b, const char *name, const char *scope,
                         const char *prefix, const char *hash, int64_t *out_id, rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = get(b, S_KEY_INSERT, &s, err);
  if (rc)
    return rc;
  bind_str(s, 1, name);
  bind_str(s, 2, scope);
  bind_str(s, 3, prefix);
  bind_str(s, 4, hash);
  sqlite3_bind_int64(s, 5, now_ms());
  rc = key_run(b, s, err, "creating an API key");
  if (!rc)
    *out_id = sqlite3_last_insert_rowid(b->db);
  return rc;
}

static char *col_dup(sqlite3_stmt *s, int i) {
  const char *t = (const char *)sqlite3_column_text(s, i);
  return t ? rt_strdup(t) : NULL;
}

static int sq_subscription_get(rt_store_backend *b, const char *ext_id,
                               rt_subscription_rec *out, rt_error *err) {
  sqlite3_stmt *s;
  int rc = get(b, S_SUB_GET, &s, err);
  if (rc)
    return rc;
  bind_str(s, 1, ext_id);
  rc = lookup(b, s, err, "reading a subscription");
  if (rc < 0)
    return rc;
  if (rc == 0)
    return rt_error_set(err, RT_ENOTFOUND, "no subscription '%.200s'", ext_id);
  out->customer = sqlite3_column_int64(s, 0);
  out->ext_id = rt_strdup(ext_id);
  out->plan = col_dup(s, 1);
  out->started_ms = sqlite3_column_int64(s, 2);
  out->renews_ms = sqlite3_column_int64(s, 3); /* NULL reads as 0, "none" */
  out->canceled_ms = sqlite3_column_int64(s, 4);
  out->amount = sqlite3_column_int64(s, 5);
  out->currency = col_dup(s, 6);
  out->interval = col_dup(s, 7);
  out->import_id = sqlite3_column_int64(s, 8);
  int lost = !out->ext_id || !out->currency ||
             (!out->plan && sqlite3_column_type(s, 1) != SQLITE_NULL) ||
             (!out->interval && sqlite3_column_type(s, 7) != SQLITE_NULL);
  sqlite3_reset(s);
  return lost ? rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path) : 0;
}

static int sq_customer_get(rt_store_backend *b, const char *ext_id, int64_t id,
                           rt_customer_view *out, rt_error *err) {
  sqlite3_stmt *s;
  int rc = get(b, S_CUST_VIEW, &s, err);
  if (rc)
    return rc;
  bind_str(s, 1, ext_id);
  sqlite3_bind_int64(s, 2, id);
  rc = lookup(b, s, err, "reading a customer");
  if (rc < 0)
    return rc;
  if (rc == 0)
    return ext_id ? rt_error_set(err, RT_ENOTFOUND, "no customer '%.200s'", ext_id)
                  : rt_error_set(err, RT_ENOTFOUND, "no customer with id %lld", (long long)id);
  out->id = sqlite3_column_int64(s, 0);
  out->ext_id = col_dup(s, 1);
  out->created_ms = sqlite3_column_int64(s, 2);
  out->attrs = col_dup(s, 3);
  out->merged_into = sqlite3_column_int64(s, 4);
  out->merge_id = sqlite3_column_int64(s, 5);
  sqlite3_reset(s);
  if (!out->ext_id)
    return rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path);
  if ((rc = get(b, S_CUST_IDENTS, &s, err)))
    return rc;
  sqlite3_bind_int64(s, 1, out->id);
  size_t cap = 0;
  int x;
  while ((x = sqlite3_step(s)) == SQLITE_ROW) {
    if (out->nidentities == cap) {
      cap = cap ? 2 * cap : 8;
      rt_identity_view *v = rt_realloc(out->identities, cap * sizeof *v);
      if (!v) {
        sqlite3_reset(s);
        return rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path);
      }
      out->identities = v;
    }
    rt_identity_view *v = &out->identities[out->nidentities++];
    v->kind = col_dup(s, 0);
    v->value = col_dup(s, 1);
    v->reason = col_dup(s, 2);
    v->linked_ms = sqlite3_column_int64(s, 3);
  }
  sqlite3_reset(s);
  if (x != SQLITE_DONE)
    return db_fail(b, err, "reading a customer's identities");
  if ((rc = get(b, S_CUST_ORDERS, &s, err)))
    return rc;
  sqlite3_bind_int64(s, 1, out->id);
  rc = lookup(b, s, err, "reading a customer's orders");
  if (rc < 0)
    return rc;
  if (rc == 1) {
    out->orders = sqlite3_column_int64(s, 0);
    out->first_order_ms = sqlite3_column_int64(s, 1);
    out->last_order_ms = sqlite3_column_int64(s, 2);
    out->revenue = col_dup(s, 3);
    out->refunds = sqlite3_column_int64(s, 4);
    out->events = sqlite3_column_int64(s, 5);
    sqlite3_reset(s);
  }
  return 0;
}

static int sq_key_check(rt_store_backend *b, const char *hash, rt_key_info *out, rt_error *err) {
  sqlite3_stmt *s;
  int rc = get(b, S_KEY_CHECK, &s, err);
  if (rc)
    return rc;
  bind_str(s, 1, hash);
  rc = lookup(b, s, err, "checking an API key");
  if (rc < 0)
    return rc;
  if (rc == 0)
    return rt_error_set(err, RT_ENOTFOUND, "unknown or revoked API key");
  key_row(s, out);
  sqlite3_reset(s);
  return 0;
}

static int sq_key_revoke(rt_store_backend *b, int64_t id, rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = get(b, S_KEY_REVOKE, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, id);
  sqlite3_bind_int64(s, 2, now_ms());
  rc = key_run(b, s, err, "revoking an API key");
  if (!rc && sqlite3_changes(b->db) == 0) /* a revoked key still counts: coalesce keeps it */
    rc = no_key(err, id);
  return rc;
}

static int sq_key_touch(rt_store_backend *b, int64_t id, int64_t at_ms, rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = get(b, S_KEY_TOUCH, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, id);
  sqlite3_bind_int64(s, 2, at_ms);
  rc = key_run(b, s, err, "recording an API key's use");
  if (!rc && sqlite3_changes(b->db) == 0)
    rc = no_key(err, id);
  return rc;
}

static int sq_scan_keys(rt_store_backend *b, rt_store_key_cb cb, void *ctx, rt_error *err) {
  sqlite3_stmt *s;
  int rc = scan_start(b, S_SCAN_KEYS, &s, err), x = SQLITE_DONE, stop = 0;
  if (rc)
    return rc;
  while (!stop && (x = sqlite3_step(s)) == SQLITE_ROW) {
    rt_key_info info;
    key_row(s, &info);
    stop = cb(ctx, &info);
  }
  return scan_end(b, s, stop ? SQLITE_DONE : x, stop, err, "reading API keys");
}

/* ---- exchange rates ---- */

/* An insert that finds the key does nothing; the update then writes only a different value,
 * so a rate put again unchanged leaves total_changes (and so the data version) alone. */
static int sq_rate_put(rt_store_backend *b, const rt_rate_rec *r, int *status, rt_error *err) {
  static const stmt_id steps[2] = {S_RATE_INSERT, S_RATE_REPLACE};
  static const int outcome[2] = {RT_PUT_NEW, RT_PUT_MERGED};
  int rc = in_txn(b, err);
  *status = RT_PUT_DUPLICATE;
  for (int k = 0; !rc && k < 2; k++) {
    sqlite3_stmt *s;
    rc = get(b, steps[k], &s, err);
    if (rc)
      break;
    bind_str(s, 1, r->base);
    bind_str(s, 2, r->currency);
    sqlite3_bind_int64(s, 3, r->day);
    sqlite3_bind_double(s, 4, r->rate);
    bind_str(s, 5, r->source);
    rc = run(b, s, err, "storing an exchange rate");
    if (!rc && sqlite3_changes(b->db) > 0) {
      *status = outcome[k];
      break;
    }
  }
  return rc;
}

static int sq_scan_rates(rt_store_backend *b, rt_store_rate_cb cb, void *ctx, rt_error *err) {
  sqlite3_stmt *s;
  int rc = scan_start(b, S_SCAN_RATES, &s, err), x = SQLITE_DONE, stop = 0;
  if (rc)
    return rc;
  while (!stop && (x = sqlite3_step(s)) == SQLITE_ROW) {
    rt_rate_rec r = {.base = (const char *)sqlite3_column_text(s, 0),
                     .currency = (const char *)sqlite3_column_text(s, 1),
                     .day = sqlite3_column_int64(s, 2),
                     .rate = sqlite3_column_double(s, 3),
                     .source = (const char *)sqlite3_column_text(s, 4)};
    stop = cb(ctx, &r);
  }
  return scan_end(b, s, stop ? SQLITE_DONE : x, stop, err, "reading exchange rates");
}

/* ---- timeline ---- */

static const char *const timeline_kinds[4] = {"event", "subscription", "order", "refund"};

static int no_customer(rt_error *err, int64_t id) {
  return rt_error_set(err, RT_ENOTFOUND, "no customer with id %lld", (long long)id);
}

static int sq_customer_timeline(rt_store_backend *b, int64_t customer,
                                const rt_timeline_cursor *after, size_t limit,
                                rt_store_timeline_cb cb, void *ctx, rt_timeline_cursor *next,
                                rt_error *err) {
  int64_t created = 0, merged = 0;
  int rc = flush_all(b, err);
  if (!rc)
    rc = customer_by_id(b, customer, &created, &merged, NULL, err);
  if (rc < 0)
    return rc;
  if (rc == 0)
    return no_customer(err, customer);
  sqlite3_stmt *s;
  if ((rc = scan_start(b, S_TIMELINE, &s, err)))
    return rc;
  sqlite3_bind_int64(s, 1, customer);
  sqlite3_bind_int64(s, 2, after->ts_ms);
  /* Items after the cursor are smaller in (time, rank, id). For a kind of lower rank than the
   * cursor's that is time <= cursor time, of higher rank time < cursor time, of the same rank
   * (time, id) < (cursor time, cursor id): each a range of its (customer_id, time) index. */
  for (int r = 0; r < 4; r++)
    sqlite3_bind_int64(s, 3 + r, r < after->rank ? INT64_MAX : r > after->rank ? 0 : after->id);
  sqlite3_bind_int64(s, 7, (int64_t)limit + 1); /* one more tells whether a page follows */
  size_t n = 0;
  int x, stop = 0;
  next->more = 0;
  while (!stop && (x = sqlite3_step(s)) == SQLITE_ROW) {
    if (n == limit) {
      next->more = 1;
      break;
    }
    int rank = sqlite3_column_int(s, 0);
    if (rank < 0 || rank > 3)
      rank = 0; /* cannot happen: the ranks are constants of the query */
    const char *a = (const char *)sqlite3_column_text(s, 4);
    const char *t = (const char *)sqlite3_column_text(s, 5);
    rt_timeline_item it = {.kind = timeline_kinds[rank], .id = sqlite3_column_int64(s, 2),
                           .ts_ms = sqlite3_column_int64(s, 1),
                           .ext_id = (const char *)sqlite3_column_text(s, 3),
                           .amount = sqlite3_column_int64(s, 6),
                           .currency = (const char *)sqlite3_column_text(s, 7),
                           .canceled_ms = sqlite3_column_int64(s, 8)};
    switch (rank) {
    case 0:
      it.type = a;
      it.props = t;
      break;
    case 1:
      it.plan = a;
      break;
    case 3:
      it.order_ext_id = a;
      it.reason = t;
      break;
    }
    next->ts_ms = it.ts_ms;
    next->rank = rank;
    next->id = it.id;
    n++;
    stop = cb(ctx, &it);
    if (stop)
      next->more = 1;
  }
  if (stop || next->more)
    x = SQLITE_DONE;
  return scan_end(b, s, x, stop, err, "reading a customer's timeline");
}

/* ---- merging customers ---- */

/* Runs statement id with the ids bound as ?1, ?2, ... (0 binds NULL). */
static int run_ids(rt_store_backend *b, stmt_id id, const int64_t *v, int n, rt_error *err,
                   const char *what) {
  sqlite3_stmt *s;
  int rc = get(b, id, &s, err);
  if (rc)
    return rc;
  for (int i = 0; i < n; i++)
    bind_opt(s, i + 1, v[i]);
  return run(b, s, err, what);
}

/* Moves the rows merge mid recorded from customer owner to customer to. */
static int move_rows(rt_store_backend *b, int64_t mid, int64_t owner, int64_t to, rt_error *err) {
  static const stmt_id moves[] = {S_MOVE_EVENTS, S_MOVE_ORDERS, S_MOVE_REFUNDS, S_MOVE_SUBS,
                                  S_MOVE_IDENTS};
  const int64_t v[3] = {mid, owner, to};
  int rc = 0;
  for (size_t i = 0; !rc && i < sizeof moves / sizeof moves[0]; i++)
    rc = run_ids(b, moves[i], v, 3, err, "moving a customer's rows");
  return rc;
}

/* 0 when customer id exists and is not merged away, with its attributes (NULL for none, else
 * a JSON object to json_decref); what names its role in the message. */
static int mergeable(rt_store_backend *b, int64_t id, const char *what, json_t **attrs,
                     rt_error *err) {
  int64_t created = 0, merged = 0;
  int rc = customer_by_id(b, id, &created, &merged, attrs, err);
  if (rc < 0)
    return rc;
  if (rc == 0)
    return no_customer(err, id);
  if (merged)
    return rt_error_set(err, RT_EINVAL, "%s customer %lld was already merged into customer %lld",
                        what, (long long)id, (long long)merged);
  return 0;
}

/* The JSON merge patch (RFC 7396) that takes back what patching from with into added to into:
 * a null for every key of from that into lacks, and the same again inside objects both have
 * (into wins every other conflict, so nothing else changed). NULL when out of memory. */
static json_t *revert_patch(json_t *from, json_t *into) {
  json_t *out = json_object();
  const char *key;
  json_t *fv;
  json_object_foreach(from, key, fv) {
    json_t *iv = json_object_get(into, key);
    json_t *r = !iv                                           ? json_null()
                : json_is_object(fv) && json_is_object(iv) ? revert_patch(fv, iv)
                                                             : NULL;
    if (r && (json_is_null(r) || json_object_size(r) > 0))
      json_object_set_new(out, key, r);
    else
      json_decref(r);
  }
  return out;
}

static int merge_patch_text(rt_store_backend *b, int64_t from, int64_t into, char **out,
                            rt_error *err) {
  json_t *fa = NULL, *ia = NULL;
  int rc = mergeable(b, from, "merging:", &fa, err);
  if (!rc)
    rc = mergeable(b, into, "merging into:", &ia, err);
  if (!rc) {
    json_t *empty = json_object();
    json_t *patch = revert_patch(json_is_object(fa) ? fa : empty, json_is_object(ia) ? ia : empty);
    *out = patch ? json_dumps(patch, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(patch);
    json_decref(empty);
    if (!*out)
      rc = rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path);
  }
  json_decref(fa);
  json_decref(ia);
  return rc;
}

static int sq_customer_merge(rt_store_backend *b, int64_t from, int64_t into, const char *reason,
                             int64_t at_ms, int64_t *merge_id, rt_error *err) {
  sqlite3_stmt *s;
  char *revert = NULL;
  int rc = in_txn(b, err);
  if (!rc)
    rc = flush_all(b, err);
  if (!rc)
    rc = merge_patch_text(b, from, into, &revert, err);
  if (!rc)
    rc = get(b, S_MERGE_INSERT, &s, err);
  if (rc) {
    free(revert);
    return rc;
  }
  sqlite3_bind_int64(s, 1, from);
  sqlite3_bind_int64(s, 2, into);
  bind_str(s, 3, reason);
  sqlite3_bind_int64(s, 4, at_ms);
  bind_str(s, 5, revert);
  rc = run(b, s, err, "recording a merge");
  free(revert); /* json_dumps allocates with jansson's allocator, malloc by default */
  if (rc)
    return rc;
  int64_t mid = sqlite3_last_insert_rowid(b->db);
  const int64_t rows[2] = {mid, from}, mark[2] = {from, into}, attrs[2] = {into, from};
  rc = run_ids(b, S_MERGE_ROWS, rows, 2, err, "recording a merge's rows");
  if (!rc)
    rc = run_ids(b, S_MERGE_IDENTS, rows, 2, err, "recording a merge's identities");
  if (!rc)
    rc = move_rows(b, mid, from, into, err);
  if (!rc)
    rc = run_ids(b, S_CUST_MERGED_INTO, mark, 2, err, "marking a merged customer");
  if (!rc)
    rc = run_ids(b, S_MERGE_INTO, attrs, 2, err, "merging customer attributes");
  if (!rc)
    rc = run_ids(b, S_MERGE_AFTER, &mid, 1, err, "recording a merge's attributes");
  if (!rc)
    *merge_id = mid;
  return rc;
}

static int sq_customer_unmerge(rt_store_backend *b, int64_t mid, int64_t at_ms, rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = flush_all(b, err);
  if (!rc)
    rc = get(b, S_UNMERGE_STATE, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, mid);
  rc = lookup(b, s, err, "reading a merge");
  if (rc < 0)
    return rc;
  if (rc == 0)
    return rt_error_set(err, RT_ENOTFOUND, "no merge with id %lld", (long long)mid);
  int64_t from = sqlite3_column_int64(s, 0), into = sqlite3_column_int64(s, 1);
  int undone = sqlite3_column_type(s, 2) != SQLITE_NULL;
  int64_t into_merged = sqlite3_column_int64(s, 3);
  sqlite3_reset(s);
  if (undone)
    return rt_error_set(err, RT_EINVAL, "merge %lld was already undone", (long long)mid);
  if (into_merged)
    return rt_error_set(err, RT_EINVAL,
                        "merge %lld: customer %lld has since been merged into customer %lld; "
                        "undo that merge first",
                        (long long)mid, (long long)into, (long long)into_merged);
  const int64_t attrs[2] = {mid, into}, mark[2] = {from, 0};
  rc = move_rows(b, mid, into, from, err);
  if (!rc)
    rc = run_ids(b, S_UNMERGE_INTO, attrs, 2, err, "restoring customer attributes");
  if (!rc)
    rc = run_ids(b, S_CUST_MERGED_INTO, mark, 2, err, "unmarking a merged customer");
  if (!rc)
    rc = get(b, S_UNMERGE_DONE, &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, mid);
  sqlite3_bind_int64(s, 2, at_ms);
  return run(b, s, err, "recording an unmerge");
}

/* ---- privacy: erasure and export (store.h, docs/PRIVACY.md) ---- */

/* The ids of the person an erasure or export is about, bound as ?1 (customer_group's JSON). */
#define IN_GROUP "IN (SELECT value FROM json_each(?1))"
#define MERGES_OF_GROUP "(SELECT id FROM merges WHERE from_id " IN_GROUP " OR into_id " IN_GROUP ")"

/* Suppression-list statements, prepared on first use (apart from STATEMENTS: only stores with
 * erasures run them). */
static int priv_stmt(rt_store_backend *b, int i, const char *sql, sqlite3_stmt **out,
                     rt_error *err) {
  if (!b->priv[i]) {
    int rc = prepare(b, sql, &b->priv[i], err);
    if (rc)
      return rc;
  }
  *out = b->priv[i];
  return 0;
}

/* The store's erasure secret into b->secret: 1 when there is one, 0 when the store never had
 * an erasure that suppressed ids (nothing to look up then), <0 error. Cached once found: it
 * never changes. */
static int erasure_secret(rt_store_backend *b, rt_error *err) {
  if (b->secret[0])
    return 1;
  char *v = NULL;
  int rc = sq_meta_get(b, RT__ERASURE_SECRET_KEY, &v, err);
  if (rc)
    return rc;
  if (v && strlen(v) < sizeof b->secret)
    snprintf(b->secret, sizeof b->secret, "%s", v);
  rt_free(v);
  return b->secret[0] != 0;
}

static int sq_merge_undone(rt_store_backend *b, int64_t from, int64_t into, int *found,
                           rt_error *err) {
  sqlite3_stmt *s;
  int rc = priv_stmt(b, 0,
                     "SELECT 1 FROM merges WHERE from_id = ?1 AND into_id = ?2 "
                     "AND unmerged_ms IS NOT NULL",
                     &s, err);
  if (rc)
    return rc;
  sqlite3_bind_int64(s, 1, from);
  sqlite3_bind_int64(s, 2, into);
  rc = lookup(b, s, err, "looking up undone merges");
  if (rc < 0)
    return rc;
  if (rc)
    sqlite3_reset(s);
  *found = rc;
  return 0;
}

static int sq_erased_check(rt_store_backend *b, const char *hash, int *found, rt_error *err) {
  sqlite3_stmt *s;
  int rc = priv_stmt(b, 0, "SELECT 1 FROM erased_ids WHERE hash = ?1", &s, err);
  if (rc)
    return rc;
  bind_str(s, 1, hash);
  rc = lookup(b, s, err, "looking up the suppression list");
  if (rc < 0)
    return rc;
  if (rc)
    sqlite3_reset(s);
  *found = rc;
  return 0;
}

static int sq_erased_lift(rt_store_backend *b, const char *hash, int *found, rt_error *err) {
  sqlite3_stmt *s;
  int rc = in_txn(b, err);
  if (!rc)
    rc = priv_stmt(b, 1, "DELETE FROM erased_ids WHERE hash = ?1", &s, err);
  if (rc)
    return rc;
  bind_str(s, 1, hash);
  rc = run(b, s, err, "lifting an id off the suppression list");
  if (!rc)
    *found = sqlite3_changes(b->db) > 0;
  return rc;
}

/* RT_EERASED when no customer may be created under ext: its id is on the suppression list.
 * Looked up only in a store that has an erasure secret, and only when a customer is new. */
static int refuse_erased(rt_store_backend *b, const char *ext, size_t len, rt_error *err) {
  int rc = erasure_secret(b, err);
  if (rc <= 0)
    return rc;
  char hash[65];
  int found = 0;
  rt__erasure_hash(b->secret, "customer", ext, len, hash);
  if ((rc = sq_erased_check(b, hash, &found, err)))
    return rc;
  if (found)
    return rt_error_set(err, RT_EERASED,
                        "customer '%.*s' was erased at their request (right to erasure): new "
                        "data under this id is refused",
                        (int)RT_MIN(len, 200), ext);
  return 0;
}

/* A statement built for one erasure or export (not cached: they are rare). */
static int once(rt_store_backend *b, const char *sql, sqlite3_stmt **out, rt_error *err) {
  if (sqlite3_prepare_v2(b->db, sql, -1, out, NULL) != SQLITE_OK) {
    *out = NULL;
    return db_fail(b, err, "preparing '%.60s'", sql);
  }
  return 0;
}

/* The customer id resolves to (*root: the end of its chain of merges) and, as a JSON array
 * (*ids, rt_free it), the ids of root and of every customer merged into it at any depth: the
 * person an erasure or export is about. 0, RT_ENOTFOUND or an error. */
static int customer_group(rt_store_backend *b, int64_t customer, int64_t *root, char **ids,
                          rt_error *err) {
  int64_t created, next = 0;
  int rc = flush_all(b, err);
  if (!rc)
    rc = customer_by_id(b, customer, &created, &next, NULL, err);
  if (rc < 0)
    return rc;
  if (rc == 0)
    return no_customer(err, customer);
  *root = customer;
  for (int hops = 0; next; hops++) {
    *root = next;
    rc = hops == MERGE_HOPS_MAX ? 0 : customer_by_id(b, next, &created, &next, NULL, err);
    if (rc < 0)
      return rc;
    if (rc == 0)
      return rt_error_set(err, RT_ESTORE, "%s: customer %lld: a broken chain of merges",
                          b->path, (long long)customer);
  }
  sqlite3_stmt *s;
  if ((rc = once(b,
                 "WITH RECURSIVE g(id) AS (SELECT ?1 UNION SELECT c.id FROM customers c "
                 "JOIN g ON c.merged_into = g.id) SELECT json_group_array(id) FROM g",
                 &s, err)))
    return rc;
  sqlite3_bind_int64(s, 1, *root);
  if (sqlite3_step(s) != SQLITE_ROW)
    rc = db_fail(b, err, "finding the customers merged into customer %lld", (long long)*root);
  else if (!(*ids = rt_strdup((const char *)sqlite3_column_text(s, 0))))
    rc = rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path);
  sqlite3_finalize(s);
  return rc;
}

/* A table that holds rows of customers: it has a customer_id column. The others that do
 * (segment_id, run_id, import_id) say what the export adds to its rows. */
typedef struct owned_table {
  char name[64];
  int segment, run, import;
} owned_table;
#define OWNED_MAX 16

/* Every table with a customer_id column, in the order they were created: found in the schema,
 * so a table added later is erased and exported without anyone remembering to. */
static int owned_tables(rt_store_backend *b, owned_table *t, size_t *n, rt_error *err) {
  sqlite3_stmt *s;
  int rc = once(b,
                "SELECT m.name, EXISTS (SELECT 1 FROM pragma_table_info(m.name) "
                "WHERE name = 'segment_id'), EXISTS (SELECT 1 FROM pragma_table_info(m.name) "
                "WHERE name = 'run_id'), EXISTS (SELECT 1 FROM pragma_table_info(m.name) "
                "WHERE name = 'import_id') FROM sqlite_schema m WHERE m.type = 'table' AND "
                "EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE name = 'customer_id') "
                "ORDER BY m.rowid",
                &s, err);
  if (rc)
    return rc;
  int x;
  *n = 0;
  while ((x = sqlite3_step(s)) == SQLITE_ROW && *n < OWNED_MAX) {
    owned_table *o = &t[(*n)++];
    snprintf(o->name, sizeof o->name, "%s", (const char *)sqlite3_column_text(s, 0));
    o->segment = sqlite3_column_int(s, 1);
    o->run = sqlite3_column_int(s, 2);
    o->import = sqlite3_column_int(s, 3);
  }
  if (x == SQLITE_ROW)
    rc = rt_error_set(err, RT_ESTORE, "%s: more than %d tables hold customers", b->path,
                      OWNED_MAX);
  else if (x != SQLITE_DONE)
    rc = db_fail(b, err, "reading the schema");
  sqlite3_finalize(s);
  return rc;
}

/* Puts the erased customers' ids (theirs, and the anonymousIds linked to them) on the
 * suppression list as keyed hashes; *n counts the new entries. */
static int suppress_group(rt_store_backend *b, const char *secret, const char *ids, int64_t *n,
                          rt_error *err) {
  sqlite3_stmt *s, *ins;
  int rc = once(b,
                "SELECT 'customer', ext_id FROM customers WHERE id " IN_GROUP " UNION ALL "
                "SELECT 'anonymous', value FROM identities WHERE kind = 'anonymous' AND "
                "customer_id " IN_GROUP,
                &s, err);
  if (rc)
    return rc;
  if ((rc = once(b, "INSERT OR IGNORE INTO erased_ids(hash) VALUES (?1)", &ins, err))) {
    sqlite3_finalize(s);
    return rc;
  }
  bind_str(s, 1, ids);
  int x;
  while (!rc && (x = sqlite3_step(s)) == SQLITE_ROW) {
    char hash[65];
    rt__erasure_hash(secret, (const char *)sqlite3_column_text(s, 0),
                     (const char *)sqlite3_column_text(s, 1),
                     (size_t)sqlite3_column_bytes(s, 1), hash);
    bind_str(ins, 1, hash);
    rc = run(b, ins, err, "adding to the suppression list");
    if (!rc)
      *n += sqlite3_changes(b->db);
  }
  if (!rc && x != SQLITE_DONE)
    rc = db_fail(b, err, "reading the ids to suppress");
  sqlite3_finalize(s);
  sqlite3_finalize(ins);
  return rc;
}

/* Runs one DELETE of an erasure (ids bound as ?1) and notes its count under table. */
static int erase_rows(rt_store_backend *b, const char *table, const char *sql, const char *ids,
                      rt_erasure *out, rt_error *err) {
  sqlite3_stmt *s;
  int rc = once(b, sql, &s, err);
  if (rc)
    return rc;
  bind_str(s, 1, ids);
  if (sqlite3_step(s) != SQLITE_DONE)
    rc = db_fail(b, err, "erasing from %s", table);
  sqlite3_finalize(s);
  if (rc)
    return rc;
  if (out->ntables == RT_ERASE_TABLES_MAX)
    return rt_error_set(err, RT_ESTORE, "%s: an erasure touches more than %d tables", b->path,
                        RT_ERASE_TABLES_MAX);
  snprintf(out->removed[out->ntables].table, sizeof out->removed[0].table, "%s", table);
  out->removed[out->ntables++].rows = sqlite3_changes(b->db);
  return 0;
}

/* The deletes of an erasure: what hangs off the customers' rows first (order lines, the
 * merges they took part in), then every table holding their customer_id, then the customers. */
static int erase_group(rt_store_backend *b, const char *ids, rt_erasure *out, rt_error *err) {
  owned_table t[OWNED_MAX];
  size_t n = 0;
  int rc = owned_tables(b, t, &n, err);
  if (!rc)
    rc = erase_rows(b, "order_lines",
                    "DELETE FROM order_lines WHERE order_id IN (SELECT id FROM orders WHERE "
                    "customer_id " IN_GROUP ")",
                    ids, out, err);
  if (!rc)
    rc = erase_rows(b, "merge_identities",
                    "DELETE FROM merge_identities WHERE merge_id IN " MERGES_OF_GROUP, ids, out,
                    err);
  if (!rc)
    rc = erase_rows(b, "merge_rows", "DELETE FROM merge_rows WHERE merge_id IN " MERGES_OF_GROUP,
                    ids, out, err);
  if (!rc)
    rc = erase_rows(b, "merges", "DELETE FROM merges WHERE id IN " MERGES_OF_GROUP, ids, out,
                    err);
  for (size_t i = 0; !rc && i < n; i++) {
    char *sql = sqlite3_mprintf("DELETE FROM \"%w\" WHERE customer_id " IN_GROUP, t[i].name);
    rc = sql ? erase_rows(b, t[i].name, sql, ids, out, err)
             : rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path);
    sqlite3_free(sql);
  }
  if (!rc)
    rc = erase_rows(b, "customers", "DELETE FROM customers WHERE id " IN_GROUP, ids, out, err);
  if (!rc)
    out->customers = out->removed[out->ntables - 1].rows;
  return rc;
}

/* The erasures log's row: no personal data, only counts and who asked. */
static int log_erasure(rt_store_backend *b, const char *requested_by, int64_t at_ms,
                       rt_erasure *out, rt_error *err) {
  json_t *removed = json_object();
  for (size_t i = 0; removed && i < out->ntables; i++)
    json_object_set_new(removed, out->removed[i].table, json_integer(out->removed[i].rows));
  char *text = removed ? json_dumps(removed, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(removed);
  sqlite3_stmt *s;
  int rc = text ? once(b,
                       "INSERT INTO erasures(erased_ms, requested_by, customers, removed, "
                       "suppressed) VALUES (?1, ?2, ?3, ?4, ?5)",
                       &s, err)
                : rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path);
  if (!rc) {
    sqlite3_bind_int64(s, 1, at_ms);
    bind_str(s, 2, requested_by);
    sqlite3_bind_int64(s, 3, out->customers);
    bind_str(s, 4, text);
    sqlite3_bind_int64(s, 5, out->suppressed);
    if (sqlite3_step(s) != SQLITE_DONE)
      rc = db_fail(b, err, "logging an erasure");
    sqlite3_finalize(s);
  }
  free(text); /* json_dumps allocates with jansson's allocator, malloc by default */
  if (!rc)
    out->id = sqlite3_last_insert_rowid(b->db);
  return rc;
}

static int pragma_int(rt_store_backend *b, const char *sql) {
  sqlite3_stmt *s;
  int v = 0;
  if (sqlite3_prepare_v2(b->db, sql, -1, &s, NULL) == SQLITE_OK) {
    if (sqlite3_step(s) == SQLITE_ROW)
      v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
  }
  return v;
}

static int sq_customer_erase(rt_store_backend *b, int64_t customer, const char *secret,
                             const char *requested_by, int64_t at_ms, rt_erasure *out,
                             rt_error *err) {
  char *ids = NULL;
  int rc = in_txn(b, err);
  if (!rc)
    rc = customer_group(b, customer, &out->customer, &ids, err);
  if (rc)
    return rc;
  /* what the deletes free is overwritten with zeros, not left in free space of the file */
  int secure = pragma_int(b, "PRAGMA secure_delete");
  rc = pragma(b, "PRAGMA secure_delete = 1", err);
  if (!rc && secret)
    rc = suppress_group(b, secret, ids, &out->suppressed, err);
  if (!rc)
    rc = erase_group(b, ids, out, err);
  if (!rc)
    rc = log_erasure(b, requested_by, at_ms, out, err);
  sqlite3_exec(b->db,
               secure == 2 ? "PRAGMA secure_delete = FAST"
               : secure    ? "PRAGMA secure_delete = 1"
                           : "PRAGMA secure_delete = 0",
               NULL, NULL, NULL);
  rt_free(ids);
  return rc;
}

static void sq_checkpoint(rt_store_backend *b) {
  if (sqlite3_get_autocommit(b->db))
    sqlite3_wal_checkpoint_v2(b->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
}

static int sq_scan_erasures(rt_store_backend *b, rt_store_erasure_cb cb, void *ctx,
                            rt_error *err) {
  sqlite3_stmt *s;
  int rc = once(b,
                "SELECT id, erased_ms, customers, suppressed, requested_by, removed "
                "FROM erasures ORDER BY id",
                &s, err);
  if (rc)
    return rc;
  int x, stop = 0;
  while (!stop && (x = sqlite3_step(s)) == SQLITE_ROW) {
    rt_erasure_log e = {sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
                        sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 3),
                        (const char *)sqlite3_column_text(s, 4),
                        (const char *)sqlite3_column_text(s, 5)};
    stop = cb(ctx, &e);
  }
  if (!stop && x != SQLITE_DONE)
    rc = db_fail(b, err, "reading the erasures");
  sqlite3_finalize(s);
  return stop ? stop : rc;
}

/* Columns holding JSON text: exported as JSON. */
static int json_column(const char *name) {
  static const char *const names[] = {"attrs",        "props",        "reasons",
                                      "params",       "into_attrs",   "merged_attrs",
                                      "attrs_revert", "settings"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(name, names[i]))
      return 1;
  return 0;
}

static json_t *text_json(sqlite3_stmt *s, int i, const char *name) {
  const char *t = (const char *)sqlite3_column_text(s, i);
  size_t n = (size_t)sqlite3_column_bytes(s, i);
  json_t *v = json_column(name) ? json_loadb(t, n, 0, NULL) : NULL;
  if (!v)
    v = json_stringn(t, n);
  return v ? v : json_stringn_nocheck(t, n); /* not UTF-8: the bytes as they are */
}

/* A row as a JSON object of its columns; a column x_ms (a time) becomes x, an ISO 8601 time.
 * NULL when out of memory. */
static json_t *row_json(sqlite3_stmt *s) {
  json_t *o = json_object();
  for (int i = 0, n = sqlite3_column_count(s); o && i < n; i++) {
    const char *name = sqlite3_column_name(s, i);
    size_t len = strlen(name);
    int time = len > 3 && !strcmp(name + len - 3, "_ms");
    char key[64], when[48];
    snprintf(key, sizeof key, "%.*s", (int)(time ? len - 3 : len), name);
    json_t *v;
    switch (sqlite3_column_type(s, i)) {
    case SQLITE_NULL:
      v = json_null();
      break;
    case SQLITE_INTEGER:
      if (time) {
        rt_time_format(NULL, sqlite3_column_int64(s, i), when, sizeof when);
        v = json_string(when);
      } else {
        v = json_integer(sqlite3_column_int64(s, i));
      }
      break;
    case SQLITE_FLOAT:
      v = json_real(sqlite3_column_double(s, i));
      break;
    default:
      v = text_json(s, i, name);
      break;
    }
    if (!v || json_object_set_new(o, key, v)) {
      json_decref(o);
      o = NULL;
    }
  }
  return o;
}

/* Delivers one table's rows of an export (ids bound as ?1): cb(table, NULL), then each row. */
static int export_table(rt_store_backend *b, const char *table, const char *sql, const char *ids,
                        int (*cb)(void *, const char *, json_t *), void *ctx, rt_error *err) {
  sqlite3_stmt *s;
  int rc = once(b, sql, &s, err);
  if (rc)
    return rc;
  bind_str(s, 1, ids);
  int x = SQLITE_DONE, stop = cb(ctx, table, NULL);
  while (!stop && (x = sqlite3_step(s)) == SQLITE_ROW) {
    json_t *row = row_json(s);
    if (!row) {
      rc = rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path);
      break;
    }
    stop = cb(ctx, table, row);
    json_decref(row);
  }
  if (!rc && !stop && x != SQLITE_DONE)
    rc = db_fail(b, err, "exporting %s", table);
  sqlite3_finalize(s);
  return stop ? stop : rc;
}

/* The SELECT of a table holding customers: every column, with the segment's name and the
 * model run's kind beside their ids; sqlite3_free it. */
static char *owned_select(const owned_table *t) {
  return sqlite3_mprintf("SELECT t.*%s%s FROM \"%w\" t WHERE t.customer_id " IN_GROUP,
                         t->segment ? ", (SELECT name FROM segments WHERE id = t.segment_id) "
                                      "AS segment"
                                    : "",
                         t->run ? ", (SELECT kind FROM model_runs WHERE id = t.run_id) AS model"
                                : "",
                         t->name);
}

/* The imports that wrote any of the customers' rows (where the data came from). */
static char *imports_select(const owned_table *t, size_t n) {
  char *sql = sqlite3_mprintf("SELECT * FROM imports WHERE id IN (SELECT NULL");
  for (size_t i = 0; sql && i < n; i++)
    if (t[i].import) {
      char *more = sqlite3_mprintf("%s UNION SELECT import_id FROM \"%w\" WHERE customer_id "
                                   IN_GROUP,
                                   sql, t[i].name);
      sqlite3_free(sql);
      sql = more;
    }
  char *done = sql ? sqlite3_mprintf("%s) ORDER BY id", sql) : NULL;
  sqlite3_free(sql);
  return done;
}

static int sq_export_rows(rt_store_backend *b, int64_t customer,
                          int (*cb)(void *ctx, const char *table, json_t *row), void *ctx,
                          rt_error *err) {
  int64_t root;
  char *ids = NULL;
  owned_table t[OWNED_MAX];
  size_t n = 0;
  int rc = customer_group(b, customer, &root, &ids, err);
  if (!rc)
    rc = owned_tables(b, t, &n, err);
  if (!rc)
    rc = export_table(b, "customers", "SELECT * FROM customers WHERE id " IN_GROUP " ORDER BY id",
                      ids, cb, ctx, err);
  for (size_t i = 0; !rc && i < n; i++) {
    char *sql = owned_select(&t[i]);
    rc = sql ? export_table(b, t[i].name, sql, ids, cb, ctx, err)
             : rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path);
    sqlite3_free(sql);
  }
  if (!rc)
    rc = export_table(b, "order_lines",
                      "SELECT l.* FROM order_lines l JOIN orders o ON o.id = l.order_id "
                      "WHERE o.customer_id " IN_GROUP,
                      ids, cb, ctx, err);
  if (!rc)
    rc = export_table(b, "merges", "SELECT * FROM merges WHERE id IN " MERGES_OF_GROUP, ids, cb,
                      ctx, err);
  if (!rc)
    rc = export_table(b, "merge_rows",
                      "SELECT * FROM merge_rows WHERE merge_id IN " MERGES_OF_GROUP, ids, cb, ctx,
                      err);
  if (!rc)
    rc = export_table(b, "merge_identities",
                      "SELECT * FROM merge_identities WHERE merge_id IN " MERGES_OF_GROUP, ids, cb,
                      ctx, err);
  if (!rc) {
    char *sql = imports_select(t, n);
    rc = sql ? export_table(b, "imports", sql, ids, cb, ctx, err)
             : rt_error_set(err, RT_ENOMEM, "%s: out of memory", b->path);
    sqlite3_free(sql);
  }
  rt_free(ids);
  return rc;
}

static int sq_count(rt_store_backend *b, rt_store_table t, int64_t *out, rt_error *err) {
  int rc = flush_all(b, err);
  if (rc)
    return rc;
  if (!b->count_stmt[t]) {
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", rt__store_table_names[t]);
    rc = prepare(b, sql, &b->count_stmt[t], err);
    if (rc)
      return rc;
  }
  sqlite3_stmt *s = b->count_stmt[t];
  rc = lookup(b, s, err, "counting rows");
  if (rc < 0)
    return rc;
  *out = rc ? sqlite3_column_int64(s, 0) : 0;
  if (rc)
    sqlite3_reset(s);
  return 0;
}

const rt_store_ops rt__store_sqlite_ops = {
    .name = "sqlite",
    .latest_schema_version = rt__sqlite_latest_version,
    .open = sq_open,
    .close = sq_close,
    .schema_version = sq_schema_version,
    .data_version = sq_data_version,
    .check_files = sq_check_files,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .read_begin = sq_read_begin,
    .read_end = sq_read_end,
    .meta_get = sq_meta_get,
    .meta_set = sq_meta_set,
    .customer_find = sq_customer_find,
    .customer_get = sq_customer_get,
    .customer_upsert = sq_customer_upsert,
    .customer_insert = sq_customer_insert,
    .customer_set_attrs = sq_customer_set_attrs,
    .identity_link = sq_identity_link,
    .identity_find = sq_identity_find,
    .order_put = sq_order_put,
    .refund_put = sq_refund_put,
    .event_put = sq_event_put,
    .subscription_put = sq_subscription_put,
    .subscription_get = sq_subscription_get,
    .bulk_begin = sq_bulk_begin,
    .bulk_end = sq_bulk_end,
    .ensure_indexes = sq_ensure_indexes,
    .import_begin = sq_import_begin,
    .import_finish = sq_import_finish,
    .scan_customers = sq_scan_customers,
    .scan_orders = sq_scan_orders,
    .scan_refunds = sq_scan_refunds,
    .scan_subscriptions = sq_scan_subscriptions,
    .scan_events = sq_scan_events,
    .scan_attrs = sq_scan_attrs,
    .count = sq_count,
    .score_run_begin = sq_score_run_begin,
    .score_put = sq_score_put,
    .score_run_finish = sq_score_run_finish,
    .score_run_get = sq_score_run_get,
    .scan_scores = sq_scan_scores,
    .segment_create = sq_segment_create,
    .segment_update = sq_segment_update,
    .segment_get = sq_segment_get,
    .segment_delete = sq_segment_delete,
    .segment_move = sq_segment_move,
    .segment_evaluated = sq_segment_evaluated,
    .scan_segments = sq_scan_segments,
    .segment_set_basis = sq_segment_set_basis,
    .scan_segment_members = sq_scan_segment_members,
    .scan_segment_sizes = sq_scan_segment_sizes,
    .scan_segment_events = sq_scan_segment_events,
    .key_create = sq_key_create,
    .key_check = sq_key_check,
    .key_revoke = sq_key_revoke,
    .key_touch = sq_key_touch,
    .scan_keys = sq_scan_keys,
    .customer_timeline = sq_customer_timeline,
    .customer_merge = sq_customer_merge,
    .customer_unmerge = sq_customer_unmerge,
    .rate_put = sq_rate_put,
    .scan_rates = sq_scan_rates,
    .customer_erase = sq_customer_erase,
    .merge_undone = sq_merge_undone,
    .erased_check = sq_erased_check,
    .erased_lift = sq_erased_lift,
    .scan_erasures = sq_scan_erasures,
    .export_rows = sq_export_rows,
    .checkpoint = sq_checkpoint,
};
