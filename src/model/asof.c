/* asof.c - judging the customer model as of a day (model.h, "As of"): the default day for a
 * store (today while its data is live, else its last day with data), and the model cut back to
 * an earlier day - rows after it dropped, orders cancelled after it restored as purchases,
 * subscriptions cancelled after it live again - so that every analytic sees exactly what was
 * known on that day. */
#include "internal.h"

#include <retain/alloc.h>
#include <retain/model.h>
#include <limits.h>
#include <string.h>

int32_t rt_model_default_as_of(const rt_model *m, int32_t today, rt_as_of_basis *basis) {
  rt_as_of_basis b = RT_AS_OF_TODAY;
  int32_t day = today;
  if (m->min_day <= m->max_day && (int64_t)m->max_day < (int64_t)today - RT_LIVE_DAYS) {
    b = RT_AS_OF_DATA_END;
    day = m->max_day;
  }
  if (basis)
    *basis = b;
  return day;
}

const char *rt_as_of_basis_name(rt_as_of_basis b) {
  switch (b) {
  case RT_AS_OF_GIVEN: return "given";
  case RT_AS_OF_TODAY: return "today";
  case RT_AS_OF_DATA_END: return "data end";
  }
  return "?";
}

size_t rt_model_buyers(const rt_model *m) {
  size_t n = 0;
  for (size_t i = 0; i < m->ncustomers; i++)
    n += m->order_start[i] < m->order_start[i + 1];
  return n;
}

/* *dst gets src's array of `bytes`: taken over when src owns it (its pointer cleared so that
 * freeing src leaves it alone), copied when it points into a mapped snapshot. */
static int take(void **dst, void **src, size_t bytes, int mapped) {
  if (!mapped) {
    *dst = *src;
    *src = NULL;
    return 0;
  }
  *dst = rt_malloc(bytes ? bytes : 1);
  if (!*dst)
    return RT_ENOMEM;
  memcpy(*dst, *src, bytes);
  return 0;
}

static void see(int32_t d, int32_t *lo, int32_t *hi) {
  if (d < *lo)
    *lo = d;
  if (d > *hi)
    *hi = d;
}

/* The model m cut back to `day` (day < m->max_day), as a new model. */
static int cut(rt_model *m, int32_t day, rt_model **out) {
  const size_t nc = m->ncustomers, n1 = nc + 1;
  const int mapped = m->priv_map != NULL;
  rt_model *t = rt_calloc(1, sizeof *t);
  if (!t)
    return RT_ENOMEM;
  t->ncustomers = nc;
  memcpy(t->currency, m->currency, sizeof t->currency);
  t->currency_exp = m->currency_exp;
  t->other_currency_rows = m->other_currency_rows;
  t->nother = m->nother;
  memcpy(t->other, m->other, sizeof t->other);
  t->tz = m->tz;
  t->data_version = m->data_version;
  int rc = RT_ENOMEM;

  /* count what is kept */
  size_t no = 0, nr = 0, ns = 0, nx = 0;
  for (size_t i = 0; i < nc; i++) {
    for (uint32_t k = m->order_start[i]; k < m->order_start[i + 1]; k++)
      no += m->order_day[k] <= day;
    for (uint32_t k = rt_model_cancel_lo(m, i); k < rt_model_cancel_hi(m, i); k++) {
      no += m->cancel_day[k] <= day && m->cancel_at[k] > day;
      nx += m->cancel_at[k] <= day;
    }
    for (uint32_t k = m->refund_start[i]; k < m->refund_start[i + 1]; k++)
      nr += m->refund_day[k] <= day;
    for (uint32_t k = m->sub_start[i]; k < m->sub_start[i + 1]; k++)
      ns += m->sub_first_day[k] <= day;
  }
  t->order_start = rt_malloc(n1 * sizeof *t->order_start);
  t->order_ms = rt_malloc((no ? no : 1) * sizeof *t->order_ms);
  t->order_day = rt_malloc((no ? no : 1) * sizeof *t->order_day);
  t->order_amount = rt_malloc((no ? no : 1) * sizeof *t->order_amount);
  t->refund_start = rt_malloc(n1 * sizeof *t->refund_start);
  t->refund_day = rt_malloc((nr ? nr : 1) * sizeof *t->refund_day);
  t->refund_amount = rt_malloc((nr ? nr : 1) * sizeof *t->refund_amount);
  t->sub_start = rt_malloc(n1 * sizeof *t->sub_start);
  t->sub_first_day = rt_malloc((ns ? ns : 1) * sizeof *t->sub_first_day);
  t->sub_end_day = rt_malloc((ns ? ns : 1) * sizeof *t->sub_end_day);
  t->sub_amount = rt_malloc((ns ? ns : 1) * sizeof *t->sub_amount);
  t->first_order_day = rt_malloc((nc ? nc : 1) * sizeof *t->first_order_day);
  t->last_order_day = rt_malloc((nc ? nc : 1) * sizeof *t->last_order_day);
  t->revenue = rt_malloc((nc ? nc : 1) * sizeof *t->revenue);
  t->refunded = rt_malloc((nc ? nc : 1) * sizeof *t->refunded);
  if (!t->order_start || !t->order_ms || !t->order_day || !t->order_amount ||
      !t->refund_start || !t->refund_day || !t->refund_amount || !t->sub_start ||
      !t->sub_first_day || !t->sub_end_day || !t->sub_amount || !t->first_order_day ||
      !t->last_order_day || !t->revenue || !t->refunded)
    goto fail;
  if (nx) {
    t->cancel_start = rt_malloc(n1 * sizeof *t->cancel_start);
    t->cancel_ms = rt_malloc(nx * sizeof *t->cancel_ms);
    t->cancel_day = rt_malloc(nx * sizeof *t->cancel_day);
    t->cancel_at = rt_malloc(nx * sizeof *t->cancel_at);
    t->cancel_amount = rt_malloc(nx * sizeof *t->cancel_amount);
    if (!t->cancel_start || !t->cancel_ms || !t->cancel_day || !t->cancel_at ||
        !t->cancel_amount)
      goto fail;
  }

  int32_t lo = INT32_MAX, hi = INT32_MIN;
  size_t o = 0, r = 0, s = 0, x = 0;
  for (size_t i = 0; i < nc; i++) {
    t->order_start[i] = (uint32_t)o;
    t->refund_start[i] = (uint32_t)r;
    t->sub_start[i] = (uint32_t)s;
    if (nx)
      t->cancel_start[i] = (uint32_t)x;
    /* purchases up to the day, merged in time order with the orders cancelled only later */
    uint32_t a = m->order_start[i], ae = m->order_start[i + 1];
    uint32_t c = rt_model_cancel_lo(m, i), ce = rt_model_cancel_hi(m, i);
    for (;;) {
      while (a < ae && m->order_day[a] > day)
        a++;
      while (c < ce && (m->cancel_day[c] > day || m->cancel_at[c] <= day)) {
        if (m->cancel_at[c] <= day) { /* cancelled by then: stays cancelled */
          t->cancel_ms[x] = m->cancel_ms[c];
          t->cancel_day[x] = m->cancel_day[c];
          t->cancel_at[x] = m->cancel_at[c];
          t->cancel_amount[x] = m->cancel_amount[c];
          see(m->cancel_day[c], &lo, &hi);
          see(m->cancel_at[c], &lo, &hi);
          x++;
        }
        c++;
      }
      int from_a = a < ae && (c >= ce || m->order_ms[a] <= m->cancel_ms[c]);
      if (!from_a && c >= ce)
        break;
      if (from_a) {
        t->order_ms[o] = m->order_ms[a];
        t->order_day[o] = m->order_day[a];
        t->order_amount[o] = m->order_amount[a];
        a++;
      } else {
        t->order_ms[o] = m->cancel_ms[c];
        t->order_day[o] = m->cancel_day[c];
        t->order_amount[o] = m->cancel_amount[c];
        c++;
      }
      see(t->order_day[o], &lo, &hi);
      o++;
    }
    for (uint32_t k = m->refund_start[i]; k < m->refund_start[i + 1]; k++)
      if (m->refund_day[k] <= day) {
        t->refund_day[r] = m->refund_day[k];
        t->refund_amount[r] = m->refund_amount[k];
        see(m->refund_day[k], &lo, &hi);
        r++;
      }
    for (uint32_t k = m->sub_start[i]; k < m->sub_start[i + 1]; k++)
      if (m->sub_first_day[k] <= day) {
        int32_t end = m->sub_end_day[k];
        t->sub_first_day[s] = m->sub_first_day[k];
        t->sub_end_day[s] = end > day ? INT32_MAX : end;
        t->sub_amount[s] = m->sub_amount[k];
        see(m->sub_first_day[k], &lo, &hi);
        if (end <= day)
          see(end, &lo, &hi);
        s++;
      }
  }
  t->order_start[nc] = (uint32_t)o;
  t->refund_start[nc] = (uint32_t)r;
  t->sub_start[nc] = (uint32_t)s;
  if (nx)
    t->cancel_start[nc] = (uint32_t)x;
  t->norders = o;
  t->nrefunds = r;
  t->nsubs = s;
  t->ncancelled = x;
  rt__model_derive(t);
  if (lo <= hi) {
    t->min_day = lo;
    t->max_day = hi;
  } else {
    t->min_day = 1;
    t->max_day = 0;
  }
  t->as_of = day;
  /* last, so that a failure before leaves m whole (taking from an owner cannot fail) */
  size_t pool = nc ? m->ext_off[nc] : 0;
  if (take((void **)&t->store_id, (void **)&m->store_id, nc * sizeof *m->store_id, mapped) ||
      take((void **)&t->ext_off, (void **)&m->ext_off, n1 * sizeof *m->ext_off, mapped) ||
      take((void **)&t->ext_pool, (void **)&m->ext_pool, pool ? pool : 1, mapped))
    goto fail;
  *out = t;
  return 0;
fail:
  rt_model_free(t);
  return rc;
}

int rt_model_set_as_of(rt_model **mp, int32_t day, rt_as_of_basis basis, rt_error *err) {
  rt_model *m = *mp;
  if (m->min_day > m->max_day || day >= m->max_day) {
    m->as_of = day;
    m->as_of_basis = (int)basis;
    return 0;
  }
  rt_model *t = NULL;
  int rc = cut(m, day, &t);
  if (rc)
    return rt_error_set(err, rc, "judging the customer model as of a day: %s", rt_strerror(rc));
  rt_model_free(m);
  t->as_of_basis = (int)basis;
  *mp = t;
  return 0;
}
