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

/* A fast 64-bit hash of a byte string, the same in every process (not cryptographic): for
 * what is stored, like the ids the importer makes for rows without one. */
uint64_t rt__hash_bytes(const void *p, size_t n);
/* The hash of every hash table whose keys come from outside (customer ids of a public write
 * key, of an import file): SipHash-1-3 keyed with 16 random bytes drawn once per process, so
 * no one can choose ids that collide and make every lookup a long probe. */
uint64_t rt__hash_table(const void *p, size_t n);
/* SipHash-c-d of p[0..n) under key (for the tests: SipHash-2-4 has published vectors). */
uint64_t rt__siphash(const uint64_t key[2], const void *p, size_t n, int c, int d);

#if defined(__GNUC__)
#define RT__NOINLINE __attribute__((noinline))
#else
#define RT__NOINLINE
#endif

/* Set bits in x (without the POPCNT instruction the builtin is a library call). */
static inline unsigned rt__popcount64(uint64_t x) {
#ifdef __POPCNT__
  return (unsigned)__builtin_popcountll(x);
#else
  x -= (x >> 1) & UINT64_C(0x5555555555555555);
  x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));
  x = (x + (x >> 4)) & UINT64_C(0x0F0F0F0F0F0F0F0F);
  return (unsigned)((x * UINT64_C(0x0101010101010101)) >> 56);
#endif
}

/* Runs fn(args + i * stride) for i in 0..n-1 (n <= RT__MAX_THREADS), parts 1.. on their own
 * threads and part 0 on the calling thread; a part whose thread cannot start runs on the
 * calling thread. Returns when all are done. rt__cpus: online CPUs, at most RT__MAX_THREADS. */
#define RT__MAX_THREADS 4
void rt__parallel(int n, void (*fn)(void *), void *args, size_t stride);
int rt__cpus(void);

/* Parts of files read by the importer's fast row loop (import.c), for the tests. */
#include <stdatomic.h>
extern atomic_long rt__import_fast_parts;

/* Prints a phase mark with the time since the first mark to stderr if RETAIN_TRACE is set. */
void rt__trace(const char *what);

/* Zeroed memory for a large randomly accessed table: on huge pages where the kernel allows
 * (fewer TLB misses). Freed with rt_free. */
void *rt__calloc_big(size_t count, size_t size);

/* A string-keyed map to dense uint32 indexes: keys are copied into an internal pool; values
 * are the insertion order 0, 1, 2, ...
 * Keys that are plain decimal numbers ("1".."999999999", no leading zero: most customer ids)
 * are looked up in a direct array indexed by their value while the values stay dense enough;
 * all other keys go to an open-addressing hash table. A slot holds the index, a tag (hash bits
 * and the key length) and the key's first 8 bytes, so a lookup of a key of up to 8 bytes
 * touches one cache line; longer keys are compared in the pool after tag and head match. */
typedef struct rt__strslot {
  uint32_t idx1; /* index + 1, 0 = empty */
  uint32_t tag;  /* hash bits 40..63 << 8 | min(len, 255) */
  uint64_t head; /* the key's first 8 bytes, zero padded */
} rt__strslot;

typedef struct rt__strmap {
  rt__strslot *slots;
  size_t mask;       /* slots - 1 (slots may be NULL while every key is a dense number) */
  size_t nhashed;    /* keys in the hash table */
  uint32_t *dense;   /* number → index + 1, for numbers below dense_len */
  size_t dense_len;
  uint64_t *key_off; /* per index: offset in pool (count + 1 entries kept) */
  char *pool;
  size_t pool_len, pool_cap;
  size_t count, cap_idx; /* entries, capacity of key_off */
} rt__strmap;

void rt__strmap_init(rt__strmap *m);
void rt__strmap_free(rt__strmap *m);
/* Finds key or inserts it; *out is its index, *inserted 1 if new. RT_ENOMEM on failure. */
int rt__strmap_intern(rt__strmap *m, const char *key, size_t len, uint32_t *out, int *inserted);
/* Returns 1 and sets *out if present. */
int rt__strmap_find(const rt__strmap *m, const char *key, size_t len, uint32_t *out);
/* The value of a key that is a plain decimal number ("0", "7", "123456789": no sign, no
 * leading zero, at most 9 digits), or -1. Such keys are interned by value as well. */
static inline int64_t rt__strmap_number(const char *k, size_t len) {
  if (len == 0 || len > 9 || (k[0] == '0' && len > 1))
    return -1;
  int64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned d = (unsigned)(unsigned char)k[i] - '0';
    if (d > 9)
      return -1;
    v = v * 10 + d;
  }
  return v;
}
/* map[i] = the index in dst of src's key i, for every key of src (map has src->count
 * entries); keys dst lacks are added in src's order, as interning them one by one would. */
int rt__strmap_merge(rt__strmap *dst, const rt__strmap *src, uint32_t *map);
/* Fills the empty map m with the numbers whose bits are set (bit v of bits[v / 64]), in
 * increasing order, as interning their decimal keys in that order would. RT_ERANGE for
 * numbers of 10 digits or more. */
int rt__strmap_from_numbers(rt__strmap *m, const uint64_t *bits, size_t nwords);
/* rt__strmap_intern of the decimal key of v (v < 10^9): the same index as interning its text. */
int rt__strmap_intern_number(rt__strmap *m, uint32_t v, uint32_t *out);
/* Makes the direct array reach the number v at once, if it would once up to more_keys more
 * keys are added (so a batch of numbers does not grow it step by step). RT_ENOMEM. */
int rt__strmap_reserve_number(rt__strmap *m, uint32_t v, size_t more_keys);
/* Starts loading the memory a lookup of the number v will touch. */
void rt__strmap_prefetch_number(const rt__strmap *m, uint32_t v);
/* Starts loading the memory a lookup of key will touch (call it some work before the lookup). */
void rt__strmap_prefetch(const rt__strmap *m, const char *key, size_t len);
/* The length of key i (rt__strmap_key gives its bytes, NUL-terminated). */
static inline size_t rt__strmap_len(const rt__strmap *m, uint32_t i) {
  return (size_t)(m->key_off[i + 1] - m->key_off[i] - 1);
}
/* Bulk paths of the model builder (model.c), for the parallel file reader. */
struct rt_model_builder;
/* Takes over ids (left empty) as the builder's customers; the builder must have none yet. */
int rt__model_builder_adopt_ids(struct rt_model_builder *b, rt__strmap *ids);
/* The builder's customer map, to add customers in bulk; call rt__model_builder_sync_ids after. */
rt__strmap *rt__model_builder_ids(struct rt_model_builder *b);
int rt__model_builder_sync_ids(struct rt_model_builder *b);
/* Rows for rt__model_builder_take: an order each, or a refund of -amount where amount < 0.
 * Customers are cust[i], or map[cust[i]] when map is given; currencies are 3 letters packed
 * in 24 bits. The arrays are rt_malloc'd; map may be NULL. */
typedef struct rt__rowset {
  size_t from, n; /* rows from..n-1 are the set's */
  uint32_t *cust, *map;
  int64_t *ms, *amount;
  uint32_t *cur;  /* NULL when every row's code is cur1 */
  uint32_t cur1;
} rt__rowset;
/* Hands row sets (at most RT__MAX_THREADS in all) to the builder, which groups them with its
 * other rows at build time and frees them; the sets are left empty, also on failure.
 * RT_EINVAL for a customer the builder does not have or too many currencies, RT_ENOMEM. */
int rt__model_builder_take(struct rt_model_builder *b, rt__rowset *sets, int nsets);

static inline const char *rt__strmap_key(const rt__strmap *m, uint32_t i) {
  return m->pool + m->key_off[i];
}

/* The largest amount of money, in minor units, that retain accepts (either sign): 9e15 is
 * exact in a double, and a thousand of them still sum inside int64. */
#define RT__MONEY_MAX INT64_C(9000000000000000)
/* The largest quantity of an order line. */
#define RT__QUANTITY_MAX 1000000

/* Parses a plain decimal money amount: an optional sign, digits, optionally a point and
 * digits ("1234.56", "-12.5", "+12"; not "1,234.56", "1e3", "0x1p4", ".5", "5.", " 5", "inf")
 * into minor units with exp decimals, rounding half away from zero beyond exp. Returns 0, or
 * RT_EPARSE / RT_ERANGE (beyond RT__MONEY_MAX). */
int rt__parse_money(const char *s, size_t n, int exp, int64_t *out);

/* ---- validate.c: the rules shared by the API's event parser and the CSV importer ---- */

/* Checks an external id s[0..n) (customer, anonymous, order, message id): RT_EINVAL with *why
 * ("contains a NUL byte", "is not valid UTF-8") when it is not acceptable. Ids are compared in
 * Unicode NFC, so "café" with a precomposed or a combining accent is one id: *nfc is NULL when
 * s is already NFC (all ASCII ids), else the NFC form, nfc_len bytes, to free() (not rt_free:
 * libutf8proc allocates it). */
int rt__id_check(const char *s, size_t n, char **nfc, size_t *nfc_len, const char **why);
/* A currency code s[0..n): three letters, of any case, that are a current ISO 4217 code; out
 * gets it upper-cased. RT_EINVAL otherwise. */
int rt__currency_check(const char *s, size_t n, char out[4]);
/* A line's quantity: a whole number, 1..RT__QUANTITY_MAX (or -RT__QUANTITY_MAX..-1 where a
 * negative quantity means a return, allow_negative). RT_EINVAL with *why. */
int rt__quantity_check(double q, int allow_negative, const char **why);
/* qty * unit, and *sum + x, of money in minor units: RT_ERANGE beyond RT__MONEY_MAX (never a
 * wrapped-around value). */
int rt__money_mul(int64_t qty, int64_t unit, int64_t *out);
int rt__money_add(int64_t *sum, int64_t x);
/* A money value given as a binary number (a JSON number) into minor units with exp decimals,
 * rounded to nearest; RT_ERANGE beyond RT__MONEY_MAX or for NaN. */
int rt__money_from_double(double x, int exp, int64_t *out);
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

/* model/rates.c: the day-table cells a set of rates may use before its series are searched
 * instead (set before rt_rates_finish; for the tests of both lookups). */
struct rt_rates;
void rt__rates_set_dense_max(struct rt_rates *r, size_t cells);

/* model/snapshot.c: releases a model opened from a snapshot (its mapping and the struct). */
struct rt_model;
void rt__model_unmap(struct rt_model *m);
/* The currencies of a build that converts with exchange rates (cancel.c): each grouped row's
 * builder currency id, the rates, each id's index in them (-1: unknown to them), the model
 * currency's id, and the rows left out (no rate) per id. */
struct rt_rates;
typedef struct rt__currencies {
  const uint8_t *order, *refund; /* per grouped row */
  const struct rt_rates *rates;
  int index[256];
  int keep;
  int64_t left_out[256];
} rt__currencies;
/* cancel.c: on a model being built (orders and refunds grouped, days set), cancels the orders
 * paid back in full (moved to the cancel_* columns) and, with cur, converts every amount into
 * the model's currency, leaving out the rows without a rate; link[j] is the time of the order
 * refund j names (0: none; link may be NULL). RT_ENOMEM leaves the model to be freed. */
int rt__model_cancel(struct rt_model *m, const int64_t *link, rt__currencies *cur);
/* model.c: the per-customer columns (first/last order day, revenue, refunded) from the rows. */
void rt__model_derive(struct rt_model *m);

#endif
