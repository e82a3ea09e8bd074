/* columns.h - mapping a CSV file's columns to import fields (internal to src/ingest). */
#ifndef RT_INGEST_COLUMNS_H
#define RT_INGEST_COLUMNS_H

#include <retain/import.h>

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

#endif
