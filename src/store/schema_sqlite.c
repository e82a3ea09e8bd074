/* schema_sqlite.c - the SQLite schema as an ordered list of migrations, and the runner that
 * brings a database up to date on open: every missing step runs in one transaction and is
 * recorded in schema_migrations. A database migrated by a newer retain is refused (RT_ESCHEMA).
 * Migrations are append-only: never edit a released step, add the next one (docs/STORE.md). */
#include "store/schema_sqlite.h"

#include <retain/error.h>

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct migration {
  int version;
  const char *name;
  const char *sql;
} migration;

/* Unique constraints are separate named indexes so that bulk mode can drop and rebuild them
 * (rt__sqlite_bulk_indexes below). Integers are UTC milliseconds or minor units of currency;
 * 0 / "none" values of the API are stored as NULL. */
static const migration migrations[] = {
    {1, "initial schema",
     "CREATE TABLE meta (\n"
     "  key TEXT PRIMARY KEY,\n"
     "  value TEXT\n"
     ");\n"
     "INSERT INTO meta(key, value) VALUES ('data_version', 0);\n"
     "CREATE TABLE customers (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  ext_id TEXT NOT NULL,\n"
     "  created_ms INTEGER NOT NULL,\n"
     "  attrs TEXT\n"
     ");\n"
     "CREATE UNIQUE INDEX customers_ext_id ON customers(ext_id);\n"
     "CREATE TABLE identities (\n"
     "  kind TEXT NOT NULL,\n"
     "  value TEXT NOT NULL,\n"
     "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
     "  reason TEXT,\n"
     "  linked_ms INTEGER NOT NULL\n"
     ");\n"
     "CREATE UNIQUE INDEX identities_kind_value ON identities(kind, value);\n"
     "CREATE INDEX identities_customer ON identities(customer_id);\n"
     "CREATE TABLE imports (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  kind TEXT NOT NULL,\n"
     "  path TEXT,\n"
     "  digest TEXT,\n"
     "  started_ms INTEGER NOT NULL,\n"
     "  finished_ms INTEGER,\n"
     "  rows INTEGER,\n"
     "  stored INTEGER,\n"
     "  skipped INTEGER\n"
     ");\n"
     "CREATE TABLE events (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
     "  type TEXT NOT NULL,\n"
     "  ts_ms INTEGER NOT NULL,\n"
     "  props TEXT,\n"
     "  ext_id TEXT,\n"
     "  import_id INTEGER REFERENCES imports(id)\n"
     ");\n"
     "CREATE UNIQUE INDEX events_ext_id ON events(ext_id);\n"
     "CREATE TABLE orders (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
     "  ext_id TEXT NOT NULL,\n"
     "  ts_ms INTEGER NOT NULL,\n"
     "  amount INTEGER NOT NULL,\n"
     "  currency TEXT NOT NULL,\n"
     "  import_id INTEGER REFERENCES imports(id)\n"
     ");\n"
     "CREATE UNIQUE INDEX orders_ext_id ON orders(ext_id);\n"
     "CREATE TABLE order_lines (\n"
     "  order_id INTEGER NOT NULL REFERENCES orders(id),\n"
     "  product TEXT,\n"
     "  name TEXT,\n"
     "  quantity REAL NOT NULL,\n"
     "  unit_price INTEGER NOT NULL,\n"
     "  amount INTEGER NOT NULL\n"
     ");\n"
     "CREATE TABLE refunds (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
     "  ext_id TEXT NOT NULL,\n"
     "  order_ext_id TEXT,\n"
     "  ts_ms INTEGER NOT NULL,\n"
     "  amount INTEGER NOT NULL,\n"
     "  currency TEXT NOT NULL,\n"
     "  reason TEXT,\n"
     "  import_id INTEGER REFERENCES imports(id)\n"
     ");\n"
     "CREATE UNIQUE INDEX refunds_ext_id ON refunds(ext_id);\n"
     "CREATE TABLE subscriptions (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
     "  ext_id TEXT NOT NULL,\n"
     "  plan TEXT,\n"
     "  started_ms INTEGER NOT NULL,\n"
     "  renews_ms INTEGER,\n"
     "  canceled_ms INTEGER,\n"
     "  amount INTEGER NOT NULL,\n"
     "  currency TEXT NOT NULL,\n"
     "  interval TEXT,\n"
     "  import_id INTEGER REFERENCES imports(id)\n"
     ");\n"
     "CREATE UNIQUE INDEX subscriptions_ext_id ON subscriptions(ext_id);\n"},
    {2, "model runs and customer scores",
     "CREATE TABLE model_runs (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  kind TEXT NOT NULL,\n"
     "  created_ms INTEGER NOT NULL,\n"
     "  data_version INTEGER NOT NULL,\n"
     "  params TEXT NOT NULL,\n"
     "  customers INTEGER NOT NULL DEFAULT 0\n"
     ");\n"
     "CREATE TABLE customer_scores (\n"
     "  run_id INTEGER NOT NULL REFERENCES model_runs(id),\n"
     "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
     "  p_alive REAL,\n"
     "  expected_purchases REAL,\n"
     "  predicted_clv REAL,\n"
     "  expected_next_order TEXT,\n"
     "  churn_probability REAL,\n"
     "  reasons TEXT,\n"
     "  PRIMARY KEY (run_id, customer_id)\n"
     ") WITHOUT ROWID;\n"},
    /* Segments are not touched by bulk mode, so the name may be a plain UNIQUE column;
     * evaluated_ms and size are 0 until the first evaluation. Several evaluations may share a
     * millisecond, so segment_sizes has no unique key: rowid keeps their order. */
    {3, "segments",
     "CREATE TABLE segments (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  name TEXT NOT NULL UNIQUE,\n"
     "  rule TEXT NOT NULL,\n"
     "  description TEXT,\n"
     "  created_ms INTEGER NOT NULL,\n"
     "  updated_ms INTEGER NOT NULL,\n"
     "  evaluated_ms INTEGER NOT NULL DEFAULT 0,\n"
     "  size INTEGER NOT NULL DEFAULT 0\n"
     ");\n"
     "CREATE TABLE segment_members (\n"
     "  segment_id INTEGER NOT NULL REFERENCES segments(id),\n"
     "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
     "  entered_ms INTEGER NOT NULL,\n"
     "  PRIMARY KEY (segment_id, customer_id)\n"
     ") WITHOUT ROWID;\n"
     "CREATE TABLE segment_events (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  segment_id INTEGER NOT NULL,\n"
     "  customer_id INTEGER NOT NULL,\n"
     "  enter INTEGER NOT NULL,\n"
     "  at_ms INTEGER NOT NULL\n"
     ");\n"
     "CREATE INDEX segment_events_segment ON segment_events(segment_id, at_ms);\n"
     "CREATE INDEX segment_events_customer ON segment_events(customer_id, at_ms);\n"
     "CREATE TABLE segment_sizes (\n"
     "  segment_id INTEGER NOT NULL,\n"
     "  at_ms INTEGER NOT NULL,\n"
     "  size INTEGER NOT NULL,\n"
     "  entered INTEGER NOT NULL,\n"
     "  exited INTEGER NOT NULL\n"
     ");\n"
     "CREATE INDEX segment_sizes_segment ON segment_sizes(segment_id, at_ms);\n"},
    /* API keys of the server: only the hex SHA-256 of a key is kept (the key itself is shown
     * once, when it is created), with its first characters so a list can tell keys apart.
     * revoked_ms and last_used_ms are NULL until it happens. */
    {4, "api keys",
     "CREATE TABLE api_keys (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  name TEXT,\n"
     "  scope TEXT NOT NULL CHECK (scope IN ('write', 'read', 'admin')),\n"
     "  prefix TEXT NOT NULL,\n"
     "  hash TEXT NOT NULL UNIQUE,\n"
     "  created_ms INTEGER NOT NULL,\n"
     "  revoked_ms INTEGER,\n"
     "  last_used_ms INTEGER\n"
     ");\n"},
    /* A customer's orders, refunds, events and subscriptions by time, for the read API
     * (rt_store_customer_get's counts and the timeline, newest first). The index key ends in
     * the rowid, so (customer_id, ts_ms, id) order comes from the index alone. The orders and
     * refunds ones are rebuilt after a bulk load like the unique indexes. */
    {5, "customer indexes",
     "CREATE INDEX orders_customer ON orders(customer_id, ts_ms);\n"
     "CREATE INDEX refunds_customer ON refunds(customer_id, ts_ms);\n"
     "CREATE INDEX events_customer ON events(customer_id, ts_ms);\n"
     "CREATE INDEX subscriptions_customer ON subscriptions(customer_id, started_ms);\n"},
    /* Merging one customer into another (rt_store_customer_merge): the merged-away customer
     * keeps its row, attributes and ext_id, with merged_into naming the survivor. A merge
     * records what it moved, so that it can be undone exactly: the ids of the moved events,
     * orders, refunds and subscriptions (merge_rows), the moved identities by their key
     * (merge_identities: identities has no stable id), and the survivor's attributes and
     * created_ms before and after (attrs_revert is the JSON merge patch that takes back what
     * the merge added). unmerged_ms is NULL while the merge stands. */
    {6, "customer merges",
     "ALTER TABLE customers ADD COLUMN merged_into INTEGER REFERENCES customers(id);\n"
     "CREATE TABLE merges (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  from_id INTEGER NOT NULL REFERENCES customers(id),\n"
     "  into_id INTEGER NOT NULL REFERENCES customers(id),\n"
     "  reason TEXT,\n"
     "  merged_ms INTEGER NOT NULL,\n"
     "  unmerged_ms INTEGER,\n"
     "  into_created_ms INTEGER NOT NULL,\n"
     "  into_attrs TEXT,\n"
     "  merged_attrs TEXT,\n"
     "  attrs_revert TEXT NOT NULL\n"
     ");\n"
     "CREATE INDEX merges_from ON merges(from_id);\n"
     "CREATE TABLE merge_rows (\n"
     "  merge_id INTEGER NOT NULL REFERENCES merges(id),\n"
     "  tbl TEXT NOT NULL,\n"
     "  row_id INTEGER NOT NULL,\n"
     "  PRIMARY KEY (merge_id, tbl, row_id)\n"
     ") WITHOUT ROWID;\n"
     "CREATE TABLE merge_identities (\n"
     "  merge_id INTEGER NOT NULL REFERENCES merges(id),\n"
     "  kind TEXT NOT NULL,\n"
     "  value TEXT NOT NULL,\n"
     "  PRIMARY KEY (merge_id, kind, value)\n"
     ") WITHOUT ROWID;\n"},
    /* Exchange rates (rt_store_rate_put, rates.h): on day (a civil date as a day number, days
     * since 1970-01-01, with no time zone: the date the rate was published for), 1 unit of
     * base is worth rate units of currency. One value per (base, currency, day): a later
     * import with another value replaces it. source names where it came from (the file).
     * Rates are customer data in the sense of the data version: a change bumps it, since the
     * model converts amounts with them. */
    {7, "exchange rates",
     "CREATE TABLE exchange_rates (\n"
     "  base TEXT NOT NULL,\n"
     "  currency TEXT NOT NULL,\n"
     "  day INTEGER NOT NULL,\n"
     "  rate REAL NOT NULL CHECK (rate > 0),\n"
     "  source TEXT,\n"
     "  PRIMARY KEY (base, currency, day)\n"
     ") WITHOUT ROWID;\n"},
    /* How a segment is judged: as_of (an ISO date) pins it to that day, NULL keeps it live
     * (judged as of the store's day at each evaluation); settings is a JSON object of the
     * feature settings (rfm_bins, lifecycle windows) that differ from the defaults, or NULL. */
    {8, "segment basis",
     "ALTER TABLE segments ADD COLUMN as_of TEXT;\n"
     "ALTER TABLE segments ADD COLUMN settings TEXT;\n"},
    /* Erasure (rt_store_customer_erase, docs/PRIVACY.md): erasures records that one happened,
     * with no personal data: when, who asked (a key id or "cli"), the customer rows and the
     * rows of each table removed (removed: a JSON object table -> count) and how many ids were
     * put on the suppression list. erased_ids is that list: the keyed hash (HMAC-SHA256 with
     * the store's meta 'erasure_secret') of each id new data must not recreate a profile
     * under. It is not linked to erasures, so the log cannot tell when a given id was
     * erased. */
    {9, "erasures",
     "CREATE TABLE erasures (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  erased_ms INTEGER NOT NULL,\n"
     "  requested_by TEXT NOT NULL,\n"
     "  customers INTEGER NOT NULL,\n"
     "  removed TEXT NOT NULL,\n"
     "  suppressed INTEGER NOT NULL\n"
     ");\n"
     "CREATE TABLE erased_ids (\n"
     "  hash TEXT PRIMARY KEY\n"
     ") WITHOUT ROWID;\n"},
};

/* The indexes bulk mode drops on empty tables and rebuilds at its end. They must match the
 * current schema (the latest migration that defines them). The array has no size of its own:
 * its type then conflicts with the declaration in schema_sqlite.h unless
 * RT__SQLITE_BULK_INDEXES counts exactly these entries. */
const rt__sqlite_index rt__sqlite_bulk_indexes[] = {
    {"customers", "customers_ext_id", 1,
     "CREATE UNIQUE INDEX customers_ext_id ON customers(ext_id)"},
    {"orders", "orders_ext_id", 1, "CREATE UNIQUE INDEX orders_ext_id ON orders(ext_id)"},
    {"refunds", "refunds_ext_id", 1, "CREATE UNIQUE INDEX refunds_ext_id ON refunds(ext_id)"},
    {"orders", "orders_customer", 0,
     "CREATE INDEX orders_customer ON orders(customer_id, ts_ms)"},
    {"refunds", "refunds_customer", 0,
     "CREATE INDEX refunds_customer ON refunds(customer_id, ts_ms)"},
};

int rt__sqlite_latest_version(void) {
  return migrations[sizeof migrations / sizeof migrations[0] - 1].version;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rt__sqlite_is_damage(int code) {
  return (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB;
}

int rt__sqlite_damaged(const char *path, int code, const char *detail, rt_error *err) {
  char what[1400];
  if ((code & 0xff) == SQLITE_NOTADB) /* no SQLite header: a damaged first page, or no store */
    snprintf(what, sizeof what, "%.400s: not an SQLite database (%.600s): either it is another "
             "kind of file, or it is a store whose first page is damaged.", path, detail);
  else
    snprintf(what, sizeof what, "%.400s: the store is damaged (%.600s).", path, detail);
  for (char *p = what; *p; p++) /* quick_check answers in lines */
    if (*p == '\n')
      *p = ' ';
  return rt_error_set(err, RT_ESTORE,
                      "%s Restore it from a backup, or recover what is left with `sqlite3 %s "
                      ".recover | sqlite3 NEW.db` and use NEW.db",
                      what, path);
}

static int sql_fail(sqlite3 *db, const char *path, const char *what, rt_error *err) {
  int x = sqlite3_errcode(db);
  if (rt__sqlite_is_damage(x)) {
    char detail[512];
    snprintf(detail, sizeof detail, "%s: %s", what, sqlite3_errmsg(db));
    return rt__sqlite_damaged(path, x, detail, err);
  }
  int code = (x == SQLITE_BUSY || x == SQLITE_LOCKED) ? RT_EBUSY
             : x == SQLITE_NOMEM                      ? RT_ENOMEM
             : (x == SQLITE_IOERR || x == SQLITE_FULL || x == SQLITE_CANTOPEN) ? RT_EIO
                                                                                : RT_ESTORE;
  return rt_error_set(err, code, "%s: %s: %s", path, what, sqlite3_errmsg(db));
}

/* The applied version: 0 for a database without schema_migrations (new, or not retain's). */
static int read_version(sqlite3 *db, const char *path, int *out, rt_error *err) {
  sqlite3_stmt *s = NULL;
  *out = 0;
  if (sqlite3_prepare_v2(db,
                         "SELECT count(*) FROM sqlite_schema WHERE type='table' AND "
                         "name='schema_migrations'",
                         -1, &s, NULL) != SQLITE_OK)
    return sql_fail(db, path, "reading the schema", err);
  int rc = sqlite3_step(s);
  int exists = rc == SQLITE_ROW && sqlite3_column_int(s, 0) > 0;
  sqlite3_finalize(s);
  if (rc != SQLITE_ROW)
    return sql_fail(db, path, "reading the schema", err);
  if (!exists)
    return 0;
  if (sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", -1, &s,
                         NULL) != SQLITE_OK)
    return sql_fail(db, path, "reading the schema version", err);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    *out = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  if (rc != SQLITE_ROW)
    return sql_fail(db, path, "reading the schema version", err);
  return 0;
}

/* The first column of sql's first row as text into out: 1, 0 when there is no row (out ""),
 * or an error (what names the step in its message). */
static int first_value(sqlite3 *db, const char *path, const char *sql, const char *what,
                       char *out, size_t cap, rt_error *err) {
  sqlite3_stmt *s = NULL;
  out[0] = 0;
  if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
    return sql_fail(db, path, what, err);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW && sqlite3_column_text(s, 0))
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return sql_fail(db, path, what, err);
  return rc == SQLITE_ROW;
}

/* A database without schema_migrations that holds tables is some other program's (or one
 * whose schema was damaged past what SQLite notices): retain must not add its tables to it.
 * 0 when it has none (a new or empty file), else RT_ESTORE naming one of its tables. */
static int foreign_tables(sqlite3 *db, const char *path, rt_error *err) {
  char name[200];
  int rc = first_value(db, path,
                       "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE "
                       "'sqlite\\_%' ESCAPE '\\' ORDER BY name LIMIT 1",
                       "reading the schema", name, sizeof name, err);
  if (rc <= 0)
    return rc;
  return rt_error_set(err, RT_ESTORE,
                      "%s: not a retain store: it holds tables of another kind ('%s', ...) and "
                      "no schema_migrations; name a new file for retain's store",
                      path, name);
}

/* A file with no schema at all is a new store - unless it has pages in use beside the first:
 * then its schema was lost (the first page damaged) and the data is still there. A writable
 * open finds that with quick_check; a read-only one asks here before calling it empty. */
static int schema_lost(sqlite3 *db, const char *path, rt_error *err) {
  char used[32];
  int rc = first_value(db, path,
                       "SELECT (SELECT page_count FROM pragma_page_count) - "
                       "(SELECT freelist_count FROM pragma_freelist_count)",
                       "reading the page count", used, sizeof used, err);
  if (rc < 0 || strtoll(used, NULL, 10) <= 1)
    return rc < 0 ? rc : 0;
  char detail[160];
  snprintf(detail, sizeof detail, "it has no schema, but %s pages of data", used);
  return rt__sqlite_damaged(path, SQLITE_CORRUPT, detail, err);
}

static int too_new(const char *path, int v, rt_error *err) {
  return rt_error_set(err, RT_ESCHEMA,
                      "%s: the store has schema version %d but this retain knows only up to %d; "
                      "use a newer retain",
                      path, v, rt__sqlite_latest_version());
}

int rt__sqlite_migrate(sqlite3 *db, const char *path, int read_only, int *version,
                       rt_error *err) {
  int latest = rt__sqlite_latest_version();
  int v, rc = read_version(db, path, &v, err);
  if (rc)
    return rc;
  if (v > latest)
    return too_new(path, v, err);
  if (v == latest) {
    *version = v;
    return 0;
  }
  if (v == 0 && ((rc = foreign_tables(db, path, err)) || (rc = schema_lost(db, path, err))))
    return rc;
  if (read_only)
    return rt_error_set(err, RT_ESTORE,
                        v == 0 ? "%s: not a retain store (no schema); import data into it first"
                               : "%s: the store has schema version %d, this retain needs %d; open "
                                 "it once for writing to migrate it",
                        path, v, latest);
  /* Take the write lock, then look again: another process may have migrated meanwhile. */
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    return sql_fail(db, path, "locking for migration", err);
  rc = read_version(db, path, &v, err);
  if (!rc && v > latest)
    rc = too_new(path, v, err);
  if (!rc && sqlite3_exec(db,
                          "CREATE TABLE IF NOT EXISTS schema_migrations (\n"
                          "  version INTEGER PRIMARY KEY,\n"
                          "  name TEXT NOT NULL,\n"
                          "  applied_ms INTEGER NOT NULL\n"
                          ")",
                          NULL, NULL, NULL) != SQLITE_OK)
    rc = sql_fail(db, path, "creating schema_migrations", err);
  for (size_t i = 0; !rc && i < sizeof migrations / sizeof migrations[0]; i++) {
    const migration *m = &migrations[i];
    if (m->version <= v)
      continue;
    char what[160];
    snprintf(what, sizeof what, "migration %d (%s)", m->version, m->name);
    if (sqlite3_exec(db, m->sql, NULL, NULL, NULL) != SQLITE_OK) {
      rc = sql_fail(db, path, what, err);
      break;
    }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO schema_migrations(version, name, applied_ms) "
                           "VALUES (?1, ?2, ?3)",
                           -1, &s, NULL) != SQLITE_OK) {
      rc = sql_fail(db, path, what, err);
      break;
    }
    sqlite3_bind_int(s, 1, m->version);
    sqlite3_bind_text(s, 2, m->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, now_ms());
    if (sqlite3_step(s) != SQLITE_DONE)
      rc = sql_fail(db, path, what, err);
    sqlite3_finalize(s);
    if (!rc)
      v = m->version;
  }
  if (!rc && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    rc = sql_fail(db, path, "committing the migration", err);
  if (rc) {
    if (!sqlite3_get_autocommit(db))
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
  }
  *version = v;
  return 0;
}
