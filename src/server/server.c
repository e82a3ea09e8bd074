/* server.c - the HTTP side of `retain serve` (server.h): libmicrohttpd with a thread pool,
 * request bodies gathered up to a limit, the route table (which also writes the OpenAPI
 * document), authentication by API key, metrics, and the graceful stop. Writes go through the
 * group-commit writer (ingest.c); reads through the live views (live.c, reads.c). */
#include <retain/alloc.h>
#include <retain/datetime.h>
#include <retain/model.h>
#include <retain/server.h>
#include <retain/store.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "server/http.h"

static const unsigned statuses[RT__NSTATUS] = {200, 201, 204, 400, 401, 403, 404, 405,
                                               408, 409, 413, 415, 429, 500, 503};
static const double buckets_ms[RT__NBUCKETS] = {0.5, 1, 2, 5, 10, 20, 50, 100, 250, 500, 1000,
                                                5000};

/* 1 when key may send one more request now; 0 when over its rate (429) */
static int admit(rt_server *s, int64_t key) {
  if (s->cfg.rate_limit <= 0)
    return 1;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9, rate = s->cfg.rate_limit;
  pthread_mutex_lock(&s->rl_mu);
  size_t i = (size_t)((uint64_t)key * 0x9E3779B97F4A7C15ULL >> 54) & (RT__RL_BUCKETS - 1);
  for (size_t probe = 0; probe < RT__RL_BUCKETS && s->rl[i].key && s->rl[i].key != key; probe++)
    i = (i + 1) & (RT__RL_BUCKETS - 1);
  rt__bucket *b = &s->rl[i];
  if (b->key != key) { /* a new key (or a full table: the slot is reused) */
    b->key = key;
    b->tokens = 2 * rate;
    b->last = now;
  }
  b->tokens += (now - b->last) * rate;
  if (b->tokens > 2 * rate)
    b->tokens = 2 * rate;
  b->last = now;
  int ok = b->tokens >= 1;
  if (ok)
    b->tokens -= 1;
  pthread_mutex_unlock(&s->rl_mu);
  return ok;
}

/* ---- CORS: browsers on the configured origins may send events ---- */

/* origin, when it is one of cfg.cors_origins (a comma-separated list; "*" is any) */
static const char *cors_origin(const rt_server *s, struct MHD_Connection *c) {
  const char *o = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
  const char *list = s->cfg.cors_origins;
  if (!o || !*o || !list)
    return NULL;
  size_t n = strlen(o);
  for (const char *p = list; *p;) {
    while (*p == ' ' || *p == ',')
      p++;
    size_t k = strcspn(p, ", ");
    if (k && ((k == 1 && *p == '*') || (k == n && !strncasecmp(p, o, n))))
      return o;
    p += k;
  }
  return NULL;
}

void rt__cors_headers(const rt__request *rq, struct MHD_Response *r) {
  if (!rq->origin)
    return;
  MHD_add_response_header(r, "Access-Control-Allow-Origin", rq->origin);
  MHD_add_response_header(r, "Vary", "Origin");
}

/* OPTIONS: a browser asking whether it may send (preflight) */
static enum MHD_Result preflight(rt__request *rq, struct MHD_Connection *c) {
  if (!rq->origin)
    return rt__send_error(rq, c, MHD_HTTP_FORBIDDEN, "origin",
                          "this origin may not send requests from a browser (retain serve "
                          "--cors-origin ORIGIN allows one)",
                          NULL);
  struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (!r)
    return MHD_NO;
  rt__cors_headers(rq, r);
  MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
  MHD_add_response_header(r, "Access-Control-Allow-Headers",
                          "Authorization, Content-Type, Content-Encoding");
  MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
  rq->status = MHD_HTTP_NO_CONTENT;
  enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, r);
  MHD_destroy_response(r);
  return ok;
}

int64_t rt__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum MHD_Result rt__send_text(rt__request *rq, struct MHD_Connection *c, unsigned status,
                              const char *type, char *text, size_t n) {
  rq->status = status;
  struct MHD_Response *r = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(text);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", type);
  rt__cors_headers(rq, r);
  enum MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

/* jansson allocates through this, so that a document that lost a part to a failed allocation
 * (jansson's setters drop what they cannot store, silently) is never sent as a success: the
 * request's thread notes the failure and rt__send_json answers 500 instead. */
static _Thread_local int json_failed;
static void *json_alloc(size_t n) {
  void *p = rt_malloc(n);
  if (!p)
    json_failed = 1;
  return p;
}

static const char oom_body[] =
    "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";

static enum MHD_Result send_oom(rt__request *rq, struct MHD_Connection *c) {
  rq->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
  struct MHD_Response *r = MHD_create_response_from_buffer(sizeof oom_body - 1, (void *)oom_body,
                                                           MHD_RESPMEM_PERSISTENT);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "application/json");
  rt__cors_headers(rq, r);
  enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_INTERNAL_SERVER_ERROR, r);
  MHD_destroy_response(r);
  return ok;
}

enum MHD_Result rt__send_json(rt__request *rq, struct MHD_Connection *c, unsigned status,
                              json_t *body) {
  /* 15 significant digits: amounts print as written (19.99, not 19.989999999999998) */
  char *s = body && !json_failed
                ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))
                : NULL;
  json_decref(body);
  if (!s || json_failed) {
    free(s);
    json_failed = 0;
    return send_oom(rq, c);
  }
  return rt__send_text(rq, c, status, "application/json", s, strlen(s));
}

/* text as a JSON string: invalid UTF-8 (a query's bytes quoted in a message) becomes U+FFFD
 * rather than losing the whole message */
static json_t *json_text(const char *t) {
  json_t *j = json_string(t);
  if (j || !t)
    return j;
  size_t n = strlen(t), k = 0;
  char *o = rt_malloc(3 * n + 1);
  if (!o)
    return NULL;
  for (size_t i = 0; i < n;) {
    unsigned char b = (unsigned char)t[i];
    size_t len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3
                                 : (b & 0xF8) == 0xF0 ? 4 : 0;
    int ok = len > 0 && i + len <= n;
    for (size_t x = 1; ok && x < len; x++)
      ok = ((unsigned char)t[i + x] & 0xC0) == 0x80;
    if (ok && len > 1) { /* and not an overlong form, a surrogate or beyond U+10FFFF */
      char one[5] = {0};
      memcpy(one, t + i, len);
      json_t *probe = json_string(one);
      ok = probe != NULL;
      json_decref(probe);
    }
    if (ok) {
      memcpy(o + k, t + i, len);
      k += len;
      i += len;
    } else {
      memcpy(o + k, "\xEF\xBF\xBD", 3);
      k += 3;
      i++;
    }
  }
  o[k] = 0;
  j = json_string(o);
  rt_free(o);
  return j;
}

/* what a 5xx message may say: where the server keeps its data (the store's directories) is
 * nobody's business but the operator's, who finds the whole message in the log; the file's
 * own name stays, so the message still reads */
static void scrub_path(const rt_server *s, const char *in, char *out, size_t cap) {
  const char *path = s ? s->cfg.db_path : NULL;
  const char *base = path && strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  size_t pl = path && base != path ? strlen(path) : 0, k = 0;
  for (const char *p = in; *p && k + 1 < cap;) {
    if (pl && !strncmp(p, path, pl)) {
      k += (size_t)snprintf(out + k, cap - k, "%s", base);
      p += pl;
    } else {
      out[k++] = *p++;
    }
  }
  out[k < cap ? k : cap - 1] = 0;
}

enum MHD_Result rt__send_error(rt__request *rq, struct MHD_Connection *c, unsigned status,
                               const char *code, const char *message, const char *field) {
  char clean[1024];
  if (status >= 500) {
    if (status != MHD_HTTP_SERVICE_UNAVAILABLE)
      fprintf(stderr, "retain serve: %u %s: %s\n", status, rq->method, message);
    scrub_path(rq->srv, message, clean, sizeof clean);
    message = clean;
  }
  json_t *e = json_object();
  json_object_set_new(e, "code", json_string(code));
  json_object_set_new(e, "message", json_text(message));
  if (field && *field)
    json_object_set_new(e, "field", json_text(field));
  json_t *o = json_object();
  json_object_set_new(o, "error", e);
  return rt__send_json(rq, c, status, o);
}

void rt__set_time(json_t *o, const char *k, int64_t ms) {
  char buf[48];
  if (ms <= 0) {
    json_object_set_new(o, k, json_null());
    return;
  }
  rt_time_format(NULL, ms, buf, sizeof buf);
  json_object_set_new(o, k, json_string(buf));
}

rt_store *rt__reader_take(rt_server *s, int *slot) {
  for (int i = 0; i < RT__READERS; i++)
    if (!pthread_mutex_trylock(&s->readers[i].mu)) {
      *slot = i;
      return s->readers[i].st;
    }
  *slot = (int)(atomic_fetch_add(&s->next_reader, 1) % RT__READERS);
  pthread_mutex_lock(&s->readers[*slot].mu);
  return s->readers[*slot].st;
}

void rt__reader_give(rt_server *s, int slot) { pthread_mutex_unlock(&s->readers[slot].mu); }

int rt__customer_view(rt_store *st, const char *id, rt_customer_view *v, rt_error *err) {
  int rc = rt_store_customer_get(st, id, 0, v, err);
  if (rc == RT_ENOTFOUND && *id && strspn(id, "0123456789") == strlen(id) && strlen(id) < 19) {
    rt_error_clear(err);
    rc = rt_store_customer_get(st, NULL, strtoll(id, NULL, 10), v, err);
  }
  return rc;
}

const char *rt__query(struct MHD_Connection *c, const char *name) {
  return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/* The key a request presents: the Basic auth user name (how Segment's SDKs send the write key)
 * or a Bearer token. Returns its scope ("write", "read", "admin") into scope, or 0 when there
 * is no valid key. */
static int authorize(rt_server *s, struct MHD_Connection *c, const char *body_key, char *scope,
                     size_t cap, int64_t *key_id) {
  char *key = NULL;
  const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  if (body_key) { /* a browser's: the writeKey inside the body (see cors_body_key) */
    key = strdup(body_key);
  } else if (h && !strncasecmp(h, "Bearer", 6) && (h[6] == ' ' || h[6] == '\t')) {
    /* the scheme is case-insensitive (RFC 9110 11.1) */
    h += 6;
    while (*h == ' ' || *h == '\t')
      h++;
    size_t n = strlen(h);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
      n--;
    key = strndup(h, n);
  } else {
    char *pass = NULL;
    key = MHD_basic_auth_get_username_password(c, &pass);
    if (pass)
      MHD_free(pass);
    if (key) {
      char *k = strdup(key);
      MHD_free(key);
      key = k;
    }
  }
  if (!key)
    return 0;
  rt_key_info info;
  int slot;
  rt_store *st = rt__reader_take(s, &slot);
  int rc = rt_store_key_check(st, key, strlen(key), &info, NULL);
  rt__reader_give(s, slot);
  free(key);
  if (rc)
    return 0;
  snprintf(scope, cap, "%s", info.scope);
  *key_id = info.id;
  return 1;
}

/* ---- the routes ---- */

static enum MHD_Result ingest(rt_server *s, rt__request *rq, struct MHD_Connection *c);
static enum MHD_Result get_openapi(rt_server *s, rt__request *rq, struct MHD_Connection *c);
static enum MHD_Result get_metrics_text(rt_server *s, rt__request *rq, struct MHD_Connection *c);
static enum MHD_Result get_health(rt_server *s, rt__request *rq, struct MHD_Connection *c);
static enum MHD_Result get_ready(rt_server *s, rt__request *rq, struct MHD_Connection *c);

#define PAGING "limit=customers per page (default 100, at most 10000);cursor=from a previous page's next_cursor"
#define PERIODS                                                                                \
  "period=day, week, month (default), quarter or year;from=first period (a label such as "     \
  "2024-03 or a date in it);to=last period;segment=only the members of this segment"

typedef struct route {
  const char *method, *path;
  const char *scope; /* "write", "read", "admin", or NULL: no key needed */
  rt__handler fn;
  rt__ev_kind kind;  /* ingest routes */
  const char *summary;
  const char *query; /* "name=meaning;..." */
  const char *body;  /* what the request body is, or NULL */
  const char *ok;    /* what a success answers */
} route;

static const route routes[] = {
    {"POST", "/v1/identify", "write", ingest, RT__EV_IDENTIFY,
     "identify: who the user is (traits become attributes; traits.email and traits.phone "
     "identities)", NULL, "a Segment identify call", "committed: {\"success\": true, \"events\": n}"},
    {"POST", "/v1/track", "write", ingest, RT__EV_TRACK,
     "track: something the user did (\"Order Completed\" / \"Order Refunded\" become orders "
     "and refunds, \"Subscription Started/Renewed/Cancelled\" subscriptions)", NULL, "a Segment track call", "committed: {\"success\": true, \"events\": n}"},
    {"POST", "/v1/page", "write", ingest, RT__EV_PAGE, "page: a page view", NULL,
     "a Segment page call", "committed: {\"success\": true, \"events\": n}"},
    {"POST", "/v1/screen", "write", ingest, RT__EV_SCREEN, "screen: a screen view", NULL,
     "a Segment screen call", "committed: {\"success\": true, \"events\": n}"},
    {"POST", "/v1/group", "write", ingest, RT__EV_GROUP, "group: the user's company or team", NULL,
     "a Segment group call", "committed: {\"success\": true, \"events\": n}"},
    {"POST", "/v1/alias", "write", ingest, RT__EV_ALIAS, "alias: another id of the user", NULL,
     "a Segment alias call", "committed: {\"success\": true, \"events\": n}"},
    {"POST", "/v1/batch", "write", ingest, RT__EV_BATCH,
     "batch: {\"batch\": [events with their type]}", NULL, "{\"batch\": [...]}",
     "committed: {\"success\": true, \"events\": n}"},
    {"POST", "/v1/import", "write", ingest, RT__EV_BATCH, "import: the same as batch", NULL,
     "{\"batch\": [...]}", "committed: {\"success\": true, \"events\": n}"},
    {"GET", "/v1/customers/{id}", "read", rt__get_customer, 0,
     "one customer ({id}: the customer's own id, else retain's id): profile, attributes, "
     "identities, counts, revenue, computed features and segments", NULL, NULL, "the customer"},
    {"GET", "/v1/customers/{id}/timeline", "read", rt__get_timeline, 0,
     "the customer's events, orders, refunds and subscriptions, newest first, a page at a time",
     "limit=items per page (default 50, at most 1000);cursor=from a previous page's next_cursor",
     NULL, "{\"items\": [...], \"next_cursor\"}"},
    {"POST", "/v1/customers/{id}/merge", "admin", rt__merge_customer, 0,
     "merges another customer into this one (identities, events, orders, subscriptions; "
     "recorded, so it can be undone)",
     NULL, "{\"from\": the other customer's id, \"reason\": why}",
     "{\"merge_id\", \"into\", \"from\"}"},
    {"POST", "/v1/customers/{id}/unmerge", "admin", rt__unmerge_customer, 0,
     "undoes the merge of this (merged-away) customer: its rows go back", NULL, NULL,
     "{\"unmerged\": merge_id}"},
    {"DELETE", "/v1/customers/{id}", "admin", rt__erase_customer, 0,
     "erases the customer at their request (GDPR Art. 17): its profile, identities, "
     "attributes, events, orders, refunds, subscriptions, scores, segment memberships and "
     "merges, with the customers merged into it; logged without personal data, and its ids "
     "refused from then on unless allow_return=true (docs/PRIVACY.md)",
     "allow_return=true: later data under its ids starts a new, empty profile instead of "
     "being refused",
     NULL, "{\"erased\", \"id\", \"customers\", \"removed\": {table: rows}, \"suppressed\"}"},
    {"GET", "/v1/customers/{id}/export", "admin", rt__export_customer, 0,
     "everything held about the customer (GDPR Art. 15), as JSON: every row of every table "
     "that holds its data, with the customers merged into it (docs/PRIVACY.md)",
     NULL, NULL, "the export"},
    {"GET", "/v1/customers", "read", rt__get_customers, 0,
     "customers in store order, a page at a time (of a segment with segment=NAME)",
     "segment=only the members of this segment;" PAGING, NULL,
     "{\"customers\": [{\"id\", \"customer_id\"}], \"next_cursor\"}"},
    {"GET", "/v1/metrics", "read", rt__get_metrics, 0,
     "the retention report (the same numbers as `retain report --format json`)",
     PERIODS ";baseline=periods averaged as the baseline (default 3);inactive_days=days "
             "without an order before a customer is inactive (default 90)",
     NULL, "the report"},
    {"GET", "/v1/cohorts", "read", rt__get_cohorts, 0,
     "acquisition cohorts (the same numbers as `retain cohorts --format json`)",
     PERIODS ";mode=on (default) or on-or-after;horizon=periods after acquisition;"
             "percent=true for the percentages",
     NULL, "the cohort table"},
    {"GET", "/v1/export", "read", rt__get_export, 0,
     "every customer's features as CSV, streamed (customer_id first)",
     "segment=only the members of this segment;fields=comma-separated feature names "
     "(default all)",
     NULL, "text/csv"},
    {"GET", "/v1/segments", "read", rt__list_segments, 0, "the segments with their sizes", NULL,
     NULL, "{\"segments\": [...]}"},
    {"POST", "/v1/segments", "admin", rt__create_segment, 0,
     "a new segment (evaluated at once)", NULL,
     "{\"name\", \"rule\", \"description\"}", "the segment"},
    {"GET", "/v1/segments/{name}", "read", rt__get_segment, 0, "one segment", NULL, NULL,
     "the segment"},
    {"PUT", "/v1/segments/{name}", "admin", rt__update_segment, 0,
     "a new rule or description for a segment", NULL, "{\"rule\", \"description\"}",
     "the segment"},
    {"DELETE", "/v1/segments/{name}", "admin", rt__delete_segment, 0, "deletes a segment", NULL,
     NULL, "{\"deleted\": name}"},
    {"GET", "/v1/segments/{name}/members", "read", rt__get_segment_members, 0,
     "a segment's members, a page at a time", PAGING, NULL,
     "{\"customers\": [...], \"next_cursor\"}"},
    {"GET", "/v1/openapi.json", NULL, get_openapi, 0, "this document", NULL, NULL,
     "the OpenAPI document"},
    {"GET", "/healthz", NULL, get_health, 0,
     "alive and able to write (503 once the store's files were deleted or replaced)", NULL,
     NULL, "{\"status\": \"ok\"}"},
    {"GET", "/readyz", NULL, get_ready, 0,
     "ready: the customer model is loaded (503 until it is)", NULL, NULL,
     "{\"status\": \"ok\"}"},
    {"GET", "/metrics", "read", get_metrics_text, 0,
     "Prometheus metrics (a read key: they tell how much data there is)", NULL, NULL,
     "text/plain"},
};
#define NROUTES (sizeof routes / sizeof routes[0])
_Static_assert(NROUTES <= RT__MAX_ROUTES, "RT__MAX_ROUTES is too small");

/* Whether url matches the route's path; its {parameters} go to rq->param. */
static int match(const char *path, const char *url, rt__request *rq) {
  size_t used = 0;
  int np = 0;
  while (*path && *url) {
    if (*path == '{') {
      const char *end = strchr(url, '/');
      size_t n = end ? (size_t)(end - url) : strlen(url);
      if (n == 0 || np == RT__MAX_PARAMS || used + n + 1 > sizeof rq->pbuf)
        return 0;
      memcpy(rq->pbuf + used, url, n);
      rq->pbuf[used + n] = 0;
      rq->param[np++] = rq->pbuf + used;
      used += n + 1;
      url += n;
      path = strchr(path, '}') + 1;
    } else if (*path++ != *url++) {
      return 0;
    }
  }
  return !*path && !*url;
}

/* A finished request: counted by route and status, its latency in the histogram, and one JSON
 * log line on stderr (no personal data: no ids, no body, no key). */
static void record(rt_server *s, const rt__request *rq) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  double ms = ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - rq->started) * 1e3;
  size_t st = 0;
  while (st < RT__NSTATUS && statuses[st] != rq->status)
    st++;
  size_t b = 0;
  while (b < RT__NBUCKETS && ms > buckets_ms[b])
    b++;
  pthread_mutex_lock(&s->m_mu);
  s->m.count[rq->route][st]++;
  s->m.lat[rq->route][b]++;
  s->m.lat_sum[rq->route] += ms / 1e3;
  pthread_mutex_unlock(&s->m_mu);
  if (s->cfg.log) { /* written by the JSON library: a method or path is the client's text */
    char when[48];
    rt_time_format(NULL, rt__now_ms(), when, sizeof when);
    json_t *o = json_object();
    json_object_set_new(o, "ts", json_string(when));
    json_object_set_new(o, "method", json_text(rq->method));
    json_object_set_new(o, "route",
                        json_string(rq->route < (int)NROUTES ? routes[rq->route].path : "other"));
    json_object_set_new(o, "status", json_integer(rq->status));
    json_object_set_new(o, "ms", json_real(round(ms * 100) / 100));
    json_object_set_new(o, "events", json_integer((json_int_t)rq->events));
    json_object_set_new(o, "bytes", json_integer((json_int_t)rq->received));
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (line) {
      fprintf(stderr, "%s\n", line);
      free(line);
    }
  }
}

/* GET /metrics: the Prometheus text format */
static enum MHD_Result get_metrics_text(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  size_t cap = 1 << 17, n = 0;
  char *out = malloc(cap);
  if (!out)
    return MHD_NO;
#define OUT(...) (n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, __VA_ARGS__))
#define LABELS(r) (r) < NROUTES ? routes[r].method : "", (r) < NROUTES ? routes[r].path : "other"
  OUT("# HELP retain_http_requests_total HTTP requests by route and status.\n"
      "# TYPE retain_http_requests_total counter\n");
  rt__metrics *m = malloc(sizeof *m);
  if (!m) {
    free(out);
    return MHD_NO;
  }
  pthread_mutex_lock(&s->m_mu);
  *m = s->m;
  pthread_mutex_unlock(&s->m_mu);
  for (size_t r = 0; r <= NROUTES; r++)
    for (size_t k = 0; k <= RT__NSTATUS; k++)
      if (m->count[r][k]) {
        char code[8] = "other";
        if (k < RT__NSTATUS)
          snprintf(code, sizeof code, "%u", statuses[k]);
        OUT("retain_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %llu\n",
            LABELS(r), code, (unsigned long long)m->count[r][k]);
      }
  OUT("# HELP retain_http_request_duration_seconds Request latency.\n"
      "# TYPE retain_http_request_duration_seconds histogram\n");
  for (size_t r = 0; r <= NROUTES; r++) {
    uint64_t total = 0, cum = 0;
    for (size_t b = 0; b <= RT__NBUCKETS; b++)
      total += m->lat[r][b];
    if (!total)
      continue;
    for (size_t b = 0; b < RT__NBUCKETS; b++) {
      cum += m->lat[r][b];
      OUT("retain_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%g\"} "
          "%llu\n",
          LABELS(r), buckets_ms[b] / 1e3, (unsigned long long)cum);
    }
    OUT("retain_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"} "
        "%llu\n",
        LABELS(r), (unsigned long long)total);
    OUT("retain_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n", LABELS(r),
        m->lat_sum[r]);
    OUT("retain_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n",
        LABELS(r), (unsigned long long)total);
  }
  free(m);
  rt_server_stats st;
  rt_server_stats_get(s, &st);
  OUT("# HELP retain_events_ingested_total Events committed to the store.\n"
      "# TYPE retain_events_ingested_total counter\nretain_events_ingested_total %llu\n"
      "# HELP retain_commits_total Write transactions committed (each shared by the requests "
      "waiting).\n# TYPE retain_commits_total counter\nretain_commits_total %llu\n"
      "# HELP retain_commit_events_max The most events one commit carried.\n"
      "# TYPE retain_commit_events_max gauge\nretain_commit_events_max %llu\n",
      (unsigned long long)st.events, (unsigned long long)st.commits,
      (unsigned long long)st.max_commit_batch);
  OUT("# HELP retain_commit_events Events per commit (requests waiting share one).\n"
      "# TYPE retain_commit_events histogram\n");
  uint64_t sizes[RT__COMMIT_BUCKETS + 1], cum = 0;
  pthread_mutex_lock(&s->w.mu);
  memcpy(sizes, s->w.commit_sizes, sizeof sizes);
  pthread_mutex_unlock(&s->w.mu);
  for (size_t b = 0; b <= RT__COMMIT_BUCKETS; b++) {
    cum += sizes[b];
    if (b < RT__COMMIT_BUCKETS)
      OUT("retain_commit_events_bucket{le=\"%u\"} %llu\n", rt__commit_buckets[b],
          (unsigned long long)cum);
    else
      OUT("retain_commit_events_bucket{le=\"+Inf\"} %llu\nretain_commit_events_sum %llu\n"
          "retain_commit_events_count %llu\n",
          (unsigned long long)cum, (unsigned long long)st.events, (unsigned long long)cum);
  }
  OUT("# HELP retain_model_refreshes_total Views (model, features, segments) rebuilt after "
      "commits.\n# TYPE retain_model_refreshes_total counter\nretain_model_refreshes_total %llu\n"
      "# HELP retain_model_refresh_seconds_total Time spent rebuilding views.\n"
      "# TYPE retain_model_refresh_seconds_total counter\n"
      "retain_model_refresh_seconds_total %.6f\n"
      "# HELP retain_model_refresh_last_seconds How long the last rebuild took.\n"
      "# TYPE retain_model_refresh_last_seconds gauge\nretain_model_refresh_last_seconds %.6f\n"
      "# HELP retain_model_customers Customers in the current view.\n"
      "# TYPE retain_model_customers gauge\nretain_model_customers %zu\n"
      "# HELP retain_model_data_version The store's data version the current view includes.\n"
      "# TYPE retain_model_data_version gauge\nretain_model_data_version %lld\n"
      "# HELP retain_segment_moves_total Segment entries and exits recorded.\n"
      "# TYPE retain_segment_moves_total counter\nretain_segment_moves_total %llu\n"
      "# HELP retain_view_waits_total Reads that waited for a newer view (a write before them).\n"
      "# TYPE retain_view_waits_total counter\nretain_view_waits_total %llu\n",
      (unsigned long long)st.refreshes, st.refresh_seconds, st.last_refresh_seconds,
      st.customers, (long long)st.data_version, (unsigned long long)st.segment_moves,
      (unsigned long long)st.view_waits);
  pthread_mutex_lock(&s->guard.mu);
  size_t nconn = s->guard.n;
  pthread_mutex_unlock(&s->guard.mu);
  OUT("# HELP retain_connections_cut_total Connections the server closed: headers too slow, "
      "body too slow, or to keep slots free for new clients.\n"
      "# TYPE retain_connections_cut_total counter\n"
      "retain_connections_cut_total{reason=\"headers\"} %llu\n"
      "retain_connections_cut_total{reason=\"body\"} %llu\n"
      "retain_connections_cut_total{reason=\"reserve\"} %llu\n"
      "# HELP retain_connections Connections open.\n# TYPE retain_connections gauge\n"
      "retain_connections %zu\n"
      "# HELP retain_request_body_bytes Request bodies held in memory.\n"
      "# TYPE retain_request_body_bytes gauge\nretain_request_body_bytes %zu\n"
      "# HELP retain_requests_refused_memory_total Requests refused (503) while bodies held "
      "the most memory allowed.\n# TYPE retain_requests_refused_memory_total counter\n"
      "retain_requests_refused_memory_total %llu\n"
      "# HELP retain_events_clamped_total Events sent with a time more than a day ahead, kept "
      "at the time they arrived.\n# TYPE retain_events_clamped_total counter\n"
      "retain_events_clamped_total %llu\n"
      "# HELP retain_views_alive Views (model, features, segments) in memory: the current one, "
      "and older ones reads still hold.\n# TYPE retain_views_alive gauge\n"
      "retain_views_alive %ld\n"
      "# HELP retain_exports CSV exports streaming now.\n# TYPE retain_exports gauge\n"
      "retain_exports %d\n",
      (unsigned long long)atomic_load(&s->guard.cut_headers),
      (unsigned long long)atomic_load(&s->guard.cut_body),
      (unsigned long long)atomic_load(&s->guard.cut_reserve), nconn,
      atomic_load(&s->body_bytes), (unsigned long long)atomic_load(&s->refused_memory),
      (unsigned long long)atomic_load(&s->clamped), rt__live_views_alive(),
      atomic_load(&s->exports));
#undef LABELS
#undef OUT
  if (n >= cap)
    n = cap - 1;
  return rt__send_text(rq, c, MHD_HTTP_OK, "text/plain; version=0.0.4", out, n);
}

static enum MHD_Result get_health(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  char msg[sizeof s->w.broken.msg];
  pthread_mutex_lock(&s->w.mu);
  int broken = s->w.broken.code != 0;
  snprintf(msg, sizeof msg, "%s", s->w.broken.msg);
  pthread_mutex_unlock(&s->w.mu);
  if (broken) /* writes are refused for good: an orchestrator should know */
    return rt__send_error(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, "failing", msg, NULL);
  json_t *o = json_object();
  json_object_set_new(o, "status", json_string("ok"));
  return rt__send_json(rq, c, MHD_HTTP_OK, o);
}

static enum MHD_Result get_ready(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  rt__view *v = rt__live_get(&s->live, 0, 0);
  if (!v) {
    char msg[1100];
    pthread_mutex_lock(&s->live.mu);
    snprintf(msg, sizeof msg, "the customer model is loading%s%s",
             s->live.error[0] ? ": " : "", s->live.error);
    pthread_mutex_unlock(&s->live.mu);
    return rt__send_error(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, "loading", msg, NULL);
  }
  json_t *o = json_object(); /* needs no key: says nothing about the data */
  json_object_set_new(o, "status", json_string("ok"));
  rt__view_release(v);
  return rt__send_json(rq, c, MHD_HTTP_OK, o);
}

/* ---- GET /v1/openapi.json, built from the route table (so it lists exactly the routes) ---- */

static json_t *response(const char *desc) {
  json_t *r = json_object();
  json_object_set_new(r, "description", json_string(desc));
  return r;
}

static json_t *parameter(const char *name, const char *in, const char *about, int required) {
  json_t *p = json_object(), *schema = json_object();
  json_object_set_new(p, "name", json_string(name));
  json_object_set_new(p, "in", json_string(in));
  json_object_set_new(p, "required", json_boolean(required));
  if (about)
    json_object_set_new(p, "description", json_string(about));
  json_object_set_new(schema, "type", json_string("string"));
  json_object_set_new(p, "schema", schema);
  return p;
}

static json_t *operation(const route *r) {
  json_t *op = json_object(), *ps = json_array(), *rs = json_object();
  json_object_set_new(op, "summary", json_string(r->summary));
  for (const char *p = strchr(r->path, '{'); p; p = strchr(p + 1, '{')) {
    char name[32];
    size_t n = (size_t)(strchr(p, '}') - p - 1);
    snprintf(name, sizeof name, "%.*s", (int)n, p + 1);
    json_array_append_new(ps, parameter(name, "path", NULL, 1));
  }
  for (const char *q = r->query; q && *q;) { /* "name=meaning;..." */
    const char *eq = strchr(q, '='), *end = strchr(q, ';');
    if (!end)
      end = q + strlen(q);
    char name[32], about[256];
    snprintf(name, sizeof name, "%.*s", (int)(eq - q), q);
    snprintf(about, sizeof about, "%.*s", (int)(end - eq - 1), eq + 1);
    json_array_append_new(ps, parameter(name, "query", about, 0));
    q = *end ? end + 1 : end;
  }
  if (json_array_size(ps))
    json_object_set_new(op, "parameters", ps);
  else
    json_decref(ps);
  if (r->body) {
    json_t *body = json_object(), *content = json_object(), *media = json_object(),
           *schema = json_object();
    json_object_set_new(schema, "type", json_string("object"));
    json_object_set_new(schema, "description", json_string(r->body));
    json_object_set_new(media, "schema", schema);
    json_object_set_new(content, "application/json", media);
    json_object_set_new(body, "required", json_true());
    json_object_set_new(body, "content", content);
    json_object_set_new(op, "requestBody", body);
  }
  json_object_set_new(rs, r->fn == rt__create_segment ? "201" : "200", response(r->ok));
  if (r->scope) {
    json_object_set_new(rs, "400", response("invalid request: {\"error\": {\"code\", "
                                            "\"message\", \"field\"}} with the JSON path or "
                                            "parameter at fault"));
    json_object_set_new(rs, "401", response("no valid API key"));
    json_object_set_new(rs, "403", response("the key's scope does not allow it"));
    json_object_set_new(rs, "408", response("the body took longer than the request timeout"));
    json_object_set_new(rs, "429", response("over the key's rate limit"));
    json_object_set_new(rs, "503", response("shutting down, or the model is not loaded yet"));
  }
  if (r->body) {
    json_object_set_new(rs, "413", response("body (after inflating a gzip or deflate one), "
                                            "batch or a customer's attributes too large"));
    json_object_set_new(rs, "415", response("a Content-Encoding other than gzip or deflate"));
  }
  if (strchr(r->path, '{'))
    json_object_set_new(rs, "404", response("no such customer or segment"));
  json_object_set_new(op, "responses", rs);
  return op;
}

static enum MHD_Result get_openapi(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  (void)s;
  json_t *doc = json_object(), *info = json_object(), *paths = json_object();
  json_object_set_new(doc, "openapi", json_string("3.0.3"));
  json_object_set_new(info, "title", json_string("retain"));
  json_object_set_new(info, "version", json_string("1"));
  json_object_set_new(info, "description",
                      json_string("Segment-spec event ingest and reads of the retain store. "
                                  "Keys as the Basic auth user name or a Bearer token."));
  json_object_set_new(doc, "info", info);
  for (size_t k = 0; k < NROUTES; k++) {
    json_t *item = json_object_get(paths, routes[k].path);
    if (!item) {
      item = json_object();
      json_object_set_new(paths, routes[k].path, item);
    }
    char method[8];
    size_t i = 0;
    for (; routes[k].method[i] && i + 1 < sizeof method; i++)
      method[i] = (char)(routes[k].method[i] - 'A' + 'a');
    method[i] = 0;
    json_object_set_new(item, method, operation(&routes[k]));
  }
  json_object_set_new(doc, "paths", paths);
  return rt__send_json(rq, c, MHD_HTTP_OK, doc);
}

/* ---- ingest ---- */

static enum MHD_Result too_large(rt_server *s, rt__request *rq, struct MHD_Connection *c);
/* 409 for a request with events about erased customers: those were refused, the others
 * stored (and idempotent, so a client resending the whole request stores nothing twice). */
static enum MHD_Result refused(rt__request *rq, struct MHD_Connection *c, const rt__events *evs,
                               const rt__job *job, int batch) {
  char field[64], msg[1400];
  const rt__event *ev = &evs->v[job->refused_at];
  const char *id = ev->user_id ? "userId" : "anonymousId";
  if (batch)
    snprintf(field, sizeof field, "batch[%zu].%s", job->refused_at, id);
  else
    snprintf(field, sizeof field, "%s", id);
  snprintf(msg, sizeof msg, "%s: %s; %zu of %zu events refused, the others stored", field,
           job->refusal.msg, job->refused, evs->n);
  rq->events = evs->n - job->refused;
  return rt__send_error(rq, c, MHD_HTTP_CONFLICT, "erased", msg, field);
}

static int allowed(rt_server *s, rt__request *rq, struct MHD_Connection *c, const char *what,
                   const char *body_key, enum MHD_Result *denied);

/* The writeKey of a browser's body ({"writeKey": ..., ...} as analytics.js sends it), or NULL. */
static char *body_write_key(const rt__request *rq) {
  json_t *root = rq->body ? json_loadb(rq->body, rq->len, 0, NULL) : NULL;
  json_t *k = json_object_get(root, "writeKey");
  char *key = json_is_string(k) ? strdup(json_string_value(k)) : NULL;
  json_decref(root);
  return key;
}

static enum MHD_Result ingest(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  if (rq->too_big)
    return too_large(s, rq, c);
  if (rq->key_in_body) {
    char *key = body_write_key(rq);
    enum MHD_Result denied;
    int ok = allowed(s, rq, c, routes[rq->route].scope, key ? key : "", &denied);
    free(key);
    if (!ok)
      return denied;
  }
  rt__events evs;
  char field[128];
  rt_error err = {0};
  int rc = rt__events_parse(rq->body ? rq->body : "", rq->len, routes[rq->route].kind,
                            rt__now_ms(), s->cfg.max_batch, &evs, field, sizeof field, &err);
  if (rc == RT_ERANGE)
    return rt__send_error(rq, c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", err.msg, field);
  if (rc == RT_ENOMEM)
    return rt__send_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", err.msg, NULL);
  if (rc)
    return rt__send_error(rq, c, MHD_HTTP_BAD_REQUEST, "invalid", err.msg, field);
  size_t clamped = 0;
  for (size_t i = 0; i < evs.n; i++)
    clamped += (size_t)evs.v[i].clamped;
  rt__job job = {.events = &evs};
  rt__writer_submit(&s->w, &job);
  size_t n = evs.n;
  if (!job.rc && clamped)
    atomic_fetch_add(&s->clamped, clamped);
  rq->events = n;
  if (job.rc == RT_EERASED) {
    enum MHD_Result r = refused(rq, c, &evs, &job, routes[rq->route].kind == RT__EV_BATCH);
    rt__events_free(&evs);
    return r;
  }
  rt__events_free(&evs);
  if (job.rc == RT_EBUSY)
    return rt__send_error(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", job.err.msg, NULL);
  if (job.rc == RT_ERANGE) /* the store's limit on a customer's attributes (ingest.c) */
    return rt__send_error(rq, c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", job.err.msg, job.field);
  if (job.rc)
    return rt__send_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store", job.err.msg, NULL);
  json_t *o = json_object();
  json_object_set_new(o, "success", json_true());
  json_object_set_new(o, "events", json_integer((json_int_t)n));
  return rt__send_json(rq, c, MHD_HTTP_OK, o);
}

/* Whether the request's key may use a route needing scope ("write": ingest; "read": the read
 * API; "admin": changes; admin keys may do everything) and is within its rate; if not,
 * *denied is the 401, 403 or 429 answer. */
static int allowed(rt_server *s, rt__request *rq, struct MHD_Connection *c, const char *what,
                   const char *body_key, enum MHD_Result *denied) {
  if (s->cfg.no_auth || !what)
    return 1;
  char scope[16] = "";
  int64_t key_id = 0;
  if (!authorize(s, c, body_key, scope, sizeof scope, &key_id)) {
    *denied = rt__send_error(rq, c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                             body_key ? "a valid write key is required (writeKey in the "
                                        "body, or the key as the Basic auth user name, or "
                                        "Authorization: Bearer KEY)"
                                      : "a valid API key is required (the key as the Basic "
                                        "auth user name, or Authorization: Bearer KEY)",
                             NULL);
    return 0;
  }
  if (strcmp(scope, what) && strcmp(scope, "admin")) {
    const char *msg = !strcmp(what, "write")  ? "this key cannot write events"
                      : !strcmp(what, "read") ? "this key cannot read (a write key can only "
                                                "send events)"
                                              : "this needs an admin key";
    *denied = rt__send_error(rq, c, MHD_HTTP_FORBIDDEN, "forbidden", msg, NULL);
    return 0;
  }
  rt__writer_key_used(&s->w, key_id, rt__now_ms()); /* for `retain keys list` */
  if (!admit(s, key_id)) {
    char msg[96];
    snprintf(msg, sizeof msg, "more than %g requests a second with this key; retry later",
             s->cfg.rate_limit);
    *denied = rt__send_error(rq, c, 429, "rate_limited", msg, NULL);
    return 0;
  }
  rq->key_id = key_id;
  return 1;
}

/* ---- request bodies ---- */

/* Bodies of 128 KiB and more get their own mapping, given back to the system when the request
 * ends: from the heap, a burst of large bodies would leave the process that much bigger for
 * good (freed heap memory is rarely returned). */
#define BODY_MAP_MIN (128 * 1024)

static char *body_alloc(size_t cap) {
  if (cap < BODY_MAP_MIN)
    return rt_malloc(cap);
  void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

static void body_free(char *p, size_t cap) {
  if (!p)
    return;
  if (cap < BODY_MAP_MIN)
    rt_free(p);
  else
    munmap(p, cap);
}

/* Takes n more bytes of the memory bodies may hold; 0 when that would pass the limit. */
static int body_reserve(rt_server *s, rt__request *rq, size_t n) {
  size_t now = atomic_fetch_add(&s->body_bytes, n) + n;
  if (now > s->cfg.max_body_memory) {
    atomic_fetch_sub(&s->body_bytes, n);
    atomic_fetch_add(&s->refused_memory, 1);
    return 0;
  }
  rq->reserved += n;
  return 1;
}

/* Appends a piece of the body; 0, or RT_ERANGE past max_body (the rest is discarded),
 * RT_EBUSY when bodies hold too much memory, RT_ENOMEM. */
static int body_append(rt_server *s, rt__request *rq, const char *data, size_t n) {
  if (rq->len + n > s->cfg.max_body)
    return RT_ERANGE;
  if (rq->len + n + 1 > rq->cap) {
    size_t cap = rq->cap ? rq->cap * 2 : rq->expect >= n ? rq->expect + 1 : 4096;
    if (cap < rq->len + n + 1)
      cap = rq->len + n + 1;
    if (cap > s->cfg.max_body + 1)
      cap = s->cfg.max_body + 1;
    if (cap > rq->reserved && !body_reserve(s, rq, cap - rq->reserved))
      return RT_EBUSY;
    char *b = body_alloc(cap);
    if (!b)
      return RT_ENOMEM;
    if (rq->len)
      memcpy(b, rq->body, rq->len);
    body_free(rq->body, rq->cap);
    rq->body = b;
    rq->cap = cap;
  }
  memcpy(rq->body + rq->len, data, n);
  rq->len += n;
  rq->body[rq->len] = 0;
  return 0;
}

/* A gzip or deflate body inflated in place of the one received, within the same limits: at
 * most max_body bytes once inflated (a small body that inflates to gigabytes - a zip bomb -
 * is refused when it passes the limit, having taken no more than that), and counted in the
 * body memory. 0, RT_ERANGE (too large), RT_EPARSE (not valid gzip/deflate data), RT_EBUSY
 * (no memory budget) or RT_ENOMEM. */
static int inflate_body(rt_server *s, rt__request *rq) {
  z_stream z;
  memset(&z, 0, sizeof z);
  /* 15 + 32: a gzip or zlib header, told apart by zlib; HTTP's "deflate" is zlib-wrapped, but
   * some clients send a bare deflate stream: tried when the header is not zlib's */
  int raw = rq->encoding == 2 && rq->len >= 2 &&
            (((unsigned char)rq->body[0] & 0x0f) != 8 ||
             (((unsigned char)rq->body[0] << 8) | (unsigned char)rq->body[1]) % 31 != 0);
  if (inflateInit2(&z, raw ? -15 : 15 + 32) != Z_OK)
    return RT_ENOMEM;
  /* the inflated body is gathered as a received one is (body_append: the size limit, the
   * memory budget), the compressed one set aside until it is read */
  char *in = rq->body;
  size_t in_cap = rq->cap;
  z.next_in = (unsigned char *)in;
  z.avail_in = (uInt)rq->len;
  rq->body = NULL;
  rq->len = rq->cap = rq->expect = 0;
  unsigned char chunk[16384];
  int rc = 0, zr = Z_OK;
  while (!rc && zr != Z_STREAM_END) {
    z.next_out = chunk;
    z.avail_out = sizeof chunk;
    zr = inflate(&z, Z_NO_FLUSH);
    if (zr != Z_OK && zr != Z_STREAM_END)
      rc = RT_EPARSE; /* damaged, or cut short (Z_BUF_ERROR: no input left) */
    else if (z.avail_out < sizeof chunk)
      rc = body_append(s, rq, (const char *)chunk, sizeof chunk - z.avail_out);
  }
  inflateEnd(&z);
  body_free(in, in_cap);
  return rc;
}

/* libmicrohttpd's own decoding of the path and the query (%XX), watching for %00: decoded, a
 * NUL would cut `/v1/customers/a%00b` to customer `a`. The request is answered 400 instead. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s) {
  (void)cls;
  for (const char *p = s; (p = strchr(p, '%')); p++)
    if (p[1] == '0' && p[2] == '0') {
      rt__conn *e = rt__guard_conn(c);
      if (e)
        atomic_store(&e->nul, 1);
      break;
    }
  return MHD_http_unescape(s);
}

/* ---- one request ---- */

static enum MHD_Result too_large(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  char msg[96];
  snprintf(msg, sizeof msg, "the body is larger than %zu bytes", s->cfg.max_body);
  return rt__send_error(rq, c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", msg, NULL);
}

static enum MHD_Result memory_busy(rt__request *rq, struct MHD_Connection *c) {
  return rt__send_error(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, "busy",
                        "the server holds as many request bodies as it may; retry shortly",
                        NULL);
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value) {
  (void)kind;
  (void)value;
  int *n = cls;
  if (!strcasecmp(key, "Content-Length"))
    n[0]++;
  else if (!strcasecmp(key, "Transfer-Encoding"))
    n[1]++;
  return MHD_YES;
}

/* What can be answered from the request line and headers alone - a preflight, a %00, a
 * malformed length, no such route, no key or the wrong one, a body too large or no memory for
 * it - is answered before the body is read: a client without a key never makes the server hold
 * its body. Returns 1 when *res is the answer. */
static int answer_early(rt_server *s, rt__request *rq, struct MHD_Connection *c,
                        const char *method, const char *url, enum MHD_Result *res) {
  if (!strcmp(method, "OPTIONS")) { /* a browser's preflight */
    *res = preflight(rq, c);
    return 1;
  }
  if (rq->conn && atomic_exchange(&rq->conn->nul, 0)) {
    *res = rt__send_error(rq, c, MHD_HTTP_BAD_REQUEST, "bad_request",
                          "the path or the query holds a NUL byte (%00)", NULL);
    return 1;
  }
  int n[2] = {0, 0};
  MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, n);
  if (n[0] > 1 || (n[0] && n[1])) {
    *res = rt__send_error(rq, c, MHD_HTTP_BAD_REQUEST, "bad_request",
                          n[0] > 1 ? "the request has more than one Content-Length header"
                                   : "the request has both Content-Length and "
                                     "Transfer-Encoding",
                          NULL);
    return 1;
  }
  if (rq->route == (int)NROUTES) { /* a path with other methods is 405, naming them; else 404 */
    char msg[64] = "use";
    for (size_t k = 0; k < NROUTES; k++)
      if (match(routes[k].path, url, rq) && strlen(msg) + 8 < sizeof msg)
        snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " %s", routes[k].method);
    *res = strcmp(msg, "use")
               ? rt__send_error(rq, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method", msg, NULL)
               : rt__send_error(rq, c, MHD_HTTP_NOT_FOUND, "not_found", "no such route", NULL);
    return 1;
  }
  /* A browser sends the write key inside a text/plain body (no preflight): from an allowed
   * origin, an ingest request without an Authorization header is read first and its
   * writeKey checked then, within the same body limits. */
  rq->key_in_body = rq->origin && routes[rq->route].fn == ingest && !s->cfg.no_auth &&
                    !MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  if (!rq->key_in_body && !allowed(s, rq, c, routes[rq->route].scope, NULL, res))
    return 1;
  const char *ce = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
  if (ce && *ce && strcasecmp(ce, "identity")) {
    rq->encoding = !strcasecmp(ce, "gzip") || !strcasecmp(ce, "x-gzip") ? 1
                   : !strcasecmp(ce, "deflate")                         ? 2
                                                                        : -1;
    if (rq->encoding < 0) {
      char msg[160];
      snprintf(msg, sizeof msg, "Content-Encoding '%.60s' is not supported: send gzip, "
                                "deflate or none",
               ce);
      *res = rt__send_error(rq, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "encoding", msg, NULL);
      return 1;
    }
  }
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
  if (cl) {
    char *end;
    unsigned long long len = strtoull(cl, &end, 10);
    if (len > s->cfg.max_body) {
      *res = too_large(s, rq, c);
      return 1;
    }
    if (len && !body_reserve(s, rq, (size_t)len + 1)) {
      *res = memory_busy(rq, c);
      return 1;
    }
    rq->expect = (size_t)len;
  }
  return 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls) {
  (void)version;
  rt_server *s = cls;
  rt__request *rq = *con_cls;
  if (!rq) { /* first call: headers only */
    rq = calloc(1, sizeof *rq);
    if (!rq)
      return MHD_NO;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    rq->started = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    rq->srv = s;
    rq->route = (int)NROUTES;
    for (size_t k = 0; k < NROUTES && rq->route == (int)NROUTES; k++)
      if (!strcmp(routes[k].method, method) && match(routes[k].path, url, rq))
        rq->route = (int)k; /* known now, so a timeout is counted under its route */
    snprintf(rq->method, sizeof rq->method, "%s", method);
    rq->conn = rt__guard_conn(c);
    rq->origin = cors_origin(s, c);
    rt__guard_phase(rq->conn, RT__CONN_BODY);
    *con_cls = rq;
    atomic_fetch_add(&s->in_flight, 1);
    json_failed = 0;
    enum MHD_Result res;
    if (answer_early(s, rq, c, method, url, &res)) {
      rq->answered = 1;
      atomic_fetch_add(&s->requests, 1);
      rt__guard_phase(rq->conn, RT__CONN_BUSY);
      return res;
    }
    return MHD_YES;
  }
  if (rq->answered) { /* answered before its body: the body is not kept */
    *upload_size = 0;
    return MHD_YES;
  }
  if (*upload_size) { /* a piece of the body */
    rq->received += *upload_size;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (rq->timed_out ||
        (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - rq->started > s->cfg.request_timeout) {
      /* The body is taking too long. libmicrohttpd takes an answer only before the body or
       * after all of it: when this piece completes the body, the final call answers 408;
       * with more to come the connection is closed now (logged as 408). */
      rq->timed_out = 1;
      rq->status = MHD_HTTP_REQUEST_TIMEOUT;
      const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
      if (!cl || strtoull(cl, NULL, 10) > rq->received)
        return MHD_NO;
      *upload_size = 0;
      return MHD_YES;
    }
    if (!rq->too_big) {
      int rc = body_append(s, rq, upload, *upload_size);
      if (rc == RT_ENOMEM)
        return MHD_NO;
      if (rc)
        rq->too_big = rc == RT_EBUSY ? 2 : 1;
    }
    *upload_size = 0;
    return MHD_YES;
  }
  rt__guard_phase(rq->conn, RT__CONN_BUSY);
  atomic_fetch_add(&s->requests, 1);
  json_failed = 0;
  if (rq->timed_out) {
    char msg[96];
    snprintf(msg, sizeof msg, "the request took longer than %d s to arrive",
             s->cfg.request_timeout);
    return rt__send_error(rq, c, MHD_HTTP_REQUEST_TIMEOUT, "timeout", msg, NULL);
  }
  if (rq->too_big == 2)
    return memory_busy(rq, c);
  if (rq->too_big && routes[rq->route].fn != ingest)
    return too_large(s, rq, c);
  if (rq->encoding > 0 && rq->len && !rq->too_big) {
    int rc = inflate_body(s, rq);
    if (rc == RT_ERANGE) {
      char msg[120];
      snprintf(msg, sizeof msg, "the body inflates to more than %zu bytes", s->cfg.max_body);
      return rt__send_error(rq, c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", msg, NULL);
    }
    if (rc == RT_EPARSE)
      return rt__send_error(rq, c, MHD_HTTP_BAD_REQUEST, "invalid",
                            rq->encoding == 1 ? "the body is not valid gzip data"
                                              : "the body is not valid deflate data",
                            "$");
    if (rc == RT_EBUSY)
      return memory_busy(rq, c);
    if (rc)
      return send_oom(rq, c);
  }
  return routes[rq->route].fn(s, rq, c);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)c;
  rt_server *s = cls;
  rt__request *rq = *con_cls;
  if (!rq)
    return;
  if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED && !rq->status)
    rq->status = MHD_HTTP_REQUEST_TIMEOUT; /* closed silent by libmicrohttpd; logged as 408 */
  if (rq->status)
    record(s, rq);
  rt__guard_phase(rq->conn, RT__CONN_IDLE); /* a kept-alive connection: the next request */
  body_free(rq->body, rq->cap);
  if (rq->reserved)
    atomic_fetch_sub(&s->body_bytes, rq->reserved);
  free(rq);
  *con_cls = NULL;
  atomic_fetch_sub(&s->in_flight, 1);
}

static void committed(void *ctx, const int64_t *customers, size_t n) {
  rt__live_bump(ctx, customers, n);
}

int rt_server_start(const rt_server_config *cfg, rt_server **out, rt_error *err) {
  *out = NULL;
  rt_server *s = rt_calloc(1, sizeof *s);
  if (!s)
    return rt_error_set(err, RT_ENOMEM, "server: %s", rt_strerror(RT_ENOMEM));
  s->cfg = *cfg;
  if (!s->cfg.host)
    s->cfg.host = "127.0.0.1";
  if (s->cfg.max_connections <= 0)
    s->cfg.max_connections = 1000;
  if (!s->cfg.max_body)
    s->cfg.max_body = 1 << 20;
  if (!s->cfg.max_batch)
    s->cfg.max_batch = 2500;
  if (s->cfg.request_timeout <= 0)
    s->cfg.request_timeout = 30;
  if (s->cfg.header_timeout <= 0)
    s->cfg.header_timeout = 10;
  if (!s->cfg.max_per_ip)
    s->cfg.max_per_ip = 100;
  if (s->cfg.max_exports <= 0)
    s->cfg.max_exports = 4;
  if (!s->cfg.max_body_memory)
    s->cfg.max_body_memory = (size_t)256 << 20;
  json_set_alloc_funcs(json_alloc, rt_free);
  for (int i = 0; i < RT__READERS; i++)
    pthread_mutex_init(&s->readers[i].mu, NULL);
  pthread_mutex_init(&s->m_mu, NULL);
  pthread_mutex_init(&s->rl_mu, NULL);
  /* the writer commits small transactions all the time: a small page cache (SQLite walks it at
   * every commit; the file is memory-mapped for reads anyway) */
  rt_store_config sc = {.path = cfg->db_path, .cache_kib = 8192},
                  rc_ = {.path = cfg->db_path, .read_only = 1};
  int rc = rt_store_open(&sc, &s->st, err);
  int built = 0; /* the by-customer indexes a bulk import left out (seconds, once) */
  if (!rc)
    rc = rt_store_ensure_indexes(s->st, &built, err);
  for (int i = 0; i < RT__READERS && !rc; i++)
    rc = rt_store_open(&rc_, &s->readers[i].st, err);
  if (!rc)
    rc = rt__writer_start(&s->w, s->st, committed, &s->live, err);
  if (!rc)
    rc = rt__live_start(&s->live, cfg->db_path, &s->w, cfg->timezone, cfg->currency,
                        cfg->now_ms, err);
  if (rc) {
    rt_server_stop(s);
    return rc;
  }
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)s->cfg.port);
  if (inet_pton(AF_INET, s->cfg.host, &addr.sin_addr) != 1) {
    rt_server_stop(s);
    return rt_error_set(err, RT_EINVAL, "server: '%s' is not an IPv4 address", cfg->host);
  }
  /* A thread per connection: a handler waits for the writer's commit, and in a pool every
   * connection sharing its thread would wait with it (on 2 cores against a pool of 128
   * threads: tracks 12.9k -> 21.7k/s, batches 95k -> 127k events/s; bench/serve.sh) */
  /* a tenth of the slots kept for new clients (the guard frees them from slow ones) */
  size_t reserve = (size_t)s->cfg.max_connections / 10;
  if (rt__guard_start(&s->guard, s->cfg.header_timeout, s->cfg.request_timeout,
                      2 * s->cfg.request_timeout,
                      (size_t)s->cfg.max_connections, reserve)) {
    rt_server_stop(s);
    return rt_error_set(err, RT_EIO, "server: cannot start a thread");
  }
  s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                              MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG,
                          (uint16_t)s->cfg.port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
                          (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT,
                          (unsigned)s->cfg.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                          (unsigned)(s->cfg.max_per_ip > 0 ? s->cfg.max_per_ip : 0),
                          MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                          MHD_OPTION_NOTIFY_CONNECTION, rt__guard_notify, &s->guard,
                          MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.request_timeout,
                          MHD_OPTION_END);
  if (!s->d) {
    rt_server_stop(s);
    return rt_error_set(err, RT_EIO, "server: cannot listen on %s:%d (in use?)", cfg->host,
                        cfg->port);
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  s->port = di ? di->port : s->cfg.port;
  *out = s;
  return 0;
}

int rt_server_port(const rt_server *s) { return s->port; }

void rt_server_stop(rt_server *s) {
  if (!s)
    return;
  if (s->d) {
    MHD_quiesce_daemon(s->d); /* no new connections */
    for (int i = 0; i < 3000 && atomic_load(&s->in_flight) > 0; i++)
      usleep(10000); /* the requests in flight finish (up to 30 s) */
    MHD_stop_daemon(s->d);
  }
  rt__guard_stop(&s->guard);
  rt__live_stop(&s->live); /* before the writer: it may be writing segment changes */
  rt__writer_stop(&s->w);
  for (int i = 0; i < RT__READERS; i++)
    rt_store_close(s->readers[i].st);
  rt_store_close(s->st);
  for (int i = 0; i < RT__READERS; i++)
    pthread_mutex_destroy(&s->readers[i].mu);
  pthread_mutex_destroy(&s->m_mu);
  pthread_mutex_destroy(&s->rl_mu);
  rt_free(s);
}

void rt_server_stats_get(rt_server *s, rt_server_stats *out) {
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&s->w.mu);
  out->commits = s->w.commits;
  out->events = s->w.events;
  out->max_commit_batch = s->w.max_commit;
  pthread_mutex_unlock(&s->w.mu);
  out->requests = atomic_load(&s->requests);
  if (!s->live.db_path)
    return;
  pthread_mutex_lock(&s->live.mu);
  out->refreshes = s->live.refreshes;
  out->refresh_seconds = s->live.refresh_seconds;
  out->last_refresh_seconds = s->live.last_seconds;
  out->segment_moves = s->live.segment_moves;
  out->view_waits = s->live.waits;
  if (s->live.cur) {
    out->customers = s->live.cur->model->ncustomers;
    out->data_version = s->live.cur->data_version;
  }
  pthread_mutex_unlock(&s->live.mu);
}
