/* commit_speed.c - how many small durable commits a second the store takes: the server's
 * writer under single-event requests (one customer lookup, one event, commit), without HTTP.
 * What it is for: the store's checks around each commit (the database and -wal files are
 * still the ones opened: four stat calls) must not cost ingest throughput; run it against two
 * builds of the library to compare.
 *
 *   cmake --build build --target bench && build/bench/commit_speed [db-path] [commits] [runs]
 *
 * Prints commits per second of each run (a fresh store each) and their median. */
#include <retain/store.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const rt_error *err) {
  fprintf(stderr, "commit_speed: %s: %s\n", what, err->msg);
  exit(1);
}

static void remove_store(const char *path) {
  char p[4200];
  unlink(path);
  snprintf(p, sizeof p, "%s-wal", path);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", path);
  unlink(p);
}

static double one_run(const char *path, int commits) {
  remove_store(path);
  rt_error err = {0};
  rt_store *st = NULL;
  rt_store_config cfg = {.path = path, .cache_kib = 8192}; /* as the server's writer */
  if (rt_store_open(&cfg, &st, &err))
    die("open", &err);
  double t0 = now_s();
  for (int i = 0; i < commits; i++) {
    char user[32], msg[32];
    snprintf(user, sizeof user, "u%d", i % 1000);
    snprintf(msg, sizeof msg, "m%d", i);
    int64_t id;
    int created, status;
    if (rt_store_begin(st, &err) ||
        rt_store_customer_upsert(st, user, strlen(user), 1000, &id, &created, &err))
      die("write", &err);
    rt_event_rec e = {id, "Tick", 1000 + i, "{\"via\":\"web\"}", msg, 0, 1};
    if (rt_store_event_put(st, &e, &status, &err) || rt_store_commit(st, &err))
      die("write", &err);
  }
  double el = now_s() - t0;
  rt_store_close(st);
  remove_store(path);
  return commits / el;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "/tmp/commit_speed.db";
  int commits = argc > 2 ? atoi(argv[2]) : 5000, runs = argc > 3 ? atoi(argv[3]) : 5;
  if (commits < 1 || runs < 1 || runs > 99) {
    fprintf(stderr, "usage: commit_speed [db-path] [commits] [runs (1-99)]\n");
    return 2;
  }
  double r[99];
  for (int k = 0; k < runs; k++) {
    r[k] = one_run(path, commits);
    printf("run %d: %.0f commits/s\n", k + 1, r[k]);
  }
  qsort(r, (size_t)runs, sizeof r[0], cmp);
  printf("median: %.0f commits/s (%d commits a run)\n", r[runs / 2], commits);
  return 0;
}
