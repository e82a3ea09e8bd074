/* dateparse.c - parsing dates and times from CSV fields: the automatic format and compiled
 * strftime-like patterns.
 *
 * The automatic format runs once per row on files of millions of rows, so it is hand-rolled, with
 * no sscanf, strptime or locale: the three most common layouts (2023-04-05, 19970101,
 * 2023-04-05 13:22:10) are checked and converted eight bytes at a time (fast_auto); everything
 * else, and every error, goes through auto_parse. auto_parse and the compiled patterns fill the
 * same field record and share one validation step, so their error messages agree.
 *
 * Choices worth knowing:
 *  - surrounding blanks are ignored;
 *  - second 60 (a leap second) is accepted and read as second 59, since instants here are POSIX
 *    times that have no leap seconds; 61 and up are errors;
 *  - fractions keep milliseconds and drop further digits (no rounding);
 *  - with %p in a pattern the hour (%H or %I) is on a 12-hour clock: 1-12 (0 is read as 12 AM);
 *  - a space in a pattern matches one or more blanks. */
#include <retain/alloc.h>
#include <retain/datetime.h>

#include "internal.h"

#include <string.h>

enum {
  F_LIT,     /* the character ch */
  F_SPACE,   /* one or more blanks */
  F_YEAR,    /* %Y: four digits */
  F_YEAR2,   /* %y: two digits, 69-99 = 19xx, 00-68 = 20xx */
  F_MONTH,   /* %m: one or two digits */
  F_MONNAME, /* %b: Jan or January, any case */
  F_DAY,     /* %d */
  F_HOUR,    /* %H (or %I) */
  F_MIN,     /* %M */
  F_SEC,     /* %S */
  F_FRAC,    /* %f: one to nine digits */
  F_ZONE,    /* %z: Z, +hh, +hh:mm or +hhmm */
  F_AMPM     /* %p */
};

typedef struct {
  unsigned char kind;
  char ch;
} fmt_item;

struct rt_datefmt {
  int is_auto;
  size_t n;
  fmt_item *items; /* n items, in the same allocation */
  char *pattern;   /* for messages, in the same allocation */
};

/* The fields of a date being parsed. */
typedef struct {
  int y, mo, d, h, mi, s, ms;
  int ampm;    /* 0 none, 1 AM, 2 PM */
  int has_off; /* an explicit offset was given */
  int32_t off; /* seconds east of UTC */
} fields;

/* Messages quote at most this much of the input. */
#define SHOW 64
#define SHOWN(n) ((int)((n) > SHOW ? SHOW : (n)))

/* ---- compiling patterns ---- */

int rt_datefmt_compile(const char *pattern, rt_datefmt **out, rt_error *err) {
  *out = NULL;
  int is_auto = !pattern || strcmp(pattern, "auto") == 0;
  if (is_auto)
    pattern = "auto";
  size_t len = strlen(pattern);
  if (len == 0)
    return rt_error_set(err, RT_EINVAL, "empty date format");
  if (len > 256)
    return rt_error_set(err, RT_EINVAL, "date format too long (%zu characters)", len);
  rt_datefmt *f = rt_malloc(sizeof *f + len * sizeof(fmt_item) + len + 1);
  if (!f)
    return rt_error_set(err, RT_ENOMEM, "out of memory compiling date format");
  f->is_auto = is_auto;
  f->n = 0;
  f->items = (fmt_item *)(f + 1);
  f->pattern = (char *)(f->items + len);
  memcpy(f->pattern, pattern, len + 1);
  if (is_auto) {
    *out = f;
    return 0;
  }
  int have_y = 0, have_m = 0, have_d = 0;
  for (const char *p = pattern; *p; p++) {
    fmt_item it = {F_LIT, *p};
    if (*p == ' ' || *p == '\t') {
      it.kind = F_SPACE;
      while (p[1] == ' ' || p[1] == '\t')
        p++;
    } else if (*p == '%') {
      switch (*++p) {
      case 'Y': it.kind = F_YEAR, have_y = 1; break;
      case 'y': it.kind = F_YEAR2, have_y = 1; break;
      case 'm': it.kind = F_MONTH, have_m = 1; break;
      case 'b': it.kind = F_MONNAME, have_m = 1; break;
      case 'd': it.kind = F_DAY, have_d = 1; break;
      case 'H': /* fall through: %p decides the clock */
      case 'I': it.kind = F_HOUR; break;
      case 'M': it.kind = F_MIN; break;
      case 'S': it.kind = F_SEC; break;
      case 'f': it.kind = F_FRAC; break;
      case 'z': it.kind = F_ZONE; break;
      case 'p': it.kind = F_AMPM; break;
      case '%': it.ch = '%'; break;
      default:
        rt_free(f);
        if (!*p)
          return rt_error_set(err, RT_EINVAL, "date format '%s' ends with a lone '%%'", pattern);
        return rt_error_set(err, RT_EINVAL,
                            "unknown conversion '%%%c' in date format '%s' (known: %%Y %%y %%m "
                            "%%b %%d %%H %%I %%M %%S %%f %%z %%p %%%%)",
                            *p, pattern);
      }
    }
    f->items[f->n++] = it;
  }
  const char *missing = !have_y ? "a year (%Y or %y)" : !have_m ? "a month (%m or %b)"
                        : !have_d ? "a day (%d)"
                                  : NULL;
  if (missing) {
    rt_free(f);
    return rt_error_set(err, RT_EINVAL, "date format '%s' lacks %s", pattern, missing);
  }
  *out = f;
  return 0;
}

void rt_datefmt_free(rt_datefmt *f) { rt_free(f); }

/* ---- shared validation ---- */

#if defined(__GNUC__)
#define COLD __attribute__((cold, noinline))
#define NOINLINE __attribute__((noinline))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define COLD
#define NOINLINE
#define UNLIKELY(x) (x)
#endif

static const unsigned char month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

static int leap(unsigned y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* The uncommon cases of finish(): checks every field with a message naming the first one out of
 * range, and applies AM/PM and the leap-second rule. */
static COLD int check_fields(fields *f, const char *s, size_t n, rt_error *err) {
  if ((unsigned)(f->mo - 1) >= 12)
    return rt_error_set(err, RT_EPARSE, "invalid date '%.*s': month %d out of range", SHOWN(n), s,
                        f->mo);
  int dim = month_days[f->mo - 1] + (f->mo == 2 && leap((unsigned)f->y));
  if (f->d < 1 || f->d > dim)
    return rt_error_set(err, RT_EPARSE, "invalid date '%.*s': day %d out of range for %04d-%02d",
                        SHOWN(n), s, f->d, f->y, f->mo);
  if (f->ampm) {
    if (f->h > 12)
      return rt_error_set(err, RT_EPARSE,
                          "invalid date '%.*s': hour %d out of range for a 12-hour clock",
                          SHOWN(n), s, f->h);
    if (f->h == 12)
      f->h = 0;
    if (f->ampm == 2)
      f->h += 12;
    f->ampm = 0;
  }
  if (f->h > 23)
    return rt_error_set(err, RT_EPARSE, "invalid date '%.*s': hour %d out of range", SHOWN(n), s,
                        f->h);
  if (f->mi > 59)
    return rt_error_set(err, RT_EPARSE, "invalid date '%.*s': minute %d out of range", SHOWN(n),
                        s, f->mi);
  if (f->s > 60)
    return rt_error_set(err, RT_EPARSE, "invalid date '%.*s': second %d out of range", SHOWN(n),
                        s, f->s);
  if (f->s == 60)
    f->s = 59;
  return 0;
}

/* Days since 1970-01-01 of a valid date with year 0-9999: rt_days_from_civil's arithmetic on a
 * year counted from March (so the leap day ends it) and shifted by one 400-year era so that all
 * quantities are non-negative, written so the three leap-day divisions (by constants, so
 * multiplications) run side by side. march_doy[m] is the day of the March-based year on which
 * month m starts. */
static const unsigned short march_doy[13] = {0,   306, 337, 0,   31,  61,  92,
                                             122, 153, 184, 214, 245, 275};

static inline int64_t ymd_days(int y, int m, int d) {
  unsigned yy = (unsigned)y + 400 - (m <= 2);
  unsigned days = yy * 365 + yy / 4 - yy / 100 + yy / 400 + march_doy[m] + (unsigned)d - 1;
  return (int64_t)days - 719468 - 146097;
}

/* Checks the fields and turns them into an instant. s[0..n) is the trimmed input. */
static inline int finish(fields *f, const rt_tz *tz, const char *s, size_t n, int64_t *out_ms,
                         rt_error *err) {
  if (UNLIKELY(f->ampm || (unsigned)(f->mo - 1) >= 12 ||
               (unsigned)(f->d - 1) >= month_days[f->mo - 1] || (unsigned)f->h > 23 ||
               (unsigned)f->mi > 59 || (unsigned)f->s > 59)) {
    int rc = check_fields(f, s, n, err);
    if (rc)
      return rc;
  }
  int64_t local =
      (ymd_days(f->y, f->mo, f->d) * 86400 + f->h * 3600 + f->mi * 60 + f->s) * 1000 + f->ms;
  if (f->has_off)
    *out_ms = local - (int64_t)f->off * 1000;
  else if (tz)
    *out_ms = rt_tz_local_to_utc(tz, local);
  else
    *out_ms = local;
  return 0;
}

/* ---- scanning helpers ---- */

static inline unsigned dv(unsigned char c) { return (unsigned)c - '0'; }

/* Reads one or two digits; -1 if there is none. */
static inline int num12(const unsigned char **pp, const unsigned char *e) {
  const unsigned char *p = *pp;
  if (p >= e || dv(*p) > 9)
    return -1;
  int v = (int)dv(*p++);
  if (p < e && dv(*p) <= 9)
    v = v * 10 + (int)dv(*p++);
  *pp = p;
  return v;
}

/* Reads exactly two digits; -1 if they are not there. */
static inline int num2(const unsigned char **pp, const unsigned char *e) {
  const unsigned char *p = *pp;
  if (e - p < 2 || dv(p[0]) > 9 || dv(p[1]) > 9)
    return -1;
  *pp = p + 2;
  return (int)(dv(p[0]) * 10 + dv(p[1]));
}

/* Reads exactly four digits; -1 if they are not there. */
static inline int num4(const unsigned char **pp, const unsigned char *e) {
  const unsigned char *p = *pp;
  if (e - p < 4 || dv(p[0]) > 9 || dv(p[1]) > 9 || dv(p[2]) > 9 || dv(p[3]) > 9)
    return -1;
  *pp = p + 4;
  return (int)(dv(p[0]) * 1000 + dv(p[1]) * 100 + dv(p[2]) * 10 + dv(p[3]));
}

/* Reads 1-9 fraction digits into milliseconds (truncating); -1 if there is none. */
static int frac_ms(const unsigned char **pp, const unsigned char *e) {
  const unsigned char *p = *pp;
  int ms = 0, k = 0;
  for (; p < e && dv(*p) <= 9 && k < 9; p++, k++)
    if (k < 3)
      ms = ms * 10 + (int)dv(*p);
  if (k == 0)
    return -1;
  for (; k < 3; k++)
    ms *= 10;
  *pp = p;
  return ms;
}

static inline int lower(unsigned char c) { return c | 0x20; }

/* Reads Z or +hh, +hh:mm, +hhmm. Returns 1 on success, 0 if there is no zone here, -1 if the
 * offset is out of range. */
static int zone(const unsigned char **pp, const unsigned char *e, int32_t *off) {
  const unsigned char *p = *pp;
  if (p >= e)
    return 0;
  if (*p == 'Z' || *p == 'z') {
    *off = 0;
    *pp = p + 1;
    return 1;
  }
  if (*p != '+' && *p != '-')
    return 0;
  int sign = *p++ == '-' ? -1 : 1;
  int h = num2(&p, e), m = 0;
  if (h < 0)
    return 0;
  if (p < e && *p == ':') {
    p++;
    if ((m = num2(&p, e)) < 0)
      return 0;
  } else if (p < e && dv(*p) <= 9) {
    if ((m = num2(&p, e)) < 0)
      return 0;
  }
  if (h > 23 || m > 59)
    return -1;
  *off = sign * (h * 3600 + m * 60);
  *pp = p;
  return 1;
}

/* Reads AM or PM (any case, optionally A.M./P.M.); returns 1 or 2, or 0 if there is none. */
static int ampm(const unsigned char **pp, const unsigned char *e) {
  const unsigned char *p = *pp;
  if (e - p < 2)
    return 0;
  int which = lower(p[0]) == 'a' ? 1 : lower(p[0]) == 'p' ? 2 : 0;
  if (!which)
    return 0;
  if (lower(p[1]) == 'm') {
    *pp = p + 2;
    return which;
  }
  if (e - p >= 4 && p[1] == '.' && lower(p[2]) == 'm' && p[3] == '.') {
    *pp = p + 4;
    return which;
  }
  return 0;
}

static inline int blank(unsigned char c) { return c == ' ' || c == '\t'; }

/* ---- the automatic format ---- */

/* The common layouts of the automatic format: YYYYMMDD (n = 8), YYYY-MM-DD (n = 10) and
 * YYYY-MM-DD[T ]HH:MM:SS (n = 19), checked and converted eight bytes at a time (SWAR). Returns 1
 * and the local time in ms, or 0 to leave the input to auto_parse(), which also handles
 * everything unusual (including February 29 and all errors).
 *
 * A word holds eight characters, the first in the low byte. The digit bytes (selected by a mask
 * m) are right when each has high nibble 3 and still does after adding 6 (so the low nibble is at
 * most 9); a byte of 0xFA or more, whose +6 would carry into its neighbour, already fails the
 * first test. XOR with '0' turns digits into values 0-9; with the other bytes cleared,
 * w * 10 + (w >> 8) puts the value of each pair of adjacent digits into the byte of the first. */
#define ONES UINT64_C(0x0101010101010101)

static inline uint64_t load64(const unsigned char *p) {
  /* Compilers turn this into a single load on little-endian machines. */
  return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
         (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
         (uint64_t)p[7] << 56;
}

static inline int digits_at(uint64_t w, uint64_t m) {
  uint64_t hi = m & (0xF0 * ONES), want = m & (0x30 * ONES);
  return ((w & hi) == want) & (((w + 6 * ONES) & hi) == want);
}

static inline uint64_t pairs(uint64_t w, uint64_t m) {
  uint64_t v = (w ^ (0x30 * ONES)) & m;
  return v * 10 + (v >> 8);
}

static inline int fast_auto(const unsigned char *p, size_t n, int64_t *local) {
  if (n != 10 && n != 19 && n != 8)
    return 0;
  uint64_t w = load64(p), t;
  unsigned y, mo, d, hms = 0;
  if (n == 8) {
    if (!digits_at(w, ~UINT64_C(0)))
      return 0;
    t = pairs(w, ~UINT64_C(0));
    d = (unsigned)(t >> 48) & 0xFF;
  } else {
    /* "YYYY-MM-": digits in bytes 0-3 and 5-6, '-' in bytes 4 and 7. */
    const uint64_t dm = UINT64_C(0x00FFFF00FFFFFFFF), sm = UINT64_C(0xFF0000FF00000000);
    unsigned d0 = (unsigned)p[8] - '0', d1 = (unsigned)p[9] - '0';
    if (!digits_at(w, dm) | ((w & sm) != ('-' * (sm & ONES))) | (d0 > 9) | (d1 > 9))
      return 0;
    t = pairs(w, dm);
    d = d0 * 10 + d1;
    if (n == 19) {
      /* "HH:MM:SS" in bytes 11-18, after a 'T' or a space. */
      const uint64_t tdm = UINT64_C(0xFFFF00FFFF00FFFF), tsm = UINT64_C(0x0000FF0000FF0000);
      uint64_t u = load64(p + 11);
      if (!digits_at(u, tdm) | ((u & tsm) != (':' * (tsm & ONES))) | (p[10] != ' ' && p[10] != 'T'))
        return 0;
      uint64_t tt = pairs(u, tdm);
      unsigned h = (unsigned)tt & 0xFF, mi = (unsigned)(tt >> 24) & 0xFF;
      unsigned sec = (unsigned)(tt >> 48) & 0xFF;
      if ((h > 23) | (mi > 59) | (sec > 59))
        return 0;
      hms = h * 3600 + mi * 60 + sec;
    }
  }
  y = ((unsigned)t & 0xFF) * 100 + ((unsigned)(t >> 16) & 0xFF);
  mo = n == 8 ? (unsigned)(t >> 32) & 0xFF : (unsigned)(t >> 40) & 0xFF;
  if (mo - 1 >= 12 || d - 1 >= month_days[mo - 1])
    return 0;
  *local = (ymd_days((int)y, (int)mo, (int)d) * 86400 + hms) * 1000;
  return 1;
}

/* Kept out of line so that rt_date_parse stays small for the fast path. */
static NOINLINE int auto_parse(const unsigned char *b, const unsigned char *e, const rt_tz *tz,
                                int64_t *out_ms, rt_error *err) {
  const char *s = (const char *)b;
  size_t n = (size_t)(e - b);
  const unsigned char *p = b;
  fields f;
  f.h = f.mi = f.s = f.ms = 0;
  f.ampm = f.has_off = 0;
  f.off = 0;

  if (n >= 8 && dv(p[0]) <= 9 && dv(p[1]) <= 9 && dv(p[2]) <= 9 && dv(p[3]) <= 9) {
    f.y = (int)(dv(p[0]) * 1000 + dv(p[1]) * 100 + dv(p[2]) * 10 + dv(p[3]));
    unsigned char sep = p[4];
    if (sep == '-' || sep == '/') {
      /* YYYY-MM-DD or YYYY/MM/DD; one-digit months and days are let through. */
      if (dv(p[5]) <= 9 && dv(p[6]) <= 9 && p[7] == sep && n >= 10 && dv(p[8]) <= 9 &&
          dv(p[9]) <= 9 && (n == 10 || dv(p[10]) > 9)) {
        f.mo = (int)(dv(p[5]) * 10 + dv(p[6]));
        f.d = (int)(dv(p[8]) * 10 + dv(p[9]));
        p += 10;
      } else {
        p += 5;
        if ((f.mo = num12(&p, e)) < 0 || p >= e || *p++ != sep || (f.d = num12(&p, e)) < 0 ||
            (p < e && dv(*p) <= 9))
          goto bad;
      }
    } else if (dv(sep) <= 9 && dv(p[5]) <= 9 && dv(p[6]) <= 9 && dv(p[7]) <= 9) {
      /* YYYYMMDD */
      f.mo = (int)(dv(p[4]) * 10 + dv(p[5]));
      f.d = (int)(dv(p[6]) * 10 + dv(p[7]));
      p += 8;
      if (p < e && dv(*p) <= 9)
        goto bad;
    } else {
      goto bad;
    }
  } else {
    /* M/D/YYYY, US order. */
    if ((f.mo = num12(&p, e)) < 0 || p >= e || *p++ != '/' || (f.d = num12(&p, e)) < 0 ||
        p >= e || *p++ != '/' || (f.y = num4(&p, e)) < 0 || (p < e && dv(*p) <= 9))
      goto bad;
  }

  if (p < e) {
    /* [T or blanks]H:MM[:SS[.fff]] or HHMM[SS], then [blanks][AM|PM], then [blanks][zone]. */
    if (*p == 'T' || *p == 't') {
      p++;
    } else if (blank(*p)) {
      while (p < e && blank(*p))
        p++;
    } else {
      goto trailing;
    }
    const unsigned char *t = p;
    if ((f.h = num12(&p, e)) < 0)
      goto trailing;
    if (p < e && *p == ':') {
      p++;
      if ((f.mi = num2(&p, e)) < 0)
        goto trailing;
      if (p < e && *p == ':') {
        p++;
        if ((f.s = num2(&p, e)) < 0)
          goto trailing;
        if (p < e && (*p == '.' || *p == ',')) {
          p++;
          if ((f.ms = frac_ms(&p, e)) < 0)
            goto trailing;
        }
      }
    } else if (p - t == 2 && (f.mi = num2(&p, e)) >= 0) {
      /* Basic form, as in 20230405T1322[10]. */
      if (p < e && dv(*p) <= 9 && (f.s = num2(&p, e)) < 0)
        goto trailing;
    } else {
      goto trailing;
    }
    if (p < e) {
      const unsigned char *q = p;
      while (q < e && blank(*q))
        q++;
      if ((f.ampm = ampm(&q, e)) != 0) {
        p = q;
        while (q < e && blank(*q))
          q++;
      }
      int z = zone(&q, e, &f.off);
      if (z < 0)
        return rt_error_set(err, RT_EPARSE, "invalid date '%.*s': offset out of range", SHOWN(n),
                            s);
      if (z > 0) {
        f.has_off = 1;
        p = q;
      }
      if (p != e)
        goto trailing;
    }
  }
  return finish(&f, tz, s, n, out_ms, err);

trailing:
  return rt_error_set(err, RT_EPARSE,
                      "invalid date '%.*s': expected a time like 13:22 or 13:22:10 (and an "
                      "optional offset like +01:00) after the date",
                      SHOWN(n), s);
bad:
  return rt_error_set(err, RT_EPARSE,
                      "invalid date '%.*s': expected a date like 2024-03-01, 20240301 or 3/1/2024",
                      SHOWN(n), s);
}

/* ---- compiled patterns ---- */

static const char *const month_names[12] = {"january", "february", "march",     "april",
                                            "may",     "june",     "july",      "august",
                                            "september", "october", "november", "december"};

/* Reads an English month name or its three-letter abbreviation (also "Sept"); 0 if none. */
static int month_name(const unsigned char **pp, const unsigned char *e) {
  const unsigned char *p = *pp;
  size_t k = 0;
  while (p + k < e && (unsigned)(lower(p[k]) - 'a') < 26)
    k++;
  if (k < 3)
    return 0;
  for (int m = 0; m < 12; m++) {
    const char *name = month_names[m];
    size_t len = strlen(name), i;
    if (k != 3 && k != len && !(m == 8 && k == 4))
      continue;
    if (k > len)
      continue;
    for (i = 0; i < k && lower(p[i]) == (unsigned char)name[i]; i++)
      ;
    if (i == k) {
      *pp = p + k;
      return m + 1;
    }
  }
  return 0;
}

static NOINLINE int pattern_parse(const rt_datefmt *fmt, const unsigned char *b, const unsigned char *e,
                         const rt_tz *tz, int64_t *out_ms, rt_error *err) {
  const char *s = (const char *)b;
  size_t n = (size_t)(e - b);
  const unsigned char *p = b;
  fields f = {.y = 1970, .mo = 1, .d = 1};
  int v;
  for (size_t i = 0; i < fmt->n; i++) {
    const fmt_item *it = &fmt->items[i];
    switch (it->kind) {
    case F_LIT:
      if (p >= e || *p != (unsigned char)it->ch)
        goto mismatch;
      p++;
      break;
    case F_SPACE:
      if (p >= e || !blank(*p))
        goto mismatch;
      while (p < e && blank(*p))
        p++;
      break;
    case F_YEAR:
      if ((f.y = num4(&p, e)) < 0)
        goto mismatch;
      break;
    case F_YEAR2:
      if ((v = num2(&p, e)) < 0)
        goto mismatch;
      f.y = v < 69 ? 2000 + v : 1900 + v;
      break;
    case F_MONTH:
      if ((f.mo = num12(&p, e)) < 0)
        goto mismatch;
      break;
    case F_MONNAME:
      if ((f.mo = month_name(&p, e)) == 0)
        goto mismatch;
      break;
    case F_DAY:
      if ((f.d = num12(&p, e)) < 0)
        goto mismatch;
      break;
    case F_HOUR:
      if ((f.h = num12(&p, e)) < 0)
        goto mismatch;
      break;
    case F_MIN:
      if ((f.mi = num12(&p, e)) < 0)
        goto mismatch;
      break;
    case F_SEC:
      if ((f.s = num12(&p, e)) < 0)
        goto mismatch;
      break;
    case F_FRAC:
      if ((f.ms = frac_ms(&p, e)) < 0)
        goto mismatch;
      break;
    case F_ZONE:
      if ((v = zone(&p, e, &f.off)) == 0)
        goto mismatch;
      if (v < 0)
        return rt_error_set(err, RT_EPARSE, "invalid date '%.*s': offset out of range", SHOWN(n),
                            s);
      f.has_off = 1;
      break;
    case F_AMPM:
      if ((f.ampm = ampm(&p, e)) == 0)
        goto mismatch;
      break;
    }
  }
  if (p != e)
    goto mismatch;
  return finish(&f, tz, s, n, out_ms, err);
mismatch:
  return rt_error_set(err, RT_EPARSE, "invalid date '%.*s': does not match format '%s'", SHOWN(n),
                      s, fmt->pattern);
}

int rt_date_parse(const rt_datefmt *fmt, const char *s, size_t n, const rt_tz *tz, int64_t *out_ms,
                  rt_error *err) {
  const unsigned char *b = (const unsigned char *)s, *e = b + n;
  /* Trim blanks (and a stray CR) around the value. */
  if (n && (blank(*b) || blank(e[-1]) || e[-1] == '\r')) {
    while (b < e && blank(*b))
      b++;
    while (e > b && (blank(e[-1]) || e[-1] == '\r'))
      e--;
  }
  if (b == e)
    return rt_error_set(err, RT_EPARSE, "empty date");
  if (!fmt || fmt->is_auto) {
    int64_t local;
    if (fast_auto(b, (size_t)(e - b), &local)) {
      *out_ms = tz ? rt_tz_local_to_utc(tz, local) : local;
      return 0;
    }
    return auto_parse(b, e, tz, out_ms, err);
  }
  return pattern_parse(fmt, b, e, tz, out_ms, err);
}
