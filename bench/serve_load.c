/* serve_load.c - a load generator for `retain serve`: T threads, each on one keep-alive
 * connection, send R requests each and the program prints one JSON line: requests and events
 * per second and the latency percentiles (p50, p90, p99, max) of every request.
 *
 * Writes: R requests of B track events (B = 1: /v1/track, else /v1/batch) with unique
 * messageIds, for users user0..user49999.
 *   build/retain keys create --scope write > key; build/retain serve --listen 127.0.0.1:8080 &
 *   build/bench/serve_load --port 8080 --key $(cat key) --threads 8 --requests 500 --batch 100
 *
 * Closed loop (the default): each thread sends its next request when the last is answered,
 * which finds the maximum rate. Open loop, --rate N: N requests a second in all, spread evenly
 * over the threads on a fixed schedule; a request's latency counts from its scheduled send
 * time, not from when it was sent, so a slow answer that delays the next sends is charged to
 * those requests too (no "coordinated omission"). For "p99 at half the maximum rate" run
 * closed loop first, then --rate with half its requests_per_s.
 *   build/bench/serve_load --port 8080 --key $K --threads 16 --requests 500 --batch 1 --rate 2500
 *
 * Reads: --get-customers R sends R GET /v1/customers/{id} per thread (instead of --requests)
 * for ids drawn at random from PREFIX0..PREFIX(N-1) (--id-prefix PREFIX --id-count N) or from
 * the lines of --ids FILE, with a read key. An unknown id (404) counts as failed.
 *   build/bench/serve_load --port 8080 --key $READ --threads 8 --get-customers 2000 \
 *     --id-prefix user --id-count 50000
 *
 * --gzip LEVEL sends the bodies gzipped (Content-Encoding: gzip, zlib level LEVEL, as
 * RudderStack's SDK does), compressed before the clock starts so that only the server's cost
 * is measured.
 *
 * The exit status is 1 when any request failed (not answered 200).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static int port = 8080, nthreads = 4, nrequests = 200, batch = 100, get_customers = 0;
static int gzip_level = -1; /* --gzip LEVEL: bodies gzipped (made before the clock starts) */
static double rate = 0; /* requests a second in all; 0: closed loop */
static const char *key = "", *id_prefix = "user", *ids_path = NULL;
static long id_count = 0;
static char **ids; /* --ids FILE */
static char auth[256];
static double start; /* when the threads were started (monotonic seconds) */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t) {
  double d = t - now_s();
  if (d <= 0) return;
  struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
  nanosleep(&ts, NULL);
}

static void base64(const char *in, char *out) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n = strlen(in), o = 0;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned char)in[i] << 16;
    if (i + 1 < n) v |= (unsigned char)in[i + 1] << 8;
    if (i + 2 < n) v |= (unsigned char)in[i + 2];
    out[o++] = t[v >> 18 & 63];
    out[o++] = t[v >> 12 & 63];
    out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? t[v & 63] : '=';
  }
  out[o] = 0;
}

typedef struct worker {
  int id;
  double *lat; /* seconds, one per request sent */
  int n, ok, failed;
  uint64_t rng;
  char **pre;     /* --gzip: the requests, made before the clock starts */
  size_t *prelen;
} worker;

static int connect_to(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
    perror("connect");
    close(fd);
    return -1;
  }
  return fd;
}

/* reads one response (headers and a Content-Length body of any size); its status or -1 */
static int read_response(int fd, char *buf, size_t cap) {
  size_t len = 0;
  for (;;) {
    ssize_t r = read(fd, buf + len, cap - 1 - len);
    if (r <= 0) return -1;
    len += (size_t)r;
    buf[len] = 0;
    char *h = strstr(buf, "\r\n\r\n");
    if (!h) {
      if (len + 1 == cap) return -1; /* headers larger than the buffer */
      continue;
    }
    char *cl = strstr(buf, "Content-Length:");
    size_t want = (size_t)(h + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
    int status = atoi(buf + 9);
    while (len < want) { /* the rest of a long body: read and dropped */
      r = read(fd, buf, cap - 1 < want - len ? cap - 1 : want - len);
      if (r <= 0) return -1;
      len += (size_t)r;
    }
    return status;
  }
}

/* the request r of worker w into req; its length */
static size_t build(worker *w, int r, char *body, size_t cap, char *req, size_t rcap) {
  if (get_customers) {
    w->rng ^= w->rng << 13, w->rng ^= w->rng >> 7, w->rng ^= w->rng << 17;
    char id[160];
    if (ids) snprintf(id, sizeof id, "%s", ids[w->rng % (uint64_t)id_count]);
    else snprintf(id, sizeof id, "%s%llu", id_prefix,
                  (unsigned long long)(w->rng % (uint64_t)id_count));
    return (size_t)snprintf(req, rcap,
                            "GET /v1/customers/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            "Authorization: Basic %s\r\n\r\n",
                            id, auth);
  }
  size_t n = 0;
  if (batch > 1) n += (size_t)snprintf(body + n, cap - n, "{\"batch\":[");
  for (int e = 0; e < batch; e++)
    n += (size_t)snprintf(body + n, cap - n,
                          "%s{\"type\":\"track\",\"userId\":\"user%d\",\"event\":\"Viewed\","
                          "\"messageId\":\"%d-%d-%d-%ld-%d\",\"properties\":{\"page\":%d}}",
                          e ? "," : "", (w->id * 7919 + r * batch + e) % 50000, w->id, r, e,
                          (long)time(NULL), (int)getpid(), e);
  if (batch > 1) n += (size_t)snprintf(body + n, cap - n, "]}");
  if (gzip_level >= 0) { /* as RudderStack's SDK sends: gzip, Content-Encoding: gzip */
    z_stream z = {0};
    unsigned char *zb = malloc(n + 1024);
    deflateInit2(&z, gzip_level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (unsigned char *)body;
    z.avail_in = (uInt)n;
    z.next_out = zb;
    z.avail_out = (uInt)(n + 1024);
    deflate(&z, Z_FINISH);
    size_t zn = z.total_out;
    deflateEnd(&z);
    size_t h = (size_t)snprintf(req, rcap,
                                "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic %s\r\n"
                                "Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
                                "Content-Length: %zu\r\n\r\n",
                                batch > 1 ? "/v1/batch" : "/v1/track", auth, zn);
    memcpy(req + h, zb, zn);
    free(zb);
    return h + zn;
  }
  return (size_t)snprintf(req, rcap,
                          "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic %s\r\n"
                          "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                          batch > 1 ? "/v1/batch" : "/v1/track", auth, n, body);
}

static void *run(void *arg) {
  worker *w = arg;
  int fd = connect_to();
  if (fd < 0) return NULL;
  size_t cap = (size_t)batch * 160 + 512;
  char *body = malloc(cap), *req = malloc(cap + 1024), resp[65536];
  /* open loop: this thread's share of the rate, its first send staggered among the threads */
  double every = rate > 0 ? nthreads / rate : 0, first = start + every * w->id / nthreads;
  for (int r = 0; r < nrequests; r++) {
    size_t m = w->pre ? w->prelen[r] : build(w, r, body, cap, req, cap + 1024);
    if (w->pre)
      memcpy(req, w->pre[r], m);
    double t0 = now_s();
    if (every > 0) {
      double due = first + r * every;
      sleep_until(due);
      t0 = due; /* late sends are charged to the request */
    }
    int status = -1;
    if (fd >= 0 && write(fd, req, m) == (ssize_t)m) status = read_response(fd, resp, sizeof resp);
    w->lat[w->n++] = now_s() - t0;
    if (status == 200) w->ok++;
    else w->failed++;
    if (status < 0) { /* the connection broke: a new one for the next request */
      if (fd >= 0) close(fd);
      fd = connect_to();
    }
  }
  if (fd >= 0) close(fd);
  free(body);
  free(req);
  return NULL;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* the lines of path as ids */
static int read_ids(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[256];
  size_t cap = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = 0;
    if (!line[0]) continue;
    if ((size_t)id_count == cap) {
      cap = cap ? 2 * cap : 1024;
      ids = realloc(ids, cap * sizeof *ids);
    }
    ids[id_count++] = strdup(line);
  }
  fclose(f);
  return 0;
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--key")) key = argv[i + 1];
    else if (!strcmp(argv[i], "--threads")) nthreads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--requests")) nrequests = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--rate")) rate = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--get-customers")) get_customers = 1, nrequests = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--id-prefix")) id_prefix = argv[i + 1];
    else if (!strcmp(argv[i], "--id-count")) id_count = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--ids")) ids_path = argv[i + 1];
    else if (!strcmp(argv[i], "--gzip")) gzip_level = atoi(argv[i + 1]);
    else {
      fprintf(stderr, "serve_load: unknown option '%s' (see the top of bench/serve_load.c)\n",
              argv[i]);
      return 2;
    }
  }
  if (ids_path && read_ids(ids_path)) {
    fprintf(stderr, "serve_load: cannot read %s\n", ids_path);
    return 2;
  }
  if (get_customers && id_count <= 0) {
    fprintf(stderr, "serve_load: --get-customers needs --id-count N or --ids FILE\n");
    return 2;
  }
  if (nthreads < 1 || nrequests < 1 || batch < 1) {
    fprintf(stderr, "serve_load: --threads, --requests and --batch must be at least 1\n");
    return 2;
  }
  char user[200];
  snprintf(user, sizeof user, "%s:", key);
  base64(user, auth);
  worker *w = calloc((size_t)nthreads, sizeof *w);
  pthread_t *th = calloc((size_t)nthreads, sizeof *th);
  for (int t = 0; t < nthreads; t++) {
    w[t].id = t;
    w[t].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(t + 1) ^ (uint64_t)getpid();
    w[t].lat = calloc((size_t)nrequests, sizeof *w[t].lat);
  }
  if (gzip_level >= 0 && !get_customers) /* compressed before the clock: the server's cost only */
    for (int t = 0; t < nthreads; t++) {
      size_t cap = (size_t)batch * 160 + 512;
      char *body = malloc(cap);
      w[t].pre = calloc((unsigned)nrequests, sizeof *w[t].pre);
      w[t].prelen = calloc((unsigned)nrequests, sizeof *w[t].prelen);
      for (int r = 0; r < nrequests; r++) {
        w[t].pre[r] = malloc(cap + 1024);
        w[t].prelen[r] = build(&w[t], r, body, cap, w[t].pre[r], cap + 1024);
      }
      free(body);
    }
  start = now_s() + 0.01;
  for (int t = 0; t < nthreads; t++)
    pthread_create(&th[t], NULL, run, &w[t]);
  int ok = 0, failed = 0;
  for (int t = 0; t < nthreads; t++) pthread_join(th[t], NULL);
  double el = now_s() - start;
  double *all = calloc((size_t)nthreads * (size_t)nrequests, sizeof *all);
  size_t k = 0;
  for (int t = 0; t < nthreads; t++) {
    ok += w[t].ok;
    failed += w[t].failed;
    for (int r = 0; r < w[t].n; r++) all[k++] = w[t].lat[r];
  }
  qsort(all, k, sizeof *all, cmp);
#define PCT(p) (k ? all[(size_t)((double)(k - 1) * (p))] * 1e3 : 0)
  int events = get_customers ? 0 : batch;
  printf("{\"mode\": \"%s\", \"threads\": %d, \"requests\": %d, \"failed\": %d, "
         "\"events_per_request\": %d, \"target_rate\": %.0f, \"seconds\": %.3f, "
         "\"requests_per_s\": %.0f, \"events_per_s\": %.0f, \"p50_ms\": %.2f, "
         "\"p90_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f}\n",
         get_customers ? "get-customers" : batch > 1 ? "batch" : "track", nthreads, ok, failed,
         events, rate, el, ok / el, (double)ok * events / el, PCT(0.5), PCT(0.9), PCT(0.99),
         PCT(1.0));
  return failed ? 1 : 0;
}
