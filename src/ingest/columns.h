/* columns.h - mapping a CSV file's columns to import fields (internal to src/ingest). */
#ifndef RT_INGEST_COLUMNS_H
#define RT_INGEST_COLUMNS_H

#include <retain/import.h>

#include <stdint.h>
#include <stdio.h>

typedef struct rt__colmap {
  int idx[RT_COL_COUNT]; /* 0-based field index, -1 when absent */
  int nheader;           /* fields in the header (0 with no_header) */
  char **names;          /* header names (copies), for messages; NULL entries with no_header */
} rt__colmap;

/* Resolves the fields of kind from a header record (NULL with no_header) and the caller's
 * overrides. Fails with a message naming the missing column and the names looked for. */
int rt__colmap_resolve(rt__colmap *cm, rt_import_kind kind, const rt_csv_record *header,
                       const rt_import_opts *opts, const char *file, rt_error *err);
void rt__colmap_free(rt__colmap *cm);
/* "column 3 'order_date'" or "column 3" for messages. */
void rt__colmap_describe(const rt__colmap *cm, int idx, char *buf, size_t n);
/* A header name as it is compared: lowercase letters and digits only ("Customer ID" ->
 * "customerid"), cut to n - 1 bytes. */
void rt__colname_normalise(const char *s, char *out, size_t n);

/* What an importer does with a bad row (import.c, rates_import.c). Without skip_bad it is an
 * RT_EPARSE error "FILE:LINE:COLUMN (column N 'NAME'): REASON" (col 0-based, or -1 for the
 * row: "FILE:LINE: REASON"). With skip_bad the row is counted in *skipped, its message kept in
 * first[] while there is room, and the row written to the rejects file (line, reason, then the
 * original fields, as CSV); it returns 0. */
typedef struct rt__rejects {
  int skip_bad;
  FILE *file;         /* the rejects file, or NULL */
  int64_t *skipped;
  char (*first)[300]; /* nfirst messages */
  size_t nfirst;
} rt__rejects;
/* s[0..*n) without the spaces and tabs around it (and a stray CR at its end): *n is set to the
 * trimmed length, the trimmed start returned. */
static inline const char *rt__trim(const char *s, size_t *n) {
  size_t k = *n;
  while (k && (*s == ' ' || *s == '\t')) {
    s++;
    k--;
  }
  while (k && (s[k - 1] == ' ' || s[k - 1] == '\t' || s[k - 1] == '\r'))
    k--;
  *n = k;
  return s;
}

int rt__bad_row(const rt__rejects *rj, const char *file, const rt__colmap *cm,
                const rt_csv_record *rec, int col, const char *reason, rt_error *err);

#endif
