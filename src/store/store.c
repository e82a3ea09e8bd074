/* store.c - the public rt_store_* functions: argument checks, read-only refusal, implicit
 * transactions for writes made outside rt_store_begin/commit, and the transaction and bulk-mode
 * state; the storage work is dispatched to a backend through rt_store_ops (store_internal.h).
 * docs/STORE.md describes the schema and the rules. */
#include "store/store_internal.h"

#include <retain/alloc.h>
#include <retain/datetime.h>
#include <retain/error.h>
#include <retain/sha256.h>

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

const char *const rt__store_table_names[RT_TABLE__COUNT] = {
#define RT__TABLE_NAME(name) #name,
    RT_STORE_TABLES(RT__TABLE_NAME)
#undef RT__TABLE_NAME
};

enum { BULK_OFF, BULK_ON, BULK_FAILED };

struct rt_store {
  const rt_store_ops *ops;
  rt_store_backend *be;
  char *path;
  int read_only;
  int in_txn; /* inside rt_store_begin .. commit/rollback */
  int in_read; /* inside rt_store_read_begin .. end */
  int bulk;   /* BULK_*: FAILED after bulk_end could not rebuild, until rollback */
  int wipe;   /* an erasure ran in this transaction: checkpoint the WAL after the commit */
};

/* The backend a new store uses. One today; a config field will choose when there are two. */
static const rt_store_ops *default_ops(void) { return &rt__store_sqlite_ops; }

/* ---- helpers ---- */

/* Lets every function fill err even when the caller passed NULL. */
#define LOCAL_ERR(err)             \
  rt_error err_local_;             \
  if (!(err)) {                    \
    rt_error_clear(&err_local_);   \
    (err) = &err_local_;           \
  }

/* Every failure carries a message: a backend that returned a bare code gets the code's text. */
static int finish(rt_store *st, int rc, rt_error *err) {
  (void)st;
  if (rc < 0 && (err->code != rc || !err->msg[0]))
    rt_error_set(err, rc, "%s", rt_strerror(rc));
  return rc;
}

static int bad(rt_error *err, const char *what) {
  return rt_error_set(err, RT_EINVAL, "store: %s", what);
}

int rt_store_read_begin(rt_store *st, rt_error *err) {
  LOCAL_ERR(err);
  if (!st)
    return bad(err, "rt_store_read_begin: NULL argument");
  if (st->in_txn || st->in_read)
    return rt_error_set(err, RT_EINVAL, "store: a read transaction inside another transaction");
  int rc = finish(st, st->ops->read_begin(st->be, err), err);
  if (!rc)
    st->in_read = 1;
  return rc;
}

void rt_store_read_end(rt_store *st) {
  if (st && st->in_read) {
    st->ops->read_end(st->be);
    st->in_read = 0;
  }
}

/* Checks that a write may happen and starts an implicit transaction when none is open; *implicit
 * says whether write_leave must end it. */
static int write_enter(rt_store *st, int *implicit, rt_error *err) {
  *implicit = 0;
  if (st->read_only)
    return rt_error_set(err, RT_EINVAL, "store '%s' is open read-only", st->path);
  if (st->bulk == BULK_FAILED)
    return rt_error_set(err, RT_EINVAL,
                        "store: the bulk load failed; the transaction must be rolled back");
  if (st->in_txn)
    return 0;
  int rc = st->ops->begin(st->be, err);
  if (rc)
    return rc;
  *implicit = 1;
  return 0;
}

static int write_leave(rt_store *st, int implicit, int rc, rt_error *err) {
  if (!implicit)
    return rc;
  if (!rc)
    rc = st->ops->commit(st->be, err);
  if (rc)
    st->ops->rollback(st->be);
  return rc;
}

static int valid_json_object(const char *text) {
  json_error_t je;
  json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
  int ok = j && json_is_object(j);
  json_decref(j);
  return ok;
}

static int valid_currency(const char *c) {
  return c && c[0] && c[1] && c[2] && !c[3];
}

/* ---- open, close, versions ---- */

int rt_store_open(const rt_store_config *cfg, rt_store **out, rt_error *err) {
  LOCAL_ERR(err);
  if (!out)
    return bad(err, "rt_store_open: out is NULL");
  *out = NULL;
  if (!cfg || !cfg->path || !cfg->path[0])
    return bad(err, "rt_store_open: no path");
  rt_store *st = rt_calloc(1, sizeof *st);
  char *path = rt_strdup(cfg->path);
  if (!st || !path) {
    rt_free(st);
    rt_free(path);
    return rt_error_set(err, RT_ENOMEM, "%s: out of memory", cfg->path);
  }
  st->ops = default_ops();
  st->path = path;
  st->read_only = cfg->read_only != 0;
  int rc = st->ops->open(cfg, &st->be, err);
  if (rc) {
    rt_free(st->path);
    rt_free(st);
    return finish(NULL, rc, err);
  }
  *out = st;
  return 0;
}

void rt_store_close(rt_store *st) {
  if (!st)
    return;
  if (st->in_txn)
    st->ops->rollback(st->be); /* an unfinished transaction is not committed */
  st->ops->close(st->be);
  rt_free(st->path);
  rt_free(st);
}

int rt_store_schema_version(rt_store *st) {
  assert(st);
  return st->ops->schema_version(st->be);
}

int rt_store_latest_schema_version(void) { return default_ops()->latest_schema_version(); }

int rt_store_check_files(rt_store *st, rt_error *err) {
  if (!st)
    return bad(err, "rt_store_check_files: NULL argument");
  return finish(st, st->ops->check_files(st->be, err), err);
}

int rt_store_data_version(rt_store *st, int64_t *out, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !out)
    return bad(err, "rt_store_data_version: NULL argument");
  return finish(st, st->ops->data_version(st->be, out, err), err);
}

/* ---- transactions ---- */

int rt_store_begin(rt_store *st, rt_error *err) {
  LOCAL_ERR(err);
  if (!st)
    return bad(err, "rt_store_begin: store is NULL");
  if (st->read_only)
    return rt_error_set(err, RT_EINVAL, "store '%s' is open read-only", st->path);
  if (st->in_txn)
    return bad(err, "rt_store_begin: a transaction is already open");
  int rc = st->ops->begin(st->be, err);
  if (rc)
    return finish(st, rc, err);
  st->in_txn = 1;
  st->bulk = BULK_OFF;
  return 0;
}

int rt_store_commit(rt_store *st, rt_error *err) {
  LOCAL_ERR(err);
  if (!st)
    return bad(err, "rt_store_commit: store is NULL");
  if (!st->in_txn)
    return bad(err, "rt_store_commit: no transaction is open");
  int rc = 0;
  if (st->bulk == BULK_FAILED)
    rc = rt_error_set(err, RT_EEXISTS,
                      "store: the bulk load found duplicate keys; the transaction was rolled back");
  else if (st->bulk == BULK_ON) /* a forgotten bulk_end must not leave the indexes dropped */
    rc = st->ops->bulk_end(st->be, err);
  if (!rc)
    rc = st->ops->commit(st->be, err);
  if (rc)
    st->ops->rollback(st->be);
  else if (st->wipe) /* the old pages of an erasure out of the WAL (best effort) */
    st->ops->checkpoint(st->be);
  st->in_txn = 0;
  st->bulk = BULK_OFF;
  st->wipe = 0;
  return finish(st, rc, err);
}

void rt_store_rollback(rt_store *st) {
  if (!st || !st->in_txn)
    return;
  st->ops->rollback(st->be);
  st->in_txn = 0;
  st->bulk = BULK_OFF;
  st->wipe = 0;
}

/* ---- meta ---- */

int rt_store_meta_get(rt_store *st, const char *key, char **out, rt_error *err) {
  LOCAL_ERR(err);
  if (out)
    *out = NULL;
  if (!st || !key || !out)
    return bad(err, "rt_store_meta_get: NULL argument");
  return finish(st, st->ops->meta_get(st->be, key, out, err), err);
}

int rt_store_meta_set(rt_store *st, const char *key, const char *value, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !key || !key[0] || !value)
    return bad(err, "rt_store_meta_set: NULL or empty argument");
  if (strcmp(key, "data_version") == 0)
    return bad(err, "rt_store_meta_set: 'data_version' is kept by the store");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->meta_set(st->be, key, value, err);
  return finish(st, write_leave(st, implicit, rc, err), err);
}

/* ---- customers ---- */

int rt_store_customer_find(rt_store *st, const char *ext_id, size_t len, int64_t *out_id,
                           rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !ext_id || !out_id)
    return bad(err, "rt_store_customer_find: NULL argument");
  return finish(st, st->ops->customer_find(st->be, ext_id, len, out_id, err), err);
}

int rt_store_customer_upsert(rt_store *st, const char *ext_id, size_t len, int64_t created_ms,
                             int64_t *out_id, int *created, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !ext_id || !out_id)
    return bad(err, "rt_store_customer_upsert: NULL argument");
  if (!len)
    return bad(err, "rt_store_customer_upsert: empty customer id");
  int c = 0, implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->customer_upsert(st->be, ext_id, len, created_ms, out_id, &c, err);
  rc = write_leave(st, implicit, rc, err);
  if (created)
    *created = rc ? 0 : c;
  return finish(st, rc, err);
}

int rt_store_customer_insert(rt_store *st, const char *ext_id, size_t len, int64_t created_ms,
                             int64_t *out_id, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !ext_id || !out_id)
    return bad(err, "rt_store_customer_insert: NULL argument");
  if (!len)
    return bad(err, "rt_store_customer_insert: empty customer id");
  if (st->bulk != BULK_ON)
    return bad(err, "rt_store_customer_insert: only in bulk mode");
  return finish(st, st->ops->customer_insert(st->be, ext_id, len, created_ms, out_id, err), err);
}

int rt_store_customer_set_attrs(rt_store *st, int64_t customer, const char *json_obj,
                                rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !json_obj)
    return bad(err, "rt_store_customer_set_attrs: NULL argument");
  if (!valid_json_object(json_obj))
    return bad(err, "customer attributes must be a JSON object");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->customer_set_attrs(st->be, customer, json_obj, err);
  return finish(st, write_leave(st, implicit, rc, err), err);
}

int rt_store_identity_link(rt_store *st, const char *kind, const char *value, int64_t customer,
                           const char *reason, int64_t *other_customer, rt_error *err) {
  LOCAL_ERR(err);
  int64_t other_local;
  if (!other_customer)
    other_customer = &other_local;
  *other_customer = 0;
  if (!st || !kind || !kind[0] || !value || !value[0])
    return bad(err, "rt_store_identity_link: NULL or empty argument");
  if (customer <= 0)
    return bad(err, "rt_store_identity_link: invalid customer id");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->identity_link(st->be, kind, value, customer, reason, other_customer, err);
  /* an identity of another customer is an answer, not a failure of the transaction */
  if (rc == RT_EEXISTS && implicit) {
    int rc2 = write_leave(st, implicit, 0, err);
    return finish(st, rc2 ? rc2 : RT_EEXISTS, err);
  }
  return finish(st, write_leave(st, implicit, rc, err), err);
}

int rt_store_identity_find(rt_store *st, const char *kind, const char *value, int64_t *out_id,
                           rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !kind || !value || !out_id)
    return bad(err, "rt_store_identity_find: NULL argument");
  return finish(st, st->ops->identity_find(st->be, kind, value, out_id, err), err);
}

/* ---- orders, refunds, events, subscriptions ---- */

int rt_store_order_put(rt_store *st, const rt_order_rec *o, const rt_line_rec *lines,
                       size_t nlines, int *status, rt_error *err) {
  LOCAL_ERR(err);
  int s = 0;
  if (!status)
    status = &s;
  *status = 0;
  if (!st || !o || (nlines && !lines))
    return bad(err, "rt_store_order_put: NULL argument");
  if (!o->ext_id || !o->ext_id[0])
    return bad(err, "order without an id (ext_id)");
  if (o->customer <= 0)
    return rt_error_set(err, RT_EINVAL, "order '%s': invalid customer id", o->ext_id);
  if (o->amount < 0)
    return rt_error_set(err, RT_EINVAL, "order '%s': negative amount", o->ext_id);
  if (!valid_currency(o->currency))
    return rt_error_set(err, RT_EINVAL, "order '%s': currency must be 3 letters", o->ext_id);
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->order_put(st->be, o, lines, nlines, st->bulk == BULK_ON, status, err);
  rc = write_leave(st, implicit, rc, err);
  if (rc)
    *status = 0;
  return finish(st, rc, err);
}

int rt_store_refund_put(rt_store *st, const rt_refund_rec *r, int *status, rt_error *err) {
  LOCAL_ERR(err);
  int s = 0;
  if (!status)
    status = &s;
  *status = 0;
  if (!st || !r)
    return bad(err, "rt_store_refund_put: NULL argument");
  if (!r->ext_id || !r->ext_id[0])
    return bad(err, "refund without an id (ext_id)");
  if (r->customer <= 0)
    return rt_error_set(err, RT_EINVAL, "refund '%s': invalid customer id", r->ext_id);
  if (r->amount <= 0)
    return rt_error_set(err, RT_EINVAL, "refund '%s': amount must be positive", r->ext_id);
  if (!valid_currency(r->currency))
    return rt_error_set(err, RT_EINVAL, "refund '%s': currency must be 3 letters", r->ext_id);
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->refund_put(st->be, r, st->bulk == BULK_ON, status, err);
  rc = write_leave(st, implicit, rc, err);
  if (rc)
    *status = 0;
  return finish(st, rc, err);
}

int rt_store_event_put(rt_store *st, const rt_event_rec *e, int *status, rt_error *err) {
  LOCAL_ERR(err);
  int s = 0;
  if (!status)
    status = &s;
  *status = 0;
  if (!st || !e)
    return bad(err, "rt_store_event_put: NULL argument");
  if (!e->type || !e->type[0])
    return bad(err, "event without a type");
  if (e->customer <= 0)
    return bad(err, "event: invalid customer id");
  if (e->props && !e->props_checked && !valid_json_object(e->props))
    return rt_error_set(err, RT_EINVAL, "event '%s': properties must be a JSON object",
                        e->ext_id ? e->ext_id : e->type);
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->event_put(st->be, e, status, err);
  rc = write_leave(st, implicit, rc, err);
  if (rc)
    *status = 0;
  return finish(st, rc, err);
}

int rt_store_subscription_put(rt_store *st, const rt_subscription_rec *s, int *status,
                              rt_error *err) {
  LOCAL_ERR(err);
  int st_local = 0;
  if (!status)
    status = &st_local;
  *status = 0;
  if (!st || !s)
    return bad(err, "rt_store_subscription_put: NULL argument");
  if (!s->ext_id || !s->ext_id[0])
    return bad(err, "subscription without an id (ext_id)");
  if (s->customer <= 0)
    return rt_error_set(err, RT_EINVAL, "subscription '%s': invalid customer id", s->ext_id);
  if (!valid_currency(s->currency))
    return rt_error_set(err, RT_EINVAL, "subscription '%s': currency must be 3 letters",
                        s->ext_id);
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->subscription_put(st->be, s, status, err);
  rc = write_leave(st, implicit, rc, err);
  if (rc)
    *status = 0;
  return finish(st, rc, err);
}

void rt_subscription_rec_free(rt_subscription_rec *r) {
  if (!r)
    return;
  rt_free((char *)r->ext_id);
  rt_free((char *)r->plan);
  rt_free((char *)r->currency);
  rt_free((char *)r->interval);
  memset(r, 0, sizeof *r);
}

int rt_store_subscription_get(rt_store *st, const char *ext_id, rt_subscription_rec *out,
                              rt_error *err) {
  LOCAL_ERR(err);
  if (out)
    memset(out, 0, sizeof *out);
  if (!st || !ext_id || !out)
    return bad(err, "rt_store_subscription_get: NULL argument");
  int rc = st->ops->subscription_get(st->be, ext_id, out, err);
  if (rc)
    rt_subscription_rec_free(out);
  return finish(st, rc, err);
}

/* ---- bulk loading ---- */

int rt_store_bulk_begin(rt_store *st, int *active, rt_error *err) {
  LOCAL_ERR(err);
  int a = 0;
  if (!active)
    active = &a;
  *active = 0;
  if (!st)
    return bad(err, "rt_store_bulk_begin: store is NULL");
  if (!st->in_txn)
    return bad(err, "rt_store_bulk_begin: needs a transaction (rt_store_begin)");
  if (st->bulk != BULK_OFF)
    return bad(err, "rt_store_bulk_begin: bulk mode is already on");
  int rc = st->ops->bulk_begin(st->be, active, err);
  if (rc) {
    *active = 0;
    return finish(st, rc, err);
  }
  st->bulk = *active ? BULK_ON : BULK_OFF;
  return 0;
}

int rt_store_ensure_indexes(rt_store *st, int *built, rt_error *err) {
  LOCAL_ERR(err);
  int n = 0;
  if (!built)
    built = &n;
  *built = 0;
  if (!st)
    return bad(err, "rt_store_ensure_indexes: store is NULL");
  int implicit, rc = write_enter(st, &implicit, err);
  if (!rc)
    rc = st->ops->ensure_indexes(st->be, built, err);
  rc = write_leave(st, implicit, rc, err);
  return finish(st, rc, err);
}

int rt_store_bulk_end(rt_store *st, rt_error *err) {
  LOCAL_ERR(err);
  if (!st)
    return bad(err, "rt_store_bulk_end: store is NULL");
  if (st->bulk == BULK_FAILED)
    return rt_error_set(err, RT_EEXISTS, "store: the bulk load already failed; roll back");
  if (st->bulk == BULK_OFF)
    return 0; /* bulk_begin found tables with rows: nothing was dropped */
  int rc = st->ops->bulk_end(st->be, err);
  st->bulk = rc ? BULK_FAILED : BULK_OFF;
  return finish(st, rc, err);
}

/* ---- imports ---- */

int rt_store_import_begin(rt_store *st, const char *kind, const char *path, const char *digest,
                          int64_t *out_import_id, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !kind || !kind[0] || !out_import_id)
    return bad(err, "rt_store_import_begin: NULL argument");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->import_begin(st->be, kind, path, digest, out_import_id, err);
  return finish(st, write_leave(st, implicit, rc, err), err);
}

int rt_store_import_finish(rt_store *st, int64_t import_id, int64_t rows, int64_t stored,
                           int64_t skipped, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || import_id <= 0)
    return bad(err, "rt_store_import_finish: invalid argument");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->import_finish(st->be, import_id, rows, stored, skipped, err);
  return finish(st, write_leave(st, implicit, rc, err), err);
}

/* ---- reading ---- */

int rt_store_scan_customers(rt_store *st, rt_store_customer_cb cb, void *ctx, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !cb)
    return bad(err, "rt_store_scan_customers: NULL argument");
  return finish(st, st->ops->scan_customers(st->be, cb, ctx, err), err);
}

int rt_store_scan_orders(rt_store *st, rt_store_order_cb cb, void *ctx, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !cb)
    return bad(err, "rt_store_scan_orders: NULL argument");
  return finish(st, st->ops->scan_orders(st->be, cb, ctx, err), err);
}

int rt_store_scan_refunds(rt_store *st, rt_store_refund_cb cb, void *ctx, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !cb)
    return bad(err, "rt_store_scan_refunds: NULL argument");
  return finish(st, st->ops->scan_refunds(st->be, cb, ctx, err), err);
}

int rt_store_scan_subscriptions(rt_store *st, rt_store_subscription_cb cb, void *ctx,
                                rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !cb)
    return bad(err, "rt_store_scan_subscriptions: NULL argument");
  return finish(st, st->ops->scan_subscriptions(st->be, cb, ctx, err), err);
}

int rt_store_scan_events(rt_store *st, rt_store_event_cb cb, void *ctx, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !cb)
    return bad(err, "rt_store_scan_events: NULL argument");
  return finish(st, st->ops->scan_events(st->be, cb, ctx, err), err);
}

int rt_store_scan_customer_attrs(rt_store *st, rt_store_attrs_cb cb, void *ctx, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !cb)
    return bad(err, "rt_store_scan_customer_attrs: NULL argument");
  return finish(st, st->ops->scan_attrs(st->be, cb, ctx, err), err);
}

/* ---- exchange rates ---- */

/* Three capital letters A-Z: the store keeps codes as ISO 4217 writes them, so that "usd" and
 * "USD" are never two currencies (readers upper-case before they call). */
static int valid_code(const char *c) {
  if (!c)
    return 0;
  for (int i = 0; i < 3; i++)
    if (c[i] < 'A' || c[i] > 'Z')
      return 0;
  return c[3] == '\0';
}

/* Days of 0001-01-01 and 9999-12-31, the dates the date parser can write. */
#define RATE_DAY_MIN (-719162)
#define RATE_DAY_MAX 2932896

int rt_rate_rec_check(const rt_rate_rec *r, rt_error *err) {
  if (!r)
    return rt_error_set(err, RT_EINVAL, "exchange rate: NULL record");
  if (!valid_code(r->base) || !valid_code(r->currency))
    return rt_error_set(err, RT_EINVAL,
                        "exchange rate: currency codes must be 3 capital letters ('%.8s', '%.8s')",
                        r->base ? r->base : "(null)", r->currency ? r->currency : "(null)");
  if (strcmp(r->base, r->currency) == 0)
    return rt_error_set(err, RT_EINVAL, "exchange rate of %s against itself", r->base);
  if (!(r->rate > 0) || !isfinite(r->rate))
    return rt_error_set(err, RT_EINVAL, "exchange rate %s/%s: %g is not a positive number",
                        r->base, r->currency, r->rate);
  if (r->day < RATE_DAY_MIN || r->day > RATE_DAY_MAX)
    return rt_error_set(err, RT_EINVAL, "exchange rate %s/%s: day %lld is outside years 1-9999",
                        r->base, r->currency, (long long)r->day);
  return 0;
}

int rt_store_rate_put(rt_store *st, const rt_rate_rec *r, int *status, rt_error *err) {
  LOCAL_ERR(err);
  int s = 0;
  if (!status)
    status = &s;
  *status = 0;
  if (!st || !r)
    return bad(err, "rt_store_rate_put: NULL argument");
  int implicit, rc = rt_rate_rec_check(r, err);
  if (rc)
    return rc;
  rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->rate_put(st->be, r, status, err);
  rc = write_leave(st, implicit, rc, err);
  if (rc)
    *status = 0;
  return finish(st, rc, err);
}

int rt_store_scan_rates(rt_store *st, rt_store_rate_cb cb, void *ctx, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !cb)
    return bad(err, "rt_store_scan_rates: NULL argument");
  return finish(st, st->ops->scan_rates(st->be, cb, ctx, err), err);
}

int rt_store_score_run_begin(rt_store *st, const char *kind, const char *params_json,
                             int64_t *out_run, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !kind || !kind[0] || !params_json || !out_run)
    return bad(err, "rt_store_score_run_begin: NULL argument");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->score_run_begin(st->be, kind, params_json, out_run, err);
  return finish(st, write_leave(st, implicit, rc, err), err);
}

int rt_store_score_put(rt_store *st, int64_t run, const rt_score_rec *r, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !r)
    return bad(err, "rt_store_score_put: NULL argument");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->score_put(st->be, run, r, err);
  return finish(st, write_leave(st, implicit, rc, err), err);
}

int rt_store_score_run_finish(rt_store *st, int64_t run, int64_t customers, rt_error *err) {
  LOCAL_ERR(err);
  if (!st)
    return bad(err, "rt_store_score_run_finish: NULL argument");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->score_run_finish(st->be, run, customers, err);
  return finish(st, write_leave(st, implicit, rc, err), err);
}

int rt_store_score_run_get(rt_store *st, int64_t run, const char *kind, rt_score_run *out,
                           rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !out)
    return bad(err, "rt_store_score_run_get: NULL argument");
  return finish(st, st->ops->score_run_get(st->be, run, kind, out, err), err);
}

int rt_store_scan_scores(rt_store *st, int64_t run, rt_store_score_cb cb, void *ctx,
                         rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !cb)
    return bad(err, "rt_store_scan_scores: NULL argument");
  return finish(st, st->ops->scan_scores(st->be, run, cb, ctx, err), err);
}

/* ---- segments ---- */

void rt_segment_info_free(rt_segment_info *s) {
  if (!s)
    return;
  rt_free(s->name);
  rt_free(s->rule);
  rt_free(s->description);
  rt_free(s->as_of);
  rt_free(s->settings);
  s->name = s->rule = s->description = s->as_of = s->settings = NULL;
}

int rt_store_segment_create(rt_store *st, const char *name, const char *rule,
                            const char *description, int64_t *out_id, rt_error *err) {
  LOCAL_ERR(err);
  if (out_id)
    *out_id = 0;
  if (!st || !name || !rule || !out_id)
    return bad(err, "rt_store_segment_create: NULL argument");
  if (!name[0])
    return bad(err, "rt_store_segment_create: empty segment name");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->segment_create(st->be, name, rule, description, out_id, err);
  rc = write_leave(st, implicit, rc, err);
  if (rc)
    *out_id = 0;
  return finish(st, rc, err);
}

int rt_store_segment_update(rt_store *st, int64_t id, const char *rule, const char *description,
                            rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !rule)
    return bad(err, "rt_store_segment_update: NULL argument");
  if (id <= 0)
    return bad(err, "rt_store_segment_update: invalid segment id");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->segment_update(st->be, id, rule, description, err);
  return finish(st, write_leave(st, implicit, rc, err), err);
}

int rt_store_segment_set_basis(rt_store *st, int64_t id, const char *as_of,
                               const char *settings, rt_error *err) {
  LOCAL_ERR(err);
  if (!st)
    return bad(err, "rt_store_segment_set_basis: NULL argument");
  if (id <= 0)
    return bad(err, "rt_store_segment_set_basis: invalid segment id");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->segment_set_basis(st->be, id, as_of, settings, err);
  return finish(st, write_leave(st, implicit, rc, err), err);
}

int rt_store_segment_get(rt_store *st, const char *name, rt_segment_info *out, rt_error *err) {
  LOCAL_ERR(err);
  if (out)
    memset(out, 0, sizeof *out);
  if (!st || !name || !out)
    return bad(err, "rt_store_segment_get: NULL argument");
  return finish(st, st->ops->segment_get(st->be, name, out, err), err);
}

int rt_store_scan_segments(rt_store *st, rt_store_segment_cb cb, void *ctx, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !cb)
    return bad(err, "rt_store_scan_segments: NULL argument");
  return finish(st, st->ops->scan_segments(st->be, cb, ctx, err), err);
}

int rt_store_segment_delete(rt_store *st, int64_t id, rt_error *err) {
  LOCAL_ERR(err);
  if (!st)
    return bad(err, "rt_store_segment_delete: store is NULL");
  if (id <= 0)
    return bad(err, "rt_store_segment_delete: invalid segment id");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->segment_delete(st->be, id, err);
  return finish(st, write_leave(st, implicit, rc, err), err);
}

int rt_store_segment_move(rt_store *st, int64_t id, int64_t customer, int enter, int64_t at_ms,
                          rt_error *err) {
  LOCAL_ERR(err);
  if (!st)
    return bad(err, "rt_store_segment_move: store is NULL");
  if (id <= 0 || customer <= 0)
    return bad(err, "rt_store_segment_move: invalid segment or customer id");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->segment_move(st->be, id, customer, enter != 0, at_ms, err);
  return finish(st, write_leave(st, implicit, rc, err), err);
}

int rt_store_segment_evaluated(rt_store *st, int64_t id, int64_t at_ms, int64_t size,
                               int64_t entered, int64_t exited, rt_error *err) {
  LOCAL_ERR(err);
  if (!st)
    return bad(err, "rt_store_segment_evaluated: store is NULL");
  if (id <= 0)
    return bad(err, "rt_store_segment_evaluated: invalid segment id");
  if (size < 0 || entered < 0 || exited < 0)
    return bad(err, "rt_store_segment_evaluated: negative count");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->segment_evaluated(st->be, id, at_ms, size, entered, exited, err);
  return finish(st, write_leave(st, implicit, rc, err), err);
}

int rt_store_scan_segment_members(rt_store *st, int64_t id, rt_store_member_cb cb, void *ctx,
                                  rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !cb)
    return bad(err, "rt_store_scan_segment_members: NULL argument");
  return finish(st, st->ops->scan_segment_members(st->be, id, cb, ctx, err), err);
}

int rt_store_scan_segment_sizes(rt_store *st, int64_t id, rt_store_segment_size_cb cb, void *ctx,
                                rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !cb)
    return bad(err, "rt_store_scan_segment_sizes: NULL argument");
  return finish(st, st->ops->scan_segment_sizes(st->be, id, cb, ctx, err), err);
}

int rt_store_scan_segment_events(rt_store *st, int64_t id, int64_t since_ms,
                                 rt_store_segment_event_cb cb, void *ctx, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !cb)
    return bad(err, "rt_store_scan_segment_events: NULL argument");
  if (id < 0)
    return bad(err, "rt_store_scan_segment_events: invalid segment id");
  return finish(st, st->ops->scan_segment_events(st->be, id, since_ms, cb, ctx, err), err);
}

/* ---- API keys ---- */

/* Overwrites a secret in memory the compiler must not optimise away. */
static void wipe(void *p, size_t n) {
  volatile unsigned char *v = p;
  while (n--)
    *v++ = 0;
}

/* n random bytes from libcrypto's generator (a CSPRNG seeded from the kernel's). */
static int random_bytes(unsigned char *buf, size_t n, rt_error *err) {
  if (RAND_bytes(buf, (int)n) != 1)
    return rt_error_set(err, RT_EIO, "no random bytes: libcrypto's RAND_bytes failed");
  return 0;
}

/* A new key in out: "rk_" and base62 characters up to RT_KEY_LEN. A byte picks a character when
 * it is below 248 = 4 x 62 (byte % 62), so every character is equally likely: 40 of them are
 * 238 bits of randomness. */
static int new_key(char out[RT_KEY_SIZE], rt_error *err) {
  static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  unsigned char r[64];
  size_t i = 3;
  int rc = 0;
  memcpy(out, "rk_", 3);
  while (!rc && i < RT_KEY_LEN) {
    rc = random_bytes(r, sizeof r, err);
    for (size_t j = 0; !rc && j < sizeof r && i < RT_KEY_LEN; j++)
      if (r[j] < 248)
        out[i++] = base62[r[j] % 62];
  }
  out[i] = '\0';
  wipe(r, sizeof r);
  if (rc)
    wipe(out, RT_KEY_SIZE);
  return rc;
}

/* What the store keeps of a key: the hex SHA-256 of all of it. */
static int key_hash(const char *key, size_t len, char hex[RT_SHA256_HEX_SIZE], rt_error *err) {
  uint8_t d[RT_SHA256_SIZE];
  int rc = rt_sha256(key, len, d);
  rt_sha256_hex(d, hex);
  wipe(d, sizeof d);
  return rc ? rt_error_set(err, rc, "API key: cannot hash it (out of memory)") : 0;
}

static int valid_scope(const char *s) {
  return !strcmp(s, "write") || !strcmp(s, "read") || !strcmp(s, "admin");
}

int rt_store_key_create(rt_store *st, const char *name, const char *scope, char *key_out,
                        size_t key_cap, int64_t *out_id, rt_error *err) {
  LOCAL_ERR(err);
  if (out_id)
    *out_id = 0;
  if (key_out && key_cap)
    key_out[0] = '\0';
  if (!st || !scope || !key_out || !out_id)
    return bad(err, "rt_store_key_create: NULL argument");
  if (key_cap < RT_KEY_SIZE)
    return bad(err, "rt_store_key_create: key_out holds fewer than RT_KEY_SIZE bytes");
  if (!valid_scope(scope))
    return rt_error_set(err, RT_EINVAL, "API key scope must be write, read or admin, not '%.40s'",
                        scope);
  if (name && strlen(name) > RT_KEY_NAME_MAX)
    return rt_error_set(err, RT_EINVAL, "API key name longer than %d bytes", RT_KEY_NAME_MAX);
  if (name && !name[0])
    name = NULL;
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  char key[RT_KEY_SIZE], prefix[RT_KEY_PREFIX_LEN + 1], hash[RT_SHA256_HEX_SIZE];
  rc = new_key(key, err);
  if (!rc)
    rc = key_hash(key, RT_KEY_LEN, hash, err);
  if (!rc) {
    memcpy(prefix, key, RT_KEY_PREFIX_LEN);
    prefix[RT_KEY_PREFIX_LEN] = '\0';
    rc = st->ops->key_create(st->be, name, scope, prefix, hash, out_id, err);
  }
  rc = write_leave(st, implicit, rc, err);
  if (rc)
    *out_id = 0;
  else
    memcpy(key_out, key, RT_KEY_SIZE);
  wipe(key, sizeof key);
  return finish(st, rc, err);
}

int rt_store_key_check(rt_store *st, const char *key, size_t len, rt_key_info *out,
                       rt_error *err) {
  LOCAL_ERR(err);
  if (out)
    memset(out, 0, sizeof *out);
  if (!st || (!key && len) || !out)
    return bad(err, "rt_store_key_check: NULL argument");
  char hash[RT_SHA256_HEX_SIZE];
  int rc = key_hash(key, len, hash, err);
  if (!rc)
    rc = st->ops->key_check(st->be, hash, out, err);
  if (rc)
    memset(out, 0, sizeof *out);
  return finish(st, rc, err);
}

int rt_store_key_revoke(rt_store *st, int64_t id, rt_error *err) {
  LOCAL_ERR(err);
  if (!st)
    return bad(err, "rt_store_key_revoke: store is NULL");
  if (id <= 0)
    return bad(err, "rt_store_key_revoke: invalid key id");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->key_revoke(st->be, id, err);
  return finish(st, write_leave(st, implicit, rc, err), err);
}

int rt_store_key_touch(rt_store *st, int64_t id, int64_t at_ms, rt_error *err) {
  LOCAL_ERR(err);
  if (!st)
    return bad(err, "rt_store_key_touch: store is NULL");
  if (id <= 0)
    return bad(err, "rt_store_key_touch: invalid key id");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->key_touch(st->be, id, at_ms, err);
  return finish(st, write_leave(st, implicit, rc, err), err);
}

int rt_store_scan_keys(rt_store *st, rt_store_key_cb cb, void *ctx, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !cb)
    return bad(err, "rt_store_scan_keys: NULL argument");
  return finish(st, st->ops->scan_keys(st->be, cb, ctx, err), err);
}

int rt_store_count(rt_store *st, const char *table, int64_t *out, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !table || !out)
    return bad(err, "rt_store_count: NULL argument");
  for (int t = 0; t < RT_TABLE__COUNT; t++)
    if (strcmp(table, rt__store_table_names[t]) == 0)
      return finish(st, st->ops->count(st->be, (rt_store_table)t, out, err), err);
  return rt_error_set(err, RT_EINVAL, "store: no table '%s'", table);
}

void rt_customer_view_free(rt_customer_view *v) {
  if (!v)
    return;
  rt_free(v->ext_id);
  rt_free(v->attrs);
  rt_free(v->revenue);
  for (size_t i = 0; i < v->nidentities; i++) {
    rt_free(v->identities[i].kind);
    rt_free(v->identities[i].value);
    rt_free(v->identities[i].reason);
  }
  rt_free(v->identities);
  memset(v, 0, sizeof *v);
}

int rt_store_customer_get(rt_store *st, const char *ext_id, int64_t id, rt_customer_view *out,
                          rt_error *err) {
  LOCAL_ERR(err);
  if (out)
    memset(out, 0, sizeof *out);
  if (!st || !out)
    return bad(err, "rt_store_customer_get: NULL argument");
  int rc = st->ops->customer_get(st->be, ext_id, id, out, err);
  if (rc)
    rt_customer_view_free(out);
  return finish(st, rc, err);
}

/* ---- timeline ---- */

int rt_store_customer_timeline(rt_store *st, int64_t customer, const rt_timeline_cursor *after,
                               size_t limit, rt_store_timeline_cb cb, void *ctx,
                               rt_timeline_cursor *next, rt_error *err) {
  LOCAL_ERR(err);
  /* the start: before every item, whatever its time, kind and id */
  rt_timeline_cursor from = {.ts_ms = INT64_MAX, .rank = 4, .id = INT64_MAX, .more = 1};
  rt_timeline_cursor next_local;
  if (after)
    from = *after; /* after and next may be the same cursor */
  if (!next)
    next = &next_local;
  memset(next, 0, sizeof *next);
  if (!st || !cb)
    return bad(err, "rt_store_customer_timeline: NULL argument");
  if (customer <= 0)
    return bad(err, "rt_store_customer_timeline: invalid customer id");
  if (limit < 1 || limit > RT_TIMELINE_LIMIT_MAX)
    return rt_error_set(err, RT_EINVAL, "store: a timeline page holds 1 to %d items",
                        RT_TIMELINE_LIMIT_MAX);
  if (after && (from.rank < 0 || from.rank > 3 || from.id <= 0))
    return bad(err, "rt_store_customer_timeline: invalid cursor");
  return finish(
      st, st->ops->customer_timeline(st->be, customer, &from, limit, cb, ctx, next, err), err);
}

/* A cursor is 16 hex digits of the time (as an unsigned 64-bit value: times before 1970 are
 * negative), 1 of the rank and 16 of the id: fixed width, so parsing is exact. */
int rt_timeline_cursor_format(const rt_timeline_cursor *c, char *out, size_t cap) {
  if (!c || !out || cap < RT_TIMELINE_TOKEN_SIZE || c->rank < 0 || c->rank > 3 || c->id <= 0)
    return RT_EINVAL;
  snprintf(out, cap, "%016llx%x%016llx", (unsigned long long)(uint64_t)c->ts_ms, c->rank,
           (unsigned long long)(uint64_t)c->id);
  return 0;
}

static int hex_value(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  return -1; /* upper case is refused too: one token per cursor */
}

/* n lowercase hex digits at s as an unsigned value; a bad digit clears *ok. */
static uint64_t hex_field(const char *s, int n, int *ok) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) {
    int d = hex_value(s[i]);
    if (d < 0)
      *ok = 0;
    v = v << 4 | (uint64_t)(d < 0 ? 0 : d);
  }
  return v;
}

int rt_timeline_cursor_parse(const char *token, size_t len, rt_timeline_cursor *out,
                             rt_error *err) {
  LOCAL_ERR(err);
  if (!out)
    return bad(err, "rt_timeline_cursor_parse: NULL argument");
  memset(out, 0, sizeof *out);
  if (!token || len != RT_TIMELINE_TOKEN_LEN)
    return rt_error_set(err, RT_EINVAL, "invalid timeline cursor (expected %d hex digits)",
                        RT_TIMELINE_TOKEN_LEN);
  int ok = 1;
  uint64_t ts = hex_field(token, 16, &ok);
  int rank = (int)hex_field(token + 16, 1, &ok);
  uint64_t id = hex_field(token + 17, 16, &ok);
  if (!ok || rank > 3 || id == 0 || id > INT64_MAX)
    return rt_error_set(err, RT_EINVAL, "invalid timeline cursor");
  out->ts_ms = (int64_t)ts;
  out->rank = rank;
  out->id = (int64_t)id;
  out->more = 1;
  return 0;
}

/* ---- merging customers ---- */

int rt_store_customer_merge(rt_store *st, int64_t from, int64_t into, const char *reason,
                            int64_t at_ms, int64_t *merge_id, rt_error *err) {
  LOCAL_ERR(err);
  int64_t id_local;
  if (!merge_id)
    merge_id = &id_local;
  *merge_id = 0;
  if (!st)
    return bad(err, "rt_store_customer_merge: store is NULL");
  if (from <= 0 || into <= 0)
    return bad(err, "rt_store_customer_merge: invalid customer id");
  if (from == into)
    return rt_error_set(err, RT_EINVAL, "store: cannot merge customer %lld into itself",
                        (long long)from);
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->customer_merge(st->be, from, into, reason, at_ms, merge_id, err);
  rc = write_leave(st, implicit, rc, err);
  if (rc)
    *merge_id = 0;
  return finish(st, rc, err);
}

int rt_store_customer_unmerge(rt_store *st, int64_t merge_id, int64_t at_ms, rt_error *err) {
  LOCAL_ERR(err);
  if (!st)
    return bad(err, "rt_store_customer_unmerge: store is NULL");
  if (merge_id <= 0)
    return bad(err, "rt_store_customer_unmerge: invalid merge id");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  rc = st->ops->customer_unmerge(st->be, merge_id, at_ms, err);
  return finish(st, write_leave(st, implicit, rc, err), err);
}

/* ---- privacy: erasure and export ---- */

static int64_t clock_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rt__erasure_hash(const char *secret, const char *kind, const char *value, size_t len,
                      char hex[65]) {
  rt_hmac_sha256_ctx c;
  uint8_t mac[RT_SHA256_SIZE];
  rt_hmac_sha256_init(&c, secret, strlen(secret));
  rt_hmac_sha256_update(&c, kind, strlen(kind) + 1); /* with its NUL: kinds cannot run on */
  rt_hmac_sha256_update(&c, value, len);
  rt_hmac_sha256_final(&c, mac);
  rt_sha256_hex(mac, hex);
  wipe(mac, sizeof mac);
}

/* The store's erasure secret (64 hex digits of 32 random bytes) into hex, made and saved in
 * meta by the first erasure that needs it. Inside a write transaction. */
static int erasure_secret(rt_store *st, char hex[RT_SHA256_HEX_SIZE], rt_error *err) {
  char *v = NULL;
  int rc = st->ops->meta_get(st->be, RT__ERASURE_SECRET_KEY, &v, err);
  if (!rc && v && strlen(v) == RT_SHA256_HEX_SIZE - 1) {
    memcpy(hex, v, RT_SHA256_HEX_SIZE);
    rt_free(v);
    return 0;
  }
  rt_free(v);
  uint8_t key[RT_SHA256_SIZE];
  if (!rc)
    rc = random_bytes(key, sizeof key, err);
  if (!rc) {
    rt_sha256_hex(key, hex);
    rc = st->ops->meta_set(st->be, RT__ERASURE_SECRET_KEY, hex, err);
  }
  wipe(key, sizeof key);
  return rc;
}

int rt_store_customer_erase(rt_store *st, int64_t customer, const char *requested_by, int flags,
                            int64_t at_ms, rt_erasure *out, rt_error *err) {
  LOCAL_ERR(err);
  rt_erasure local;
  if (!out)
    out = &local;
  memset(out, 0, sizeof *out);
  if (!st || !requested_by || !*requested_by)
    return bad(err, "rt_store_customer_erase: NULL or empty argument");
  if (customer <= 0)
    return bad(err, "rt_store_customer_erase: invalid customer id");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  if (at_ms <= 0)
    at_ms = clock_ms();
  char secret[RT_SHA256_HEX_SIZE] = "";
  if (!(flags & RT_ERASE_ALLOW_RETURN))
    rc = erasure_secret(st, secret, err);
  if (!rc)
    rc = st->ops->customer_erase(st->be, customer, secret[0] ? secret : NULL, requested_by,
                                 at_ms, out, err);
  wipe(secret, sizeof secret);
  rc = write_leave(st, implicit, rc, err);
  if (rc) {
    memset(out, 0, sizeof *out);
  } else if (implicit) {
    st->ops->checkpoint(st->be);
  } else {
    st->wipe = 1; /* rt_store_commit checkpoints */
  }
  return finish(st, rc, err);
}

static int valid_kind(const char *kind) {
  return kind && (!strcmp(kind, "customer") || !strcmp(kind, "anonymous"));
}

int rt_store_merge_undone(rt_store *st, int64_t from, int64_t into, int *undone, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !undone)
    return bad(err, "rt_store_merge_undone: NULL argument");
  *undone = 0;
  return st->ops->merge_undone(st->be, from, into, undone, err);
}

int rt_store_erased(rt_store *st, const char *kind, const char *value, size_t len, int *erased,
                    rt_error *err) {
  LOCAL_ERR(err);
  if (erased)
    *erased = 0;
  if (!st || !value || !erased)
    return bad(err, "rt_store_erased: NULL argument");
  if (!valid_kind(kind))
    return bad(err, "rt_store_erased: kind must be customer or anonymous");
  char *secret = NULL;
  int rc = st->ops->meta_get(st->be, RT__ERASURE_SECRET_KEY, &secret, err);
  if (!rc && secret) {
    char hash[RT_SHA256_HEX_SIZE];
    rt__erasure_hash(secret, kind, value, len, hash);
    rc = st->ops->erased_check(st->be, hash, erased, err);
  }
  rt_free(secret);
  return finish(st, rc, err);
}

int rt_store_erased_lift(rt_store *st, const char *kind, const char *value, size_t len,
                         int *lifted, rt_error *err) {
  LOCAL_ERR(err);
  int local = 0;
  if (!lifted)
    lifted = &local;
  *lifted = 0;
  if (!st || !value)
    return bad(err, "rt_store_erased_lift: NULL argument");
  if (!valid_kind(kind))
    return bad(err, "rt_store_erased_lift: kind must be customer or anonymous");
  int implicit, rc = write_enter(st, &implicit, err);
  if (rc)
    return finish(st, rc, err);
  char *secret = NULL;
  rc = st->ops->meta_get(st->be, RT__ERASURE_SECRET_KEY, &secret, err);
  if (!rc && secret) {
    char hash[RT_SHA256_HEX_SIZE];
    rt__erasure_hash(secret, kind, value, len, hash);
    rc = st->ops->erased_lift(st->be, hash, lifted, err);
  }
  rt_free(secret);
  return finish(st, write_leave(st, implicit, rc, err), err);
}

int rt_store_scan_erasures(rt_store *st, rt_store_erasure_cb cb, void *ctx, rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !cb)
    return bad(err, "rt_store_scan_erasures: NULL argument");
  return finish(st, st->ops->scan_erasures(st->be, cb, ctx, err), err);
}

/* The export as JSON text, written piece by piece: the header, then one array per table with
 * a row per line. */
typedef struct export_writer {
  rt_store_write_fn write;
  void *ctx;
  int64_t rows;   /* in the current table */
  int tables;     /* begun so far */
  int oom;
} export_writer;

static int put(export_writer *x, const char *s) { return x->write(x->ctx, s, strlen(s)); }

static int on_export_row(void *ctx, const char *table, json_t *row) {
  export_writer *x = ctx;
  int rc;
  if (!row) { /* the next table */
    if (x->tables++ && (rc = put(x, "\n  ]")))
      return rc;
    char head[96];
    snprintf(head, sizeof head, ",\n  \"%s\": [", table);
    x->rows = 0;
    return put(x, head);
  }
  char *text = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
  if (!text)
    return x->oom = RT_ENOMEM;
  rc = put(x, x->rows++ ? ",\n    " : "\n    ");
  if (!rc)
    rc = put(x, text);
  free(text);
  return rc;
}

/* The header: what this is, when, about whom (the customer the id resolved to), and how to
 * read the rows. */
static int export_header(export_writer *x, const rt_customer_view *v, int64_t now_ms) {
  json_t *h = json_object(), *c = json_object(), *notes = json_object();
  char when[48];
  rt_time_format(NULL, now_ms, when, sizeof when);
  json_object_set_new(h, "export", json_string("everything retain holds about one customer"));
  json_object_set_new(h, "format_version", json_integer(1));
  json_object_set_new(h, "exported", json_string(when));
  json_object_set_new(c, "id", json_integer(v->id));
  json_object_set_new(c, "customer_id", json_string(v->ext_id));
  json_object_set_new(h, "customer", c);
  json_object_set_new(notes, "tables",
                      json_string("one array per table that holds rows of this customer (and "
                                  "of the customers merged into it), with every column"));
  json_object_set_new(notes, "times", json_string("a column x_ms is shown as x, an ISO 8601 "
                                                  "time in UTC"));
  json_object_set_new(notes, "amounts",
                      json_string("amount, unit_price: whole minor units of the currency (cents "
                                  "for USD: 1999 is 19.99)"));
  json_object_set_new(notes, "ids", json_string("id: retain's number for a row; ext_id: the "
                                                "id your systems gave it"));
  json_object_set_new(h, "notes", notes);
  char *text = json_dumps(h, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(h);
  if (!text)
    return x->oom = RT_ENOMEM;
  /* without its closing "\n}": the tables follow */
  size_t n = strlen(text);
  int rc = x->write(x->ctx, text, n >= 2 ? n - 2 : n);
  free(text);
  return rc;
}

/* The customer an export is about: the end of id's chain of merges. */
static int export_subject(rt_store *st, int64_t id, rt_customer_view *v, rt_error *err) {
  int rc = st->ops->customer_get(st->be, NULL, id, v, err);
  for (int hops = 0; !rc && v->merged_into && hops < 64; hops++) {
    int64_t next = v->merged_into;
    rt_customer_view_free(v);
    rc = st->ops->customer_get(st->be, NULL, next, v, err);
  }
  return rc;
}

int rt_store_customer_export(rt_store *st, int64_t customer, rt_store_write_fn write, void *ctx,
                             rt_error *err) {
  LOCAL_ERR(err);
  if (!st || !write)
    return bad(err, "rt_store_customer_export: NULL argument");
  if (customer <= 0)
    return bad(err, "rt_store_customer_export: invalid customer id");
  int own_read = !st->in_txn && !st->in_read;
  int rc = own_read ? rt_store_read_begin(st, err) : 0;
  if (rc)
    return rc;
  rt_customer_view v;
  memset(&v, 0, sizeof v);
  export_writer x = {write, ctx, 0, 0, 0};
  rc = export_subject(st, customer, &v, err);
  if (!rc)
    rc = export_header(&x, &v, clock_ms());
  if (!rc)
    rc = st->ops->export_rows(st->be, customer, on_export_row, &x, err);
  if (!rc && x.tables)
    rc = put(&x, "\n  ]");
  if (!rc)
    rc = put(&x, "\n}\n");
  if (x.oom && rc == x.oom)
    rc = rt_error_set(err, RT_ENOMEM, "exporting: out of memory");
  rt_customer_view_free(&v);
  if (own_read)
    rt_store_read_end(st);
  return finish(st, rc, err);
}
