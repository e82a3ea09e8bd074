/* serve_load.c - a load generator for `retain serve`: T threads, each on one keep-alive
 * connection, send R requests of B track events (B = 1: /v1/track, else /v1/batch) with unique
 * messageIds, and the program prints events per second and the latency percentiles.
 *
 *   build/retain keys create --scope write > key; build/retain serve --listen 127.0.0.1:8080 &
 *   build/bench/serve_load --port 8080 --key $(cat key) --threads 8 --requests 500 --batch 100
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port = 8080, nthreads = 4, nrequests = 200, batch = 100;
static const char *key = "";
static char auth[256];

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
  double *lat;
  int ok, failed;
} worker;

static int read_response(int fd, char *buf, size_t cap) {
  size_t len = 0;
  for (;;) {
    ssize_t r = read(fd, buf + len, cap - 1 - len);
    if (r <= 0) return -1;
    len += (size_t)r;
    buf[len] = 0;
    char *h = strstr(buf, "\r\n\r\n");
    if (!h) continue;
    char *cl = strstr(buf, "Content-Length:");
    size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
    if (len >= (size_t)(h + 4 - buf) + body) return atoi(buf + 9);
  }
}

static void *run(void *arg) {
  worker *w = arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
    perror("connect");
    return NULL;
  }
  size_t cap = (size_t)batch * 160 + 512;
  char *body = malloc(cap), *req = malloc(cap + 512), resp[4096];
  for (int r = 0; r < nrequests; r++) {
    size_t n = 0;
    if (batch > 1) n += (size_t)snprintf(body + n, cap - n, "{\"batch\":[");
    for (int e = 0; e < batch; e++)
      n += (size_t)snprintf(body + n, cap - n,
                            "%s{\"type\":\"track\",\"userId\":\"user%d\",\"event\":\"Viewed\","
                            "\"messageId\":\"%d-%d-%d-%ld-%d\",\"properties\":{\"page\":%d}}",
                            e ? "," : "", (w->id * 7919 + e) % 50000, w->id, r, e,
                            (long)time(NULL), (int)getpid(), e);
    if (batch > 1) n += (size_t)snprintf(body + n, cap - n, "]}");
    int m = snprintf(req, cap + 512,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     batch > 1 ? "/v1/batch" : "/v1/track", auth, n, body);
    double t0 = now_s();
    if (write(fd, req, (size_t)m) != m) break;
    int status = read_response(fd, resp, sizeof resp);
    w->lat[r] = now_s() - t0;
    if (status == 200) w->ok++;
    else w->failed++;
  }
  close(fd);
  free(body);
  free(req);
  return NULL;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--key")) key = argv[i + 1];
    else if (!strcmp(argv[i], "--threads")) nthreads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--requests")) nrequests = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
  }
  char user[200];
  snprintf(user, sizeof user, "%s:", key);
  base64(user, auth);
  worker *w = calloc((size_t)nthreads, sizeof *w);
  pthread_t *th = calloc((size_t)nthreads, sizeof *th);
  double t0 = now_s();
  for (int t = 0; t < nthreads; t++) {
    w[t].id = t;
    w[t].lat = calloc((size_t)nrequests, sizeof *w[t].lat);
    pthread_create(&th[t], NULL, run, &w[t]);
  }
  int ok = 0, failed = 0;
  for (int t = 0; t < nthreads; t++) pthread_join(th[t], NULL);
  double el = now_s() - t0;
  double *all = calloc((size_t)nthreads * (size_t)nrequests, sizeof *all);
  size_t k = 0;
  for (int t = 0; t < nthreads; t++) {
    ok += w[t].ok;
    failed += w[t].failed;
    for (int r = 0; r < w[t].ok + w[t].failed; r++) all[k++] = w[t].lat[r];
  }
  qsort(all, k, sizeof *all, cmp);
  printf("{\"threads\": %d, \"requests\": %d, \"failed\": %d, \"events_per_request\": %d, "
         "\"seconds\": %.3f, \"requests_per_s\": %.0f, \"events_per_s\": %.0f, "
         "\"p50_ms\": %.2f, \"p99_ms\": %.2f}\n",
         nthreads, ok, failed, batch, el, ok / el, (double)ok * batch / el,
         k ? all[k / 2] * 1e3 : 0, k ? all[(size_t)(k * 0.99)] * 1e3 : 0);
  return failed ? 1 : 0;
}
