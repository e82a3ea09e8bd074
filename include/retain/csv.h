/* csv.h - streaming CSV reader.
 *
 * Reads RFC 4180 CSV (quoted fields, doubled quotes, CRLF or LF, quoted newlines), an optional
 * UTF-8 byte order mark, any one-byte delimiter, or fields separated by runs of blanks (the
 * CDNOW files). Input is checked to be valid UTF-8, or converted from Latin-1. Memory is
 * constant: one buffer of the largest record. Not thread-safe; one reader per thread. */
#ifndef RETAIN_CSV_H
#define RETAIN_CSV_H

#include <retain/error.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { RT_ENC_UTF8 = 0, RT_ENC_LATIN1 = 1 } rt_encoding;

typedef struct rt_csv_opts {
  char delimiter;       /* ',' when 0 */
  int whitespace;       /* 1: fields are separated by runs of spaces/tabs; leading and trailing
                           blanks on a line are ignored; quotes still work. delimiter ignored. */
  rt_encoding encoding; /* RT_ENC_UTF8 (validated) or RT_ENC_LATIN1 (converted to UTF-8) */
} rt_csv_opts;

/* One record. The field pointers stay valid until the next rt_csv_next or rt_csv_close.
 * Every field is NUL-terminated (len excludes the NUL); quotes are removed and doubled quotes
 * undone. A blank line is skipped, never returned as a record. */
typedef struct rt_csv_record {
  size_t nfields;
  char **fields;
  size_t *lens;
  uint64_t line; /* 1-based line on which the record starts */
} rt_csv_record;

typedef struct rt_csv rt_csv;

/* Opens path for reading ("-" is standard input). On failure *out is NULL and err names the
 * file and the reason. */
int rt_csv_open_file(const char *path, const rt_csv_opts *opts, rt_csv **out, rt_error *err);
/* Reads from memory the caller keeps alive until rt_csv_close. name is used in messages. */
int rt_csv_open_mem(const char *data, size_t len, const char *name, const rt_csv_opts *opts,
                    rt_csv **out, rt_error *err);

/* Reads the next record into *rec. Returns 1 when a record was read, 0 at the end of input, a
 * negative RT_E* code on error; err then reads "NAME:LINE:COLUMN: reason" (unterminated quote,
 * invalid UTF-8 byte, stray quote in an unquoted field, I/O error). Columns count characters
 * from 1. */
int rt_csv_next(rt_csv *c, rt_csv_record *rec, rt_error *err);

/* Bytes consumed so far and total size (0 when unknown, e.g. a pipe): for progress bars. */
uint64_t rt_csv_bytes_read(const rt_csv *c);
uint64_t rt_csv_bytes_total(const rt_csv *c);
const char *rt_csv_name(const rt_csv *c);

void rt_csv_close(rt_csv *c); /* c may be NULL */

/* ---- writing ----
 * Every CSV retain writes (the API's export, the CLI's CSV output, the rejects file) writes its
 * cells with rt_csv_cell, so the rules are in one place:
 * - RFC 4180 quoting: a cell holding a comma, a quote, CR or LF is quoted, quotes doubled;
 * - formula injection: a text cell that starts with = + - @, a tab or a CR would be run as a
 *   formula by a spreadsheet that opens the file; it is written with a leading single quote
 *   (OWASP's advice), which the spreadsheet shows as text. Numbers, dates and booleans are
 *   not at risk ("-5.2" stays "-5.2"), so only text cells (ids, names, attributes, column
 *   names) are guarded: the caller says which a cell is. */
typedef enum { RT_CSV_NUMBER = 0, RT_CSV_TEXT = 1 } rt_csv_kind;
/* Bytes rt_csv_cell may write for a value of len bytes. */
#define RT_CSV_CELL_ROOM(len) (2 * (size_t)(len) + 3)
/* Writes s as one cell at out (room for RT_CSV_CELL_ROOM(strlen(s)) bytes; no NUL added) and
 * returns the bytes written. */
size_t rt_csv_cell(char *out, const char *s, rt_csv_kind kind);
/* 1 when a text cell s would be guarded (starts with = + - @, tab or CR). */
int rt_csv_formula_risk(const char *s);

#endif
