/* test_server.c - the server in-process (src/server/): an allocation that fails while a report
 * or a cohort table is being answered never yields a 200 with part of the document missing
 * (jansson drops what it cannot allocate silently; the server must notice and answer 500).
 * Every allocation of the request is made to fail in turn (rt_alloc_fail_nth), and each
 * answer must be a 500, a closed connection, or the whole document. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <retain/alloc.h>
#include <retain/server.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static char dir[] = "/tmp/retain-server-XXXXXX";
static char db[256];
static rt_server *srv;

/* GET path: the status (0: no answer) and the body (malloc'd) */
static int get(const char *path, char **body) {
  *body = NULL;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)rt_server_port(srv))};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
    close(fd);
    return 0;
  }
  char req[512];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                   path);
  if (write(fd, req, (size_t)n) != n) {
    close(fd);
    return 0;
  }
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  ssize_t k;
  while ((k = read(fd, buf + len, cap - len - 1)) > 0) {
    len += (size_t)k;
    if (len + 1 == cap)
      buf = realloc(buf, cap *= 2);
  }
  close(fd);
  buf[len] = 0;
  int status = 0;
  if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
    status = 0;
  char *b = strstr(buf, "\r\n\r\n");
  *body = strdup(b ? b + 4 : "");
  free(buf);
  return status;
}

static int setup(void **state) {
  (void)state;
  const char *bin = getenv("RT_BIN");
  if (!bin || !mkdtemp(dir))
    return -1;
  snprintf(db, sizeof db, "%s/s.db", dir);
  char csv[256], cmd[1024];
  snprintf(csv, sizeof csv, "%s/orders.csv", dir);
  FILE *f = fopen(csv, "w");
  fprintf(f, "order_id,customer_id,order_date,amount,currency\n");
  for (int i = 0; i < 600; i++)
    fprintf(f, "o%d,c%d,2024-%02d-%02d,%d.50,USD\n", i, i % 150, 1 + i % 12, 1 + i % 28, 5 + i % 40);
  fclose(f);
  snprintf(cmd, sizeof cmd, "'%s' --db '%s' --quiet import orders '%s' >/dev/null", bin, db, csv);
  if (system(cmd))
    return -1;
  rt_server_config cfg = {0};
  cfg.db_path = db;
  cfg.no_auth = 1;
  cfg.now_ms = 1735603200000LL; /* 2024-12-31 */
  rt_error err = {0};
  if (rt_server_start(&cfg, &srv, &err))
    return -1;
  for (int i = 0; i < 400; i++) { /* the model loads in the background */
    char *b;
    int st = get("/readyz", &b);
    free(b);
    if (st == 200)
      return 0;
    usleep(25000);
  }
  return -1;
}

static int teardown(void **state) {
  (void)state;
  rt_server_stop(srv);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd);
}

/* Fails the n-th allocation of one request (that one only), for n = 0, 1, ... until the
 * request has gone through whole several times in a row; a 200 must always be the complete
 * document. */
static void fail_each_allocation(const char *path, const char *key) {
  char *body;
  assert_int_equal(get(path, &body), 200);
  json_t *whole = json_loads(body, 0, NULL);
  free(body);
  assert_non_null(whole);
  size_t want = json_array_size(json_object_get(whole, key));
  assert_true(want > 0);
  int failures = 0, whole_in_a_row = 0;
  for (long n = 0; n < 20000 && whole_in_a_row < 5; n++) {
    rt_alloc_fail_nth(n);
    int st = get(path, &body);
    rt_alloc_fail_nth(-1);
    if (st == 200) {
      json_t *j = json_loads(body, 0, NULL);
      if (!j || !json_equal(j, whole))
        fail_msg("failing allocation %ld of %s: a 200 that is not the whole document: %.300s",
                 n, path, body);
      json_decref(j);
      whole_in_a_row++;
    } else {
      assert_true(st == 0 || st == 500 || st == 503);
      failures++;
      whole_in_a_row = 0;
    }
    free(body);
  }
  json_decref(whole);
  assert_true(failures > 5); /* the failures did reach the request */
  assert_int_equal(whole_in_a_row, 5);
}

static void test_metrics_oom(void **state) {
  (void)state;
  fail_each_allocation("/v1/metrics?period=month&from=2024-01", "periods");
}

static void test_cohorts_oom(void **state) {
  (void)state;
  fail_each_allocation("/v1/cohorts?period=month", "cohorts");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_metrics_oom),
      cmocka_unit_test(test_cohorts_oom),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
