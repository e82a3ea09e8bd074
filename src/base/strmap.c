/* strmap.c - rt__strmap, the string → dense index hash map used to intern external ids
 * (customers by id while importing or building a model from a file), rt__hash_bytes, and the
 * keyed hash of the tables whose keys come from outside (rt__hash_table). */
#include "internal.h"

#include <retain/alloc.h>
#include <retain/error.h>

#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

/* ---- SipHash (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012) ----
 * The state is four 64-bit words started from the key and four constants; each 8-byte
 * little-endian word m of the message is xored into v3, mixed by c SipRounds and xored into
 * v0; the last word holds the remaining bytes and the length mod 256 in its top byte; then v2
 * is xored with 0xff, d SipRounds mix, and the result is v0 ^ v1 ^ v2 ^ v3. */
static inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

#define SIPROUND                                                                                \
  do {                                                                                         \
    v0 += v1, v1 = rotl(v1, 13), v1 ^= v0, v0 = rotl(v0, 32);                                  \
    v2 += v3, v3 = rotl(v3, 16), v3 ^= v2;                                                     \
    v0 += v3, v3 = rotl(v3, 21), v3 ^= v0;                                                     \
    v2 += v1, v1 = rotl(v1, 17), v1 ^= v2, v2 = rotl(v2, 32);                                  \
  } while (0)

static inline __attribute__((always_inline)) uint64_t siphash(uint64_t k0, uint64_t k1,
                                                              const void *p, size_t n, int c,
                                                              int d) {
  const unsigned char *s = p;
  uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL,
           v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
  uint64_t last = (uint64_t)n << 56;
  for (; n >= 8; s += 8, n -= 8) {
    uint64_t m;
    memcpy(&m, s, 8); /* little-endian hosts (x86-64, arm64), as the algorithm reads words */
    v3 ^= m;
    for (int i = 0; i < c; i++)
      SIPROUND;
    v0 ^= m;
  }
  for (size_t i = 0; i < n; i++)
    last |= (uint64_t)s[i] << (8 * i);
  v3 ^= last;
  for (int i = 0; i < c; i++)
    SIPROUND;
  v0 ^= last;
  v2 ^= 0xff;
  for (int i = 0; i < d; i++)
    SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t rt__siphash(const uint64_t key[2], const void *p, size_t n, int c, int d) {
  return siphash(key[0], key[1], p, n, c, d);
}

/* The process's key of rt__hash_table: 16 random bytes, drawn once. */
static uint64_t table_key[2];
static atomic_int table_keyed;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void draw_table_key(void) {
  if (RAND_bytes((unsigned char *)table_key, sizeof table_key) != 1) {
    /* no generator: what differs between processes and runs still keeps ids from being
     * chosen to collide ahead of time */
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    table_key[0] = (uint64_t)t.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)t.tv_sec;
    table_key[1] = (uint64_t)getpid() * 0xc2b2ae3d27d4eb4fULL ^ (uint64_t)(uintptr_t)&t;
  }
  atomic_store_explicit(&table_keyed, 1, memory_order_release);
}

uint64_t rt__hash_table(const void *p, size_t n) {
  if (__builtin_expect(!atomic_load_explicit(&table_keyed, memory_order_acquire), 0))
    pthread_once(&table_once, draw_table_key);
  return siphash(table_key[0], table_key[1], p, n, 1, 3); /* SipHash-1-3 */
}

static inline uint64_t mix64(uint64_t x) {
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  return x;
}

/* Not keyed, on purpose: the importer's ids of rows without one ("row:<hash>:<n>") are
 * stored and must come out the same in every run. Tables of keys from outside use
 * rt__hash_table. */
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
  rt_free(m->dense);
  rt_free(m->key_off);
  rt_free(m->pool);
  memset(m, 0, sizeof *m);
}

/* How far the direct array may reach for a map of n keys: numbers may be sparse by 4x. */
static inline size_t dense_limit(size_t n) { return 4 * n + ((size_t)1 << 16); }

static inline uint64_t key_head(const char *key, size_t len) {
  uint64_t w = 0;
  if (len >= 8) {
    memcpy(&w, key, 8);
  } else {
    for (size_t i = 0; i < len; i++)
      w |= (uint64_t)(unsigned char)key[i] << (8 * i);
  }
  return w;
}

static inline uint32_t key_tag(uint64_t h, size_t len) {
  return (uint32_t)(h >> 40) << 8 | (uint32_t)(len < 255 ? len : 255);
}

/* Slots for n hashed keys at a load factor of at most 1/2. */
static size_t slots_for(size_t n) {
  size_t nslots = 1024;
  while (nslots < 2 * n)
    nslots *= 2;
  return nslots;
}

/* Rebuilds the direct array (dense_len entries) and the hash table (nslots slots, a power of
 * two, or none) from the pool: numbers below dense_len go to the array, the rest are hashed. */
static int rebuild(rt__strmap *m, size_t dense_len, size_t nslots) {
  uint32_t *dense = NULL;
  rt__strslot *slots = NULL;
  if (dense_len && !(dense = rt__calloc_big(dense_len, sizeof *dense)))
    return RT_ENOMEM;
  if (nslots && !(slots = rt__calloc_big(nslots, sizeof *slots))) {
    rt_free(dense);
    return RT_ENOMEM;
  }
  size_t mask = nslots ? nslots - 1 : 0, nhashed = 0;
  for (size_t i = 0; i < m->count; i++) {
    const char *k = m->pool + m->key_off[i];
    size_t len = (size_t)(m->key_off[i + 1] - m->key_off[i] - 1);
    int64_t v = rt__strmap_number(k, len);
    if (v >= 0 && (size_t)v < dense_len) {
      dense[v] = (uint32_t)(i + 1);
      continue;
    }
    if (!slots) { /* a caller bug: the table must be sized for every hashed key */
      rt_free(dense);
      return RT_EINVAL;
    }
    uint64_t h = rt__hash_table(k, len);
    size_t s = h & mask;
    while (slots[s].idx1)
      s = (s + 1) & mask;
    slots[s] = (rt__strslot){(uint32_t)(i + 1), key_tag(h, len), key_head(k, len)};
    nhashed++;
  }
  rt_free(m->dense);
  rt_free(m->slots);
  m->dense = dense;
  m->dense_len = dense_len;
  m->slots = slots;
  m->mask = mask;
  m->nhashed = nhashed;
  return 0;
}

static int reserve_idx(rt__strmap *m, size_t n) {
  if (n + 1 <= m->cap_idx)
    return 0;
  size_t cap = m->cap_idx ? m->cap_idx : 1024;
  while (cap < n + 1)
    cap *= 2;
  uint64_t *ko = rt_reallocarray(m->key_off, cap + 1, sizeof *ko);
  if (!ko)
    return RT_ENOMEM;
  m->key_off = ko;
  if (m->count == 0)
    m->key_off[0] = 0;
  m->cap_idx = cap;
  return 0;
}

/* The slot holding key, or the empty slot where it would go. */
static inline size_t probe(const rt__strmap *m, const char *key, size_t len, uint64_t h) {
  uint32_t tag = key_tag(h, len);
  uint64_t head = key_head(key, len);
  size_t s = h & m->mask;
  for (;;) {
    const rt__strslot *sl = &m->slots[s];
    if (!sl->idx1)
      return s;
    if (sl->tag == tag && sl->head == head) {
      if (len <= 8)
        return s;
      uint32_t i = sl->idx1 - 1;
      if (m->key_off[i + 1] - m->key_off[i] == len + 1 &&
          memcmp(m->pool + m->key_off[i], key, len) == 0)
        return s;
    }
    s = (s + 1) & m->mask;
  }
}

int rt__strmap_find(const rt__strmap *m, const char *key, size_t len, uint32_t *out) {
  int64_t v = rt__strmap_number(key, len);
  if (v >= 0 && (size_t)v < m->dense_len) {
    if (!m->dense[v])
      return 0;
    *out = m->dense[v] - 1;
    return 1;
  }
  if (!m->slots)
    return 0;
  const rt__strslot *sl = &m->slots[probe(m, key, len, rt__hash_table(key, len))];
  if (!sl->idx1)
    return 0;
  *out = sl->idx1 - 1;
  return 1;
}

void rt__strmap_prefetch(const rt__strmap *m, const char *key, size_t len) {
  int64_t v = rt__strmap_number(key, len);
  if (v >= 0 && (size_t)v < m->dense_len)
    __builtin_prefetch(&m->dense[v]);
  else if (m->slots)
    __builtin_prefetch(&m->slots[rt__hash_table(key, len) & m->mask]);
}

int rt__strmap_reserve_number(rt__strmap *m, uint32_t v, size_t more_keys) {
  if (v < m->dense_len)
    return 0;
  size_t want = m->dense_len ? m->dense_len * 2 : 4096;
  while (want <= v)
    want *= 2;
  if (want > dense_limit(m->count + more_keys))
    return 0; /* too sparse: such numbers stay in the hash table */
  return rebuild(m, want, m->slots ? m->mask + 1 : 0);
}

void rt__strmap_prefetch_number(const rt__strmap *m, uint32_t v) {
  if (v < m->dense_len)
    __builtin_prefetch(&m->dense[v]);
}

int rt__strmap_intern_number(rt__strmap *m, uint32_t v, uint32_t *out) {
  if (v < m->dense_len && m->dense[v]) { /* the common case: seen before */
    *out = m->dense[v] - 1;
    return 0;
  }
  char digits[16];
  size_t n = 0;
  do {
    digits[sizeof digits - 1 - n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return rt__strmap_intern(m, digits + sizeof digits - n, n, out, NULL);
}

/* Appends key to the pool as index count. */
static int add_key(rt__strmap *m, const char *key, size_t len, uint32_t *out) {
  if (reserve_idx(m, m->count + 1))
    return RT_ENOMEM;
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
  uint32_t i = (uint32_t)m->count;
  memcpy(m->pool + m->pool_len, key, len);
  m->pool[m->pool_len + len] = '\0';
  m->pool_len += len + 1;
  m->key_off[i + 1] = m->pool_len;
  m->count++;
  *out = i;
  return 0;
}

int rt__strmap_intern(rt__strmap *m, const char *key, size_t len, uint32_t *out, int *inserted) {
  if (m->count >= UINT32_MAX - 1)
    return RT_ERANGE;
  int64_t v = rt__strmap_number(key, len);
  if (v >= 0 && (size_t)v >= m->dense_len) {
    /* grow the direct array (at least doubling, so rebuilds stay rare) to take this number
     * and any hashed ones it now covers, while the numbers are dense enough */
    size_t want = m->dense_len ? m->dense_len * 2 : 4096;
    while (want <= (size_t)v)
      want *= 2;
    if (want <= dense_limit(m->count + 1)) {
      int rc = rebuild(m, want, m->slots ? m->mask + 1 : 0);
      if (rc)
        return rc;
    }
  }
  if (v >= 0 && (size_t)v < m->dense_len) {
    uint32_t *d = &m->dense[v];
    if (*d) {
      *out = *d - 1;
      if (inserted)
        *inserted = 0;
      return 0;
    }
    int rc = add_key(m, key, len, out);
    if (rc)
      return rc;
    *d = *out + 1;
    if (inserted)
      *inserted = 1;
    return 0;
  }
  if (!m->slots || (m->nhashed + 1) * 2 > m->mask + 1) {
    int rc = rebuild(m, m->dense_len, slots_for(m->nhashed + 1));
    if (rc)
      return rc;
  }
  uint64_t h = rt__hash_table(key, len);
  size_t s = probe(m, key, len, h);
  if (m->slots[s].idx1) {
    *out = m->slots[s].idx1 - 1;
    if (inserted)
      *inserted = 0;
    return 0;
  }
  int rc = add_key(m, key, len, out);
  if (rc)
    return rc;
  m->slots[s] = (rt__strslot){*out + 1, key_tag(h, len), key_head(key, len)};
  m->nhashed++;
  if (inserted)
    *inserted = 1;
  return 0;
}

int rt__strmap_merge(rt__strmap *dst, const rt__strmap *src, uint32_t *map) {
  if (src->count)
    memset(map, 0xFF, src->count * sizeof *map); /* UINT32_MAX: not matched yet */
  /* numbers both direct arrays hold: the arrays side by side, no key read */
  size_t n = src->dense_len < dst->dense_len ? src->dense_len : dst->dense_len;
  for (size_t v = 0; v < n; v++) {
    uint32_t a = src->dense[v], b = dst->dense[v];
    if (a && b)
      map[a - 1] = b - 1;
  }
  /* the rest one by one, in src's order, so that new keys get their indexes in that order */
  for (uint32_t i = 0; i < src->count; i++) {
    uint32_t ahead = i + 16;
    if (ahead < src->count && map[ahead] == UINT32_MAX) /* dst is touched at random */
      rt__strmap_prefetch(dst, rt__strmap_key(src, ahead), rt__strmap_len(src, ahead));
    if (map[i] != UINT32_MAX)
      continue;
    int rc = rt__strmap_intern(dst, rt__strmap_key(src, i), rt__strmap_len(src, i), &map[i], NULL);
    if (rc)
      return rc;
  }
  return 0;
}

/* The decimal digits of v (v < 10^9) at d; returns their count. */
static inline size_t put_decimal(char *d, uint32_t v) {
  char t[10];
  size_t n = 0;
  do {
    t[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++)
    d[i] = t[n - 1 - i];
  return n;
}

int rt__strmap_from_numbers(rt__strmap *m, const uint64_t *bits, size_t nwords) {
  if (m->count)
    return RT_EINVAL;
  size_t n = 0, pool = 0;
  uint32_t maxv = 0;
  for (size_t k = 0; k < nwords; k++) {
    if (!bits[k])
      continue;
    n += (size_t)rt__popcount64(bits[k]);
    maxv = (uint32_t)(k * 64 + 63 - (size_t)__builtin_clzll(bits[k]));
  }
  if (!n)
    return 0;
  if (maxv >= 1000000000u || n >= UINT32_MAX - 1)
    return RT_ERANGE;
  pool = n * 10; /* at most 9 digits and the NUL each */
  int rc = reserve_idx(m, n);
  if (rc)
    return rc;
  if (!(m->pool = rt_malloc(pool)))
    return RT_ENOMEM;
  m->pool_cap = pool;
  /* the direct array, as interning would size it, filled on the way; or, numbers too sparse
   * for one, the hash table after */
  size_t want = 4096;
  while (want <= maxv)
    want *= 2;
  uint32_t *dense = NULL;
  if (want <= dense_limit(n)) {
    if (!(dense = rt__calloc_big(want, sizeof *dense)))
      return RT_ENOMEM;
    m->dense = dense;
    m->dense_len = want;
  }
  char *d = m->pool;
  uint32_t i = 0;
  for (size_t k = 0; k < nwords; k++)
    for (uint64_t w = bits[k]; w; w &= w - 1) {
      uint32_t v = (uint32_t)(k * 64 + (size_t)__builtin_ctzll(w));
      d += put_decimal(d, v);
      *d++ = '\0';
      m->key_off[++i] = (uint64_t)(d - m->pool);
      if (dense)
        dense[v] = i; /* index i - 1, plus one */
    }
  m->pool_len = (size_t)(d - m->pool);
  m->count = n;
  return dense ? 0 : rebuild(m, 0, slots_for(n));
}
