/* server.c - the HTTP side of `retain serve` (server.h): libmicrohttpd with a thread pool,
 * request bodies gathered up to a limit, routing, authentication by API key, JSON answers and
 * errors, and the graceful stop. Writes go through the group-commit writer (ingest.c). */
#include <retain/alloc.h>
#include <retain/datetime.h>
#include <retain/model.h>
#include <retain/server.h>
#include <retain/store.h>

#include <arpa/inet.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/ingest.h"

/* what /metrics reports: requests by route and status, latency buckets, commit sizes */
static const char *const route_names[] = {"/v1/identify", "/v1/track",  "/v1/page",
                                          "/v1/screen",   "/v1/group",  "/v1/alias",
                                          "/v1/batch",    "/v1/import", "/healthz",
                                          "/readyz",      "/metrics",   "/v1/customers/{id}",
                                          "other"};
#define NROUTES (sizeof route_names / sizeof route_names[0])
static const unsigned statuses[] = {200, 400, 401, 403, 404, 405, 408, 413, 429, 500, 503};
#define NSTATUS (sizeof statuses / sizeof statuses[0])
static const double buckets_ms[] = {0.5, 1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 5000};
#define NBUCKETS (sizeof buckets_ms / sizeof buckets_ms[0])

typedef struct metrics {
  uint64_t count[NROUTES][NSTATUS + 1]; /* [.][NSTATUS]: any other status */
  uint64_t lat[NROUTES][NBUCKETS + 1];  /* cumulative at print time; [.][NBUCKETS]: +Inf */
  double lat_sum[NROUTES];
} metrics;

/* Per-key token buckets (rate limit): a key may send `rate` requests a second, in bursts of
 * up to twice that. A small open-addressing table by key id. */
#define BUCKETS 1024
typedef struct bucket {
  int64_t key; /* 0: empty */
  double tokens, last;
} bucket;

struct rt_server {
  rt_server_config cfg;
  struct MHD_Daemon *d;
  rt_store *st;      /* the writer's */
  rt_store *keys_st; /* a read-only connection for key checks (mutex: one request at a time) */
  pthread_mutex_t keys_mu;
  rt__writer w;
  atomic_int in_flight;
  atomic_ullong requests;
  int port;
  metrics m;
  pthread_mutex_t m_mu; /* guards m */
  pthread_mutex_t rl_mu;
  bucket rl[BUCKETS];
};

/* 1 when key may send one more request now; 0 when over its rate (429) */
static int admit(rt_server *s, int64_t key) {
  if (s->cfg.rate_limit <= 0)
    return 1;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9, rate = s->cfg.rate_limit;
  pthread_mutex_lock(&s->rl_mu);
  size_t i = (size_t)((uint64_t)key * 0x9E3779B97F4A7C15ULL >> 54) & (BUCKETS - 1);
  for (size_t probe = 0; probe < BUCKETS && s->rl[i].key && s->rl[i].key != key; probe++)
    i = (i + 1) & (BUCKETS - 1);
  bucket *b = &s->rl[i];
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

typedef struct request {
  char *body;
  size_t len, cap;
  size_t received; /* bytes of the body so far (len stops at the limit) */
  int too_big;
  int timed_out; /* the body took longer than the request timeout */
  int route;      /* index into route_names */
  unsigned status;
  double started; /* monotonic seconds */
  size_t events;
  char method[8];
} request;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum MHD_Result send_json(request *rq, struct MHD_Connection *c, unsigned status,
                                 json_t *body) {
  rq->status = status;
  /* 15 significant digits: amounts print as written (19.99, not 19.989999999999998) */
  char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
  json_decref(body);
  if (!s)
    return MHD_NO;
  size_t n = strlen(s);
  struct MHD_Response *r = MHD_create_response_from_buffer(n, s, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(s);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

/* {"error": {"code": ..., "message": ..., "field": ...}} */
static enum MHD_Result send_error(request *rq, struct MHD_Connection *c, unsigned status,
                                  const char *code, const char *message, const char *field) {
  json_t *e = json_object();
  json_object_set_new(e, "code", json_string(code));
  json_object_set_new(e, "message", json_string(message));
  if (field && *field)
    json_object_set_new(e, "field", json_string(field));
  json_t *o = json_object();
  json_object_set_new(o, "error", e);
  return send_json(rq, c, status, o);
}

/* The key a request presents: the Basic auth user name (how Segment's SDKs send the write key)
 * or a Bearer token. Returns its scope ("write", "read", "admin") into scope, or 0 when there
 * is no valid key. */
static int authorize(rt_server *s, struct MHD_Connection *c, char *scope, size_t cap,
                     int64_t *key_id) {
  char *key = NULL;
  const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  if (h && !strncmp(h, "Bearer ", 7)) {
    key = strdup(h + 7);
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
  pthread_mutex_lock(&s->keys_mu);
  int rc = rt_store_key_check(s->keys_st, key, strlen(key), &info, NULL);
  pthread_mutex_unlock(&s->keys_mu);
  free(key);
  if (rc)
    return 0;
  snprintf(scope, cap, "%s", info.scope);
  *key_id = info.id;
  return 1;
}

/* A finished request: counted by route and status, its latency in the histogram, and one JSON
 * log line on stderr (no personal data: no ids, no body, no key). */
static void record(rt_server *s, const request *rq) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  double ms = ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - rq->started) * 1e3;
  size_t st = 0;
  while (st < NSTATUS && statuses[st] != rq->status)
    st++;
  size_t b = 0;
  while (b < NBUCKETS && ms > buckets_ms[b])
    b++;
  pthread_mutex_lock(&s->m_mu);
  s->m.count[rq->route][st]++;
  s->m.lat[rq->route][b]++;
  s->m.lat_sum[rq->route] += ms / 1e3;
  pthread_mutex_unlock(&s->m_mu);
  if (s->cfg.log) {
    char when[48];
    rt_time_format(NULL, now_ms(), when, sizeof when);
    fprintf(stderr,
            "{\"ts\":\"%s\",\"method\":\"%s\",\"route\":\"%s\",\"status\":%u,"
            "\"ms\":%.2f,\"events\":%zu,\"bytes\":%zu}\n",
            when, rq->method, route_names[rq->route], rq->status, ms, rq->events, rq->len);
  }
}

/* GET /metrics: the Prometheus text format */
static enum MHD_Result send_metrics(rt_server *s, request *rq, struct MHD_Connection *c) {
  size_t cap = 1 << 16, n = 0;
  char *out = malloc(cap);
  if (!out)
    return MHD_NO;
#define OUT(...) (n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, __VA_ARGS__))
  OUT("# HELP retain_http_requests_total HTTP requests by route and status.\n"
      "# TYPE retain_http_requests_total counter\n");
  pthread_mutex_lock(&s->m_mu);
  metrics m = s->m;
  pthread_mutex_unlock(&s->m_mu);
  for (size_t r = 0; r < NROUTES; r++)
    for (size_t k = 0; k <= NSTATUS; k++)
      if (m.count[r][k]) {
        if (k < NSTATUS)
          OUT("retain_http_requests_total{route=\"%s\",status=\"%u\"} %llu\n", route_names[r],
              statuses[k], (unsigned long long)m.count[r][k]);
        else
          OUT("retain_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
              route_names[r], (unsigned long long)m.count[r][k]);
      }
  OUT("# HELP retain_http_request_duration_seconds Request latency.\n"
      "# TYPE retain_http_request_duration_seconds histogram\n");
  for (size_t r = 0; r < NROUTES; r++) {
    uint64_t total = 0;
    for (size_t b = 0; b <= NBUCKETS; b++)
      total += m.lat[r][b];
    if (!total)
      continue;
    uint64_t cum = 0;
    for (size_t b = 0; b < NBUCKETS; b++) {
      cum += m.lat[r][b];
      OUT("retain_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
          route_names[r], buckets_ms[b] / 1e3, (unsigned long long)cum);
    }
    OUT("retain_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
        "retain_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
        "retain_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
        route_names[r], (unsigned long long)total, route_names[r], m.lat_sum[r], route_names[r],
        (unsigned long long)total);
  }
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
#undef OUT
  if (n >= cap)
    n = cap - 1;
  rq->status = MHD_HTTP_OK;
  struct MHD_Response *r = MHD_create_response_from_buffer(n, out, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(out);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
  enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ok;
}

static void set_time(json_t *o, const char *k, int64_t ms) {
  char buf[48];
  if (ms <= 0) {
    json_object_set_new(o, k, json_null());
    return;
  }
  rt_time_format(NULL, ms, buf, sizeof buf);
  json_object_set_new(o, k, json_string(buf));
}

/* GET /v1/customers/{id}: {id} is the customer's own id, else retain's internal id */
static enum MHD_Result get_customer(rt_server *s, request *rq, struct MHD_Connection *c,
                                    const char *id) {
  rt_customer_view v;
  rt_error err = {0};
  pthread_mutex_lock(&s->keys_mu);
  int rc = rt_store_customer_get(s->keys_st, id, 0, &v, &err);
  if (rc == RT_ENOTFOUND && *id && strspn(id, "0123456789") == strlen(id) && strlen(id) < 19)
    rc = rt_store_customer_get(s->keys_st, NULL, strtoll(id, NULL, 10), &v, &err);
  pthread_mutex_unlock(&s->keys_mu);
  if (rc == RT_ENOTFOUND)
    return send_error(rq, c, MHD_HTTP_NOT_FOUND, "not_found", err.msg, NULL);
  if (rc)
    return send_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store", err.msg, NULL);
  json_t *o = json_object();
  json_object_set_new(o, "id", json_integer(v.id));
  json_object_set_new(o, "customer_id", json_string(v.ext_id));
  set_time(o, "created", v.created_ms);
  json_t *attrs = v.attrs ? json_loads(v.attrs, 0, NULL) : NULL;
  json_object_set_new(o, "attributes", attrs ? attrs : json_object());
  json_t *ids = json_array();
  for (size_t i = 0; i < v.nidentities; i++) {
    json_t *e = json_object();
    json_object_set_new(e, "kind", json_string(v.identities[i].kind ? v.identities[i].kind : ""));
    json_object_set_new(e, "value",
                        json_string(v.identities[i].value ? v.identities[i].value : ""));
    json_object_set_new(e, "reason", v.identities[i].reason
                                         ? json_string(v.identities[i].reason)
                                         : json_null());
    set_time(e, "linked", v.identities[i].linked_ms);
    json_array_append_new(ids, e);
  }
  json_object_set_new(o, "identities", ids);
  json_object_set_new(o, "orders", json_integer(v.orders));
  json_object_set_new(o, "refunds", json_integer(v.refunds));
  json_object_set_new(o, "events", json_integer(v.events));
  set_time(o, "first_order", v.first_order_ms);
  set_time(o, "last_order", v.last_order_ms);
  json_t *rev = json_object(), *minor = v.revenue ? json_loads(v.revenue, 0, NULL) : NULL;
  const char *cur;
  json_t *amt;
  json_object_foreach(minor, cur, amt) { /* minor units -> the currency's major unit */
    double d = json_number_value(amt) / pow(10, rt_currency_exponent(cur));
    json_object_set_new(rev, cur, json_real(d));
  }
  json_decref(minor);
  json_object_set_new(o, "revenue", rev);
  rt_customer_view_free(&v);
  return send_json(rq, c, MHD_HTTP_OK, o);
}

/* Whether the request's key may do `what` ("write": ingest; "read": the read API; admin keys
 * may do both) and is within its rate; if not, *denied is the 401, 403 or 429 answer. */
static int allowed(rt_server *s, request *rq, struct MHD_Connection *c, const char *what,
                   enum MHD_Result *denied) {
  if (s->cfg.no_auth)
    return 1;
  char scope[16] = "";
  int64_t key_id = 0;
  if (!authorize(s, c, scope, sizeof scope, &key_id)) {
    *denied = send_error(rq, c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                         "a valid API key is required (the key as the Basic auth user name, "
                         "or Authorization: Bearer KEY)",
                         NULL);
    return 0;
  }
  if (strcmp(scope, what) && strcmp(scope, "admin")) {
    *denied = send_error(rq, c, MHD_HTTP_FORBIDDEN, "forbidden",
                         !strcmp(what, "write") ? "this key cannot write events"
                                                : "this key cannot read (a write key can only "
                                                  "send events)",
                         NULL);
    return 0;
  }
  if (!admit(s, key_id)) {
    char msg[96];
    snprintf(msg, sizeof msg, "more than %g requests a second with this key; retry later",
             s->cfg.rate_limit);
    *denied = send_error(rq, c, 429, "rate_limited", msg, NULL);
    return 0;
  }
  return 1;
}

/* GET /v1/openapi.json: the OpenAPI 3 document of the routes, built from the same tables the
 * router uses (so it cannot list a route that does not exist). */
static json_t *response(const char *desc) {
  json_t *r = json_object();
  json_object_set_new(r, "description", json_string(desc));
  return r;
}

static json_t *error_responses(json_t *rs) {
  json_object_set_new(rs, "400", response("invalid request: {\"error\": {\"code\", \"message\", "
                                          "\"field\"}} with the JSON path of the fault"));
  json_object_set_new(rs, "401", response("no valid API key"));
  json_object_set_new(rs, "403", response("the key's scope does not allow it"));
  json_object_set_new(rs, "408", response("the body took longer than the request timeout"));
  json_object_set_new(rs, "413", response("body or batch too large"));
  json_object_set_new(rs, "429", response("over the key's rate limit"));
  return rs;
}

static const struct {
  const char *path;
  rt__ev_kind kind;
} routes[] = {{"/v1/identify", RT__EV_IDENTIFY}, {"/v1/track", RT__EV_TRACK},
              {"/v1/page", RT__EV_PAGE},         {"/v1/screen", RT__EV_SCREEN},
              {"/v1/group", RT__EV_GROUP},       {"/v1/alias", RT__EV_ALIAS},
              {"/v1/batch", RT__EV_BATCH},       {"/v1/import", RT__EV_BATCH}};

static json_t *openapi(void) {
  static const char *const about[] = {
      "identify: who the user is (traits become attributes; traits.email an identity)",
      "track: something the user did (\"Order Completed\" / \"Order Refunded\" become orders "
      "and refunds)",
      "page: a page view", "screen: a screen view", "group: the user's company or team",
      "alias: another id of the user", "batch: {\"batch\": [events with their type]}",
      "import: the same as batch"};
  json_t *doc = json_object(), *info = json_object(), *paths = json_object();
  json_object_set_new(doc, "openapi", json_string("3.0.3"));
  json_object_set_new(info, "title", json_string("retain"));
  json_object_set_new(info, "version", json_string("1"));
  json_object_set_new(info, "description",
                      json_string("Segment-spec event ingest and reads of the retain store. "
                                  "Write keys as the Basic auth user name or a Bearer token."));
  json_object_set_new(doc, "info", info);
  for (size_t k = 0; k < sizeof routes / sizeof routes[0]; k++) {
    json_t *op = json_object(), *body = json_object(), *content = json_object(),
           *media = json_object(), *schema = json_object();
    json_object_set_new(op, "summary", json_string(about[k]));
    json_object_set_new(schema, "type", json_string("object"));
    json_object_set_new(media, "schema", schema);
    json_object_set_new(content, "application/json", media);
    json_object_set_new(body, "required", json_true());
    json_object_set_new(body, "content", content);
    json_object_set_new(op, "requestBody", body);
    json_t *rs = error_responses(json_object());
    json_object_set_new(rs, "200", response("committed: {\"success\": true, \"events\": n}"));
    json_object_set_new(op, "responses", rs);
    json_t *item = json_object();
    json_object_set_new(item, "post", op);
    json_object_set_new(paths, routes[k].path, item);
  }
  { /* the customer */
    json_t *op = json_object(), *param = json_object(), *ps = json_array(),
           *schema = json_object();
    json_object_set_new(op, "summary",
                        json_string("one customer: profile, attributes, identities, counts, "
                                    "revenue (read or admin key)"));
    json_object_set_new(param, "name", json_string("id"));
    json_object_set_new(param, "in", json_string("path"));
    json_object_set_new(param, "required", json_true());
    json_object_set_new(schema, "type", json_string("string"));
    json_object_set_new(param, "schema", schema);
    json_array_append_new(ps, param);
    json_object_set_new(op, "parameters", ps);
    json_t *rs = error_responses(json_object());
    json_object_set_new(rs, "200", response("the customer"));
    json_object_set_new(rs, "404", response("no such customer"));
    json_object_set_new(op, "responses", rs);
    json_t *item = json_object();
    json_object_set_new(item, "get", op);
    json_object_set_new(paths, "/v1/customers/{id}", item);
  }
  static const char *const plain[][2] = {{"/healthz", "alive"},
                                         {"/readyz", "ready to take requests"},
                                         {"/metrics", "Prometheus metrics"},
                                         {"/v1/openapi.json", "this document"}};
  for (size_t k = 0; k < 4; k++) {
    json_t *op = json_object(), *rs = json_object(), *item = json_object();
    json_object_set_new(op, "summary", json_string(plain[k][1]));
    json_object_set_new(rs, "200", response(plain[k][1]));
    json_object_set_new(op, "responses", rs);
    json_object_set_new(item, "get", op);
    json_object_set_new(paths, plain[k][0], item);
  }
  json_object_set_new(doc, "paths", paths);
  return doc;
}

static enum MHD_Result ingest(rt_server *s, struct MHD_Connection *c, rt__ev_kind kind,
                              request *rq) {
  rt__events evs;
  char field[128];
  rt_error err = {0};
  int rc = rt__events_parse(rq->body ? rq->body : "", rq->len, kind, now_ms(),
                            s->cfg.max_batch, &evs, field, sizeof field, &err);
  if (rc == RT_ERANGE)
    return send_error(rq, c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", err.msg, field);
  if (rc == RT_ENOMEM)
    return send_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", err.msg, NULL);
  if (rc)
    return send_error(rq, c, MHD_HTTP_BAD_REQUEST, "invalid", err.msg, field);
  rt__job job = {.events = &evs};
  rt__writer_submit(&s->w, &job);
  size_t n = evs.n;
  rq->events = n;
  rt__events_free(&evs);
  if (job.rc == RT_EBUSY)
    return send_error(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", job.err.msg, NULL);
  if (job.rc)
    return send_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store", job.err.msg, NULL);
  json_t *o = json_object();
  json_object_set_new(o, "success", json_true());
  json_object_set_new(o, "events", json_integer((json_int_t)n));
  return send_json(rq, c, MHD_HTTP_OK, o);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls) {
  (void)version;
  rt_server *s = cls;
  request *rq = *con_cls;
  if (!rq) { /* first call: headers only */
    rq = calloc(1, sizeof *rq);
    if (!rq)
      return MHD_NO;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    rq->started = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    rq->route = (int)NROUTES - 1;
    for (size_t k = 0; k < NROUTES - 1; k++)
      if (!strcmp(url, route_names[k]))
        rq->route = (int)k;
    snprintf(rq->method, sizeof rq->method, "%s", method);
    *con_cls = rq;
    atomic_fetch_add(&s->in_flight, 1);
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
    if (rq->len + *upload_size > s->cfg.max_body) {
      rq->too_big = 1;
    } else if (!rq->too_big) {
      if (rq->len + *upload_size + 1 > rq->cap) {
        size_t cap = (rq->cap ? rq->cap * 2 : 4096) + *upload_size;
        char *b = realloc(rq->body, cap);
        if (!b)
          return MHD_NO;
        rq->body = b;
        rq->cap = cap;
      }
      memcpy(rq->body + rq->len, upload, *upload_size);
      rq->len += *upload_size;
      rq->body[rq->len] = 0;
    }
    *upload_size = 0;
    return MHD_YES;
  }
  atomic_fetch_add(&s->requests, 1);
  if (rq->timed_out) {
    char msg[96];
    snprintf(msg, sizeof msg, "the request took longer than %d s to arrive",
             s->cfg.request_timeout);
    return send_error(rq, c, MHD_HTTP_REQUEST_TIMEOUT, "timeout", msg, NULL);
  }
  int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
  if (!strcmp(url, "/v1/openapi.json")) {
    if (!get)
      return send_error(rq, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method", "use GET", NULL);
    return send_json(rq, c, MHD_HTTP_OK, openapi());
  }
  if (!strcmp(url, "/metrics")) {
    if (!get)
      return send_error(rq, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method", "use GET", NULL);
    return send_metrics(s, rq, c);
  }
  if (!strncmp(url, "/v1/customers/", 14) && url[14] && !strchr(url + 14, '/')) {
    rq->route = (int)NROUTES - 2;
    if (!get)
      return send_error(rq, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method", "use GET", NULL);
    enum MHD_Result denied;
    if (!allowed(s, rq, c, "read", &denied))
      return denied;
    return get_customer(s, rq, c, url + 14);
  }
  if (!strcmp(url, "/healthz") || !strcmp(url, "/readyz")) {
    if (!get)
      return send_error(rq, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method", "use GET", NULL);
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string("ok"));
    return send_json(rq, c, MHD_HTTP_OK, o);
  }
  for (size_t k = 0; k < sizeof routes / sizeof routes[0]; k++) {
    if (strcmp(url, routes[k].path))
      continue;
    if (!post)
      return send_error(rq, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method", "use POST", NULL);
    enum MHD_Result denied;
    if (!allowed(s, rq, c, "write", &denied))
      return denied;
    if (rq->too_big) {
      char msg[96];
      snprintf(msg, sizeof msg, "the body is larger than %zu bytes", s->cfg.max_body);
      return send_error(rq, c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", msg, NULL);
    }
    return ingest(s, c, routes[k].kind, rq);
  }
  return send_error(rq, c, MHD_HTTP_NOT_FOUND, "not_found", "no such route", NULL);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)c;
  rt_server *s = cls;
  request *rq = *con_cls;
  if (!rq)
    return;
  if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED && !rq->status)
    rq->status = MHD_HTTP_REQUEST_TIMEOUT; /* closed silent by libmicrohttpd; logged as 408 */
  if (rq->status)
    record(s, rq);
  free(rq->body);
  free(rq);
  *con_cls = NULL;
  atomic_fetch_sub(&s->in_flight, 1);
}

int rt_server_start(const rt_server_config *cfg, rt_server **out, rt_error *err) {
  *out = NULL;
  rt_server *s = rt_calloc(1, sizeof *s);
  if (!s)
    return rt_error_set(err, RT_ENOMEM, "server: %s", rt_strerror(RT_ENOMEM));
  s->cfg = *cfg;
  if (!s->cfg.host)
    s->cfg.host = "127.0.0.1";
  if (s->cfg.threads <= 0) /* handlers mostly wait for the writer's commit: more of them let */
    s->cfg.threads = 16;     /* more requests share one commit */
  if (!s->cfg.max_body)
    s->cfg.max_body = 1 << 20;
  if (!s->cfg.max_batch)
    s->cfg.max_batch = 2500;
  if (s->cfg.request_timeout <= 0)
    s->cfg.request_timeout = 30;
  pthread_mutex_init(&s->keys_mu, NULL);
  pthread_mutex_init(&s->m_mu, NULL);
  pthread_mutex_init(&s->rl_mu, NULL);
  rt_store_config sc = {cfg->db_path, 0}, rc_ = {cfg->db_path, 1};
  int rc = rt_store_open(&sc, &s->st, err);
  if (!rc)
    rc = rt_store_open(&rc_, &s->keys_st, err);
  if (!rc)
    rc = rt__writer_start(&s->w, s->st, err);
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
  s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                              MHD_USE_ERROR_LOG,
                          (uint16_t)s->cfg.port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
                          (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
                          (unsigned)s->cfg.threads, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
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
  rt__writer_stop(&s->w);
  rt_store_close(s->keys_st);
  rt_store_close(s->st);
  pthread_mutex_destroy(&s->keys_mu);
  pthread_mutex_destroy(&s->m_mu);
  pthread_mutex_destroy(&s->rl_mu);
  rt_free(s);
}

void rt_server_stats_get(rt_server *s, rt_server_stats *out) {
  pthread_mutex_lock(&s->w.mu);
  out->commits = s->w.commits;
  out->events = s->w.events;
  out->max_commit_batch = s->w.max_commit;
  pthread_mutex_unlock(&s->w.mu);
  out->requests = atomic_load(&s->requests);
}
