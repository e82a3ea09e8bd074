/* attrs.c - customer attributes (attrs.h): the merge patch each write applies, and the limits.
 *
 * SQLite's json_patch looks every key of the patch up in the target's list of keys, so a patch
 * of n keys onto n keys costs n^2: 60,000 traits in one identify held the server's single
 * writer for seconds while every other request waited. Here both sides are jansson objects
 * (hash tables), so a patch costs what parsing and printing it cost (bench/attrs_merge.c). */
#include "store/attrs.h"

#include <retain/store.h>

#include <stdlib.h>
#include <string.h>

size_t rt__json_keys(const json_t *v) {
  size_t n = 0;
  if (json_is_object(v)) {
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) n += 1 + rt__json_keys(x);
  } else if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); i++)
      n += rt__json_keys(json_array_get(v, i));
  }
  return n;
}

int rt__attrs_patch(json_t *target, json_t *patch) {
  const char *k;
  json_t *pv;
  json_object_foreach(patch, k, pv) {
    if (json_is_null(pv)) {
      json_object_del(target, k);
      continue;
    }
    if (!json_is_object(pv)) {
      if (json_object_set(target, k, pv)) /* shares pv: the result is only dumped */
        return RT_ENOMEM;
      continue;
    }
    json_t *tv = json_object_get(target, k);
    if (json_is_object(tv)) {
      if (rt__attrs_patch(tv, pv))
        return RT_ENOMEM;
      continue;
    }
    json_t *fresh = json_object(); /* a patch object onto anything else: onto {} (RFC 7396) */
    if (!fresh || rt__attrs_patch(fresh, pv) || json_object_set_new(target, k, fresh))
      return RT_ENOMEM;
  }
  return 0;
}

int rt__attrs_merge(const char *cur, size_t cur_len, const char *patch, char **out,
                    rt_error *err) {
  *out = NULL;
  json_error_t je;
  json_t *target = NULL, *p = json_loads(patch, JSON_REJECT_DUPLICATES, &je);
  if (!json_is_object(p)) {
    json_decref(p);
    return rt_error_set(err, RT_EINVAL, "customer attributes must be a JSON object");
  }
  size_t keys0 = 0;
  if (cur) {
    target = json_loadb(cur, cur_len, 0, &je);
    if (!target) {
      json_decref(p);
      return rt_error_set(err, RT_ESTORE, "the stored attributes are not JSON (%s)", je.text);
    }
    keys0 = rt__json_keys(target);
  }
  if (!json_is_object(target)) { /* none yet (or not an object: replaced, as RFC 7396 says) */
    json_decref(target);
    target = json_object();
  }
  int rc = target ? rt__attrs_patch(target, p) : RT_ENOMEM;
  char *text = rc ? NULL : json_dumps(target, JSON_COMPACT | JSON_PRESERVE_ORDER);
  size_t keys = rc ? 0 : rt__json_keys(target), bytes = text ? strlen(text) : 0;
  json_decref(target);
  json_decref(p);
  if (!text)
    return rt_error_set(err, RT_ENOMEM, "%s", rt_strerror(RT_ENOMEM));
  /* only growth past a limit is refused: a customer over it (merged, or stored before the
   * limits) can still be changed and trimmed */
  if (keys > RT_ATTRS_MAX_KEYS && keys > keys0)
    rc = rt_error_set(err, RT_ERANGE,
                      "the customer's attributes would have %zu keys (nested ones counted), "
                      "at most %d",
                      keys, RT_ATTRS_MAX_KEYS);
  else if (bytes > RT_ATTRS_MAX_BYTES && (!cur || bytes > cur_len))
    rc = rt_error_set(err, RT_ERANGE,
                      "the customer's attributes would take %zu bytes as JSON, at most %d",
                      bytes, RT_ATTRS_MAX_BYTES);
  if (rc) {
    free(text);
    return rc;
  }
  *out = text;
  return 0;
}
