/* csv.c - the streaming CSV reader of include/retain/csv.h.
 *
 * One parser serves memory and files. A record is parsed from its first byte to its line end by
 * a pass that only looks and notes where each field lies. Plain records (no quote, no byte
 * >= 0x80, LF or CRLF) take a fast path: SSE2 turns 64 bytes at a time into bit masks of
 * delimiters and of other special bytes, and the field ends are the delimiter bits before the
 * first line end. Everything else goes through a general loop that scans 16 bytes at a time for
 * the next special byte and checks UTF-8 where it finds a byte >= 0x80 (SWAR 8 bytes at a time
 * without SSE2). The fields are then cut where they are: in a file's own buffer the byte after
 * each field becomes its NUL; memory input, which is not ours to write, is copied one record at
 * a time into a small buffer. Doubled quotes and Latin-1 bytes take a slower copying path. A
 * record cut by the end of a file chunk is parsed again from its start once the next chunk is
 * in the buffer, so the buffer holds the largest record and never the whole file. */
#include <retain/alloc.h>
#include <retain/csv.h>

#include "internal.h"
#include "io/csv_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#define CSV_SSE2 1
#else
#define CSV_SSE2 0
#endif

#define CHUNK_DEFAULT ((size_t)4 << 20)
#define SLACK 8 /* bytes past the data in a file buffer: room for the last field's NUL */

enum { MORE = 1 };

#if CSV_SSE2
#define RESET_FBLK(c) ((c)->fblk = NULL)
#else
#define RESET_FBLK(c) ((void)0)
#endif /* the parse needs more bytes than are in the buffer */

/* The bytes that stop a scan: five of them (repeated to fill) and, for the scalar tail, a
 * table of them plus every byte >= 0x80. */
typedef struct scanner {
  unsigned char ch[5];
  unsigned char stop[256];
} scanner;

/* The stop bytes of the 64-byte block at blk (bit i: blk[i]); blk is NULL when none is known.
 * A block is always wholly inside the data. */
typedef struct stops {
  const unsigned char *blk;
  uint64_t m;
} stops;

struct rt_csv {
  const unsigned char *data; /* the input (memory) or buf (file) */
  size_t n;                  /* bytes in data */
  size_t pos;                /* where the next record starts in data */
  int eof;                   /* data holds everything up to the end of input */
  int is_mem;
  int bom_done;
  int fd, close_fd;
  unsigned char *buf; /* file buffer: cap bytes, of which SLACK are kept free */
  size_t cap, chunk;
  uint64_t base;  /* offset in the file of buf[0] */
  uint64_t total; /* input size, 0 when unknown */
  unsigned char delim;
  int ws, latin1;
  uint64_t line; /* line at pos */
  char *name;
  scanner unq, quo; /* in an unquoted field; in a quoted one */
  stops st;          /* of unquoted fields; reset when the buffer moves */
#if CSV_SSE2
  __m128i v_delim, v_nl, v_cr, v_quote; /* for classify64 */
  const unsigned char *fblk;            /* the fast path's last block (NULL: none) and its */
  uint64_t fdm, fsm;                    /* masks; reset when the buffer moves */
#endif
  char **fields;
  size_t *lens, *offs, fcap; /* offs: field start from the record start, while parsing */
  unsigned char *out;        /* copies of records from memory and of unescaped fields */
  size_t outcap;
  int failed; /* a parse or read error: every later call repeats it */
  char failmsg[sizeof(((rt_error *)0)->msg)];
};

/* What parse_record found besides the fields. */
typedef struct parsed {
  size_t nf;
  int slow;                  /* some field needs unescaping or Latin-1 conversion */
  const unsigned char *next; /* just past the record's line end */
  uint64_t line;             /* line at next */
} parsed;

static void scanner_init(scanner *sc, const char *chars) {
  size_t k = strlen(chars);
  assert(k >= 1 && k <= 5);
  memset(sc->stop, 0, sizeof sc->stop);
  for (size_t i = 0; i < 5; i++)
    sc->ch[i] = (unsigned char)chars[i < k ? i : 0];
  for (size_t i = 0; i < k; i++)
    sc->stop[(unsigned char)chars[i]] = 1;
  for (int b = 0x80; b < 0x100; b++)
    sc->stop[b] = 1;
}

#if CSV_SSE2
typedef struct vecset {
  __m128i a, b, c, d, e;
} vecset;

static inline vecset vecset_of(const scanner *sc) {
  vecset v;
  v.a = _mm_set1_epi8((char)sc->ch[0]);
  v.b = _mm_set1_epi8((char)sc->ch[1]);
  v.c = _mm_set1_epi8((char)sc->ch[2]);
  v.d = _mm_set1_epi8((char)sc->ch[3]);
  v.e = _mm_set1_epi8((char)sc->ch[4]);
  return v;
}

/* Bit i set when p[i] is a stop byte, for i < 16; the fifth byte is only compared when five
 * (the first four are all a CSV scanner needs). */
static inline unsigned mask16(const vecset *v, const unsigned char *p, int five) {
  __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
  __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, v->a), _mm_cmpeq_epi8(x, v->b)),
                           _mm_or_si128(_mm_cmpeq_epi8(x, v->c), _mm_cmpeq_epi8(x, v->d)));
  if (five)
    m = _mm_or_si128(m, _mm_cmpeq_epi8(x, v->e));
  return (unsigned)_mm_movemask_epi8(_mm_or_si128(m, x)); /* x: bytes >= 0x80 */
}

static inline uint64_t mask64(const vecset *v, const unsigned char *p, int five) {
  return (uint64_t)mask16(v, p, five) | (uint64_t)mask16(v, p + 16, five) << 16 |
         (uint64_t)mask16(v, p + 32, five) << 32 | (uint64_t)mask16(v, p + 48, five) << 48;
}

/* The first stop byte in [p, end), or end. */
static inline const unsigned char *scan(const scanner *sc, const vecset *v,
                                        const unsigned char *p, const unsigned char *end) {
  while (end - p >= 16) {
    unsigned mask = mask16(v, p, 1);
    if (mask)
      return p + __builtin_ctz(mask);
    p += 16;
  }
  while (p < end && !sc->stop[*p])
    p++;
  return p;
}
#else
/* Without SSE2: eight bytes at a time (SWAR) on little-endian machines, else byte by byte. */
typedef struct vecset {
  uint64_t r[5];
} vecset;

static inline vecset vecset_of(const scanner *sc) {
  vecset v;
  for (int i = 0; i < 5; i++)
    v.r[i] = 0x0101010101010101ull * sc->ch[i];
  return v;
}

static inline uint64_t zero_bytes(uint64_t x) {
  return (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;
}

static inline const unsigned char *scan(const scanner *sc, const vecset *v,
                                        const unsigned char *p, const unsigned char *end) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  while (end - p >= 8) {
    uint64_t x;
    memcpy(&x, p, 8);
    /* the lowest flagged byte of each term is exact, so the lowest of their union is too */
    uint64_t m = (x & 0x8080808080808080ull) | zero_bytes(x ^ v->r[0]) | zero_bytes(x ^ v->r[1]) |
                 zero_bytes(x ^ v->r[2]) | zero_bytes(x ^ v->r[3]) | zero_bytes(x ^ v->r[4]);
    if (m)
      return p + (__builtin_ctzll(m) >> 3);
    p += 8;
  }
#else
  (void)v;
#endif
  while (p < end && !sc->stop[*p])
    p++;
  return p;
}
#endif

/* The first stop byte of an unquoted field in [p, end), or end. With SSE2 the stop bytes of a
 * whole 64-byte block are found at once and the block's mask is kept (in st, and across
 * records in the reader) so that the next fields of the block cost a shift and a bit scan. */
static inline const unsigned char *next_stop(stops *st, const scanner *sc, const vecset *v,
                                             int five, const unsigned char *p,
                                             const unsigned char *end) {
#if CSV_SSE2
  for (;;) {
    if (st->blk) {
      size_t off = (size_t)(p - st->blk);
      if (off < 64) {
        uint64_t m = st->m >> off;
        if (m)
          return p + __builtin_ctzll(m);
        p = st->blk + 64;
      }
    }
    if (end - p < 64)
      return scan(sc, v, p, end);
    st->blk = p;
    st->m = mask64(v, p, five);
  }
#else
  (void)st;
  (void)five;
  return scan(sc, v, p, end);
#endif
}

#if CSV_SSE2
/* The delimiters among the 64 bytes at p, as bits, into *dm; returns the bits of the other
 * bytes a plain field cannot hold: '"', '\n', '\r' and every byte >= 0x80. */
static inline uint64_t classify64(const rt_csv *c, const unsigned char *p, uint64_t *dm) {
  uint64_t d = 0, s = 0;
  for (int k = 0; k < 4; k++) {
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
    __m128i o = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, c->v_nl), _mm_cmpeq_epi8(x, c->v_cr)),
                             _mm_or_si128(_mm_cmpeq_epi8(x, c->v_quote), x));
    d |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, c->v_delim)) << (16 * k);
    s |= (uint64_t)(unsigned)_mm_movemask_epi8(o) << (16 * k);
  }
  *dm = d;
  return s;
}
#endif

/* Length of the valid UTF-8 sequence at p (2 to 4), 0 when it is invalid, -1 when end cuts it
 * short. Overlong forms, surrogates and code points past U+10FFFF are invalid. */
static int utf8_seq(const unsigned char *p, const unsigned char *end) {
  unsigned b = p[0], lo = 0x80, hi = 0xBF;
  int n;
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3;
    if (b == 0xE0)
      lo = 0xA0;
    else if (b == 0xED)
      hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4;
    if (b == 0xF0)
      lo = 0x90;
    else if (b == 0xF4)
      hi = 0x8F;
  } else {
    return 0;
  }
  for (int i = 1; i < n; i++) {
    if (end - p <= i)
      return -1;
    if (p[i] < lo || p[i] > hi)
      return 0;
    lo = 0x80;
    hi = 0xBF;
  }
  return n;
}

/* Records a parse or read error in c (so later calls repeat it) and in err. */
static int fail(rt_csv *c, rt_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int fail(rt_csv *c, rt_error *err, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->failmsg, sizeof c->failmsg, fmt, ap);
  va_end(ap);
  c->failed = code;
  return rt_error_set(err, code, "%s", c->failmsg);
}

/* "NAME:LINE:COL: reason" for the byte at `at` on the line that starts at ls. Columns count
 * characters: every byte of Latin-1, every byte but continuation bytes of UTF-8 (which is
 * valid up to `at`, or the parse would have stopped earlier). */
static int fail_at(rt_csv *c, rt_error *err, uint64_t line, const unsigned char *ls,
                   const unsigned char *at, const char *reason) {
  uint64_t col = 1;
  for (const unsigned char *p = ls; p < at; p++)
    col += c->latin1 || (*p & 0xC0) != 0x80;
  return fail(c, err, RT_EPARSE, "%s:%llu:%llu: %s", c->name, (unsigned long long)line,
              (unsigned long long)col, reason);
}

static int fail_utf8(rt_csv *c, rt_error *err, uint64_t line, const unsigned char *ls,
                     const unsigned char *at) {
  char reason[128];
  snprintf(reason, sizeof reason,
           "invalid UTF-8 byte 0x%02X (use --encoding latin1 if the file is Latin-1)", *at);
  return fail_at(c, err, line, ls, at, reason);
}

static int nomem(rt_csv *c, rt_error *err) {
  return rt_error_set(err, RT_ENOMEM, "%s: out of memory", c->name);
}

static int grow_fields(rt_csv *c, rt_error *err) {
  size_t cap = c->fcap ? c->fcap * 2 : 16;
  char **f = rt_reallocarray(c->fields, cap, sizeof *f);
  if (!f)
    return nomem(c, err);
  c->fields = f;
  size_t *l = rt_reallocarray(c->lens, cap, sizeof *l);
  if (!l)
    return nomem(c, err);
  c->lens = l;
  size_t *o = rt_reallocarray(c->offs, cap, sizeof *o);
  if (!o)
    return nomem(c, err);
  c->offs = o;
  c->fcap = cap;
  return 0;
}

static int reserve_out(rt_csv *c, size_t need, rt_error *err) {
  if (need <= c->outcap)
    return 0;
  size_t cap = c->outcap ? c->outcap : 256;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  unsigned char *o = rt_realloc(c->out, cap);
  if (!o)
    return nomem(c, err);
  c->out = o;
  c->outcap = cap;
  return 0;
}

static inline int blank(unsigned char b) { return b == ' ' || b == '\t'; }

/* Parses the record that starts at s (a line start; blank lines are already skipped). Returns
 * 0 with the fields in c->offs/c->lens (raw: quotes removed, doubled quotes not yet undone),
 * MORE when the bytes up to end do not decide the record and more input may come, or a
 * negative error code. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline int parse_record(rt_csv *c, const unsigned char *s, const unsigned char *end,
                               int eof, parsed *pr, rt_error *err, const int ws) {
  const unsigned char *p = s, *ls = s; /* ls: start of the current line, for columns */
  const unsigned char delim = c->delim;
  const int latin1 = c->latin1;
  uint64_t line = c->line;
  size_t nf = 0, fcap = c->fcap;
  size_t *offs = c->offs, *lens = c->lens;
  int slow = 0;

#define NEED_FIELD()                 \
  do {                               \
    if (nf == fcap) {                \
      if (grow_fields(c, err))       \
        return RT_ENOMEM;            \
      fcap = c->fcap;                \
      offs = c->offs;                \
      lens = c->lens;                \
    }                                \
  } while (0)

#if CSV_SSE2
  if (!ws) {
    /* The fast path, for records of plain fields that end in LF or CRLF: 64 bytes at a time,
     * the delimiters' bits are the field ends. Anything else (a quote, a byte >= 0x80, a lone
     * CR, the last 63 bytes of the data) hands the record over, from the current field on, to
     * the general loop below. */
    const unsigned char *blk;
    uint64_t dm0, sm0, dm, sm;
    size_t f = 0; /* start of the current field, from s */
    if (c->fblk && (size_t)(s - c->fblk) < 64) {
      /* the previous record ended in this block: its masks are known */
      unsigned off = (unsigned)(s - c->fblk);
      blk = c->fblk;
      dm0 = c->fdm;
      sm0 = c->fsm;
      dm = dm0 & (~(uint64_t)0 << off);
      sm = sm0 & (~(uint64_t)0 << off);
    } else if (end - s >= 64) {
      blk = s;
      sm = sm0 = classify64(c, blk, &dm0);
      dm = dm0;
    } else {
      goto general;
    }
    for (;;) {
      unsigned i = sm ? (unsigned)__builtin_ctzll(sm) : 64;
      if (i < 64)
        dm &= ((uint64_t)1 << i) - 1;
      while (dm) {
        size_t at = (size_t)(blk + __builtin_ctzll(dm) - s);
        NEED_FIELD();
        offs[nf] = f;
        lens[nf] = at - f;
        nf++;
        f = at + 1;
        dm &= dm - 1;
      }
      if (i < 64) {
        const unsigned char *q = blk + i;
        if (*q == '\n' || (*q == '\r' && end - q > 1 && q[1] == '\n')) {
          NEED_FIELD();
          offs[nf] = f;
          lens[nf] = (size_t)(q - s) - f;
          nf++;
          p = q + 1 + (*q == '\r');
          line++;
          c->fblk = blk;
          c->fdm = dm0;
          c->fsm = sm0;
          goto done;
        }
        break;
      }
      blk += 64;
      if (end - blk < 64)
        break;
      sm = sm0 = classify64(c, blk, &dm0);
      dm = dm0;
    }
    p = s + f;
  general:;
  }
#endif
  if (ws)
    while (p < end && blank(*p))
      p++;
  const vecset vu = vecset_of(&c->unq);
  stops st = c->st;
  for (;;) {
    NEED_FIELD();
    if (p < end && *p == '"') {
      const unsigned char *q = p, *qls = ls, *f = ++p;
      const vecset vq = vecset_of(&c->quo);
      uint64_t qline = line;
      for (;;) {
        p = scan(&c->quo, &vq, p, end);
        if (p == end) {
          if (!eof)
            return MORE;
          return fail_at(c, err, qline, qls, q, "unterminated quote");
        }
        unsigned char b = *p;
        if (b == '"') {
          if (p + 1 == end && !eof)
            return MORE;
          if (p + 1 < end && p[1] == '"') {
            slow = 1;
            p += 2;
            continue;
          }
          break;
        }
        if (b == '\n' || b == '\r') {
          if (b == '\r') {
            if (p + 1 == end && !eof)
              return MORE;
            if (p + 1 < end && p[1] == '\n')
              p++;
          }
          line++;
          ls = ++p;
          continue;
        }
        if (latin1) {
          slow = 1;
          p++;
          continue;
        }
        int k = utf8_seq(p, end);
        if (k > 0) {
          p += k;
          continue;
        }
        if (k < 0 && !eof)
          return MORE;
        return fail_utf8(c, err, line, ls, p);
      }
      offs[nf] = (size_t)(f - s);
      lens[nf] = (size_t)(p - f);
      nf++;
      p++; /* the closing quote */
      if (p == end) {
        assert(eof); /* else the quote would have waited for the byte after it */
        break;
      }
      if (*p == '\n' || *p == '\r')
        goto eol;
      if (!ws && *p == delim) {
        p++;
        continue;
      }
      if (!ws || !blank(*p))
        return fail_at(c, err, line, ls, p, "text after closing quote");
    } else {
      const unsigned char *f = p;
      for (;;) {
        p = next_stop(&st, &c->unq, &vu, ws, p, end);
        if (p == end || *p < 0x80)
          break;
        if (latin1) {
          slow = 1;
          p++;
          continue;
        }
        int k = utf8_seq(p, end);
        if (k > 0) {
          p += k;
          continue;
        }
        if (k < 0 && !eof)
          return MORE;
        return fail_utf8(c, err, line, ls, p);
      }
      offs[nf] = (size_t)(f - s);
      lens[nf] = (size_t)(p - f);
      nf++;
      if (p == end) {
        if (!eof)
          return MORE;
        break;
      }
      if (!ws && *p == delim) {
        p++;
        continue;
      }
      if (*p == '\n' || *p == '\r')
        goto eol;
      if (*p == '"')
        return fail_at(c, err, line, ls, p, "stray quote in an unquoted field");
      assert(ws && blank(*p));
    }
    /* whitespace mode, after a field: a run of blanks, then a field or the line end */
    while (p < end && blank(*p))
      p++;
    if (p == end) {
      if (!eof)
        return MORE;
      break;
    }
    if (*p == '\n' || *p == '\r')
      goto eol;
  }
  goto done;
eol:
  if (*p == '\r') {
    if (p + 1 == end && !eof)
      return MORE;
    if (p + 1 < end && p[1] == '\n')
      p++;
  }
  p++;
  line++;
  c->st = st;
done:
  pr->nf = nf;
  pr->slow = slow;
  pr->next = p;
  pr->line = line;
  return 0;
#undef NEED_FIELD
}

static int parse_csv(rt_csv *c, const unsigned char *s, const unsigned char *end, int eof,
                     parsed *pr, rt_error *err) {
  return parse_record(c, s, end, eof, pr, err, 0);
}

static int parse_ws(rt_csv *c, const unsigned char *s, const unsigned char *end, int eof,
                    parsed *pr, rt_error *err) {
  return parse_record(c, s, end, eof, pr, err, 1);
}

/* Moves pos past blank lines (and, in whitespace mode, lines of blanks). Returns MORE when the
 * bytes in the buffer do not show whether the line at pos is blank. */
static int skip_blank_lines(rt_csv *c) {
  const unsigned char *d = c->data, *end = d + c->n;
  for (;;) {
    const unsigned char *p = d + c->pos;
    if (c->ws)
      while (p < end && blank(*p))
        p++;
    if (p == end) {
      if (!c->eof)
        return MORE;
      c->pos = c->n;
      return 0;
    }
    if (*p == '\r') {
      if (p + 1 == end && !c->eof)
        return MORE;
      if (p + 1 < end && p[1] == '\n')
        p++;
    } else if (*p != '\n') {
      return 0;
    }
    c->pos = (size_t)(p + 1 - d);
    c->line++;
  }
}

/* Keeps the unread bytes, moved to the front of the buffer, and reads up to a chunk after them
 * (growing the buffer when a record fills it). Sets eof at the end of input. */
static int refill(rt_csv *c, rt_error *err) {
  assert(!c->is_mem && !c->eof);
  if (!c->buf) {
    c->buf = rt_malloc(c->chunk + SLACK);
    if (!c->buf)
      return nomem(c, err);
    c->cap = c->chunk + SLACK;
    c->data = c->buf;
    c->n = c->pos = 0;
  }
  if (c->pos) {
    memmove(c->buf, c->buf + c->pos, c->n - c->pos);
    c->base += c->pos;
    c->st.blk = NULL;
    RESET_FBLK(c);
    c->n -= c->pos;
    c->pos = 0;
  }
  if (c->n == c->cap - SLACK) {
    size_t cap = (c->cap - SLACK) * 2 + SLACK;
    unsigned char *b = rt_realloc(c->buf, cap);
    if (!b)
      return nomem(c, err);
    c->buf = b;
    c->data = b;
    c->st.blk = NULL;
    RESET_FBLK(c);
    c->cap = cap;
  }
  size_t want = RT_MIN(c->chunk, c->cap - SLACK - c->n), got = 0;
  while (got < want) {
    ssize_t r = read(c->fd, c->buf + c->n + got, want - got);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      int e = errno;
      c->n += got;
      return fail(c, err, RT_EIO, "%s:%llu:1: read error: %s", c->name,
                  (unsigned long long)c->line, strerror(e));
    }
    if (r == 0) {
      c->eof = 1;
      break;
    }
    got += (size_t)r;
  }
  c->n += got;
  return 0;
}

/* Undoes doubled quotes and converts Latin-1 while copying every field into c->out. */
static int build_slow(rt_csv *c, const unsigned char *s, size_t nf, rt_error *err) {
  size_t need = nf;
  for (size_t i = 0; i < nf; i++)
    need += c->lens[i] * (c->latin1 ? 2 : 1);
  if (reserve_out(c, need, err))
    return RT_ENOMEM;
  unsigned char *w = c->out;
  for (size_t i = 0; i < nf; i++) {
    const unsigned char *f = s + c->offs[i], *fe = f + c->lens[i];
    c->fields[i] = (char *)w;
    while (f < fe) {
      unsigned char b = *f++;
      if (b == '"') {
        f++; /* a quote inside a field's raw text is always the first of a pair */
        *w++ = b;
      } else if (b >= 0x80 && c->latin1) {
        *w++ = (unsigned char)(0xC0 | (b >> 6));
        *w++ = (unsigned char)(0x80 | (b & 0x3F));
      } else {
        *w++ = b;
      }
    }
    c->lens[i] = (size_t)(w - (unsigned char *)c->fields[i]);
    *w++ = '\0';
  }
  return 0;
}

int rt_csv_next(rt_csv *c, rt_csv_record *rec, rt_error *err) {
  assert(c && rec);
  if (c->failed)
    return rt_error_set(err, c->failed, "%s", c->failmsg);
  parsed pr = {0};
  int rc;
  for (;;) {
    if (!c->bom_done) {
      if (c->n - c->pos < 3 && !c->eof) {
        if ((rc = refill(c, err)) < 0)
          return rc;
        continue;
      }
      if (c->n - c->pos >= 3 && memcmp(c->data + c->pos, "\xEF\xBB\xBF", 3) == 0)
        c->pos += 3;
      c->bom_done = 1;
    }
    rc = skip_blank_lines(c);
    if (rc == 0) {
      if (c->pos == c->n)
        return 0; /* skip_blank_lines only stops at the end at eof */
      rc = (c->ws ? parse_ws : parse_csv)(c, c->data + c->pos, c->data + c->n, c->eof, &pr, err);
      if (rc <= 0)
        break;
    }
    assert(rc == MORE && !c->eof);
    if ((rc = refill(c, err)) < 0)
      return rc;
  }
  if (rc < 0)
    return rc;

  size_t nf = pr.nf;
  assert(nf >= 1);
  const unsigned char *s = c->data + c->pos;
  if (pr.slow) {
    if (build_slow(c, s, nf, err))
      return RT_ENOMEM;
  } else {
    unsigned char *base;
    if (c->is_mem) {
      size_t span = c->offs[nf - 1] + c->lens[nf - 1];
      if (reserve_out(c, span + 1, err))
        return RT_ENOMEM;
      memcpy(c->out, s, span);
      base = c->out;
    } else {
      base = c->buf + c->pos;
    }
    char **fields = c->fields;
    const size_t *offs = c->offs, *lens = c->lens;
    for (size_t i = 0; i < nf; i++) {
      fields[i] = (char *)base + offs[i];
      base[offs[i] + lens[i]] = '\0';
    }
  }
  rec->nfields = nf;
  rec->fields = c->fields;
  rec->lens = c->lens;
  rec->line = c->line;
  c->pos = (size_t)(pr.next - c->data);
  c->line = pr.line;
  return 1;
}

static int create(const char *name, const rt_csv_opts *opts, rt_csv **out, rt_error *err) {
  rt_csv_opts o = {0};
  if (opts)
    o = *opts;
  unsigned char d = o.delimiter ? (unsigned char)o.delimiter : ',';
  if (!o.whitespace && (d == '"' || d == '\n' || d == '\r' || d >= 0x80))
    return rt_error_set(err, RT_EINVAL, "%s: invalid CSV delimiter 0x%02X", name, d);
  if (o.encoding != RT_ENC_UTF8 && o.encoding != RT_ENC_LATIN1)
    return rt_error_set(err, RT_EINVAL, "%s: unknown encoding %d", name, (int)o.encoding);
  rt_csv *c = rt_calloc(1, sizeof *c);
  if (!c)
    return rt_error_set(err, RT_ENOMEM, "%s: out of memory", name);
  c->name = rt_strdup(name);
  if (!c->name) {
    rt_free(c);
    return rt_error_set(err, RT_ENOMEM, "%s: out of memory", name);
  }
  c->data = (const unsigned char *)"";
  c->fd = -1;
  c->chunk = CHUNK_DEFAULT;
  c->delim = d;
  c->ws = o.whitespace != 0;
  c->latin1 = o.encoding == RT_ENC_LATIN1;
  c->line = 1;
  if (c->ws) {
    scanner_init(&c->unq, " \t\"\n\r");
  } else {
    char set[5] = {(char)d, '"', '\n', '\r', 0};
    scanner_init(&c->unq, set);
  }
  scanner_init(&c->quo, "\"\n\r");
#if CSV_SSE2
  c->v_delim = _mm_set1_epi8((char)d);
  c->v_nl = _mm_set1_epi8('\n');
  c->v_cr = _mm_set1_epi8('\r');
  c->v_quote = _mm_set1_epi8('"');
#endif
  *out = c;
  return 0;
}

int rt_csv_open_file(const char *path, const rt_csv_opts *opts, rt_csv **out, rt_error *err) {
  assert(path && out);
  *out = NULL;
  int is_stdin = strcmp(path, "-") == 0;
  rt_csv *c = NULL;
  int rc = create(is_stdin ? "<stdin>" : path, opts, &c, err);
  if (rc)
    return rc;
  if (is_stdin) {
    c->fd = STDIN_FILENO;
  } else {
    c->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (c->fd < 0) {
      rc = rt_error_set(err, RT_EIO, "%s: %s", path, strerror(errno));
      rt_csv_close(c);
      return rc;
    }
    c->close_fd = 1;
  }
  struct stat st;
  if (fstat(c->fd, &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      rc = rt_error_set(err, RT_EIO, "%s: %s", c->name, strerror(EISDIR));
      rt_csv_close(c);
      return rc;
    }
    if (S_ISREG(st.st_mode))
      c->total = (uint64_t)st.st_size;
  }
#if defined(POSIX_FADV_SEQUENTIAL)
  if (c->total)
    (void)posix_fadvise(c->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  *out = c;
  return 0;
}

int rt_csv_open_mem(const char *data, size_t len, const char *name, const rt_csv_opts *opts,
                    rt_csv **out, rt_error *err) {
  assert(out && (data || !len));
  *out = NULL;
  rt_csv *c = NULL;
  int rc = create(name ? name : "<memory>", opts, &c, err);
  if (rc)
    return rc;
  c->is_mem = 1;
  c->eof = 1;
  if (len) {
    c->data = (const unsigned char *)data;
    c->n = len;
  }
  c->total = len;
  *out = c;
  return 0;
}

void rt__csv_set_chunk(rt_csv *c, size_t n) {
  assert(c && n >= 1 && !c->buf);
  c->chunk = n;
}

uint64_t rt_csv_bytes_read(const rt_csv *c) { return c->base + c->pos; }

uint64_t rt_csv_bytes_total(const rt_csv *c) { return c->total; }

const char *rt_csv_name(const rt_csv *c) { return c->name; }

void rt_csv_close(rt_csv *c) {
  if (!c)
    return;
  if (c->close_fd && c->fd >= 0)
    close(c->fd);
  rt_free(c->buf);
  rt_free(c->out);
  rt_free(c->fields);
  rt_free(c->lens);
  rt_free(c->offs);
  rt_free(c->name);
  rt_free(c);
}

/* ---- writing (csv.h) ---- */

int rt_csv_formula_risk(const char *s) {
  return s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
         s[0] == '\r';
}

size_t rt_csv_cell(char *out, const char *s, rt_csv_kind kind) {
  char *o = out;
  int quote = strpbrk(s, ",\"\r\n") != NULL;
  if (quote)
    *o++ = '"';
  if (kind == RT_CSV_TEXT && rt_csv_formula_risk(s))
    *o++ = '\'';
  for (; *s; s++) {
    if (*s == '"')
      *o++ = '"';
    *o++ = *s;
  }
  if (quote)
    *o++ = '"';
  return (size_t)(o - out);
}
