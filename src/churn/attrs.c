/* attrs.c - churn features from the customers' attributes in the store (the JSON object a
 * customers import keeps of its extra columns): a key whose values are numbers (or booleans)
 * is one column "attr:key"; a key with text values is one 0/1 column per value
 * "attr:key=value", unless it has more than MAX_CATEGORIES of them (an id, an email: left
 * out). Customers without the key have it missing. */
#include <retain/alloc.h>
#include <retain/churn.h>
#include <retain/model.h>
#include <retain/store.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "churn/columns.h"
#include "internal.h"

#define MAX_CATEGORIES 50
#define MAX_KEYS 64

typedef struct attr_key {
  char *name;
  int text;          /* some value is a string */
  rt__strmap values; /* the text values */
} attr_key;

typedef struct attrs_ctx {
  const uint32_t *rowof; /* store id -> row + 1 */
  size_t nids;
  json_t **obj;          /* per row, or NULL */
  attr_key keys[MAX_KEYS];
  int nkeys;
  int oom;
} attrs_ctx;

static int find_key(attrs_ctx *a, const char *k) {
  for (int i = 0; i < a->nkeys; i++)
    if (!strcmp(a->keys[i].name, k))
      return i;
  if (a->nkeys == MAX_KEYS)
    return -1;
  attr_key *nk = &a->keys[a->nkeys];
  if (!(nk->name = rt_strndup(k, strlen(k)))) {
    a->oom = 1;
    return -1;
  }
  rt__strmap_init(&nk->values);
  return a->nkeys++;
}

static int on_attrs(void *ctx, int64_t customer, const char *attrs) {
  attrs_ctx *a = ctx;
  if (customer < 0 || (size_t)customer >= a->nids || !a->rowof[customer] || !attrs)
    return 0;
  json_t *o = json_loads(attrs, 0, NULL);
  if (!json_is_object(o)) {
    json_decref(o);
    return 0;
  }
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) {
    int i = find_key(a, k);
    if (i < 0)
      continue;
    if (json_is_string(v)) {
      uint32_t ix;
      a->keys[i].text = 1;
      if (a->keys[i].values.count <= MAX_CATEGORIES &&
          rt__strmap_intern(&a->keys[i].values, json_string_value(v),
                            strlen(json_string_value(v)), &ix, NULL))
        a->oom = 1;
    }
  }
  a->obj[a->rowof[customer] - 1] = o;
  return a->oom;
}

int rt_churn_add_attributes(rt_ctable *t, const uint32_t *customer, const rt_model *m,
                            rt_store *st, rt_error *err) {
  size_t n = t->nrows, nids = 1;
  uint32_t *rowof = rt__rows_by_store_id(m, customer, n, &nids);
  attrs_ctx a = {.nids = nids};
  a.obj = rt_calloc(n ? n : 1, sizeof *a.obj);
  float *x = NULL;
  char **names = NULL;
  size_t add = 0;
  int rc = 0;
  if (!rowof || !a.obj) {
    rc = rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
    goto out;
  }
  a.rowof = rowof;
  rc = rt_store_scan_customer_attrs(st, on_attrs, &a, err);
  if (rc || a.oom) {
    rc = rc ? rc : rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
    goto out;
  }
  /* the columns: numbers one each, text one per value (few values only) */
  for (int k = 0; k < a.nkeys; k++) {
    attr_key *ak = &a.keys[k];
    if (!ak->text)
      add++;
    else if (ak->values.count <= MAX_CATEGORIES)
      add += ak->values.count;
  }
  if (!add)
    goto out;
  size_t nc = t->ncols + add;
  x = rt_malloc((n * nc > 0 ? n * nc : 1) * sizeof *x);
  names = rt_calloc(nc, sizeof *names);
  if (!x || !names) {
    rc = rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
    goto out;
  }
  size_t c = t->ncols;
  for (int k = 0; k < a.nkeys && !rc; k++) {
    attr_key *ak = &a.keys[k];
    char buf[512];
    if (!ak->text) {
      snprintf(buf, sizeof buf, "attr:%s", ak->name);
      if (!(names[c++] = rt_strndup(buf, strlen(buf))))
        rc = RT_ENOMEM;
    } else if (ak->values.count <= MAX_CATEGORIES) {
      for (uint32_t v = 0; v < ak->values.count && !rc; v++) {
        snprintf(buf, sizeof buf, "attr:%s=%s", ak->name, rt__strmap_key(&ak->values, v));
        if (!(names[c++] = rt_strndup(buf, strlen(buf))))
          rc = RT_ENOMEM;
      }
    }
  }
  if (rc) {
    rc = rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    float *row = x + i * nc;
    memcpy(row, t->x + i * t->ncols, t->ncols * sizeof *row);
    float *e = row + t->ncols;
    for (int k = 0; k < a.nkeys; k++) {
      attr_key *ak = &a.keys[k];
      json_t *v = a.obj[i] ? json_object_get(a.obj[i], ak->name) : NULL;
      if (!ak->text) {
        *e++ = json_is_number(v)    ? (float)json_number_value(v)
               : json_is_boolean(v) ? (float)json_is_true(v)
                                    : NAN;
      } else if (ak->values.count <= MAX_CATEGORIES) {
        uint32_t ix = UINT32_MAX;
        if (json_is_string(v))
          rt__strmap_find(&ak->values, json_string_value(v), strlen(json_string_value(v)), &ix);
        for (uint32_t c2 = 0; c2 < ak->values.count; c2++)
          *e++ = v && !json_is_null(v) ? (float)(c2 == ix) : NAN;
      }
    }
  }
  rt__ctable_widen(t, x, names, nc);
  x = NULL;
  names = NULL;
out:
  for (int k = 0; k < a.nkeys; k++) {
    rt_free(a.keys[k].name);
    rt__strmap_free(&a.keys[k].values);
  }
  for (size_t i = 0; a.obj && i < n; i++)
    json_decref(a.obj[i]);
  rt_free(a.obj);
  rt_free(rowof);
  rt_free(x);
  if (names) {
    for (size_t j = t->ncols; j < t->ncols + add; j++)
      rt_free(names[j]);
    rt_free(names);
  }
  return rc;
}
