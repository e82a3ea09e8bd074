/* test_ingest.c - the server's Segment-spec event parser (src/server/ingest.c): the fields of
 * each event type, ids given as numbers, timestamps, e-commerce orders and their lines, the
 * JSON path of every kind of mistake, batch limits, and a randomized robustness run (mutated
 * bodies must parse or fail cleanly, under the sanitizers in CI). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <retain/error.h>

#include <stdio.h>
#include <string.h>

#include "server/ingest.h"

#define NOW 1735689600000LL /* 2025-01-01T00:00:00Z */

static int parse(const char *body, rt__ev_kind kind, rt__events *ev, char *field, rt_error *err) {
  return rt__events_parse(body, strlen(body), kind, NOW, 100, ev, field, 128, err);
}

static void test_events(void **state) {
  (void)state;
  rt__events ev;
  char field[128];
  rt_error err = {0};
  assert_int_equal(parse("{\"userId\":42,\"anonymousId\":\"a1\",\"messageId\":\"m\",\"traits\":"
                         "{\"email\":\"Ann@X.io\",\"plan\":\"pro\"},\"timestamp\":"
                         "\"2025-01-02T10:00:00+01:00\"}",
                         RT__EV_IDENTIFY, &ev, field, &err),
                   0);
  assert_int_equal(ev.n, 1);
  assert_string_equal(ev.v[0].user_id, "42");
  assert_string_equal(ev.v[0].anon_id, "a1");
  assert_string_equal(ev.v[0].email, "ann@x.io");
  assert_true(ev.v[0].ts_ms == NOW + 86400000LL + 9 * 3600000LL);
  assert_non_null(strstr(ev.v[0].props, "\"plan\":\"pro\""));
  rt__events_free(&ev);
  /* no timestamp: the receive time */
  assert_int_equal(parse("{\"anonymousId\":\"a\",\"event\":\"X\"}", RT__EV_TRACK, &ev, field,
                         &err), 0);
  assert_true(ev.v[0].ts_ms == NOW);
  assert_null(ev.v[0].user_id);
  rt__events_free(&ev);
  /* an order with lines, in a batch */
  assert_int_equal(parse("{\"batch\":[{\"type\":\"page\",\"userId\":\"u\",\"name\":\"Home\"},"
                         "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"Order Completed\","
                         "\"properties\":{\"order_id\":7,\"revenue\":\"12.5\",\"currency\":\"jpy\","
                         "\"products\":[{\"sku\":\"s\",\"quantity\":3,\"price\":2}]}}]}",
                         RT__EV_BATCH, &ev, field, &err),
                   0);
  assert_int_equal(ev.n, 2);
  assert_int_equal(ev.v[0].kind, RT__EV_PAGE);
  assert_string_equal(ev.v[0].name, "Home");
  assert_int_equal(ev.v[1].commerce, 1);
  assert_string_equal(ev.v[1].order_id, "7");
  assert_string_equal(ev.v[1].currency, "JPY");
  assert_true(ev.v[1].amount == 13); /* yen have no minor unit: 12.5 rounds */
  assert_int_equal(ev.v[1].nlines, 1);
  assert_true(ev.v[1].lines[0].amount == 6);
  rt__events_free(&ev);
}

/* every mistake names its JSON path */
static void test_errors(void **state) {
  (void)state;
  static const struct {
    const char *body;
    rt__ev_kind kind;
    const char *field;
  } cases[] = {
      {"{\"userId\":", RT__EV_TRACK, "$"},
      {"[1,2]", RT__EV_TRACK, "$"},
      {"{\"event\":\"A\"}", RT__EV_TRACK, "userId"},
      {"{\"userId\":\"\",\"event\":\"A\"}", RT__EV_TRACK, "userId"},
      {"{\"userId\":\"u\"}", RT__EV_TRACK, "event"},
      {"{\"userId\":\"u\",\"event\":\"A\",\"timestamp\":\"soon\"}", RT__EV_TRACK, "timestamp"},
      {"{\"userId\":\"u\",\"event\":\"A\",\"properties\":[1]}", RT__EV_TRACK, "properties"},
      {"{\"userId\":\"u\",\"traits\":\"x\"}", RT__EV_IDENTIFY, "traits"},
      {"{\"userId\":\"u\"}", RT__EV_GROUP, "groupId"},
      {"{\"userId\":\"u\"}", RT__EV_ALIAS, "previousId"},
      {"{\"batch\":{}}", RT__EV_BATCH, "batch"},
      {"{\"batch\":[{\"type\":\"nope\",\"userId\":\"u\"}]}", RT__EV_BATCH, "batch[0].type"},
      {"{\"batch\":[{\"type\":\"track\",\"userId\":\"u\",\"event\":\"A\"},{\"type\":\"track\","
       "\"userId\":\"u\",\"event\":\"B\",\"messageId\":{}}]}",
       RT__EV_BATCH, "batch[1].messageId"},
      {"{\"userId\":\"u\",\"event\":\"Order Completed\",\"properties\":{\"total\":3}}",
       RT__EV_TRACK, "properties.order_id"},
      {"{\"userId\":\"u\",\"event\":\"Order Completed\",\"properties\":{\"order_id\":\"o\"}}",
       RT__EV_TRACK, "properties.total"},
      {"{\"userId\":\"u\",\"event\":\"Order Completed\",\"properties\":{\"order_id\":\"o\","
       "\"total\":-1}}",
       RT__EV_TRACK, "properties.total"},
      {"{\"userId\":\"u\",\"event\":\"Order Completed\",\"properties\":{\"order_id\":\"o\","
       "\"total\":1,\"currency\":\"EURO\"}}",
       RT__EV_TRACK, "properties.currency"},
      {"{\"userId\":\"u\",\"event\":\"Order Completed\",\"properties\":{\"order_id\":\"o\","
       "\"total\":1,\"products\":[{\"price\":\"x\"}]}}",
       RT__EV_TRACK, "properties.products[0].price"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    rt__events ev;
    char field[128];
    rt_error err = {0};
    int rc = parse(cases[k].body, cases[k].kind, &ev, field, &err);
    if (rc == 0 || strcmp(field, cases[k].field))
      fail_msg("case %zu: rc %d, field '%s' (wanted '%s'): %s", k, rc, field, cases[k].field,
               err.msg);
    if (strcmp(cases[k].field, "$")) /* syntax errors say line and column instead */
      assert_non_null(strstr(err.msg, cases[k].field));
  }
  /* more than the batch limit */
  char big[16384] = "{\"batch\":[";
  for (int i = 0; i < 101; i++)
    strcat(big, "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"A\"},");
  big[strlen(big) - 1] = 0;
  strcat(big, "]}");
  rt__events ev;
  char field[128];
  rt_error err = {0};
  assert_int_equal(parse(big, RT__EV_BATCH, &ev, field, &err), RT_ERANGE);
}

/* Mutated bodies (bytes flipped, cut, duplicated) parse or fail with a message and a path;
 * what parses has a customer and, for track, a name. */
static void test_random(void **state) {
  (void)state;
  static const char *seeds[] = {
      "{\"batch\":[{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{\"email\":\"a@b.c\"}},"
      "{\"type\":\"track\",\"anonymousId\":\"x\",\"event\":\"Order Completed\",\"properties\":"
      "{\"order_id\":\"o\",\"total\":9.99,\"products\":[{\"sku\":\"s\",\"price\":1}]}},"
      "{\"type\":\"alias\",\"userId\":\"u\",\"previousId\":\"p\"},{\"type\":\"group\","
      "\"userId\":\"u\",\"groupId\":\"g\",\"timestamp\":\"2025-01-01T00:00:00Z\"}]}",
  };
  uint64_t st = 12345;
  char buf[2048];
  for (int it = 0; it < 20000; it++) {
    const char *s = seeds[0];
    size_t n = strlen(s);
    memcpy(buf, s, n);
    int edits = 1 + it % 4;
    for (int e = 0; e < edits; e++) {
      st = st * 6364136223846793005ULL + 1442695040888963407ULL;
      size_t at = (size_t)(st >> 33) % n;
      switch ((st >> 20) % 3) {
      case 0: buf[at] = (char)(st >> 40); break;          /* flip a byte */
      case 1: n = at; break;                               /* cut */
      default:                                             /* duplicate a piece */
        if (n + 16 < sizeof buf) {
          memmove(buf + at + 16, buf + at, n - at);
          n += 16;
        }
      }
      if (n == 0)
        break;
    }
    rt__events ev;
    char field[128];
    rt_error err = {0};
    int rc = rt__events_parse(buf, n, RT__EV_BATCH, NOW, 100, &ev, field, sizeof field, &err);
    if (rc) {
      assert_true(err.msg[0] != 0);
      assert_true(field[0] != 0);
      continue;
    }
    for (size_t i = 0; i < ev.n; i++) {
      assert_true(ev.v[i].user_id || ev.v[i].anon_id);
      if (ev.v[i].kind == RT__EV_TRACK)
        assert_non_null(ev.v[i].name);
    }
    rt__events_free(&ev);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_events),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_random),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
