/* sqlite_ceiling.c - what SQLite itself can take on this machine, as a yardstick for the
 * durable import: N order rows shaped like retain's orders table (customer, text order id,
 * time, amount, currency, import), inserted with one prepared statement in one transaction
 * (WAL, synchronous=FULL, 8 KiB pages), then the unique index on the order id built, then the
 * commit. No CSV parsing, no customers table: an upper bound for `retain import orders`.
 * With a third argument `int`, the order ids are stored as INTEGER values in a column without
 * type affinity instead of TEXT: what storing numeric ids as numbers would gain.
 *
 *   cmake --build build --target bench && build/bench/sqlite_ceiling [rows] [db-path] [int] */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check(sqlite3 *db, int rc, const char *what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    fprintf(stderr, "sqlite_ceiling: %s: %s\n", what, sqlite3_errmsg(db));
    exit(1);
  }
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000000;
  const char *path = argc > 2 ? argv[2] : "/tmp/retain-sqlite-ceiling.db";
  int int_keys = argc > 3 && strcmp(argv[3], "int") == 0;
  char wal[4200];
  snprintf(wal, sizeof wal, "%s-wal", path);
  remove(path);
  remove(wal);
  sqlite3 *db;
  if (sqlite3_open(path, &db) != SQLITE_OK)
    return 1;
  char schema[512];
  snprintf(schema, sizeof schema,
           "PRAGMA page_size=8192; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
           "PRAGMA cache_size=-262144; PRAGMA threads=2;"
           "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL,"
           " ext_id %s NOT NULL, ts_ms INTEGER NOT NULL, amount INTEGER NOT NULL,"
           " currency TEXT NOT NULL, import_id INTEGER)",
           int_keys ? "" : "TEXT");
  check(db, sqlite3_exec(db, schema, NULL, NULL, NULL), "schema");
  double t0 = now_s();
  check(db, sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), "begin");
  sqlite3_stmt *s;
  check(db,
        sqlite3_prepare_v2(db,
                           "INSERT INTO orders(customer_id, ext_id, ts_ms, amount, currency,"
                           " import_id) VALUES (?, ?, ?, ?, ?, ?)",
                           -1, &s, NULL),
        "prepare");
  char key[32];
  for (long i = 0; i < n; i++) {
    sqlite3_bind_int64(s, 1, (i * 7919) % (n / 3 + 1));
    if (int_keys) {
      sqlite3_bind_int64(s, 2, i + 1);
    } else {
      int len = snprintf(key, sizeof key, "%ld", i + 1);
      sqlite3_bind_text(s, 2, key, len, SQLITE_STATIC);
    }
    sqlite3_bind_int64(s, 3, 1700000000000LL + i * 1000);
    sqlite3_bind_int64(s, 4, 1000 + i % 5000);
    sqlite3_bind_text(s, 5, "USD", 3, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, 1);
    check(db, sqlite3_step(s), "insert");
    sqlite3_reset(s);
  }
  sqlite3_finalize(s);
  double t1 = now_s();
  check(db, sqlite3_exec(db, "CREATE UNIQUE INDEX orders_ext_id ON orders(ext_id)", NULL, NULL,
                         NULL),
        "index");
  double t2 = now_s();
  check(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
  double t3 = now_s();
  sqlite3_close(db);
  remove(path);
  remove(wal);
  printf("%ld rows, %s ids: insert %.2f s (%.0f k rows/s), unique index %.2f s, commit %.2f s; "
         "in all %.0f k rows/s\n",
         n, int_keys ? "integer" : "text", t1 - t0, (double)n / (t1 - t0) / 1e3, t2 - t1, t3 - t2, (double)n / (t3 - t0) / 1e3);
  return 0;
}
