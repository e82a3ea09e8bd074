/* import.c - CSV files into the store (or straight into a model builder).
 *
 * One pass over the file: each record is checked and converted (customer key, time, money),
 * rows sharing an order id are gathered into one order with its lines, negative orders become
 * refunds, and everything is written in one transaction. The first bad row rolls the whole
 * import back, unless skip_bad, when the row is reported and skipped. Rows without an id get a
 * content key ("row:<hash>:<n>", n counting identical rows in this file), so importing a file
 * twice stores nothing twice while two identical purchases in one file stay two orders. */
#include "ingest/columns.h"
#include "internal.h"

#include <retain/alloc.h>
#include <retain/import.h>
#include <retain/model.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <sys/stat.h>
#include <unistd.h>

/* ---- occurrence counts of content keys ---- */
typedef struct occmap {
  uint64_t *keys; /* 0 = empty (a hash of 0 is stored as 1) */
  uint32_t *counts;
  size_t mask, n;
} occmap;

static void occ_free(occmap *m) {
  rt_free(m->keys);
  rt_free(m->counts);
  memset(m, 0, sizeof *m);
}

/* Returns the occurrence number of h (1 for the first), or 0 on allocation failure. */
static uint32_t occ_next(occmap *m, uint64_t h) {
  if (!h)
    h = 1;
  if ((m->n + 1) * 2 > (m->keys ? m->mask + 1 : 0)) {
    size_t cap = m->keys ? (m->mask + 1) * 2 : 4096;
    uint64_t *k = rt_calloc(cap, sizeof *k);
    uint32_t *c = rt_calloc(cap, sizeof *c);
    if (!k || !c) {
      rt_free(k);
      rt_free(c);
      return 0;
    }
    for (size_t i = 0; m->keys && i <= m->mask; i++)
      if (m->keys[i]) {
        size_t s = rt__hash_table(&m->keys[i], sizeof m->keys[i]) & (cap - 1);
        while (k[s])
          s = (s + 1) & (cap - 1);
        k[s] = m->keys[i];
        c[s] = m->counts[i];
      }
    rt_free(m->keys);
    rt_free(m->counts);
    m->keys = k;
    m->counts = c;
    m->mask = cap - 1;
  }
  /* the slot by a keyed hash: a file's rows could be made to share h's low bits */
  size_t s = rt__hash_table(&h, sizeof h) & m->mask;
  while (m->keys[s] && m->keys[s] != h)
    s = (s + 1) & m->mask;
  if (!m->keys[s]) {
    m->keys[s] = h;
    m->n++;
  }
  return ++m->counts[s];
}

/* ---- a growable byte buffer ---- */
typedef struct buf {
  char *p;
  size_t len, cap;
} buf;

static int buf_reserve(buf *b, size_t more) {
  if (b->len + more + 1 <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more + 1)
    cap *= 2;
  char *p = rt_realloc(b->p, cap);
  if (!p)
    return RT_ENOMEM;
  b->p = p;
  b->cap = cap;
  return 0;
}

/* Appends s[0..n) and a NUL; returns the offset of the copy or -1. */
static long buf_add(buf *b, const char *s, size_t n) {
  if (buf_reserve(b, n + 1))
    return -1;
  long off = (long)b->len;
  memcpy(b->p + b->len, s, n);
  b->p[b->len + n] = '\0';
  b->len += n + 1;
  return off;
}

/* ---- the importer ---- */
typedef struct pline {
  long product, name; /* offsets in the pending strings, -1 for none */
  double quantity;
  int64_t unit_price, amount;
} pline;

typedef struct pending {
  int active;
  buf strs;           /* order id at offset 0, then line strings */
  int64_t customer;   /* store id or model index */
  uint64_t line;
  int64_t ts;
  int64_t amount;
  char currency[4];
  pline *lines;
  size_t nlines, cap;
  int has_lines;
  int has_oid;
} pending;

/* Orders gathered by one thread of a parallel read: signed totals (refunds negative),
 * customers as indexes into that thread's own map. */
typedef struct rowbuf {
  size_t n, cap;
  uint32_t *cust;
  int64_t *ts;
  int64_t *amount;
  uint32_t *cur; /* the 3-letter code packed in 24 bits; written only once mixed */
  uint32_t cur1; /* while not mixed: every row's code */
  int mixed;     /* rows in more than one currency */
  size_t nneg;   /* rows with a negative amount (refunds) */
  uint64_t first_oid, last_oid; /* hash of the first and last row's order id (0 for rows
                                   without one), to join an order split at a part boundary */
} rowbuf;

static void rowbuf_free(rowbuf *r) {
  rt_free(r->cust);
  rt_free(r->ts);
  rt_free(r->amount);
  rt_free(r->cur);
  memset(r, 0, sizeof *r);
}

static int rowbuf_reserve(rowbuf *r, size_t cap) {
  if (cap <= r->cap)
    return 0;
  void *a;
  if (!(a = rt_reallocarray(r->cust, cap, sizeof *r->cust)))
    return RT_ENOMEM;
  r->cust = a;
  if (!(a = rt_reallocarray(r->ts, cap, sizeof *r->ts)))
    return RT_ENOMEM;
  r->ts = a;
  if (!(a = rt_reallocarray(r->amount, cap, sizeof *r->amount)))
    return RT_ENOMEM;
  r->amount = a;
  if (!(a = rt_reallocarray(r->cur, cap, sizeof *r->cur)))
    return RT_ENOMEM;
  r->cur = a;
  r->cap = cap;
  return 0;
}

static int rowbuf_push(rowbuf *r, uint32_t cust, int64_t ts, int64_t amount, const char *cur,
                       uint64_t oid) {
  if (r->n == r->cap && rowbuf_reserve(r, r->cap ? r->cap * 2 : 65536))
    return RT_ENOMEM;
  r->cust[r->n] = cust;
  r->ts[r->n] = ts;
  r->amount[r->n] = amount;
  r->nneg += amount < 0;
  uint32_t code = (uint32_t)(unsigned char)cur[0] << 16 | (uint32_t)(unsigned char)cur[1] << 8 |
                  (unsigned char)cur[2];
  if (r->mixed) {
    r->cur[r->n] = code;
  } else if (r->n == 0 || code == r->cur1) { /* one currency (the rule): no column written */
    r->cur1 = code;
  } else {
    for (size_t i = 0; i < r->n; i++)
      r->cur[i] = r->cur1;
    r->cur[r->n] = code;
    r->mixed = 1;
  }
  if (!r->n)
    r->first_oid = oid;
  r->last_oid = oid;
  r->n++;
  return 0;
}

typedef struct importer {
  rt_store *st;
  rt_model_builder *mb;
  rowbuf *rows;          /* a parallel read's thread-local sink (neither st nor mb) */
  const rt_import_opts *o;
  rt_import_result *res;
  rt_error *err;
  rt_csv *csv;
  const char *file;
  rt__colmap cm;
  rt_datefmt *fmt;
  int need_fields;
  int bulk;
  int64_t import_id;
  rt__strmap cust;       /* customer key -> dense index */
  const char *mapped;    /* reading a mapped part: its start, for giving back read pages */
  int defer_numbers;     /* row buffer mode: numeric customer ids are resolved in a batch */
  int deferred_any;      /* rows (or the pending order) hold DEFERRED | number */
  /* while every id deferred is a number below RANK_LIMIT (rank_ok), the numbers seen, as
   * bits: when all parts qualify, customers are numbered by rank (see rank_customers) */
  int rank_ok;
  uint64_t *seen;
  size_t seen_words;
  size_t released;       /* bytes of it given back */
  int64_t *cust_id;      /* dense index -> store id (or model index) */
  size_t cust_cap;
  occmap occ;
  pending pend;
  FILE *rejects;
  const char *rejects_path;
  char default_currency[4];
  int currency_exp;
  buf scratch;
  buf nfc_key, nfc_id;   /* the NFC forms of a row's customer key and its other id */
  int fatal;             /* a store or memory failure: never skippable */
  int64_t latest_ms;     /* a row's date after this (a day past the clock) is refused */
} importer;

/* Reports a bad row. Returns the error code when the import must stop, 0 when the row is
 * skipped (skip_bad). col is a 0-based field index or -1. */
static int bad_row(importer *im, const rt_csv_record *rec, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int bad_row(importer *im, const rt_csv_record *rec, int col, const char *fmt, ...) {
  char reason[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  rt_import_result *r = im->res;
  rt__rejects rj = {im->o->skip_bad, im->rejects, &r->skipped, r->first_rejects,
                    RT_ARRAY_LEN(r->first_rejects)};
  return rt__bad_row(&rj, im->file, &im->cm, rec, col, reason, im->err);
}

static const char *field(const importer *im, const rt_csv_record *rec, rt_import_col c,
                         size_t *len) {
  int i = im->cm.idx[c];
  if (i < 0 || (size_t)i >= rec->nfields) {
    *len = 0;
    return NULL;
  }
  *len = rec->lens[i];
  return rt__trim(rec->fields[i], len);
}

/* The length of a customer id without a zero fraction: "17850.0" is customer 17850. */
static size_t id_without_zero_fraction(const char *s, size_t n) {
  size_t dot = n;
  int digits = 1;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '.' && dot == n)
      dot = i;
    else if (s[i] < '0' || s[i] > '9')
      digits = 0;
  }
  if (digits && dot < n && dot > 0) {
    int zeros = 1;
    for (size_t i = dot + 1; i < n; i++)
      zeros &= s[i] == '0';
    if (zeros)
      return dot;
  }
  return n;
}

/* The customer key of a row: the customer id (decimal ids written as "17850.0" lose the ".0"),
 * else the email (lowercased). Returns the key in im->scratch, or NULL when the row has none. */
static const char *customer_key(importer *im, const rt_csv_record *rec, size_t *len, int *col) {
  size_t n;
  const char *s = field(im, rec, RT_COL_CUSTOMER, &n);
  *col = im->cm.idx[RT_COL_CUSTOMER];
  if (s && n) {
    *len = id_without_zero_fraction(s, n);
    return s;
  }
  s = field(im, rec, RT_COL_EMAIL, &n);
  if (s && n) {
    *col = im->cm.idx[RT_COL_EMAIL];
    im->scratch.len = 0;
    if (buf_reserve(&im->scratch, n))
      return NULL;
    for (size_t i = 0; i < n; i++)
      im->scratch.p[i] = (char)tolower((unsigned char)s[i]);
    im->scratch.p[n] = '\0';
    *len = n;
    return im->scratch.p;
  }
  return NULL;
}

/* An external id s[0..*n) (column col, what it is for messages) checked as every id is
 * (rt__id_check, shared with the API): 1 with *s and *n set to its NFC form (kept in b when
 * it differs), else the row is bad (0: skipped, -1: stop, as parse_time). */
static int check_id(importer *im, const rt_csv_record *rec, int col, const char *what, buf *b,
                    const char **s, size_t *n) {
  char *nfc;
  size_t len;
  const char *why;
  if (rt__id_check(*s, *n, &nfc, &len, &why))
    return bad_row(im, rec, col, "%s %s", what, why) ? -1 : 0;
  if (!nfc)
    return 1;
  b->len = 0;
  int rc = buf_reserve(b, len);
  if (!rc) {
    memcpy(b->p, nfc, len);
    b->p[len] = '\0';
    *s = b->p;
    *n = len;
  }
  free(nfc);
  if (rc) {
    rt_error_set(im->err, RT_ENOMEM, "%s: out of memory", im->file);
    return -1;
  }
  return 1;
}

/* The customer key of a row (customer_key), checked as an id: 1 with *key, *len and *col set,
 * else the row is bad (0: skipped, -1: stop). */
static int row_customer(importer *im, const rt_csv_record *rec, const char **key, size_t *len,
                        int *col) {
  if (!(*key = customer_key(im, rec, len, col)))
    return bad_row(im, rec, im->cm.idx[RT_COL_CUSTOMER] >= 0 ? im->cm.idx[RT_COL_CUSTOMER]
                                                              : im->cm.idx[RT_COL_EMAIL],
                   "no customer id")
               ? -1
               : 0;
  return check_id(im, rec, *col, *col == im->cm.idx[RT_COL_EMAIL] ? "email" : "customer id",
                  &im->nfc_key, key, len);
}

/* Another id of a row (order, event, subscription id): 1 with *s and *n set (*n 0: none), else the
 * row is bad (0: skipped, -1: stop). */
static int row_id(importer *im, const rt_csv_record *rec, rt_import_col c, const char **s,
                  size_t *n) {
  *s = field(im, rec, c, n);
  if (!*s || !*n)
    return 1;
  char what[40];
  snprintf(what, sizeof what, "%s id", c == RT_COL_EVENT_ID ? "event" : rt_import_col_name(c));
  return check_id(im, rec, im->cm.idx[c], what, &im->nfc_id, s, n);
}

/* Resolves a customer key to a store id (or model index), creating the customer if new. */
/* Reading into a row buffer, a numeric customer id is not looked up row by row (a cache miss
 * each): the row keeps DEFERRED | the number, and rt__strmap_intern_number resolves a whole
 * batch later in row order (so indexes come out as if interned at once), prefetching ahead. */
#define DEFERRED 0x80000000u
#define DEFER_AHEAD 16

/* Numbers from RANK_LIMIT up end the rank mode (their bits would take too much memory). */
#define RANK_LIMIT ((uint64_t)1 << 27)

/* Makes the bit set reach word w; 0 (and the rank mode off) when it cannot. */
static RT__NOINLINE int seen_grow(importer *im, size_t w) {
  size_t n = im->seen_words ? im->seen_words * 2 : 4096;
  if (n <= w)
    n = w + 1;
  if (n > RANK_LIMIT / 64)
    n = RANK_LIMIT / 64;
  uint64_t *a = w < n ? rt_reallocarray(im->seen, n, sizeof *a) : NULL;
  if (!a) {
    im->rank_ok = 0;
    rt_free(im->seen);
    im->seen = NULL;
    im->seen_words = 0;
    return 0;
  }
  memset(a + im->seen_words, 0, (n - im->seen_words) * sizeof *a);
  im->seen = a;
  im->seen_words = n;
  return 1;
}

/* The row's customer for the number v, resolved later (and v marked for the rank mode). */
static inline int64_t defer_number(importer *im, uint32_t v) {
  im->deferred_any = 1;
  if (im->rank_ok) {
    size_t w = (size_t)v >> 6;
    if (w < im->seen_words || seen_grow(im, w))
      im->seen[w] |= UINT64_C(1) << (v & 63);
  }
  return (int64_t)(DEFERRED | v);
}

static int resolve_deferred(importer *im) {
  rowbuf *r = im->rows;
  uint32_t *c = r->cust;
  size_t n = r->n, ahead = 0, ndeferred = 0;
  uint32_t maxv = 0;
  for (size_t i = 0; i < n; i++)
    if (c[i] & DEFERRED) {
      ndeferred++;
      if ((c[i] & ~DEFERRED) > maxv)
        maxv = c[i] & ~DEFERRED;
    }
  if (ndeferred && rt__strmap_reserve_number(&im->cust, maxv, ndeferred))
    return rt_error_set(im->err, RT_ENOMEM, "%s: out of memory", im->file);
  for (size_t i = 0; i < n; i++) {
    if (ahead < i + DEFER_AHEAD)
      ahead = i + DEFER_AHEAD;
    for (; ahead < n && ahead < i + 2 * DEFER_AHEAD; ahead++)
      if (c[ahead] & DEFERRED)
        rt__strmap_prefetch_number(&im->cust, c[ahead] & ~DEFERRED);
    if (!(c[i] & DEFERRED))
      continue;
    int rc = rt__strmap_intern_number(&im->cust, c[i] & ~DEFERRED, &c[i]);
    if (rc)
      return rt_error_set(im->err, rc, "%s: %s", im->file, rt_strerror(rc));
  }
  pending *p = &im->pend;
  if (p->active && ((uint64_t)p->customer & DEFERRED)) {
    uint32_t ix;
    int rc = rt__strmap_intern_number(&im->cust, (uint32_t)p->customer & ~DEFERRED, &ix);
    if (rc)
      return rt_error_set(im->err, rc, "%s: %s", im->file, rt_strerror(rc));
    p->customer = ix;
  }
  im->deferred_any = 0;
  return 0;
}

/* What resolve_customer returns for a row it reported and skipped (an erased customer's, with
 * skip_bad); the row loop goes on. */
#define SKIP_ROW 1
/* cust_id of a customer whose rows are refused */
#define ERASED_ID (-1)

/* A row of an erased customer (the store refused to create it: RT_EERASED, the reason in
 * im->err) is a bad row: reported, and the import stops unless skip_bad. */
static int erased_row(importer *im, const rt_csv_record *rec) {
  char why[sizeof im->err->msg];
  memcpy(why, im->err->msg, sizeof why);
  rt_error_clear(im->err);
  int col = im->cm.idx[RT_COL_CUSTOMER] >= 0 ? im->cm.idx[RT_COL_CUSTOMER]
                                              : im->cm.idx[RT_COL_EMAIL];
  return bad_row(im, rec, col, "%s", why);
}

static int resolve_customer(importer *im, const char *key, size_t len, int64_t first_ms,
                            const rt_csv_record *rec, int64_t *out) {
  uint32_t ix;
  int inserted = 0;
  if (im->rows && im->defer_numbers) {
    int64_t v = rt__strmap_number(key, len);
    if (v >= 0) {
      *out = defer_number(im, (uint32_t)v);
      return 0;
    }
    /* another kind of id: resolve what waits, and look ids up one by one from now on */
    im->defer_numbers = 0;
    im->rank_ok = 0;
    if (im->deferred_any) {
      int rc = resolve_deferred(im);
      if (rc)
        return rc;
    }
  }
  if (im->rows && im->cust.count >= DEFERRED)
    return rt_error_set(im->err, RT_ERANGE, "%s: too many customers", im->file);
  int rc = rt__strmap_intern(&im->cust, key, len, &ix, &inserted);
  if (rc)
    return rt_error_set(im->err, rc, "%s: %s", im->file, rt_strerror(rc));
  if (im->rows) { /* reading into a row buffer: the map index is the id */
    *out = ix;
    return 0;
  }
  if (!inserted) {
    *out = im->cust_id[ix];
    if (*out != ERASED_ID)
      return 0;
    rt_error_set(im->err, RT_EERASED, "customer '%.*s' was erased at their request (right to "
                 "erasure): new data under this id is refused", (int)RT_MIN(len, 200), key);
    return erased_row(im, rec) ? im->err->code : SKIP_ROW;
  }
  if (ix >= im->cust_cap) {
    size_t cap = im->cust_cap ? im->cust_cap * 2 : 4096;
    int64_t *a = rt_reallocarray(im->cust_id, cap, sizeof *a);
    if (!a)
      return rt_error_set(im->err, RT_ENOMEM, "%s: out of memory", im->file);
    im->cust_id = a;
    im->cust_cap = cap;
  }
  int64_t id = 0;
  if (im->rows) {
    id = ix;
  } else if (im->mb) {
    uint32_t mix;
    rc = rt_model_builder_customer(im->mb, key, len, 0, &mix);
    if (rc)
      return rt_error_set(im->err, rc, "%s: %s", im->file, rt_strerror(rc));
    id = mix;
  } else if (im->bulk) {
    rc = rt_store_customer_insert(im->st, key, len, first_ms, &id, im->err);
    if (rc)
      return rc;
    im->res->new_customers++;
  } else {
    int created = 0;
    rc = rt_store_customer_upsert(im->st, key, len, first_ms, &id, &created, im->err);
    if (rc == RT_EERASED) {
      im->cust_id[ix] = ERASED_ID;
      return erased_row(im, rec) ? im->err->code : SKIP_ROW;
    }
    if (rc)
      return rc;
    im->res->new_customers += created;
  }
  im->cust_id[ix] = id;
  *out = id;
  /* an orders or events file with both an id and an email links the email once */
  if (im->st && im->cm.idx[RT_COL_CUSTOMER] >= 0 && im->cm.idx[RT_COL_EMAIL] >= 0) {
    size_t n;
    const char *e = field(im, rec, RT_COL_EMAIL, &n);
    if (e && n) {
      char email[320];
      if (n >= sizeof email)
        n = sizeof email - 1;
      for (size_t i = 0; i < n; i++)
        email[i] = (char)tolower((unsigned char)e[i]);
      email[n] = '\0';
      int64_t other;
      rc = rt_store_identity_link(im->st, "email", email, id, "import", &other, im->err);
      if (rc && rc != RT_EEXISTS)
        return rc;
      rt_error_clear(im->err);
    }
  }
  return 0;
}

static int parse_time(importer *im, const rt_csv_record *rec, rt_import_col c, int64_t *out,
                      int required_) {
  size_t n;
  const char *s = field(im, rec, c, &n);
  if (!s || !n) {
    if (!required_) {
      *out = 0;
      return 1;
    }
    return bad_row(im, rec, im->cm.idx[c], "missing %s", c == RT_COL_DATE ? "date" : "time")
               ? -1
               : 0;
  }
  rt_error e;
  rt_error_clear(&e);
  if (rt_date_parse(im->fmt, s, n, im->o->tz, out, &e))
    return bad_row(im, rec, im->cm.idx[c], "%s", e.msg[0] ? e.msg : "invalid date") ? -1 : 0;
  if (*out > im->latest_ms) {
    char today[16];
    rt_day_format((int32_t)((im->latest_ms - 86400000LL) / 86400000LL), today, sizeof today);
    return bad_row(im, rec, im->cm.idx[c], "'%.*s' is in the future (today is %s, UTC)",
                   (int)RT_MIN(n, 40), s, today)
               ? -1
               : 0;
  }
  return 1;
}

static int parse_money(importer *im, const rt_csv_record *rec, rt_import_col c, int exp,
                       int64_t *out, int *present) {
  size_t n;
  const char *s = field(im, rec, c, &n);
  *present = s && n;
  if (!*present) {
    *out = 0;
    return 1;
  }
  int rc = rt__parse_money(s, n, exp, out);
  if (rc)
    return bad_row(im, rec, im->cm.idx[c], "invalid number '%.*s'%s", (int)RT_MIN(n, 40), s,
                   rc == RT_ERANGE ? " (too large)" : "")
               ? -1
               : 0;
  return 1;
}

/* The currency of a row from its field s[0..n) (trimmed): the default when empty, else a
 * current ISO 4217 code (rt__currency_check), upper-cased. Returns 0 for anything else. */
static int currency_code(const importer *im, const char *s, size_t n, char cur[4]) {
  if (!s || !n) {
    memcpy(cur, im->default_currency, 4);
    return 1;
  }
  return rt__currency_check(s, n, cur) == 0;
}

static int row_currency(importer *im, const rt_csv_record *rec, char cur[4]) {
  size_t n;
  const char *s = field(im, rec, RT_COL_CURRENCY, &n);
  if (currency_code(im, s, n, cur))
    return 1;
  return bad_row(im, rec, im->cm.idx[RT_COL_CURRENCY],
                 "invalid currency '%.*s' (expected a current ISO 4217 code like USD)",
                 (int)RT_MIN(n, 20), s)
             ? -1
             : 0;
}

/* ---- orders ---- */

static int flush_order(importer *im) {
  pending *p = &im->pend;
  if (!p->active)
    return 0;
  p->active = 0;
  int status = 0, rc;
  int refund = p->amount < 0;
  const char *ext = p->strs.p;
  if (im->rows) {
    uint64_t oid = p->has_oid ? rt__hash_bytes(ext, strlen(ext)) | 1 : 0;
    rc = rowbuf_push(im->rows, (uint32_t)p->customer, p->ts, p->amount, p->currency, oid);
    if (rc)
      return rt_error_set(im->err, rc, "%s: %s", im->file, rt_strerror(rc));
    return 0;
  } else if (im->mb) {
    rc = refund ? rt_model_builder_refund(im->mb, (uint32_t)p->customer, p->ts, -p->amount,
                                          p->currency)
                : rt_model_builder_order(im->mb, (uint32_t)p->customer, p->ts, p->amount,
                                         p->currency);
    if (rc)
      return rt_error_set(im->err, rc, "%s: %s", im->file, rt_strerror(rc));
    status = RT_PUT_NEW;
  } else if (refund) {
    rt_refund_rec r = {.customer = p->customer,
                       .ext_id = ext,
                       .ts_ms = p->ts,
                       .amount = -p->amount,
                       .currency = p->currency,
                       .import_id = im->import_id};
    rc = rt_store_refund_put(im->st, &r, &status, im->err);
    if (rc)
      return rc;
  } else {
    rt_line_rec lines_stack[16];
    rt_line_rec *lines = lines_stack;
    if (p->has_lines && p->nlines > RT_ARRAY_LEN(lines_stack)) {
      lines = rt_malloc(p->nlines * sizeof *lines);
      if (!lines)
        return rt_error_set(im->err, RT_ENOMEM, "%s: out of memory", im->file);
    }
    size_t nl = p->has_lines ? p->nlines : 0;
    for (size_t i = 0; i < nl; i++) {
      lines[i].product = p->lines[i].product >= 0 ? p->strs.p + p->lines[i].product : NULL;
      lines[i].name = p->lines[i].name >= 0 ? p->strs.p + p->lines[i].name : NULL;
      lines[i].quantity = p->lines[i].quantity;
      lines[i].unit_price = p->lines[i].unit_price;
      lines[i].amount = p->lines[i].amount;
    }
    rt_order_rec o = {.customer = p->customer,
                      .ext_id = ext,
                      .ts_ms = p->ts,
                      .amount = p->amount,
                      .currency = p->currency,
                      .import_id = im->import_id};
    rc = rt_store_order_put(im->st, &o, lines, nl, &status, im->err);
    if (lines != lines_stack)
      rt_free(lines);
    if (rc)
      return rc;
  }
  rt_import_result *r = im->res;
  if (status == RT_PUT_NEW) {
    r->stored++;
    r->refunds += refund;
  } else if (status == RT_PUT_MERGED) {
    r->merged++;
  } else {
    r->duplicates++;
  }
  return 0;
}

/* One row of an orders file. Returns 0 (done or skipped) or an error code. */
static int order_row(importer *im, const rt_csv_record *rec) {
  size_t klen, olen;
  int kcol;
  const char *key;
  int ok = row_customer(im, rec, &key, &klen, &kcol);
  if (ok <= 0)
    return ok < 0 ? im->err->code : 0;
  if (!im->defer_numbers) /* the lookup comes after the date and amount */
    rt__strmap_prefetch(&im->cust, key, klen);
  int64_t ts;
  ok = parse_time(im, rec, RT_COL_DATE, &ts, 1);
  if (ok <= 0)
    return ok < 0 ? im->err->code : 0;
  char cur[4];
  if ((ok = row_currency(im, rec, cur)) <= 0)
    return ok < 0 ? im->err->code : 0;
  int exp = rt_currency_exponent(cur);
  int64_t amount = 0, unit_price = 0, qty = 1;
  int have_amount, have_price = 0, have_qty = 0;
  if ((ok = parse_money(im, rec, RT_COL_AMOUNT, exp, &amount, &have_amount)) <= 0)
    return ok < 0 ? im->err->code : 0;
  if (im->cm.idx[RT_COL_PRICE] >= 0 &&
      (ok = parse_money(im, rec, RT_COL_PRICE, exp, &unit_price, &have_price)) <= 0)
    return ok < 0 ? im->err->code : 0;
  if (im->cm.idx[RT_COL_QUANTITY] >= 0) {
    size_t n;
    const char *s = field(im, rec, RT_COL_QUANTITY, &n);
    if (s && n) {
      /* a negative quantity is a returned line (Online Retail's C invoices): with the order's
       * total negative, the order is stored as a refund */
      const char *why = "a quantity is a whole number";
      if (rt__parse_i64(s, n, &qty) || rt__quantity_check((double)qty, 1, &why))
        return bad_row(im, rec, im->cm.idx[RT_COL_QUANTITY], "invalid quantity '%.*s': %s",
                       (int)RT_MIN(n, 40), s, why);
      have_qty = 1;
    }
  }
  if (!have_amount) {
    if (im->cm.idx[RT_COL_AMOUNT] >= 0 || !have_price || !have_qty)
      return bad_row(im, rec,
                     im->cm.idx[RT_COL_AMOUNT] >= 0 ? im->cm.idx[RT_COL_AMOUNT]
                     : !have_price                  ? im->cm.idx[RT_COL_PRICE]
                                                    : im->cm.idx[RT_COL_QUANTITY],
                     "missing amount");
    if (rt__money_mul(qty, unit_price, &amount))
      return bad_row(im, rec, im->cm.idx[RT_COL_QUANTITY], "amount too large");
  }
  const char *oid;
  if ((ok = row_id(im, rec, RT_COL_ORDER, &oid, &olen)) <= 0)
    return ok < 0 ? im->err->code : 0;
  pending *p = &im->pend;
  int64_t cust;
  int rc;
  /* a further line of the pending order? */
  if (oid && olen && p->active && p->strs.len > olen && p->strs.p[olen] == '\0' &&
      memcmp(p->strs.p, oid, olen) == 0) {
    rc = resolve_customer(im, key, klen, ts, rec, &cust);
    if (rc)
      return rc;
    if (cust != p->customer)
      return bad_row(im, rec, kcol,
                     "order '%.*s' belongs to another customer on line %llu", (int)olen, oid,
                     (unsigned long long)p->line);
    if (strcmp(cur, p->currency) != 0)
      return bad_row(im, rec, im->cm.idx[RT_COL_CURRENCY],
                     "order '%.*s' has currency %s on line %llu", (int)olen, oid, p->currency,
                     (unsigned long long)p->line);
    im->res->merged++;
  } else {
    if ((rc = flush_order(im)))
      return rc;
    rc = resolve_customer(im, key, klen, ts, rec, &cust);
    if (rc)
      return rc;
    p->strs.len = 0;
    if (oid && olen) {
      if (buf_add(&p->strs, oid, olen) < 0)
        return rt_error_set(im->err, RT_ENOMEM, "out of memory");
    } else {
      /* content key: customer, time, amount, currency, product, then the occurrence */
      char ck[64];
      uint64_t h = rt__hash_bytes(key, klen);
      int64_t parts[3] = {ts, amount, (int64_t)(unsigned char)cur[0] << 16 | cur[1] << 8 | cur[2]};
      h ^= rt__hash_bytes(parts, sizeof parts) * 0x9e3779b97f4a7c15ULL;
      size_t pn;
      const char *prod = field(im, rec, RT_COL_PRODUCT, &pn);
      if (prod && pn)
        h ^= rt__hash_bytes(prod, pn) * 0xc2b2ae3d27d4eb4fULL;
      uint32_t occ = occ_next(&im->occ, h);
      if (!occ)
        return rt_error_set(im->err, RT_ENOMEM, "out of memory");
      int n = snprintf(ck, sizeof ck, "row:%016llx:%u", (unsigned long long)h, occ);
      if (buf_add(&p->strs, ck, (size_t)n) < 0)
        return rt_error_set(im->err, RT_ENOMEM, "out of memory");
    }
    p->active = 1;
    p->has_oid = oid && olen;
    p->customer = cust;
    p->line = rec->line;
    p->ts = ts;
    p->amount = 0;
    memcpy(p->currency, cur, 4);
    p->nlines = 0;
    p->has_lines = im->cm.idx[RT_COL_PRODUCT] >= 0 || im->cm.idx[RT_COL_PRICE] >= 0;
  }
  if (rt__money_add(&p->amount, amount))
    return bad_row(im, rec, im->cm.idx[RT_COL_AMOUNT] >= 0 ? im->cm.idx[RT_COL_AMOUNT]
                                                           : im->cm.idx[RT_COL_QUANTITY],
                   "the order's total is too large");
  if (p->has_lines) {
    if (p->nlines == p->cap) {
      size_t cap = p->cap ? p->cap * 2 : 16;
      pline *l = rt_reallocarray(p->lines, cap, sizeof *l);
      if (!l)
        return rt_error_set(im->err, RT_ENOMEM, "out of memory");
      p->lines = l;
      p->cap = cap;
    }
    pline *l = &p->lines[p->nlines++];
    size_t n;
    const char *s = field(im, rec, RT_COL_PRODUCT, &n);
    l->product = s && n ? buf_add(&p->strs, s, n) : -1;
    s = field(im, rec, RT_COL_NAME, &n);
    l->name = s && n ? buf_add(&p->strs, s, n) : -1;
    l->quantity = (double)qty;
    l->unit_price = have_price ? unit_price : llround((double)amount / (double)qty);
    l->amount = amount;
  }
  return 0;
}

/* ---- customers, events, subscriptions ---- */

/* Unmapped columns of a row as a JSON object (numbers stay numbers). NULL on failure. */
static json_t *extra_columns(importer *im, const rt_csv_record *rec) {
  json_t *obj = json_object();
  if (!obj)
    return NULL;
  for (size_t i = 0; i < rec->nfields && (int)i < im->cm.nheader; i++) {
    int mapped = 0;
    for (int c = 0; c < RT_COL_COUNT; c++)
      mapped |= im->cm.idx[c] == (int)i;
    if (mapped || !im->cm.names[i] || !im->cm.names[i][0] || rec->lens[i] == 0)
      continue;
    double d;
    json_t *v = NULL;
    int64_t iv;
    if (rt__parse_i64(rec->fields[i], rec->lens[i], &iv) == 0 && rec->fields[i][0] != '0')
      v = json_integer(iv);
    else if (rt__parse_double(rec->fields[i], rec->lens[i], &d) == 0 && isfinite(d) &&
             rec->fields[i][0] != '0')
      v = json_real(d);
    else
      v = json_stringn(rec->fields[i], rec->lens[i]);
    if (!v || json_object_set_new(obj, im->cm.names[i], v)) {
      json_decref(obj);
      return NULL;
    }
  }
  return obj;
}

static int customer_row(importer *im, const rt_csv_record *rec) {
  size_t klen;
  int kcol;
  const char *key;
  int ok = row_customer(im, rec, &key, &klen, &kcol);
  if (ok <= 0)
    return ok < 0 ? im->err->code : 0;
  /* the identities linked below are ids too: checked before anything is written */
  static const struct {
    rt_import_col col;
    const char *kind;
  } ids[] = {{RT_COL_EMAIL, "email"}, {RT_COL_PHONE, "phone"}, {RT_COL_CUSTOMER, "external"}};
  for (size_t i = 0; i < RT_ARRAY_LEN(ids); i++) {
    size_t n;
    const char *s = field(im, rec, ids[i].col, &n);
    if (s && n && memchr(s, '\0', n))
      return bad_row(im, rec, im->cm.idx[ids[i].col], "%s contains a NUL byte", ids[i].kind);
  }
  int64_t ts = 0;
  if (im->cm.idx[RT_COL_DATE] >= 0 && (ok = parse_time(im, rec, RT_COL_DATE, &ts, 0)) <= 0)
    return ok < 0 ? im->err->code : 0;
  /* the other columns become attributes: a row that alone is over a customer's limits is a
   * bad row before it creates anyone */
  json_t *attrs = extra_columns(im, rec);
  char *text = attrs && json_object_size(attrs) ? json_dumps(attrs, JSON_COMPACT) : NULL;
  size_t nattrs = attrs ? json_object_size(attrs) : 0;
  json_decref(attrs);
  if (!attrs || (nattrs && !text)) {
    free(text);
    return rt_error_set(im->err, RT_ENOMEM, "out of memory");
  }
  if (nattrs > RT_ATTRS_MAX_KEYS || (text && strlen(text) > RT_ATTRS_MAX_BYTES)) {
    size_t bytes = strlen(text);
    free(text);
    return bad_row(im, rec, -1,
                   "%zu attribute columns, %zu bytes as JSON; a customer's attributes may have "
                   "at most %d keys and %d bytes",
                   nattrs, bytes, RT_ATTRS_MAX_KEYS, RT_ATTRS_MAX_BYTES);
  }
  int64_t id;
  int created = 0;
  char *k = rt_strndup(key, klen);
  int rc = k ? rt_store_customer_upsert(im->st, k, klen, ts, &id, &created, im->err)
             : rt_error_set(im->err, RT_ENOMEM, "out of memory");
  rt_free(k);
  if (rc == RT_EERASED) {
    free(text);
    return erased_row(im, rec);
  }
  if (!rc) {
    im->res->new_customers += created;
    if (created)
      im->res->stored++;
    else
      im->res->merged++;
  }
  if (!rc && text)
    rc = rt_store_customer_set_attrs(im->st, id, text, im->err);
  free(text);
  if (rc == RT_ERANGE) { /* this row's attributes with the ones the customer has */
    char why[sizeof im->err->msg];
    snprintf(why, sizeof why, "%s", im->err->msg);
    rt_error_clear(im->err);
    return bad_row(im, rec, -1, "%s", why);
  }
  if (rc)
    return rc;
  for (size_t i = 0; i < RT_ARRAY_LEN(ids); i++) {
    size_t n;
    const char *s = field(im, rec, ids[i].col, &n);
    if (!s || !n || n > 300)
      continue;
    char v[320];
    for (size_t j = 0; j < n; j++)
      v[j] = ids[i].col == RT_COL_EMAIL ? (char)tolower((unsigned char)s[j]) : s[j];
    v[n] = '\0';
    int64_t other;
    rc = rt_store_identity_link(im->st, ids[i].kind, v, id, "import customers", &other, im->err);
    if (rc == RT_EEXISTS) {
      rt_error_clear(im->err);
      return bad_row(im, rec, im->cm.idx[ids[i].col],
                     "%s '%s' already belongs to another customer", ids[i].kind, v);
    }
    if (rc)
      return rc;
  }
  return 0;
}

static int event_row(importer *im, const rt_csv_record *rec) {
  size_t klen, tlen, n;
  int kcol;
  const char *key;
  int ok = row_customer(im, rec, &key, &klen, &kcol);
  if (ok <= 0)
    return ok < 0 ? im->err->code : 0;
  const char *eid;
  size_t eidlen;
  if ((ok = row_id(im, rec, RT_COL_EVENT_ID, &eid, &eidlen)) <= 0)
    return ok < 0 ? im->err->code : 0;
  const char *type = field(im, rec, RT_COL_TYPE, &tlen);
  if (!type || !tlen)
    return bad_row(im, rec, im->cm.idx[RT_COL_TYPE], "missing event type");
  int64_t ts;
  ok = parse_time(im, rec, RT_COL_DATE, &ts, 1);
  if (ok <= 0)
    return ok < 0 ? im->err->code : 0;
  char *props = NULL;
  const char *ptext = field(im, rec, RT_COL_PROPERTIES, &n);
  json_t *obj = NULL;
  if (ptext && n) {
    json_error_t je;
    obj = json_loadb(ptext, n, JSON_REJECT_DUPLICATES, &je);
    if (!obj || !json_is_object(obj)) {
      json_decref(obj);
      return bad_row(im, rec, im->cm.idx[RT_COL_PROPERTIES],
                     obj ? "properties must be a JSON object"
                         : "invalid JSON in properties at character %d: %s",
                     je.position, je.text);
    }
  } else if (!(obj = extra_columns(im, rec))) {
    return rt_error_set(im->err, RT_ENOMEM, "out of memory");
  }
  if (json_object_size(obj))
    props = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(obj);
  int64_t cust;
  int rc = resolve_customer(im, key, klen, ts, rec, &cust);
  char idbuf[64];
  char *ext = NULL;
  if (!rc) {
    if (eid && eidlen) {
      ext = rt_strndup(eid, eidlen);
    } else {
      uint64_t h = rt__hash_bytes(key, klen) ^ rt__hash_bytes(type, tlen) * 31 ^
                   rt__hash_bytes(&ts, sizeof ts) * 0x9e3779b97f4a7c15ULL;
      if (props)
        h ^= rt__hash_bytes(props, strlen(props)) * 0xc2b2ae3d27d4eb4fULL;
      uint32_t occ = occ_next(&im->occ, h);
      snprintf(idbuf, sizeof idbuf, "row:%016llx:%u", (unsigned long long)h, occ);
      ext = rt_strdup(idbuf);
    }
    char *t = rt_strndup(type, tlen);
    if (!ext || !t) {
      rc = rt_error_set(im->err, RT_ENOMEM, "out of memory");
    } else {
      rt_event_rec e = {.customer = cust, .type = t, .ts_ms = ts, .props = props,
                        .ext_id = ext, .import_id = im->import_id};
      int status;
      rc = rt_store_event_put(im->st, &e, &status, im->err);
      if (!rc) {
        if (status == RT_PUT_NEW)
          im->res->stored++;
        else
          im->res->duplicates++;
      }
    }
    rt_free(t);
  }
  rt_free(ext);
  free(props);
  return rc;
}

static int subscription_row(importer *im, const rt_csv_record *rec) {
  size_t klen, n, sidlen;
  int kcol;
  const char *key, *sid;
  int ok = row_customer(im, rec, &key, &klen, &kcol);
  if (ok <= 0 || (ok = row_id(im, rec, RT_COL_SUBSCRIPTION, &sid, &sidlen)) <= 0)
    return ok < 0 ? im->err->code : 0;
  int64_t start, cancel = 0, renews = 0;
  ok = parse_time(im, rec, RT_COL_DATE, &start, 1);
  if (ok <= 0)
    return ok < 0 ? im->err->code : 0;
  if (im->cm.idx[RT_COL_CANCELED] >= 0 &&
      (ok = parse_time(im, rec, RT_COL_CANCELED, &cancel, 0)) <= 0)
    return ok < 0 ? im->err->code : 0;
  if (im->cm.idx[RT_COL_RENEWS] >= 0 && (ok = parse_time(im, rec, RT_COL_RENEWS, &renews, 0)) <= 0)
    return ok < 0 ? im->err->code : 0;
  if (cancel && cancel < start)
    return bad_row(im, rec, im->cm.idx[RT_COL_CANCELED], "cancelled before it started");
  char cur[4];
  if ((ok = row_currency(im, rec, cur)) <= 0)
    return ok < 0 ? im->err->code : 0;
  int64_t amount;
  int have;
  if ((ok = parse_money(im, rec, RT_COL_AMOUNT, rt_currency_exponent(cur), &amount, &have)) <= 0)
    return ok < 0 ? im->err->code : 0;
  int64_t cust;
  int rc = resolve_customer(im, key, klen, start, rec, &cust);
  if (rc)
    return rc;
  char *plan = NULL, *interval = NULL, *ext = NULL;
  const char *s = field(im, rec, RT_COL_PLAN, &n);
  if (s && n)
    plan = rt_strndup(s, n);
  s = field(im, rec, RT_COL_INTERVAL, &n);
  if (s && n)
    interval = rt_strndup(s, n);
  if (sid && sidlen) {
    ext = rt_strndup(sid, sidlen);
  } else {
    char idbuf[64];
    uint64_t h = rt__hash_bytes(key, klen) ^ rt__hash_bytes(&start, sizeof start) * 31;
    if (plan)
      h ^= rt__hash_bytes(plan, strlen(plan)) * 0x9e3779b97f4a7c15ULL;
    snprintf(idbuf, sizeof idbuf, "sub:%016llx", (unsigned long long)h);
    ext = rt_strdup(idbuf);
  }
  if (!ext)
    rc = rt_error_set(im->err, RT_ENOMEM, "out of memory");
  if (!rc) {
    rt_subscription_rec r = {.customer = cust, .ext_id = ext, .plan = plan, .started_ms = start,
                             .renews_ms = renews, .canceled_ms = cancel, .amount = amount,
                             .currency = cur, .interval = interval,
                             .import_id = im->import_id};
    int status;
    rc = rt_store_subscription_put(im->st, &r, &status, im->err);
    if (!rc) {
      if (status == RT_PUT_NEW)
        im->res->stored++;
      else
        im->res->merged++;
    }
  }
  rt_free(plan);
  rt_free(interval);
  rt_free(ext);
  return rc;
}

/* ---- the driver ---- */

static void importer_free(importer *im) {
  rt_csv_close(im->csv);
  rt__colmap_free(&im->cm);
  rt_datefmt_free(im->fmt);
  rt__strmap_free(&im->cust);
  rt_free(im->seen);
  rt_free(im->cust_id);
  occ_free(&im->occ);
  rt_free(im->pend.strs.p);
  rt_free(im->pend.lines);
  rt_free(im->scratch.p);
  rt_free(im->nfc_key.p);
  rt_free(im->nfc_id.p);
  if (im->rejects)
    fclose(im->rejects);
  memset(im, 0, sizeof *im);
}

/* A mapped file's pages count as the process's memory while mapped; the pages already read
 * (all but the last MiB, which the current row may still point into) are given back. */
static void release_pages_before(importer *im, size_t pos) {
  size_t keep = (size_t)1 << 20;
  if (pos < im->released + 2 * keep)
    return;
  uintptr_t a = ((uintptr_t)im->mapped + im->released + 4095) & ~(uintptr_t)4095;
  uintptr_t e = ((uintptr_t)im->mapped + pos - keep) & ~(uintptr_t)4095;
  if (e > a)
    madvise((void *)a, e - a, MADV_DONTNEED);
  im->released = pos - keep;
}

static void release_read_pages(importer *im) {
  if (im->mapped)
    release_pages_before(im, (size_t)rt_csv_bytes_read(im->csv));
}

/* Reads the records after the header (or from the first record when there is none). */
static int run_records(importer *im, rt_csv_record *first) {
  const rt_import_opts *o = im->o;
  rt_error *err = im->err;
  rt_csv_record rec;
  int got = 1, rc;
  if (first)
    rec = *first;
  else
    got = rt_csv_next(im->csv, &rec, err);
  uint64_t next_progress = 65536;
  while (got > 0) {
    im->res->rows++;
    if (o->no_header ? (int)rec.nfields < im->need_fields
                     : (int)rec.nfields != im->cm.nheader) {
      if (o->no_header)
        rc = bad_row(im, &rec, -1, "expected at least %d fields, found %zu", im->need_fields,
                     rec.nfields);
      else
        rc = bad_row(im, &rec, -1, "expected %d fields (as in the header), found %zu",
                     im->cm.nheader, rec.nfields);
    } else {
      switch (o->kind) {
      case RT_IMPORT_ORDERS:
        rc = order_row(im, &rec);
        break;
      case RT_IMPORT_CUSTOMERS:
        rc = customer_row(im, &rec);
        break;
      case RT_IMPORT_EVENTS:
        rc = event_row(im, &rec);
        break;
      default:
        rc = subscription_row(im, &rec);
        break;
      }
    }
    if (rc == SKIP_ROW)
      rc = 0;
    if (rc)
      return rc;
    if ((uint64_t)im->res->rows >= next_progress) {
      if (o->progress_cb)
        o->progress_cb(o->progress_ctx, rt_csv_bytes_read(im->csv), rt_csv_bytes_total(im->csv),
                       (uint64_t)im->res->rows);
      next_progress += 65536;
      release_read_pages(im);
    }
    got = rt_csv_next(im->csv, &rec, err);
  }
  if (got < 0)
    return got;
  return flush_order(im);
}

static void set_need_fields(importer *im) {
  im->need_fields = 0;
  for (int c = 0; c < RT_COL_COUNT; c++)
    if (im->cm.idx[c] + 1 > im->need_fields)
      im->need_fields = im->cm.idx[c] + 1;
}

/* Reads the whole file, row by row. The store transaction (if any) is the caller's. */
static int run(importer *im, const char *path) {
  const rt_import_opts *o = im->o;
  rt_error *err = im->err;
  int rc = rt_csv_open_file(path, &o->csv, &im->csv, err);
  if (rc)
    return rc;
  im->file = rt_csv_name(im->csv);
  rt_csv_record rec;
  int got = rt_csv_next(im->csv, &rec, err);
  if (got < 0)
    return got;
  if (got == 0)
    return rt_error_set(err, RT_EEMPTY, "%s: empty file", im->file);
  rc = rt__colmap_resolve(&im->cm, o->kind, o->no_header ? NULL : &rec, o, im->file, err);
  if (rc)
    return rc;
  set_need_fields(im);
  if (o->skip_bad && im->rejects_path) {
    im->rejects = fopen(im->rejects_path, "w");
    if (!im->rejects)
      return rt_error_set(err, RT_EIO, "%s: cannot write the rejects file: %s",
                          im->rejects_path, strerror(errno));
    fputs("line,reason,fields...\n", im->rejects);
  }
  rc = run_records(im, o->no_header ? &rec : NULL);
  if (!rc && o->progress_cb)
    o->progress_cb(o->progress_ctx, rt_csv_bytes_read(im->csv), rt_csv_bytes_total(im->csv),
                   (uint64_t)im->res->rows);
  return rc;
}

static int importer_init(importer *im, const rt_import_opts *o, rt_import_result *res,
                         rt_error *err) {
  memset(im, 0, sizeof *im);
  memset(res, 0, sizeof *res);
  im->o = o;
  im->res = res;
  im->err = err;
  /* A purchase, an event or a sign-up dated in the future is a wrong clock or a wrong column:
   * stored, it would be hidden from every report (they stop at today) and stretch any asked
   * to go past it. A day of slack for time zones. Subscriptions may be dated ahead
   * (scheduled starts, renewals, cancellations at the end of a term). */
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  im->latest_ms = o->kind == RT_IMPORT_SUBSCRIPTIONS
                      ? INT64_MAX
                      : (int64_t)now.tv_sec * 1000 + 86400000LL;
  rt__strmap_init(&im->cust);
  const char *cur = o->currency ? o->currency : "USD";
  if (rt__currency_check(cur, strlen(cur), im->default_currency))
    return rt_error_set(err, RT_EINVAL,
                        "invalid currency '%.20s' (expected a current ISO 4217 code like USD)",
                        cur);
  if (o->date_format && strcmp(o->date_format, "auto") != 0)
    return rt_datefmt_compile(o->date_format, &im->fmt, err);
  return 0;
}

void rt_import_opts_init(rt_import_opts *o, rt_import_kind kind) {
  memset(o, 0, sizeof *o);
  o->kind = kind;
  o->csv.delimiter = ',';
}

int rt_import_file(rt_store *st, const char *path, const rt_import_opts *opts,
                   rt_import_result *res, rt_error *err) {
  rt_error local;
  if (!err)
    err = &local;
  rt_error_clear(err);
  importer im;
  int rc = importer_init(&im, opts, res, err);
  if (rc) {
    importer_free(&im);
    return rc;
  }
  im.st = st;
  static const char *const kinds[] = {"orders", "customers", "events", "subscriptions"};
  char rejects_default[4096];
  if (opts->skip_bad) {
    if (opts->rejects_path) {
      im.rejects_path = opts->rejects_path;
    } else if (strcmp(path, "-") != 0) {
      snprintf(rejects_default, sizeof rejects_default, "%s.rejects.csv", path);
      im.rejects_path = rejects_default;
    }
  }
  int try_bulk = opts->kind == RT_IMPORT_ORDERS;
  for (;;) {
    rc = rt_store_begin(st, err);
    if (rc)
      break;
    rc = rt_store_import_begin(st, kinds[opts->kind], path, NULL, &im.import_id, err);
    if (!rc && try_bulk)
      rc = rt_store_bulk_begin(st, &im.bulk, err);
    rt__trace("import: reading");
    if (!rc)
      rc = run(&im, path);
    rt__trace("import: read");
    if (!rc && im.bulk) {
      rc = rt_store_bulk_end(st, err);
      if (rc == RT_EEXISTS) {
        /* two rows of one order were not adjacent: import again the careful way */
        const char *rejects_path = im.rejects_path;
        rt_store_rollback(st);
        importer_free(&im);
        importer_init(&im, opts, res, err);
        im.st = st;
        im.rejects_path = rejects_path;
        rt_error_clear(err);
        try_bulk = 0;
        continue;
      }
    }
    if (!rc)
      rc = rt_store_import_finish(st, im.import_id, res->rows, res->stored, res->skipped, err);
    if (!rc)
      rc = rt_store_commit(st, err);
    if (rc)
      rt_store_rollback(st);
    break;
  }
  res->import_id = rc ? 0 : im.import_id;
  importer_free(&im);
  return rc;
}

/* ---- reading a large orders file into a model with two threads ----
 * The file is mapped and cut in two at a line end; each half is read by its own importer into
 * a thread-local row buffer with its own customer map; the halves are then joined into the
 * builder. The cut is proven to be a record boundary when the first half reads cleanly to its
 * end (a cut inside a quoted field leaves that half with an unterminated quote). Any error
 * sends the caller back to the one-thread path, which reports it with its exact line. */

#define PAR_MIN_BYTES (8u << 20)
#define PAR_THREADS 2

typedef struct par_part {
  importer im;
  rowbuf rows;
  rt_import_result res;
  rt_error err;
  const char *data;
  size_t len;
  int rc;
} par_part;

/* ---- the fast row loop for simple parts ----
 * Most order exports are plain: one character between fields, no quotes, ASCII,
 * LF line ends, an amount column and no line items. For such a part, the rows
 * are cut and read here directly, without building CSV records, with exactly
 * the rules of order_row (the same parsers, trimming, id normalisation and
 * order grouping). Anything else - a ragged row, a bad value, an order spread
 * over two customers - returns RT_EPARSE without a message: the whole file is
 * then read again by the one-thread path, which reports the error with its
 * place. */

/* Whether the importer's columns allow the fast loop, and this part's bytes
 * too. */
static int fast_qualifies(const importer *im, const char *data, size_t len) {
  const rt_import_opts *o = im->o;
  const int *idx = im->cm.idx;
  if (o->kind != RT_IMPORT_ORDERS || !im->rows || o->csv.whitespace ||
      o->csv.encoding != RT_ENC_UTF8 || o->no_header || idx[RT_COL_CUSTOMER] < 0 ||
      idx[RT_COL_EMAIL] >= 0 || idx[RT_COL_DATE] < 0 || idx[RT_COL_AMOUNT] < 0 ||
      idx[RT_COL_PRICE] >= 0 || idx[RT_COL_QUANTITY] >= 0 || idx[RT_COL_PRODUCT] >= 0 ||
      idx[RT_COL_NAME] >= 0 || im->cm.nheader < 1 || im->cm.nheader > 64)
    return 0;
  /* no quote, no CR, no NUL, ASCII only (so nothing to validate as UTF-8, and every id is
   * already NFC: see rt__id_check): one pass over the part */
  size_t i = 0;
#ifdef __SSE2__
  const __m128i vq = _mm_set1_epi8('"'), vr = _mm_set1_epi8('\r'), v0 = _mm_setzero_si128();
  for (; i + 64 <= len; i += 64) {
    __m128i bad = _mm_setzero_si128();
    for (int k = 0; k < 64; k += 16) {
      __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(data + i + k));
      /* a byte >= 0x80 has its top bit set; a quote, CR or NUL compares to 0xFF */
      bad = _mm_or_si128(bad, _mm_or_si128(x, _mm_or_si128(_mm_cmpeq_epi8(x, vq),
                                                             _mm_cmpeq_epi8(x, vr))));
      bad = _mm_or_si128(bad, _mm_cmpeq_epi8(x, v0));
    }
    if (_mm_movemask_epi8(bad))
      return 0;
  }
#endif
  for (; i < len; i++) {
    unsigned char c = (unsigned char)data[i];
    if (c >= 0x80 || c == '"' || c == '\r' || c == 0)
      return 0;
  }
  return 1;
}

/* Cuts the line at p into fields at each delim, up to the '\n' (or end): fills f/l, sets *nl
 * to the line end and returns the number of fields, or -1 past max. Sixteen bytes at a time:
 * one compare finds every delimiter and the line end among them. */
static int split_line(const char *p, const char *end, char delim, int max, const char **f,
                      size_t *l, const char **nl) {
  int k = 0;
  const char *a = p, *q = p;
#ifdef __SSE2__
  const __m128i vd = _mm_set1_epi8(delim), vn = _mm_set1_epi8('\n');
  while (end - q >= 16) {
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)q);
    unsigned m = (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(x, vd), _mm_cmpeq_epi8(x, vn)));
    while (m) {
      const char *c = q + __builtin_ctz(m);
      m &= m - 1;
      if (k == max)
        return -1;
      f[k] = a;
      l[k] = (size_t)(c - a);
      k++;
      a = c + 1;
      if (*c == '\n') {
        *nl = c;
        return k;
      }
    }
    q += 16;
  }
#endif
  for (;; q++) {
    if (q == end || *q == delim || *q == '\n') {
      if (k == max)
        return -1;
      f[k] = a;
      l[k] = (size_t)(q - a);
      k++;
      a = q + 1;
      if (q == end || *q == '\n') {
        *nl = q;
        return k;
      }
    }
  }
}

/* The fast loop's pending order (its id points into the data), and the ids of
 * the part's first and last orders. */
typedef struct fast_pending {
  const char *id;
  size_t len;
  int64_t cust, ts, amount;
  char cur[4];
  const char *first_id, *last_id;
  size_t first_len, last_len;
} fast_pending;

static int fast_push(importer *im, fast_pending *po) {
  if (rowbuf_push(im->rows, (uint32_t)po->cust, po->ts, po->amount, po->cur, 0))
    return RT_ENOMEM;
  if (im->rows->n == 1) {
    po->first_id = po->id;
    po->first_len = po->len;
  }
  po->last_id = po->id;
  po->last_len = po->len;
  return 0;
}

atomic_long rt__import_fast_parts;

/* resolve_customer, with the common case (a number, deferred) inline. */
static inline int fast_customer(importer *im, const char *key, size_t len, int64_t ts,
                                int64_t *out) {
  int64_t v;
  if (im->defer_numbers && (v = rt__strmap_number(key, len)) >= 0) {
    *out = defer_number(im, (uint32_t)v);
    return 0;
  }
  return resolve_customer(im, key, len, ts, NULL, out);
}

static int fast_orders(importer *im, const char *data, size_t len) {
  const int *idx = im->cm.idx;
  const int nh = im->cm.nheader, ci = idx[RT_COL_CUSTOMER], di = idx[RT_COL_DATE],
            ai = idx[RT_COL_AMOUNT], oi = idx[RT_COL_ORDER], ui = idx[RT_COL_CURRENCY];
  const char delim = im->o->csv.delimiter ? im->o->csv.delimiter : ',';
  const char *f[64];
  size_t l[64];
  fast_pending po = {0};
  int active = 0;
  uint64_t rows = 0, merged = 0, next_release = 65536;
  char cur[4], cur_raw[3];
  int have_cur = 0, cur_exp = 2;
  rt_error e;
  const char *p = data, *end = data + len;
  while (p < end) {
    if (*p == '\n') { /* a blank line is no record */
      p++;
      continue;
    }
    const char *nl = end;
    int k = split_line(p, end, delim, nh, f, l, &nl);
    if (k != nh)
      return RT_EPARSE;
    rows++;
    /* customer: trimmed, "17850.0" read as "17850" */
    size_t klen = l[ci];
    const char *key = rt__trim(f[ci], &klen);
    if (!klen)
      return RT_EPARSE;
    klen = id_without_zero_fraction(key, klen);
    /* time */
    size_t n = l[di];
    const char *x = rt__trim(f[di], &n);
    int64_t ts;
    if (!n || rt_date_parse(im->fmt, x, n, im->o->tz, &ts, &e) || ts > im->latest_ms)
      return RT_EPARSE; /* the careful reader says what is wrong */
    /* currency: mostly the same three letters as the row before */
    n = ui >= 0 ? l[ui] : 0;
    x = ui >= 0 ? rt__trim(f[ui], &n) : NULL;
    if (!have_cur || n != 3 || memcmp(x, cur_raw, 3) != 0) {
      if (!currency_code(im, x, n, cur))
        return RT_EPARSE;
      cur_exp = rt_currency_exponent(cur);
      have_cur = n == 3;
      if (have_cur)
        memcpy(cur_raw, x, 3);
    }
    /* amount */
    n = l[ai];
    x = rt__trim(f[ai], &n);
    int64_t amount;
    if (!n || rt__parse_money(x, n, cur_exp, &amount))
      return RT_EPARSE;
    /* order id: a further line of the pending order, or a new order */
    size_t olen = oi >= 0 ? l[oi] : 0;
    const char *oid = oi >= 0 ? rt__trim(f[oi], &olen) : NULL;
    int64_t cust;
    /* ids of neighbouring orders mostly differ in their last byte: compared first */
    if (olen && active && po.len == olen && po.id[olen - 1] == oid[olen - 1] &&
        memcmp(po.id, oid, olen - 1) == 0) {
      if (fast_customer(im, key, klen, ts, &cust) || cust != po.cust ||
          memcmp(cur, po.cur, 4) != 0 || rt__money_add(&po.amount, amount))
        return RT_EPARSE;
      merged++;
    } else {
      if (active && fast_push(im, &po))
        return RT_ENOMEM;
      if (fast_customer(im, key, klen, ts, &cust))
        return RT_EPARSE;
      active = 1;
      po.id = olen ? oid : NULL;
      po.len = olen;
      po.cust = cust;
      po.ts = ts;
      po.amount = amount;
      memcpy(po.cur, cur, 4);
    }
    p = nl + 1;
    if (rows >= next_release) {
      next_release += 65536;
      release_pages_before(im, (size_t)(p - data));
    }
  }
  if (active && fast_push(im, &po))
    return RT_ENOMEM;
  /* the order ids at the part's ends, to join an order cut in two (as
   * flush_order hashes) */
  im->rows->first_oid =
      po.first_id && po.first_len ? rt__hash_bytes(po.first_id, po.first_len) | 1 : 0;
  im->rows->last_oid = po.last_id && po.last_len ? rt__hash_bytes(po.last_id, po.last_len) | 1 : 0;
  im->res->rows += (int64_t)rows;
  im->res->merged += (int64_t)merged;
  atomic_fetch_add(&rt__import_fast_parts, 1);
  return 0;
}

static void *par_main(void *arg) {
  par_part *p = arg;
  if (fast_qualifies(&p->im, p->data, p->len)) {
    p->rc = fast_orders(&p->im, p->data, p->len);
  } else {
    p->rc = rt_csv_open_mem(p->data, p->len, p->im.file, &p->im.o->csv, &p->im.csv, &p->err);
    if (!p->rc)
      p->rc = run_records(&p->im, NULL);
  }
  /* a part that may be ranked waits for the others' verdict (par_join) */
  if (!p->rc && p->im.deferred_any && !p->im.rank_ok)
    p->rc = resolve_deferred(&p->im);
  return NULL;
}

static void resolve_part(void *arg) {
  par_part *p = arg;
  if (!p->rc && p->im.deferred_any)
    p->rc = resolve_deferred(&p->im);
}

/* Numbering by rank: the customers' map is built on one thread while the rows are numbered
 * on the other (the rows need only the bit set and the counts before each word). */
typedef struct rank_job {
  int what; /* 0: the map, 1: the rows of every part */
  par_part *parts;
  int nparts;
  const uint64_t *seen;
  size_t words;
  const uint32_t *before; /* set bits in the words before each word */
  rt__strmap *ids;
  int rc;
} rank_job;

static inline uint32_t rank_of(const rank_job *j, uint32_t v) {
  uint64_t below = j->seen[v >> 6] & ((UINT64_C(1) << (v & 63)) - 1);
  return j->before[v >> 6] + (uint32_t)rt__popcount64(below);
}

static void rank_run(void *arg) {
  rank_job *j = arg;
  if (j->what == 0) {
    j->rc = rt__strmap_from_numbers(j->ids, j->seen, j->words);
    return;
  }
  for (int t = 0; t < j->nparts; t++) {
    rowbuf *r = &j->parts[t].rows;
    for (size_t i = 0; i < r->n; i++)
      r->cust[i] = rank_of(j, r->cust[i] & ~DEFERRED);
    pending *pd = &j->parts[t].im.pend;
    if (pd->active && ((uint64_t)pd->customer & DEFERRED))
      pd->customer = rank_of(j, (uint32_t)pd->customer & ~DEFERRED);
    j->parts[t].im.deferred_any = 0;
  }
}

/* When every customer id of every part is a number (the common export), the customers are
 * numbered in numeric order: the parts' bit sets of the numbers seen are joined, and each
 * number's index is its rank (the set bits before it). No per-part map and no join of maps;
 * every lookup hits a bit set small enough for the cache. */
static int rank_customers(par_part *parts, int nparts, rt_model_builder *b) {
  importer *im0 = &parts[0].im;
  size_t words = 0;
  for (int t = 0; t < nparts; t++)
    if (parts[t].im.seen_words > words)
      words = parts[t].im.seen_words;
  if (!words)
    return 0;
  if (im0->seen_words < words && !seen_grow(im0, words - 1))
    return RT_ENOMEM;
  for (int t = 1; t < nparts; t++)
    for (size_t k = 0; k < parts[t].im.seen_words; k++)
      im0->seen[k] |= parts[t].im.seen[k];
  uint32_t *before = rt_malloc(words * sizeof *before);
  if (!before)
    return RT_ENOMEM;
  uint32_t n = 0;
  for (size_t k = 0; k < words; k++) {
    before[k] = n;
    n += (uint32_t)rt__popcount64(im0->seen[k]);
  }
  rt__strmap ids;
  rt__strmap_init(&ids);
  rank_job jobs[2];
  for (int k = 0; k < 2; k++)
    jobs[k] = (rank_job){k, parts, nparts, im0->seen, words, before, &ids, 0};
  rt__parallel(2, rank_run, jobs, sizeof jobs[0]);
  int rc = jobs[0].rc;
  if (!rc)
    rc = rt__model_builder_adopt_ids(b, &ids);
  rt__strmap_free(&ids);
  if (!rc)
    rc = rt__model_builder_sync_ids(b);
  rt_free(before);
  return rc;
}

static int par_join(par_part *parts, int nparts, rt_model_builder *b, rt_import_result *res) {
  int rc = 0;
  uint32_t *map[PAR_THREADS] = {0};
  int rank = 1;
  for (int t = 0; t < nparts; t++)
    rank &= parts[t].im.rank_ok;
  if (rank) {
    rc = rank_customers(parts, nparts, b);
  } else {
    /* the parts that waited resolve their numbers now, side by side */
    rt__parallel(nparts, resolve_part, parts, sizeof parts[0]);
    for (int t = 0; t < nparts && !rc; t++)
      rc = parts[t].rc;
    /* the first part's customers become the builder's as they are (same order, same
     * indexes); the others' are looked up or added */
    if (!rc)
      rc = rt__model_builder_adopt_ids(b, &parts[0].im.cust);
  }
  rt__strmap *ids = rt__model_builder_ids(b);
  for (int t = 1; t < nparts && !rc && !rank; t++) {
    rt__strmap *m = &parts[t].im.cust;
    map[t] = rt_malloc((m->count ? m->count : 1) * sizeof *map[t]);
    if (!map[t]) {
      rc = RT_ENOMEM;
      break;
    }
    rc = rt__strmap_merge(ids, m, map[t]);
  }
  if (!rc)
    rc = rt__model_builder_sync_ids(b);
  rt__trace("read: customers joined");
#define GLOBAL_CUST(t, c) (map[t] ? map[t][c] : (c))
  /* an order whose lines straddle a cut: add the part's first group to the previous part's
   * last one, and skip it */
  size_t skip[PAR_THREADS] = {0};
  for (int t = 1; t < nparts && !rc; t++) {
    rowbuf *r = &parts[t].rows, *prev = &parts[t - 1].rows;
    if (r->n && r->first_oid && prev->n && prev->last_oid == r->first_oid &&
        GLOBAL_CUST(t - 1, prev->cust[prev->n - 1]) == GLOBAL_CUST(t, r->cust[0])) {
      prev->nneg -= prev->amount[prev->n - 1] < 0;
      prev->amount[prev->n - 1] += r->amount[0];
      prev->nneg += prev->amount[prev->n - 1] < 0;
      r->nneg -= r->amount[0] < 0;
      skip[t] = 1;
      res->merged++;
    }
  }
#undef GLOBAL_CUST
  /* the row buffers (and maps) go to the builder, which groups them when the model is built */
  rt__rowset sets[PAR_THREADS];
  memset(sets, 0, sizeof sets);
  for (int t = 0; t < nparts; t++) {
    rowbuf *r = &parts[t].rows;
    if (!r->mixed) { /* one currency: the set carries its code instead of a column */
      rt_free(r->cur);
      r->cur = NULL;
    }
    sets[t] = (rt__rowset){skip[t], r->n, r->cust, map[t], r->ts, r->amount, r->cur, r->cur1};
    res->stored += (int64_t)(r->n - skip[t]);
    res->refunds += (int64_t)r->nneg;
    r->cust = r->cur = NULL;
    r->ts = r->amount = NULL;
    r->n = r->cap = r->nneg = 0;
    map[t] = NULL;
  }
  if (!rc)
    rc = rt__model_builder_take(b, sets, nparts);
  else
    for (int t = 0; t < nparts; t++) {
      rt_free(sets[t].cust);
      rt_free(sets[t].map);
      rt_free(sets[t].ms);
      rt_free(sets[t].amount);
      rt_free(sets[t].cur);
    }
  rt__trace("read: rows joined");
  for (int t = 0; t < nparts; t++)
    rt_free(map[t]);
  return rc;
}
/* Returns 0 when the parallel read worked, RT_EUNSUPPORTED when the file does not qualify or
 * anything went wrong (the caller then reads it the one-thread way). */
static int read_orders_parallel(const char *path, const rt_import_opts *opts, rt_model_builder *b,
                                rt_import_result *res) {
  if (opts->skip_bad || opts->no_header || strcmp(path, "-") == 0)
    return RT_EUNSUPPORTED;
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return RT_EUNSUPPORTED;
  struct stat sb;
  if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) || (size_t)sb.st_size < PAR_MIN_BYTES) {
    close(fd);
    return RT_EUNSUPPORTED;
  }
  size_t size = (size_t)sb.st_size;
  const char *data = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (data == MAP_FAILED)
    return RT_EUNSUPPORTED;
  madvise((void *)data, size, MADV_SEQUENTIAL);
  int rc = RT_EUNSUPPORTED;
  par_part parts[PAR_THREADS];
  int nparts = 0;
  memset(parts, 0, sizeof parts);
  /* the header: the first line, which must hold no quoted line break */
  const char *nl = memchr(data, '\n', size);
  if (!nl || memchr(data, '"', (size_t)(nl - data)))
    goto out;
  size_t body = (size_t)(nl - data) + 1;
  {
    rt_csv *hc = NULL;
    rt_csv_record hrec;
    rt_error e;
    importer *im0 = &parts[0].im;
    if (importer_init(im0, opts, &parts[0].res, &parts[0].err)) {
      importer_free(im0);
      goto out;
    }
    if (rt_csv_open_mem(data, body, path, &opts->csv, &hc, &e) ||
        rt_csv_next(hc, &hrec, &e) != 1 ||
        rt__colmap_resolve(&im0->cm, opts->kind, &hrec, opts, path, &e)) {
      rt_csv_close(hc);
      importer_free(im0);
      goto out;
    }
    rt_csv_close(hc);
    set_need_fields(im0);
  }
  size_t cut = body + (size - body) / 2;
  const char *c = memchr(data + cut, '\n', size - cut);
  size_t bounds[PAR_THREADS + 1] = {body, c ? (size_t)(c - data) + 1 : size, size};
  nparts = PAR_THREADS;
  for (int t = 0; t < nparts; t++) {
    par_part *p = &parts[t];
    if (t > 0) {
      importer_init(&p->im, opts, &p->res, &p->err);
      p->im.cm = parts[0].im.cm; /* shared, read-only; freed with part 0 */
      p->im.cm.names = NULL;
      p->im.cm.nheader = parts[0].im.cm.nheader;
      p->im.need_fields = parts[0].im.need_fields;
    }
    p->im.err = &p->err;
    p->im.res = &p->res;
    p->im.rows = &p->rows;
    p->im.defer_numbers = 1;
    p->im.rank_ok = 1;
    p->im.file = path;
    p->im.mapped = data + bounds[t];
    p->data = data + bounds[t];
    p->len = bounds[t + 1] - bounds[t];
    /* room for the rows the part probably holds (lines in its first MiB, scaled), so the
     * buffers are not copied while they grow */
    size_t sample = p->len < ((size_t)1 << 20) ? p->len : (size_t)1 << 20, lines = 0;
    for (const char *q = p->data, *e = p->data + sample; (q = memchr(q, '\n', (size_t)(e - q)));
         q++)
      lines++;
    if (lines && rowbuf_reserve(&p->rows, (size_t)((double)p->len / (double)sample *
                                                   (double)lines * 1.05) + 1024))
      goto out;
  }
  rt__trace("read: two threads start");
  pthread_t th[PAR_THREADS];
  int started[PAR_THREADS] = {0};
  for (int t = 1; t < nparts; t++)
    started[t] = pthread_create(&th[t], NULL, par_main, &parts[t]) == 0;
  par_main(&parts[0]);
  for (int t = 1; t < nparts; t++) {
    if (started[t])
      pthread_join(th[t], NULL);
    else
      par_main(&parts[t]);
  }
  int ok = 1;
  for (int t = 0; t < nparts; t++)
    ok &= parts[t].rc == 0;
  if (ok) {
    memset(res, 0, sizeof *res);
    for (int t = 0; t < nparts; t++) {
      res->rows += parts[t].res.rows;
      res->merged += parts[t].res.merged;
    }
    rt__trace("read: parsed");
    rc = par_join(parts, nparts, b, res) ? RT_ENOMEM : 0;
  }
out:
  for (int t = nparts - 1; t >= 0; t--)
    importer_free(&parts[t].im);
  for (int t = 0; t < PAR_THREADS; t++)
    rowbuf_free(&parts[t].rows);
  munmap((void *)data, size);
  return rc;
}

int rt_import_orders_to_model(const char *path, const rt_import_opts *opts,
                              rt_model_builder *b, rt_import_result *res, rt_error *err) {
  if (opts->kind == RT_IMPORT_ORDERS && opts->threads != 1) {
    int rc = read_orders_parallel(path, opts, b, res);
    if (rc != RT_EUNSUPPORTED)
      return rc ? rt_error_set(err, rc, "%s: %s", path, rt_strerror(rc)) : 0;
  }
  rt_error local;
  if (!err)
    err = &local;
  rt_error_clear(err);
  importer im;
  int rc = importer_init(&im, opts, res, err);
  if (!rc && opts->kind != RT_IMPORT_ORDERS)
    rc = rt_error_set(err, RT_EINVAL, "only orders files can be read without a store");
  if (!rc) {
    im.mb = b;
    rc = run(&im, path);
  }
  importer_free(&im);
  return rc;
}
