/* import.h - importing CSV files into the store: orders (with their lines and refunds),
 * customers, events and subscriptions.
 *
 * Columns are found by common header names (docs/IMPORT.md lists them) or named by the caller,
 * by header name or by 1-based position. An import is one transaction: it stores everything or,
 * on the first bad row, nothing, and the error names file, line, column and reason. With
 * skip_bad the good rows are stored and every bad one is reported (count, first few in the
 * result, all in a rejects file). Importing the same data twice stores nothing twice: orders,
 * refunds, events and subscriptions are keyed by their ids; rows without an id by their content
 * and its occurrence count in the file (two identical purchases in one file are two orders). */
#ifndef RETAIN_IMPORT_H
#define RETAIN_IMPORT_H

#include <retain/csv.h>
#include <retain/datetime.h>
#include <retain/error.h>
#include <retain/store.h>
#include <stdint.h>

typedef enum {
  RT_IMPORT_ORDERS = 0,
  RT_IMPORT_CUSTOMERS,
  RT_IMPORT_EVENTS,
  RT_IMPORT_SUBSCRIPTIONS
} rt_import_kind;

/* The logical fields a file's columns map to. */
typedef enum {
  RT_COL_CUSTOMER = 0, /* customer id */
  RT_COL_EMAIL,
  RT_COL_PHONE,
  RT_COL_ORDER,        /* order / invoice id */
  RT_COL_DATE,         /* order date, event time, signup date, subscription start */
  RT_COL_AMOUNT,       /* order total, subscription price */
  RT_COL_QUANTITY,
  RT_COL_PRICE,        /* unit price */
  RT_COL_CURRENCY,
  RT_COL_PRODUCT,      /* SKU / product id */
  RT_COL_NAME,         /* product name / description */
  RT_COL_TYPE,         /* event type */
  RT_COL_PROPERTIES,   /* event properties (JSON object) */
  RT_COL_EVENT_ID,
  RT_COL_SUBSCRIPTION, /* subscription id */
  RT_COL_PLAN,
  RT_COL_CANCELED,     /* subscription cancellation time */
  RT_COL_RENEWS,       /* next renewal */
  RT_COL_INTERVAL,
  RT_COL_COUNT
} rt_import_col;

/* The CLI flag stem of a field ("customer" for --customer-col). */
const char *rt_import_col_name(rt_import_col c);
int rt_import_kind_parse(const char *s, rt_import_kind *out);

typedef struct rt_import_opts {
  rt_import_kind kind;
  rt_csv_opts csv;
  int no_header;             /* columns are then named by position only */
  const char *cols[RT_COL_COUNT]; /* header name or 1-based position; NULL = find by name */
  const char *date_format;   /* NULL: automatic */
  const rt_tz *tz;           /* zone of times without an offset; NULL = UTC */
  const char *currency;      /* when the file has no currency column; NULL = "USD" */
  int skip_bad;
  int threads;               /* rt_import_orders_to_model: 1 reads with one thread; 0 lets a
                                large file be read by two */
  const char *rejects_path;  /* with skip_bad: every rejected row with its line and reason */
  void (*progress_cb)(void *ctx, uint64_t bytes_done, uint64_t bytes_total, uint64_t rows);
  void *progress_ctx;
} rt_import_opts;

void rt_import_opts_init(rt_import_opts *o, rt_import_kind kind);

typedef struct rt_import_result {
  int64_t rows;          /* data rows read */
  int64_t stored;        /* new orders / refunds / customers / events / subscriptions */
  int64_t merged;        /* rows added to a row of the same import (order lines) or updates */
  int64_t duplicates;    /* rows already in the store from an earlier import */
  int64_t refunds;       /* of stored: refunds */
  int64_t new_customers;
  int64_t skipped;       /* bad rows skipped (skip_bad) */
  char first_rejects[5][300]; /* the first skipped rows' messages */
  int64_t import_id;
} rt_import_result;

/* Imports path ("-" for standard input) into st. On failure nothing is stored (the transaction
 * is rolled back) and err says "FILE:LINE:COLUMN: reason". */
int rt_import_file(rt_store *st, const char *path, const rt_import_opts *opts,
                   rt_import_result *res, rt_error *err);

/* Reads an orders file straight into a customer model builder (no store), with the same column
 * rules and errors. Used by `retain report|cohorts --orders FILE`. */
struct rt_model_builder;
int rt_import_orders_to_model(const char *path, const rt_import_opts *opts,
                              struct rt_model_builder *b, rt_import_result *res, rt_error *err);

#endif
