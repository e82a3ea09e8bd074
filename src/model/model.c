/* model.c - builds the in-memory columnar customer model (model.h).
 *
 * The builder appends rows to column arrays in arrival order; rt_model_build then groups them
 * by customer with a counting sort (stable, so rows that arrive in time order stay in time
 * order and need no further sort), sorts any customer slice that is not in time order, keeps
 * the model currency's rows, and derives the per-customer columns. Peak memory is the raw
 * columns plus the final ones: about 45 bytes per order. */
#include "internal.h"

#include <retain/alloc.h>
#include <retain/model.h>
#include <retain/rates.h>
#include <limits.h>
#include <stdlib.h>

#define MAX_CURRENCIES 255

typedef struct rawcols {
  size_t n, cap;
  uint32_t *cust;
  int64_t *ms;
  int64_t *amount;
  int64_t *ms2;  /* subscriptions: cancel time (0 = active) */
  uint8_t *cur;
} rawcols;

struct rt_model_builder {
  const rt_tz *tz;
  const rt_rates *rates; /* borrowed; NULL: other currencies are left out */
  char want_currency[4];
  rt__strmap ids;
  int64_t *store_id;
  size_t store_cap;
  int64_t *created_ms; /* [created_cap] INT64_MIN: unknown; NULL until rt_model_builder_created */
  size_t created_cap;
  char currencies[MAX_CURRENCIES][4];
  int ncurrencies;
  rawcols orders, refunds, subs;
  /* row sets taken over from the parallel file reader: orders and refunds, grouped at build */
  rt__rowset sets[RT__MAX_THREADS];
  int nsets;
  size_t set_orders;
  size_t set_count[MAX_CURRENCIES]; /* orders in the sets per currency id */
  /* per set, when it holds one currency (id set_cid), its orders counted per block of
   * customers by the census, so that the grouping need not count them again; else NULL */
  size_t *set_blocks[RT__MAX_THREADS];
  size_t set_nblocks[RT__MAX_THREADS];
  int set_cid[RT__MAX_THREADS];
};

/* Rows are grouped by blocks of 2^GROUP_BLOCK_BITS customers (see group_rows). */
#define GROUP_BLOCK_BITS 11

/* ISO 4217 minor units for the codes that do not use 2 decimals. The codes are packed into
 * integers so the common case (a 2-decimal currency, checked for every order) is a short
 * scan of integer compares. */
#define CUR3(a, b, c) (((uint32_t)(a) << 16) | ((uint32_t)(b) << 8) | (uint32_t)(c))
int rt_currency_exponent(const char *code) {
  static const uint32_t zero[] = {
      CUR3('B', 'I', 'F'), CUR3('C', 'L', 'P'), CUR3('D', 'J', 'F'), CUR3('G', 'N', 'F'),
      CUR3('I', 'S', 'K'), CUR3('J', 'P', 'Y'), CUR3('K', 'M', 'F'), CUR3('K', 'R', 'W'),
      CUR3('P', 'Y', 'G'), CUR3('R', 'W', 'F'), CUR3('U', 'G', 'X'), CUR3('U', 'Y', 'I'),
      CUR3('V', 'N', 'D'), CUR3('V', 'U', 'V'), CUR3('X', 'A', 'F'), CUR3('X', 'O', 'F'),
      CUR3('X', 'P', 'F')};
  static const uint32_t three[] = {CUR3('B', 'H', 'D'), CUR3('I', 'Q', 'D'), CUR3('J', 'O', 'D'),
                                   CUR3('K', 'W', 'D'), CUR3('L', 'Y', 'D'), CUR3('O', 'M', 'R'),
                                   CUR3('T', 'N', 'D')};
  if (!code || !code[0] || !code[1] || !code[2] || code[3])
    return 2;
  uint32_t k = CUR3((unsigned char)code[0], (unsigned char)code[1], (unsigned char)code[2]);
  if (k == CUR3('U', 'S', 'D') || k == CUR3('E', 'U', 'R') || k == CUR3('G', 'B', 'P'))
    return 2;
  for (size_t i = 0; i < RT_ARRAY_LEN(zero); i++)
    if (k == zero[i])
      return 0;
  for (size_t i = 0; i < RT_ARRAY_LEN(three); i++)
    if (k == three[i])
      return 3;
  if (k == CUR3('C', 'L', 'F') || k == CUR3('U', 'Y', 'W'))
    return 4;
  return 2;
}
#undef CUR3

static void rowset_free(rt__rowset *r) {
  rt_free(r->cust);
  rt_free(r->map);
  rt_free(r->ms);
  rt_free(r->amount);
  rt_free(r->cur);
  memset(r, 0, sizeof *r);
}

static void rawcols_free(rawcols *c) {
  rt_free(c->cust);
  rt_free(c->ms);
  rt_free(c->amount);
  rt_free(c->ms2);
  rt_free(c->cur);
  memset(c, 0, sizeof *c);
}

/* Makes room for `need` rows in all. */
static int rawcols_reserve(rawcols *c, size_t need, int with_ms2) {
  if (need <= c->cap)
    return 0;
  size_t cap = c->cap ? c->cap : 4096;
  while (cap < need)
    cap *= 2;
  uint32_t *a = rt_reallocarray(c->cust, cap, sizeof *a);
  if (!a)
    return RT_ENOMEM;
  c->cust = a;
  int64_t *b = rt_reallocarray(c->ms, cap, sizeof *b);
  if (!b)
    return RT_ENOMEM;
  c->ms = b;
  b = rt_reallocarray(c->amount, cap, sizeof *b);
  if (!b)
    return RT_ENOMEM;
  c->amount = b;
  if (with_ms2) {
    b = rt_reallocarray(c->ms2, cap, sizeof *b);
    if (!b)
      return RT_ENOMEM;
    c->ms2 = b;
  }
  uint8_t *d = rt_reallocarray(c->cur, cap, 1);
  if (!d)
    return RT_ENOMEM;
  c->cur = d;
  c->cap = cap;
  return 0;
}

static int rawcols_push(rawcols *c, uint32_t cust, int64_t ms, int64_t amount, int64_t ms2,
                        uint8_t cur, int with_ms2) {
  if (c->n == c->cap && rawcols_reserve(c, c->n + 1, with_ms2))
    return RT_ENOMEM;
  c->cust[c->n] = cust;
  c->ms[c->n] = ms;
  c->amount[c->n] = amount;
  if (with_ms2)
    c->ms2[c->n] = ms2;
  c->cur[c->n] = cur;
  c->n++;
  return 0;
}

int rt_model_builder_new(const rt_tz *tz, const char *currency, rt_model_builder **out) {
  rt_model_builder *b = rt_calloc(1, sizeof *b);
  *out = NULL;
  if (!b)
    return RT_ENOMEM;
  b->tz = tz;
  if (currency) {
    if (strlen(currency) != 3) {
      rt_free(b);
      return RT_EINVAL;
    }
    memcpy(b->want_currency, currency, 4);
  }
  rt__strmap_init(&b->ids);
  *out = b;
  return 0;
}

void rt_model_builder_free(rt_model_builder *b) {
  if (!b)
    return;
  rt__strmap_free(&b->ids);
  rt_free(b->store_id);
  rt_free(b->created_ms);
  rawcols_free(&b->orders);
  rawcols_free(&b->refunds);
  rawcols_free(&b->subs);
  for (int t = 0; t < b->nsets; t++) {
    rowset_free(&b->sets[t]);
    rt_free(b->set_blocks[t]);
  }
  rt_free(b);
}

void rt_model_builder_set_rates(rt_model_builder *b, const rt_rates *rates) {
  b->rates = rates && rt_rates_count(rates) ? rates : NULL;
}

int rt_model_builder_customer(rt_model_builder *b, const char *ext_id, size_t len,
                              int64_t store_id, uint32_t *out_index) {
  int inserted = 0;
  int rc = rt__strmap_intern(&b->ids, ext_id, len, out_index, &inserted);
  if (rc)
    return rc;
  if (*out_index >= b->store_cap) {
    size_t cap = b->store_cap ? b->store_cap * 2 : 4096;
    int64_t *s = rt_reallocarray(b->store_id, cap, sizeof *s);
    if (!s)
      return RT_ENOMEM;
    b->store_id = s;
    b->store_cap = cap;
  }
  if (inserted || store_id)
    b->store_id[*out_index] = store_id;
  return 0;
}

/* Interns a currency code into a small table; returns its number or -1 if invalid/full. */
static int currency_id(rt_model_builder *b, const char *cur) {
  const char *c = (cur && cur[0]) ? cur : (b->want_currency[0] ? b->want_currency : "USD");
  for (int i = 0; i < b->ncurrencies; i++)
    if (memcmp(b->currencies[i], c, 4) == 0)
      return i;
  if (b->ncurrencies == MAX_CURRENCIES || strlen(c) != 3)
    return -1;
  memcpy(b->currencies[b->ncurrencies], c, 4);
  return b->ncurrencies++;
}

static int check_cust(const rt_model_builder *b, uint32_t cust) {
  return cust < b->ids.count ? 0 : RT_EINVAL;
}

int rt_model_builder_created(rt_model_builder *b, uint32_t cust, int64_t created_ms) {
  if (cust >= b->ids.count)
    return RT_EINVAL;
  if (!b->created_ms) {
    size_t n = b->store_cap > b->ids.count ? b->store_cap : b->ids.count;
    if (!(b->created_ms = rt_malloc((n ? n : 1) * sizeof *b->created_ms)))
      return RT_ENOMEM;
    for (size_t i = 0; i < n; i++)
      b->created_ms[i] = INT64_MIN;
    b->created_cap = n;
  }
  if (cust >= b->created_cap) {
    size_t cap = b->created_cap * 2 > cust + 1 ? b->created_cap * 2 : cust + 1;
    int64_t *a = rt_reallocarray(b->created_ms, cap, sizeof *a);
    if (!a)
      return RT_ENOMEM;
    for (size_t i = b->created_cap; i < cap; i++)
      a[i] = INT64_MIN;
    b->created_ms = a;
    b->created_cap = cap;
  }
  b->created_ms[cust] = created_ms;
  return 0;
}

int rt_model_builder_order(rt_model_builder *b, uint32_t cust, int64_t ms, int64_t amount,
                           const char *currency) {
  int cid = currency_id(b, currency);
  if (cid < 0 || check_cust(b, cust))
    return RT_EINVAL;
  return rawcols_push(&b->orders, cust, ms, amount, 0, (uint8_t)cid, 0);
}

/* Refunds always carry ms2: the time of the order they name (0: none). */
int rt_model_builder_refund_of(rt_model_builder *b, uint32_t cust, int64_t ms, int64_t amount,
                               const char *currency, int64_t order_ms) {
  int cid = currency_id(b, currency);
  if (cid < 0 || check_cust(b, cust))
    return RT_EINVAL;
  return rawcols_push(&b->refunds, cust, ms, amount, order_ms, (uint8_t)cid, 1);
}

int rt_model_builder_refund(rt_model_builder *b, uint32_t cust, int64_t ms, int64_t amount,
                            const char *currency) {
  return rt_model_builder_refund_of(b, cust, ms, amount, currency, 0);
}

int rt_model_builder_subscription(rt_model_builder *b, uint32_t cust, int64_t started_ms,
                                  int64_t canceled_ms, int64_t amount, const char *currency) {
  int cid = currency_id(b, currency);
  if (cid < 0 || check_cust(b, cust))
    return RT_EINVAL;
  return rawcols_push(&b->subs, cust, started_ms, amount, canceled_ms, (uint8_t)cid, 1);
}

int rt__model_builder_adopt_ids(rt_model_builder *b, rt__strmap *ids) {
  if (b->ids.count)
    return RT_EINVAL;
  size_t n = ids->count;
  int64_t *s = rt_calloc(n ? n : 1, sizeof *s);
  if (!s)
    return RT_ENOMEM;
  rt_free(b->store_id);
  b->store_id = s;
  b->store_cap = n ? n : 1;
  rt__strmap_free(&b->ids);
  b->ids = *ids;
  rt__strmap_init(ids);
  return 0;
}

rt__strmap *rt__model_builder_ids(rt_model_builder *b) { return &b->ids; }

int rt__model_builder_sync_ids(rt_model_builder *b) {
  size_t n = b->ids.count;
  if (n <= b->store_cap)
    return 0;
  int64_t *s = rt_reallocarray(b->store_id, n, sizeof *s);
  if (!s)
    return RT_ENOMEM;
  memset(s + b->store_cap, 0, (n - b->store_cap) * sizeof *s);
  b->store_id = s;
  b->store_cap = n;
  return 0;
}


/* One row set's census, on its own thread: customers mapped in place (the map is freed), the
 * refunds moved out into their own columns, and the orders counted per currency (packed code).
 * The orders stay where they are; a refund row is marked by its amount, still negative. */
typedef struct census {
  rt_model_builder *b;
  rt__rowset *set;
  int bad;
  rawcols refunds; /* currency column: index into codes[] until the builder's ids are known */
  uint32_t codes[MAX_CURRENCIES];
  size_t orders[MAX_CURRENCIES];
  int ncodes;
  size_t *blocks, nblocks; /* orders per block of customers, while there is one currency */
  int cid0;                /* the builder's id of codes[0] */
} census;

static void census_run(void *arg) {
  census *p = arg;
  rt__rowset *r = p->set;
  size_t ncust = p->b->ids.count;
  uint32_t last = UINT32_MAX;
  int k = 0;
  p->nblocks = (ncust >> GROUP_BLOCK_BITS) + 1;
  p->blocks = rt_calloc(p->nblocks, sizeof *p->blocks); /* optional: NULL is fine */
  for (size_t i = r->from; i < r->n; i++) {
    uint32_t c = r->map ? r->map[r->cust[i]] : r->cust[i];
    if (c >= ncust) {
      p->bad = RT_EINVAL;
      return;
    }
    r->cust[i] = c;
    uint32_t code = r->cur ? r->cur[i] : r->cur1;
    if (code != last) {
      last = code;
      k = 0;
      while (k < p->ncodes && p->codes[k] != last)
        k++;
      if (k == p->ncodes) {
        if (p->ncodes == MAX_CURRENCIES) {
          p->bad = RT_EINVAL;
          return;
        }
        p->codes[p->ncodes++] = last;
        if (p->ncodes > 1) {
          rt_free(p->blocks);
          p->blocks = NULL;
        }
      }
    }
    if (r->amount[i] >= 0) {
      p->orders[k]++;
      if (p->blocks)
        p->blocks[c >> GROUP_BLOCK_BITS]++;
    } else if (rawcols_push(&p->refunds, c, r->ms[i], -r->amount[i], 0, (uint8_t)k, 1)) {
      p->bad = RT_ENOMEM;
      return;
    }
  }
  rt_free(r->map);
  r->map = NULL;
}

int rt__model_builder_take(rt_model_builder *b, rt__rowset *sets, int nsets) {
  int rc = 0;
  if (nsets < 1 || b->nsets + nsets > RT__MAX_THREADS)
    rc = RT_EINVAL;
  census *cs = rc ? NULL : rt_calloc((size_t)nsets, sizeof *cs);
  if (!rc && !cs)
    rc = RT_ENOMEM;
  if (!rc) {
    for (int t = 0; t < nsets; t++) {
      cs[t].b = b;
      cs[t].set = &sets[t];
    }
    rt__parallel(nsets, census_run, cs, sizeof *cs);
  }
  for (int t = 0; t < nsets && !rc; t++) {
    rc = cs[t].bad;
    uint8_t cid[MAX_CURRENCIES];
    for (int k = 0; k < cs[t].ncodes && !rc; k++) {
      uint32_t code = cs[t].codes[k];
      char name[4] = {(char)(code >> 16), (char)(code >> 8), (char)code, 0};
      int id = currency_id(b, name);
      if (id < 0)
        rc = RT_EINVAL;
      else {
        cid[k] = (uint8_t)id;
        if (k == 0)
          cs[t].cid0 = id;
        b->set_count[id] += cs[t].orders[k];
        b->set_orders += cs[t].orders[k];
      }
    }
    /* the refunds join the builder's */
    rawcols *f = &cs[t].refunds;
    if (!rc && f->n && rawcols_reserve(&b->refunds, b->refunds.n + f->n, 1))
      rc = RT_ENOMEM;
    for (size_t i = 0; i < f->n && !rc; i++)
      rc = rawcols_push(&b->refunds, f->cust[i], f->ms[i], f->amount[i], 0, cid[f->cur[i]], 1);
  }
  for (int t = 0; t < nsets; t++) {
    if (!rc) {
      int id = cs[t].blocks && cs[t].ncodes == 1 ? cs[t].cid0 : -1;
      b->set_blocks[b->nsets] = cs[t].blocks;
      b->set_nblocks[b->nsets] = cs[t].nblocks;
      b->set_cid[b->nsets] = id;
      cs[t].blocks = NULL;
      b->sets[b->nsets++] = sets[t];
      memset(&sets[t], 0, sizeof sets[t]);
    } else {
      rowset_free(&sets[t]);
    }
    if (cs) {
      rawcols_free(&cs[t].refunds);
      rt_free(cs[t].blocks);
    }
  }
  rt_free(cs);
  return rc;
}

typedef struct msidx {
  int64_t ms;
  uint32_t idx;
} msidx;

static int cmp_msidx(const void *a, const void *b) {
  const msidx *x = a, *y = b;
  if (x->ms != y->ms)
    return x->ms < y->ms ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Grouped columns: rows of one customer together, in time order. */
typedef struct grouped {
  uint32_t *start; /* ncust + 1 */
  int64_t *ms, *amount, *ms2; /* ms2 only when the source has it */
  uint8_t *cur;               /* only when every currency is kept (else it is the kept one) */
  size_t n;
} grouped;

static void grouped_free(grouped *g) {
  rt_free(g->start);
  rt_free(g->ms);
  rt_free(g->amount);
  rt_free(g->ms2);
  rt_free(g->cur);
  memset(g, 0, sizeof *g);
}

/* Puts the slice [lo, hi) of g in time order, stable (ties keep arrival order). */
static int sort_slice(grouped *g, uint32_t lo, uint32_t hi) {
  size_t n = hi - lo;
  if (n <= 32) {
    for (uint32_t j = lo + 1; j < hi; j++) {
      int64_t t = g->ms[j], a = g->amount[j], t2 = g->ms2 ? g->ms2[j] : 0;
      uint8_t cu = g->cur ? g->cur[j] : 0;
      uint32_t p = j;
      while (p > lo && g->ms[p - 1] > t) {
        g->ms[p] = g->ms[p - 1];
        g->amount[p] = g->amount[p - 1];
        if (g->ms2)
          g->ms2[p] = g->ms2[p - 1];
        if (g->cur)
          g->cur[p] = g->cur[p - 1];
        p--;
      }
      g->ms[p] = t;
      g->amount[p] = a;
      if (g->ms2)
        g->ms2[p] = t2;
      if (g->cur)
        g->cur[p] = cu;
    }
    return 0;
  }
  msidx *t = rt_malloc(n * sizeof *t);
  int64_t *tmp = rt_malloc(n * sizeof *tmp);
  uint8_t *tc = g->cur ? rt_malloc(n) : NULL;
  if (!t || !tmp || (g->cur && !tc)) {
    rt_free(t);
    rt_free(tmp);
    rt_free(tc);
    return RT_ENOMEM;
  }
  for (size_t i = 0; i < n; i++)
    t[i] = (msidx){g->ms[lo + i], (uint32_t)i};
  qsort(t, n, sizeof *t, cmp_msidx);
  int64_t *cols[3] = {g->ms, g->amount, g->ms2};
  for (int k = 0; k < 3; k++) {
    if (!cols[k])
      continue;
    for (size_t i = 0; i < n; i++)
      tmp[i] = cols[k][lo + t[i].idx];
    memcpy(cols[k] + lo, tmp, n * sizeof *tmp);
  }
  if (g->cur) {
    for (size_t i = 0; i < n; i++)
      tc[i] = g->cur[lo + t[i].idx];
    memcpy(g->cur + lo, tc, n);
  }
  rt_free(t);
  rt_free(tmp);
  rt_free(tc);
  return 0;
}

/* Grouping rows by customer. Customers arrive in random order, so a direct scatter misses the
 * cache on every row. Instead rows are first partitioned by blocks of 2^GROUP_BLOCK_BITS
 * customer numbers (sequential writes to a few hundred streams), then each block is grouped
 * by customer within a range that fits in cache. Both passes run on up to two threads: the
 * first over parts of the rows, the second over halves of the blocks. Everything is stable,
 * so rows that arrived in time order stay in time order; other slices are then sorted.
 *
 * The rows come from sources: the builder's raw columns, or the row sets the parallel file
 * reader handed over (orders and refunds mixed, told apart by the sign of the amount,
 * customers through a map, currencies as packed codes). */
#define GROUP_PARTS 2

typedef struct gsrc {
  size_t n;
  const uint32_t *cust, *map;  /* customer: map ? map[cust[i]] : cust[i] */
  const int64_t *ms, *amount, *ms2;
  const uint8_t *cur8;         /* builder currency ids, or */
  const uint32_t *cur32;       /* packed codes, builder currency i having code codes[i] */
  uint32_t cur1;               /* or, cur32 NULL, every row's code */
  const uint32_t *codes;
  int ncodes;
  int sign; /* 0: every row; 1: rows with amount >= 0; -1: rows with amount < 0, negated */
  /* optional: the rows counted per block already (all of currency blocks_cid) */
  const size_t *blocks;
  size_t nblocks;
  int blocks_cid;
} gsrc;

typedef struct group_job {
  int keep, has_ms2;
  size_t ncust, nblocks;
  size_t *bstart;                 /* [nblocks + 1] first partitioned row of each block */
  uint32_t *pc;                   /* the partitioned rows: customer, */
  int64_t *pm, *pa, *p2;          /* time, amount, ms2, */
  uint8_t *pu;                    /* currency (when every currency is kept) */
  grouped *g;
} group_job;

typedef struct group_part {
  group_job *j;
  const gsrc *src;
  size_t r0, r1; /* rows of src (passes 1 and 2) */
  size_t b0, b1; /* blocks (pass 3) */
  size_t *boff;  /* [nblocks]: counts (pass 1), then write positions (pass 2) */
  int pass, rc;
} group_part;

/* Row i of src if it is kept: its customer, amount and currency id; else 0. */
static inline int src_row(const gsrc *s, size_t i, int keep, uint32_t *last_code, int *last_cid,
                          uint32_t *cust, int64_t *amount, int *cid) {
  int64_t a = s->amount[i];
  if (s->sign > 0 && a < 0)
    return 0;
  if (s->sign < 0) {
    if (a >= 0)
      return 0;
    a = -a;
  }
  int c;
  if (s->cur8) {
    c = s->cur8[i];
  } else {
    uint32_t code = s->cur32 ? s->cur32[i] : s->cur1;
    if (code != *last_code) {
      *last_code = code;
      int k = 0;
      while (k < s->ncodes && s->codes[k] != *last_code)
        k++;
      *last_cid = k;
    }
    c = *last_cid;
  }
  if (keep >= 0 && c != keep)
    return 0;
  *cust = s->map ? s->map[s->cust[i]] : s->cust[i];
  *amount = a;
  *cid = c;
  return 1;
}

static void group_pass(void *arg) {
  group_part *p = arg;
  group_job *j = p->j;
  const gsrc *s = p->src;
  uint32_t code = UINT32_MAX, cu;
  int cid = 0, c;
  int64_t a;
  if (p->pass == 1) { /* count the kept rows per block */
    for (size_t i = p->r0; i < p->r1; i++)
      if (src_row(s, i, j->keep, &code, &cid, &cu, &a, &c))
        p->boff[cu >> GROUP_BLOCK_BITS]++;
    return;
  }
  if (p->pass == 2) { /* partition */
    for (size_t i = p->r0; i < p->r1; i++) {
      if (!src_row(s, i, j->keep, &code, &cid, &cu, &a, &c))
        continue;
      size_t k = p->boff[cu >> GROUP_BLOCK_BITS]++;
      j->pc[k] = cu;
      j->pm[k] = s->ms[i];
      j->pa[k] = a;
      if (j->pu)
        j->pu[k] = (uint8_t)c;
      if (j->p2)
        j->p2[k] = s->ms2[i];
    }
    return;
  }
  /* pass 3: group each block by customer, then put each customer's rows in time order */
  grouped *g = j->g;
  uint32_t fill[(size_t)1 << GROUP_BLOCK_BITS];
  for (size_t b = p->b0; b < p->b1 && !p->rc; b++) {
    size_t c0 = b << GROUP_BLOCK_BITS, c1 = (b + 1) << GROUP_BLOCK_BITS;
    if (c1 > j->ncust)
      c1 = j->ncust;
    size_t k0 = j->bstart[b], k1 = j->bstart[b + 1];
    memset(fill, 0, (c1 - c0) * sizeof *fill);
    for (size_t k = k0; k < k1; k++)
      fill[j->pc[k] - c0]++;
    uint32_t pos = (uint32_t)k0;
    for (size_t x = c0; x < c1; x++) {
      uint32_t n = fill[x - c0];
      g->start[x] = fill[x - c0] = pos;
      pos += n;
    }
    for (size_t k = k0; k < k1; k++) {
      uint32_t d = fill[j->pc[k] - c0]++;
      g->ms[d] = j->pm[k];
      g->amount[d] = j->pa[k];
      if (j->pu)
        g->cur[d] = j->pu[k];
      if (j->p2)
        g->ms2[d] = j->p2[k];
    }
    for (size_t x = c0; x < c1 && !p->rc; x++) {
      uint32_t lo = g->start[x], hi = x + 1 < c1 ? g->start[x + 1] : (uint32_t)k1;
      uint32_t y = lo + 1;
      while (y < hi && g->ms[y - 1] <= g->ms[y])
        y++;
      if (y < hi)
        p->rc = sort_slice(g, lo, hi);
    }
  }
}

/* Groups the kept rows of the sources by customer into g. Rows whose currency id is not `keep`
 * are left out (keep < 0 keeps all). *nraw is set to the rows the sources offered (kept or
 * not). When `reuse` is given (the raw columns the only source reads), it is consumed: its
 * arrays, copied out by then, take the grouped rows. The `drop` row sets are freed as soon as
 * their rows are copied out (their memory then serves the grouped rows). */
static int group_rows(const gsrc *src, int nsrc, size_t ncust, int keep, rawcols *reuse,
                      rt__rowset *drop, int ndrop, grouped *g) {
  memset(g, 0, sizeof *g);
  group_job j = {.keep = keep, .ncust = ncust, .g = g};
  j.nblocks = (ncust >> GROUP_BLOCK_BITS) + 1;
  size_t total = 0;
  for (int i = 0; i < nsrc; i++) {
    total += src[i].n;
    j.has_ms2 |= src[i].ms2 != NULL;
  }
  group_part parts[RT__MAX_THREADS];
  int nparts = 0;
  memset(parts, 0, sizeof parts);
  if (nsrc == 1 && total >= 500000 && rt__cpus() > 1) { /* one source: split its rows */
    for (int t = 0; t < GROUP_PARTS; t++)
      parts[nparts++] = (group_part){.j = &j, .src = src, .r0 = total * (size_t)t / GROUP_PARTS,
                                     .r1 = total * (size_t)(t + 1) / GROUP_PARTS};
  } else {
    for (int i = 0; i < nsrc && i < RT__MAX_THREADS; i++)
      parts[nparts++] = (group_part){.j = &j, .src = &src[i], .r0 = 0, .r1 = src[i].n};
  }
  int rc = RT_ENOMEM;
  g->start = rt_malloc((ncust + 1) * sizeof *g->start);
  j.bstart = rt_calloc(j.nblocks + 1, sizeof *j.bstart);
  if (!g->start || !j.bstart)
    goto out;
  for (int t = 0; t < nparts; t++) {
    parts[t].pass = 1;
    if (!(parts[t].boff = rt_calloc(j.nblocks, sizeof *parts[t].boff)))
      goto out;
  }
  /* pass 1 counts the rows per block, unless each part is a whole source counted already */
  int counted = nparts == nsrc;
  for (int t = 0; t < nparts; t++)
    counted &= parts[t].src->blocks != NULL && parts[t].src->nblocks <= j.nblocks;
  if (counted) {
    for (int t = 0; t < nparts; t++) {
      const gsrc *sr = parts[t].src;
      if (keep < 0 || sr->blocks_cid == keep)
        memcpy(parts[t].boff, sr->blocks, sr->nblocks * sizeof *sr->blocks);
    }
  } else {
    rt__parallel(nparts, group_pass, parts, sizeof parts[0]);
  }
  /* block starts, and each part's first write position in each block */
  size_t kept = 0;
  for (size_t b = 0; b < j.nblocks; b++) {
    j.bstart[b] = kept;
    for (int t = 0; t < nparts; t++) {
      size_t n = parts[t].boff[b];
      parts[t].boff[b] = kept;
      kept += n;
    }
  }
  j.bstart[j.nblocks] = kept;
  if (kept > UINT32_MAX) {
    rc = RT_ERANGE;
    goto out;
  }
  size_t nk = kept ? kept : 1;
  j.pc = rt_malloc(nk * sizeof *j.pc);
  j.pm = rt_malloc(nk * sizeof *j.pm);
  j.pa = rt_malloc(nk * sizeof *j.pa);
  if (keep < 0)
    j.pu = rt_malloc(nk);
  if (j.has_ms2)
    j.p2 = rt_malloc(nk * sizeof *j.p2);
  if (!j.pc || !j.pm || !j.pa || (keep < 0 && !j.pu) || (j.has_ms2 && !j.p2))
    goto out;
  for (int t = 0; t < nparts; t++)
    parts[t].pass = 2;
  rt__parallel(nparts, group_pass, parts, sizeof parts[0]);
  for (int t = 0; t < ndrop; t++)
    rowset_free(&drop[t]);
  /* the raw columns, now copied into the partitions, take the grouped rows (they hold at
   * least as many): no fresh memory to fault in */
  if (reuse && reuse->n) {
    g->ms = reuse->ms;
    g->amount = reuse->amount;
    if (keep < 0) {
      g->cur = reuse->cur;
      reuse->cur = NULL;
    }
    g->ms2 = reuse->ms2;
    reuse->ms = reuse->amount = reuse->ms2 = NULL;
  } else {
    g->ms = rt_malloc(nk * sizeof *g->ms);
    g->amount = rt_malloc(nk * sizeof *g->amount);
    if (keep < 0)
      g->cur = rt_malloc(nk);
    if (j.p2)
      g->ms2 = rt_malloc(nk * sizeof *g->ms2);
  }
  if (reuse)
    rawcols_free(reuse);
  if (!g->ms || !g->amount || (keep < 0 && !g->cur) || (j.p2 && !g->ms2))
    goto out;
  g->n = kept;
  g->start[ncust] = (uint32_t)kept;
  /* pass 3 over blocks split where about half the rows are on each side */
  int n3 = kept >= 500000 && rt__cpus() > 1 ? GROUP_PARTS : 1;
  size_t split = 0;
  while (n3 > 1 && split < j.nblocks && j.bstart[split] < kept / 2)
    split++;
  for (int t = 0; t < n3; t++) {
    parts[t].j = &j;
    parts[t].pass = 3;
    parts[t].b0 = t == 0 ? 0 : split;
    parts[t].b1 = t == n3 - 1 ? j.nblocks : split;
    parts[t].rc = 0;
  }
  rt__parallel(n3, group_pass, parts, sizeof parts[0]);
  rc = 0;
  for (int t = 0; t < n3; t++)
    rc = rc ? rc : parts[t].rc;
out:
  for (int t = 0; t < nparts; t++)
    rt_free(parts[t].boff);
  rt_free(j.bstart);
  rt_free(j.pc);
  rt_free(j.pm);
  rt_free(j.pa);
  rt_free(j.p2);
  rt_free(j.pu);
  if (rc)
    grouped_free(g);
  return rc;
}

/* The source that reads a row set's orders (sign 1) or refunds (sign -1). */
static gsrc set_source(const rt__rowset *r, const uint32_t *codes, int ncodes, int sign) {
  size_t f = r->from;
  return (gsrc){.n = r->n - f, .cust = r->cust + f, .map = r->map, .ms = r->ms + f,
                .amount = r->amount + f, .cur32 = r->cur ? r->cur + f : NULL, .cur1 = r->cur1,
                .codes = codes, .ncodes = ncodes,
                .sign = sign};
}

/* The source that reads the builder's raw columns. */
static gsrc raw_source(const rawcols *c) {
  return (gsrc){.n = c->n, .cust = c->cust, .ms = c->ms, .amount = c->amount, .ms2 = c->ms2,
                .cur8 = c->cur};
}

static int32_t clamp_day(int64_t d) {
  if (d > INT32_MAX - 1)
    return INT32_MAX - 1;
  if (d < INT32_MIN + 1)
    return INT32_MIN + 1;
  return (int32_t)d;
}

/* Order days from order times, for a range of orders (one thread each), with the range's
 * first and last day. */
typedef struct day_part {
  const rt_tz *tz;
  const int64_t *ms;
  int32_t *day;
  size_t i0, i1;
  int64_t lo, hi;
} day_part;

static void days_of(void *arg) {
  day_part *p = arg;
  for (size_t i = p->i0; i < p->i1; i++) {
    int64_t d = rt_tz_day(p->tz, p->ms[i]);
    p->day[i] = clamp_day(d);
    if (d < p->lo)
      p->lo = d;
    if (d > p->hi)
      p->hi = d;
  }
}

/* The per-customer columns of a range of customers (one thread each). */
typedef struct derive_part {
  rt_model *m;
  size_t c0, c1;
} derive_part;

static void derive(void *arg) {
  derive_part *p = arg;
  rt_model *m = p->m;
  for (size_t c = p->c0; c < p->c1; c++) {
    uint32_t lo = m->order_start[c], hi = m->order_start[c + 1];
    m->first_order_day[c] = lo < hi ? m->order_day[lo] : INT32_MAX;
    m->last_order_day[c] = lo < hi ? m->order_day[hi - 1] : INT32_MIN;
    int64_t sum = 0;
    for (uint32_t j = lo; j < hi; j++)
      sum += m->order_amount[j];
    m->revenue[c] = sum;
    sum = 0;
    for (uint32_t j = m->refund_start[c]; j < m->refund_start[c + 1]; j++)
      sum += m->refund_amount[j];
    m->refunded[c] = sum;
  }
}

void rt__model_derive(rt_model *m) {
  size_t nc = m->ncustomers;
  derive_part dv[GROUP_PARTS];
  int nd = nc >= 200000 && rt__cpus() > 1 ? GROUP_PARTS : 1;
  for (int t = 0; t < nd; t++)
    dv[t] = (derive_part){m, nc * (size_t)t / (size_t)nd, nc * (size_t)(t + 1) / (size_t)nd};
  rt__parallel(nd, derive, dv, sizeof dv[0]);
}

static int pick_currency(rt_model_builder *b, rt_model *m) {
  if (b->want_currency[0]) {
    memcpy(m->currency, b->want_currency, 4);
    for (int i = 0; i < b->ncurrencies; i++)
      if (memcmp(b->currencies[i], b->want_currency, 4) == 0)
        return i;
    return b->ncurrencies ? -2 : -1; /* -2: nothing matches; -1: no rows at all */
  }
  if (b->ncurrencies == 0) {
    memcpy(m->currency, "USD", 4);
    return -1;
  }
  size_t counts[MAX_CURRENCIES] = {0};
  for (size_t i = 0; i < b->orders.n; i++)
    counts[b->orders.cur[i]]++;
  for (int i = 0; i < b->ncurrencies; i++)
    counts[i] += b->set_count[i];
  int best = 0;
  for (int i = 1; i < b->ncurrencies; i++)
    if (counts[i] > counts[best])
      best = i;
  memcpy(m->currency, b->currencies[best], 4);
  return best;
}

/* m->other[]: the rows (orders and refunds) of each currency other than `keep`, the most
 * frequent first. Read before the rows are grouped. */
static void note_other_currencies(const rt_model_builder *b, rt_model *m, int keep) {
  size_t counts[MAX_CURRENCIES] = {0};
  for (size_t i = 0; i < b->orders.n; i++)
    counts[b->orders.cur[i]]++;
  for (size_t i = 0; i < b->refunds.n; i++)
    counts[b->refunds.cur[i]]++;
  for (int i = 0; i < b->ncurrencies; i++)
    counts[i] += b->set_count[i];
  m->nother = 0;
  for (;;) {
    int best = -1;
    for (int i = 0; i < b->ncurrencies; i++)
      if (i != keep && counts[i] && (best < 0 || counts[i] > counts[best]))
        best = i;
    if (best < 0 || m->nother == (int)RT_ARRAY_LEN(m->other))
      break;
    memcpy(m->other[m->nother].code, b->currencies[best], 4);
    m->other[m->nother++].rows = (int64_t)counts[best];
    counts[best] = 0;
  }
}

int rt_model_build(rt_model_builder *b, rt_model **out, rt_error *err) {
  rt__trace("model: build starts");
  int rc = RT_ENOMEM;
  rt__currencies *conv = NULL;          /* with exchange rates: the conversion */
  uint8_t *ocur = NULL, *rcur = NULL;   /* ... and each grouped row's currency */
  *out = NULL;
  rt_model *m = rt_calloc(1, sizeof *m);
  if (!m)
    goto fail;
  m->tz = b->tz;
  m->data_version = -1;
  size_t nc = b->ids.count;
  m->ncustomers = nc;
  int keep = pick_currency(b, m);
  if (keep == -2)
    keep = 255; /* matches no row: everything is "other currency" */
  /* With exchange rates every currency is grouped and converted (cancel.c); without, only the
   * model currency's rows are kept. */
  if (b->rates && keep < b->ncurrencies && b->ncurrencies > 1) {
    conv = rt_calloc(1, sizeof *conv);
    if (!conv)
      goto fail;
    conv->rates = b->rates;
    conv->keep = keep;
    for (int i = 0; i < b->ncurrencies; i++)
      conv->index[i] = rt_rates_currency(b->rates, b->currencies[i]);
  } else {
    note_other_currencies(b, m, keep);
  }
  const int gkeep = conv ? -1 : keep;
  m->currency_exp = rt_currency_exponent(m->currency);
  /* customers: take over the id pool */
  m->ext_off = rt_malloc((nc + 1) * sizeof *m->ext_off);
  m->store_id = rt_calloc(nc ? nc : 1, sizeof *m->store_id);
  m->created_day = rt_malloc((nc ? nc : 1) * sizeof *m->created_day);
  if (!m->ext_off || !m->store_id || !m->created_day)
    goto fail;
  for (size_t i = 0; i < nc; i++) {
    int64_t ms = b->created_ms && i < b->created_cap ? b->created_ms[i] : INT64_MIN;
    m->created_day[i] = ms == INT64_MIN ? INT32_MIN : clamp_day(rt_tz_day(b->tz, ms));
  }
  if (nc) {
    memcpy(m->ext_off, b->ids.key_off, (nc + 1) * sizeof *m->ext_off);
    memcpy(m->store_id, b->store_id, nc * sizeof *m->store_id);
  } else {
    m->ext_off[0] = 0;
  }
  m->ext_pool = b->ids.pool ? b->ids.pool : rt_calloc(1, 1);
  b->ids.pool = NULL;
  if (!m->ext_pool)
    goto fail;

  int64_t min_day = INT64_MAX, max_day = INT64_MIN;
#define SEE_DAY(d)                                                                              \
  do {                                                                                          \
    if ((d) < min_day)                                                                          \
      min_day = (d);                                                                            \
    if ((d) > max_day)                                                                          \
      max_day = (d);                                                                            \
  } while (0)

  /* orders */
  /* the sources: the raw columns, and the row sets (their orders: the rows with amount >= 0;
   * their refunds went to the raw refund columns when the builder took them) */
  uint32_t codes[MAX_CURRENCIES];
  for (int i = 0; i < b->ncurrencies; i++)
    codes[i] = (uint32_t)(unsigned char)b->currencies[i][0] << 16 |
               (uint32_t)(unsigned char)b->currencies[i][1] << 8 |
               (unsigned char)b->currencies[i][2];
  gsrc src[1 + RT__MAX_THREADS];
  int nsrc = 0;
  if (b->orders.n || !b->nsets)
    src[nsrc++] = raw_source(&b->orders);
  for (int t = 0; t < b->nsets; t++) {
    src[nsrc] = set_source(&b->sets[t], codes, b->ncurrencies, 1);
    if (b->set_blocks[t] && b->set_cid[t] >= 0) {
      src[nsrc].blocks = b->set_blocks[t];
      src[nsrc].nblocks = b->set_nblocks[t];
      src[nsrc].blocks_cid = b->set_cid[t];
    }
    nsrc++;
  }
  grouped g;
  size_t nraw = b->orders.n + b->set_orders;
  rc = group_rows(src, nsrc, nc, gkeep, nsrc == 1 && !b->nsets ? &b->orders : NULL, b->sets,
                  b->nsets, &g);
  rawcols_free(&b->orders);
  for (int t = 0; t < b->nsets; t++) { /* freed already, unless the grouping failed early */
    rowset_free(&b->sets[t]);
    rt_free(b->set_blocks[t]);
    b->set_blocks[t] = NULL;
  }
  b->nsets = 0;
  if (rc)
    goto fail;
  rc = RT_ENOMEM;
  m->order_start = g.start;
  m->norders = g.n;
  m->other_currency_rows += (int64_t)(nraw - g.n);
  m->order_ms = g.ms;
  m->order_amount = g.amount;
  ocur = g.cur; /* with conv: each order's currency */
  g.cur = NULL;
  m->order_day = rt_malloc((g.n ? g.n : 1) * sizeof *m->order_day);
  if (!m->order_day)
    goto fail;
  {
    day_part dp[GROUP_PARTS];
    int nd = g.n >= 500000 && rt__cpus() > 1 ? GROUP_PARTS : 1;
    for (int t = 0; t < nd; t++)
      dp[t] = (day_part){b->tz, m->order_ms, m->order_day, g.n * (size_t)t / (size_t)nd,
                         g.n * (size_t)(t + 1) / (size_t)nd, INT64_MAX, INT64_MIN};
    rt__parallel(nd, days_of, dp, sizeof dp[0]);
    for (int t = 0; t < nd; t++)
      if (dp[t].lo <= dp[t].hi) {
        SEE_DAY(dp[t].lo);
        SEE_DAY(dp[t].hi);
      }
  }

  rt__trace("model: orders grouped");
  /* refunds */
  gsrc rsrc = raw_source(&b->refunds);
  nraw = b->refunds.n;
  rc = group_rows(&rsrc, 1, nc, gkeep, &b->refunds, NULL, 0, &g);
  if (rc)
    goto fail;
  rcur = g.cur;
  g.cur = NULL;
  rc = RT_ENOMEM;
  m->refund_start = g.start;
  m->nrefunds = g.n;
  m->other_currency_rows += (int64_t)(nraw - g.n);
  m->refund_amount = g.amount;
  g.start = NULL;
  g.amount = NULL;
  m->refund_day = rt_malloc((g.n ? g.n : 1) * sizeof *m->refund_day);
  if (!m->refund_day) {
    grouped_free(&g);
    goto fail;
  }
  for (size_t i = 0; i < g.n; i++) {
    int64_t day = rt_tz_day(b->tz, g.ms[i]);
    m->refund_day[i] = clamp_day(day);
    SEE_DAY(day);
  }
  /* orders paid back in full are cancelled, and other currencies converted (cancel.c); g.ms2
   * holds the orders refunds name */
  if (conv) {
    conv->order = ocur;
    conv->refund = rcur;
  }
  rc = rt__model_cancel(m, g.ms2, conv);
  grouped_free(&g);
  rt_free(ocur);
  rt_free(rcur);
  ocur = rcur = NULL;
  if (rc)
    goto fail;
  if (conv) { /* what had no rate, the most rows first */
    m->nother = 0;
    for (;;) {
      int best = -1;
      for (int i = 0; i < b->ncurrencies; i++)
        if (conv->left_out[i] && (best < 0 || conv->left_out[i] > conv->left_out[best]))
          best = i;
      if (best < 0)
        break;
      m->other_currency_rows += conv->left_out[best];
      if (m->nother < (int)RT_ARRAY_LEN(m->other)) {
        memcpy(m->other[m->nother].code, b->currencies[best], 4);
        m->other[m->nother++].rows = conv->left_out[best];
      }
      conv->left_out[best] = 0;
    }
  }
  rc = RT_ENOMEM;
  rt__trace("model: refunds matched");

  /* subscriptions: all currencies count for activity; amounts only in the model currency */
  gsrc subs = raw_source(&b->subs);
  rc = group_rows(&subs, 1, nc, -1, &b->subs, NULL, 0, &g);
  if (rc)
    goto fail;
  rc = RT_ENOMEM;
  m->sub_start = g.start;
  g.start = NULL;
  m->nsubs = g.n;
  m->sub_first_day = rt_malloc((g.n ? g.n : 1) * sizeof *m->sub_first_day);
  m->sub_end_day = rt_malloc((g.n ? g.n : 1) * sizeof *m->sub_end_day);
  m->sub_amount = rt_malloc((g.n ? g.n : 1) * sizeof *m->sub_amount);
  if (!m->sub_first_day || !m->sub_end_day || !m->sub_amount) {
    grouped_free(&g);
    goto fail;
  }
  for (size_t i = 0; i < g.n; i++) {
    int64_t d0 = rt_tz_day(b->tz, g.ms[i]);
    m->sub_first_day[i] = clamp_day(d0);
    SEE_DAY(d0);
    if (g.ms2 && g.ms2[i]) {
      int64_t d1 = rt_tz_day(b->tz, g.ms2[i]);
      m->sub_end_day[i] = clamp_day(d1 < d0 ? d0 : d1);
      SEE_DAY(d1);
    } else {
      m->sub_end_day[i] = INT32_MAX;
    }
    m->sub_amount[i] = g.cur[i] == keep ? g.amount[i] : 0;
    if (conv && g.cur[i] != keep && conv->index[g.cur[i]] >= 0 && g.amount[i] &&
        rt_rates_convert_index(b->rates, g.amount[i], conv->index[g.cur[i]],
                               conv->index[keep], m->sub_first_day[i], &m->sub_amount[i]))
      m->sub_amount[i] = 0; /* no rate: the subscription still counts for activity */
  }
  grouped_free(&g);
#undef SEE_DAY

  /* derived per customer */
  m->first_order_day = rt_malloc((nc ? nc : 1) * sizeof *m->first_order_day);
  m->last_order_day = rt_malloc((nc ? nc : 1) * sizeof *m->last_order_day);
  m->revenue = rt_calloc(nc ? nc : 1, sizeof *m->revenue);
  m->refunded = rt_calloc(nc ? nc : 1, sizeof *m->refunded);
  if (!m->first_order_day || !m->last_order_day || !m->revenue || !m->refunded)
    goto fail;
  rt__model_derive(m);
  if (min_day <= max_day) {
    m->min_day = clamp_day(min_day);
    m->max_day = clamp_day(max_day);
  } else {
    m->min_day = 1;
    m->max_day = 0;
  }
  m->as_of = m->max_day;
  m->as_of_basis = RT_AS_OF_DATA_END;
  rt_free(conv);
  rt_model_builder_free(b);
  *out = m;
  rt__trace("model: built");
  return 0;

fail:
  rt_free(conv);
  rt_free(ocur);
  rt_free(rcur);
  rt_model_builder_free(b);
  rt_model_free(m);
  return rt_error_set(err, rc, "building the customer model: %s", rt_strerror(rc));
}

void rt_model_free(rt_model *m) {
  if (!m)
    return;
  if (m->priv_map) {
    rt__model_unmap(m);
    return;
  }
  rt_free(m->store_id);
  rt_free(m->created_day);
  rt_free(m->ext_off);
  rt_free(m->ext_pool);
  rt_free(m->order_start);
  rt_free(m->order_ms);
  rt_free(m->order_day);
  rt_free(m->order_amount);
  rt_free(m->refund_start);
  rt_free(m->refund_day);
  rt_free(m->refund_amount);
  rt_free(m->sub_start);
  rt_free(m->sub_first_day);
  rt_free(m->sub_end_day);
  rt_free(m->sub_amount);
  rt_free(m->first_order_day);
  rt_free(m->last_order_day);
  rt_free(m->revenue);
  rt_free(m->refunded);
  rt_free(m->cancel_start);
  rt_free(m->cancel_ms);
  rt_free(m->cancel_day);
  rt_free(m->cancel_at);
  rt_free(m->cancel_amount);
  rt_free(m);
}

/* ---- loading from the store ---- */

typedef struct load_ctx {
  rt_model_builder *b;
  uint32_t *index_of; /* store customer id -> model index + 1 (0: unknown) */
  size_t cap;
  int rc;
} load_ctx;

static int load_customer(void *ctx, int64_t id, const char *ext_id, int64_t created_ms) {
  load_ctx *l = ctx;
  if (id <= 0)
    return 0;
  if ((size_t)id >= l->cap) {
    size_t cap = l->cap ? l->cap : 4096;
    while (cap <= (size_t)id)
      cap *= 2;
    uint32_t *a = rt_reallocarray(l->index_of, cap, sizeof *a);
    if (!a)
      return l->rc = RT_ENOMEM;
    memset(a + l->cap, 0, (cap - l->cap) * sizeof *a);
    l->index_of = a;
    l->cap = cap;
  }
  uint32_t ix;
  int rc = rt_model_builder_customer(l->b, ext_id, strlen(ext_id), id, &ix);
  if (!rc)
    rc = rt_model_builder_created(l->b, ix, created_ms);
  if (rc)
    return l->rc = rc;
  l->index_of[id] = ix + 1;
  return 0;
}

static int lookup(load_ctx *l, int64_t id, uint32_t *ix) {
  if (id <= 0 || (size_t)id >= l->cap || !l->index_of[id])
    return 0;
  *ix = l->index_of[id] - 1;
  return 1;
}

static int load_order(void *ctx, int64_t customer, int64_t ts_ms, int64_t amount,
                      const char *currency) {
  load_ctx *l = ctx;
  uint32_t ix;
  if (!lookup(l, customer, &ix))
    return 0; /* an order of a deleted customer */
  int rc = rt_model_builder_order(l->b, ix, ts_ms, amount, currency);
  return rc ? (l->rc = rc) : 0;
}

static int load_refund(void *ctx, int64_t customer, int64_t ts_ms, int64_t amount,
                       const char *currency, int64_t order_ms) {
  load_ctx *l = ctx;
  uint32_t ix;
  if (!lookup(l, customer, &ix))
    return 0;
  int rc = rt_model_builder_refund_of(l->b, ix, ts_ms, amount, currency, order_ms);
  return rc ? (l->rc = rc) : 0;
}

static int load_sub(void *ctx, int64_t customer, int64_t started_ms, int64_t canceled_ms,
                    int64_t amount, const char *currency) {
  load_ctx *l = ctx;
  uint32_t ix;
  if (!lookup(l, customer, &ix))
    return 0;
  int rc = rt_model_builder_subscription(l->b, ix, started_ms, canceled_ms, amount, currency);
  return rc ? (l->rc = rc) : 0;
}

int rt_model_load(rt_store *st, const rt_tz *tz, const char *currency, rt_model **out,
                  rt_error *err) {
  load_ctx l = {0};
  int64_t version = -1;
  *out = NULL;
  /* one snapshot for the version and every table, whatever is committed meanwhile (unless the
   * caller is inside a transaction already, which is one) */
  int own = rt_store_read_begin(st, NULL) == 0;
  int rc = rt_store_data_version(st, &version, err);
  if (!rc && (rc = rt_model_builder_new(tz, currency, &l.b)))
    rt_error_set(err, rc, "building the customer model: %s", rt_strerror(rc));
  if (rc) {
    if (own)
      rt_store_read_end(st);
    return rc;
  }
  rt_rates *rates = NULL; /* the store's exchange rates, to convert other currencies */
  rc = rt_rates_load(st, &rates, err);
  if (!rc)
    rt_model_builder_set_rates(l.b, rates);
  if (!rc)
    rc = rt_store_scan_customers(st, load_customer, &l, err);
  if (!rc)
    rc = rt_store_scan_orders(st, load_order, &l, err);
  if (!rc)
    rc = rt_store_scan_refunds(st, load_refund, &l, err);
  if (!rc)
    rc = rt_store_scan_subscriptions(st, load_sub, &l, err);
  if (own)
    rt_store_read_end(st);
  rt_free(l.index_of);
  if (rc) {
    rt_model_builder_free(l.b);
    rt_rates_free(rates);
    if (l.rc)
      rt_error_set(err, l.rc, "loading the customer model: %s", rt_strerror(l.rc));
    return rc;
  }
  rc = rt_model_build(l.b, out, err);
  rt_rates_free(rates);
  if (!rc)
    (*out)->data_version = version;
  return rc;
}
