/* cmd_serve.c - `retain serve`: runs the HTTP API (include/retain/server.h) until SIGTERM or
 * SIGINT, then stops gracefully: no new connections, the requests in flight answered (their
 * events committed), the store closed. */
#include "cli/cli.h"

#include <retain/server.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void help(void) {
  printf("Usage: retain [--db PATH] serve [--listen HOST:PORT] [options]\n\n"
         "Runs the HTTP API: Segment-spec ingest (POST /v1/identify, /v1/track, /v1/page,\n"
         "/v1/screen, /v1/group, /v1/alias, /v1/batch), /healthz, /readyz and /metrics\n"
         "(Prometheus). A request is\n"
         "answered 200 only after its events are committed; concurrent requests share commits.\n"
         "Requests need an API key (`retain keys create --scope write`): the write key as the\n"
         "Basic auth user name, as Segment's SDKs send it, or Authorization: Bearer KEY.\n"
         "SIGTERM or SIGINT stops it gracefully.\n\n"
         "Options:\n"
         "  --listen HOST:PORT  address to listen on (default 127.0.0.1:8080; port 0: any free\n"
         "                      port, printed at start)\n"
         "  --threads N         request threads (default 16: they mostly wait for the commit\n"
         "                      their events share with other requests)\n"
         "  --max-body BYTES    largest request body (default 1048576; 413 beyond)\n"
         "  --max-batch N       most events in one /v1/batch (default 2500; 413 beyond)\n"
         "  --rate-limit N      requests a second per key, in bursts of up to 2N (default 20000;\n"
         "                      0: none); beyond it 429\n"
         "  --no-auth           accept requests without a key (local testing only)\n"
         "  --no-log            no request log (by default one JSON line per request on\n"
         "                      stderr: time, method, route, status, ms, events, bytes)\n");
}

int cmd_serve(const cli_global *g, int argc, char **argv) {
  rt_server_config cfg = {0};
  cfg.log = 1;
  cfg.rate_limit = 20000;
  cfg.host = "127.0.0.1";
  cfg.port = 8080;
  char host[64];
  for (int i = 1; i < argc; i++) {
    const char *v;
    int r;
    int64_t x;
    if (cli_is_help(argv[i])) {
      help();
      return CLI_OK;
    }
    if (cli_flag(argv, i, "--no-auth")) {
      cfg.no_auth = 1;
    } else if (cli_flag(argv, i, "--no-log")) {
      cfg.log = 0;
    } else if ((r = cli_value(argc, argv, &i, "--listen", &v)) != 0) {
      if (r < 0) return CLI_USAGE;
      const char *colon = strrchr(v, ':');
      char *end;
      long port = colon ? strtol(colon + 1, &end, 10) : -1;
      if (!colon || colon == v || (size_t)(colon - v) >= sizeof host || *end || port < 0 ||
          port > 65535)
        return cli_usage_error("serve", "--listen wants HOST:PORT (127.0.0.1:8080), not '%s'", v);
      snprintf(host, sizeof host, "%.*s", (int)(colon - v), v);
      cfg.host = host;
      cfg.port = (int)port;
    } else if ((r = cli_value(argc, argv, &i, "--rate-limit", &v)) != 0) {
      if (r < 0 || cli_parse_int("serve", "--rate-limit", v, 0, 10000000, &x)) return CLI_USAGE;
      cfg.rate_limit = (double)x;
    } else if ((r = cli_value(argc, argv, &i, "--threads", &v)) != 0) {
      if (r < 0 || cli_parse_int("serve", "--threads", v, 1, 256, &x)) return CLI_USAGE;
      cfg.threads = (int)x;
    } else if ((r = cli_value(argc, argv, &i, "--max-body", &v)) != 0) {
      if (r < 0 || cli_parse_int("serve", "--max-body", v, 1024, 1 << 30, &x)) return CLI_USAGE;
      cfg.max_body = (size_t)x;
    } else if ((r = cli_value(argc, argv, &i, "--max-batch", &v)) != 0) {
      if (r < 0 || cli_parse_int("serve", "--max-batch", v, 1, 1000000, &x)) return CLI_USAGE;
      cfg.max_batch = (size_t)x;
    } else {
      return cli_usage_error("serve", "unknown argument '%s'", argv[i]);
    }
  }
  cfg.db_path = g->db;
  /* the signals are taken by sigwait below, on this thread: blocked before any thread starts */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
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
