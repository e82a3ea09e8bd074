/* test_ingest.c - the server's Segment-spec event parser (src/server/ingest.c): the fields of
 * each event type, ids given as numbers, timestamps, e-commerce orders and their lines, the
 * JSON path of every kind of mistake, batch and traits limits, the writer's group commit when
 * one request is refused for its content, and a randomized robustness run (mutated bodies
 * must parse or fail cleanly, under the sanitizers in CI). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <retain/error.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
                         "\"2025-01-01T10:00:00+01:00\"}",
                         RT__EV_IDENTIFY, &ev, field, &err),
                   0);
  assert_int_equal(ev.n, 1);
  assert_string_equal(ev.v[0].user_id, "42");
  assert_string_equal(ev.v[0].anon_id, "a1");
  assert_string_equal(ev.v[0].email, "ann@x.io");
  assert_true(ev.v[0].ts_ms == NOW + 9 * 3600000LL);
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

/* subscription events: the id, plan, interval and price under their several names */
static void test_subscriptions(void **state) {
  (void)state;
  rt__events ev;
  char field[128];
  rt_error err = {0};
  assert_int_equal(
      parse("{\"batch\":[{\"type\":\"track\",\"userId\":\"u\",\"event\":\"Subscription "
            "Started\",\"properties\":{\"subscription_id\":\"s1\",\"plan_name\":\"Pro\","
            "\"price\":\"29.90\",\"currency\":\"eur\",\"interval\":\"month\",\"started_at\":"
            "\"2024-12-31T00:00:00Z\"}},{\"type\":\"track\",\"userId\":\"u\",\"event\":"
            "\"Subscription Updated\",\"properties\":{\"subscription_id\":7,\"plan_id\":3,"
            "\"amount\":1000,\"currency\":\"JPY\"}},{\"type\":\"track\",\"userId\":\"u\","
            "\"event\":\"Subscription Canceled\",\"properties\":{\"subscription_id\":\"s1\"}},"
            "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"Subscription Cancelled\","
            "\"properties\":{\"subscription_id\":\"s2\",\"revenue\":5}},{\"type\":\"track\","
            "\"userId\":\"u\",\"event\":\"Subscription Renewed\",\"properties\":"
            "{\"subscription_id\":\"s1\",\"plan\":\"Team\",\"plan_name\":\"x\"}},"
            "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"Trial Started\"}]}",
            RT__EV_BATCH, &ev, field, &err),
      0);
  assert_int_equal(ev.n, 6);
  assert_int_equal(ev.v[0].sub, RT__SUB_START);
  assert_string_equal(ev.v[0].sub_id, "s1");
  assert_string_equal(ev.v[0].plan, "Pro");
  assert_string_equal(ev.v[0].interval, "month");
  assert_string_equal(ev.v[0].currency, "EUR");
  assert_true(ev.v[0].has_amount && ev.v[0].amount == 2990);
  assert_true(ev.v[0].started_at_ms == NOW - 86400000LL);
  assert_int_equal(ev.v[1].sub, RT__SUB_RENEW);
  assert_string_equal(ev.v[1].sub_id, "7");
  assert_string_equal(ev.v[1].plan, "3");
  assert_true(ev.v[1].amount == 1000); /* yen: no minor unit */
  assert_int_equal(ev.v[2].sub, RT__SUB_CANCEL);
  assert_false(ev.v[2].has_amount);
  assert_null(ev.v[2].plan);
  assert_true(ev.v[2].started_at_ms == 0);
  assert_int_equal(ev.v[3].sub, RT__SUB_CANCEL);
  assert_true(ev.v[3].has_amount && ev.v[3].amount == 500);
  assert_int_equal(ev.v[4].sub, RT__SUB_RENEW);
  assert_string_equal(ev.v[4].plan, "Team"); /* plan before plan_name */
  assert_int_equal(ev.v[5].sub, RT__SUB_NONE); /* a trial is an event, not a subscription */
  assert_int_equal(ev.v[5].commerce, 0);
  rt__events_free(&ev);
}

/* identify: email and phone from traits, else context.traits; phones in their digits form */
static void test_identities(void **state) {
  (void)state;
  static const struct {
    const char *body, *email, *email_from, *phone, *phone_from;
  } cases[] = {
      {"{\"userId\":\"u\",\"traits\":{\"phone\":\"+1 (555) 010-9999\"}}", NULL, NULL,
       "+15550109999", "traits"},
      {"{\"userId\":\"u\",\"traits\":{\"phone\":\" 0049.30/1234 56\"}}", NULL, NULL,
       "004930123456", "traits"},
      {"{\"userId\":\"u\",\"traits\":{\"phone\":4930123}}", NULL, NULL, "4930123", "traits"},
      {"{\"userId\":\"u\",\"traits\":{\"phone\":\"n/a\",\"email\":\"A@B.C\"}}", "a@b.c",
       "traits", NULL, NULL},
      {"{\"userId\":\"u\",\"traits\":{\"phone\":\"+\"}}", NULL, NULL, NULL, NULL},
      {"{\"userId\":\"u\",\"context\":{\"traits\":{\"phone\":\"555-0100\",\"email\":"
       "\"x@y.z\"}}}",
       "x@y.z", "context.traits", "5550100", "context.traits"},
      {"{\"userId\":\"u\",\"traits\":{\"email\":\"t@y.z\",\"phone\":null},\"context\":"
       "{\"traits\":{\"email\":\"c@y.z\",\"phone\":\"1\"}}}",
       "t@y.z", "traits", "1", "context.traits"},
      {"{\"userId\":\"u\",\"context\":\"x\"}", NULL, NULL, NULL, NULL},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    rt__events ev;
    char field[128];
    rt_error err = {0};
    if (parse(cases[k].body, RT__EV_IDENTIFY, &ev, field, &err))
      fail_msg("case %zu: %s", k, err.msg);
    const rt__event *e = &ev.v[0];
    if (cases[k].email) {
      assert_string_equal(e->email, cases[k].email);
      assert_string_equal(e->email_from, cases[k].email_from);
    } else {
      assert_null(e->email);
    }
    if (cases[k].phone) {
      assert_string_equal(e->phone, cases[k].phone);
      assert_string_equal(e->phone_from, cases[k].phone_from);
    } else {
      assert_null(e->phone);
    }
    rt__events_free(&ev);
  }
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
      {"{\"userId\":\"u\",\"event\":\"Order Completed\",\"properties\":{\"order_id\":\"o\","
       "\"total\":1,\"currency\":\"U$D\"}}",
       RT__EV_TRACK, "properties.currency"},
      {"{\"userId\":\"u\",\"event\":\"Subscription Started\"}", RT__EV_TRACK, "properties"},
      {"{\"userId\":\"u\",\"event\":\"Subscription Started\",\"properties\":{\"plan\":\"p\"}}",
       RT__EV_TRACK, "properties.subscription_id"},
      {"{\"batch\":[{\"type\":\"track\",\"userId\":\"u\",\"event\":\"Subscription "
       "Cancelled\",\"properties\":{\"subscription_id\":\"\"}}]}",
       RT__EV_BATCH, "batch[0].properties.subscription_id"},
      {"{\"userId\":\"u\",\"event\":\"Subscription Renewed\",\"properties\":"
       "{\"subscription_id\":\"s\",\"price\":\"free\"}}",
       RT__EV_TRACK, "properties.price"},
      {"{\"userId\":\"u\",\"event\":\"Subscription Started\",\"properties\":"
       "{\"subscription_id\":\"s\",\"amount\":-3}}",
       RT__EV_TRACK, "properties.amount"},
      {"{\"userId\":\"u\",\"event\":\"Subscription Started\",\"properties\":"
       "{\"subscription_id\":\"s\",\"plan\":[]}}",
       RT__EV_TRACK, "properties.plan"},
      {"{\"userId\":\"u\",\"event\":\"Subscription Started\",\"properties\":"
       "{\"subscription_id\":\"s\",\"interval\":1.5}}",
       RT__EV_TRACK, "properties.interval"},
      {"{\"userId\":\"u\",\"event\":\"Subscription Started\",\"properties\":"
       "{\"subscription_id\":\"s\",\"currency\":\"EU\",\"amount\":1}}",
       RT__EV_TRACK, "properties.currency"},
      {"{\"userId\":\"u\",\"event\":\"Subscription Started\",\"properties\":"
       "{\"subscription_id\":\"s\",\"started_at\":\"last week\"}}",
       RT__EV_TRACK, "properties.started_at"},
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

/* body: an identify (in a batch at index 1 when batch) whose traits are {"k0":V,...} with n
 * keys, one more level down when nested; free it. */
static char *identify_with(size_t n, const char *value, int nested, int batch) {
  size_t cap = n * (strlen(value) + 16) + 256;
  char *b = malloc(cap), *p = b;
  p += sprintf(p, "%s{\"userId\":\"u\",\"type\":\"identify\",\"traits\":{%s",
               batch ? "{\"batch\":[{\"type\":\"track\",\"userId\":\"u\",\"event\":\"A\"},"
                     : "",
               nested ? "\"n\":{" : "");
  for (size_t i = 0; i < n; i++)
    p += sprintf(p, "%s\"k%zu\":%s", i ? "," : "", i, value);
  sprintf(p, "}%s}%s", nested ? "}" : "", batch ? "]}" : "");
  return b;
}

/* Traits become the customer's attributes: over their limits (keys, nested ones counted, or
 * bytes) the request is refused as too large (413) with the path of the traits. */
static void test_traits_limits(void **state) {
  (void)state;
  static const struct {
    size_t n;
    const char *value;
    int nested, batch;
    int rc;
    const char *field, *says;
  } cases[] = {
      {1000, "1", 0, 0, 0, "", NULL},
      {1001, "1", 0, 0, RT_ERANGE, "traits", "traits: 1001 keys"},
      {1000, "1", 1, 0, RT_ERANGE, "traits", "1001 keys (nested ones counted)"},
      {999, "1", 1, 1, 0, "", NULL},
      {1000, "1", 1, 1, RT_ERANGE, "batch[1].traits", "batch[1].traits: 1001 keys"},
      {300, "\"" /* 300 values of 250 bytes: 75 KB */, 0, 0, RT_ERANGE, "traits", "bytes"},
  };
  char longval[256];
  memset(longval, 'x', sizeof longval);
  longval[0] = '"';
  longval[252] = '"';
  longval[253] = 0;
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char *body = identify_with(cases[k].n, cases[k].value[0] == '"' ? longval : cases[k].value,
                               cases[k].nested, cases[k].batch);
    rt__events ev;
    char field[128];
    rt_error err = {0};
    int rc = parse(body, cases[k].batch ? RT__EV_BATCH : RT__EV_IDENTIFY, &ev, field, &err);
    free(body);
    if (rc != cases[k].rc || strcmp(field, cases[k].field) ||
        (cases[k].says && !strstr(err.msg, cases[k].says)))
      fail_msg("case %zu: rc %d, field '%s': %s", k, rc, field, err.msg);
    if (!rc)
      rt__events_free(&ev);
  }
}

/* ---- the writer's group commit when one request's content is refused ---- */

typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int inside, open;
} gate;

/* A job of its own that holds the writer until the gate opens. */
static int hold(rt_store *st, void *ctx, rt_error *err) {
  (void)st, (void)err;
  gate *g = ctx;
  pthread_mutex_lock(&g->mu);
  g->inside = 1;
  pthread_cond_broadcast(&g->cv);
  while (!g->open)
    pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
  return 0;
}

typedef struct sender {
  rt__writer *w;
  rt__job job;
  gate *g;
} sender;

static void *send_job(void *arg) {
  sender *x = arg;
  rt__writer_submit(x->w, &x->job);
  return NULL;
}

static size_t queued(rt__writer *w) {
  size_t n = 0;
  pthread_mutex_lock(&w->mu);
  for (rt__job *j = w->head; j; j = j->next)
    n++;
  pthread_mutex_unlock(&w->mu);
  return n;
}

/* Eight identifies of one customer (300 new keys each: three fit in its 1,000) and four
 * tracks, all queued while the writer is busy so that they share one group: the three that
 * fit and the tracks are stored, the five others refused with RT_ERANGE and their path. */
static void test_writer_refusals(void **state) {
  (void)state;
  char path[] = "/tmp/rt_test_ingest_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  rt_store *st = NULL;
  rt_error err = {0};
  rt_store_config cfg = {.path = path};
  assert_int_equal(rt_store_open(&cfg, &st, &err), 0);
  rt__writer w;
  assert_int_equal(rt__writer_start(&w, st, NULL, NULL, &err), 0);
  gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
  sender hold_job = {&w, {.fn = hold, .ctx = &g}, &g};
  pthread_t ht, t[12];
  pthread_create(&ht, NULL, send_job, &hold_job);
  pthread_mutex_lock(&g.mu);
  while (!g.inside)
    pthread_cond_wait(&g.cv, &g.mu);
  pthread_mutex_unlock(&g.mu);

  sender x[12];
  rt__events ev[12];
  for (int i = 0; i < 12; i++) {
    char *body;
    char field[128];
    if (i < 8) {
      char prefix[8];
      snprintf(prefix, sizeof prefix, "p%d", i);
      size_t cap = 300 * 24 + 64;
      body = malloc(cap);
      char *p = body + sprintf(body, "{\"userId\":\"many\",\"messageId\":\"i%d\",\"traits\":{", i);
      for (int k = 0; k < 300; k++)
        p += sprintf(p, "%s\"%s-%d\":1", k ? "," : "", prefix, k);
      strcpy(p, "}}");
    } else {
      body = malloc(128);
      sprintf(body, "{\"userId\":\"t%d\",\"event\":\"A\",\"messageId\":\"t%d\"}", i, i);
    }
    assert_int_equal(parse(body, i < 8 ? RT__EV_IDENTIFY : RT__EV_TRACK, &ev[i], field, &err), 0);
    free(body);
    x[i] = (sender){&w, {.events = &ev[i]}, &g};
    pthread_create(&t[i], NULL, send_job, &x[i]);
  }
  while (queued(&w) < 12)
    usleep(1000);
  pthread_mutex_lock(&g.mu);
  g.open = 1;
  pthread_cond_broadcast(&g.cv);
  pthread_mutex_unlock(&g.mu);
  pthread_join(ht, NULL);
  int ok = 0, refused = 0;
  for (int i = 0; i < 12; i++) {
    pthread_join(t[i], NULL);
    if (x[i].job.rc == 0) {
      ok++;
      assert_string_equal(x[i].job.field, "");
    } else {
      refused++;
      assert_int_equal(x[i].job.rc, RT_ERANGE);
      assert_true(i < 8);
      assert_string_equal(x[i].job.field, "traits");
      if (!strstr(x[i].job.err.msg, "traits: the customer's attributes would have 1200 keys"))
        fail_msg("job %d: %s", i, x[i].job.err.msg);
    }
    rt__events_free(&ev[i]);
  }
  assert_int_equal(ok, 7);
  assert_int_equal(refused, 5);
  assert_true(w.commits >= 2); /* the group, then one transaction each after two refusals */
  rt__writer_stop(&w);
  int64_t n = 0;
  assert_int_equal(rt_store_count(st, "events", &n, &err), 0);
  assert_int_equal(n, 7);
  rt_customer_view v;
  assert_int_equal(rt_store_customer_get(st, "many", 0, &v, &err), 0);
  json_t *a = json_loads(v.attrs, 0, NULL);
  assert_int_equal(json_object_size(a), 900);
  json_decref(a);
  rt_customer_view_free(&v);
  rt_store_close(st);
  unlink(path);
  char p2[64];
  snprintf(p2, sizeof p2, "%s-wal", path);
  unlink(p2);
  snprintf(p2, sizeof p2, "%s-shm", path);
  unlink(p2);
}

/* Mutated bodies (bytes flipped, cut, duplicated) parse or fail with a message and a path;
 * what parses has a customer and, for track, a name. */
/* Values a hostile client sends (issue 13): refused with their JSON path, by the rules the
 * CSV importer applies (validate.c). */
static void test_hostile_values(void **state) {
  (void)state;
#define ORDER(props) "{\"userId\":\"u\",\"event\":\"Order Completed\",\"properties\":{\"order_id\":" \
                     "\"o\"," props "}}"
  static const struct {
    const char *body, *field, *reason;
  } cases[] = {
      {ORDER("\"total\":\"0x1p4\""), "properties.total", "plain decimal"},
      {ORDER("\"total\":\" 5\""), "properties.total", "plain decimal"},
      {ORDER("\"total\":\"5 \""), "properties.total", "plain decimal"},
      {ORDER("\"total\":\"inf\""), "properties.total", "plain decimal"},
      {ORDER("\"total\":\"nan\""), "properties.total", "plain decimal"},
      {ORDER("\"total\":\"1e3\""), "properties.total", "plain decimal"},
      {ORDER("\"total\":1e300"), "properties.total", "a number >= 0"},
      {ORDER("\"total\":90000000000000.02"), "properties.total", "a number >= 0"},
      {ORDER("\"total\":5,\"currency\":\"zzz\""), "properties.currency", "ISO 4217"},
      {ORDER("\"total\":5,\"currency\":\"ABC\""), "properties.currency", "ISO 4217"},
      {ORDER("\"total\":5,\"products\":[{\"sku\":\"a\",\"price\":2,\"quantity\":1e300}]"),
       "properties.products[0].quantity", "whole number"},
      {ORDER("\"total\":5,\"products\":[{\"sku\":\"a\",\"price\":2,\"quantity\":-2}]"),
       "properties.products[0].quantity", "Order Refunded"},
      {ORDER("\"total\":5,\"products\":[{\"sku\":\"a\",\"price\":2,\"quantity\":0}]"),
       "properties.products[0].quantity", "quantity"},
      {ORDER("\"total\":5,\"products\":[{\"sku\":\"a\",\"price\":2,\"quantity\":2.5}]"),
       "properties.products[0].quantity", "whole number"},
      {ORDER("\"total\":5,\"products\":[{\"sku\":\"a\",\"price\":2,\"quantity\":\"3\"}]"),
       "properties.products[0].quantity", "whole number"},
      {ORDER("\"total\":5,\"products\":[{\"sku\":\"a\",\"price\":90000000000,"
             "\"quantity\":1000000}]"),
       "properties.products[0].price", "too large"},
      {"{\"userId\":\"u\",\"event\":\"Subscription Started\",\"properties\":{"
       "\"subscription_id\":\"s\",\"amount\":\"0x10\"}}",
       "properties.amount", "plain decimal"},
  };
#undef ORDER
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rt__events ev;
    char field[128] = "";
    rt_error err = {0};
    int rc = parse(cases[i].body, RT__EV_TRACK, &ev, field, &err);
    if (rc != RT_EINVAL || strcmp(field, cases[i].field) || !strstr(err.msg, cases[i].reason))
      fail_msg("case %zu: rc %d, field '%s', '%s'", i, rc, field, err.msg);
  }
}

/* Ids are NFC: "café" with a precomposed or a combining accent is one customer, whichever id
 * field it is in. */
static void test_ids_are_nfc(void **state) {
  (void)state;
  rt__events ev;
  char field[128];
  rt_error err = {0};
  assert_int_equal(parse("{\"userId\":\"cafe\\u0301\",\"anonymousId\":\"a\xcc\x81\","
                         "\"messageId\":\"m\\u0065\\u0301\",\"event\":\"Order Completed\","
                         "\"properties\":{\"order_id\":\"o\\u00e9\",\"total\":\"12.50\","
                         "\"currency\":\"eur\"}}",
                         RT__EV_TRACK, &ev, field, &err),
                   0);
  assert_string_equal(ev.v[0].user_id, "caf\xc3\xa9");
  assert_string_equal(ev.v[0].anon_id, "\xc3\xa1");
  assert_string_equal(ev.v[0].message_id, "m\xc3\xa9");
  assert_string_equal(ev.v[0].order_id, "o\xc3\xa9");
  assert_string_equal(ev.v[0].currency, "EUR");
  assert_true(ev.v[0].amount == 1250);
  rt__events_free(&ev);
  /* a NUL written as \u0000 never reaches an id */
  assert_int_equal(parse("{\"userId\":\"a\\u0000b\",\"event\":\"A\"}", RT__EV_TRACK, &ev, field,
                         &err),
                   RT_EPARSE);
}

static void test_random(void **state) {
  (void)state;
  static const char *seeds[] = {
      "{\"batch\":[{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{\"email\":\"a@b.c\"}},"
      "{\"type\":\"track\",\"anonymousId\":\"x\",\"event\":\"Order Completed\",\"properties\":"
      "{\"order_id\":\"o\",\"total\":9.99,\"products\":[{\"sku\":\"s\",\"price\":1}]}},"
      "{\"type\":\"alias\",\"userId\":\"u\",\"previousId\":\"p\"},{\"type\":\"group\","
      "\"userId\":\"u\",\"groupId\":\"g\",\"timestamp\":\"2025-01-01T00:00:00Z\"}]}",
      "{\"batch\":[{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{\"phone\":\"+1 "
      "(555) 0\"},\"context\":{\"traits\":{\"email\":\"a@b.c\"}}},{\"type\":\"track\","
      "\"userId\":\"u\",\"event\":\"Subscription Started\",\"properties\":"
      "{\"subscription_id\":\"s\",\"plan\":\"p\",\"price\":9.5,\"currency\":\"EUR\","
      "\"interval\":\"month\",\"started_at\":\"2025-01-01T00:00:00Z\"}}]}",
  };
  uint64_t st = 12345;
  char buf[2048];
  for (int it = 0; it < 20000; it++) {
    const char *s = seeds[it % 2];
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

/* Event times are bounded: before 1970 is an error naming the field; more than a day after
 * the receive time is kept at the receive time (a year-9999 event must not stretch every report
 * to that year); within a day of it stays as sent (clock skew). */
static void test_time_bounds(void **state) {
  (void)state;
  rt__events ev;
  char field[128];
  rt_error err = {0};
  assert_int_equal(parse("{\"userId\":\"u\",\"event\":\"X\",\"timestamp\":"
                         "\"9999-12-31T00:00:00Z\"}", RT__EV_TRACK, &ev, field, &err), 0);
  assert_true(ev.v[0].ts_ms == NOW);
  assert_int_equal(ev.v[0].clamped, 1);
  rt__events_free(&ev);
  assert_int_equal(parse("{\"userId\":\"u\",\"event\":\"X\",\"timestamp\":"
                         "\"2025-01-01T23:00:00Z\"}", RT__EV_TRACK, &ev, field, &err), 0);
  assert_true(ev.v[0].ts_ms == NOW + 23 * 3600000LL);
  assert_int_equal(ev.v[0].clamped, 0);
  rt__events_free(&ev);
  /* the subscription's start too */
  assert_int_equal(parse("{\"userId\":\"u\",\"event\":\"Subscription Started\",\"properties\":"
                         "{\"subscription_id\":\"s\",\"started_at\":\"3000-01-01\"}}",
                         RT__EV_TRACK, &ev, field, &err), 0);
  assert_true(ev.v[0].started_at_ms == NOW);
  rt__events_free(&ev);
  assert_int_equal(parse("{\"batch\":[{\"type\":\"page\",\"userId\":\"u\"},{\"type\":"
                         "\"track\",\"userId\":\"u\",\"event\":\"X\",\"timestamp\":"
                         "\"1969-12-31T23:59:59Z\"}]}", RT__EV_BATCH, &ev, field, &err),
                   RT_EINVAL);
  assert_string_equal(field, "batch[1].timestamp");
  assert_non_null(strstr(err.msg, "before 1970-01-01"));
}

/* sentAt corrects the sender's clock as Segment does: timestamp + (received - sentAt); the
 * event's own sentAt, else the batch's; without a timestamp the receive time stands. */
static void test_sent_at(void **state) {
  (void)state;
  rt__events ev;
  char field[128];
  rt_error err = {0};
  /* a device an hour fast: it sent at 01:00 by its clock what the server received at 00:00
   * (NOW), so its event stamped 00:30 happened at 23:30 */
  assert_int_equal(parse("{\"userId\":\"u\",\"event\":\"X\",\"timestamp\":"
                         "\"2025-01-01T00:30:00Z\",\"sentAt\":\"2025-01-01T01:00:00Z\"}",
                         RT__EV_TRACK, &ev, field, &err), 0);
  assert_true(ev.v[0].ts_ms == NOW - 30 * 60000LL);
  rt__events_free(&ev);
  assert_int_equal(parse("{\"sentAt\":\"2024-12-31T23:00:00Z\",\"batch\":[{\"type\":\"track\","
                         "\"userId\":\"u\",\"event\":\"X\",\"timestamp\":"
                         "\"2024-12-31T22:00:00Z\"},{\"type\":\"track\",\"userId\":\"u\","
                         "\"event\":\"Y\",\"timestamp\":\"2024-12-31T22:00:00Z\",\"sentAt\":"
                         "\"2024-12-31T22:00:00Z\"},{\"type\":\"page\",\"userId\":\"u\"}]}",
                         RT__EV_BATCH, &ev, field, &err), 0);
  assert_true(ev.v[0].ts_ms == NOW - 3600000LL);     /* the batch's sentAt: an hour slow */
  assert_true(ev.v[1].ts_ms == NOW);                 /* its own: two hours slow */
  assert_true(ev.v[2].ts_ms == NOW);                 /* no timestamp */
  rt__events_free(&ev);
  assert_int_equal(parse("{\"userId\":\"u\",\"event\":\"X\",\"sentAt\":\"yesterday\"}",
                         RT__EV_TRACK, &ev, field, &err), RT_EINVAL);
  assert_string_equal(field, "sentAt");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_events),
      cmocka_unit_test(test_subscriptions),
      cmocka_unit_test(test_identities),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_time_bounds),
      cmocka_unit_test(test_sent_at),
      cmocka_unit_test(test_traits_limits),
      cmocka_unit_test(test_writer_refusals),
      cmocka_unit_test(test_hostile_values),
      cmocka_unit_test(test_ids_are_nfc),
      cmocka_unit_test(test_random),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
