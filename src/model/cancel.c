/* cancel.c - orders paid back in full are not purchases (model.h, "Purchases and
 * cancellations"). After the build has grouped a model's orders and refunds by customer, this
 * matches each refund against the customer's orders and moves the orders it cancels to the
 * cancel_* columns. A refund cancels an order when it names that order (by its time) and covers
 * its amount, or, naming none (or naming one the customer does not have on or before the
 * refund's day), when it equals the amount of one of the customer's orders on or before the
 * refund's day: the latest such order not cancelled yet. Refunds are taken in time order, and
 * only orders up to a refund's day are looked at, so the outcome for the refunds up to a day
 * does not depend on anything later: judging a model as of an earlier day (asof.c) gives what
 * matching only the rows up to that day would. */
#include "internal.h"

#include <retain/alloc.h>
#include <retain/model.h>
#include <stdlib.h>
#include <string.h>

typedef struct cancelled {
  uint32_t order; /* index into the order columns */
  int32_t at;     /* the cancelling refund's day */
} cancelled;

static int by_order(const void *a, const void *b) {
  uint32_t x = ((const cancelled *)a)->order, y = ((const cancelled *)b)->order;
  return x < y ? -1 : x > y;
}

static int taken(const cancelled *c, size_t n, uint32_t k) {
  for (size_t i = 0; i < n; i++)
    if (c[i].order == k)
      return 1;
  return 0;
}

/* The order of o0..o1 that refund j cancels, or UINT32_MAX. `mine` holds the customer's
 * cancellations so far. */
static uint32_t pick(const rt_model *m, uint32_t o0, uint32_t o1, uint32_t j, int64_t named,
                     const cancelled *mine, size_t nmine) {
  const int64_t want = m->refund_amount[j];
  const int32_t day = m->refund_day[j];
  if (named) {
    for (uint32_t k = o1; k-- > o0;) {
      if (m->order_ms[k] != named || m->order_day[k] > day || taken(mine, nmine, k))
        continue;
      return m->order_amount[k] <= want ? k : UINT32_MAX - 1; /* a part of it: partial */
    }
  }
  for (uint32_t k = o1; k-- > o0;)
    if (m->order_day[k] <= day && m->order_amount[k] == want && !taken(mine, nmine, k))
      return k;
  return UINT32_MAX;
}

int rt__model_cancel(rt_model *m, const int64_t *link) {
  if (!m->nrefunds || !m->norders)
    return 0;
  cancelled *cv = NULL;
  size_t n = 0, cap = 0;
  for (size_t i = 0; i < m->ncustomers; i++) {
    uint32_t r0 = m->refund_start[i], r1 = m->refund_start[i + 1];
    uint32_t o0 = m->order_start[i], o1 = m->order_start[i + 1];
    if (r0 == r1 || o0 == o1)
      continue;
    size_t first = n;
    for (uint32_t j = r0; j < r1; j++) {
      uint32_t k = pick(m, o0, o1, j, link ? link[j] : 0, cv + first, n - first);
      if (k >= UINT32_MAX - 1)
        continue;
      if (n == cap) {
        size_t nc = cap ? cap * 2 : 256;
        cancelled *a = rt_reallocarray(cv, nc, sizeof *a);
        if (!a) {
          rt_free(cv);
          return RT_ENOMEM;
        }
        cv = a;
        cap = nc;
      }
      cv[n++] = (cancelled){k, m->refund_day[j]};
      m->refund_amount[j] -= m->order_amount[k]; /* 0 unless it paid back more */
    }
  }
  if (!n)
    return 0;
  qsort(cv, n, sizeof *cv, by_order);
  size_t nc = m->ncustomers;
  m->cancel_start = rt_malloc((nc + 1) * sizeof *m->cancel_start);
  m->cancel_ms = rt_malloc(n * sizeof *m->cancel_ms);
  m->cancel_day = rt_malloc(n * sizeof *m->cancel_day);
  m->cancel_at = rt_malloc(n * sizeof *m->cancel_at);
  m->cancel_amount = rt_malloc(n * sizeof *m->cancel_amount);
  if (!m->cancel_start || !m->cancel_ms || !m->cancel_day || !m->cancel_at ||
      !m->cancel_amount) {
    rt_free(cv);
    return RT_ENOMEM; /* the caller frees the model, and with it these */
  }
  m->ncancelled = n;
  /* Orders: the cancelled ones out, in one pass (writes never pass reads). */
  uint32_t w = 0, next = m->order_start[0];
  size_t c = 0;
  for (size_t i = 0; i < nc; i++) {
    uint32_t lo = next, hi = m->order_start[i + 1];
    next = hi;
    m->order_start[i] = w;
    m->cancel_start[i] = (uint32_t)c;
    for (uint32_t k = lo; k < hi; k++) {
      if (c < n && cv[c].order == k) {
        m->cancel_ms[c] = m->order_ms[k];
        m->cancel_day[c] = m->order_day[k];
        m->cancel_at[c] = cv[c].at;
        m->cancel_amount[c] = m->order_amount[k];
        c++;
        continue;
      }
      m->order_ms[w] = m->order_ms[k];
      m->order_day[w] = m->order_day[k];
      m->order_amount[w] = m->order_amount[k];
      w++;
    }
  }
  m->order_start[nc] = w;
  m->cancel_start[nc] = (uint32_t)c;
  m->norders = w;
  /* Refunds: the ones used up out. */
  w = 0;
  next = m->refund_start[0];
  for (size_t i = 0; i < nc; i++) {
    uint32_t lo = next, hi = m->refund_start[i + 1];
    next = hi;
    m->refund_start[i] = w;
    for (uint32_t j = lo; j < hi; j++)
      if (m->refund_amount[j] > 0) {
        m->refund_day[w] = m->refund_day[j];
        m->refund_amount[w] = m->refund_amount[j];
        w++;
      }
  }
  m->refund_start[nc] = w;
  m->nrefunds = w;
  rt_free(cv);
  return 0;
}
