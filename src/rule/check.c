/* check.c - rt_rule_compile: the type check and the lowering of the syntax tree into vector
 * operations (docs/RULES.md, "Types" and "Missing values").
 *
 * One walk over the tree does both. Each sub-expression becomes a typed value (tval): a
 * constant (folded here: `now - 30d` is one day number), a field, a computed number or date
 * (an rt__rnode value), or a condition (an rt__rnode condition). Comparisons pick the
 * cheapest operation for their operands: a date field against a constant becomes a range of
 * day numbers (so does a number field that gives i32: its whole values are read as int32,
 * the constant rounded to keep the answer), a text field against a string a test of
 * dictionary codes, and so on.
 * in_segment('x') parses the named segment's text and lowers it in place, with a stack of the
 * segments being inlined to catch cycles. The result is a tree: a node used twice (the x of
 * `x not between a and b`) is cloned, so that every node owns its scratch space. */
#include "rule/rule_internal.h"

#include <retain/alloc.h>
#include <retain/datetime.h>

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TABLE_BUDGET ((size_t)64 << 20) /* bytes of text tables per rule */

enum { T_NUMBER, T_DATE, T_TEXT, T_BOOL, T_NULL };

/* A typed sub-expression. */
typedef struct tval {
  int type;
  int isconst; /* a constant: c (NUMBER, DATE, BOOL; NAN = missing) or s (TEXT) */
  double c;
  const char *s;
  const rt_column *col; /* a field */
  rt__rnode *v;         /* NUMBER/DATE: the value when not constant; BOOL: the condition when
                           neither constant nor a field */
  int taken;            /* v has been used once: later uses get a clone */
  const rt__ast *ast;   /* where it comes from, for messages */
} tval;

typedef struct lower {
  const rt_rule_env *env;
  rt_rule *r;
  rt_error *err;
  const char *stack[RT_RULE_MAX_SEGMENT_DEPTH]; /* segments being inlined, outermost first */
  int nstack;
  size_t nnodes, table_bytes;
  rt__textindex *ix; /* per column, built on first use */
  size_t *order;     /* columns read, in order of first use */
  size_t norder;
  uint8_t *used; /* per column */
} lower;

static const char *const type_names[] = {"a number", "a date", "text", "true/false", "null"};
const char *const rt__rule_cmp_text[6] = {"=", "!=", "<", "<=", ">", ">="};
const char *const rt__rule_match_text[4] = {"like", "contains", "starts_with", "ends_with"};
static const char arith_text[] = "+-*/";

/* ---- errors ---- */

static int errorf(lower *L, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int errorf(lower *L, int code, const char *fmt, ...) {
  char msg[sizeof L->err->msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return rt_error_set(L->err, code, "%s", msg);
}

static int nomem(lower *L) { return errorf(L, RT_ENOMEM, "%s", rt_strerror(RT_ENOMEM)); }

/* "a number ('orders')", "text ('abc')", "a date": a value as messages name it. */
static void phrase(const tval *t, char *buf, size_t n) {
  if (t->col)
    snprintf(buf, n, "%s ('%s')", type_names[t->type], t->col->name);
  else if (t->type == T_TEXT && t->isconst)
    snprintf(buf, n, "text ('%.40s')", t->s);
  else
    snprintf(buf, n, "%s", type_names[t->type]);
}

/* "type error at L:C: " + the formatted rest. */
static int type_error(lower *L, const rt__ast *at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int type_error(lower *L, const rt__ast *at, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return errorf(L, RT_EINVAL, "type error at %d:%d: %s", at->line, at->col, msg);
}

/* "'country' is text, cannot compare with a number": the field (or else the left side)
 * first. */
static int compare_error(lower *L, const tval *x, const tval *y, const rt__ast *at) {
  if (!x->col && y->col) {
    const tval *t = x;
    x = y;
    y = t;
  }
  char yp[128];
  if (y->type == T_TEXT && y->isconst)
    snprintf(yp, sizeof yp, "text '%.40s'%s", y->s,
             x->type == T_DATE ? " (write dates as 'YYYY-MM-DD')" : "");
  else
    snprintf(yp, sizeof yp, "%s", type_names[y->type]);
  if (x->col)
    return type_error(L, at, "'%s' is %s, cannot compare with %s", x->col->name,
                      type_names[x->type], yp);
  return type_error(L, at, "cannot compare %s with %s", type_names[x->type], yp);
}

static int null_error(lower *L, const rt__ast *at) {
  return type_error(L, at,
                    "null is not a value; test for a missing value with 'is null' or "
                    "'is not null'");
}

/* ---- nodes ---- */

static rt__rnode *rnode(lower *L, int op) {
  if (++L->nnodes > RT_RULE_MAX_NODES) {
    errorf(L, RT_EPARSE,
           "the rule is too large (more than %d operations, counting included "
           "segments)",
           RT_RULE_MAX_NODES);
    return NULL;
  }
  rt__rnode *n = rt__rarena_alloc(&L->r->arena, sizeof *n);
  if (!n) {
    nomem(L);
    return NULL;
  }
  n->op = (uint8_t)op;
  return n;
}

static rt__rnode *rconst(lower *L, int truth) { return rnode(L, truth ? R_TRUE : R_FALSE); }

/* A deep copy of n (the tree must stay a tree). */
static rt__rnode *clone(lower *L, const rt__rnode *n) {
  if (!n)
    return NULL;
  rt__rnode *c = rnode(L, n->op);
  if (!c)
    return NULL;
  *c = *n;
  if ((n->a && !(c->a = clone(L, n->a))) || (n->b && !(c->b = clone(L, n->b))))
    return NULL;
  if (n->nkids) {
    if (!(c->kids = rt__rarena_alloc(&L->r->arena, n->nkids * sizeof *c->kids)))
      return nomem(L), NULL;
    for (size_t i = 0; i < n->nkids; i++)
      if (!(c->kids[i] = clone(L, n->kids[i])))
        return NULL;
  }
  return c;
}

/* The node of a value or condition; a clone after its first use. */
static rt__rnode *use(lower *L, tval *t) {
  if (!t->taken) {
    t->taken = 1;
    return t->v;
  }
  return clone(L, t->v);
}

static rt__rnode *mk_not(lower *L, rt__rnode *a) {
  if (!a)
    return NULL;
  if (a->op == R_TRUE || a->op == R_FALSE)
    return rconst(L, a->op == R_FALSE);
  if (a->op == R_NOT)
    return a->a;
  rt__rnode *n = rnode(L, R_NOT);
  if (n)
    n->a = a;
  return n;
}

/* and/or of kids[0..n) (op R_AND or R_OR), folding constants and flattening nested lists of
 * the same operator. A NULL kid (an error) gives NULL. */
static rt__rnode *mk_list(lower *L, int op, rt__rnode **kids, size_t n) {
  int unit = op == R_AND ? R_TRUE : R_FALSE, zero = op == R_AND ? R_FALSE : R_TRUE;
  size_t count = 0;
  for (size_t i = 0; i < n; i++) {
    if (!kids[i])
      return NULL;
    if (kids[i]->op == zero)
      return rconst(L, zero == R_TRUE);
    if (kids[i]->op == op)
      count += kids[i]->nkids;
    else if (kids[i]->op != unit)
      count++;
  }
  rt__rnode *only = NULL;
  for (size_t i = 0; i < n && count == 1; i++)
    if (kids[i]->op != unit)
      only = kids[i]->op == op ? kids[i]->kids[0] : kids[i];
  if (count == 0)
    return rconst(L, unit == R_TRUE);
  if (only)
    return only;
  rt__rnode *r = rnode(L, op);
  if (!r)
    return NULL;
  if (!(r->kids = rt__rarena_alloc(&L->r->arena, count * sizeof *r->kids)))
    return nomem(L), NULL;
  for (size_t i = 0; i < n; i++) {
    if (kids[i]->op == op)
      for (size_t k = 0; k < kids[i]->nkids; k++)
        r->kids[r->nkids++] = kids[i]->kids[k];
    else if (kids[i]->op != unit)
      r->kids[r->nkids++] = kids[i];
  }
  return r;
}

static rt__rnode *mk_and2(lower *L, rt__rnode *a, rt__rnode *b) {
  rt__rnode *k[2] = {a, b};
  return mk_list(L, R_AND, k, 2);
}

static rt__rnode *mk_or2(lower *L, rt__rnode *a, rt__rnode *b) {
  rt__rnode *k[2] = {a, b};
  return mk_list(L, R_OR, k, 2);
}

/* a cmp c (c constant) or a cmp b. */
static rt__rnode *mk_cmp(lower *L, int cmp, rt__rnode *a, rt__rnode *b, double c) {
  if (!a || (!b && isnan(c)))
    return a ? rconst(L, 0) : NULL;
  rt__rnode *n = rnode(L, R_CMP);
  if (n) {
    n->cmp = (uint8_t)cmp;
    n->a = a;
    n->b = b;
    n->c = c;
  }
  return n;
}

/* int32 values (day numbers, or a NUMBER column's i32) in [lo, hi] (neg: present and
 * outside), bounds clamped to the present int32 values: INT32_MIN is missing, so it is never
 * inside, and a bound beyond the int32 range saturates. lo and hi are whole or infinite. */
static rt__rnode *int_range(lower *L, const int32_t *ints, double lo, double hi, int neg) {
  if (isnan(lo) || isnan(hi))
    return rconst(L, 0);
  lo = lo < INT32_MIN + 1.0 ? INT32_MIN + 1.0 : lo;
  hi = hi > INT32_MAX ? INT32_MAX : hi;
  if (lo > hi) {
    if (!neg)
      return rconst(L, 0);
    lo = INT32_MIN + 1.0, hi = INT32_MAX, neg = 0; /* every present value */
  }
  assert(lo == floor(lo) && hi == floor(hi));
  rt__rnode *n = rnode(L, R_IRANGE);
  if (n) {
    n->ints = ints;
    n->ilo = (int32_t)lo;
    n->ihi = (int32_t)hi;
    n->neg = (uint8_t)neg;
  }
  return n;
}

/* An int32 column (a date field, or a number field with i32) cmp a constant c, which may have
 * a fraction: a whole x < 10.5 is x <= 10, x = 10.5 holds for nobody, x != 10.5 for every
 * present x. This gives exactly what comparing x as a double with c gives. */
static rt__rnode *int_cmp(lower *L, const int32_t *ints, int cmp, double c) {
  if (isnan(c)) /* a missing constant: no comparison holds, != neither */
    return rconst(L, 0);
  int whole = c == floor(c);
  switch (cmp) {
  case CMP_EQ:
    return whole ? int_range(L, ints, c, c, 0) : rconst(L, 0);
  case CMP_NE:
    return whole ? int_range(L, ints, c, c, 1) : int_range(L, ints, 1, 0, 1);
  case CMP_LT:
    return int_range(L, ints, -INFINITY, ceil(c) - 1, 0);
  case CMP_LE:
    return int_range(L, ints, -INFINITY, floor(c), 0);
  case CMP_GT:
    return int_range(L, ints, floor(c) + 1, INFINITY, 0);
  default:
    return int_range(L, ints, ceil(c), INFINITY, 0);
  }
}

/* The int32 values of t when it is a field that has them: a date field's days, a number
 * field's i32 (NULL when the column gives none). */
static const int32_t *int_values(const tval *t) {
  if (t->isconst || !t->v || !t->col)
    return NULL;
  if (t->v->op == R_DATECOL)
    return t->col->day;
  if (t->v->op == R_NUMCOL)
    return t->col->i32;
  return NULL;
}

/* ---- text tables ---- */

static int text_index(lower *L, const rt_column *col, rt__textindex **out) {
  rt__textindex *ix = &L->ix[col - L->env->cols];
  if (!ix->sorted && rt__rule_text_index(col, ix))
    return nomem(L);
  *out = ix;
  return 0;
}

/* A zeroed bitset over col's codes, counted against the rule's table budget. */
static uint64_t *new_set(lower *L, const rt_column *col) {
  size_t bytes = (col->ndict + 63) / 64 * 8;
  L->table_bytes += bytes;
  if (L->table_bytes > TABLE_BUDGET) {
    errorf(L, RT_EPARSE, "the rule is too large: its text tests need more than %zu MiB",
           TABLE_BUDGET >> 20);
    return NULL;
  }
  uint64_t *s = rt__rarena_alloc(&L->r->arena, bytes ? bytes : 8);
  if (!s)
    nomem(L);
  return s;
}

/* The customers whose code of col is in set: false, all present, one code, or a table. */
static rt__rnode *set_node(lower *L, const rt_column *col, const uint64_t *set) {
  size_t count = 0, one = 0;
  for (size_t w = 0; w < (col->ndict + 63) / 64; w++) {
    count += rt__popcount64(set[w]);
    if (set[w])
      one = w * 64 + (size_t)__builtin_ctzll(set[w]);
  }
  rt__rnode *n;
  if (count == 0)
    return rconst(L, 0);
  if (count == 1) {
    if ((n = rnode(L, R_TEXTEQ))) {
      n->col = col;
      n->code = (uint32_t)one;
    }
    return n;
  }
  if (count == col->ndict) {
    if ((n = rnode(L, R_PRESENT)))
      n->col = col;
    return n;
  }
  if ((n = rnode(L, R_TEXTSET))) {
    n->col = col;
    n->set = set;
  }
  return n;
}

static const char *dict_str(const rt_column *col, size_t code) {
  return col->dict[code] ? col->dict[code] : "";
}

/* col cmp s, a string constant. */
static rt__rnode *text_cmp_const(lower *L, const rt_column *col, int cmp, const char *s) {
  uint64_t *set = new_set(L, col);
  if (!set)
    return NULL;
  if (cmp == CMP_EQ || cmp == CMP_NE) {
    rt__textindex *ix = NULL;
    size_t first = 0, k;
    if (text_index(L, col, &ix))
      return NULL;
    k = rt__rule_text_find(col, ix, s, &first);
    if (cmp == CMP_NE)
      for (size_t c = 0; c < col->ndict; c++)
        set[c / 64] |= (uint64_t)1 << (c % 64);
    for (size_t i = 0; i < k; i++) {
      uint32_t c = ix->sorted[first + i];
      set[c / 64] ^= (uint64_t)1 << (c % 64);
    }
    return set_node(L, col, set);
  }
  unsigned signs = rt__rule_cmp_signs(cmp);
  for (size_t c = 0; c < col->ndict; c++) {
    int d = strcmp(dict_str(col, c), s);
    if (signs >> ((d > 0) - (d < 0) + 1) & 1)
      set[c / 64] |= (uint64_t)1 << (c % 64);
  }
  return set_node(L, col, set);
}

/* Two text fields compared through the ranks of their dictionaries' merged order. */
static rt__rnode *text_cmp_cols(lower *L, const rt_column *a, int cmp, const rt_column *b) {
  rt__textindex *ia = NULL, *ib = NULL;
  if (text_index(L, a, &ia) || text_index(L, b, &ib))
    return NULL;
  L->table_bytes += (a->ndict + b->ndict) * sizeof(uint32_t);
  if (L->table_bytes > TABLE_BUDGET) {
    errorf(L, RT_EPARSE, "the rule is too large: its text tests need more than %zu MiB",
           TABLE_BUDGET >> 20);
    return NULL;
  }
  uint32_t *ra = rt__rarena_alloc(&L->r->arena, (a->ndict + 1) * sizeof *ra);
  uint32_t *rb = rt__rarena_alloc(&L->r->arena, (b->ndict + 1) * sizeof *rb);
  rt__rnode *n = ra && rb ? rnode(L, R_TEXTCMP) : NULL;
  if (!ra || !rb)
    return nomem(L), NULL;
  if (n) {
    rt__rule_text_ranks(a, ia, b, ib, ra, rb);
    n->col = a;
    n->col2 = b;
    n->cmp = (uint8_t)cmp;
    n->rank = ra;
    n->rank2 = rb;
  }
  return n;
}

/* ---- typed values ---- */

/* A date written 'YYYY-MM-DD': 1 and *day when it is one, 0 when the text has another shape;
 * an invalid calendar date ('2024-02-30') is an error. */
static int parse_date(lower *L, const tval *t, double *day, int *rc) {
  const char *s = t->s;
  *rc = 0;
  static const char shape[] = "dddd-dd-dd";
  for (int i = 0; i < 10; i++)
    if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != '-')
      return 0;
  if (s[10])
    return 0;
  int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  int m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
  if (!rt_civil_valid(y, m, d)) {
    *rc = errorf(L, RT_EINVAL, "invalid date '%s' at %d:%d (expected YYYY-MM-DD)", s, t->ast->line,
                 t->ast->col);
    return 0;
  }
  *day = (double)rt_days_from_civil(y, m, d);
  return 1;
}

/* Makes a string constant that is a date a DATE constant; 0, or an error code. */
static int coerce_date(lower *L, tval *t) {
  double day;
  int rc = 0;
  if (t->type == T_TEXT && t->isconst && parse_date(L, t, &day, &rc)) {
    t->type = T_DATE;
    t->c = day;
  }
  return rc;
}

/* Where a date is expected, string constants become dates. */
static int coerce_dates(lower *L, tval **ts, int n) {
  int any = 0, rc = 0;
  for (int i = 0; i < n; i++)
    any |= ts[i]->type == T_DATE;
  for (int i = 0; any && i < n && !rc; i++)
    rc = coerce_date(L, ts[i]);
  return rc;
}

static int lower_value(lower *L, const rt__ast *a, tval *out);
static rt__rnode *lower_cond(lower *L, const rt__ast *a);

/* The length of the shortest edit (insert, delete, change, swap neighbours) from a to b,
 * ignoring case; larger than 3 is reported as 4. */
static int edit_distance(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  if (na > 64 || nb > 64 || (na > nb ? na - nb : nb - na) > 3)
    return 4;
  int d[65][65];
  for (size_t i = 0; i <= na; i++)
    d[i][0] = (int)i;
  for (size_t j = 0; j <= nb; j++)
    d[0][j] = (int)j;
  for (size_t i = 1; i <= na; i++)
    for (size_t j = 1; j <= nb; j++) {
      int ca = a[i - 1] >= 'A' && a[i - 1] <= 'Z' ? a[i - 1] + 32 : a[i - 1];
      int cb = b[j - 1] >= 'A' && b[j - 1] <= 'Z' ? b[j - 1] + 32 : b[j - 1];
      int v = d[i - 1][j - 1] + (ca != cb);
      v = RT_MIN(v, d[i - 1][j] + 1);
      v = RT_MIN(v, d[i][j - 1] + 1);
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        v = RT_MIN(v, d[i - 2][j - 2] + 1);
      d[i][j] = v;
    }
  return RT_MIN(d[na][nb], 4);
}

/* "unknown field 'ordres' at 1:1 — did you mean 'orders'?": the closest column within an
 * edit distance that grows with the name (1 up to 4 bytes, 2 up to 8, then 3). */
static int unknown_field(lower *L, const rt__ast *a) {
  const rt_column *best = NULL;
  int bestd = 4, limit = a->len <= 4 ? 1 : a->len <= 8 ? 2 : 3;
  for (size_t i = 0; i < L->env->ncols; i++) {
    const char *name = L->env->cols[i].name;
    int d = name ? edit_distance(a->str, name) : 4;
    if (d < bestd && d <= limit) {
      bestd = d;
      best = &L->env->cols[i];
    }
  }
  if (best)
    return errorf(L, RT_EINVAL, "unknown field '%s' at %d:%d \xE2\x80\x94 did you mean '%s'?",
                  a->str, a->line, a->col, best->name);
  return errorf(L, RT_EINVAL, "unknown field '%s' at %d:%d", a->str, a->line, a->col);
}

/* ---- values of text fields ---- */

/* Keeps a warning for rt_rule_warning. */
static int warn(lower *L, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int warn(lower *L, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  rt_rule *r = L->r;
  if (r->nwarnings == r->capwarnings) {
    size_t cap = r->capwarnings ? 2 * r->capwarnings : 4;
    const char **w = rt__rarena_alloc(&r->arena, cap * sizeof *w);
    if (!w)
      return nomem(L);
    if (r->nwarnings)
      memcpy(w, r->warnings, r->nwarnings * sizeof *w);
    r->warnings = w;
    r->capwarnings = cap;
  }
  char *copy = rt__rarena_strndup(&r->arena, msg, strlen(msg));
  if (!copy)
    return nomem(L);
  r->warnings[r->nwarnings++] = copy;
  return 0;
}

/* The dictionary's nearest value to s within a small edit distance, or NULL. Dictionaries
 * larger than this are not searched (ids: a suggestion would be a guess). */
#define SUGGEST_MAX_DICT 100000
static const char *nearest_value(const rt_column *col, const char *s) {
  size_t len = strlen(s);
  int best = 4, limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
  const char *hit = NULL;
  for (size_t c = 0; c < col->ndict && col->ndict <= SUGGEST_MAX_DICT; c++) {
    int d = edit_distance(s, dict_str(col, c));
    if (d < best && d <= limit) {
      best = d;
      hit = dict_str(col, c);
    }
  }
  return hit;
}

/* col = v, col != v or v in a list for col, v a text constant: a value the field cannot take is
 * an error for a closed field and a warning for any other. */
static int check_value(lower *L, const rt_column *col, const tval *v) {
  rt__textindex *ix = NULL;
  size_t first = 0;
  if (text_index(L, col, &ix))
    return L->err->code;
  if (rt__rule_text_find(col, ix, v->s, &first))
    return 0;
  const char *near = nearest_value(col, v->s);
  const rt__ast *at = v->ast;
  int line = at ? at->line : 0, column = at ? at->col : 0;
  if (col->closed) {
    if (near)
      return errorf(L, RT_EINVAL, "'%s' has no value '%.60s' (at %d:%d) \xE2\x80\x94 did you "
                                  "mean '%s'?", col->name, v->s, line, column, near);
    char list[400];
    size_t o = 0;
    for (size_t c = 0; c < col->ndict && o + 64 < sizeof list; c++)
      o += (size_t)snprintf(list + o, sizeof list - o, "%s'%s'", c ? ", " : "", dict_str(col, c));
    return errorf(L, RT_EINVAL, "'%s' has no value '%.60s' (at %d:%d); its values are %s",
                  col->name, v->s, line, column, list);
  }
  if (near)
    return warn(L, "no customer has %s '%.60s' now (at %d:%d) \xE2\x80\x94 did you mean '%s'?",
                col->name, v->s, line, column, near);
  return warn(L, "no customer has %s '%.60s' now (at %d:%d)", col->name, v->s, line, column);
}

static int lower_field(lower *L, const rt__ast *a, tval *out) {
  const rt_rule_env *env = L->env;
  size_t k = 0;
  while (k < env->ncols && !(env->cols[k].name && !strcmp(env->cols[k].name, a->str)))
    k++;
  if (k == env->ncols)
    return unknown_field(L, a);
  const rt_column *col = &env->cols[k];
  int ok;
  switch (col->type) {
  case RT_TYPE_NUMBER:
  case RT_TYPE_BOOL:
    ok = col->num || !env->n;
    break;
  case RT_TYPE_DATE:
    ok = col->day || !env->n;
    break;
  case RT_TYPE_TEXT:
    ok = (col->code || !env->n) && (col->dict || !col->ndict) && col->ndict < UINT32_MAX;
    break;
  default:
    ok = 0;
  }
  if (!ok)
    return errorf(L, RT_EINVAL, "field '%s' at %d:%d has no data (column arrays missing)", a->str,
                  a->line, a->col);
  if (!L->used[k]) {
    L->used[k] = 1;
    L->order[L->norder++] = k;
  }
  out->col = col;
  switch (col->type) {
  case RT_TYPE_NUMBER:
  case RT_TYPE_DATE:
    out->type = col->type == RT_TYPE_NUMBER ? T_NUMBER : T_DATE;
    if (!(out->v = rnode(L, col->type == RT_TYPE_NUMBER ? R_NUMCOL : R_DATECOL)))
      return L->err->code;
    out->v->col = col;
    return 0;
  case RT_TYPE_TEXT:
    out->type = T_TEXT;
    return 0;
  default:
    out->type = T_BOOL;
    return 0;
  }
}

/* A value node for t (a constant becomes R_CONST). */
static rt__rnode *value_node(lower *L, tval *t) {
  if (!t->isconst)
    return use(L, t);
  rt__rnode *n = rnode(L, R_CONST);
  if (n)
    n->c = t->c;
  return n;
}

static int lower_arith(lower *L, const rt__ast *a, tval *out) {
  tval x, y;
  int rc = lower_value(L, a->a, &x);
  if (rc || (rc = lower_value(L, a->b, &y)))
    return rc;
  if (a->op == OP_ADD || a->op == OP_SUB) { /* '2024-01-31' + 30d is date arithmetic */
    if ((rc = coerce_date(L, &x)) || (rc = coerce_date(L, &y)))
      return rc;
  }
  int tx = x.type, ty = y.type, t = -1;
  if (tx == T_NUMBER && ty == T_NUMBER)
    t = T_NUMBER;
  else if (a->op == OP_ADD &&
           ((tx == T_DATE && ty == T_NUMBER) || (tx == T_NUMBER && ty == T_DATE)))
    t = T_DATE;
  else if (a->op == OP_SUB && tx == T_DATE)
    t = ty == T_NUMBER ? T_DATE : ty == T_DATE ? T_NUMBER : -1;
  if (t < 0) {
    char px[128], py[128];
    phrase(&x, px, sizeof px);
    phrase(&y, py, sizeof py);
    return type_error(L, a, "cannot apply '%c' to %s and %s", arith_text[a->op], px, py);
  }
  out->type = t;
  if (x.isconst && y.isconst) {
    out->isconst = 1;
    out->c = rt__rule_arith(a->op, x.c, y.c);
    return 0;
  }
  rt__rnode *n = rnode(L, R_ARITH);
  if (!n || !(n->a = value_node(L, &x)) || !(n->b = value_node(L, &y)))
    return L->err->code;
  n->arith = a->op;
  out->v = n;
  return 0;
}

static int lower_value(lower *L, const rt__ast *a, tval *out) {
  memset(out, 0, sizeof *out);
  out->ast = a;
  switch (a->kind) {
  case A_NUMBER:
    out->type = T_NUMBER;
    out->isconst = 1;
    out->c = a->num;
    return 0;
  case A_STRING:
    out->type = T_TEXT;
    out->isconst = 1;
    out->s = a->str;
    return 0;
  case A_BOOL:
    out->type = T_BOOL;
    out->isconst = 1;
    out->c = a->neg;
    return 0;
  case A_NULL:
    out->type = T_NULL;
    return 0;
  case A_NOW:
    L->r->uses_clock = 1;
    out->type = T_DATE;
    out->isconst = 1;
    out->c = L->env->today;
    return 0;
  case A_FIELD:
    return lower_field(L, a, out);
  case A_NEG: {
    tval x;
    int rc = lower_value(L, a->a, &x);
    if (rc)
      return rc;
    if (x.type != T_NUMBER) {
      char px[128];
      phrase(&x, px, sizeof px);
      return type_error(L, a, "cannot apply '-' to %s", px);
    }
    out->type = T_NUMBER;
    if (x.isconst) {
      out->isconst = 1;
      out->c = -x.c;
      return 0;
    }
    if (!(out->v = rnode(L, R_NEG)) || !(out->v->a = use(L, &x)))
      return L->err->code;
    return 0;
  }
  case A_ARITH:
    return lower_arith(L, a, out);
  default: { /* a condition */
    rt__rnode *c = lower_cond(L, a);
    if (!c)
      return L->err->code;
    out->type = T_BOOL;
    if (c->op == R_TRUE || c->op == R_FALSE) {
      out->isconst = 1;
      out->c = c->op == R_TRUE;
    } else {
      out->v = c;
    }
    return 0;
  }
  }
}

/* The customers for whom t is true (want 1) or false (want 0; present and false). */
static rt__rnode *truth(lower *L, tval *t, int want) {
  if (t->type != T_BOOL) {
    if (t->col)
      type_error(L, t->ast, "'%s' is %s, not a condition", t->col->name, type_names[t->type]);
    else if (t->type == T_NULL)
      null_error(L, t->ast);
    else
      type_error(L, t->ast, "expected a condition, found %s", type_names[t->type]);
    return NULL;
  }
  if (t->isconst)
    return rconst(L, (t->c != 0) == want);
  if (t->col) { /* a BOOL field: true is a present non-zero */
    rt__rnode *v = rnode(L, R_NUMCOL);
    if (!v)
      return NULL;
    v->col = t->col;
    return mk_cmp(L, want ? CMP_NE : CMP_EQ, v, NULL, 0);
  }
  return want ? use(L, t) : mk_not(L, use(L, t));
}

/* The customers for whom t is not missing. */
static rt__rnode *present(lower *L, tval *t) {
  rt__rnode *n;
  if (t->isconst)
    return rconst(L, t->type == T_TEXT || t->type == T_BOOL || !isnan(t->c));
  if (t->type == T_TEXT) {
    if (!t->col->ndict)
      return rconst(L, 0);
    if ((n = rnode(L, R_PRESENT)))
      n->col = t->col;
    return n;
  }
  if (t->type == T_BOOL && !t->col)
    return rconst(L, 1); /* a condition is never missing */
  const int32_t *ints = int_values(t);
  if (ints)
    return int_range(L, ints, -INFINITY, INFINITY, 0);
  if (!(n = rnode(L, R_PRESENT)))
    return NULL;
  if (t->type == T_BOOL) {
    if ((n->a = rnode(L, R_NUMCOL)))
      n->a->col = t->col;
  } else {
    n->a = use(L, t);
  }
  return n->a ? n : NULL;
}

/* x cmp y on typed values (dates already coerced). */
static rt__rnode *compare(lower *L, int cmp, tval *x, tval *y, const rt__ast *at) {
  if (x->type == T_NULL || y->type == T_NULL)
    return null_error(L, at), NULL;
  if (x->type != y->type)
    return compare_error(L, x, y, at), NULL;
  if (x->isconst && !y->isconst) {
    tval *t = x;
    x = y;
    y = t;
    cmp = rt__rule_cmp_mirror(cmp);
  }
  switch (x->type) {
  case T_BOOL: {
    if (cmp != CMP_EQ && cmp != CMP_NE)
      return type_error(L, at, "true/false values cannot be ordered with '%s'",
                        rt__rule_cmp_text[cmp]),
             NULL;
    /* x = y: both true or both false; x != y: one true, the other false */
    rt__rnode *xt = truth(L, x, 1), *xf = truth(L, x, 0);
    rt__rnode *yt = truth(L, y, cmp == CMP_EQ), *yf = truth(L, y, cmp != CMP_EQ);
    if (!xt || !xf || !yt || !yf)
      return NULL;
    return mk_or2(L, mk_and2(L, xt, yt), mk_and2(L, xf, yf));
  }
  case T_TEXT:
    if (x->isconst) {
      int d = strcmp(x->s, y->s);
      return rconst(L, rt__rule_cmp_signs(cmp) >> ((d > 0) - (d < 0) + 1) & 1);
    }
    if (y->isconst) {
      if ((cmp == CMP_EQ || cmp == CMP_NE) && check_value(L, x->col, y))
        return NULL;
      return text_cmp_const(L, x->col, cmp, y->s);
    }
    return text_cmp_cols(L, x->col, cmp, y->col);
  default: /* numbers and dates */
    if (x->isconst)
      return rconst(L, rt__rule_cmp(cmp, x->c, y->c));
    if (y->isconst) {
      const int32_t *ints = int_values(x);
      if (ints)
        return int_cmp(L, ints, cmp, y->c);
      return mk_cmp(L, cmp, use(L, x), NULL, y->c);
    }
    return mk_cmp(L, cmp, use(L, x), use(L, y), 0);
  }
}

static rt__rnode *lower_compare(lower *L, const rt__ast *a) {
  tval x, y;
  tval *ts[2] = {&x, &y};
  if (lower_value(L, a->a, &x) || lower_value(L, a->b, &y) || coerce_dates(L, ts, 2))
    return NULL;
  return compare(L, a->op, &x, &y, a);
}

static rt__rnode *lower_between(lower *L, const rt__ast *a) {
  tval x, lo, hi;
  tval *ts[3] = {&x, &lo, &hi};
  if (lower_value(L, a->a, &x) || lower_value(L, a->b, &lo) || lower_value(L, a->c, &hi) ||
      coerce_dates(L, ts, 3))
    return NULL;
  for (int i = 0; i < 3; i++)
    if (ts[i]->type == T_NULL)
      return null_error(L, a), NULL;
  if (lo.type != x.type || hi.type != x.type)
    return compare_error(L, &x, lo.type != x.type ? &lo : &hi, a), NULL;
  if (x.type == T_BOOL)
    return type_error(L, a, "'between' needs numbers, dates or text, not true/false"), NULL;
  int neg = a->neg;
  if (lo.isconst && hi.isconst && !x.isconst) {
    if (x.type == T_TEXT) {
      uint64_t *set = new_set(L, x.col);
      if (!set)
        return NULL;
      for (size_t c = 0; c < x.col->ndict; c++) {
        const char *s = dict_str(x.col, c);
        int in = strcmp(s, lo.s) >= 0 && strcmp(s, hi.s) <= 0;
        if (in != neg)
          set[c / 64] |= (uint64_t)1 << (c % 64);
      }
      return set_node(L, x.col, set);
    }
    if (isnan(lo.c) || isnan(hi.c))
      return rconst(L, 0);
    const int32_t *ints = int_values(&x);
    if (ints) /* whole x >= 1.5 is x >= 2, and so on */
      return int_range(L, ints, ceil(lo.c), floor(hi.c), neg);
    rt__rnode *n = rnode(L, R_RANGE);
    if (n) {
      n->a = use(L, &x);
      n->lo = lo.c;
      n->hi = hi.c;
      n->neg = (uint8_t)neg;
    }
    return n;
  }
  if (!neg)
    return mk_and2(L, compare(L, CMP_GE, &x, &lo, a), compare(L, CMP_LE, &x, &hi, a));
  /* outside, and every operand present (as for any comparison) */
  rt__rnode *k[3] = {mk_or2(L, compare(L, CMP_LT, &x, &lo, a), compare(L, CMP_GT, &x, &hi, a)),
                     NULL, NULL};
  if (k[0] && (k[1] = present(L, &lo)))
    k[2] = present(L, &hi);
  return mk_list(L, R_AND, k, 3);
}

static int double_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* An int32 column in list[0..n) (sorted, distinct, no NAN); neg: present and in none. Values
 * that are not whole or not in the present int32 range can equal no x, so they are dropped. */
static rt__rnode *int_in(lower *L, const int32_t *ints, const double *list, size_t n, int neg) {
  int32_t *ilist = rt__rarena_alloc(&L->r->arena, (n ? n : 1) * sizeof *ilist);
  size_t m = 0;
  if (!ilist)
    return nomem(L), NULL;
  for (size_t i = 0; i < n; i++)
    if (list[i] == floor(list[i]) && list[i] >= INT32_MIN + 1.0 && list[i] <= INT32_MAX)
      ilist[m++] = (int32_t)list[i]; /* still sorted and distinct */
  if (m == 0)
    return neg ? int_range(L, ints, -INFINITY, INFINITY, 0) : rconst(L, 0);
  if (m == 1)
    return int_range(L, ints, ilist[0], ilist[0], neg);
  rt__rnode *r = rnode(L, R_IIN);
  if (r) {
    r->ints = ints;
    r->ilist = ilist;
    r->nlist = m;
    r->neg = (uint8_t)neg;
  }
  return r;
}

static rt__rnode *lower_in(lower *L, const rt__ast *a) {
  tval x;
  if (lower_value(L, a->a, &x))
    return NULL;
  if (x.type == T_NULL)
    return null_error(L, a), NULL;
  int neg = a->neg, has[2] = {0, 0}, any = 0;
  double *list = rt__rarena_alloc(&L->r->arena, a->nitems * sizeof *list);
  uint64_t *set = x.type == T_TEXT && !x.isconst ? new_set(L, x.col) : NULL;
  size_t nlist = 0;
  if (!list)
    return nomem(L), NULL;
  if (x.type == T_TEXT && !x.isconst && !set)
    return NULL;
  for (size_t i = 0; i < a->nitems; i++) {
    tval v;
    tval *ts[2] = {&x, &v};
    if (lower_value(L, a->items[i], &v) || coerce_dates(L, ts, 2))
      return NULL;
    if (v.type == T_NULL)
      return null_error(L, a->items[i]), NULL;
    if (v.type != x.type)
      return compare_error(L, &x, &v, a->items[i]), NULL;
    if (!v.isconst)
      return type_error(L, a->items[i], "the values of 'in' must be constants"), NULL;
    switch (x.type) {
    case T_BOOL:
      has[v.c != 0] = 1;
      break;
    case T_TEXT:
      if (x.isconst) {
        any |= !strcmp(x.s, v.s);
      } else {
        rt__textindex *ix = NULL;
        size_t first = 0, k;
        if (check_value(L, x.col, &v) || text_index(L, x.col, &ix))
          return NULL;
        k = rt__rule_text_find(x.col, ix, v.s, &first);
        for (size_t j = 0; j < k; j++)
          set[ix->sorted[first + j] / 64] |= (uint64_t)1 << (ix->sorted[first + j] % 64);
      }
      break;
    default:
      if (x.isconst)
        any |= x.c == v.c;
      else if (!isnan(v.c))
        list[nlist++] = v.c;
    }
  }
  if (x.type == T_BOOL) {
    if (has[0] && has[1])
      return neg ? rconst(L, 0) : present(L, &x);
    if (!has[0] && !has[1])
      return neg ? present(L, &x) : rconst(L, 0);
    return truth(L, &x, has[1] != neg);
  }
  if (x.isconst) /* a constant is present unless it is a missing number */
    return rconst(L, (x.type == T_TEXT || !isnan(x.c)) && any != neg);
  if (x.type == T_TEXT) {
    if (neg)
      for (size_t c = 0; c < x.col->ndict; c++)
        set[c / 64] ^= (uint64_t)1 << (c % 64);
    return set_node(L, x.col, set);
  }
  qsort(list, nlist, sizeof *list, double_cmp);
  size_t m = 0;
  for (size_t i = 0; i < nlist; i++)
    if (m == 0 || list[i] != list[m - 1])
      list[m++] = list[i];
  const int32_t *ints = int_values(&x);
  if (ints)
    return int_in(L, ints, list, m, neg);
  if (m == 0)
    return neg ? present(L, &x) : rconst(L, 0);
  if (m == 1) {
    tval one = {.type = x.type, .isconst = 1, .c = list[0], .ast = a};
    return compare(L, neg ? CMP_NE : CMP_EQ, &x, &one, a);
  }
  rt__rnode *n = rnode(L, R_IN);
  if (n) {
    n->a = use(L, &x);
    n->list = list;
    n->nlist = m;
    n->neg = (uint8_t)neg;
  }
  return n;
}

static rt__rnode *lower_match(lower *L, const rt__ast *a) {
  tval x, p;
  if (lower_value(L, a->a, &x) || lower_value(L, a->b, &p))
    return NULL;
  const char *op = rt__rule_match_text[a->op];
  if (x.type != T_TEXT) {
    if (x.col)
      return type_error(L, a, "'%s' is %s; '%s' needs text", x.col->name, type_names[x.type], op),
             NULL;
    return type_error(L, a, "'%s' needs text, found %s", op, type_names[x.type]), NULL;
  }
  if (p.type != T_TEXT || !p.isconst)
    return type_error(L, a, "the pattern of '%s' must be a string in quotes", op), NULL;
  size_t plen = strlen(p.s);
  if (x.isconst)
    return rconst(L, rt__rule_text_match(a->op, x.s, p.s, plen) != a->neg);
  uint64_t *set = new_set(L, x.col);
  if (!set)
    return NULL;
  for (size_t c = 0; c < x.col->ndict; c++)
    if (rt__rule_text_match(a->op, dict_str(x.col, c), p.s, plen) != a->neg)
      set[c / 64] |= (uint64_t)1 << (c % 64);
  return set_node(L, x.col, set);
}

static rt__rnode *lower_isnull(lower *L, const rt__ast *a) {
  tval x;
  if (lower_value(L, a->a, &x))
    return NULL;
  if (x.type == T_NULL)
    return rconst(L, !a->neg);
  rt__rnode *p = present(L, &x);
  return a->neg ? p : mk_not(L, p);
}

/* in_segment('name'): the segment's rule, parsed and lowered here. */
static rt__rnode *lower_segment(lower *L, const rt__ast *a) {
  const rt_rule_env *env = L->env;
  const char *name = a->str;
  const char *chain[RT_RULE_MAX_SEGMENT_DEPTH + 1];
  int nchain = 0;
  if (env->name)
    chain[nchain++] = env->name;
  for (int i = 0; i < L->nstack; i++)
    chain[nchain++] = L->stack[i];
  for (int i = 0; i < nchain; i++) {
    if (strcmp(chain[i], name))
      continue;
    char path[512] = "";
    for (int k = i; k <= nchain; k++) {
      size_t o = strlen(path);
      snprintf(path + o, sizeof path - o, "'%s'%s", k < nchain ? chain[k] : name,
               k < nchain ? " -> " : "");
    }
    errorf(L, RT_EINVAL, "segment cycle at %d:%d: %s", a->line, a->col, path);
    return NULL;
  }
  const char *text = env->segment_rule ? env->segment_rule(env->ctx, name) : NULL;
  if (!text) {
    errorf(L, RT_EINVAL, "unknown segment '%s' at %d:%d", name, a->line, a->col);
    return NULL;
  }
  if (L->nstack == RT_RULE_MAX_SEGMENT_DEPTH) {
    errorf(L, RT_EPARSE, "segments nest too deeply at %d:%d (more than %d levels of in_segment)",
           a->line, a->col, RT_RULE_MAX_SEGMENT_DEPTH);
    return NULL;
  }
  rt__ast *sa;
  rt__rnode *n = NULL;
  if (!rt__rule_parse(text, &L->r->arena, &sa, L->err)) {
    L->stack[L->nstack++] = name;
    n = lower_cond(L, sa);
    L->nstack--;
  }
  if (!n && L->err->code != RT_ENOMEM)
    rt_error_prefix(L->err, "in segment '%s' at %d:%d: ", name, a->line, a->col);
  return n;
}

/* A condition: its node (constants folded), or NULL with the error set. */
static rt__rnode *lower_cond(lower *L, const rt__ast *a) {
  switch (a->kind) {
  case A_CMP:
    return lower_compare(L, a);
  case A_BETWEEN:
    return lower_between(L, a);
  case A_IN:
    return lower_in(L, a);
  case A_ISNULL:
    return lower_isnull(L, a);
  case A_MATCH:
    return lower_match(L, a);
  case A_SEGMENT:
    return lower_segment(L, a);
  case A_NOT:
    return mk_not(L, lower_cond(L, a->a));
  case A_AND:
  case A_OR: {
    rt__rnode **k = rt__rarena_alloc(&L->r->arena, a->nitems * sizeof *k);
    if (!k)
      return nomem(L), NULL;
    for (size_t i = 0; i < a->nitems; i++)
      if (!(k[i] = lower_cond(L, a->items[i])))
        return NULL;
    return mk_list(L, a->kind == A_AND ? R_AND : R_OR, k, a->nitems);
  }
  default: { /* a value that must be true/false: a BOOL field or constant */
    tval t;
    if (lower_value(L, a, &t))
      return NULL;
    return truth(L, &t, 1);
  }
  }
}

/* ---- the public entry points ---- */

int rt_rule_compile(const char *text, const rt_rule_env *env, rt_rule **out, rt_error *err) {
  rt_error local;
  if (!err)
    err = &local;
  rt_error_clear(err);
  if (out)
    *out = NULL;
  if (!text || !env || !out || (env->ncols && !env->cols))
    return rt_error_set(err, RT_EINVAL, "rule: %s", rt_strerror(RT_EINVAL));
  lower L;
  memset(&L, 0, sizeof L);
  L.env = env;
  L.err = err;
  rt_rule *r = rt_calloc(1, sizeof *r);
  L.ix = rt_calloc(env->ncols + 1, sizeof *L.ix);
  L.order = rt_calloc(env->ncols + 1, sizeof *L.order);
  L.used = rt_calloc(env->ncols + 1, 1);
  int rc = RT_ENOMEM;
  if (!r || !L.ix || !L.order || !L.used) {
    rt_error_set(err, RT_ENOMEM, "%s", rt_strerror(RT_ENOMEM));
    goto fail;
  }
  L.r = r;
  r->env = env;
  r->n = env->n;
  if ((rc = rt__rule_parse(text, &r->arena, &r->ast, err)))
    goto fail;
  if (!(r->root = lower_cond(&L, r->ast))) {
    rc = err->code ? err->code : RT_EINVAL;
    goto fail;
  }
  r->fields = rt__rarena_alloc(&r->arena, (L.norder + 1) * sizeof *r->fields);
  if (!r->fields) {
    rc = rt_error_set(err, RT_ENOMEM, "%s", rt_strerror(RT_ENOMEM));
    goto fail;
  }
  for (size_t i = 0; i < L.norder; i++)
    r->fields[i] = env->cols[L.order[i]].name;
  r->nfields = L.norder;
  r->scratch = rt__rule_plan(r->root);
  *out = r;
  rc = 0;
  r = NULL;
fail:
  for (size_t i = 0; L.ix && i < env->ncols; i++)
    rt__rule_text_index_free(&L.ix[i]);
  rt_free(L.ix);
  rt_free(L.order);
  rt_free(L.used);
  rt_rule_free(r);
  return rc;
}

void rt_rule_free(rt_rule *r) {
  if (!r)
    return;
  rt__rarena_free(&r->arena);
  rt_free(r);
}

size_t rt_rule_nfields(const rt_rule *r) { return r->nfields; }

const char *rt_rule_field(const rt_rule *r, size_t i) {
  return i < r->nfields ? r->fields[i] : NULL;
}

int rt_rule_uses_clock(const rt_rule *r) { return r->uses_clock; }

size_t rt_rule_nwarnings(const rt_rule *r) { return r->nwarnings; }

const char *rt_rule_warning(const rt_rule *r, size_t i) {
  return i < r->nwarnings ? r->warnings[i] : NULL;
}
