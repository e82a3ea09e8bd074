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
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/http.h"

static const unsigned statuses[RT__NSTATUS] = {200, 201, 400, 401, 403, 404, 405,
                                               408, 409, 413, 429, 500, 503};
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
  enum MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

enum MHD_Result rt__send_json(rt__request *rq, struct MHD_Connection *c, unsigned status,
                              json_t *body) {
  /* 15 significant digits: amounts print as written (19.99, not 19.989999999999998) */
  char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
  json_decref(body);
  if (!s)
    return MHD_NO;
  return rt__send_text(rq, c, status, "application/json", s, strlen(s));
}

enum MHD_Result rt__send_error(rt__request *rq, struct MHD_Connection *c, unsigned status,
                               const char *code, const char *message, const char *field) {
  json_t *e = json_object();
  json_object_set_new(e, "code", json_string(code));
  json_object_set_new(e, "message", json_string(message));
  if (field && *field)
    json_object_set_new(e, "field", json_string(field));
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
    {"GET", "/healthz", NULL, get_health, 0, "alive", NULL, NULL, "{\"status\": \"ok\"}"},
    {"GET", "/readyz", NULL, get_ready, 0,
     "ready: the customer model is loaded (503 until it is)", NULL, NULL,
     "{\"status\": \"ok\"}"},
    {"GET", "/metrics", NULL, get_metrics_text, 0, "Prometheus metrics", NULL, NULL,
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
  if (s->cfg.log) {
    char when[48];
    rt_time_format(NULL, rt__now_ms(), when, sizeof when);
    fprintf(stderr,
            "{\"ts\":\"%s\",\"method\":\"%s\",\"route\":\"%s\",\"status\":%u,"
            "\"ms\":%.2f,\"events\":%zu,\"bytes\":%zu}\n",
            when, rq->method, rq->route < (int)NROUTES ? routes[rq->route].path : "other",
            rq->status, ms, rq->events, rq->len);
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
#undef LABELS
#undef OUT
  if (n >= cap)
    n = cap - 1;
  return rt__send_text(rq, c, MHD_HTTP_OK, "text/plain; version=0.0.4", out, n);
}

static enum MHD_Result get_health(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  (void)s;
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
  json_t *o = json_object();
  json_object_set_new(o, "status", json_string("ok"));
  json_object_set_new(o, "customers", json_integer((json_int_t)v->model->ncustomers));
  json_object_set_new(o, "data_version", json_integer(v->data_version));
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
  if (r->body)
    json_object_set_new(rs, "413", response("body or batch too large"));
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

static enum MHD_Result ingest(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  if (rq->too_big) {
    char msg[96];
    snprintf(msg, sizeof msg, "the body is larger than %zu bytes", s->cfg.max_body);
    return rt__send_error(rq, c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", msg, NULL);
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
  rt__job job = {.events = &evs};
  rt__writer_submit(&s->w, &job);
  size_t n = evs.n;
  rq->events = n;
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
                   enum MHD_Result *denied) {
  if (s->cfg.no_auth || !what)
    return 1;
  char scope[16] = "";
  int64_t key_id = 0;
  if (!authorize(s, c, scope, sizeof scope, &key_id)) {
    *denied = rt__send_error(rq, c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                             "a valid API key is required (the key as the Basic auth user "
                             "name, or Authorization: Bearer KEY)",
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
  return 1;
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
    rq->route = (int)NROUTES;
    for (size_t k = 0; k < NROUTES && rq->route == (int)NROUTES; k++)
      if (!strcmp(routes[k].method, method) && match(routes[k].path, url, rq))
        rq->route = (int)k; /* known now, so a timeout is counted under its route */
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
    return rt__send_error(rq, c, MHD_HTTP_REQUEST_TIMEOUT, "timeout", msg, NULL);
  }
  if (rq->route < (int)NROUTES) { /* found with the headers (method and path) */
    const route *r = &routes[rq->route];
    enum MHD_Result denied;
    if (!allowed(s, rq, c, r->scope, &denied))
      return denied;
    if (rq->too_big && r->fn != ingest) {
      char msg[96];
      snprintf(msg, sizeof msg, "the body is larger than %zu bytes", s->cfg.max_body);
      return rt__send_error(rq, c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", msg, NULL);
    }
    return r->fn(s, rq, c);
  }
  /* no route: a path with other methods is 405, naming them; else 404 */
  char msg[64] = "use";
  for (size_t k = 0; k < NROUTES; k++)
    if (match(routes[k].path, url, rq) && strlen(msg) + 8 < sizeof msg)
      snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " %s", routes[k].method);
  if (strcmp(msg, "use"))
    return rt__send_error(rq, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method", msg, NULL);
  return rt__send_error(rq, c, MHD_HTTP_NOT_FOUND, "not_found", "no such route", NULL);
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
  free(rq->body);
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
  s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                              MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG,
                          (uint16_t)s->cfg.port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
                          (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT,
                          (unsigned)s->cfg.max_connections, MHD_OPTION_NOTIFY_COMPLETED,
                          completed, s,
                          MHD_OPTION_CONNECTION_TIMEOUT,
                          (unsigned)s->cfg.request_timeout, MHD_OPTION_END);
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
