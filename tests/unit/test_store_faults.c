/* test_store_faults.c - the store (src/store/) when its files are not what they should be:
 * the -wal or the database file deleted or replaced while it is open (writes refused from
 * then on, the writes before kept), a damaged page met by a writable open (quick_check) and by
 * a read, a schema lost with the data still there, a header that is not SQLite's, another
 * program's database, and the wait for another connection's write lock (busy_ms). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <retain/store.h>

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char dir[64];
static char db[128];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/rt_test_faults_XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  snprintf(db, sizeof db, "%s/s.db", dir);
  return 0;
}

static void remove_store(void) {
  char p[160];
  static const char *const ext[] = {"", "-wal", "-shm", ".old"};
  for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
    snprintf(p, sizeof p, "%s%s", db, ext[i]);
    unlink(p);
  }
}

static int teardown(void **state) {
  (void)state;
  remove_store();
  return rmdir(dir);
}

static rt_store *open_store(int read_only, rt_error *err) {
  rt_store *st = NULL;
  rt_store_config cfg = {.path = db, .read_only = read_only};
  rt_store_open(&cfg, &st, err);
  return st;
}

static int put_event(rt_store *st, const char *ext, rt_error *err) {
  int64_t id;
  int created, status;
  int rc = rt_store_customer_upsert(st, "c", 1, 1, &id, &created, err);
  rt_event_rec e = {id, "tick", 1000, NULL, ext, 0, 0};
  return rc ? rc : rt_store_event_put(st, &e, &status, err);
}

static int count_event(void *ctx, int64_t customer, const char *type, int64_t ts_ms,
                       const char *props) {
  (void)customer, (void)type, (void)ts_ms, (void)props;
  ++*(int64_t *)ctx;
  return 0;
}

static int64_t events(rt_store *st) {
  int64_t n = -1;
  assert_int_equal(rt_store_count(st, "events", &n, NULL), 0);
  return n;
}

/* A store with n events, closed. */
static void make_store(int n) {
  remove_store();
  rt_error err = {0};
  rt_store *st = open_store(0, &err);
  assert_non_null(st);
  char ext[32];
  assert_int_equal(rt_store_begin(st, &err), 0);
  for (int i = 0; i < n; i++) {
    snprintf(ext, sizeof ext, "e%d", i);
    assert_int_equal(put_event(st, ext, &err), 0);
  }
  assert_int_equal(rt_store_commit(st, &err), 0);
  rt_store_close(st);
}

/* rm store.db-wal while the store is open: the next commit is refused, and every write after
 * it; what was committed before is in the database file once the store closes. */
static void test_wal_deleted(void **state) {
  (void)state;
  make_store(0);
  rt_error err = {0};
  rt_store *st = open_store(0, &err);
  assert_int_equal(put_event(st, "before1", &err), 0);
  assert_int_equal(put_event(st, "before2", &err), 0);
  char wal[160];
  snprintf(wal, sizeof wal, "%s-wal", db);
  assert_int_equal(unlink(wal), 0);
  assert_int_equal(put_event(st, "after1", &err), RT_EIO);
  assert_non_null(strstr(err.msg, "s.db-wal was deleted or replaced while the store was open"));
  assert_non_null(strstr(err.msg, "this one was not committed"));
  assert_non_null(strstr(err.msg, "every write committed before was copied into the database"));
  assert_int_equal(rt_store_begin(st, &err), RT_EIO);
  assert_non_null(strstr(err.msg, "refuses writes from now on"));
  assert_int_equal(put_event(st, "after2", &err), RT_EIO);
  assert_int_equal(events(st), 2); /* reads go on */
  rt_store_close(st);
  /* the file alone (no -wal, no -shm: as a crash after the refusal would leave it) has both */
  char shm[160];
  snprintf(shm, sizeof shm, "%s-shm", db);
  unlink(shm);
  unlink(wal);
  st = open_store(1, &err);
  assert_non_null(st);
  assert_int_equal(events(st), 2);
  rt_store_close(st);
}

/* The database file replaced under an open store (a backup restored over it). */
static void test_db_replaced(void **state) {
  (void)state;
  make_store(1);
  rt_error err = {0};
  rt_store *st = open_store(0, &err);
  assert_int_equal(put_event(st, "x1", &err), 0);
  char old[160];
  snprintf(old, sizeof old, "%s.old", db);
  assert_int_equal(rename(db, old), 0);
  int fd = open(db, O_CREAT | O_WRONLY, 0644);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(put_event(st, "x2", &err), RT_EIO);
  assert_non_null(strstr(err.msg, "s.db was deleted or replaced while the store was open"));
  assert_non_null(strstr(err.msg, "writes committed since the last checkpoint may be lost"));
  rt_store_close(st);
}

/* Overwrites page (1-based, 4 KiB pages) of the store with a pattern. */
static void damage(int page) {
  int fd = open(db, O_WRONLY);
  assert_true(fd >= 0);
  char junk[4096];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (char)(i * 7 + 13);
  assert_int_equal(pwrite(fd, junk, sizeof junk, (off_t)(page - 1) * 4096), (ssize_t)sizeof junk);
  close(fd);
}

static int page_of_events(void) {
  sqlite3 *d;
  sqlite3_stmt *s;
  assert_int_equal(sqlite3_open(db, &d), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(d,
                                      "SELECT pageno FROM dbstat WHERE name = 'events' AND "
                                      "pagetype = 'leaf' LIMIT 1 OFFSET 3",
                                      -1, &s, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(s), SQLITE_ROW);
  int page = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(d);
  return page;
}

static void test_damaged(void **state) {
  (void)state;
  make_store(3000);
  damage(page_of_events());
  rt_error err = {0};
  /* a writable open checks every page first */
  assert_null(open_store(0, &err));
  assert_int_equal(err.code, RT_ESTORE);
  assert_non_null(strstr(err.msg, "s.db: the store is damaged (PRAGMA quick_check: "));
  assert_non_null(strstr(err.msg, "s.db .recover | sqlite3 NEW.db"));
  /* a read-only open does not (seconds on a big store), but a read of the page says the same */
  rt_store *st = open_store(1, &err);
  assert_non_null(st);
  int64_t n = 0;
  assert_int_equal(rt_store_scan_events(st, count_event, &n, &err), RT_ESTORE);
  assert_non_null(strstr(err.msg, "the store is damaged ("));
  rt_store_close(st);

  /* the table of tables emptied (page 1 made a leaf without cells): no schema, but data */
  make_store(3000);
  int fd = open(db, O_WRONLY);
  assert_true(fd >= 0);
  static const char leaf[8] = {0x0d, 0, 0, 0, 0, 0x10, 0, 0};
  assert_int_equal(pwrite(fd, leaf, sizeof leaf, 100), (ssize_t)sizeof leaf);
  close(fd);
  assert_null(open_store(1, &err));
  assert_non_null(strstr(err.msg, "s.db: the store is damaged (it has no schema, but "));
  assert_null(open_store(0, &err));
  assert_non_null(strstr(err.msg, "s.db: the store is damaged (PRAGMA quick_check: Page "));

  /* the header */
  make_store(10);
  damage(1);
  for (int ro = 0; ro < 2; ro++) {
    assert_null(open_store(ro, &err));
    assert_non_null(strstr(err.msg, "s.db: not an SQLite database ("));
    assert_non_null(strstr(err.msg, "or it is a store whose first page is damaged"));
    assert_non_null(strstr(err.msg, ".recover"));
  }
}

static void test_other_database(void **state) {
  (void)state;
  remove_store();
  sqlite3 *d;
  assert_int_equal(sqlite3_open(db, &d), SQLITE_OK);
  assert_int_equal(sqlite3_exec(d, "CREATE TABLE meta (k TEXT)", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(d);
  rt_error err = {0};
  for (int ro = 0; ro < 2; ro++) {
    assert_null(open_store(ro, &err));
    assert_non_null(strstr(err.msg, "not a retain store: it holds tables of another kind ('meta'"));
  }
  /* an empty file is a new store */
  remove_store();
  close(open(db, O_CREAT | O_WRONLY, 0644));
  rt_store *st = open_store(0, &err);
  assert_non_null(st);
  rt_store_close(st);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Another connection holds the write lock: begin waits busy_ms, then RT_EBUSY. */
static void test_busy(void **state) {
  (void)state;
  make_store(1);
  sqlite3 *d;
  assert_int_equal(sqlite3_open(db, &d), SQLITE_OK);
  assert_int_equal(sqlite3_exec(d, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  rt_error err = {0};
  rt_store *st = NULL;
  rt_store_config cfg = {.path = db, .busy_ms = 300};
  assert_int_equal(rt_store_open(&cfg, &st, &err), 0);
  double t0 = now_s();
  assert_int_equal(rt_store_begin(st, &err), RT_EBUSY);
  double el = now_s() - t0;
  if (el < 0.25 || el > 3)
    fail_msg("begin gave up after %.2f s, not 0.3", el);
  sqlite3_exec(d, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close(d);
  assert_int_equal(rt_store_begin(st, &err), 0);
  rt_store_rollback(st);
  rt_store_close(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wal_deleted),
      cmocka_unit_test(test_db_replaced),
      cmocka_unit_test(test_damaged),
      cmocka_unit_test(test_other_database),
      cmocka_unit_test(test_busy),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
