/* parallel.c - rt__parallel: run a function over a few parts of a job, one thread per part. */
#include "internal.h"

#include <pthread.h>
#include <unistd.h>

typedef struct part_thread {
  void (*fn)(void *);
  void *arg;
} part_thread;

static void *part_main(void *p) {
  part_thread *t = p;
  t->fn(t->arg);
  return NULL;
}

int rt__cpus(void) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus < 1)
    cpus = 1;
  return cpus > RT__MAX_THREADS ? RT__MAX_THREADS : (int)cpus;
}

void rt__parallel(int n, void (*fn)(void *), void *args, size_t stride) {
  pthread_t th[RT__MAX_THREADS];
  part_thread pt[RT__MAX_THREADS];
  int started[RT__MAX_THREADS] = {0};
  char *base = args;
  if (n > RT__MAX_THREADS)
    n = RT__MAX_THREADS;
  for (int i = 1; i < n; i++) {
    pt[i].fn = fn;
    pt[i].arg = base + (size_t)i * stride;
    started[i] = pthread_create(&th[i], NULL, part_main, &pt[i]) == 0;
  }
  fn(base);
  for (int i = 1; i < n; i++) {
    if (started[i])
      pthread_join(th[i], NULL);
    else
      fn(base + (size_t)i * stride);
  }
}
