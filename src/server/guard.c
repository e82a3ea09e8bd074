/* guard.c - the connection guard of `retain serve` (http.h): every open connection with the
 * phase it is in, and a thread that closes the ones a slow or hostile client holds.
 *
 * libmicrohttpd's own timeout is an idle timeout: a client sending one byte every few seconds
 * (slowloris) keeps a connection, and its thread, forever, and a thousand of them lock every
 * other client out. The guard gives each phase a deadline instead - the first request's
 * headers within header_timeout of the connection opening, a later request's within
 * idle_timeout of the previous answer (a client keeping its connection alive between batches
 * must not find it closed under its next request too soon), a body within twice the request
 * timeout - and keeps a reserve: when
 * fewer than `reserve` slots are free, connections still waiting for their headers or body for
 * more than a second are closed, oldest first, so a new client always finds a slot. A
 * connection being answered (waiting for its commit, or streaming its answer) is never closed.
 *
 * The guard closes a connection with shutdown(2) on its own duplicate of the socket: the
 * connection's thread then sees end-of-file and libmicrohttpd closes it as usual. The
 * duplicate is closed only when libmicrohttpd reports the connection closed, so the number can
 * never name another connection's socket. */
#include <retain/alloc.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/http.h"

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rt__guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe) {
  rt__guard *g = cls;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    rt__conn *e = rt_calloc(1, sizeof *e);
    if (!e)
      return; /* not guarded: only its idle timeout applies */
    e->fd = ci ? fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
    atomic_store(&e->phase, RT__CONN_HEADERS);
    atomic_store(&e->since_ms, mono_ms());
    pthread_mutex_lock(&g->mu);
    e->next = g->head;
    if (g->head)
      g->head->prev = e;
    g->head = e;
    g->n++;
    pthread_mutex_unlock(&g->mu);
    *socket_context = e;
  } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
    rt__conn *e = *socket_context;
    pthread_mutex_lock(&g->mu);
    if (e->prev)
      e->prev->next = e->next;
    else
      g->head = e->next;
    if (e->next)
      e->next->prev = e->prev;
    g->n--;
    pthread_mutex_unlock(&g->mu);
    if (e->fd >= 0)
      close(e->fd);
    rt_free(e);
    *socket_context = NULL;
  }
}

rt__conn *rt__guard_conn(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

void rt__guard_phase(rt__conn *e, int phase) {
  if (!e)
    return;
  atomic_store(&e->since_ms, mono_ms());
  atomic_store(&e->phase, phase);
}

static void cut(rt__guard *g, rt__conn *e, atomic_ullong *counter) {
  if (e->cut || e->fd < 0)
    return;
  e->cut = 1;
  shutdown(e->fd, SHUT_RDWR);
  atomic_fetch_add(counter, 1);
}

/* One look at every connection (g->mu held). */
static void sweep(rt__guard *g) {
  int64_t now = mono_ms();
  size_t open = 0;
  for (rt__conn *e = g->head; e; e = e->next) {
    int phase = atomic_load(&e->phase);
    int64_t age = now - atomic_load(&e->since_ms);
    if ((phase == RT__CONN_HEADERS && age > (int64_t)g->header_timeout * 1000) ||
        (phase == RT__CONN_IDLE && age > (int64_t)g->idle_timeout * 1000))
      cut(g, e, &g->cut_headers);
    else if (phase == RT__CONN_BODY && age > (int64_t)g->body_timeout * 1000)
      cut(g, e, &g->cut_body);
    if (!e->cut)
      open++;
  }
  /* the reserve: free slots for new clients, taken from the slowest waiting ones */
  size_t limit = g->max_conn > g->reserve ? g->max_conn - g->reserve : 0;
  while (open > limit) {
    rt__conn *oldest = NULL;
    int64_t oldest_ms = now - 1000;
    for (rt__conn *e = g->head; e; e = e->next) {
      int phase = atomic_load(&e->phase);
      int64_t since = atomic_load(&e->since_ms);
      if (!e->cut && e->fd >= 0 && phase != RT__CONN_BUSY && since <= oldest_ms) {
        oldest = e;
        oldest_ms = since;
      }
    }
    if (!oldest)
      break;
    cut(g, oldest, &g->cut_reserve);
    open--;
  }
}

static void *run(void *arg) {
  rt__guard *g = arg;
  pthread_mutex_lock(&g->mu);
  while (!g->stopping) {
    sweep(g);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 200 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&g->wake, &g->mu, &ts);
  }
  pthread_mutex_unlock(&g->mu);
  return NULL;
}

int rt__guard_start(rt__guard *g, int header_timeout, int idle_timeout, int body_timeout,
                    size_t max_conn, size_t reserve) {
  g->header_timeout = header_timeout;
  g->idle_timeout = idle_timeout;
  g->body_timeout = body_timeout;
  g->max_conn = max_conn;
  g->reserve = reserve;
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->wake, NULL);
  g->inited = 1;
  if (pthread_create(&g->thread, NULL, run, g))
    return RT_EIO;
  g->started = 1;
  return 0;
}

void rt__guard_stop(rt__guard *g) {
  if (!g->inited)
    return;
  if (g->started) {
    pthread_mutex_lock(&g->mu);
    g->stopping = 1;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
  }
  /* the daemon is stopped: every connection has been reported closed */
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->wake);
  g->inited = 0;
}
