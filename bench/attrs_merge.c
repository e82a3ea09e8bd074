/* attrs_merge.c - merging a customer's attributes: SQLite's json_patch (what the store used
 * until 2026-12-08) against the store's own merge (src/store/attrs.c), for a patch of N new
 * keys onto N keys: json_patch looks each key up in a list (N^2), the store's merge in a hash
 * table. The store now refuses more than RT_ATTRS_MAX_KEYS keys, so the larger sizes only
 * show what an identify with that many traits cost the server's writer before.
 *
 *   cmake --build build --target bench && build/bench/attrs_merge [N ...]
 *
 * Prints milliseconds per merge for each N (default 100 1000 10000 60000). */
#include "store/attrs.h"

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

/* {"<p>0":i,...} with n keys; free it */
static char *object_of(size_t n, char p) {
  char *b = malloc(n * 24 + 4), *q = b;
  *q++ = '{';
  for (size_t i = 0; i < n; i++)
    q += sprintf(q, "%s\"%c%zu\":%zu", i ? "," : "", p, i, i);
  strcpy(q, "}");
  return b;
}

static double sqlite_ms(sqlite3 *db, const char *cur, const char *patch) {
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(db, "SELECT json_patch(?1, ?2)", -1, &s, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(s, 1, cur, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, patch, -1, SQLITE_STATIC);
  double t0 = now_s();
  int rc = sqlite3_step(s);
  double ms = (now_s() - t0) * 1e3;
  sqlite3_finalize(s);
  return rc == SQLITE_ROW ? ms : -1;
}

/* the store's merge: parse both, patch, print, count; *refused when the result is over the
 * limits (it is merged all the same: the limit is checked on the result) */
static double store_ms(const char *cur, const char *patch, int *refused) {
  char *out = NULL;
  rt_error err = {0};
  double t0 = now_s();
  int rc = rt__attrs_merge(cur, strlen(cur), patch, &out, &err);
  double ms = (now_s() - t0) * 1e3;
  free(out);
  *refused = rc == RT_ERANGE;
  return rc == 0 || rc == RT_ERANGE ? ms : -1;
}

int main(int argc, char **argv) {
  static const char *const dflt[] = {"100", "1000", "10000", "60000"};
  int n = argc > 1 ? argc - 1 : 4;
  const char *const *sizes = argc > 1 ? (const char *const *)argv + 1 : dflt;
  sqlite3 *db;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK)
    return 1;
  printf("%8s %14s %14s  (SQLite %s)\n", "keys", "json_patch ms", "store ms", sqlite3_libversion());
  for (int k = 0; k < n; k++) {
    size_t keys = strtoul(sizes[k], NULL, 10);
    char *cur = object_of(keys, 'a'), *patch = object_of(keys, 'b');
    int refused;
    double a = sqlite_ms(db, cur, patch), b = store_ms(cur, patch, &refused);
    printf("%8zu %14.2f %14.2f%s\n", keys, a, b, refused ? "  (then refused: over the limits)" : "");
    free(cur);
    free(patch);
  }
  sqlite3_close(db);
  return 0;
}
