/* http.h - the parts of `retain serve` its source files share: the server's state, one
 * request's state, the answers (JSON, errors, text) and the handlers of the read API.
 * Library-internal. */
#ifndef RETAIN_SERVER_HTTP_H
#define RETAIN_SERVER_HTTP_H

#include <retain/server.h>
#include <retain/store.h>

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "server/ingest.h"
#include "server/live.h"

#define RT__MAX_ROUTES 40
#define RT__NSTATUS 15
#define RT__NBUCKETS 12

typedef struct rt__metrics {
  uint64_t count[RT__MAX_ROUTES + 1][RT__NSTATUS + 1]; /* [.][NSTATUS]: any other status */
  uint64_t lat[RT__MAX_ROUTES + 1][RT__NBUCKETS + 1];  /* [.][NBUCKETS]: +Inf */
  double lat_sum[RT__MAX_ROUTES + 1];
} rt__metrics;

/* Per-key token buckets (rate limit): a small open-addressing table by key id. */
#define RT__RL_BUCKETS 1024
#define RT__READERS 4
typedef struct rt__bucket {
  int64_t key; /* 0: empty */
  double tokens, last;
} rt__bucket;

/* ---- the connection guard (guard.c) ---- */
/* waiting for the first request's headers, for a later one's (kept alive), receiving a body,
 * being answered */
enum { RT__CONN_HEADERS, RT__CONN_IDLE, RT__CONN_BODY, RT__CONN_BUSY };
typedef struct rt__conn {
  int fd;                /* our duplicate of the socket, for shutdown; -1: none */
  atomic_int phase;      /* RT__CONN_*: waiting for headers, receiving a body, being answered */
  atomic_llong since_ms; /* monotonic ms the phase began */
  int cut;               /* shut down by the guard (g->mu) */
  atomic_int nul;        /* the request being read has %00 in its path or query */
  struct rt__conn *prev, *next;
} rt__conn;

typedef struct rt__guard {
  pthread_mutex_t mu;
  pthread_cond_t wake;
  rt__conn *head;
  size_t n, max_conn, reserve;
  int header_timeout, idle_timeout, body_timeout; /* seconds */
  pthread_t thread;
  int inited, started, stopping;
  atomic_ullong cut_headers, cut_body, cut_reserve; /* connections closed, by reason */
} rt__guard;

/* MHD_OPTION_NOTIFY_CONNECTION's callback (cls: the guard). */
void rt__guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe);
/* The guard's record of c (NULL when it has none), and a new phase for it. */
rt__conn *rt__guard_conn(struct MHD_Connection *c);
void rt__guard_phase(rt__conn *e, int phase);
int rt__guard_start(rt__guard *g, int header_timeout, int idle_timeout, int body_timeout,
                    size_t max_conn, size_t reserve);
void rt__guard_stop(rt__guard *g);

struct rt_server {
  rt_server_config cfg;
  struct MHD_Daemon *d;
  rt_store *st;      /* the writer's */
  /* read-only connections for key checks and customer reads, one request at a time each */
  struct {
    pthread_mutex_t mu;
    rt_store *st;
  } readers[RT__READERS];
  atomic_uint next_reader;
  rt__writer w;
  rt__live live;
  atomic_int in_flight;
  atomic_ullong requests;
  int port;
  rt__metrics m;
  pthread_mutex_t m_mu; /* guards m */
  pthread_mutex_t rl_mu;
  rt__bucket rl[RT__RL_BUCKETS];
  rt__guard guard;
  atomic_size_t body_bytes;     /* request bodies held in memory, all connections */
  atomic_int exports;           /* GET /v1/export streams open */
  atomic_ullong clamped;        /* events whose time was too far ahead: set to their receipt */
  atomic_ullong refused_memory; /* requests refused because bodies held too much memory */
};

#define RT__MAX_PARAMS 2

typedef struct rt__request {
  char *body;     /* mapped (body_alloc in server.c): cap bytes, counted in body_bytes */
  size_t len, cap;
  int answered;   /* an answer was queued before the body (it is not read) */
  rt__conn *conn; /* the guard's record of the connection */
  const rt_server *srv;
  size_t reserved; /* bytes of s->body_bytes this request holds */
  size_t expect;   /* its Content-Length, 0 if none */
  int encoding;    /* Content-Encoding: 0 identity, 1 gzip, 2 deflate (inflated before use) */
  const char *origin; /* the request's Origin when CORS allows it (its header), else NULL */
  int key_in_body;    /* the write key is the body's writeKey (a browser's), checked after */
  size_t received; /* bytes of the body so far (len stops at the limit) */
  int too_big;
  int timed_out;   /* the body took longer than the request timeout */
  int route;      /* index into the route table; RT__MAX_ROUTES: none */
  unsigned status;
  double started; /* monotonic seconds */
  size_t events;
  char method[8];
  int64_t key_id; /* the API key that was allowed (0: none needed, or --no-auth) */
  const char *param[RT__MAX_PARAMS]; /* the path's {parameters}, pointing into pbuf */
  char pbuf[512];
} rt__request;

int64_t rt__now_ms(void);
/* Answers body (consumed) with status. */
enum MHD_Result rt__send_json(rt__request *rq, struct MHD_Connection *c, unsigned status,
                              json_t *body);
/* {"error": {"code": ..., "message": ..., "field": ...}} */
enum MHD_Result rt__send_error(rt__request *rq, struct MHD_Connection *c, unsigned status,
                               const char *code, const char *message, const char *field);
/* Answers text of n bytes (taken over: freed with free) with a content type. */
enum MHD_Result rt__send_text(rt__request *rq, struct MHD_Connection *c, unsigned status,
                              const char *type, char *text, size_t n);
/* Access-Control-Allow-Origin (and Vary) on r when the request's origin is allowed. */
void rt__cors_headers(const rt__request *rq, struct MHD_Response *r);
/* An ISO 8601 time (UTC) or null for ms <= 0. */
void rt__set_time(json_t *o, const char *k, int64_t ms);
/* A read connection of the pool, for one request's reads (*slot: what to give back). */
rt_store *rt__reader_take(rt_server *s, int *slot);
void rt__reader_give(rt_server *s, int slot);
/* The customer {id} names: its own id, else retain's id (a merged-away customer itself). */
int rt__customer_view(rt_store *st, const char *id, rt_customer_view *v, rt_error *err);
/* The query parameter, or NULL. */
const char *rt__query(struct MHD_Connection *c, const char *name);

/* ---- the read API (reads.c) ---- */
typedef enum MHD_Result (*rt__handler)(rt_server *s, rt__request *rq, struct MHD_Connection *c);
enum MHD_Result rt__get_customer(rt_server *s, rt__request *rq, struct MHD_Connection *c);
enum MHD_Result rt__get_timeline(rt_server *s, rt__request *rq, struct MHD_Connection *c);
enum MHD_Result rt__merge_customer(rt_server *s, rt__request *rq, struct MHD_Connection *c);
enum MHD_Result rt__unmerge_customer(rt_server *s, rt__request *rq, struct MHD_Connection *c);
enum MHD_Result rt__get_customers(rt_server *s, rt__request *rq, struct MHD_Connection *c);
enum MHD_Result rt__get_metrics(rt_server *s, rt__request *rq, struct MHD_Connection *c);
enum MHD_Result rt__get_cohorts(rt_server *s, rt__request *rq, struct MHD_Connection *c);
enum MHD_Result rt__get_export(rt_server *s, rt__request *rq, struct MHD_Connection *c);
enum MHD_Result rt__list_segments(rt_server *s, rt__request *rq, struct MHD_Connection *c);
enum MHD_Result rt__get_segment(rt_server *s, rt__request *rq, struct MHD_Connection *c);
enum MHD_Result rt__get_segment_members(rt_server *s, rt__request *rq,
                                        struct MHD_Connection *c);
enum MHD_Result rt__create_segment(rt_server *s, rt__request *rq, struct MHD_Connection *c);
enum MHD_Result rt__update_segment(rt_server *s, rt__request *rq, struct MHD_Connection *c);
enum MHD_Result rt__delete_segment(rt_server *s, rt__request *rq, struct MHD_Connection *c);
/* privacy.c: one customer's erasure and access export (docs/PRIVACY.md) */
enum MHD_Result rt__erase_customer(rt_server *s, rt__request *rq, struct MHD_Connection *c);
enum MHD_Result rt__export_customer(rt_server *s, rt__request *rq, struct MHD_Connection *c);

#endif
