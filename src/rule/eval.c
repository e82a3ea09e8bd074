/* eval.c - running a compiled rule: rt_rule_eval (all customers, as vector operations) and
 * rt_rule_match (one customer, the same tree walked one value at a time).
 *
 * The customers are taken in blocks of RT__RULE_BLOCK. In a block, a value node (a column, a
 * sum, a date converted to doubles) yields an array of doubles, and a condition node a bitmap,
 * 64 customers to a word. Each operation is one tight loop with its operator chosen outside
 * it: comparisons of doubles with SSE2 compares and movemask, 2 customers a step; ranges of
 * int32 values (days, and number columns that give i32) with SSE2 too, 16 customers a
 * movemask; text code tests write a byte per customer, which gcc vectorises, and pack 64
 * bytes into a word (a text table lookup is a gather, one load per customer); arithmetic is
 * vectorised too; and/or/not are word loops. The loops are in small noinline functions with
 * restrict pointers: inlined into the big switch, gcc loses the restrict and gives up on
 * them. A block's arrays stay in cache, and the
 * scratch space they need is laid out once, at compile time (rt__rule_plan). From
 * RT__RULE_PARALLEL_MIN customers two threads share the blocks, split on a word boundary.
 *
 * Semantics are shared with the scalar walk through rt__rule_arith and rt__rule_cmp (and the
 * same expressions in the loops), so both paths give the same answer for every customer. */
#include "rule/rule_internal.h"

#include <retain/alloc.h>

#include <string.h>

#include "internal.h"

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#define RULE_SSE2 1
#else
#define RULE_SSE2 0
#endif

#define VBYTES ((size_t)RT__RULE_BLOCK * sizeof(double))        /* a block of values */
#define WBYTES ((size_t)RT__RULE_BLOCK / 64 * sizeof(uint64_t)) /* a block of bits */

/* ---- scratch layout ---- */

/* Bytes a value node's output takes in scratch (a column is read in place). */
static size_t out_bytes(const rt__rnode *v) { return v->op == R_NUMCOL ? 0 : VBYTES; }

static size_t plan_value(rt__rnode *v, size_t base) {
  size_t hw = base;
  switch (v->op) {
  case R_NUMCOL:
    return base;
  case R_NEG:
    v->off = base;
    hw = plan_value(v->a, base + VBYTES);
    break;
  case R_ARITH: /* a's output stays while b is computed */
    v->off = base;
    hw = plan_value(v->a, base + VBYTES);
    hw = RT_MAX(hw, plan_value(v->b, base + VBYTES + out_bytes(v->a)));
    break;
  default: /* R_CONST, R_DATECOL */
    v->off = base;
    break;
  }
  return RT_MAX(hw, base + VBYTES);
}

static size_t plan_cond(rt__rnode *c, size_t base) {
  size_t hw = base;
  switch (c->op) {
  case R_AND:
  case R_OR: /* the first kid writes the output, the others a temporary at base */
    c->off = base;
    hw = base + WBYTES;
    for (size_t i = 0; i < c->nkids; i++)
      hw = RT_MAX(hw, plan_cond(c->kids[i], base + WBYTES));
    return hw;
  case R_NOT:
    return plan_cond(c->a, base);
  case R_CMP:
    hw = plan_value(c->a, base);
    if (c->b)
      hw = RT_MAX(hw, plan_value(c->b, base + out_bytes(c->a)));
    return hw;
  case R_RANGE:
  case R_IN:
    return plan_value(c->a, base);
  case R_PRESENT:
    return c->a ? plan_value(c->a, base) : base;
  default:
    return base;
  }
}

size_t rt__rule_plan(rt__rnode *root) { return plan_cond(root, 0); }

/* ---- kernels ---- */

/* 64 bytes of 0 or 1 as the bits of a word (byte k is bit k). */
static inline uint64_t pack64(const uint8_t *t) {
  uint64_t w = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  for (int j = 0; j < 8; j++) { /* the multiply gathers bit 0 of each byte into the top byte */
    uint64_t x;
    memcpy(&x, t + 8 * j, 8);
    w |= ((x * UINT64_C(0x0102040810204080)) >> 56) << (8 * j);
  }
#else
  for (int k = 0; k < 64; k++)
    w |= (uint64_t)t[k] << k;
#endif
  return w;
}

/* out[0 .. ceil(len/64)) = the bits of EXPR (of i, the customer in the block): whole words
 * through a 64-byte array, then the rest of the last word. */
#define BYTE_LOOP(len, out, EXPR)                                                                  \
  do {                                                                                             \
    size_t full_ = (len) / 64, rest_ = (len) % 64;                                                 \
    for (size_t w_ = 0; w_ < full_; w_++) {                                                        \
      uint8_t t_[64];                                                                              \
      for (size_t k_ = 0; k_ < 64; k_++) {                                                         \
        size_t i = w_ * 64 + k_;                                                                   \
        t_[k_] = (uint8_t)(EXPR);                                                                  \
      }                                                                                            \
      (out)[w_] = pack64(t_);                                                                      \
    }                                                                                              \
    if (rest_) {                                                                                   \
      uint8_t t_[64] = {0};                                                                        \
      for (size_t k_ = 0; k_ < rest_; k_++) {                                                      \
        size_t i = full_ * 64 + k_;                                                                \
        t_[k_] = (uint8_t)(EXPR);                                                                  \
      }                                                                                            \
      (out)[full_] = pack64(t_);                                                                   \
    }                                                                                              \
  } while (0)

/* The same for a test on doubles: VEC is the SSE2 mask of customers i and i + 1, SCALAR the
 * test of customer i (for the last word, and where there is no SSE2). */
#if RULE_SSE2
#define DBL_LOOP(len, out, VEC, SCALAR)                                                            \
  do {                                                                                             \
    size_t full_ = (len) / 64, rest_ = (len) % 64;                                                 \
    for (size_t w_ = 0; w_ < full_; w_++) {                                                        \
      uint64_t m_ = 0;                                                                             \
      for (unsigned j_ = 0; j_ < 64; j_ += 2) {                                                    \
        size_t i = w_ * 64 + j_;                                                                   \
        m_ |= (uint64_t)_mm_movemask_pd(VEC) << j_;                                                \
      }                                                                                            \
      (out)[w_] = m_;                                                                              \
    }                                                                                              \
    if (rest_) {                                                                                   \
      uint64_t m_ = 0;                                                                             \
      for (size_t k_ = 0; k_ < rest_; k_++) {                                                      \
        size_t i = full_ * 64 + k_;                                                                \
        m_ |= (uint64_t)(SCALAR) << k_;                                                            \
      }                                                                                            \
      (out)[full_] = m_;                                                                           \
    }                                                                                              \
  } while (0)
#define LD(p) _mm_loadu_pd((p) + i)
#else
#define DBL_LOOP(len, out, VEC, SCALAR) BYTE_LOOP(len, out, SCALAR)
#endif

/* x cmp c. */
static void cmp_const(int cmp, const double *x, double c, size_t len, uint64_t *out) {
#if RULE_SSE2
  const __m128d k = _mm_set1_pd(c);
#endif
  switch (cmp) {
  case CMP_EQ:
    DBL_LOOP(len, out, _mm_cmpeq_pd(LD(x), k), x[i] == c);
    break;
  case CMP_NE:
    DBL_LOOP(len, out, _mm_or_pd(_mm_cmplt_pd(LD(x), k), _mm_cmpgt_pd(LD(x), k)),
             x[i] < c || x[i] > c);
    break;
  case CMP_LT:
    DBL_LOOP(len, out, _mm_cmplt_pd(LD(x), k), x[i] < c);
    break;
  case CMP_LE:
    DBL_LOOP(len, out, _mm_cmple_pd(LD(x), k), x[i] <= c);
    break;
  case CMP_GT:
    DBL_LOOP(len, out, _mm_cmpgt_pd(LD(x), k), x[i] > c);
    break;
  default:
    DBL_LOOP(len, out, _mm_cmpge_pd(LD(x), k), x[i] >= c);
    break;
  }
}

/* x cmp y, customer by customer. */
static void cmp_pair(int cmp, const double *x, const double *y, size_t len, uint64_t *out) {
  switch (cmp) {
  case CMP_EQ:
    DBL_LOOP(len, out, _mm_cmpeq_pd(LD(x), LD(y)), x[i] == y[i]);
    break;
  case CMP_NE:
    DBL_LOOP(len, out, _mm_or_pd(_mm_cmplt_pd(LD(x), LD(y)), _mm_cmpgt_pd(LD(x), LD(y))),
             x[i] < y[i] || x[i] > y[i]);
    break;
  case CMP_LT:
    DBL_LOOP(len, out, _mm_cmplt_pd(LD(x), LD(y)), x[i] < y[i]);
    break;
  case CMP_LE:
    DBL_LOOP(len, out, _mm_cmple_pd(LD(x), LD(y)), x[i] <= y[i]);
    break;
  case CMP_GT:
    DBL_LOOP(len, out, _mm_cmpgt_pd(LD(x), LD(y)), x[i] > y[i]);
    break;
  default:
    DBL_LOOP(len, out, _mm_cmpge_pd(LD(x), LD(y)), x[i] >= y[i]);
    break;
  }
}

/* lo <= x <= hi, or (outside) x < lo or x > hi. */
static void range(const double *x, double lo, double hi, int outside, size_t len, uint64_t *out) {
#if RULE_SSE2
  const __m128d l = _mm_set1_pd(lo), h = _mm_set1_pd(hi);
#endif
  if (outside)
    DBL_LOOP(len, out, _mm_or_pd(_mm_cmplt_pd(LD(x), l), _mm_cmpgt_pd(LD(x), h)),
             x[i] < lo || x[i] > hi);
  else
    DBL_LOOP(len, out, _mm_and_pd(_mm_cmpge_pd(LD(x), l), _mm_cmple_pd(LD(x), h)),
             x[i] >= lo && x[i] <= hi);
}

static void present_dbl(const double *x, size_t len, uint64_t *out) {
  DBL_LOOP(len, out, _mm_cmpord_pd(LD(x), LD(x)), x[i] == x[i]);
}

/* 1 if x is one of list[0..n) (sorted, no NAN). */
static int in_list(double x, const double *list, size_t n) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (list[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && list[lo] == x;
}

/* x in list; neg: x present and not in it. Short lists are compared value by value (a
 * vector loop per list entry), long ones searched. */
static void in_kernel(const rt__rnode *c, const double *x, size_t len, uint64_t *out) {
  const double *list = c->list;
  size_t n = c->nlist;
  int neg = c->neg;
  if (n > 16) {
    BYTE_LOOP(len, out, neg ? x[i] == x[i] && !in_list(x[i], list, n) : in_list(x[i], list, n));
    return;
  }
  size_t nw = (len + 63) / 64;
  memset(out, 0, nw * sizeof *out);
  for (size_t j = 0; j < n; j++) {
    uint64_t tmp[RT__RULE_BLOCK / 64];
    cmp_const(CMP_EQ, x, list[j], len, tmp);
    for (size_t w = 0; w < nw; w++)
      out[w] |= tmp[w];
  }
  if (neg) {
    uint64_t tmp[RT__RULE_BLOCK / 64];
    present_dbl(x, len, tmp);
    for (size_t w = 0; w < nw; w++)
      out[w] = tmp[w] & ~out[w];
  }
}

/* The same for a test on int32 values: VEC is the SSE2 mask (0 or -1 per lane) of customers
 * i .. i + 3; four of them are packed to 16 bytes and one movemask gives 16 bits. */
#if RULE_SSE2
#define INT_LOOP(len, out, VEC, SCALAR)                                                            \
  do {                                                                                             \
    size_t full_ = (len) / 64, rest_ = (len) % 64;                                                 \
    for (size_t w_ = 0; w_ < full_; w_++) {                                                        \
      uint64_t m_ = 0;                                                                             \
      for (unsigned j_ = 0; j_ < 64; j_ += 16) {                                                   \
        size_t i = w_ * 64 + j_;                                                                   \
        const __m128i a_ = (VEC);                                                                  \
        i += 4;                                                                                    \
        const __m128i b_ = (VEC);                                                                  \
        i += 4;                                                                                    \
        const __m128i c_ = (VEC);                                                                  \
        i += 4;                                                                                    \
        const __m128i d_ = (VEC);                                                                  \
        const __m128i p_ = _mm_packs_epi16(_mm_packs_epi32(a_, b_), _mm_packs_epi32(c_, d_));      \
        m_ |= (uint64_t)(unsigned)_mm_movemask_epi8(p_) << j_;                                     \
      }                                                                                            \
      (out)[w_] = m_;                                                                              \
    }                                                                                              \
    if (rest_) {                                                                                   \
      uint64_t m_ = 0;                                                                             \
      for (size_t k_ = 0; k_ < rest_; k_++) {                                                      \
        size_t i = full_ * 64 + k_;                                                                \
        m_ |= (uint64_t)(SCALAR) << k_;                                                            \
      }                                                                                            \
      (out)[full_] = m_;                                                                           \
    }                                                                                              \
  } while (0)
#define LDI(p) _mm_loadu_si128((const __m128i *)(const void *)((p) + i))
#else
#define INT_LOOP(len, out, VEC, SCALAR) BYTE_LOOP(len, out, SCALAR)
#endif

/* int32 values (days, or a number column's i32) in [ilo, ihi], or present and outside. One
 * unsigned compare: (uint32_t)(d - ilo) <= ihi - ilo. SSE2 has only signed compares, so both
 * sides are shifted by 2^31 (d - ilo - 2^31 against span - 2^31, as signed). gcc vectorises
 * the byte loop too, but packs its bytes through memory: this is about twice as fast on a
 * block in cache. */
RT__NOINLINE static void int_range(const int32_t *restrict d, int32_t ilo, int32_t ihi, int outside,
                                   size_t len, uint64_t *restrict out) {
  const uint32_t base = (uint32_t)ilo, span = (uint32_t)ihi - (uint32_t)ilo;
#if RULE_SSE2
  const __m128i vb = _mm_set1_epi32((int32_t)(base + UINT32_C(0x80000000)));
  const __m128i vs = _mm_set1_epi32((int32_t)(span ^ UINT32_C(0x80000000)));
  const __m128i vmiss = _mm_set1_epi32(INT32_MIN), ones = _mm_set1_epi32(-1);
#endif
  if (outside)
    INT_LOOP(len, out,
             _mm_andnot_si128(_mm_cmpeq_epi32(LDI(d), vmiss),
                              _mm_cmpgt_epi32(_mm_sub_epi32(LDI(d), vb), vs)),
             ((uint32_t)d[i] - base > span) & (d[i] != INT32_MIN));
  else
    INT_LOOP(len, out, _mm_xor_si128(_mm_cmpgt_epi32(_mm_sub_epi32(LDI(d), vb), vs), ones),
             (uint32_t)d[i] - base <= span);
}

/* 1 if x is one of list[0..n) (sorted). */
static int in_ilist(int32_t x, const int32_t *list, size_t n) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (list[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && list[lo] == x;
}

/* int32 values in c->ilist; neg: present and in none. As in_kernel: short lists a vector loop
 * per entry, long ones searched. */
static void int_in(const rt__rnode *c, const int32_t *x, size_t len, uint64_t *out) {
  const int32_t *list = c->ilist;
  size_t n = c->nlist;
  int neg = c->neg;
  if (n > 16) {
    BYTE_LOOP(len, out,
              neg ? x[i] != INT32_MIN && !in_ilist(x[i], list, n) : in_ilist(x[i], list, n));
    return;
  }
  size_t nw = (len + 63) / 64;
  memset(out, 0, nw * sizeof *out);
  for (size_t j = 0; j < n; j++) {
    uint64_t tmp[RT__RULE_BLOCK / 64];
    int_range(x, list[j], list[j], 0, len, tmp);
    for (size_t w = 0; w < nw; w++)
      out[w] |= tmp[w];
  }
  if (neg) {
    uint64_t tmp[RT__RULE_BLOCK / 64];
    int_range(x, INT32_MIN + 1, INT32_MAX, 0, len, tmp);
    for (size_t w = 0; w < nw; w++)
      out[w] = tmp[w] & ~out[w];
  }
}

/* Text codes below nd: the present ones. */
RT__NOINLINE static void code_below(const uint32_t *restrict code, uint32_t nd, size_t len,
                                    uint64_t *restrict out) {
  BYTE_LOOP(len, out, code[i] < nd);
}

/* Codes equal to k; with nd > 0, present codes other than k instead. */
RT__NOINLINE static void code_eq(const uint32_t *restrict code, uint32_t k, uint32_t nd, size_t len,
                                 uint64_t *restrict out) {
  if (nd)
    BYTE_LOOP(len, out, (code[i] != k) & (code[i] < nd));
  else
    BYTE_LOOP(len, out, code[i] == k);
}

/* Codes in the bitset set (a gather: not vectorised, but one load per customer). */
static void code_set(const uint32_t *restrict code, uint32_t nd, const uint64_t *restrict set,
                     size_t len, uint64_t *restrict out) {
  BYTE_LOOP(len, out, code[i] < nd ? (set[code[i] >> 6] >> (code[i] & 63)) & 1 : 0);
}

/* Two text columns compared through their ranks. */
static void code_ranks(const rt__rnode *c, size_t lo, size_t len, uint64_t *restrict out) {
  const uint32_t *restrict ca = c->col->code + lo, *restrict cb = c->col2->code + lo;
  const uint32_t na = (uint32_t)c->col->ndict, nb = (uint32_t)c->col2->ndict;
  const uint32_t *restrict ra = c->rank, *restrict rb = c->rank2;
  const unsigned signs = rt__rule_cmp_signs(c->cmp);
  BYTE_LOOP(len, out,
            ca[i] < na && cb[i] < nb
                ? signs >> (1 + (ra[ca[i]] > rb[cb[i]]) - (ra[ca[i]] < rb[cb[i]])) & 1
                : 0);
}

/* ---- blocks ---- */

/* STMT for k = 0 .. len-1: in runs of 64 (a trip count gcc -O2 vectorises without a scalar
 * epilogue), then the rest. */
#define ARR_LOOP(len, STMT)                                                                        \
  do {                                                                                             \
    size_t full_ = (len) / 64 * 64;                                                                \
    for (size_t b_ = 0; b_ < full_; b_ += 64)                                                      \
      for (size_t j_ = 0; j_ < 64; j_++) {                                                         \
        size_t k = b_ + j_;                                                                        \
        STMT;                                                                                      \
      }                                                                                            \
    for (size_t k = full_; k < (len); k++) {                                                       \
      STMT;                                                                                        \
    }                                                                                              \
  } while (0)

/* o = a arith b, with rt__rule_arith's formulas. */
RT__NOINLINE static void arith(int op, const double *restrict a, const double *restrict b,
                               double *restrict o, size_t len) {
  switch (op) {
  case OP_ADD:
    ARR_LOOP(len, o[k] = a[k] + b[k]);
    break;
  case OP_SUB:
    ARR_LOOP(len, o[k] = a[k] - b[k]);
    break;
  case OP_MUL:
    ARR_LOOP(len, o[k] = a[k] * b[k]);
    break;
  default:
    ARR_LOOP(len, o[k] = a[k] / b[k] + (b[k] == 0 ? NAN : 0.0));
    break;
  }
}

RT__NOINLINE static void negate(const double *restrict a, double *restrict o, size_t len) {
  ARR_LOOP(len, o[k] = -a[k]);
}

/* Day numbers as doubles, missing as NAN (added, rather than chosen, so that it vectorises). */
RT__NOINLINE static void days(const int32_t *restrict d, double *restrict o, size_t len) {
  ARR_LOOP(len, o[k] = (double)d[k] + (d[k] == INT32_MIN ? NAN : 0.0));
}

/* The values of v for the block (len entries), in scratch or read from the column. */
static const double *value_block(const rt__rnode *v, size_t lo, size_t len, char *scratch) {
  double *o = (double *)(void *)(scratch + v->off);
  switch (v->op) {
  case R_NUMCOL:
    return v->col->num + lo;
  case R_CONST:
    for (size_t k = 0; k < len; k++)
      o[k] = v->c;
    return o;
  case R_DATECOL:
    days(v->col->day + lo, o, len);
    return o;
  case R_NEG:
    negate(value_block(v->a, lo, len, scratch), o, len);
    return o;
  default: { /* R_ARITH */
    const double *a = value_block(v->a, lo, len, scratch);
    arith(v->arith, a, value_block(v->b, lo, len, scratch), o, len);
    return o;
  }
  }
}

void rt__rule_cond_block(const rt__rnode *c, size_t lo, size_t len, uint64_t *out, char *scratch) {
  const size_t nw = (len + 63) / 64;
  switch (c->op) {
  case R_FALSE:
  case R_TRUE:
    memset(out, c->op == R_TRUE ? 0xFF : 0, nw * sizeof *out);
    return;
  case R_AND:
  case R_OR: {
    uint64_t *tmp = (uint64_t *)(void *)(scratch + c->off);
    const uint64_t stop = c->op == R_AND ? 0 : ~(uint64_t)0; /* the value no kid can change */
    rt__rule_cond_block(c->kids[0], lo, len, out, scratch);
    for (size_t i = 1; i < c->nkids; i++) {
      uint64_t same = ~(uint64_t)0; /* all words already at stop: the rest cannot matter */
      for (size_t w = 0; w < nw; w++)
        same &= ~(out[w] ^ stop);
      if (same == ~(uint64_t)0)
        return;
      rt__rule_cond_block(c->kids[i], lo, len, tmp, scratch);
      if (c->op == R_AND)
        for (size_t w = 0; w < nw; w++)
          out[w] &= tmp[w];
      else
        for (size_t w = 0; w < nw; w++)
          out[w] |= tmp[w];
    }
    return;
  }
  case R_NOT:
    rt__rule_cond_block(c->a, lo, len, out, scratch);
    for (size_t w = 0; w < nw; w++)
      out[w] = ~out[w];
    return;
  case R_CMP: {
    const double *x = value_block(c->a, lo, len, scratch);
    if (c->b)
      cmp_pair(c->cmp, x, value_block(c->b, lo, len, scratch), len, out);
    else
      cmp_const(c->cmp, x, c->c, len, out);
    return;
  }
  case R_RANGE:
    range(value_block(c->a, lo, len, scratch), c->lo, c->hi, c->neg, len, out);
    return;
  case R_IN:
    in_kernel(c, value_block(c->a, lo, len, scratch), len, out);
    return;
  case R_IRANGE:
    int_range(c->ints + lo, c->ilo, c->ihi, c->neg, len, out);
    return;
  case R_IIN:
    int_in(c, c->ints + lo, len, out);
    return;
  case R_PRESENT:
    if (c->a)
      present_dbl(value_block(c->a, lo, len, scratch), len, out);
    else
      code_below(c->col->code + lo, (uint32_t)c->col->ndict, len, out);
    return;
  case R_TEXTEQ:
    code_eq(c->col->code + lo, c->code, c->neg ? (uint32_t)c->col->ndict : 0, len, out);
    return;
  case R_TEXTSET:
    code_set(c->col->code + lo, (uint32_t)c->col->ndict, c->set, len, out);
    return;
  default: /* R_TEXTCMP */
    code_ranks(c, lo, len, out);
    return;
  }
}

/* ---- one customer ---- */

double rt__rule_value_at(const rt__rnode *v, size_t i) {
  switch (v->op) {
  case R_CONST:
    return v->c;
  case R_NUMCOL:
    return v->col->num[i];
  case R_DATECOL:
    return (double)v->col->day[i] + (v->col->day[i] == INT32_MIN ? NAN : 0.0);
  case R_NEG:
    return -rt__rule_value_at(v->a, i);
  default:
    return rt__rule_arith(v->arith, rt__rule_value_at(v->a, i), rt__rule_value_at(v->b, i));
  }
}

int rt__rule_cond_at(const rt__rnode *c, size_t i) {
  switch (c->op) {
  case R_FALSE:
    return 0;
  case R_TRUE:
    return 1;
  case R_AND:
    for (size_t k = 0; k < c->nkids; k++)
      if (!rt__rule_cond_at(c->kids[k], i))
        return 0;
    return 1;
  case R_OR:
    for (size_t k = 0; k < c->nkids; k++)
      if (rt__rule_cond_at(c->kids[k], i))
        return 1;
    return 0;
  case R_NOT:
    return !rt__rule_cond_at(c->a, i);
  case R_CMP:
    return rt__rule_cmp(c->cmp, rt__rule_value_at(c->a, i),
                        c->b ? rt__rule_value_at(c->b, i) : c->c);
  case R_RANGE: {
    double x = rt__rule_value_at(c->a, i);
    return c->neg ? x < c->lo || x > c->hi : x >= c->lo && x <= c->hi;
  }
  case R_IN: {
    double x = rt__rule_value_at(c->a, i);
    int found = in_list(x, c->list, c->nlist);
    return c->neg ? x == x && !found : found;
  }
  case R_IIN: {
    int32_t x = c->ints[i];
    int found = in_ilist(x, c->ilist, c->nlist);
    return c->neg ? x != INT32_MIN && !found : found;
  }
  case R_IRANGE: {
    int32_t d = c->ints[i];
    int in = (uint32_t)d - (uint32_t)c->ilo <= (uint32_t)c->ihi - (uint32_t)c->ilo;
    return c->neg ? !in && d != INT32_MIN : in;
  }
  case R_PRESENT:
    if (c->a) {
      double x = rt__rule_value_at(c->a, i);
      return x == x;
    }
    return c->col->code[i] < c->col->ndict;
  case R_TEXTEQ: {
    uint32_t k = c->col->code[i];
    return c->neg ? k != c->code && k < c->col->ndict : k == c->code;
  }
  case R_TEXTSET: {
    uint32_t k = c->col->code[i];
    return k < c->col->ndict && (c->set[k >> 6] >> (k & 63) & 1);
  }
  default: { /* R_TEXTCMP */
    uint32_t a = c->col->code[i], b = c->col2->code[i];
    if (a >= c->col->ndict || b >= c->col2->ndict)
      return 0;
    uint32_t x = c->rank[a], y = c->rank2[b];
    return rt__rule_cmp_signs(c->cmp) >> (1 + (x > y) - (x < y)) & 1;
  }
  }
}

/* ---- the public entry points ---- */

typedef struct part {
  const rt_rule *r;
  size_t lo, hi; /* customers; lo is a multiple of 64 */
  uint64_t *bits;
  char *scratch;
} part;

static void run_part(void *arg) {
  part *p = arg;
  for (size_t lo = p->lo; lo < p->hi; lo += RT__RULE_BLOCK) {
    size_t len = RT_MIN((size_t)RT__RULE_BLOCK, p->hi - lo);
    rt__rule_cond_block(p->r->root, lo, len, p->bits + lo / 64, p->scratch);
  }
}

int rt_rule_eval(const rt_rule *r, uint64_t *bits, rt_error *err) {
  const size_t n = r->n;
  if (n == 0)
    return 0;
  int nparts = n >= RT__RULE_PARALLEL_MIN && rt__cpus() >= 2 ? 2 : 1;
  size_t each = (r->scratch + 63) & ~(size_t)63;
  char *scratch = rt_malloc(nparts * each + 64);
  if (!scratch)
    return rt_error_set(err, RT_ENOMEM, "rule: %s", rt_strerror(RT_ENOMEM));
  part parts[2];
  size_t mid = nparts == 2 ? (n / 2 + 63) & ~(size_t)63 : n;
  parts[0] = (part){r, 0, mid, bits, scratch};
  parts[1] = (part){r, mid, n, bits, scratch + each};
  rt__parallel(nparts, run_part, parts, sizeof parts[0]);
  rt_free(scratch);
  if (n % 64)
    bits[n / 64] &= ((uint64_t)1 << (n % 64)) - 1;
  return 0;
}

int rt_rule_match(const rt_rule *r, size_t customer) {
  return customer < r->n ? rt__rule_cond_at(r->root, customer) : 0;
}
