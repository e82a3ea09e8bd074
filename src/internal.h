/* internal.h - helpers shared by libretain's modules; not part of the public API.
 * Names here start with rt__ (library-internal), like libuv's uv__. */
#ifndef RETAIN_INTERNAL_H
#define RETAIN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define RT_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RT_MAX(a, b) ((a) > (b) ? (a) : (b))

/* A fast 64-bit hash of a byte string (not cryptographic; for hash tables). */
uint64_t rt__hash_bytes(const void *p, size_t n);

/* A string-keyed open-addressing hash map to dense uint32 indexes: keys are copied into an
 * internal pool; values are the insertion order 0, 1, 2, ... */
typedef struct rt__strmap {
  uint32_t *slots;   /* index + 1, 0 = empty */
  uint64_t *hashes;  /* per index */
  uint64_t *key_off; /* per index: offset in pool (count + 1 entries kept) */
  char *pool;
  size_t pool_len, pool_cap;
  size_t count, cap_idx; /* entries, capacity of the per-index arrays */
  size_t mask;           /* slots - 1 */
} rt__strmap;

void rt__strmap_init(rt__strmap *m);
void rt__strmap_free(rt__strmap *m);
/* Finds key or inserts it; *out is its index, *inserted 1 if new. RT_ENOMEM on failure. */
int rt__strmap_intern(rt__strmap *m, const char *key, size_t len, uint32_t *out, int *inserted);
/* Returns 1 and sets *out if present. */
int rt__strmap_find(const rt__strmap *m, const char *key, size_t len, uint32_t *out);
static inline const char *rt__strmap_key(const rt__strmap *m, uint32_t i) {
  return m->pool + m->key_off[i];
}

/* Parses a decimal money amount ("-1,234.56" is not accepted; "1234.56", "-12.5", "12",
 * "1e3" no) into minor units with exp decimals, rounding half away from zero beyond exp.
 * Returns 0, or RT_EPARSE / RT_ERANGE. */
int rt__parse_money(const char *s, size_t n, int exp, int64_t *out);
/* Parses a decimal number (optionally signed, with fraction) into a double. */
int rt__parse_double(const char *s, size_t n, double *out);
/* Parses a signed 64-bit integer (whole string). */
int rt__parse_i64(const char *s, size_t n, int64_t *out);

/* Writes a, b and c one after the other into dst[n], cutting what does not fit (n > 0). */
static inline void rt__strjoin(char *dst, size_t n, const char *a, const char *b, const char *c) {
  const char *parts[3] = {a, b, c};
  size_t o = 0;
  for (int i = 0; i < 3; i++)
    for (const char *p = parts[i]; p && *p && o + 1 < n; p++) dst[o++] = *p;
  dst[o] = '\0';
}

/* model/snapshot.c: releases a model opened from a snapshot (its mapping and the struct). */
struct rt_model;
void rt__model_unmap(struct rt_model *m);

#endif
