/* privacy.c - a customer's rights over HTTP (docs/PRIVACY.md): DELETE /v1/customers/{id}
 * erases it (GDPR Art. 17) through the writer, so the id cache and the live views forget it
 * before the answer; GET /v1/customers/{id}/export answers everything held about it (Art. 15).
 * Both need an admin key: an export is all of a person's data, and an erasure cannot be
 * undone. */
#include <retain/alloc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http.h"

typedef struct erase_job {
  int64_t id;
  int flags;
  char by[48];
  rt_erasure out;
} erase_job;

static int do_erase(rt_store *st, void *ctx, rt_error *err) {
  erase_job *e = ctx;
  return rt_store_customer_erase(st, e->id, e->by, e->flags, rt__now_ms(), &e->out, err);
}

/* The customer {id} names (its own id, else retain's): 0 with *id, else the answer in *res. */
static int customer_param(rt_server *s, rt__request *rq, struct MHD_Connection *c, int64_t *id,
                          enum MHD_Result *res) {
  rt_customer_view v;
  rt_error err = {0};
  int slot;
  rt_store *st = rt__reader_take(s, &slot);
  int rc = rt__customer_view(st, rq->param[0], &v, &err);
  rt__reader_give(s, slot);
  if (rc == RT_ENOTFOUND)
    *res = rt__send_error(rq, c, MHD_HTTP_NOT_FOUND, "not_found", "no such customer", NULL);
  else if (rc)
    *res = rt__send_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store", err.msg, NULL);
  else
    *id = v.id;
  rt_customer_view_free(&v);
  return rc;
}

/* DELETE /v1/customers/{id}[?allow_return=true] */
enum MHD_Result rt__erase_customer(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  enum MHD_Result res;
  erase_job e;
  memset(&e, 0, sizeof e);
  const char *allow = rt__query(c, "allow_return");
  if (allow && strcmp(allow, "true") && strcmp(allow, "false"))
    return rt__send_error(rq, c, MHD_HTTP_BAD_REQUEST, "invalid",
                          "allow_return must be true or false", "allow_return");
  if (allow && !strcmp(allow, "true"))
    e.flags = RT_ERASE_ALLOW_RETURN;
  if (customer_param(s, rq, c, &e.id, &res))
    return res;
  /* who asked, for the log: the key's number, never anything of the customer */
  if (rq->key_id)
    snprintf(e.by, sizeof e.by, "api key %lld", (long long)rq->key_id);
  else
    snprintf(e.by, sizeof e.by, "api (no auth)");
  rt__job job = {.fn = do_erase, .ctx = &e, .bump = 1};
  rt__writer_submit(&s->w, &job);
  if (job.rc == RT_ENOTFOUND) /* erased meanwhile by another request */
    return rt__send_error(rq, c, MHD_HTTP_NOT_FOUND, "not_found", "no such customer", NULL);
  if (job.rc == RT_EBUSY)
    return rt__send_error(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", job.err.msg, NULL);
  if (job.rc)
    return rt__send_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store", job.err.msg, NULL);
  json_t *o = json_object(), *removed = json_object();
  json_object_set_new(o, "erased", json_string(rq->param[0]));
  json_object_set_new(o, "id", json_integer(e.out.customer));
  json_object_set_new(o, "customers", json_integer(e.out.customers));
  for (size_t i = 0; i < e.out.ntables; i++)
    json_object_set_new(removed, e.out.removed[i].table, json_integer(e.out.removed[i].rows));
  json_object_set_new(o, "removed", removed);
  json_object_set_new(o, "suppressed", json_integer(e.out.suppressed));
  json_object_set_new(o, "erasure", json_integer(e.out.id));
  return rt__send_json(rq, c, MHD_HTTP_OK, o);
}

/* The export in memory (it is sent from there: a file would leave the data on disk). */
typedef struct out_buf {
  char *p;
  size_t n, cap;
} out_buf;

static int append(void *ctx, const char *data, size_t n) {
  out_buf *b = ctx;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->n + n)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
      return RT_ENOMEM;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, data, n);
  b->n += n;
  return 0;
}

/* GET /v1/customers/{id}/export */
enum MHD_Result rt__export_customer(rt_server *s, rt__request *rq, struct MHD_Connection *c) {
  enum MHD_Result res;
  int64_t id;
  if (customer_param(s, rq, c, &id, &res))
    return res;
  out_buf b = {0};
  rt_error err = {0};
  int slot;
  rt_store *st = rt__reader_take(s, &slot);
  int rc = rt_store_customer_export(st, id, append, &b, &err);
  rt__reader_give(s, slot);
  if (rc) {
    free(b.p);
    if (rc == RT_ENOTFOUND)
      return rt__send_error(rq, c, MHD_HTTP_NOT_FOUND, "not_found", "no such customer", NULL);
    return rt__send_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store",
                          rc == RT_ENOMEM ? "out of memory" : err.msg, NULL);
  }
  return rt__send_text(rq, c, MHD_HTTP_OK, "application/json", b.p, b.n);
}
