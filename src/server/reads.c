/* reads.c - the read API of `retain serve`: customers (one, a page of them, their export),
 * the retention report and cohorts, and segments (list, read, members, create, change,
 * delete). Everything model-derived comes from a live view that includes every write
 * acknowledged before the request arrived (live.h); profiles and identities come from the
 * store. */
#include <retain/alloc.h>
#include <retain/cohort.h>
#include <retain/csv.h>
#include <retain/metrics.h>
#include <retain/segment.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/report_json.h"
#include "internal.h"
#include "server/http.h"

#define WAIT_MS 30000       /* a read waits this long for the view to catch up */
#define PAGE_DEFAULT 100
#define PAGE_MAX 10000
#define RT__MAX_SEGMENTS 4096 /* listed per customer */

/* A view of at least generation gen; NULL with the 503 answer in *res when there is none. */
static rt__view *view_at(rt_server *s, rt__request *rq, struct MHD_Connection *c, uint64_t gen,
                         enum MHD_Result *res) {
  rt__view *v = rt__live_get(&s->live, gen, WAIT_MS);
  if (!v) {
    char msg[1100];
    pthread_mutex_lock(&s->live.mu);
    snprintf(msg, sizeof msg, "the customer model is not loaded yet%s%s",
             s->live.error[0] ? ": " : "", s->live.error);
    pthread_mutex_unlock(&s->live.mu);
    *res = rt__send_error(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, "loading", msg, NULL);
  }
  return v;
}

/* The view this request must see: everything acknowledged before it arrived. */
static rt__view *view_for(rt_server *s, rt__request *rq, struct MHD_Connection *c,
                          enum MHD_Result *res) {
  return view_at(s, rq, c, rt__live_generation(&s->live), res);
}

static enum MHD_Result bad_param(rt__request *rq, struct MHD_Connection *c, const char *name,
                                 const char *fmt, const char *value) {
  char msg[1200];
  snprintf(msg, sizeof msg, fmt, value);
  return rt__send_error(rq, c, MHD_HTTP_BAD_REQUEST, "invalid", msg, name);
}

/* An integer query parameter in [lo, hi] (def when absent); 0, or -1 after answering 400. */
static int int_param(rt__request *rq, struct MHD_Connection *c, const char *name, long long lo,
                     long long hi, long long def, long long *out, enum MHD_Result *res) {
  const char *v = rt__query(c, name);
  *out = def;
  if (!v)
    return 0;
  char *end;
  long long x = strtoll(v, &end, 10);
  if (!*v || *end || x < lo || x > hi) {
    char fmt[128];
    snprintf(fmt, sizeof fmt, "%s must be a whole number from %lld to %lld, not '%%s'", name, lo,
             hi);
    *res = bad_param(rq, c, name, fmt, v);
    return -1;
  }
  *out = x;
  return 0;
}

/* The members of ?segment=NAME in v (NULL bits: everyone); -1 after answering 404. */
static int segment_param(rt__request *rq, struct MHD_Connection *c, const rt__view *v,
                         const rt__segview **seg, enum MHD_Result *res) {
  const char *name = rt__query(c, "segment");
  *seg = NULL;
  if (!name)
    return 0;
  *seg = rt__view_segment(v, name);
  if (!*seg) {
    *res = bad_param(rq, c, "segment", "no segment named '%s'", name);
    return -1;
  }
  return 0;
}

/* ---- one customer ---- */

static json_t *feature_json(const rt_column *col, size_t i) {
  char buf[16];
  switch (col->type) {
  case RT_TYPE_NUMBER: {
    double x = col->num[i];
    if (isnan(x))
      return json_null();
    if (x == floor(x) && fabs(x) < 9e15)
      return json_integer((json_int_t)x);
    return json_real(x);
  }
  case RT_TYPE_BOOL:
    return isnan(col->num[i]) ? json_null() : json_boolean(col->num[i] != 0);
  case RT_TYPE_DATE:
    if (col->day[i] == INT32_MIN)
      return json_null();
    rt_day_format(col->day[i], buf, sizeof buf);
    return json_string(buf);
  case RT_TYPE_TEXT:
    return col->code[i] < col->ndict ? json_string(col->dict[col->code[i]]) : json_null();
  }
  return json_null();
}

/* features (customer i of f, or none for SIZE_MAX) and segments (names, n of them) */
static void add_computed(json_t *o, const rt_features *f, size_t i, const char *const *segs,
                         size_t nsegs, int64_t data_version) {
  json_t *feat = json_object(), *arr = json_array();
  for (size_t k = 0; i != SIZE_MAX && k < f->ncols; k++) {
    const rt_column *col = &f->cols[k];
    if (strcmp(col->name, "customer_id"))
      json_object_set_new(feat, col->name, feature_json(col, i));
  }
  for (size_t k = 0; k < nsegs; k++)
    json_array_append_new(arr, json_string(segs[k]));
  json_object_set_new(o, "features", feat);
  json_object_set_new(o, "segments", arr);
  json_object_set_new(o, "data_version", json_integer(data_version));
}

/* ---- a customer written to since the view, answered at once ---- */

/* A customer's orders, refunds and subscriptions from its timeline, into a model of that one
 * customer built like the view's (the same zone and currency, refunds matched against orders,
 * judged as of the same day), so that its rows are what the view's model would hold. */
typedef struct rows_acc {
  rt_model_builder *b;
  struct {
    char *ext;       /* an order's id, for the refunds that name it */
    int64_t ms;
  } *orders;
  size_t no, co;
  struct {
    int64_t ms, amount;
    char cur[4];
    char *named;     /* the order it names, or NULL */
  } *refunds;
  size_t nr, cr;
  int oom;
} rows_acc;

static int grow(void **p, size_t elem, size_t n, size_t *cap) {
  if (n < *cap)
    return 0;
  size_t c = *cap ? 2 * *cap : 16;
  void *q = rt_realloc(*p, c * elem);
  if (!q)
    return -1;
  *p = q;
  *cap = c;
  return 0;
}

static int on_row(void *ctx, const rt_timeline_item *it) {
  rows_acc *a = ctx;
  int rc = 0;
  if (!strcmp(it->kind, "order")) {
    if (grow((void **)&a->orders, sizeof *a->orders, a->no, &a->co))
      return a->oom = 1;
    char *ext = it->ext_id ? rt_strdup(it->ext_id) : NULL;
    if (it->ext_id && !ext)
      return a->oom = 1;
    a->orders[a->no].ext = ext;
    a->orders[a->no++].ms = it->ts_ms;
    rc = rt_model_builder_order(a->b, 0, it->ts_ms, it->amount, it->currency);
  } else if (!strcmp(it->kind, "refund") && it->amount > 0) {
    if (grow((void **)&a->refunds, sizeof *a->refunds, a->nr, &a->cr))
      return a->oom = 1;
    char *named = it->order_ext_id ? rt_strdup(it->order_ext_id) : NULL;
    if (it->order_ext_id && !named)
      return a->oom = 1;
    a->refunds[a->nr].ms = it->ts_ms;
    a->refunds[a->nr].amount = it->amount;
    snprintf(a->refunds[a->nr].cur, 4, "%s", it->currency ? it->currency : "");
    a->refunds[a->nr++].named = named;
  } else if (!strcmp(it->kind, "subscription")) {
    rc = rt_model_builder_subscription(a->b, 0, it->ts_ms, it->canceled_ms, it->amount,
                                       it->currency);
  }
  return rc ? (a->oom = 1) : 0;
}

static void rows_free(rows_acc *a) {
  for (size_t i = 0; i < a->no; i++)
    rt_free(a->orders[i].ext);
  for (size_t i = 0; i < a->nr; i++)
    rt_free(a->refunds[i].named);
  rt_free(a->orders);
  rt_free(a->refunds);
  rt_model_builder_free(a->b);
}

/* The refunds, each with the time of the order it names (0: none of the customer's). */
static int add_refunds(rows_acc *a) {
  for (size_t j = 0; j < a->nr; j++) {
    int64_t order_ms = 0;
    for (size_t k = 0; a->refunds[j].named && k < a->no && !order_ms; k++)
      if (a->orders[k].ext && !strcmp(a->orders[k].ext, a->refunds[j].named))
        order_ms = a->orders[k].ms;
    if (rt_model_builder_refund_of(a->b, 0, a->refunds[j].ms, a->refunds[j].amount,
                                   a->refunds[j].cur[0] ? a->refunds[j].cur : NULL, order_ms))
      return -1;
  }
  return 0;
}

#define NOW_PAGES 20 /* a customer with more timeline than this waits for the rebuild */

/* Customer v's features and segments now, from the store's rows against view's base set
 * (rt_features_one); 0 when it cannot be answered so (then the read waits for a rebuild). */
static rt_features *customer_now(rt_server *s, const rt__view *view, const rt_customer_view *v) {
  const rt_model *vm = view->model;
  rows_acc a = {0};
  rt_timeline_cursor cur = {0};
  rt_error err = {0};
  int slot, rc = 0, pages = 0;
  uint32_t ix;
  rt_features *one = NULL;
  rt_model *m = NULL;
  if (rt_model_builder_new(vm->tz, vm->currency, &a.b) ||
      rt_model_builder_customer(a.b, "c", 1, v->id, &ix))
    goto out;
  rt_model_builder_set_rates(a.b, view->rates);
  rt_store *st = rt__reader_take(s, &slot);
  rt_store_read_begin(st, NULL); /* every page from one snapshot */
  do
    rc = rt_store_customer_timeline(st, v->id, pages ? &cur : NULL, RT_TIMELINE_LIMIT_MAX, on_row,
                                    &a, &cur, &err);
  while (!rc && !a.oom && cur.more && ++pages < NOW_PAGES);
  rt_store_read_end(st);
  rt__reader_give(s, slot);
  if (!rc && !a.oom && !cur.more && !add_refunds(&a)) {
    rc = rt_model_build(a.b, &m, &err);
    a.b = NULL; /* consumed */
    if (!rc)
      rc = rt_model_set_as_of(&m, vm->as_of, (rt_as_of_basis)vm->as_of_basis, &err);
    if (!rc) {
      rt_customer_rows rows = {m->order_day, m->order_amount, m->norders,
                               m->refund_day, m->refund_amount, m->nrefunds,
                               m->sub_first_day, m->sub_end_day, m->nsubs};
      size_t i = rt_model_index_of(vm, v->id);
      if (rt_features_one(view->feat, i, &rows, v->attrs ? v->attrs : "{}", &one, &err))
        one = NULL;
    }
  }
out:
  rt_model_free(m);
  rows_free(&a);
  return one;
}

/* {id} of a path as ids are stored: in NFC (rt__id_check), in buf when that differs; an id
 * that is no valid id, or too long for buf, is looked up as it is (and found nowhere). */
static const char *path_id(const char *id, char *buf, size_t cap) {
  char *nfc;
  size_t n;
  const char *why;
  if (rt__id_check(id, strlen(id), &nfc, &n, &why) || !nfc)
    return id;
  if (n < cap) {
    memcpy(buf, nfc, n);
    buf[n] = '\0';
    id = buf;
  }
  free(nfc);
  return id;
}

/* rt__customer_view of a path's {id} */
static int view_of(rt_store *st, const char *id, rt_customer_view *v, rt_error *err) {
  char buf[1024];
  return rt__customer_view(st, path_id(id, buf, sizeof buf), v, err);
}

enum MHD_Result rt__get_customer(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  const char *id = rq->param[0];
  enum MHD_Result res;
  rt_customer_view v;
  rt_error err = {0};
  int slot;
  rt_store *st = rt__reader_take(s, &slot);
  int rc = view_of(st, id, &v, &err);
  rt__reader_give(s, slot);
  if (rc == RT_ENOTFOUND)
    return rt__send_error(rq, c, MHD_HTTP_NOT_FOUND, "not_found", err.msg, NULL);
  if (rc)
    return rt__send_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store", err.msg, NULL);
  /* The computed part: from the current view when no write to this customer came after it
   * (writes to other customers do not make this read wait); else at once from the customer's
   * rows against the view's base set; else (a merge or segment change since, a new attribute
   * value) from a view that includes the writes, waiting for it. */
  uint64_t all, need = rt__live_customer_generation(&s->live, v.id, &all);
  rt__view *view = view_at(s, rq, c, 0, &res);
  rt_features *one = NULL;
  if (view && view->gen < need) {
    if (all <= view->gen)
      one = customer_now(s, view, &v);
    if (!one) {
      rt__view_release(view);
      view = view_at(s, rq, c, need, &res);
    }
  }
  if (!view) {
    rt_customer_view_free(&v);
    return res;
  }
  json_t *o = json_object();
  json_object_set_new(o, "id", json_integer(v.id));
  json_object_set_new(o, "customer_id", json_string(v.ext_id));
  rt__set_time(o, "created", v.created_ms);
  json_t *attrs = v.attrs ? json_loads(v.attrs, 0, NULL) : NULL;
  json_object_set_new(o, "attributes", attrs ? attrs : json_object());
  json_t *ids = json_array();
  for (size_t i = 0; i < v.nidentities; i++) {
    const rt_identity_view *iv = &v.identities[i];
    json_t *e = json_object();
    json_object_set_new(e, "kind", json_string(iv->kind ? iv->kind : ""));
    json_object_set_new(e, "value", json_string(iv->value ? iv->value : ""));
    json_object_set_new(e, "reason", iv->reason ? json_string(iv->reason) : json_null());
    rt__set_time(e, "linked", iv->linked_ms);
    json_array_append_new(ids, e);
  }
  json_object_set_new(o, "identities", ids);
  json_object_set_new(o, "orders", json_integer(v.orders));
  json_object_set_new(o, "refunds", json_integer(v.refunds));
  json_object_set_new(o, "events", json_integer(v.events));
  rt__set_time(o, "first_order", v.first_order_ms);
  rt__set_time(o, "last_order", v.last_order_ms);
  json_t *rev = json_object(), *minor = v.revenue ? json_loads(v.revenue, 0, NULL) : NULL;
  const char *cur;
  json_t *amt;
  json_object_foreach(minor, cur, amt) { /* minor units -> the currency's major unit */
    double d = json_number_value(amt) / pow(10, rt_currency_exponent(cur));
    json_object_set_new(rev, cur, json_real(d));
  }
  json_decref(minor);
  json_object_set_new(o, "revenue", rev);
  json_object_set_new(o, "merged_into", v.merged_into ? json_integer(v.merged_into) : json_null());
  const char *segs[RT__MAX_SEGMENTS];
  size_t nsegs = 0;
  if (one) { /* the segments' rules on the customer now; pinned segments as stored */
    size_t i = rt_model_index_of(view->model, v.id);
    for (size_t k = 0; k < view->nseg && nsegs < RT__MAX_SEGMENTS; k++) {
      rt_rule *r = NULL;
      rt_error e = {0};
      if (view->seg[k].pinned ? i != SIZE_MAX && rt__segview_has(&view->seg[k], i)
                              : view->seg[k].r &&
                                    !rt__view_compile(view, one, view->seg[k].name,
                                                      view->seg[k].rule, &r, &e) &&
                                    rt_rule_match(r, 0))
        segs[nsegs++] = view->seg[k].name;
      rt_rule_free(r);
    }
    add_computed(o, one, 0, segs, nsegs, view->data_version);
    json_object_set_new(o, "computed", json_string("now"));
  } else {
    size_t i = rt_model_index_of(view->model, v.id);
    for (size_t k = 0; i != SIZE_MAX && k < view->nseg && nsegs < RT__MAX_SEGMENTS; k++)
      if (rt__segview_has(&view->seg[k], i))
        segs[nsegs++] = view->seg[k].name;
    add_computed(o, view->feat, i, segs, nsegs, view->data_version);
    json_object_set_new(o, "computed", json_string("view"));
  }
  rt_features_free(one);
  rt_customer_view_free(&v);
  rt__view_release(view);
  return rt__send_json(rq, c, MHD_HTTP_OK, o);
}

/* ---- pages of customers ---- */

/* The page of customers (of seg, or all) with store ids after ?cursor=. */
static enum MHD_Result customer_page(rt__request *rq, struct MHD_Connection *c,
                                     const rt__view *v, const rt__segview *seg) {
  enum MHD_Result res;
  long long limit, after;
  if (int_param(rq, c, "limit", 1, PAGE_MAX, PAGE_DEFAULT, &limit, &res) ||
      int_param(rq, c, "cursor", 0, INT64_MAX, 0, &after, &res))
    return res;
  const rt_model *m = v->model;
  /* the first customer after the cursor: store ids ascend */
  size_t lo = 0, hi = m->ncustomers;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m->store_id[mid] <= after)
      lo = mid + 1;
    else
      hi = mid;
  }
  json_t *o = json_object(), *arr = json_array();
  long long n = 0;
  size_t i = lo;
  int64_t last = 0;
  for (; i < m->ncustomers && n < limit; i++) {
    if (seg && !rt__segview_has(seg, i))
      continue;
    json_t *e = json_object();
    json_object_set_new(e, "id", json_integer(m->store_id[i]));
    json_object_set_new(e, "customer_id", json_string(rt_model_ext_id(m, i)));
    json_array_append_new(arr, e);
    last = m->store_id[i];
    n++;
  }
  while (i < m->ncustomers && seg && !rt__segview_has(seg, i))
    i++;
  json_object_set_new(o, "customers", arr);
  if (i < m->ncustomers) {
    char cur[24];
    snprintf(cur, sizeof cur, "%lld", (long long)last);
    json_object_set_new(o, "next_cursor", json_string(cur));
  } else {
    json_object_set_new(o, "next_cursor", json_null());
  }
  json_object_set_new(o, "data_version", json_integer(v->data_version));
  return rt__send_json(rq, c, MHD_HTTP_OK, o);
}

enum MHD_Result rt__get_customers(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  enum MHD_Result res;
  rt__view *v = view_for(s, rq, c, &res);
  if (!v)
    return res;
  const rt__segview *seg;
  if (!segment_param(rq, c, v, &seg, &res))
    res = customer_page(rq, c, v, seg);
  rt__view_release(v);
  return res;
}

enum MHD_Result rt__get_segment_members(rt_server *s, rt__request *rq,
                                        struct MHD_Connection *c) {
  enum MHD_Result res;
  rt__view *v = view_for(s, rq, c, &res);
  if (!v)
    return res;
  const rt__segview *seg = rt__view_segment(v, rq->param[0]);
  if (!seg)
    res = rt__send_error(rq, c, MHD_HTTP_NOT_FOUND, "not_found", "no such segment", NULL);
  else
    res = customer_page(rq, c, v, seg);
  rt__view_release(v);
  return res;
}

/* ---- the report and the cohorts ---- */

/* period, from, to and segment: the unit, the periods and the model (a subset for a segment:
 * *owned to free). -1 after answering 400. */
typedef struct period_args {
  rt_period_unit unit;
  int64_t from, to;
  int from_set, to_set;
  const rt_model *m;
  rt_model *owned;
} period_args;

static int period_params(rt__request *rq, struct MHD_Connection *c, const rt__view *v,
                         period_args *a, enum MHD_Result *res) {
  const char *p = rt__query(c, "period"), *from = rt__query(c, "from"), *to = rt__query(c, "to");
  rt_error err = {0};
  memset(a, 0, sizeof *a);
  a->unit = RT_PERIOD_MONTH;
  a->from = INT64_MIN;
  a->to = INT64_MAX;
  a->m = v->model;
  if (p && rt_period_unit_parse(p, &a->unit)) {
    *res = bad_param(rq, c, "period", "period wants day, week, month, quarter or year, not '%s'",
                     p);
    return -1;
  }
  if (from && rt_period_parse_label(a->unit, from, &a->from, &err)) {
    *res = bad_param(rq, c, "from", "from: %s", err.msg);
    return -1;
  }
  if (to && rt_period_parse_label(a->unit, to, &a->to, &err)) {
    *res = bad_param(rq, c, "to", "to: %s", err.msg);
    return -1;
  }
  if (from && to && a->from > a->to) {
    *res = bad_param(rq, c, "from", "from %s is after to", from);
    return -1;
  }
  a->from_set = from != NULL;
  a->to_set = to != NULL;
  const rt__segview *seg;
  if (segment_param(rq, c, v, &seg, res))
    return -1;
  if (seg) {
    if (!seg->bits) {
      *res = rt__send_error(rq, c, MHD_HTTP_CONFLICT, "segment_broken",
                            seg->error ? seg->error : "the segment's rule does not compile",
                            "segment");
      return -1;
    }
    if (rt_model_subset(v->model, seg->bits, &a->owned, &err)) {
      *res = rt__send_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", err.msg, NULL);
      return -1;
    }
    a->m = a->owned;
  }
  return 0;
}

/* A report or cohort table that could not be made: over a size limit is the request's fault
 * (400, naming the parameter that sets the size), anything else the server's. */
static enum MHD_Result compute_failed(rt__request *rq, struct MHD_Connection *c,
                                      const period_args *a, const rt_error *err) {
  if (err->code == RT_ERANGE)
    return rt__send_error(rq, c, MHD_HTTP_BAD_REQUEST, "too_large", err->msg,
                          a->from_set ? "from" : a->to_set ? "to" : "period");
  return rt__send_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", err->msg, NULL);
}

enum MHD_Result rt__get_metrics(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  enum MHD_Result res;
  rt__view *v = view_for(s, rq, c, &res);
  if (!v)
    return res;
  period_args a;
  rt_report_opts ro;
  rt_report_opts_init(&ro);
  long long baseline, inactive;
  if (period_params(rq, c, v, &a, &res) ||
      int_param(rq, c, "baseline", 0, 1000, ro.baseline, &baseline, &res) ||
      int_param(rq, c, "inactive_days", 1, 100000, ro.inactive_days, &inactive, &res)) {
    rt_model_free(a.owned);
    rt__view_release(v);
    return res;
  }
  /* the periods as `retain report` takes them: from alone runs to the last period, to alone
   * is that one period */
  ro.unit = a.unit;
  ro.from_period = a.from_set || !a.to_set ? a.from : a.to;
  ro.to_period = a.to;
  ro.baseline = (int)baseline;
  ro.inactive_days = (int)inactive;
  rt_report *rep = NULL;
  rt_error err = {0};
  if (rt_report_compute(a.m, &ro, &rep, &err)) {
    res = compute_failed(rq, c, &a, &err);
  } else {
    json_t *o = rt__report_json(rep, a.m);
    json_object_set_new(o, "data_version", json_integer(v->data_version));
    rt_report_free(rep);
    res = rt__send_json(rq, c, MHD_HTTP_OK, o);
  }
  rt_model_free(a.owned);
  rt__view_release(v);
  return res;
}

enum MHD_Result rt__get_cohorts(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  enum MHD_Result res;
  rt__view *v = view_for(s, rq, c, &res);
  if (!v)
    return res;
  period_args a;
  rt_cohort_opts co;
  rt_cohort_opts_init(&co);
  long long horizon;
  const char *mode = rt__query(c, "mode"), *pct = rt__query(c, "percent");
  int percent = pct && (!strcmp(pct, "true") || !strcmp(pct, "1"));
  if (period_params(rq, c, v, &a, &res) ||
      int_param(rq, c, "horizon", 0, 1000000, -1, &horizon, &res)) {
    rt_model_free(a.owned);
    rt__view_release(v);
    return res;
  }
  if (mode && strcmp(mode, "on") && strcmp(mode, "on-or-after") && strcmp(mode, "on_or_after")) {
    rt_model_free(a.owned);
    rt__view_release(v);
    return bad_param(rq, c, "mode", "mode wants on or on-or-after, not '%s'", mode);
  }
  if (pct && !percent && strcmp(pct, "false") && strcmp(pct, "0")) {
    rt_model_free(a.owned);
    rt__view_release(v);
    return bad_param(rq, c, "percent", "percent wants true or false, not '%s'", pct);
  }
  co.unit = a.unit;
  co.mode = mode && strcmp(mode, "on") ? RT_COHORT_ON_OR_AFTER : RT_COHORT_ON;
  co.from_period = a.from;
  co.to_period = a.to;
  co.horizon = horizon;
  rt_cohort_table *t = NULL;
  rt_error err = {0};
  if (rt_cohort_compute(a.m, &co, &t, &err)) {
    res = compute_failed(rq, c, &a, &err);
  } else {
    json_t *o = rt__cohorts_json(t, a.m, percent);
    json_object_set_new(o, "data_version", json_integer(v->data_version));
    rt_cohort_table_free(t);
    res = rt__send_json(rq, c, MHD_HTTP_OK, o);
  }
  rt_model_free(a.owned);
  rt__view_release(v);
  return res;
}

/* ---- GET /v1/export: CSV streamed a block at a time ----
 *
 * Each block is formatted from the newest view, taken for that block only: a slow reader
 * holds no view between blocks, so however long it takes it never keeps an old model alive
 * (on 2 M customers a view is ~700 MB). The stream remembers the last customer written by its
 * store id and goes on after it in the next view: each customer appears once, in store order,
 * with its features as of the block it is in. At most max_exports streams run at once. */

typedef struct export_stream {
  rt_server *s;
  char *segment;      /* only its members (NULL: everyone) */
  char **names;       /* the columns, customer_id first */
  size_t ncols;
  size_t *cols;       /* their indexes in the view of the block being written */
  int header_done;
  int64_t next_id;    /* the first store id still to write */
  char *pending;      /* a row that did not fit in the last block */
  size_t npending, pending_off;
} export_stream;

/* A cell at *p (rt_csv_cell: quoted when needed, a text cell guarded against formula
 * injection); *p = end when it may not fit, and the line is written again in a larger buffer. */
static void csv_field(char **p, char *end, const char *s, rt_csv_kind kind) {
  if ((size_t)(end - *p) < RT_CSV_CELL_ROOM(strlen(s))) {
    *p = end;
    return;
  }
  *p += rt_csv_cell(*p, s, kind);
}

/* One line (the header when i == SIZE_MAX) of the view's features f into buf; its length, or 0
 * when it did not fit. A column the view lacks is empty. */
static size_t export_line(const export_stream *x, const rt_features *f, size_t i, char *buf,
                          size_t cap) {
  char *p = buf, *end = buf + cap - 1;
  char num[40];
  for (size_t k = 0; k < x->ncols && p < end; k++) {
    if (k)
      *p++ = ',';
    const char *s = num;
    num[0] = 0;
    const rt_column *col = x->cols[k] == SIZE_MAX ? NULL : &f->cols[x->cols[k]];
    /* names (attributes' come from the data) and text values are text; the rest numbers */
    rt_csv_kind kind =
        i == SIZE_MAX || (col && col->type == RT_TYPE_TEXT) ? RT_CSV_TEXT : RT_CSV_NUMBER;
    if (i == SIZE_MAX) {
      s = x->names[k];
    } else if (!col) {
    } else if (col->type == RT_TYPE_TEXT) {
      s = col->code[i] < col->ndict ? col->dict[col->code[i]] : "";
    } else if (col->type == RT_TYPE_DATE) {
      if (col->day[i] != INT32_MIN)
        rt_day_format(col->day[i], num, sizeof num);
    } else if (!isnan(col->num[i])) {
      double d = col->num[i];
      if (col->type == RT_TYPE_BOOL)
        s = d != 0 ? "true" : "false";
      else if (d == floor(d) && fabs(d) < 1e15)
        snprintf(num, sizeof num, "%.0f", d);
      else
        snprintf(num, sizeof num, "%.10g", d);
    }
    csv_field(&p, end, s, kind);
  }
  if (p >= end)
    return 0;
  *p++ = '\n';
  return (size_t)(p - buf);
}

/* the view's index of each column name */
static void export_resolve(export_stream *x, const rt_features *f) {
  for (size_t k = 0; k < x->ncols; k++) {
    x->cols[k] = SIZE_MAX;
    for (size_t j = 0; j < f->ncols && x->cols[k] == SIZE_MAX; j++)
      if (!strcmp(f->cols[j].name, x->names[k]))
        x->cols[k] = j;
  }
}

/* the first customer of m with a store id of at least id */
static size_t first_from(const rt_model *m, int64_t id) {
  size_t lo = 0, hi = m->ncustomers;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m->store_id[mid] < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* A row too long for what is left of a block: held whole, to be sent over the next ones. */
static int export_hold(export_stream *x, const rt_features *f, size_t i) {
  for (size_t cap = 4096; cap <= (1u << 26); cap *= 4) {
    char *row = rt_malloc(cap);
    if (!row)
      return RT_ENOMEM;
    size_t len = export_line(x, f, i, row, cap);
    if (len) {
      x->pending = row;
      x->npending = len;
      x->pending_off = 0;
      return 0;
    }
    rt_free(row);
  }
  return RT_ERANGE;
}

static ssize_t export_read(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  export_stream *x = cls;
  size_t n = 0;
  if (x->pending) { /* the rest of a long row first */
    size_t k = x->npending - x->pending_off;
    if (k > max)
      k = max;
    memcpy(buf, x->pending + x->pending_off, k);
    x->pending_off += k;
    if (x->pending_off < x->npending)
      return (ssize_t)k;
    rt_free(x->pending);
    x->pending = NULL;
    n = k;
  }
  rt__view *v = rt__live_get(&x->s->live, 0, 0);
  if (!v)
    return n ? (ssize_t)n : MHD_CONTENT_READER_END_WITH_ERROR;
  const rt_model *m = v->model;
  const rt__segview *seg = NULL;
  if (x->segment && (!(seg = rt__view_segment(v, x->segment)) || !seg->bits)) {
    rt__view_release(v); /* the segment was deleted, or broke, meanwhile */
    return n ? (ssize_t)n : MHD_CONTENT_READER_END_WITH_ERROR;
  }
  export_resolve(x, v->feat);
  ssize_t out = 0;
  size_t i = first_from(m, x->next_id);
  for (;;) {
    if (x->header_done) {
      while (i < m->ncustomers && seg && !rt__segview_has(seg, i))
        i++;
      if (i >= m->ncustomers) {
        x->next_id = INT64_MAX;
        out = n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
        break;
      }
    }
    size_t row = x->header_done ? i : SIZE_MAX;
    size_t len = export_line(x, v->feat, row, buf + n, max - n);
    if (!len) { /* it does not fit: send what there is, or hold a long row */
      int rc = n ? 0 : export_hold(x, v->feat, row);
      if (rc) {
        out = MHD_CONTENT_READER_END_WITH_ERROR;
        break;
      }
      if (!n) { /* held: its first part now */
        size_t k = x->npending < max ? x->npending : max;
        memcpy(buf, x->pending, k);
        x->pending_off = k;
        n = k;
        if (x->pending_off == x->npending) {
          rt_free(x->pending);
          x->pending = NULL;
        }
        if (x->header_done)
          x->next_id = m->store_id[i] + 1;
        x->header_done = 1;
      }
      out = (ssize_t)n;
      break;
    }
    n += len;
    if (x->header_done)
      x->next_id = m->store_id[i++] + 1;
    x->header_done = 1;
  }
  rt__view_release(v);
  return out;
}

static void export_free(void *cls) {
  export_stream *x = cls;
  for (size_t k = 0; k < x->ncols; k++)
    rt_free(x->names[k]);
  rt_free(x->names);
  rt_free(x->cols);
  rt_free(x->segment);
  rt_free(x->pending);
  if (x->s)
    atomic_fetch_sub(&x->s->exports, 1);
  rt_free(x);
}

/* the columns: customer_id first, then the ones asked for (all by default), by name */
static int export_columns(export_stream *x, const rt_features *f, const char *fields, char *bad,
                          size_t badcap) {
  x->names = rt_calloc(f->ncols + 1, sizeof *x->names);
  x->cols = rt_calloc(f->ncols + 1, sizeof *x->cols);
  if (!x->names || !x->cols)
    return RT_ENOMEM;
  size_t *pick = x->cols, npick = 0; /* indexes first, names after */
  for (size_t k = 0; k < f->ncols; k++)
    if (!strcmp(f->cols[k].name, "customer_id"))
      pick[npick++] = k;
  if (!fields) {
    for (size_t k = 0; k < f->ncols; k++)
      if (strcmp(f->cols[k].name, "customer_id"))
        pick[npick++] = k;
  } else {
    for (const char *p = fields; *p;) {
      size_t n = strcspn(p, ",");
      size_t k = 0;
      while (k < f->ncols && (strlen(f->cols[k].name) != n || strncmp(f->cols[k].name, p, n)))
        k++;
      if (k == f->ncols) {
        snprintf(bad, badcap, "%.*s", (int)n, p);
        return RT_ENOTFOUND;
      }
      if (strcmp(f->cols[k].name, "customer_id") && npick <= f->ncols)
        pick[npick++] = k;
      p += n + (p[n] == ',');
    }
  }
  for (size_t k = 0; k < npick; k++) {
    if (!(x->names[k] = rt_strdup(f->cols[pick[k]].name)))
      return RT_ENOMEM;
    x->ncols = k + 1;
  }
  return 0;
}

enum MHD_Result rt__get_export(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  if (atomic_fetch_add(&s->exports, 1) >= s->cfg.max_exports) {
    atomic_fetch_sub(&s->exports, 1);
    char msg[120];
    snprintf(msg, sizeof msg, "%d exports are running, as many as the server allows at once; "
                              "retry when one has finished",
             s->cfg.max_exports);
    return rt__send_error(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, "busy", msg, NULL);
  }
  enum MHD_Result res;
  export_stream *x = rt_calloc(1, sizeof *x);
  if (!x) {
    atomic_fetch_sub(&s->exports, 1);
    return MHD_NO;
  }
  x->s = s;
  rt__view *v = view_for(s, rq, c, &res);
  if (!v) {
    export_free(x);
    return res;
  }
  char bad[128];
  const rt__segview *seg;
  int rc = segment_param(rq, c, v, &seg, &res);
  if (!rc && seg && !(x->segment = rt_strdup(seg->name)))
    rc = RT_ENOMEM, res = MHD_NO;
  if (!rc && (rc = export_columns(x, v->feat, rt__query(c, "fields"), bad, sizeof bad))) {
    char msg[200];
    snprintf(msg, sizeof msg, "no feature named '%s' (GET /v1/customers/{id} lists them)", bad);
    res = rc == RT_ENOMEM ? MHD_NO
                          : rt__send_error(rq, c, MHD_HTTP_BAD_REQUEST, "invalid", msg, "fields");
  }
  rt__view_release(v); /* each block takes the newest view */
  if (rc) {
    export_free(x);
    return res;
  }
  struct MHD_Response *r =
      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, export_read, x, export_free);
  if (!r) {
    export_free(x);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", "text/csv; charset=utf-8");
  MHD_add_response_header(r, "Content-Disposition", "attachment; filename=\"customers.csv\"");
  rt__cors_headers(rq, r);
  rq->status = MHD_HTTP_OK;
  res = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return res;
}

/* ---- segments ---- */

static json_t *segment_json(const rt__view *v, const rt__segview *sg) {
  json_t *o = json_object();
  json_object_set_new(o, "name", json_string(sg->name));
  json_object_set_new(o, "rule", json_string(sg->rule));
  json_object_set_new(o, "description",
                      sg->description ? json_string(sg->description) : json_null());
  json_object_set_new(o, "members", sg->bits ? json_integer((json_int_t)sg->count) : json_null());
  json_object_set_new(o, "as_of", sg->as_of ? json_string(sg->as_of) : json_null());
  json_object_set_new(o, "judged", json_string(sg->pinned ? "pinned" : "live"));
  json_object_set_new(o, "customers", json_integer((json_int_t)v->model->ncustomers));
  if (sg->error)
    json_object_set_new(o, "error", json_string(sg->error));
  rt__set_time(o, "created", sg->created_ms);
  rt__set_time(o, "updated", sg->updated_ms);
  json_object_set_new(o, "data_version", json_integer(v->data_version));
  return o;
}

enum MHD_Result rt__list_segments(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  enum MHD_Result res;
  rt__view *v = view_for(s, rq, c, &res);
  if (!v)
    return res;
  json_t *o = json_object(), *arr = json_array();
  for (size_t k = 0; k < v->nseg; k++)
    json_array_append_new(arr, segment_json(v, &v->seg[k]));
  json_object_set_new(o, "segments", arr);
  rt__view_release(v);
  return rt__send_json(rq, c, MHD_HTTP_OK, o);
}

/* r: the rule just written, whose warnings the answer carries (NULL: none) */
static enum MHD_Result answer_segment(rt_server *s, rt__request *rq, struct MHD_Connection *c,
                                      const char *name, unsigned status, const rt_rule *r) {
  enum MHD_Result res;
  rt__view *v = view_for(s, rq, c, &res);
  if (!v)
    return res;
  const rt__segview *sg = rt__view_segment(v, name);
  if (sg) {
    json_t *o = segment_json(v, sg);
    if (r && rt_rule_nwarnings(r)) {
      json_t *w = json_array();
      for (size_t i = 0; i < rt_rule_nwarnings(r); i++)
        json_array_append_new(w, json_string(rt_rule_warning(r, i)));
      json_object_set_new(o, "warnings", w);
    }
    res = rt__send_json(rq, c, status, o);
  }
  else
    res = rt__send_error(rq, c, MHD_HTTP_NOT_FOUND, "not_found", "no such segment", NULL);
  rt__view_release(v);
  return res;
}

enum MHD_Result rt__get_segment(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  return answer_segment(s, rq, c, rq->param[0], MHD_HTTP_OK, NULL);
}

/* a change to the segments, made by the writer in a transaction of its own */
typedef enum { SEG_CREATE, SEG_UPDATE, SEG_DELETE } seg_op;
typedef struct seg_change {
  seg_op op;
  const char *name, *rule, *description;
} seg_change;

static int change_segment(rt_store *st, void *ctx, rt_error *err) {
  seg_change *ch = ctx;
  int64_t id;
  if (ch->op == SEG_CREATE)
    return rt_store_segment_create(st, ch->name, ch->rule, ch->description, &id, err);
  rt_segment_info info;
  int rc = rt_store_segment_get(st, ch->name, &info, err);
  if (rc)
    return rc;
  if (ch->op == SEG_DELETE)
    rc = rt_store_segment_delete(st, info.id, err);
  else
    rc = rt_store_segment_update(st, info.id, ch->rule ? ch->rule : info.rule,
                                 ch->description ? ch->description : info.description, err);
  rt_segment_info_free(&info);
  return rc;
}

/* The body's string field key (NULL when absent); -1 after answering 400. */
static int body_string(rt__request *rq, struct MHD_Connection *c, json_t *body, const char *key,
                       const char **out, enum MHD_Result *res) {
  json_t *x = json_object_get(body, key);
  *out = NULL;
  if (!x || json_is_null(x))
    return 0;
  if (!json_is_string(x)) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a string", key);
    *res = rt__send_error(rq, c, MHD_HTTP_BAD_REQUEST, "invalid", msg, key);
    return -1;
  }
  *out = json_string_value(x);
  return 0;
}

/* POST /v1/segments and PUT /v1/segments/{name}: checked against the current features, then
 * stored; the answer comes from a view that includes it (its members evaluated) */
static enum MHD_Result write_segment(rt_server *s, rt__request *rq, struct MHD_Connection *c,
                                     seg_op op) {
  json_error_t je;
  json_t *body = json_loadb(rq->body ? rq->body : "", rq->len, JSON_REJECT_DUPLICATES, &je);
  enum MHD_Result res;
  if (!body || !json_is_object(body)) {
    char msg[240];
    snprintf(msg, sizeof msg, "the body must be a JSON object%s%s", body ? "" : ": ",
             body ? "" : je.text);
    json_decref(body);
    return rt__send_error(rq, c, MHD_HTTP_BAD_REQUEST, "invalid", msg, "$");
  }
  seg_change ch = {op, op == SEG_CREATE ? NULL : rq->param[0], NULL, NULL};
  if ((op == SEG_CREATE && body_string(rq, c, body, "name", &ch.name, &res)) ||
      body_string(rq, c, body, "rule", &ch.rule, &res) ||
      body_string(rq, c, body, "description", &ch.description, &res)) {
    json_decref(body);
    return res;
  }
  const char *missing = !ch.name ? "name" : op == SEG_CREATE && !ch.rule ? "rule" : NULL;
  if (missing) {
    json_decref(body);
    return rt__send_error(rq, c, MHD_HTTP_BAD_REQUEST, "invalid", "a required field is missing",
                          missing);
  }
  if (!rt_segment_valid_name(ch.name)) {
    json_decref(body);
    return rt__send_error(rq, c, MHD_HTTP_BAD_REQUEST, "invalid",
                          "a segment name is 1 to 64 letters, digits, _ - and ., starting with "
                          "a letter or digit",
                          "name");
  }
  rt__view *v = view_for(s, rq, c, &res);
  if (!v) {
    json_decref(body);
    return res;
  }
  const rt__segview *old = rt__view_segment(v, ch.name);
  int exists = old != NULL;
  rt_error err = {0};
  rt_rule *r = NULL;
  if (op == SEG_UPDATE && !exists) {
    res = rt__send_error(rq, c, MHD_HTTP_NOT_FOUND, "not_found", "no such segment", NULL);
  } else if (op == SEG_UPDATE && old->pinned) {
    res = rt__send_error(rq, c, MHD_HTTP_CONFLICT, "pinned",
                         "the segment is pinned to a day or made with its own feature settings; "
                         "change it with `retain segment update` (or make it live with --live)",
                         "name");
  } else if (op == SEG_CREATE && exists) {
    res = rt__send_error(rq, c, MHD_HTTP_CONFLICT, "exists", "a segment of that name exists",
                         "name");
  } else if (ch.rule && rt__view_compile(v, NULL, ch.name, ch.rule, &r, &err)) {
    res = rt__send_error(rq, c, MHD_HTTP_BAD_REQUEST, "invalid_rule", err.msg, "rule");
  } else {
    rt__job job = {.fn = change_segment, .ctx = &ch, .bump = 1};
    rt__writer_submit(&s->w, &job);
    if (job.rc == RT_EEXISTS)
      res = rt__send_error(rq, c, MHD_HTTP_CONFLICT, "exists", job.err.msg, "name");
    else if (job.rc == RT_EBUSY)
      res = rt__send_error(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", job.err.msg,
                           NULL);
    else if (job.rc)
      res = rt__send_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store", job.err.msg, NULL);
    else
      res = answer_segment(s, rq, c, ch.name, op == SEG_CREATE ? 201 : MHD_HTTP_OK, r);
  }
  rt_rule_free(r);
  rt__view_release(v);
  json_decref(body);
  return res;
}

enum MHD_Result rt__create_segment(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  return write_segment(s, rq, c, SEG_CREATE);
}

enum MHD_Result rt__update_segment(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  return write_segment(s, rq, c, SEG_UPDATE);
}

enum MHD_Result rt__delete_segment(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  seg_change ch = {SEG_DELETE, rq->param[0], NULL, NULL};
  rt__job job = {.fn = change_segment, .ctx = &ch, .bump = 1};
  rt__writer_submit(&s->w, &job);
  if (job.rc == RT_ENOTFOUND)
    return rt__send_error(rq, c, MHD_HTTP_NOT_FOUND, "not_found", "no such segment", NULL);
  if (job.rc)
    return rt__send_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store", job.err.msg, NULL);
  json_t *o = json_object();
  json_object_set_new(o, "deleted", json_string(ch.name));
  return rt__send_json(rq, c, MHD_HTTP_OK, o);
}

/* ---- a customer's timeline, merges ---- */

/* The store id of {id}: the customer's own id (a merged-away one resolves to the survivor),
 * else retain's id. RT_ENOTFOUND when neither. */
static int resolve(rt_store *st, const char *id, int64_t *out, rt_error *err) {
  char buf[1024];
  id = path_id(id, buf, sizeof buf);
  int rc = rt_store_customer_find(st, id, strlen(id), out, err);
  if (rc == RT_ENOTFOUND) {
    rt_customer_view v;
    rt_error_clear(err);
    if (!(rc = rt__customer_view(st, id, &v, err))) {
      *out = v.id;
      rt_customer_view_free(&v);
    }
  }
  return rc;
}

static json_t *money_json(int64_t minor, const char *currency) {
  return json_real((double)minor / pow(10, rt_currency_exponent(currency ? currency : "")));
}

static int on_item(void *ctx, const rt_timeline_item *it) {
  json_t *arr = ctx, *o = json_object();
  json_object_set_new(o, "kind", json_string(it->kind));
  rt__set_time(o, "time", it->ts_ms);
  if (!strcmp(it->kind, "event")) {
    json_object_set_new(o, "type", json_string(it->type ? it->type : ""));
    json_object_set_new(o, "message_id", it->ext_id ? json_string(it->ext_id) : json_null());
    json_t *p = it->props ? json_loads(it->props, 0, NULL) : NULL;
    json_object_set_new(o, "properties", p ? p : json_object());
  } else {
    const char *key = !strcmp(it->kind, "order")    ? "order_id"
                      : !strcmp(it->kind, "refund") ? "refund_id"
                                                    : "subscription_id";
    json_object_set_new(o, key, json_string(it->ext_id ? it->ext_id : ""));
    json_object_set_new(o, "amount", money_json(it->amount, it->currency));
    json_object_set_new(o, "currency", json_string(it->currency ? it->currency : ""));
    if (!strcmp(it->kind, "refund")) {
      json_object_set_new(o, "order_id",
                          it->order_ext_id ? json_string(it->order_ext_id) : json_null());
      json_object_set_new(o, "reason", it->reason ? json_string(it->reason) : json_null());
    } else if (!strcmp(it->kind, "subscription")) {
      json_object_set_new(o, "plan", it->plan ? json_string(it->plan) : json_null());
      rt__set_time(o, "canceled", it->canceled_ms);
    }
  }
  json_array_append_new(arr, o);
  return 0;
}

enum MHD_Result rt__get_timeline(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  enum MHD_Result res;
  long long limit;
  if (int_param(rq, c, "limit", 1, RT_TIMELINE_LIMIT_MAX, 50, &limit, &res))
    return res;
  const char *token = rt__query(c, "cursor");
  rt_timeline_cursor after, next;
  rt_error err = {0};
  if (token && rt_timeline_cursor_parse(token, strlen(token), &after, &err))
    return rt__send_error(rq, c, MHD_HTTP_BAD_REQUEST, "invalid", err.msg, "cursor");
  json_t *items = json_array();
  int64_t id = 0;
  int slot;
  rt_store *st = rt__reader_take(s, &slot);
  int rc = resolve(st, rq->param[0], &id, &err);
  if (!rc)
    rc = rt_store_customer_timeline(st, id, token ? &after : NULL, (size_t)limit, on_item, items,
                                    &next, &err);
  rt__reader_give(s, slot);
  if (rc) {
    json_decref(items);
    if (rc == RT_ENOTFOUND)
      return rt__send_error(rq, c, MHD_HTTP_NOT_FOUND, "not_found", "no such customer", NULL);
    return rt__send_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store", err.msg, NULL);
  }
  json_t *o = json_object();
  json_object_set_new(o, "id", json_integer(id));
  json_object_set_new(o, "items", items);
  char tok[RT_TIMELINE_TOKEN_SIZE];
  if (next.more && !rt_timeline_cursor_format(&next, tok, sizeof tok))
    json_object_set_new(o, "next_cursor", json_string(tok));
  else
    json_object_set_new(o, "next_cursor", json_null());
  return rt__send_json(rq, c, MHD_HTTP_OK, o);
}

typedef struct merge_job {
  int64_t from, into, merge_id;
  const char *reason;
} merge_job;

static int do_merge(rt_store *st, void *ctx, rt_error *err) {
  merge_job *m = ctx;
  return rt_store_customer_merge(st, m->from, m->into, m->reason, rt__now_ms(), &m->merge_id,
                                 err);
}

static int do_unmerge(rt_store *st, void *ctx, rt_error *err) {
  merge_job *m = ctx;
  return rt_store_customer_unmerge(st, m->merge_id, rt__now_ms(), err);
}

static enum MHD_Result merge_failed(rt__request *rq, struct MHD_Connection *c, const rt__job *j,
                                    const char *field) {
  if (j->rc == RT_EINVAL)
    return rt__send_error(rq, c, MHD_HTTP_CONFLICT, "conflict", j->err.msg, field);
  if (j->rc == RT_ENOTFOUND)
    return rt__send_error(rq, c, MHD_HTTP_NOT_FOUND, "not_found", j->err.msg, field);
  if (j->rc == RT_EBUSY)
    return rt__send_error(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", j->err.msg, NULL);
  return rt__send_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store", j->err.msg, NULL);
}

/* POST /v1/customers/{id}/merge {"from": "other id", "reason": "..."}: the other customer
 * becomes part of this one (explicitly: identities never merge customers by themselves) */
enum MHD_Result rt__merge_customer(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  json_error_t je;
  json_t *body = json_loadb(rq->body ? rq->body : "", rq->len, JSON_REJECT_DUPLICATES, &je);
  enum MHD_Result res;
  merge_job m = {0, 0, 0, NULL};
  const char *from = NULL;
  if (!body || !json_is_object(body)) {
    json_decref(body);
    return rt__send_error(rq, c, MHD_HTTP_BAD_REQUEST, "invalid",
                          "the body must be a JSON object {\"from\": id, \"reason\": text}", "$");
  }
  if (body_string(rq, c, body, "from", &from, &res) ||
      body_string(rq, c, body, "reason", &m.reason, &res)) {
    json_decref(body);
    return res;
  }
  if (!from) {
    json_decref(body);
    return rt__send_error(rq, c, MHD_HTTP_BAD_REQUEST, "invalid",
                          "from: the id of the customer to merge into this one is required",
                          "from");
  }
  rt_error err = {0};
  int slot;
  rt_store *st = rt__reader_take(s, &slot);
  int rc = resolve(st, rq->param[0], &m.into, &err), rc2 = resolve(st, from, &m.from, &err);
  rt__reader_give(s, slot);
  if (rc || rc2) {
    json_decref(body);
    return rt__send_error(rq, c, MHD_HTTP_NOT_FOUND, "not_found", "no such customer",
                          rc ? NULL : "from");
  }
  if (!m.reason)
    m.reason = "merged through the API";
  rt__job job = {.fn = do_merge, .ctx = &m, .bump = 1};
  rt__writer_submit(&s->w, &job);
  json_decref(body); /* m.reason pointed into it */
  if (job.rc)
    return merge_failed(rq, c, &job, "from");
  json_t *o = json_object();
  json_object_set_new(o, "merge_id", json_integer(m.merge_id));
  json_object_set_new(o, "into", json_integer(m.into));
  json_object_set_new(o, "from", json_integer(m.from));
  return rt__send_json(rq, c, MHD_HTTP_OK, o);
}

/* POST /v1/customers/{id}/unmerge: {id} is a customer merged into another; the merge is
 * undone (its rows go back) */
enum MHD_Result rt__unmerge_customer(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  const char *id = rq->param[0];
  rt_customer_view v;
  rt_error err = {0};
  int slot;
  rt_store *st = rt__reader_take(s, &slot);
  int rc = view_of(st, id, &v, &err);
  rt__reader_give(s, slot);
  if (rc == RT_ENOTFOUND)
    return rt__send_error(rq, c, MHD_HTTP_NOT_FOUND, "not_found", "no such customer", NULL);
  if (rc)
    return rt__send_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store", err.msg, NULL);
  merge_job m = {v.id, v.merged_into, v.merge_id, NULL};
  rt_customer_view_free(&v);
  if (!m.merge_id)
    return rt__send_error(rq, c, MHD_HTTP_CONFLICT, "not_merged",
                          "this customer is not merged into another", NULL);
  rt__job job = {.fn = do_unmerge, .ctx = &m, .bump = 1};
  rt__writer_submit(&s->w, &job);
  if (job.rc)
    return merge_failed(rq, c, &job, NULL);
  json_t *o = json_object();
  json_object_set_new(o, "unmerged", json_integer(m.merge_id));
  json_object_set_new(o, "id", json_integer(m.from));
  json_object_set_new(o, "from", json_integer(m.into));
  return rt__send_json(rq, c, MHD_HTTP_OK, o);
}
