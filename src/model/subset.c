/* subset.c - rt_model_subset: a model of some of a model's customers (a segment's members), so
 * that every analytic runs on a segment unchanged (the customers keep their order; their rows
 * are copied slice by slice), and rt_model_index_of, a store id's customer. */
#include <retain/alloc.h>
#include <retain/model.h>

#include <string.h>

static int in(const uint64_t *bits, size_t i) { return (int)((bits[i / 64] >> (i % 64)) & 1); }

/* Copies the rows [start[i], start[i+1]) of the kept customers of one table: *dst_start gets
 * the new offsets, and each column (elem bytes per row) its kept rows. */
static int slices(const rt_model *m, const uint64_t *bits, size_t kept, const uint32_t *start,
                  uint32_t **dst_start, size_t *nrows, void **cols[], const void *const src[],
                  const size_t elem[], int ncols) {
  size_t rows = 0;
  for (size_t i = 0; i < m->ncustomers; i++)
    if (in(bits, i))
      rows += start[i + 1] - start[i];
  *dst_start = rt_malloc((kept + 1) * sizeof **dst_start);
  if (!*dst_start)
    return RT_ENOMEM;
  for (int c = 0; c < ncols; c++)
    if (!(*cols[c] = rt_malloc((rows ? rows : 1) * elem[c])))
      return RT_ENOMEM;
  size_t k = 0, at = 0;
  for (size_t i = 0; i < m->ncustomers; i++) {
    if (!in(bits, i))
      continue;
    size_t a = start[i], n = start[i + 1] - a;
    (*dst_start)[k++] = (uint32_t)at;
    for (int c = 0; c < ncols; c++)
      memcpy((char *)*cols[c] + at * elem[c], (const char *)src[c] + a * elem[c], n * elem[c]);
    at += n;
  }
  (*dst_start)[k] = (uint32_t)at;
  *nrows = rows;
  return 0;
}

size_t rt_model_index_of(const rt_model *m, int64_t store_id) {
  size_t lo = 0, hi = m->ncustomers;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m->store_id[mid] < store_id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < m->ncustomers && m->store_id[lo] == store_id ? lo : SIZE_MAX;
}

int rt_model_subset(const rt_model *m, const uint64_t *bits, rt_model **out, rt_error *err) {
  *out = NULL;
  rt_model *s = rt_calloc(1, sizeof *s);
  if (!s)
    return rt_error_set(err, RT_ENOMEM, "model: %s", rt_strerror(RT_ENOMEM));
  size_t kept = 0, pool = 0;
  for (size_t i = 0; i < m->ncustomers; i++)
    if (in(bits, i)) {
      kept++;
      pool += m->ext_off[i + 1] - m->ext_off[i];
    }
  s->ncustomers = kept;
  memcpy(s->currency, m->currency, sizeof s->currency);
  s->currency_exp = m->currency_exp;
  s->tz = m->tz;
  s->data_version = m->data_version;
  /* the whole business's data range: a segment's report covers the same periods */
  s->min_day = m->min_day;
  s->max_day = m->max_day;
  s->as_of = m->as_of;
  s->as_of_basis = m->as_of_basis;
  s->other_currency_rows = m->other_currency_rows;
  s->nother = m->nother;
  memcpy(s->other, m->other, sizeof s->other);
  size_t n1 = kept ? kept : 1;
  int rc = 0;
  if (!(s->store_id = rt_malloc(n1 * sizeof *s->store_id)) ||
      !(s->created_day = rt_malloc(n1 * sizeof *s->created_day)) ||
      !(s->ext_off = rt_malloc((kept + 1) * sizeof *s->ext_off)) ||
      !(s->ext_pool = rt_malloc(pool ? pool : 1)) ||
      !(s->first_order_day = rt_malloc(n1 * sizeof *s->first_order_day)) ||
      !(s->last_order_day = rt_malloc(n1 * sizeof *s->last_order_day)) ||
      !(s->revenue = rt_malloc(n1 * sizeof *s->revenue)) ||
      !(s->refunded = rt_malloc(n1 * sizeof *s->refunded)))
    rc = RT_ENOMEM;
  {
    void **oc[] = {(void **)&s->order_ms, (void **)&s->order_day, (void **)&s->order_amount};
    const void *const os[] = {m->order_ms, m->order_day, m->order_amount};
    const size_t oe[] = {sizeof *m->order_ms, sizeof *m->order_day, sizeof *m->order_amount};
    if (!rc)
      rc = slices(m, bits, kept, m->order_start, &s->order_start, &s->norders, oc, os, oe, 3);
  }
  {
    void **rc_[] = {(void **)&s->refund_day, (void **)&s->refund_amount};
    const void *const rs[] = {m->refund_day, m->refund_amount};
    const size_t re[] = {sizeof *m->refund_day, sizeof *m->refund_amount};
    if (!rc)
      rc = slices(m, bits, kept, m->refund_start, &s->refund_start, &s->nrefunds, rc_, rs, re, 2);
  }
  {
    void **sc[] = {(void **)&s->sub_first_day, (void **)&s->sub_end_day, (void **)&s->sub_amount};
    const void *const ss[] = {m->sub_first_day, m->sub_end_day, m->sub_amount};
    const size_t se[] = {sizeof *m->sub_first_day, sizeof *m->sub_end_day,
                         sizeof *m->sub_amount};
    if (!rc)
      rc = slices(m, bits, kept, m->sub_start, &s->sub_start, &s->nsubs, sc, ss, se, 3);
  }
  if (m->cancel_start) {
    void **cc[] = {(void **)&s->cancel_ms, (void **)&s->cancel_day, (void **)&s->cancel_at,
                   (void **)&s->cancel_amount};
    const void *const cs[] = {m->cancel_ms, m->cancel_day, m->cancel_at, m->cancel_amount};
    const size_t ce[] = {sizeof *m->cancel_ms, sizeof *m->cancel_day, sizeof *m->cancel_at,
                         sizeof *m->cancel_amount};
    if (!rc)
      rc = slices(m, bits, kept, m->cancel_start, &s->cancel_start, &s->ncancelled, cc, cs, ce,
                  4);
  }
  if (rc) {
    rt_model_free(s);
    return rt_error_set(err, rc, "model: %s", rt_strerror(rc));
  }
  size_t k = 0, at = 0;
  for (size_t i = 0; i < m->ncustomers; i++) {
    if (!in(bits, i))
      continue;
    size_t len = m->ext_off[i + 1] - m->ext_off[i];
    s->store_id[k] = m->store_id[i];
    s->created_day[k] = m->created_day[i];
    s->ext_off[k] = at;
    memcpy(s->ext_pool + at, m->ext_pool + m->ext_off[i], len);
    at += len;
    s->first_order_day[k] = m->first_order_day[i];
    s->last_order_day[k] = m->last_order_day[i];
    s->revenue[k] = m->revenue[i];
    s->refunded[k] = m->refunded[i];
    k++;
  }
  s->ext_off[k] = at;
  *out = s;
  return 0;
}
