/* cancel.c - purchases in one currency (model.h, "Purchases and cancellations"). After the
 * build has grouped a model's orders and refunds by customer, this
 *
 *  1. matches each refund against the customer's orders, in the orders' own currency: a refund
 *     cancels an order when it names that order (by its time) and covers its amount, or,
 *     naming none (or naming one the customer does not have on or before the refund's day),
 *     when it equals the amount of one of the customer's orders on or before the refund's day
 *     in the same currency: the latest such order not cancelled yet. Refunds are taken in time
 *     order, and only orders up to a refund's day are looked at, so the outcome for the refunds
 *     up to a day does not depend on anything later: judging a model as of an earlier day
 *     (asof.c) gives what matching only the rows up to that day would;
 *  2. converts every amount into the model's currency at the rate of its own day, when the
 *     build has exchange rates (rates.h); a row without a rate is left out and counted;
 *  3. moves the cancelled orders to the cancel_* columns and drops the refunds used up and the
 *     rows left out, in one pass (writes never pass reads). */
#include "internal.h"

#include <retain/alloc.h>
#include <retain/model.h>
#include <retain/rates.h>
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

/* The order of o0..o1 that refund j cancels; UINT32_MAX for none, UINT32_MAX - 1 when it names
 * an order it pays back only a part of. `mine` holds the customer's cancellations so far. */
static uint32_t pick(const rt_model *m, const rt__currencies *cur, uint32_t o0, uint32_t o1,
                     uint32_t j, int64_t named, const cancelled *mine, size_t nmine) {
  const int64_t want = m->refund_amount[j];
  const int32_t day = m->refund_day[j];
  const int rc = cur ? cur->refund[j] : 0;
#define SAME_CUR(k) (!cur || cur->order[k] == rc)
  if (named) {
    for (uint32_t k = o1; k-- > o0;) {
      if (m->order_ms[k] != named || m->order_day[k] > day || !SAME_CUR(k) ||
          taken(mine, nmine, k))
        continue;
      return m->order_amount[k] <= want ? k : UINT32_MAX - 1;
    }
  }
  for (uint32_t k = o1; k-- > o0;)
    if (m->order_day[k] <= day && m->order_amount[k] == want && SAME_CUR(k) &&
        !taken(mine, nmine, k))
      return k;
  return UINT32_MAX;
#undef SAME_CUR
}

/* Step 1: the cancellations, sorted by order. */
static int match(rt_model *m, const int64_t *link, const rt__currencies *cur, cancelled **out,
                 size_t *nout) {
  cancelled *cv = NULL;
  size_t n = 0, cap = 0;
  for (size_t i = 0; m->norders && i < m->ncustomers; i++) {
    uint32_t r0 = m->refund_start[i], r1 = m->refund_start[i + 1];
    uint32_t o0 = m->order_start[i], o1 = m->order_start[i + 1];
    if (r0 == r1 || o0 == o1)
      continue;
    size_t first = n;
    for (uint32_t j = r0; j < r1; j++) {
      /* cv is NULL until the first match: no offset on it (UB, found by fuzz_import) */
      uint32_t k =
          pick(m, cur, o0, o1, j, link ? link[j] : 0, cv ? cv + first : NULL, n - first);
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
  if (n)
    qsort(cv, n, sizeof *cv, by_order);
  *out = cv;
  *nout = n;
  return 0;
}

/* Step 2: amounts[i] of currency cur[i] on day[i] into the model's currency; a row without a
 * rate gets `drop` set and is counted. */
static void convert(rt__currencies *cur, const uint8_t *rowcur, const int32_t *day,
                    int64_t *amount, uint8_t *drop, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int c = rowcur[i];
    if (c == cur->keep || amount[i] == 0)
      continue;
    int64_t out;
    if (cur->index[c] >= 0 &&
        rt_rates_convert_index(cur->rates, amount[i], cur->index[c], cur->index[cur->keep],
                               day[i], &out) == 0) {
      amount[i] = out;
    } else {
      drop[i] = 1;
      cur->left_out[c]++;
    }
  }
}

int rt__model_cancel(rt_model *m, const int64_t *link, rt__currencies *cur) {
  cancelled *cv = NULL;
  size_t n = 0;
  uint8_t *odrop = NULL, *rdrop = NULL;
  int rc = match(m, link, cur, &cv, &n);
  if (rc)
    return rc;
  if (cur) {
    odrop = rt_calloc(m->norders ? m->norders : 1, 1);
    rdrop = rt_calloc(m->nrefunds ? m->nrefunds : 1, 1);
    if (!odrop || !rdrop) {
      rc = RT_ENOMEM;
      goto out;
    }
    convert(cur, cur->order, m->order_day, m->order_amount, odrop, m->norders);
    convert(cur, cur->refund, m->refund_day, m->refund_amount, rdrop, m->nrefunds);
  }
  if (!n && !cur) {
    /* nothing cancelled, nothing left out: only the refunds used up could go, and none were */
    goto out;
  }
  size_t nc = m->ncustomers, nx = 0;
  for (size_t c = 0; c < n; c++)
    nx += !(odrop && odrop[cv[c].order]);
  if (nx) {
    m->cancel_start = rt_malloc((nc + 1) * sizeof *m->cancel_start);
    m->cancel_ms = rt_malloc(nx * sizeof *m->cancel_ms);
    m->cancel_day = rt_malloc(nx * sizeof *m->cancel_day);
    m->cancel_at = rt_malloc(nx * sizeof *m->cancel_at);
    m->cancel_amount = rt_malloc(nx * sizeof *m->cancel_amount);
    if (!m->cancel_start || !m->cancel_ms || !m->cancel_day || !m->cancel_at ||
        !m->cancel_amount) {
      rc = RT_ENOMEM; /* the caller frees the model, and with it these */
      goto out;
    }
  }
  m->ncancelled = nx;
  /* Step 3, orders: the cancelled ones to their columns, the ones left out gone. */
  uint32_t w = 0, next = m->order_start[0];
  size_t c = 0, x = 0;
  for (size_t i = 0; i < nc; i++) {
    uint32_t lo = next, hi = m->order_start[i + 1];
    next = hi;
    m->order_start[i] = w;
    if (nx)
      m->cancel_start[i] = (uint32_t)x;
    for (uint32_t k = lo; k < hi; k++) {
      int is_cancelled = c < n && cv[c].order == k;
      if (odrop && odrop[k]) {
        c += is_cancelled;
        continue;
      }
      if (is_cancelled) {
        m->cancel_ms[x] = m->order_ms[k];
        m->cancel_day[x] = m->order_day[k];
        m->cancel_at[x] = cv[c].at;
        m->cancel_amount[x] = m->order_amount[k];
        x++;
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
  if (nx)
    m->cancel_start[nc] = (uint32_t)x;
  m->norders = w;
  /* refunds: the ones used up, and the ones left out, gone */
  w = 0;
  next = m->refund_start[0];
  for (size_t i = 0; i < nc; i++) {
    uint32_t lo = next, hi = m->refund_start[i + 1];
    next = hi;
    m->refund_start[i] = w;
    for (uint32_t j = lo; j < hi; j++)
      if (m->refund_amount[j] > 0 && !(rdrop && rdrop[j])) {
        m->refund_day[w] = m->refund_day[j];
        m->refund_amount[w] = m->refund_amount[j];
        w++;
      }
  }
  m->refund_start[nc] = w;
  m->nrefunds = w;
out:
  rt_free(cv);
  rt_free(odrop);
  rt_free(rdrop);
  return rc;
}
