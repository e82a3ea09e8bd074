/* test_attrs.c - customer attributes (src/store/attrs.c and rt_store_customer_set_attrs): the
 * merge patch gives what SQLite's json_patch gave (which it replaced), in linear time; the
 * limits on keys and bytes, growth refused but changes and deletes of a customer already over
 * them allowed; a refused write leaves the store as it was. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <retain/store.h>

#include "store/attrs.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* SQLite's json_patch of two texts, as a jansson value (the reference the merge replaced). */
static json_t *sqlite_patch(sqlite3 *db, const char *cur, const char *patch) {
  sqlite3_stmt *s;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT json_patch(coalesce(?1, '{}'), ?2)", -1, &s,
                                      NULL),
                   SQLITE_OK);
  if (cur)
    sqlite3_bind_text(s, 1, cur, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, patch, -1, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(s), SQLITE_ROW);
  json_t *j = json_loads((const char *)sqlite3_column_text(s, 0), 0, NULL);
  sqlite3_finalize(s);
  assert_non_null(j);
  return j;
}

static void test_same_as_json_patch(void **state) {
  (void)state;
  static const struct {
    const char *cur, *patch, *want; /* want: the exact text, keys in their order */
  } cases[] = {
      {NULL, "{\"a\":1}", "{\"a\":1}"},
      {"{\"a\":1,\"b\":2}", "{\"a\":null,\"c\":3}", "{\"b\":2,\"c\":3}"},
      {"{\"a\":1,\"b\":2}", "{\"a\":\"x\"}", "{\"a\":\"x\",\"b\":2}"},
      {"{\"x\":{\"p\":1,\"q\":2}}", "{\"x\":{\"q\":null,\"r\":3}}", "{\"x\":{\"p\":1,\"r\":3}}"},
      {"{\"x\":5}", "{\"x\":{\"p\":null,\"q\":{\"r\":null,\"s\":1}}}", "{\"x\":{\"q\":{\"s\":1}}}"},
      {"{\"x\":{\"p\":1}}", "{\"x\":[1,null,{\"a\":null}]}", "{\"x\":[1,null,{\"a\":null}]}"},
      {"{\"x\":{\"p\":1}}", "{\"x\":\"flat\"}", "{\"x\":\"flat\"}"},
      {"{\"a\":1}", "{}", "{\"a\":1}"},
      {"{\"a\":1}", "{\"missing\":null}", "{\"a\":1}"},
      {"{}", "{\"u\":\"\\u00e9\\n\",\"t\":true,\"f\":false,\"n\":-2.5}",
       "{\"u\":\"\xc3\xa9\\n\",\"t\":true,\"f\":false,\"n\":-2.5}"},
      {"[1]", "{\"a\":1}", "{\"a\":1}"}, /* not an object: replaced (RFC 7396) */
  };
  sqlite3 *db;
  assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char *out = NULL;
    rt_error err = {0};
    int rc = rt__attrs_merge(cases[k].cur, cases[k].cur ? strlen(cases[k].cur) : 0,
                             cases[k].patch, &out, &err);
    if (rc || strcmp(out, cases[k].want))
      fail_msg("case %zu: rc %d '%s' (wanted '%s'): %s", k, rc, out ? out : "", cases[k].want,
               err.msg);
    json_t *mine = json_loads(out, 0, NULL), *ref = sqlite_patch(db, cases[k].cur, cases[k].patch);
    if (!json_equal(mine, ref))
      fail_msg("case %zu: %s differs from json_patch's", k, out);
    json_decref(mine);
    json_decref(ref);
    free(out);
  }
  sqlite3_close(db);
  char *out = NULL;
  rt_error err = {0};
  assert_int_equal(rt__attrs_merge("{\"a\":", 5, "{\"b\":1}", &out, &err), RT_ESTORE);
  assert_int_equal(rt__attrs_merge(NULL, 0, "[1]", &out, &err), RT_EINVAL);
  assert_int_equal(rt__attrs_merge(NULL, 0, "{\"a\":1,\"a\":2}", &out, &err), RT_EINVAL);
  assert_null(out);
}

/* {"<prefix>0":v,...} with n keys; free it */
static char *object_of(size_t n, const char *prefix, const char *v) {
  char *b = malloc(n * (strlen(prefix) + strlen(v) + 16) + 4), *p = b;
  *p++ = '{';
  for (size_t i = 0; i < n; i++)
    p += sprintf(p, "%s\"%s%zu\":%s", i ? "," : "", prefix, i, v);
  strcpy(p, "}");
  return b;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 60,000 new keys onto 60,000 (json_patch: minutes): the merge is done long before a second
 * even under the sanitizers; the result is refused for its size all the same. */
static void test_linear(void **state) {
  (void)state;
  char *a = object_of(60000, "k", "1"), *b = object_of(60000, "j", "2");
  char *out = NULL;
  rt_error err = {0};
  double t0 = now_s();
  assert_int_equal(rt__attrs_merge(a, strlen(a), b, &out, &err), RT_ERANGE);
  double el = now_s() - t0;
  if (el > 2)
    fail_msg("merging 60,000 keys took %.2f s", el);
  assert_non_null(strstr(err.msg, "120000 keys"));
  json_t *j = json_loads(a, 0, NULL);
  assert_int_equal(rt__json_keys(j), 60000);
  json_decref(j);
  free(a);
  free(b);
}

static void test_limits(void **state) {
  (void)state;
  char path[] = "/tmp/rt_test_attrs_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  unlink(path);
  rt_store *st = NULL;
  rt_error err = {0};
  rt_store_config cfg = {.path = path};
  assert_int_equal(rt_store_open(&cfg, &st, &err), 0);
  int64_t id;
  int created;
  assert_int_equal(rt_store_customer_upsert(st, "c", 1, 1, &id, &created, &err), 0);
  char *full = object_of(RT_ATTRS_MAX_KEYS, "a", "1"), *one = object_of(1, "z", "1");
  assert_int_equal(rt_store_customer_set_attrs(st, id, full, &err), 0);
  int64_t v0;
  assert_int_equal(rt_store_data_version(st, &v0, &err), 0);
  /* one more key: refused, nothing changes */
  assert_int_equal(rt_store_customer_set_attrs(st, id, one, &err), RT_ERANGE);
  assert_non_null(strstr(err.msg, "would have 1001 keys (nested ones counted), at most 1000"));
  int64_t v1;
  assert_int_equal(rt_store_data_version(st, &v1, &err), 0);
  assert_true(v1 == v0);
  /* a nested object counts its keys: replacing a1's value by {"x":1} makes 1001 */
  assert_int_equal(rt_store_customer_set_attrs(st, id, "{\"a1\":{\"x\":1}}", &err), RT_ERANGE);
  /* changing and deleting stay possible at the limit */
  assert_int_equal(rt_store_customer_set_attrs(st, id, "{\"a1\":\"changed\",\"a2\":null}", &err),
                   0);
  assert_int_equal(rt_store_customer_set_attrs(st, id, one, &err), 0); /* back to 1000 */
  /* bytes: 64 KiB */
  char *blob = malloc(RT_ATTRS_MAX_BYTES + 64);
  snprintf(blob, 64, "{\"a3\":\"");
  memset(blob + 7, 'x', RT_ATTRS_MAX_BYTES);
  strcpy(blob + 7 + RT_ATTRS_MAX_BYTES, "\"}");
  assert_int_equal(rt_store_customer_set_attrs(st, id, blob, &err), RT_ERANGE);
  assert_non_null(strstr(err.msg, "bytes as JSON, at most 65536"));
  rt_store_close(st);

  /* a customer over the limits already (stored before them, or two merged): it may change
   * and shrink, not grow */
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  char *over = object_of(1500, "o", "1");
  sqlite3_stmt *s;
  assert_int_equal(sqlite3_prepare_v2(db, "UPDATE customers SET attrs = ?1", -1, &s, NULL),
                   SQLITE_OK);
  sqlite3_bind_text(s, 1, over, -1, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(s), SQLITE_DONE);
  sqlite3_finalize(s);
  sqlite3_close(db);
  assert_int_equal(rt_store_open(&cfg, &st, &err), 0);
  assert_int_equal(rt_store_customer_set_attrs(st, id, "{\"o1\":2,\"o2\":null}", &err), 0);
  assert_int_equal(rt_store_customer_set_attrs(st, id, one, &err), RT_ERANGE); /* 1499 + 1 */
  assert_non_null(strstr(err.msg, "1500 keys"));
  /* one out, one in: no larger than before */
  assert_int_equal(rt_store_customer_set_attrs(st, id, "{\"o3\":null,\"z0\":1}", &err), 0);
  char buf[64];
  sqlite3_open(path, &db);
  sqlite3_prepare_v2(db, "SELECT count(*) || json_extract(attrs, '$.o1') FROM customers, "
                         "json_each(customers.attrs)", -1, &s, NULL);
  assert_int_equal(sqlite3_step(s), SQLITE_ROW);
  snprintf(buf, sizeof buf, "%s", (const char *)sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  sqlite3_close(db);
  assert_string_equal(buf, "14992");
  rt_store_close(st);
  free(over);
  free(blob);
  free(full);
  free(one);
  unlink(path);
  char p2[600];
  snprintf(p2, sizeof p2, "%s-wal", path);
  unlink(p2);
  snprintf(p2, sizeof p2, "%s-shm", path);
  unlink(p2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_as_json_patch),
      cmocka_unit_test(test_linear),
      cmocka_unit_test(test_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
