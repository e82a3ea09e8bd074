/* table.c - reading a labelled customer table (churn.h): every record kept as text first, then
 * each column typed (numeric when every non-blank value is a number) and encoded. */
#include <retain/alloc.h>
#include <retain/churn.h>
#include <retain/csv.h>

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void rt_ctable_free(rt_ctable *t) {
  if (!t)
    return;
  for (size_t j = 0; j < t->ncols && t->names; j++)
    rt_free(t->names[j]);
  for (size_t i = 0; i < t->nrows && t->ids; i++)
    rt_free(t->ids[i]);
  rt_free(t->names);
  rt_free(t->ids);
  rt_free(t->x);
  rt_free(t->y);
  rt_free(t);
}

/* the text of a cell without surrounding blanks */
static const char *cell(char **rows, size_t ncol, size_t i, size_t j, size_t *len) {
  const char *s = rows[i * ncol + j];
  size_t n = strlen(s);
  while (n && isspace((unsigned char)*s)) {
    s++;
    n--;
  }
  while (n && isspace((unsigned char)s[n - 1]))
    n--;
  *len = n;
  return s;
}

static int parse_number(const char *s, size_t n, double *v) {
  char buf[64];
  if (!n || n >= sizeof buf)
    return 0;
  memcpy(buf, s, n);
  buf[n] = 0;
  char *end;
  *v = strtod(buf, &end);
  return *end == 0 && isfinite(*v);
}

static int parse_label(const char *s, size_t n, uint8_t *y) {
  static const char *yes[] = {"yes", "1", "true", "y"}, *no[] = {"no", "0", "false", "n"};
  for (int k = 0; k < 4; k++) {
    if (strlen(yes[k]) == n && !strncasecmp(s, yes[k], n)) {
      *y = 1;
      return 1;
    }
    if (strlen(no[k]) == n && !strncasecmp(s, no[k], n)) {
      *y = 0;
      return 1;
    }
  }
  return 0;
}

typedef struct names {
  char **v;
  size_t n, cap;
} names;

static int push_name(names *nm, const char *a, const char *b, size_t blen) {
  if (nm->n == nm->cap) {
    size_t cap = nm->cap ? nm->cap * 2 : 64;
    char **v = rt_reallocarray(nm->v, cap, sizeof *v);
    if (!v)
      return RT_ENOMEM;
    nm->v = v;
    nm->cap = cap;
  }
  size_t la = strlen(a);
  char *s = rt_malloc(la + (b ? blen + 1 : 0) + 1);
  if (!s)
    return RT_ENOMEM;
  memcpy(s, a, la);
  if (b) {
    s[la] = '=';
    memcpy(s + la + 1, b, blen);
    s[la + 1 + blen] = 0;
  } else {
    s[la] = 0;
  }
  nm->v[nm->n++] = s;
  return 0;
}

int rt_ctable_read_csv(const char *path, const char *id_col, const char *label_col,
                       rt_ctable **out, rt_error *err) {
  *out = NULL;
  rt_csv_opts o = {0};
  rt_csv *csv = NULL;
  rt_csv_record rec;
  char **header = NULL, **rows = NULL;
  uint64_t *lines = NULL;
  size_t ncol = 0, nrows = 0, cap = 0;
  rt_ctable *t = NULL;
  names nm = {0};
  int *kind = NULL; /* per column: 0 skip, 1 numeric, 2 categorical, 3 id, 4 label */
  int rc = rt_csv_open_file(path, &o, &csv, err);
  if (rc)
    return rc;
  int got = rt_csv_next(csv, &rec, err);
  if (got <= 0) {
    rc = got < 0 ? err->code : rt_error_set(err, RT_EPARSE, "%s: empty file", path);
    goto out;
  }
  ncol = rec.nfields;
  header = rt_calloc(ncol, sizeof *header);
  kind = rt_calloc(ncol, sizeof *kind);
  if (!header || !kind)
    goto nomem;
  long idc = -1, lab = -1;
  for (size_t j = 0; j < ncol; j++) {
    if (!(header[j] = rt_strndup(rec.fields[j], rec.lens[j])))
      goto nomem;
    if (id_col && !strcmp(header[j], id_col))
      idc = (long)j;
    if (!strcmp(header[j], label_col))
      lab = (long)j;
  }
  if (lab < 0) {
    rc = rt_error_set(err, RT_EINVAL, "%s: no column '%s' for the label", path, label_col);
    goto out;
  }
  if (id_col && idc < 0) {
    rc = rt_error_set(err, RT_EINVAL, "%s: no column '%s' for the id", path, id_col);
    goto out;
  }
  while ((got = rt_csv_next(csv, &rec, err)) == 1) {
    if (rec.nfields != ncol) {
      rc = rt_error_set(err, RT_EPARSE, "%s:%llu: %zu fields, the header has %zu", path,
                        (unsigned long long)rec.line, rec.nfields, ncol);
      goto out;
    }
    if (nrows == cap) {
      cap = cap ? cap * 2 : 1024;
      char **r = rt_reallocarray(rows, cap * ncol, sizeof *r);
      uint64_t *l = rt_reallocarray(lines, cap, sizeof *l);
      if (r)
        rows = r;
      if (l)
        lines = l;
      if (!r || !l)
        goto nomem;
    }
    lines[nrows] = rec.line;
    for (size_t j = 0; j < ncol; j++)
      if (!(rows[nrows * ncol + j] = rt_strndup(rec.fields[j], rec.lens[j]))) {
        for (size_t k = 0; k < j; k++)
          rt_free(rows[nrows * ncol + k]);
        goto nomem;
      }
    nrows++;
  }
  if (got < 0) {
    rc = err->code;
    goto out;
  }
  if (nrows < 2) {
    rc = rt_error_set(err, RT_EPARSE, "%s: fewer than 2 rows", path);
    goto out;
  }
  t = rt_calloc(1, sizeof *t);
  if (!t || !(t->y = rt_malloc(nrows)))
    goto nomem;
  t->nrows = nrows;
  /* labels */
  for (size_t i = 0; i < nrows; i++) {
    size_t n;
    const char *s = cell(rows, ncol, i, (size_t)lab, &n);
    if (!parse_label(s, n, &t->y[i])) {
      rc = rt_error_set(err, RT_EPARSE, "%s:%llu:%ld (column '%s'): label '%.*s' is not "
                        "yes/no, 1/0 or true/false", path, (unsigned long long)lines[i],
                        lab + 1, label_col, (int)(n < 40 ? n : 40), s);
      goto out;
    }
  }
  /* types: numeric when every non-blank value is a number; text columns with a distinct value
   * in nearly every row are ids, left out */
  for (size_t j = 0; j < ncol; j++) {
    if ((long)j == lab || (long)j == idc) {
      kind[j] = (long)j == lab ? 4 : 3;
      continue;
    }
    int numeric = 1;
    for (size_t i = 0; i < nrows && numeric; i++) {
      size_t n;
      double v;
      const char *s = cell(rows, ncol, i, j, &n);
      numeric = !n || parse_number(s, n, &v);
    }
    kind[j] = numeric ? 1 : 2;
  }
  /* categories per text column, in order of first appearance (a small map each) */
  size_t total = 0;
  rt__strmap *maps = rt_calloc(ncol, sizeof *maps);
  if (!maps)
    goto nomem;
  for (size_t j = 0; j < ncol; j++) {
    rt__strmap_init(&maps[j]);
    if (kind[j] == 1)
      total++;
    if (kind[j] != 2)
      continue;
    for (size_t i = 0; i < nrows; i++) {
      size_t n;
      uint32_t ix;
      const char *s = cell(rows, ncol, i, j, &n);
      if (n && rt__strmap_intern(&maps[j], s, n, &ix, NULL)) {
        rc = RT_ENOMEM;
        break;
      }
    }
    if (maps[j].count > 100 && maps[j].count * 2 > nrows) {
      kind[j] = 0;
      t->skipped++;
    } else {
      total += maps[j].count;
    }
  }
  if (!rc) {
    for (size_t j = 0; j < ncol && !rc; j++) {
      if (kind[j] == 1)
        rc = push_name(&nm, header[j], NULL, 0);
      else if (kind[j] == 2)
        for (uint32_t c = 0; c < maps[j].count && !rc; c++)
          rc = push_name(&nm, header[j], rt__strmap_key(&maps[j], c), rt__strmap_len(&maps[j], c));
    }
  }
  if (!rc && !(t->x = rt_malloc((nrows * total > 0 ? nrows * total : 1) * sizeof *t->x)))
    rc = RT_ENOMEM;
  if (!rc && idc >= 0 && !(t->ids = rt_calloc(nrows, sizeof *t->ids)))
    rc = RT_ENOMEM;
  if (!rc) {
    t->ncols = total;
    t->names = nm.v;
    nm.v = NULL;
    for (size_t i = 0; i < nrows && !rc; i++) {
      float *row = t->x + i * total;
      size_t k = 0;
      for (size_t j = 0; j < ncol; j++) {
        size_t n;
        const char *s = cell(rows, ncol, i, j, &n);
        if (kind[j] == 1) {
          double v;
          row[k++] = n && parse_number(s, n, &v) ? (float)v : NAN;
        } else if (kind[j] == 2) {
          uint32_t ix = UINT32_MAX;
          if (n)
            rt__strmap_find(&maps[j], s, n, &ix);
          for (uint32_t c = 0; c < maps[j].count; c++)
            row[k++] = n ? (float)(c == ix) : NAN;
        } else if (kind[j] == 3) {
          if (!(t->ids[i] = rt_strndup(s, n)))
            rc = RT_ENOMEM;
        }
      }
    }
  }
  for (size_t j = 0; j < ncol; j++)
    rt__strmap_free(&maps[j]);
  rt_free(maps);
  if (rc) {
    rc = rt_error_set(err, rc, "%s: %s", path, rt_strerror(rc));
    goto out;
  }
  *out = t;
  t = NULL;
  goto out;
nomem:
  rc = rt_error_set(err, RT_ENOMEM, "%s: %s", path, rt_strerror(RT_ENOMEM));
out:
  rt_csv_close(csv);
  for (size_t j = 0; header && j < ncol; j++)
    rt_free(header[j]);
  rt_free(header);
  for (size_t i = 0; i < nrows * ncol; i++)
    rt_free(rows[i]);
  rt_free(rows);
  rt_free(lines);
  rt_free(kind);
  for (size_t j = 0; j < nm.n && nm.v; j++)
    rt_free(nm.v[j]);
  rt_free(nm.v);
  if (t) {
    t->ncols = t->names ? t->ncols : 0;
    rt_ctable_free(t);
  }
  return rc;
}
