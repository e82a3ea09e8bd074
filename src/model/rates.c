/* rates.c - exchange rates (rates.h): dated rates grouped in series, each currency's chain of
 * rates to one pivot currency, and exact conversion of amounts between currencies at a day.
 *
 * The math. A series s (base b, currency c) has rates r_s(d): 1 b = r_s(d) c on day d. The
 * value used on day D is r_s(d*) with d* the latest day of s on or before D (none before the
 * first). The pivot P has rho_P(D) = 1; a currency X reached from P along a chain of series
 * has rho_X(D) = prod r_s(D) over the steps taken as quoted (b to c) divided by prod r_s(D)
 * over the steps taken backwards (c to b): units of X per 1 P. Then A minor units of X on D
 * are
 *     A x rho_Y(D) / rho_X(D) x 10^(e_Y - e_X)  minor units of Y,
 * rounded half away from zero. Since the chains form a tree rooted at P (breadth first from
 * P), the steps that X's and Y's chains share cancel and are left out, and so are their
 * rates' days. Each rate is the decimal m / 10^k of at most 15 significant digits nearest its
 * double (what the file said), so the whole expression is a fraction of integers: A times
 * the m's above the line times a power of ten, over the other m's times a power of ten. It
 * is evaluated in unsigned 128-bit integers and rounded with one division (64-bit when both
 * fit); an overflow falls back to long double.
 *
 * Lookups. Each series keeps its days and decimals in day order. A day-indexed table per
 * series (its first to its last day, 8 bytes a day: the decimal in force) answers any day
 * with one load; the tables share a budget of cells (dense_max), and a series beyond it is
 * searched (O(log n)). The ECB's file (41 series over 27 years) takes 3.2 MB of tables. */
#include <retain/alloc.h>
#include <retain/datetime.h>
#include <retain/model.h>
#include <retain/rates.h>

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

__extension__ typedef unsigned __int128 u128;

/* Day-table cells all series may use together: 16 MB (the ECB's whole file needs 3.2). */
#define DENSE_MAX_DEFAULT ((size_t)1 << 21)

typedef struct raw_rate {
  int32_t day;
  uint32_t series; /* while building: index in ser[] in order of appearance */
  uint32_t seq;    /* order added: the later of two rates for one day wins */
  double rate;
} raw_rate;

typedef struct series {
  int base, cur;     /* currency indexes */
  size_t off, n;     /* entries off .. off+n-1, in day order */
  int32_t first, last;
  int use_dense;     /* within the budget of day-table cells */
  uint64_t *dense;   /* [last - first + 1]: the decimal in force on each day; NULL: search */
} series;

typedef struct leg {
  uint32_t series;
  int inverse;       /* 1: the step goes from the series' currency to its base */
} leg;

typedef struct route {
  int nlegs;         /* -1: no chain to the pivot */
  leg legs[RT_RATES_MAX_LEGS];
} route;

struct rt_rates {
  int finished;
  /* currencies: codes in code order after finish */
  char (*code)[4];
  int *exp;          /* minor-unit exponent of each */
  int ncur, capcur;
  series *ser;
  size_t nser, capser;
  raw_rate *raw;     /* while building */
  size_t nraw, capraw;
  uint32_t seq;
  /* finished entries, grouped by series in day order */
  size_t n;
  int32_t *day;
  uint64_t *dec;     /* each rate as a packed decimal (pack_decimal) */
  double *rate;
  int pivot;         /* currency index, -1 when empty */
  route *route;      /* [ncur] */
  uint64_t *dense_pool;
  size_t dense_max;
};

/* A rate m / 10^k (m < 10^15 < 2^50, |k| < 512) packed in one word, so that a lookup loads
 * one value: m in the low 50 bits, k + 512 above. Never 0 (m >= 1). */
#define DEC_MANT_BITS 50
static inline uint64_t pack_decimal(uint64_t m, int k) {
  return m | (uint64_t)(k + 512) << DEC_MANT_BITS;
}
static inline uint64_t dec_mant(uint64_t d) { return d & ((1ull << DEC_MANT_BITS) - 1); }
static inline int dec_k(uint64_t d) { return (int)(d >> DEC_MANT_BITS) - 512; }

/* ---- building ---- */

static int find_code(const rt_rates *r, const char *code) {
  for (int i = 0; i < r->ncur; i++)
    if (memcmp(r->code[i], code, 4) == 0)
      return i;
  return -1;
}

static int intern_code(rt_rates *r, const char *code) {
  int i = find_code(r, code);
  if (i >= 0)
    return i;
  if (r->ncur == r->capcur) {
    int cap = r->capcur ? r->capcur * 2 : 16;
    char(*c)[4] = rt_reallocarray(r->code, (size_t)cap, sizeof *c);
    if (!c)
      return RT_ENOMEM;
    r->code = c;
    r->capcur = cap;
  }
  memcpy(r->code[r->ncur], code, 4);
  return r->ncur++;
}

static int intern_series(rt_rates *r, int base, int cur) {
  for (size_t i = r->nser; i-- > 0;) /* the last series added is the likeliest */
    if (r->ser[i].base == base && r->ser[i].cur == cur)
      return (int)i;
  if (r->nser == r->capser) {
    size_t cap = r->capser ? r->capser * 2 : 16;
    series *s = rt_reallocarray(r->ser, cap, sizeof *s);
    if (!s)
      return RT_ENOMEM;
    r->ser = s;
    r->capser = cap;
  }
  memset(&r->ser[r->nser], 0, sizeof r->ser[0]);
  r->ser[r->nser].base = base;
  r->ser[r->nser].cur = cur;
  return (int)r->nser++;
}

int rt_rates_new(rt_rates **out) {
  if (!out)
    return RT_EINVAL;
  *out = rt_calloc(1, sizeof **out);
  if (!*out)
    return RT_ENOMEM;
  (*out)->pivot = -1;
  (*out)->dense_max = DENSE_MAX_DEFAULT;
  return 0;
}

void rt__rates_set_dense_max(rt_rates *r, size_t cells) { r->dense_max = cells; }

int rt_rates_add(rt_rates *r, int64_t day, const char *base, const char *currency, double rate,
                 rt_error *err) {
  if (!r)
    return rt_error_set(err, RT_EINVAL, "rt_rates_add: NULL argument");
  if (r->finished)
    return rt_error_set(err, RT_EINVAL, "rt_rates_add: the rates are finished");
  rt_rate_rec rec = {.day = day, .base = base, .currency = currency, .rate = rate};
  int rc = rt_rate_rec_check(&rec, err); /* what the store would take, so day fits int32 */
  if (rc)
    return rc;
  int b = intern_code(r, base), c = b < 0 ? b : intern_code(r, currency);
  int s = c < 0 ? c : intern_series(r, b, c);
  if (s < 0)
    return rt_error_set(err, RT_ENOMEM, "exchange rates: out of memory");
  if (r->nraw == r->capraw) {
    size_t cap = r->capraw ? r->capraw * 2 : 1024;
    raw_rate *p = rt_reallocarray(r->raw, cap, sizeof *p);
    if (!p)
      return rt_error_set(err, RT_ENOMEM, "exchange rates: out of memory");
    r->raw = p;
    r->capraw = cap;
  }
  r->raw[r->nraw++] = (raw_rate){(int32_t)day, (uint32_t)s, r->seq++, rate};
  return 0;
}

/* The decimal of at most 15 significant digits nearest x (> 0, finite): x ~ *m / 10^*k with
 * *m < 10^15. A rate read from a file is the double nearest its decimal, and that decimal is
 * the one with the fewest decimals k whose nearest double is x: found by trying k = 0, 1, ...
 * (m / 10^k is then correctly rounded, both being exact doubles). Anything else (a computed
 * rate like 1/3) takes the 15 digits %.15g prints. */
static void to_decimal(double x, uint64_t *m, int *k) {
  static const double p10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
  for (int kk = 0; kk < 16 && x * p10[kk] < 1e15; kk++) {
    double v = nearbyint(x * p10[kk]);
    if (v >= 1 && v / p10[kk] == x) {
      *m = (uint64_t)v;
      *k = kk;
      return;
    }
  }
  char buf[40];
  snprintf(buf, sizeof buf, "%.15g", x);
  uint64_t v = 0;
  int frac = 0, point = 0, e = 0;
  const char *p = buf;
  for (; *p && *p != 'e' && *p != 'E'; p++) {
    if (*p >= '0' && *p <= '9') {
      v = v * 10 + (uint64_t)(*p - '0');
      frac += point;
    } else {
      point = 1; /* the decimal point, whatever the locale prints */
    }
  }
  if (*p)
    e = atoi(p + 1);
  int kk = frac - e;
  while (v && v % 10 == 0) {
    v /= 10;
    kk--;
  }
  *m = v;
  *k = kk;
}

static int cmp_code(const void *a, const void *b) { return memcmp(a, b, 4); }

static int cmp_raw(const void *a, const void *b) {
  const raw_rate *x = a, *y = b;
  if (x->series != y->series)
    return x->series < y->series ? -1 : 1;
  if (x->day != y->day)
    return x->day < y->day ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* A series' place in order of base and currency code: key << 32 | series index. */
static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Renumbers currencies in code order and series in (base, currency) order; the raw rates
 * follow. */
static int renumber(rt_rates *r) {
  if (!r->ncur)
    return 0;
  int rc = RT_ENOMEM;
  char(*sorted)[4] = rt_reallocarray(NULL, (size_t)r->ncur + 1, 4);
  int *cmap = rt_calloc((size_t)r->ncur + 1, sizeof *cmap);
  uint64_t *order = rt_calloc(r->nser + 1, sizeof *order);
  uint32_t *smap = rt_calloc(r->nser + 1, sizeof *smap);
  series *ns = rt_calloc(r->nser + 1, sizeof *ns);
  if (!sorted || !cmap || !order || !smap || !ns)
    goto out;
  memcpy(sorted, r->code, (size_t)r->ncur * 4);
  qsort(sorted, (size_t)r->ncur, 4, cmp_code);
  for (int i = 0; i < r->ncur; i++)
    cmap[i] = (int)((char(*)[4])bsearch(r->code[i], sorted, (size_t)r->ncur, 4, cmp_code) - sorted);
  memcpy(r->code, sorted, (size_t)r->ncur * 4);
  for (size_t i = 0; i < r->nser; i++) {
    r->ser[i].base = cmap[r->ser[i].base];
    r->ser[i].cur = cmap[r->ser[i].cur];
    uint64_t key = (uint64_t)r->ser[i].base * (uint64_t)r->ncur + (uint64_t)r->ser[i].cur;
    order[i] = key << 32 | i;
  }
  qsort(order, r->nser, sizeof *order, cmp_u64);
  for (size_t i = 0; i < r->nser; i++) {
    uint32_t from = (uint32_t)order[i];
    ns[i] = r->ser[from];
    smap[from] = (uint32_t)i;
  }
  memcpy(r->ser, ns, r->nser * sizeof *ns);
  for (size_t i = 0; i < r->nraw; i++)
    r->raw[i].series = smap[r->raw[i].series];
  rc = 0;
out:
  rt_free(sorted);
  rt_free(cmap);
  rt_free(order);
  rt_free(smap);
  rt_free(ns);
  return rc;
}

/* Breadth first from the pivot: each currency's shortest chain (a rate as quoted is tried
 * before a rate backwards, series in code order), at most RT_RATES_MAX_LEGS long. */
static int find_routes(rt_rates *r) {
  int *queue = rt_calloc((size_t)r->ncur + 1, sizeof *queue);
  if (!queue)
    return RT_ENOMEM;
  for (int i = 0; i < r->ncur; i++)
    r->route[i].nlegs = -1;
  int head = 0, tail = 0;
  r->route[r->pivot].nlegs = 0;
  queue[tail++] = r->pivot;
  while (head < tail) {
    int u = queue[head++];
    const route *ru = &r->route[u];
    if (ru->nlegs == RT_RATES_MAX_LEGS)
      continue;
    for (int inverse = 0; inverse < 2; inverse++)
      for (size_t s = 0; s < r->nser; s++) {
        int from = inverse ? r->ser[s].cur : r->ser[s].base;
        int to = inverse ? r->ser[s].base : r->ser[s].cur;
        if (from != u || r->route[to].nlegs >= 0)
          continue;
        route *rt = &r->route[to];
        *rt = *ru;
        rt->legs[rt->nlegs++] = (leg){(uint32_t)s, inverse};
        queue[tail++] = to;
      }
  }
  rt_free(queue);
  return 0;
}

/* The day tables, series by series while the budget lasts: each day's cell holds the decimal
 * in force, so a lookup is one load. */
static int build_dense(rt_rates *r) {
  size_t cells = 0;
  for (size_t s = 0; s < r->nser; s++) {
    size_t span = (size_t)(r->ser[s].last - r->ser[s].first) + 1;
    r->ser[s].use_dense = cells + span <= r->dense_max;
    if (r->ser[s].use_dense)
      cells += span;
  }
  if (!cells)
    return 0;
  r->dense_pool = rt_malloc(cells * sizeof *r->dense_pool);
  if (!r->dense_pool)
    return RT_ENOMEM;
  size_t used = 0;
  for (size_t s = 0; s < r->nser; s++) {
    series *se = &r->ser[s];
    size_t span = (size_t)(se->last - se->first) + 1;
    if (!se->use_dense)
      continue;
    se->dense = r->dense_pool + used;
    used += span;
    size_t e = se->off;
    for (size_t d = 0; d < span; d++) {
      while (e + 1 < se->off + se->n && r->day[e + 1] <= se->first + (int32_t)d)
        e++;
      se->dense[d] = r->dec[e];
    }
  }
  return 0;
}

int rt_rates_finish(rt_rates *r, rt_error *err) {
  if (!r)
    return rt_error_set(err, RT_EINVAL, "rt_rates_finish: NULL argument");
  if (r->finished)
    return 0;
  int rc = renumber(r);
  if (!rc) {
    size_t sorted = 1; /* the store's scan comes in this order already */
    while (sorted < r->nraw && cmp_raw(&r->raw[sorted - 1], &r->raw[sorted]) < 0)
      sorted++;
    if (sorted < r->nraw)
      qsort(r->raw, r->nraw, sizeof *r->raw, cmp_raw);
    size_t n = 0; /* keep the last of each (series, day) */
    for (size_t i = 0; i < r->nraw; i++) {
      if (n && r->raw[n - 1].series == r->raw[i].series && r->raw[n - 1].day == r->raw[i].day)
        n--;
      r->raw[n++] = r->raw[i];
    }
    r->n = n;
    r->day = rt_malloc((n + 1) * sizeof *r->day);
    r->dec = rt_malloc((n + 1) * sizeof *r->dec);
    r->rate = rt_malloc((n + 1) * sizeof *r->rate);
    r->route = rt_calloc((size_t)r->ncur + 1, sizeof *r->route);
    r->exp = rt_calloc((size_t)r->ncur + 1, sizeof *r->exp);
    if (!r->day || !r->dec || !r->rate || !r->route || !r->exp)
      rc = RT_ENOMEM;
  }
  if (rc)
    return rt_error_set(err, rc, "exchange rates: out of memory");
  int64_t *per_base = rt_calloc((size_t)r->ncur + 1, sizeof *per_base);
  if (!per_base)
    return rt_error_set(err, RT_ENOMEM, "exchange rates: out of memory");
  for (size_t i = 0; i < r->n; i++) {
    const raw_rate *w = &r->raw[i];
    series *s = &r->ser[w->series];
    if (!s->n) {
      s->off = i;
      s->first = w->day;
    }
    s->n++;
    s->last = w->day;
    r->day[i] = w->day;
    r->rate[i] = w->rate;
    uint64_t m;
    int k;
    to_decimal(w->rate, &m, &k); /* |k| < 340 for any double */
    r->dec[i] = pack_decimal(m, k);
    per_base[s->base]++;
  }
  rt_free(r->raw);
  r->raw = NULL;
  r->nraw = r->capraw = 0;
  for (int i = 0; i < r->ncur; i++) {
    r->exp[i] = rt_currency_exponent(r->code[i]);
    if (per_base[i] && (r->pivot < 0 || per_base[i] > per_base[r->pivot]))
      r->pivot = i; /* the most rates; ties: the first code */
  }
  rt_free(per_base);
  if (r->pivot >= 0)
    rc = find_routes(r);
  if (!rc)
    rc = build_dense(r);
  if (rc)
    return rt_error_set(err, rc, "exchange rates: out of memory");
  r->finished = 1;
  return 0;
}

void rt_rates_free(rt_rates *r) {
  if (!r)
    return;
  rt_free(r->code);
  rt_free(r->exp);
  rt_free(r->ser);
  rt_free(r->raw);
  rt_free(r->day);
  rt_free(r->dec);
  rt_free(r->rate);
  rt_free(r->route);
  rt_free(r->dense_pool);
  rt_free(r);
}

static int on_store_rate(void *ctx, const rt_rate_rec *rec) {
  rt_error *err = ((void **)ctx)[1];
  return rt_rates_add(((void **)ctx)[0], rec->day, rec->base, rec->currency, rec->rate, err);
}

int rt_rates_load(rt_store *st, rt_rates **out, rt_error *err) {
  if (!out)
    return rt_error_set(err, RT_EINVAL, "rt_rates_load: NULL argument");
  *out = NULL;
  rt_rates *r;
  if (rt_rates_new(&r))
    return rt_error_set(err, RT_ENOMEM, "exchange rates: out of memory");
  void *ctx[2] = {r, err};
  int rc = rt_store_scan_rates(st, on_store_rate, ctx, err);
  if (!rc)
    rc = rt_rates_finish(r, err);
  if (rc) {
    rt_rates_free(r);
    return rc;
  }
  *out = r;
  return 0;
}

/* ---- lookups ---- */

/* The decimal of series s in force on day (its latest rate on or before it), or 0. */
static inline uint64_t rate_on(const rt_rates *r, const series *s, int64_t day) {
  if (day < s->first)
    return 0;
  if (day >= s->last)
    return r->dec[s->off + s->n - 1];
  if (s->dense)
    return s->dense[day - s->first];
  size_t lo = s->off, hi = s->off + s->n - 1; /* day[lo] <= day < day[hi] */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (r->day[mid] <= day)
      lo = mid;
    else
      hi = mid;
  }
  return r->dec[lo];
}

/* Why a conversion found no rate: the currency, and the series that had none that day. */
typedef struct miss {
  int cur;      /* currency index, or -1 for a code the rates do not know */
  int series;   /* -1: no chain to the pivot */
} miss;

static const u128 U64MAX = (u128)UINT64_MAX;

/* 10^p for 0 <= p <= 38 (below 2^127). */
static inline u128 ten_to(int p) {
  static const uint64_t small[20] = {1ull,
                                     10ull,
                                     100ull,
                                     1000ull,
                                     10000ull,
                                     100000ull,
                                     1000000ull,
                                     10000000ull,
                                     100000000ull,
                                     1000000000ull,
                                     10000000000ull,
                                     100000000000ull,
                                     1000000000000ull,
                                     10000000000000ull,
                                     100000000000000ull,
                                     1000000000000000ull,
                                     10000000000000000ull,
                                     100000000000000000ull,
                                     1000000000000000000ull,
                                     10000000000000000000ull};
  return p < 20 ? small[p] : (u128)small[19] * small[p - 19];
}

/* The exact fraction of a conversion: |A| rho_to / rho_from 10^(e_to - e_from) = num / den.
 * Returns 0, RT_ENOTFOUND (with *ms), or RT_ERANGE when 128 bits do not hold it (num and den
 * are then meaningless and *x has the value in long double). */
static int fraction(const rt_rates *r, uint64_t a, int from, int to, int64_t day, u128 *num,
                    u128 *den, long double *x, miss *ms) {
  const int who[2] = {from, to}; /* a missing rate of from is named first */
  for (int w = 0; w < 2; w++)
    if (r->route[who[w]].nlegs < 0) {
      *ms = (miss){who[w], -1};
      return RT_ENOTFOUND;
    }
  /* The steps both chains start with (the tree's path to where they part) cancel exactly: two
   * currencies quoted against one base convert with their own rates alone, even on days when
   * that base has no rate against the pivot. */
  const route *rto = &r->route[to], *rfrom = &r->route[from];
  int common = 0;
  while (common < rto->nlegs && common < rfrom->nlegs &&
         rto->legs[common].series == rfrom->legs[common].series &&
         rto->legs[common].inverse == rfrom->legs[common].inverse)
    common++;
  /* each rate goes above (it multiplies rho_to, or divides rho_from) or below the line */
  uint64_t terms[2 * RT_RATES_MAX_LEGS];
  int above[2 * RT_RATES_MAX_LEGS], nt = 0;
  for (int w = 0; w < 2; w++) {
    const route *rt = &r->route[who[w]];
    for (int l = common; l < rt->nlegs; l++) {
      uint64_t d = rate_on(r, &r->ser[rt->legs[l].series], day);
      if (!d) {
        *ms = (miss){who[w], (int)rt->legs[l].series};
        return RT_ENOTFOUND;
      }
      above[nt] = (rt->legs[l].inverse != 0) == (w == 0);
      terms[nt++] = d;
    }
  }
  u128 nv = a, dv = 1;
  int p = r->exp[to] - r->exp[from], ovf = 0;
  for (int t = 0; t < nt; t++) { /* m / 10^k above: num * m, p - k; below: den * m, p + k */
    if (above[t]) {
      ovf |= __builtin_mul_overflow(nv, (u128)dec_mant(terms[t]), &nv);
      p -= dec_k(terms[t]);
    } else {
      ovf |= __builtin_mul_overflow(dv, (u128)dec_mant(terms[t]), &dv);
      p += dec_k(terms[t]);
    }
  }
  if (p > 38 || p < -38)
    ovf = 1;
  else if (p >= 0)
    ovf |= __builtin_mul_overflow(nv, ten_to(p), &nv);
  else
    ovf |= __builtin_mul_overflow(dv, ten_to(-p), &dv);
  *num = nv;
  *den = dv;
  if (!ovf)
    return 0;
  long double lx = (long double)a;
  for (int t = 0; t < nt; t++)
    lx = above[t] ? lx * (long double)dec_mant(terms[t]) : lx / (long double)dec_mant(terms[t]);
  *x = lx * powl(10.0L, (long double)p);
  return RT_ERANGE;
}

static int convert(const rt_rates *r, int64_t amount, int from, int to, int64_t day,
                   int64_t *out, miss *ms) {
  if (from < 0 || to < 0) { /* -1 is any unknown code: two of them need not be the same */
    *ms = (miss){from < 0 ? -1 : to, -2};
    return RT_ENOTFOUND;
  }
  uint64_t a = amount < 0 ? (uint64_t)0 - (uint64_t)amount : (uint64_t)amount;
  u128 num, den;
  long double x = 0;
  uint64_t q;
  int rc = fraction(r, a, from, to, day, &num, &den, &x, ms);
  if (rc == RT_ENOTFOUND)
    return rc;
  if (rc == RT_ERANGE) {
    long double f = floorl(x + 0.5L); /* x >= 0: half away from zero */
    if (!(f < 18446744073709551616.0L))
      return RT_ERANGE;
    q = (uint64_t)f;
  } else if (num <= U64MAX && den <= U64MAX) {
    uint64_t n = (uint64_t)num, d = (uint64_t)den, rem = n % d;
    q = n / d + (rem >= d - rem);
  } else {
    u128 qq = num / den, rem = num % den;
    qq += rem >= den - rem;
    if (qq > U64MAX)
      return RT_ERANGE;
    q = (uint64_t)qq;
  }
  if (amount < 0 ? q > (uint64_t)INT64_MAX + 1 : q > (uint64_t)INT64_MAX)
    return RT_ERANGE;
  *out = amount < 0 ? (int64_t)((uint64_t)0 - q) : (int64_t)q;
  return 0;
}

int rt_rates_currency(const rt_rates *r, const char *code) {
  return r && code && strlen(code) == 3 ? find_code(r, code) : -1;
}

size_t rt_rates_ncurrencies(const rt_rates *r) { return r ? (size_t)r->ncur : 0; }

const char *rt_rates_currency_code(const rt_rates *r, int index) {
  return r && index >= 0 && index < r->ncur ? r->code[index] : NULL;
}

int rt_rates_convert_index(const rt_rates *r, int64_t amount, int from, int to, int64_t day,
                           int64_t *out) {
  assert(r && r->finished && out);
  miss ms;
  if (from >= r->ncur || to >= r->ncur)
    return RT_ENOTFOUND;
  if (from == to && from >= 0) {
    *out = amount;
    return 0;
  }
  return convert(r, amount, from, to, day, out, &ms);
}

/* The message of a conversion without a rate. */
static int no_rate(const rt_rates *r, const char *from, const char *to, int64_t day,
                   const miss *ms, rt_error *err) {
  if (!err)
    return RT_ENOTFOUND;
  const char *code = ms->cur >= 0 ? r->code[ms->cur] : NULL;
  char d[32], first[32];
  rt_day_format(day, d, sizeof d);
  if (!code) /* a code no rate mentions: the first of from and to that is unknown */
    return rt_error_set(err, RT_ENOTFOUND, "no exchange rate for %s: no rate mentions it",
                        find_code(r, from) < 0 ? from : to);
  if (ms->series < 0)
    return rt_error_set(err, RT_ENOTFOUND,
                        "no exchange rate for %s: its rates do not lead to %s in at most %d steps",
                        code, r->pivot >= 0 ? r->code[r->pivot] : "a pivot", RT_RATES_MAX_LEGS);
  const series *s = &r->ser[ms->series];
  rt_day_format(s->first, first, sizeof first);
  return rt_error_set(err, RT_ENOTFOUND,
                      "no exchange rate for %s on or before %s: the %s/%s rates start on %s", code,
                      d, r->code[s->base], r->code[s->cur], first);
}

int rt_rates_convert(const rt_rates *r, int64_t amount, const char *from, const char *to,
                     int64_t day, int64_t *out, rt_error *err) {
  if (!r || !from || !to || !out)
    return rt_error_set(err, RT_EINVAL, "rt_rates_convert: NULL argument");
  if (!r->finished)
    return rt_error_set(err, RT_EINVAL, "rt_rates_convert: the rates are not finished");
  if (strcmp(from, to) == 0) {
    *out = amount;
    return 0;
  }
  miss ms;
  int f = rt_rates_currency(r, from), t = rt_rates_currency(r, to);
  int rc = f == t && f >= 0 ? (*out = amount, 0) : convert(r, amount, f, t, day, out, &ms);
  if (rc == RT_ENOTFOUND)
    return no_rate(r, from, to, day, &ms, err);
  if (rc == RT_ERANGE)
    return rt_error_set(err, RT_ERANGE, "%lld %s in %s does not fit in 64 bits",
                        (long long)amount, from, to);
  return rc;
}

int rt_rates_rate(const rt_rates *r, const char *from, const char *to, int64_t day, double *out,
                  rt_error *err) {
  if (!r || !from || !to || !out)
    return rt_error_set(err, RT_EINVAL, "rt_rates_rate: NULL argument");
  if (!r->finished)
    return rt_error_set(err, RT_EINVAL, "rt_rates_rate: the rates are not finished");
  if (strcmp(from, to) == 0) {
    *out = 1;
    return 0;
  }
  int f = rt_rates_currency(r, from), t = rt_rates_currency(r, to);
  miss ms = {f < 0 ? -1 : t, -2};
  if (f < 0 || t < 0)
    return no_rate(r, from, to, day, &ms, err);
  u128 num, den;
  long double x = 0;
  /* the fraction of 1 unit with the exponents cancelled: the same legs, so the same misses */
  int rc = fraction(r, 1, f, t, day, &num, &den, &x, &ms);
  if (rc == RT_ENOTFOUND)
    return no_rate(r, from, to, day, &ms, err);
  long double v = rc ? x : (long double)num / (long double)den;
  *out = (double)(v * powl(10.0L, (long double)(r->exp[f] - r->exp[t])));
  return 0;
}

/* ---- what the rates cover ---- */

const char *rt_rates_pivot(const rt_rates *r) {
  return r && r->pivot >= 0 ? r->code[r->pivot] : "";
}

size_t rt_rates_count(const rt_rates *r) {
  return !r ? 0 : r->finished ? r->n : r->nraw;
}

size_t rt_rates_nseries(const rt_rates *r) { return r && r->finished ? r->nser : 0; }

int rt_rates_series(const rt_rates *r, size_t i, rt_rate_series *out) {
  if (!r || !out || !r->finished || i >= r->nser)
    return RT_EINVAL;
  const series *s = &r->ser[i];
  *out = (rt_rate_series){.base = r->code[s->base],
                          .currency = r->code[s->cur],
                          .first_day = s->first,
                          .last_day = s->last,
                          .count = s->n,
                          .latest = r->rate[s->off + s->n - 1]};
  return 0;
}

int rt_amount_parse(const char *s, const char *currency, int64_t *out, rt_error *err) {
  if (!s || !out)
    return rt_error_set(err, RT_EINVAL, "rt_amount_parse: NULL argument");
  int rc = rt__parse_money(s, strlen(s), rt_currency_exponent(currency), out);
  if (rc == RT_ERANGE)
    return rt_error_set(err, rc, "amount '%.40s' is too large", s);
  if (rc)
    return rt_error_set(err, rc, "invalid amount '%.40s' (expected a decimal number like 12.50)",
                        s);
  return 0;
}
