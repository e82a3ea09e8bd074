/* attrs.h - customer attributes as the store keeps them: a JSON object that each write
 * patches (RFC 7396 merge patch), within size limits (RT_ATTRS_MAX_KEYS, RT_ATTRS_MAX_BYTES in
 * store.h). Library-internal; the SQLite backend and the server's parser use it. */
#ifndef RETAIN_STORE_ATTRS_H
#define RETAIN_STORE_ATTRS_H

#include <retain/error.h>

#include <jansson.h>
#include <stddef.h>

/* The members of v's objects, nested ones included (0 for anything but an object or array). */
size_t rt__json_keys(const json_t *v);

/* Applies the merge patch (a JSON object) to target (a JSON object, changed in place): a null
 * deletes its key, an object is merged into the object under its key, anything else replaces
 * it. Keys keep their place; new ones are appended in the patch's order. Linear in the sizes
 * (jansson's objects are hash tables). 0 or RT_ENOMEM. */
int rt__attrs_patch(json_t *target, json_t *patch);

/* The attributes after patching cur (cur_len bytes of JSON text, or NULL for none) with patch
 * (a JSON object's text), as compact JSON text in *out (free with free()). RT_ERANGE when the
 * result is over a limit and larger than cur (a customer already over it may still change
 * and delete: see store.h), RT_ESTORE when cur is not a JSON object, RT_EINVAL when patch is
 * not one. err says which limit, with the counts. */
int rt__attrs_merge(const char *cur, size_t cur_len, const char *patch, char **out,
                    rt_error *err);

#endif
