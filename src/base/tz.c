/* tz.c - time zones: UTC, fixed offsets, and IANA zones read from TZif files (RFC 8536).
 *
 * An IANA zone is the table of transitions of its TZif file (the 64-bit section of version 2+
 * files, else the 32-bit one) plus the POSIX TZ rule in the file's footer, which gives the
 * offset after the last transition ("CET-1CEST,M3.5.0,M10.5.0/3"). Lookups binary-search the
 * table; past its end the rule is evaluated for the year at hand. Leap-second records are
 * skipped ("right/" zones are treated as if their times were POSIX times). An rt_tz is
 * immutable after rt_tz_load, so any number of threads may use it. */
#include <retain/alloc.h>
#include <retain/datetime.h>

#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TZ_UTC, TZ_FIXED, TZ_ZONE };

/* The day a POSIX rule names: Jn (day n of 365, Feb 29 never counted), n (day n from 0, Feb 29
 * counted) or Mm.w.d (weekday d of week w of month m, week 5 meaning the last). */
typedef struct {
  char kind; /* 'J', 'N' or 'M' */
  int n, m, w, d;
  int32_t secs; /* local time of day of the change; may be negative or above 24h */
} tz_rule_day;

typedef struct {
  int32_t std_off, dst_off; /* seconds east of UTC */
  int has_dst;
  tz_rule_day start, end; /* start: into DST (at standard time); end: out of it (at DST time) */
} tz_rule;

struct rt_tz {
  int kind;
  int32_t fixed; /* TZ_FIXED: the offset */
  int32_t off0;  /* TZ_ZONE: the offset before the first transition */
  size_t n;      /* transitions */
  int64_t *at;   /* n transition instants, in seconds, ascending */
  int32_t *off;  /* n offsets in force from at[i] on */
  int has_rule;  /* the footer rule governs instants from at[n-1] on (or all, if n == 0) */
  tz_rule rule;
  char name[128];
};

const char *rt_tz_name(const rt_tz *tz) { return tz ? tz->name : "UTC"; }

void rt_tz_free(rt_tz *tz) {
  if (tz) {
    rt_free(tz->at);
    rt_free(tz->off);
    rt_free(tz);
  }
}

/* Floor division; inlined so that division by a constant becomes a multiplication. */
static inline int64_t fdiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    q--;
  return q;
}

/* ---- POSIX TZ rules ---- */

/* Parses [+-]hh[:mm[:ss]] with hh up to max_h; returns the end or NULL. */
static const char *parse_hms(const char *p, int max_h, int32_t *out) {
  int sign = 1;
  if (*p == '+' || *p == '-')
    sign = *p++ == '-' ? -1 : 1;
  if (!isdigit((unsigned char)*p))
    return NULL;
  int32_t h = 0, m = 0, s = 0;
  for (int i = 0; isdigit((unsigned char)*p); i++, p++) {
    if (i == 3)
      return NULL;
    h = h * 10 + (*p - '0');
  }
  if (h > max_h)
    return NULL;
  if (*p == ':') {
    if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
      return NULL;
    m = (p[1] - '0') * 10 + (p[2] - '0');
    p += 3;
    if (*p == ':') {
      if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
        return NULL;
      s = (p[1] - '0') * 10 + (p[2] - '0');
      p += 3;
    }
  }
  if (m > 59 || s > 59)
    return NULL;
  *out = sign * (h * 3600 + m * 60 + s);
  return p;
}

/* Skips a zone abbreviation: three or more letters, or <...> with signs and digits too. */
static const char *skip_abbr(const char *p) {
  const char *b = p;
  if (*p == '<') {
    for (p++; *p && *p != '>'; p++)
      if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-')
        return NULL;
    return *p == '>' && p - b >= 4 ? p + 1 : NULL;
  }
  while (isalpha((unsigned char)*p))
    p++;
  return p - b >= 3 ? p : NULL;
}

static int parse_num(const char **pp, int lo, int hi, int *out) {
  const char *p = *pp;
  int v = 0, k = 0;
  for (; isdigit((unsigned char)*p) && k < 4; p++, k++)
    v = v * 10 + (*p - '0');
  if (k == 0 || v < lo || v > hi)
    return -1;
  *pp = p;
  *out = v;
  return 0;
}

static const char *parse_rule_day(const char *p, tz_rule_day *r) {
  if (*p == 'J') {
    p++;
    r->kind = 'J';
    if (parse_num(&p, 1, 365, &r->n))
      return NULL;
  } else if (*p == 'M') {
    p++;
    r->kind = 'M';
    if (parse_num(&p, 1, 12, &r->m) || *p++ != '.' || parse_num(&p, 1, 5, &r->w) ||
        *p++ != '.' || parse_num(&p, 0, 6, &r->d))
      return NULL;
  } else {
    r->kind = 'N';
    if (parse_num(&p, 0, 365, &r->n))
      return NULL;
  }
  r->secs = 2 * 3600;
  if (*p == '/') /* RFC 8536 (version 3) allows -167..167 hours here */
    p = parse_hms(p + 1, 167, &r->secs);
  return p;
}

/* Parses a POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3". Its offsets count hours west
 * of Greenwich, so they are negated. */
static int parse_posix_tz(const char *p, tz_rule *r) {
  int32_t v;
  memset(r, 0, sizeof *r);
  if (!(p = skip_abbr(p)) || !(p = parse_hms(p, 24, &v)))
    return -1;
  r->std_off = -v;
  if (*p == '\0')
    return 0;
  if (!(p = skip_abbr(p)))
    return -1;
  r->has_dst = 1;
  r->dst_off = r->std_off + 3600;
  if (*p && *p != ',') {
    if (!(p = parse_hms(p, 24, &v)))
      return -1;
    r->dst_off = -v;
  }
  if (*p == '\0') {
    /* No rule given: the US rule, as the reference tzcode assumes. */
    r->start = (tz_rule_day){.kind = 'M', .m = 3, .w = 2, .d = 0, .secs = 7200};
    r->end = (tz_rule_day){.kind = 'M', .m = 11, .w = 1, .d = 0, .secs = 7200};
    return 0;
  }
  if (*p++ != ',' || !(p = parse_rule_day(p, &r->start)) || *p++ != ',' ||
      !(p = parse_rule_day(p, &r->end)))
    return -1;
  return *p == '\0' ? 0 : -1;
}

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* The day number on which rule day r falls in year y. */
static int64_t rule_day(const tz_rule_day *r, int64_t y) {
  static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  switch (r->kind) {
  case 'J':
    return rt_days_from_civil(y, 1, 1) + r->n - 1 + (is_leap(y) && r->n >= 60);
  case 'N':
    return rt_days_from_civil(y, 1, 1) + r->n;
  default: {
    int64_t first = rt_days_from_civil(y, r->m, 1);
    int wd = (int)((first % 7 + 7 + 4) % 7); /* 0 = Sunday; day 0 was a Thursday */
    int64_t day = first + (r->d - wd + 7) % 7 + (int64_t)(r->w - 1) * 7;
    int len = r->m == 2 ? 28 + is_leap(y) : dim[r->m - 1];
    while (day >= first + len)
      day -= 7;
    return day;
  }
  }
}

/* The offset the rule gives at instant t (seconds). */
static int32_t rule_offset(const tz_rule *r, int64_t t) {
  if (!r->has_dst)
    return r->std_off;
  int64_t y;
  int m, d;
  rt_civil_from_days(fdiv(t + r->std_off, 86400), &y, &m, &d);
  int64_t start = rule_day(&r->start, y) * 86400 + r->start.secs - r->std_off;
  int64_t end = rule_day(&r->end, y) * 86400 + r->end.secs - r->dst_off;
  int dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
  return dst ? r->dst_off : r->std_off;
}

/* ---- TZif files ---- */

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p) {
  return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* Parses the TZif image buf[0..len) into tz. Returns 0, RT_EPARSE or RT_ENOMEM. */
static int parse_tzif(rt_tz *tz, const unsigned char *buf, size_t len) {
  const unsigned char *p = buf, *end = buf + len;
  if (len < 44 || memcmp(p, "TZif", 4) != 0)
    return RT_EPARSE;
  int version = p[4];
  int tsize = 4;
  if (version >= '2') {
    /* Skip the version 1 body to reach the 64-bit header. */
    size_t isut = be32(p + 20), isstd = be32(p + 24), leap = be32(p + 28);
    size_t timecnt = be32(p + 32), typecnt = be32(p + 36), charcnt = be32(p + 40);
    size_t v1 = timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut;
    if (v1 > len - 44)
      return RT_EPARSE;
    p += 44 + v1;
    if (end - p < 44 || memcmp(p, "TZif", 4) != 0)
      return RT_EPARSE;
    tsize = 8;
  }
  size_t isut = be32(p + 20), isstd = be32(p + 24), leap = be32(p + 28);
  size_t timecnt = be32(p + 32), typecnt = be32(p + 36), charcnt = be32(p + 40);
  p += 44;
  if (typecnt == 0 || typecnt > 256 || timecnt > 100000 || leap > 100000 || charcnt > 100000 ||
      isut > typecnt || isstd > typecnt)
    return RT_EPARSE;
  size_t body = timecnt * ((size_t)tsize + 1) + typecnt * 6 + charcnt +
                leap * ((size_t)tsize + 4) + isstd + isut;
  if (body > (size_t)(end - p))
    return RT_EPARSE;
  const unsigned char *times = p, *idx = p + timecnt * (size_t)tsize, *types = idx + timecnt;
  int32_t type_off[256];
  for (size_t i = 0; i < typecnt; i++) {
    type_off[i] = (int32_t)be32(types + i * 6);
    if (type_off[i] < -25 * 3600 || type_off[i] > 26 * 3600)
      return RT_EPARSE;
  }
  tz->off0 = type_off[0];
  tz->n = 0;
  if (timecnt) {
    tz->at = rt_malloc(timecnt * sizeof *tz->at);
    tz->off = rt_malloc(timecnt * sizeof *tz->off);
    if (!tz->at || !tz->off)
      return RT_ENOMEM;
  }
  for (size_t i = 0; i < timecnt; i++) {
    int64_t t = tsize == 8 ? be64(times + i * 8) : (int64_t)(int32_t)be32(times + i * 4);
    if (idx[i] >= typecnt || (i && t <= tz->at[tz->n - 1]))
      return RT_EPARSE;
    tz->at[tz->n] = t;
    tz->off[tz->n] = type_off[idx[i]];
    tz->n++;
  }
  p += body;

  /* The footer: "\n" POSIX-TZ-string "\n" (version 2+). An empty string means no rule. */
  tz->has_rule = 0;
  if (version >= '2' && p < end && *p == '\n') {
    const unsigned char *q = memchr(p + 1, '\n', (size_t)(end - p - 1));
    size_t flen = q ? (size_t)(q - p - 1) : 0;
    if (q && flen > 0 && flen < 128) {
      char footer[128];
      memcpy(footer, p + 1, flen);
      footer[flen] = '\0';
      if (parse_posix_tz(footer, &tz->rule) == 0)
        tz->has_rule = 1;
    }
  }
  return 0;
}

static int valid_zone_name(const char *s) {
  if (!*s || *s == '/' || strlen(s) >= sizeof(((rt_tz *)0)->name))
    return 0;
  for (const char *p = s; *p; p++) {
    if (!isalnum((unsigned char)*p) && !strchr("_+-/", *p))
      return 0;
    if (*p == '/' && p[1] == '/')
      return 0;
  }
  return strstr(s, "..") == NULL;
}

static int load_zone_file(const char *name, rt_tz *tz, rt_error *err) {
  const char *dir = getenv("TZDIR");
  if (!dir || !*dir)
    dir = "/usr/share/zoneinfo";
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOENT || errno == ENOTDIR)
      return rt_error_set(err, RT_ENOTFOUND, "unknown time zone '%s' (no file %s)", name, path);
    return rt_error_set(err, RT_EIO, "cannot read time zone file %s: %s", path, strerror(errno));
  }
  /* TZif files are a few kilobytes; anything near the cap is not one. */
  enum { CAP = 1 << 20 };
  unsigned char *buf = rt_malloc(CAP);
  if (!buf) {
    fclose(f);
    return rt_error_set(err, RT_ENOMEM, "out of memory loading time zone '%s'", name);
  }
  size_t len = fread(buf, 1, CAP, f);
  int rc = ferror(f) ? RT_EIO : 0;
  fclose(f);
  if (rc)
    rc = rt_error_set(err, RT_EIO, "cannot read time zone file %s", path);
  else if ((rc = parse_tzif(tz, buf, len)) == RT_ENOMEM)
    rt_error_set(err, rc, "out of memory loading time zone '%s'", name);
  else if (rc)
    rt_error_set(err, rc, "invalid time zone file %s (not a TZif file)", path);
  rt_free(buf);
  return rc;
}

/* Parses a fixed offset: "+05:30", "-0800", "+2", optionally after "UTC" or "GMT" ("UTC+2").
 * Unlike POSIX TZ strings, the sign means east of Greenwich, as in ISO 8601. Returns 0 and the
 * offset in seconds, or -1. */
static int parse_fixed(const char *s, int32_t *out) {
  if ((strncmp(s, "UTC", 3) == 0 || strncmp(s, "GMT", 3) == 0) && (s[3] == '+' || s[3] == '-'))
    s += 3;
  if (*s != '+' && *s != '-')
    return -1;
  int sign = *s++ == '-' ? -1 : 1;
  int h = 0, m = 0, k = 0;
  for (; isdigit((unsigned char)s[k]) && k < 4; k++)
    ;
  if (s[k] == ':') {
    if (k < 1 || k > 2 || !isdigit((unsigned char)s[k + 1]) || !isdigit((unsigned char)s[k + 2]) ||
        s[k + 3])
      return -1;
    h = k == 2 ? (s[0] - '0') * 10 + (s[1] - '0') : s[0] - '0';
    m = (s[k + 1] - '0') * 10 + (s[k + 2] - '0');
  } else if (s[k] == '\0' && (k == 1 || k == 2)) {
    h = k == 2 ? (s[0] - '0') * 10 + (s[1] - '0') : s[0] - '0';
  } else if (s[k] == '\0' && k == 4) {
    h = (s[0] - '0') * 10 + (s[1] - '0');
    m = (s[2] - '0') * 10 + (s[3] - '0');
  } else {
    return -1;
  }
  if (h > 23 || m > 59)
    return -1;
  *out = sign * (h * 3600 + m * 60);
  return 0;
}

int rt_tz_load(const char *name, rt_tz **out, rt_error *err) {
  *out = NULL;
  if (!name || !*name)
    return rt_error_set(err, RT_EINVAL, "empty time zone name");
  rt_tz *tz = rt_calloc(1, sizeof *tz);
  if (!tz)
    return rt_error_set(err, RT_ENOMEM, "out of memory loading time zone '%s'", name);
  int32_t off;
  int rc = 0;
  if (strcmp(name, "UTC") == 0 || strcmp(name, "utc") == 0 || strcmp(name, "Z") == 0 ||
      strcmp(name, "Etc/UTC") == 0) {
    tz->kind = TZ_UTC;
    strcpy(tz->name, "UTC");
  } else if (parse_fixed(name, &off) == 0) {
    int a = off < 0 ? -off : off;
    if (off == 0) {
      tz->kind = TZ_UTC;
      strcpy(tz->name, "UTC");
    } else {
      /* The canonical name loads back to the same zone (snapshots store it). */
      tz->kind = TZ_FIXED;
      tz->fixed = off;
      snprintf(tz->name, sizeof tz->name, "%c%02d:%02d", off < 0 ? '-' : '+', a / 3600,
               a / 60 % 60);
    }
  } else if (strchr("+-", name[0]) || strncmp(name, "UTC+", 4) == 0 ||
             strncmp(name, "UTC-", 4) == 0) {
    rc = rt_error_set(err, RT_EINVAL,
                      "invalid time zone offset '%s' (expected +hh:mm, +hhmm or +hh, hours < 24)",
                      name);
  } else if (!valid_zone_name(name)) {
    rc = rt_error_set(err, RT_EINVAL, "invalid time zone name '%s'", name);
  } else {
    tz->kind = TZ_ZONE;
    strcpy(tz->name, name);
    rc = load_zone_file(name, tz, err);
  }
  if (rc) {
    rt_tz_free(tz);
    return rc;
  }
  *out = tz;
  return 0;
}

/* ---- lookups ---- */

/* The offset in force at instant t (seconds) in an IANA zone. */
static int32_t zone_offset(const rt_tz *tz, int64_t t) {
  size_t n = tz->n;
  if (n == 0)
    return tz->has_rule ? rule_offset(&tz->rule, t) : tz->off0;
  if (t < tz->at[0])
    return tz->off0;
  if (t >= tz->at[n - 1])
    return tz->has_rule ? rule_offset(&tz->rule, t) : tz->off[n - 1];
  /* The last transition at or before t, without branches on the data: at[base] <= t holds
   * throughout, and the window [base, base + len) shrinks to one element. */
  const int64_t *at = tz->at;
  size_t base = 0, len = n - 1;
  while (len > 1) {
    size_t half = len / 2;
    base = at[base + half] <= t ? base + half : base;
    len -= half;
  }
  return tz->off[base];
}

int32_t rt_tz_offset(const rt_tz *tz, int64_t utc_ms) {
  if (!tz || tz->kind == TZ_UTC)
    return 0;
  if (tz->kind == TZ_FIXED)
    return tz->fixed;
  return zone_offset(tz, fdiv(utc_ms, 1000));
}

int64_t rt_tz_day(const rt_tz *tz, int64_t utc_ms) {
  if (!tz || tz->kind == TZ_UTC)
    return fdiv(utc_ms, RT_MS_PER_DAY);
  if (tz->kind == TZ_FIXED)
    return fdiv(utc_ms + (int64_t)tz->fixed * 1000, RT_MS_PER_DAY);
  int64_t off = zone_offset(tz, fdiv(utc_ms, 1000));
  return fdiv(utc_ms + off * 1000, RT_MS_PER_DAY);
}

/* A local time maps to the instants local - o for the offsets o in force around it. Offsets
 * change at most once within a day of any real zone's local time, so the offsets a day before
 * and a day after are the only candidates: when they agree that is the answer; otherwise one
 * that holds at its instant is a solution, two solutions are an overlap (take the earlier) and
 * none is a gap (use the offset before it). */
int64_t rt_tz_local_to_utc(const rt_tz *tz, int64_t local_ms) {
  if (!tz || tz->kind == TZ_UTC)
    return local_ms;
  if (tz->kind == TZ_FIXED)
    return local_ms - (int64_t)tz->fixed * 1000;
  int64_t t = fdiv(local_ms, 1000);
  int64_t ob = zone_offset(tz, t - 86400), oa = zone_offset(tz, t + 86400);
  int64_t ub = local_ms - ob * 1000, ua = local_ms - oa * 1000;
  if (ob == oa)
    return ub;
  int okb = rt_tz_offset(tz, ub) == ob, oka = rt_tz_offset(tz, ua) == oa;
  if (okb && oka)
    return ub < ua ? ub : ua;
  if (oka)
    return ua;
  return ub;
}
