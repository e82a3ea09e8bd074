/* cmd_serve.c - `retain serve`: runs the HTTP API (include/retain/server.h) until SIGTERM or
 * SIGINT, then stops gracefully: no new connections, the requests in flight answered (their
 * events committed), the store closed. */
#include "cli/cli.h"

#include <retain/datetime.h>
#include <retain/server.h>

#include <malloc.h>

#include <signal.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

static void help(void) {
  printf("Usage: retain [--db PATH] serve [--listen HOST:PORT] [options]\n\n"
         "Runs the HTTP API. Ingest, Segment-spec: POST /v1/identify, /v1/track, /v1/page,\n"
         "/v1/screen, /v1/group, /v1/alias, /v1/batch; a request is answered 200 only after\n"
         "its events are committed (concurrent requests share commits). Reads, which see\n"
         "every write acknowledged before them: GET /v1/customers/{id} (profile, features,\n"
         "segments) and its /timeline, /v1/customers?segment=, /v1/metrics, /v1/cohorts,\n"
         "/v1/export (CSV), /v1/segments (and POST, PUT, DELETE); POST\n"
         "/v1/customers/{id}/merge and /unmerge. /healthz, /readyz, /metrics (Prometheus),\n"
         "/v1/openapi.json (every route).\n"
         "Requests need an API key (`retain keys create --scope write|read|admin`): the key as\n"
         "the Basic auth user name, as Segment's SDKs send it, or Authorization: Bearer KEY.\n"
         "Write keys only ingest; reads need read or admin; segment changes and merges admin.\n"
         "The business time zone and currency of the reads are the store's (or the global\n"
         "--timezone and --currency); RETAIN_NOW fixes `now` for reproducible reads.\n"
         "SIGTERM or SIGINT stops it gracefully.\n\n"
         "Options:\n"
         "  --listen HOST:PORT  address to listen on (default 127.0.0.1:8080; port 0: any free\n"
         "                      port, printed at start)\n"
         "  --max-connections N clients at once, each with its own thread (default 1000;\n"
         "                      more are refused until one closes)\n"
         "  --max-body BYTES    largest request body (default 1048576; 413 beyond)\n"
         "  --max-batch N       most events in one /v1/batch (default 2500; 413 beyond)\n"
         "  --rate-limit N      requests a second per key, in bursts of up to 2N (default 20000;\n"
         "                      0: none); beyond it 429\n"
         "  --request-timeout S seconds a request may take to arrive (default 30): a body\n"
         "                      still arriving after that is answered 408; a connection\n"
         "                      silent for that long is closed\n"
         "  --header-timeout S  seconds a new connection may take to send its first\n"
         "                      request's headers (default 10; between requests a kept-\n"
         "                      alive connection has --request-timeout)\n"
         "  --max-per-ip N      connections at once from one address (default 100; 0: no\n"
         "                      limit, e.g. behind a proxy that limits them itself)\n"
         "  --max-exports N     CSV exports streaming at once (default 4; 503 beyond)\n"
         "  --max-body-memory B bytes of request bodies held at once, all connections\n"
         "                      (default 268435456; 503 beyond)\n"
         "  --cors-origin URL   a web origin (https://shop.example) whose pages may send\n"
         "                      events from browsers, the write key in the body as\n"
         "                      analytics.js sends it; repeat for more, * for any (default\n"
         "                      none)\n"
         "  --no-auth           accept requests without a key (local testing only)\n"
         "  --no-log            no request log (by default one JSON line per request on\n"
         "                      stderr: time, method, route, status, ms, events, bytes)\n"
         "  --config FILE       settings as key = value lines (or $RETAIN_CONFIG): listen,\n"
         "                      max_connections, max_body, max_batch, rate_limit,\n"
         "                      request_timeout, header_timeout, max_per_ip, max_exports,\n"
         "                      max_body_memory, cors_origins, log, auth; the environment\n"
         "                      (RETAIN_LISTEN, RETAIN_MAX_CONNECTIONS, ...) overrides the\n"
         "                      file and flags override both\n"
         "                      (docs/SERVER.md, example in docs/retain-serve.conf)\n");
}

/* The settings, in one table: each has a key in the config file, an environment variable and
 * a flag. Later sources win: defaults, the file (--config FILE or $RETAIN_CONFIG), the
 * environment, the flags. */
typedef enum { S_LISTEN, S_INT, S_BOOL, S_TEXT } setting_kind;
static const struct setting {
  const char *key, *env, *flag;
  setting_kind kind;
  int64_t lo, hi;
  const char *about;
} settings[] = {
    {"listen", "RETAIN_LISTEN", "--listen", S_LISTEN, 0, 0, "HOST:PORT (port 0: any free one)"},
    {"max_connections", "RETAIN_MAX_CONNECTIONS", "--max-connections", S_INT, 1, 100000,
     "clients at once"},
    {"max_body", "RETAIN_MAX_BODY", "--max-body", S_INT, 1024, 1 << 30, "bytes per request"},
    {"max_batch", "RETAIN_MAX_BATCH", "--max-batch", S_INT, 1, 1000000, "events per batch"},
    {"rate_limit", "RETAIN_RATE_LIMIT", "--rate-limit", S_INT, 0, 10000000,
     "requests a second per key"},
    {"request_timeout", "RETAIN_REQUEST_TIMEOUT", "--request-timeout", S_INT, 1, 3600,
     "seconds a request may take to arrive"},
    {"header_timeout", "RETAIN_HEADER_TIMEOUT", "--header-timeout", S_INT, 1, 3600,
     "seconds a request's headers may take"},
    {"max_per_ip", "RETAIN_MAX_PER_IP", "--max-per-ip", S_INT, 0, 100000,
     "connections at once from one address (0: no limit)"},
    {"max_exports", "RETAIN_MAX_EXPORTS", "--max-exports", S_INT, 1, 1000,
     "CSV exports at once"},
    {"max_body_memory", "RETAIN_MAX_BODY_MEMORY", "--max-body-memory", S_INT, 1 << 20,
     (int64_t)1 << 40, "bytes of request bodies held at once"},
    {"cors_origins", "RETAIN_CORS_ORIGINS", "--cors-origin", S_TEXT, 0, 0,
     "origins whose pages may send events from browsers"},
    {"log", "RETAIN_LOG", "--no-log", S_BOOL, 0, 0, "the request log"},
    {"auth", "RETAIN_AUTH", "--no-auth", S_BOOL, 0, 0, "API keys required"},
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

typedef struct serve_opts {
  rt_server_config cfg;
  char host[64];
  char cors[2048]; /* --cors-origin, each flag adding to the list */
} serve_opts;

/* sets setting k from text v; source names where it came from, for the error */
static int apply_setting(serve_opts *o, size_t k, const char *v, const char *source) {
  const struct setting *st = &settings[k];
  if (st->kind == S_LISTEN) {
    const char *colon = strrchr(v, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || colon == v || (size_t)(colon - v) >= sizeof o->host || *end || port < 0 ||
        port > 65535)
      return cli_usage_error("serve", "%s: listen wants HOST:PORT (127.0.0.1:8080), not '%s'",
                             source, v);
    snprintf(o->host, sizeof o->host, "%.*s", (int)(colon - v), v);
    o->cfg.host = o->host;
    o->cfg.port = (int)port;
    return 0;
  }
  if (st->kind == S_TEXT) { /* cors_origins: a flag adds, the file and environment set */
    size_t n = strlen(o->cors);
    int add = !strcmp(source, st->flag) && n;
    if ((add ? n + 1 : 0) + strlen(v) >= sizeof o->cors)
      return cli_usage_error("serve", "%s: too many origins", source);
    snprintf(o->cors + (add ? n : 0), sizeof o->cors - (add ? n : 0), "%s%s", add ? "," : "",
             v);
    o->cfg.cors_origins = o->cors;
    return 0;
  }
  if (st->kind == S_BOOL) {
    int on;
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on")) on = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off")) on = 0;
    else return cli_usage_error("serve", "%s: %s wants true or false, not '%s'", source, st->key, v);
    if (!strcmp(st->key, "log")) o->cfg.log = on;
    else o->cfg.no_auth = !on;
    return 0;
  }
  char *end;
  long long x = strtoll(v, &end, 10);
  if (end == v || *end || x < st->lo || x > st->hi)
    return cli_usage_error("serve", "%s: %s wants a whole number from %lld to %lld, not '%s'",
                           source, st->key, (long long)st->lo, (long long)st->hi, v);
  if (!strcmp(st->key, "max_connections")) o->cfg.max_connections = (int)x;
  else if (!strcmp(st->key, "max_body")) o->cfg.max_body = (size_t)x;
  else if (!strcmp(st->key, "max_batch")) o->cfg.max_batch = (size_t)x;
  else if (!strcmp(st->key, "request_timeout")) o->cfg.request_timeout = (int)x;
  else if (!strcmp(st->key, "header_timeout")) o->cfg.header_timeout = (int)x;
  else if (!strcmp(st->key, "max_per_ip")) o->cfg.max_per_ip = x ? (int)x : -1;
  else if (!strcmp(st->key, "max_exports")) o->cfg.max_exports = (int)x;
  else if (!strcmp(st->key, "max_body_memory")) o->cfg.max_body_memory = (size_t)x;
  else o->cfg.rate_limit = (double)x;
  return 0;
}

/* key = value lines, # comments */
static int read_config(serve_opts *o, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "retain: %s: cannot read the config file\n", path);
    return CLI_FAIL;
  }
  char line[1024], source[1100];
  int no = 0, rc = 0;
  while (!rc && fgets(line, sizeof line, f)) {
    no++;
    char *p = line, *hash = strchr(p, '#');
    if (hash) *hash = 0;
    p[strcspn(p, "\r\n")] = 0;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) continue;
    char *eq = strchr(p, '=');
    snprintf(source, sizeof source, "%s:%d", path, no);
    if (!eq) {
      rc = cli_usage_error("serve", "%s: want key = value", source);
      break;
    }
    char *k = p, *v = eq + 1, *ke = eq;
    while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t')) ke--;
    *ke = 0;
    while (*v == ' ' || *v == '\t') v++;
    for (char *e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t'); e--) e[-1] = 0;
    size_t i = 0;
    while (i < NSETTINGS && strcmp(settings[i].key, k)) i++;
    if (i == NSETTINGS) rc = cli_usage_error("serve", "%s: unknown setting '%s'", source, k);
    else rc = apply_setting(o, i, v, source);
  }
  fclose(f);
  return rc;
}

int cmd_serve(const cli_global *g, int argc, char **argv) {
  serve_opts o;
  memset(&o, 0, sizeof o);
  o.cfg.log = 1;
  o.cfg.rate_limit = 20000;
  o.cfg.request_timeout = 30;
  o.cfg.host = "127.0.0.1";
  o.cfg.port = 8080;
  /* the config file first (flags win over it, so it is found before they are applied) */
  const char *config = getenv("RETAIN_CONFIG");
  for (int i = 1; i < argc; i++) {
    const char *v;
    int r = cli_value(argc, argv, &i, "--config", &v);
    if (r < 0) return CLI_USAGE;
    if (r > 0) config = v;
  }
  int rc;
  if (config && *config && (rc = read_config(&o, config))) return rc;
  for (size_t k = 0; k < NSETTINGS; k++) {
    const char *v = getenv(settings[k].env);
    if (v && *v && (rc = apply_setting(&o, k, v, settings[k].env))) return rc;
  }
  for (int i = 1; i < argc; i++) {
    const char *v;
    int r;
    if (cli_is_help(argv[i])) {
      help();
      return CLI_OK;
    }
    if ((r = cli_value(argc, argv, &i, "--config", &v)) != 0) continue;
    if (cli_flag(argv, i, "--no-auth")) {
      o.cfg.no_auth = 1;
      continue;
    }
    if (cli_flag(argv, i, "--no-log")) {
      o.cfg.log = 0;
      continue;
    }
    size_t k = 0;
    for (; k < NSETTINGS; k++) {
      if (settings[k].kind == S_BOOL) continue;
      if ((r = cli_value(argc, argv, &i, settings[k].flag, &v)) != 0) break;
    }
    if (k == NSETTINGS) return cli_usage_error("serve", "unknown argument '%s'", argv[i]);
    if (r < 0 || (rc = apply_setting(&o, k, v, settings[k].flag))) return CLI_USAGE;
  }
  rt_server_config cfg = o.cfg;
  cfg.db_path = g->db;
  cfg.timezone = g->timezone; /* else the store's */
  cfg.currency = g->currency;
  const char *now = getenv("RETAIN_NOW"); /* the features' `now` (reproducible tests) */
  if (now && *now) {
    rt_error e = {0};
    if (rt_date_parse(NULL, now, strlen(now), NULL, &cfg.now_ms, &e))
      return cli_usage_error("serve", "RETAIN_NOW: %s", e.msg);
  }
  /* the signals are taken by sigwait below, on this thread: blocked before any thread starts */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  /* Request handling allocates and frees many small blocks (the JSON of every event) on many
   * threads: keep freed memory in the process instead of trimming it back to the kernel after
   * every large free, and keep request-sized blocks off mmap. */
  /* two descriptors a connection (its socket, and the guard's duplicate of it) and the
   * store's: the soft limit is often 1,024, the hard one much more */
  struct rlimit fds;
  if (!getrlimit(RLIMIT_NOFILE, &fds) && fds.rlim_cur < fds.rlim_max &&
      fds.rlim_cur < (rlim_t)(2 * (cfg.max_connections > 0 ? cfg.max_connections : 1000) + 256)) {
    fds.rlim_cur = fds.rlim_max;
    setrlimit(RLIMIT_NOFILE, &fds);
  }
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 64 << 20);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  rt_server *s = NULL;
  rt_error err = {0};
  if (rt_server_start(&cfg, &s, &err)) return cli_fail(&err);
  printf("retain: listening on http://%s:%d (store %s)\n", cfg.host, rt_server_port(s), g->db);
  fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  if (!g->quiet) fprintf(stderr, "retain: %s, stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  rt_server_stats st;
  rt_server_stats_get(s, &st);
  rt_server_stop(s);
  if (!g->quiet)
    fprintf(stderr, "retain: stopped after %llu requests, %llu events in %llu commits\n",
            (unsigned long long)st.requests, (unsigned long long)st.events,
            (unsigned long long)st.commits);
  return CLI_OK;
}
