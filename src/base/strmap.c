/* strmap.c - rt__strmap, the string → dense index hash map used to intern external ids
 * (customers by id while importing or building a model from a file), and rt__hash_bytes. */
#include "internal.h"

#include <retain/alloc.h>
#include <retain/error.h>

static inline uint64_t mix64(uint64_t x) {
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  return x;
}

uint64_t rt__hash_bytes(const void *p, size_t n) {
  const unsigned char *s = p;
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xff51afd7ed558ccdULL);
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = mix64(h ^ w) + 0x9e3779b97f4a7c15ULL;
    s += 8;
    n -= 8;
  }
  uint64_t w = 0;
  for (size_t i = 0; i < n; i++)
    w |= (uint64_t)s[i] << (8 * i);
  return mix64(h ^ w ^ ((uint64_t)n << 59));
}

void rt__strmap_init(rt__strmap *m) { memset(m, 0, sizeof *m); }

void rt__strmap_free(rt__strmap *m) {
  if (!m)
    return;
  rt_free(m->slots);
  rt_free(m->hashes);
  rt_free(m->key_off);
  rt_free(m->pool);
  memset(m, 0, sizeof *m);
}

static int grow_slots(rt__strmap *m) {
  size_t nslots = m->mask ? (m->mask + 1) * 2 : 1024;
  uint32_t *slots = rt_calloc(nslots, sizeof *slots);
  if (!slots)
    return RT_ENOMEM;
  size_t mask = nslots - 1;
  for (size_t i = 0; i < m->count; i++) {
    size_t s = m->hashes[i] & mask;
    while (slots[s])
      s = (s + 1) & mask;
    slots[s] = (uint32_t)(i + 1);
  }
  rt_free(m->slots);
  m->slots = slots;
  m->mask = mask;
  return 0;
}

int rt__strmap_find(const rt__strmap *m, const char *key, size_t len, uint32_t *out) {
  if (!m->slots)
    return 0;
  uint64_t h = rt__hash_bytes(key, len);
  size_t s = h & m->mask;
  for (;;) {
    uint32_t v = m->slots[s];
    if (!v)
      return 0;
    uint32_t i = v - 1;
    if (m->hashes[i] == h && m->key_off[i + 1] - m->key_off[i] == len + 1 &&
        memcmp(m->pool + m->key_off[i], key, len) == 0) {
      *out = i;
      return 1;
    }
    s = (s + 1) & m->mask;
  }
}

int rt__strmap_intern(rt__strmap *m, const char *key, size_t len, uint32_t *out, int *inserted) {
  if (m->slots && rt__strmap_find(m, key, len, out)) {
    if (inserted)
      *inserted = 0;
    return 0;
  }
  if (m->count >= UINT32_MAX - 1)
    return RT_ERANGE;
  /* keep the load factor under 1/2 */
  if (!m->slots || (m->count + 1) * 2 > m->mask + 1) {
    int rc = grow_slots(m);
    if (rc)
      return rc;
  }
  if (m->count + 2 > m->cap_idx) {
    size_t cap = m->cap_idx ? m->cap_idx * 2 : 1024;
    uint64_t *hs = rt_reallocarray(m->hashes, cap, sizeof *hs);
    if (!hs)
      return RT_ENOMEM;
    m->hashes = hs;
    uint64_t *ko = rt_reallocarray(m->key_off, cap + 1, sizeof *ko);
    if (!ko)
      return RT_ENOMEM;
    m->key_off = ko;
    if (m->count == 0)
      m->key_off[0] = 0;
    m->cap_idx = cap;
  }
  if (m->pool_len + len + 1 > m->pool_cap) {
    size_t cap = m->pool_cap ? m->pool_cap * 2 : 16384;
    while (cap < m->pool_len + len + 1)
      cap *= 2;
    char *p = rt_realloc(m->pool, cap);
    if (!p)
      return RT_ENOMEM;
    m->pool = p;
    m->pool_cap = cap;
  }
  uint64_t h = rt__hash_bytes(key, len);
  uint32_t i = (uint32_t)m->count;
  memcpy(m->pool + m->pool_len, key, len);
  m->pool[m->pool_len + len] = '\0';
  m->pool_len += len + 1;
  m->hashes[i] = h;
  m->key_off[i + 1] = m->pool_len;
  size_t s = h & m->mask;
  while (m->slots[s])
    s = (s + 1) & m->mask;
  m->slots[s] = i + 1;
  m->count++;
  *out = i;
  if (inserted)
    *inserted = 1;
  return 0;
}
