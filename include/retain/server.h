/* server.h - `retain serve`: the HTTP API that accepts the events websites, apps and shops
 * send (the Segment spec: identify, track, page, screen, group, alias, batch) and stores them.
 *
 * Each connection has its own thread (libmicrohttpd), so a request waiting for its commit never
 * holds up another client's. Every write goes through one
 * writer thread that owns the store: it takes all the requests waiting, applies them in one
 * transaction and commits, and only then are those requests answered 200 (group commit: an
 * acknowledged event is on disk, and concurrent requests share the cost of a commit).
 * Reads see a view of the store (model, features, segment members) that a background thread
 * rebuilds after commits; a read waits until the view includes everything acknowledged before
 * it arrived. GET /metrics reports requests by route and status, latencies, commit sizes and
 * view rebuilds (Prometheus). The routes are in docs/SERVER.md and /v1/openapi.json. */
#ifndef RETAIN_SERVER_H
#define RETAIN_SERVER_H

#include <retain/error.h>

#include <stddef.h>
#include <stdint.h>

typedef struct rt_server_config {
  const char *db_path;  /* the store (created if missing) */
  const char *host;     /* listen address, default "127.0.0.1" */
  int port;             /* 0: any free port (rt_server_port tells which) */
  int max_connections;  /* connections at once, each with its own thread (a handler waits for
                           its commit); default 1000; more are refused */
  size_t max_body;      /* bytes per request, default 1 MiB (413 beyond) */
  size_t max_batch;     /* events per /v1/batch, default 2500 (413 beyond) */
  int no_auth;          /* 1: accept requests without a key (local testing only) */
  int log;              /* 1: one JSON line per request on stderr (no personal data) */
  double rate_limit;    /* requests per second per key (bursts of twice that); 0: none */
  int request_timeout;  /* seconds, default 30: a connection idle that long is closed, and a
                           body still arriving after that long is answered 408 */
  int header_timeout;   /* seconds, default 10: a new connection that has not sent its first
                           request's headers that long after it opened is closed, however
                           slowly it trickles them (slowloris); between requests a kept-alive
                           connection has request_timeout */
  int max_per_ip;       /* connections at once from one address, default 100; -1: no limit
                           (behind a proxy every client has the proxy's address) */
  int max_exports;      /* GET /v1/export streams at once, default 4 (503 beyond) */
  size_t max_body_memory; /* bytes of request bodies held at once over all connections,
                             default 256 MiB (503 beyond) */
  const char *cors_origins; /* origins whose web pages may send events from browsers
                               (comma-separated, "*": any); NULL: none (no CORS headers) */
  const char *timezone; /* business time zone of the reads; NULL: the store's setting, or UTC */
  const char *currency; /* currency of the reads; NULL: the store's setting, or the most used */
  int64_t now_ms;       /* 0: the clock; else the time `now` means for the features (tests) */
} rt_server_config;

typedef struct rt_server rt_server;

/* Opens the store, starts the writer and listens. On failure *out is NULL and err says why. */
int rt_server_start(const rt_server_config *cfg, rt_server **out, rt_error *err);
/* The port it listens on. */
int rt_server_port(const rt_server *s);
/* Graceful stop: stops accepting connections, lets the requests in flight finish (their events
 * committed), stops the writer and closes the store. s may be NULL. */
void rt_server_stop(rt_server *s);

/* Counters, for /metrics and tests. */
typedef struct rt_server_stats {
  uint64_t requests, events, commits, max_commit_batch;
  /* the views the reads see (model, features, segments), rebuilt after commits */
  uint64_t refreshes, segment_moves;
  uint64_t view_waits;  /* reads that waited for a newer view (a write came before them) */
  double refresh_seconds, last_refresh_seconds;
  size_t customers;     /* in the current view */
  int64_t data_version; /* the store's, in the current view */
} rt_server_stats;
void rt_server_stats_get(rt_server *s, rt_server_stats *out);

#endif
