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

/* Whether customer i of m exists as of day: first seen by then (or never known), or with a row
 * by then (a row the profile got from a merge may be older than the profile). */
static int exists(const rt_model *m, size_t i, int32_t day) {
  if (m->created_day[i] <= day) /* INT32_MIN: unknown */
    return 1;
  return (m->order_start[i] < m->order_start[i + 1] && m->order_day[m->order_start[i]] <= day) ||
         (rt_model_cancel_lo(m, i) < rt_model_cancel_hi(m, i) &&
          m->cancel_day[rt_model_cancel_lo(m, i)] <= day) ||
         (m->refund_start[i] < m->refund_start[i + 1] &&
          m->refund_day[m->refund_start[i]] <= day) ||
         (m->sub_start[i] < m->sub_start[i + 1] && m->sub_first_day[m->sub_start[i]] <= day);
}

/* t's customers: m's, taken over when all of them are kept (m's pointers cleared, so that
 * freeing m leaves them alone) or copied when m's are in a mapped snapshot; else the kept ones
 * (keep[i]) copied, kc of them. */
static int customers(rt_model *m, const uint8_t *keep, size_t kc, rt_model *t) {
  const size_t nc = m->ncustomers;
  const int mapped = m->priv_map != NULL;
  if (kc == nc) {
    size_t pool = nc ? m->ext_off[nc] : 0;
    if (take((void **)&t->store_id, (void **)&m->store_id, nc * sizeof *m->store_id, mapped) ||
        take((void **)&t->created_day, (void **)&m->created_day, nc * sizeof *m->created_day,
             mapped) ||
        take((void **)&t->ext_off, (void **)&m->ext_off, (nc + 1) * sizeof *m->ext_off,
             mapped) ||
        take((void **)&t->ext_pool, (void **)&m->ext_pool, pool ? pool : 1, mapped))
      return RT_ENOMEM;
    return 0;
  }
  size_t pool = 0;
  for (size_t i = 0; i < nc; i++)
    if (keep[i])
      pool += m->ext_off[i + 1] - m->ext_off[i];
  t->store_id = rt_malloc((kc ? kc : 1) * sizeof *t->store_id);
  t->created_day = rt_malloc((kc ? kc : 1) * sizeof *t->created_day);
  t->ext_off = rt_malloc((kc + 1) * sizeof *t->ext_off);
  t->ext_pool = rt_malloc(pool ? pool : 1);
  if (!t->store_id || !t->created_day || !t->ext_off || !t->ext_pool)
    return RT_ENOMEM;
  size_t k = 0, at = 0;
  for (size_t i = 0; i < nc; i++) {
    if (!keep[i])
      continue;
    size_t len = m->ext_off[i + 1] - m->ext_off[i];
    t->store_id[k] = m->store_id[i];
    t->created_day[k] = m->created_day[i];
    t->ext_off[k] = at;
    memcpy(t->ext_pool + at, m->ext_pool + m->ext_off[i], len);
    at += len;
    k++;
  }
  t->ext_off[k] = at;
  return 0;
}

/* The model m cut back to `day`, as a new model: rows after it dropped, orders cancelled after
 * it restored, subscriptions cancelled after it live, profiles first seen after it gone. */
static int cut(rt_model *m, int32_t day, rt_model **out) {
  const size_t nc = m->ncustomers;
  rt_model *t = rt_calloc(1, sizeof *t);
  uint8_t *keep = rt_malloc(nc ? nc : 1);
  if (!t || !keep) {
    rt_free(t);
    rt_free(keep);
    return RT_ENOMEM;
  }
  memcpy(t->currency, m->currency, sizeof t->currency);
  t->currency_exp = m->currency_exp;
  t->other_currency_rows = m->other_currency_rows;
  t->nother = m->nother;
  memcpy(t->other, m->other, sizeof t->other);
  t->tz = m->tz;
  t->data_version = m->data_version;
  int rc = RT_ENOMEM;

  /* count what is kept */
  size_t kc = 0, no = 0, nr = 0, ns = 0, nx = 0;
  for (size_t i = 0; i < nc; i++) {
    keep[i] = (uint8_t)exists(m, i, day);
    kc += keep[i];
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
  const size_t k1 = kc + 1;
  t->ncustomers = kc;
  t->order_start = rt_malloc(k1 * sizeof *t->order_start);
  t->order_ms = rt_malloc((no ? no : 1) * sizeof *t->order_ms);
  t->order_day = rt_malloc((no ? no : 1) * sizeof *t->order_day);
  t->order_amount = rt_malloc((no ? no : 1) * sizeof *t->order_amount);
  t->refund_start = rt_malloc(k1 * sizeof *t->refund_start);
  t->refund_day = rt_malloc((nr ? nr : 1) * sizeof *t->refund_day);
  t->refund_amount = rt_malloc((nr ? nr : 1) * sizeof *t->refund_amount);
  t->sub_start = rt_malloc(k1 * sizeof *t->sub_start);
  t->sub_first_day = rt_malloc((ns ? ns : 1) * sizeof *t->sub_first_day);
  t->sub_end_day = rt_malloc((ns ? ns : 1) * sizeof *t->sub_end_day);
  t->sub_amount = rt_malloc((ns ? ns : 1) * sizeof *t->sub_amount);
  t->first_order_day = rt_malloc((kc ? kc : 1) * sizeof *t->first_order_day);
  t->last_order_day = rt_malloc((kc ? kc : 1) * sizeof *t->last_order_day);
  t->revenue = rt_malloc((kc ? kc : 1) * sizeof *t->revenue);
  t->refunded = rt_malloc((kc ? kc : 1) * sizeof *t->refunded);
  if (!t->order_start || !t->order_ms || !t->order_day || !t->order_amount ||
      !t->refund_start || !t->refund_day || !t->refund_amount || !t->sub_start ||
      !t->sub_first_day || !t->sub_end_day || !t->sub_amount || !t->first_order_day ||
      !t->last_order_day || !t->revenue || !t->refunded)
    goto fail;
  if (nx) {
    t->cancel_start = rt_malloc(k1 * sizeof *t->cancel_start);
    t->cancel_ms = rt_malloc(nx * sizeof *t->cancel_ms);
    t->cancel_day = rt_malloc(nx * sizeof *t->cancel_day);
    t->cancel_at = rt_malloc(nx * sizeof *t->cancel_at);
    t->cancel_amount = rt_malloc(nx * sizeof *t->cancel_amount);
    if (!t->cancel_start || !t->cancel_ms || !t->cancel_day || !t->cancel_at ||
        !t->cancel_amount)
      goto fail;
  }

  int32_t lo = INT32_MAX, hi = INT32_MIN;
  size_t o = 0, r = 0, s = 0, x = 0, ti = 0;
  for (size_t i = 0; i < nc; i++) {
    if (!keep[i])
      continue; /* no rows up to the day: nothing to copy */
    t->order_start[ti] = (uint32_t)o;
    t->refund_start[ti] = (uint32_t)r;
    t->sub_start[ti] = (uint32_t)s;
    if (nx)
      t->cancel_start[ti] = (uint32_t)x;
    ti++;
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
  t->order_start[kc] = (uint32_t)o;
  t->refund_start[kc] = (uint32_t)r;
  t->sub_start[kc] = (uint32_t)s;
  if (nx)
    t->cancel_start[kc] = (uint32_t)x;
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
  if ((rc = customers(m, keep, kc, t)) != 0)
    goto fail;
  rt_free(keep);
  *out = t;
  return 0;
fail:
  rt_free(keep);
  rt_model_free(t);
  return rc ? rc : RT_ENOMEM;
}

/* Whether a profile of m was first seen after day (then m must be cut even with every row up
 * to it). */
static int created_after(const rt_model *m, int32_t day) {
  for (size_t i = 0; i < m->ncustomers; i++)
    if (m->created_day[i] > day)
      return 1;
  return 0;
}

int rt_model_set_as_of(rt_model **mp, int32_t day, rt_as_of_basis basis, rt_error *err) {
  rt_model *m = *mp;
  if ((m->min_day > m->max_day || day >= m->max_day) && !created_after(m, day)) {
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
