/* text.c - text tests of the rule language, answered once per dictionary entry.
 *
 * A TEXT column holds codes into a dictionary, so a test on the text (like, contains, <, in)
 * is evaluated for each distinct string at compile time, giving a table over codes that the
 * per-customer loop reads. Here are the string matchers and a sorted index of a dictionary
 * (to find the codes of a string, and to order two dictionaries against each other). */
#include "rule/rule_internal.h"

#include <retain/alloc.h>

#include <stdlib.h>
#include <string.h>

/* The bytes of the UTF-8 character at s (1 for a stray byte; never past the NUL). */
static size_t char_len(const char *s) {
  unsigned char c = (unsigned char)*s;
  size_t n = c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  for (size_t i = 1; i < n; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80)
      return i;
  return n;
}

/* SQL's like: the classic matcher that remembers the last % and, on a mismatch, lets that %
 * take one more character. A later % never needs an earlier one to change, so one restart
 * point is enough: O(len(s) * len(p)). */
static int like(const char *s, const char *p, const char *pe) {
  const char *star_p = NULL, *star_s = NULL;
  while (*s) {
    if (p < pe) {
      char c = *p;
      size_t step = 1;
      if (c == '%') {
        star_p = ++p;
        star_s = s;
        continue;
      }
      if (c == '_') {
        s += char_len(s);
        p++;
        continue;
      }
      if (c == '\\' && p + 1 < pe) {
        c = p[1];
        step = 2;
      }
      if (*s == c) {
        s++;
        p += step;
        continue;
      }
    }
    if (!star_p)
      return 0;
    star_s += char_len(star_s);
    s = star_s;
    p = star_p;
  }
  while (p < pe && *p == '%')
    p++;
  return p == pe;
}

int rt__rule_text_match(int kind, const char *s, const char *p, size_t plen) {
  switch (kind) {
  case MATCH_LIKE:
    return like(s, p, p + plen);
  case MATCH_CONTAINS:
    return strstr(s, p) != NULL;
  case MATCH_STARTS:
    return strncmp(s, p, plen) == 0;
  default: {
    size_t n = strlen(s);
    return n >= plen && memcmp(s + n - plen, p, plen) == 0;
  }
  }
}

/* ---- the sorted index of a dictionary ---- */

typedef struct entry {
  const char *s;
  uint32_t code;
} entry;

static int entry_cmp(const void *a, const void *b) {
  const entry *x = a, *y = b;
  int c = strcmp(x->s, y->s);
  return c ? c : (x->code > y->code) - (x->code < y->code);
}

static const char *dict_str(const rt_column *col, size_t code) {
  const char *s = col->dict[code];
  return s ? s : "";
}

int rt__rule_text_index(const rt_column *col, rt__textindex *ix) {
  size_t n = col->ndict;
  ix->n = n;
  ix->sorted = rt_malloc((n ? n : 1) * sizeof *ix->sorted);
  entry *e = rt_malloc((n ? n : 1) * sizeof *e);
  if (!ix->sorted || !e) {
    rt_free(e);
    rt__rule_text_index_free(ix);
    return RT_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    e[i].s = dict_str(col, i);
    e[i].code = (uint32_t)i;
  }
  qsort(e, n, sizeof *e, entry_cmp);
  for (size_t i = 0; i < n; i++)
    ix->sorted[i] = e[i].code;
  rt_free(e);
  return 0;
}

void rt__rule_text_index_free(rt__textindex *ix) {
  rt_free(ix->sorted);
  ix->sorted = NULL;
  ix->n = 0;
}

size_t rt__rule_text_find(const rt_column *col, const rt__textindex *ix, const char *s,
                          size_t *first) {
  size_t lo = 0, hi = ix->n;
  while (lo < hi) { /* the first entry not less than s */
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(dict_str(col, ix->sorted[mid]), s) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  size_t end = lo;
  while (end < ix->n && strcmp(dict_str(col, ix->sorted[end]), s) == 0)
    end++;
  *first = lo;
  return end - lo;
}

int rt__rule_text_ranks(const rt_column *a, const rt__textindex *ia, const rt_column *b,
                        const rt__textindex *ib, uint32_t *ra, uint32_t *rb) {
  size_t i = 0, j = 0;
  uint32_t r = 0;
  while (i < ia->n || j < ib->n) {
    const char *m;
    if (i == ia->n)
      m = dict_str(b, ib->sorted[j]);
    else if (j == ib->n)
      m = dict_str(a, ia->sorted[i]);
    else {
      const char *x = dict_str(a, ia->sorted[i]), *y = dict_str(b, ib->sorted[j]);
      m = strcmp(x, y) <= 0 ? x : y;
    }
    while (i < ia->n && strcmp(dict_str(a, ia->sorted[i]), m) == 0)
      ra[ia->sorted[i++]] = r;
    while (j < ib->n && strcmp(dict_str(b, ib->sorted[j]), m) == 0)
      rb[ib->sorted[j++]] = r;
    r++;
  }
  return 0;
}
