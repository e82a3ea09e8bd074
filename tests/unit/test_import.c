/* test_import.c - CSV import into a real SQLite store: column detection, order lines,
 * refunds, idempotency, all-or-nothing errors with file:line:column, --skip-bad, files without
 * a header, whitespace-separated files, and the store-less path into a model. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "internal.h"
#include <retain/import.h>
#include <retain/model.h>
#include <retain/store.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fx {
  char dir[64];
  char db[128];
  rt_store *st;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/rt_test_import_XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  snprintf(f->db, sizeof f->db, "%s/t.db", f->dir);
  rt_store_config cfg = {.path = f->db};
  if (rt_store_open(&cfg, &f->st, NULL))
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  rt_store_close(f->st);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
  if (system(cmd) != 0)
    return -1;
  free(f);
  return 0;
}

static const char *write_file(fx *f, const char *name, const char *text) {
  static char path[256];
  snprintf(path, sizeof path, "%s/%s", f->dir, name);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
  return path;
}

static int64_t count(fx *f, const char *table) {
  int64_t n = -1;
  assert_int_equal(rt_store_count(f->st, table, &n, NULL), 0);
  return n;
}

/* Online Retail's shape: invoice lines, decimal customer ids, a "C" cancellation. */
static const char *retail =
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom\n"
    "536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,17850.0,United Kingdom\n"
    "536367,84879,ASSORTED BIRD,32,2010-12-01 08:34:00,1.69,13047.0,United Kingdom\n"
    "C536379,D,Discount,-1,2010-12-01 09:41:00,27.50,14527.0,United Kingdom\n"
    "536370,22728,ALARM CLOCK,24,2010-12-01 08:45:00,3.75,12583.0,France\n"
    "536370,22727,ALARM CLOCK RED,24,2010-12-01 08:45:00,3.75,12583.0,France\n";

static void test_orders_with_lines_and_refunds(void **state) {
  fx *f = *state;
  const char *path = write_file(f, "retail.csv", retail);
  rt_import_opts o;
  rt_import_opts_init(&o, RT_IMPORT_ORDERS);
  rt_import_result r;
  rt_error err;
  assert_int_equal(rt_import_file(f->st, path, &o, &r, &err), 0);
  assert_int_equal(r.rows, 7);
  assert_int_equal(r.stored, 5);  /* 4 orders + 1 refund */
  assert_int_equal(r.refunds, 1);
  assert_int_equal(r.merged, 2);  /* the second lines of 536365 and 536370 */
  assert_int_equal(r.new_customers, 4);
  assert_int_equal(count(f, "orders"), 4);
  assert_int_equal(count(f, "refunds"), 1);
  assert_int_equal(count(f, "order_lines"), 6);
  int64_t id;
  assert_int_equal(rt_store_customer_find(f->st, "17850", 5, &id, NULL), 0); /* ".0" dropped */

  rt_model *m;
  assert_int_equal(rt_model_load(f->st, NULL, NULL, &m, &err), 0);
  for (size_t i = 0; i < m->ncustomers; i++) {
    const char *c = rt_model_ext_id(m, i);
    if (strcmp(c, "17850") == 0) {
      /* 6 x 2.55 + 6 x 3.39 = 35.64, then 6 x 1.85 = 11.10 */
      assert_int_equal(m->order_start[i + 1] - m->order_start[i], 2);
      assert_int_equal(m->revenue[i], 3564 + 1110);
    } else if (strcmp(c, "14527") == 0) {
      assert_int_equal(m->revenue[i], 0);
      assert_int_equal(m->refunded[i], 2750);
    } else if (strcmp(c, "12583") == 0) {
      assert_int_equal(m->revenue[i], 2 * 24 * 375);
    }
  }
  rt_model_free(m);

  /* the same file again stores nothing */
  assert_int_equal(rt_import_file(f->st, path, &o, &r, &err), 0);
  assert_int_equal(r.stored, 0);
  assert_int_equal(r.duplicates, 5);
  assert_int_equal(count(f, "orders"), 4);
  assert_int_equal(count(f, "order_lines"), 6);
}

static void test_rows_without_order_id(void **state) {
  fx *f = *state;
  /* two identical purchases on one day are two orders; a re-import adds nothing */
  const char *path = write_file(f, "plain.csv",
                                "customer_id,date,amount\n"
                                "a,2024-01-05,10.00\n"
                                "a,2024-01-05,10.00\n"
                                "b,2024-01-06,5\n");
  rt_import_opts o;
  rt_import_opts_init(&o, RT_IMPORT_ORDERS);
  rt_import_result r;
  rt_error err;
  assert_int_equal(rt_import_file(f->st, path, &o, &r, &err), 0);
  assert_int_equal(r.stored, 3);
  assert_int_equal(rt_import_file(f->st, path, &o, &r, &err), 0);
  assert_int_equal(r.stored, 0);
  assert_int_equal(r.duplicates, 3);
  /* the file grows by one identical row: exactly that one is new */
  path = write_file(f, "plain.csv",
                    "customer_id,date,amount\n"
                    "a,2024-01-05,10.00\n"
                    "a,2024-01-05,10.00\n"
                    "b,2024-01-06,5\n"
                    "a,2024-01-05,10.00\n");
  assert_int_equal(rt_import_file(f->st, path, &o, &r, &err), 0);
  assert_int_equal(r.stored, 1);
  assert_int_equal(count(f, "orders"), 4);
}

static void test_bad_date_rolls_back(void **state) {
  fx *f = *state;
  const char *path = write_file(f, "bad.csv",
                                "order_id,customer_id,order_date,amount\n"
                                "1,a,2024-01-05,10.00\n"
                                "2,b,2024-01-06,11.00\n"
                                "3,c,2023-13-45,12.00\n"
                                "4,d,2024-01-07,13.00\n");
  rt_import_opts o;
  rt_import_opts_init(&o, RT_IMPORT_ORDERS);
  rt_import_result r;
  rt_error err;
  assert_int_equal(rt_import_file(f->st, path, &o, &r, &err), RT_EPARSE);
  assert_non_null(strstr(err.msg, "bad.csv:4:3 (column 3 'order_date'): "));
  assert_non_null(strstr(err.msg, "2023-13-45"));
  assert_int_equal(count(f, "orders"), 0);
  assert_int_equal(count(f, "customers"), 0);
}

static void test_errors_name_the_place(void **state) {
  fx *f = *state;
  rt_import_opts o;
  rt_import_opts_init(&o, RT_IMPORT_ORDERS);
  rt_import_result r;
  rt_error err;
  const char *p = write_file(f, "num.csv", "customer_id,date,amount\na,2024-01-05,12,50\n");
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), RT_EPARSE);
  assert_non_null(strstr(err.msg, "num.csv:2: expected 3 fields (as in the header), found 4"));
  p = write_file(f, "num2.csv", "customer_id,date,amount\na,2024-01-05,12x\n");
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), RT_EPARSE);
  assert_non_null(strstr(err.msg, "num2.csv:2:3 (column 3 'amount'): invalid number '12x'"));
  p = write_file(f, "nocust.csv", "customer_id,date,amount\n,2024-01-05,12\n");
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), RT_EPARSE);
  assert_non_null(strstr(err.msg, "nocust.csv:2:1 (column 1 'customer_id'): no customer id"));
  p = write_file(f, "nodate.csv", "customer_id,amount\na,12\n");
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), RT_EPARSE);
  assert_non_null(strstr(err.msg, "nodate.csv: missing required column: date"));
  assert_non_null(strstr(err.msg, "--date-col"));
  p = write_file(f, "noamount.csv", "customer_id,date\na,2024-01-01\n");
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), RT_EPARSE);
  assert_non_null(strstr(err.msg, "missing required column: amount"));
  p = write_file(f, "empty.csv", "");
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), RT_EEMPTY);
  assert_non_null(strstr(err.msg, "empty.csv: empty file"));
  p = write_file(f, "quote.csv", "customer_id,date,amount\n\"a,2024-01-05,12\n");
  assert_true(rt_import_file(f->st, p, &o, &r, &err) < 0);
  assert_non_null(strstr(err.msg, "quote.csv:2:"));
  p = write_file(f, "utf.csv", "customer_id,date,amount\n\xe9t\xe9,2024-01-05,12\n");
  assert_true(rt_import_file(f->st, p, &o, &r, &err) < 0);
  assert_non_null(strstr(err.msg, "utf.csv:2:1"));
  o.cols[RT_COL_AMOUNT] = "total_price";
  p = write_file(f, "named.csv", "customer_id,date,amount\na,2024-01-05,12\n");
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "--amount-col 'total_price': no such column"));
  assert_int_equal(rt_import_file(f->st, "/nonexistent/x.csv", &o, &r, &err), RT_EIO);
  assert_non_null(strstr(err.msg, "/nonexistent/x.csv"));
  assert_int_equal(count(f, "orders"), 0);
}

static void test_latin1(void **state) {
  fx *f = *state;
  rt_import_opts o;
  rt_import_opts_init(&o, RT_IMPORT_ORDERS);
  o.csv.encoding = RT_ENC_LATIN1;
  rt_import_result r;
  rt_error err;
  const char *p = write_file(f, "l1.csv", "customer_id,date,amount\n\xe9t\xe9,2024-01-05,12\n");
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), 0);
  int64_t id;
  assert_int_equal(rt_store_customer_find(f->st, "\xc3\xa9t\xc3\xa9", 5, &id, NULL), 0);
}

static void test_skip_bad(void **state) {
  fx *f = *state;
  const char *path = write_file(f, "mixed.csv",
                                "order_id,customer_id,order_date,amount\n"
                                "1,a,2024-01-05,10.00\n"
                                "2,,2024-01-06,11.00\n"
                                "3,c,2023-13-45,12.00\n"
                                "4,d,2024-01-07,13.00\n");
  char rejects[256];
  snprintf(rejects, sizeof rejects, "%s/rejects.csv", f->dir);
  rt_import_opts o;
  rt_import_opts_init(&o, RT_IMPORT_ORDERS);
  o.skip_bad = 1;
  o.rejects_path = rejects;
  rt_import_result r;
  rt_error err;
  assert_int_equal(rt_import_file(f->st, path, &o, &r, &err), 0);
  assert_int_equal(r.rows, 4);
  assert_int_equal(r.stored, 2);
  assert_int_equal(r.skipped, 2);
  assert_non_null(strstr(r.first_rejects[0], "mixed.csv:3:2"));
  assert_non_null(strstr(r.first_rejects[0], "no customer id"));
  assert_non_null(strstr(r.first_rejects[1], "mixed.csv:4:3"));
  FILE *fp = fopen(rejects, "r");
  assert_non_null(fp);
  char line[512];
  int n = 0;
  while (fgets(line, sizeof line, fp))
    n++;
  fclose(fp);
  assert_int_equal(n, 3); /* header + 2 rejects */
  assert_int_equal(count(f, "orders"), 2);
}

static void test_no_header_whitespace(void **state) {
  fx *f = *state;
  /* CDNOW_sample's shape: master id, sample id, date, CDs, dollars */
  const char *path = write_file(f, "cdnow.txt",
                                " 00004 0001 19970101  2   29.33\n"
                                " 00004 0001 19970118  2   29.73\n"
                                " 00021 0002 19970101  3   63.34\n");
  rt_import_opts o;
  rt_import_opts_init(&o, RT_IMPORT_ORDERS);
  o.csv.whitespace = 1;
  o.no_header = 1;
  o.cols[RT_COL_CUSTOMER] = "2";
  o.cols[RT_COL_DATE] = "3";
  o.cols[RT_COL_AMOUNT] = "5";
  rt_import_result r;
  rt_error err;
  assert_int_equal(rt_import_file(f->st, path, &o, &r, &err), 0);
  assert_int_equal(r.stored, 3);
  assert_int_equal(r.new_customers, 2);
  int64_t id;
  assert_int_equal(rt_store_customer_find(f->st, "0001", 4, &id, NULL), 0);
  o.cols[RT_COL_CUSTOMER] = "customer";
  assert_int_equal(rt_import_file(f->st, path, &o, &r, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "needs column numbers"));
}

static void test_split_order_falls_back(void **state) {
  fx *f = *state;
  /* lines of order 1 are not adjacent: the bulk path detects it and the careful path merges */
  const char *path = write_file(f, "split.csv",
                                "order_id,customer_id,date,quantity,unit_price\n"
                                "1,a,2024-01-05,1,10.00\n"
                                "2,b,2024-01-05,1,5.00\n"
                                "1,a,2024-01-05,2,1.50\n");
  rt_import_opts o;
  rt_import_opts_init(&o, RT_IMPORT_ORDERS);
  rt_import_result r;
  rt_error err;
  assert_int_equal(rt_import_file(f->st, path, &o, &r, &err), 0);
  assert_int_equal(r.stored, 2);
  assert_int_equal(count(f, "orders"), 2);
  assert_int_equal(count(f, "order_lines"), 3);
  rt_model *m;
  assert_int_equal(rt_model_load(f->st, NULL, NULL, &m, &err), 0);
  for (size_t i = 0; i < m->ncustomers; i++)
    if (strcmp(rt_model_ext_id(m, i), "a") == 0)
      assert_int_equal(m->revenue[i], 1300);
  rt_model_free(m);
}

static void test_to_model(void **state) {
  fx *f = *state;
  const char *path = write_file(f, "retail.csv", retail);
  rt_import_opts o;
  rt_import_opts_init(&o, RT_IMPORT_ORDERS);
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(NULL, NULL, &b), 0);
  rt_import_result r;
  rt_error err;
  assert_int_equal(rt_import_orders_to_model(path, &o, b, &r, &err), 0);
  rt_model *m;
  assert_int_equal(rt_model_build(b, &m, &err), 0);
  assert_int_equal(m->ncustomers, 4);
  assert_int_equal(m->norders, 4);
  assert_int_equal(m->nrefunds, 1);
  assert_int_equal(count(f, "orders"), 0); /* the store was not touched */
  rt_model_free(m);
}

/* A file big enough for the two-thread read (> 8 MiB) gives exactly the model of the one-thread
 * read, including the order whose lines straddle the cut (every order here has 3 lines). */
/* Writes a file big enough for the two-thread read: 110,000 orders of 3 lines each; customer
 * ids "c<n>" (style 0), plain numbers (style 1, resolved in batches), or numbers with a few
 * other ids among them (style 2: the batch is resolved where the first one appears). Every
 * 37th order is a cancellation (a refund), every 53rd in another currency. Layouts: 0 lines
 * with quantity and unit price; 1 lines with an amount each (the fast row loop); 2 the same
 * without order ids, so every line is an order; 3 like 1 with a quoted note (the CSV reader
 * again); 4 like 1 with quoted notes in the last tenth only (one half each way). */
static void write_big_orders(const char *path, int style, int layout) {
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  if (layout == 0)
    fputs("order_id,customer_id,date,quantity,unit_price,currency,note\n", fp);
  else if (layout == 2)
    fputs("customer_id,date,amount,currency,note\n", fp);
  else
    fputs("order_id,customer_id,date,amount,currency,note\n", fp);
  unsigned seed = 7;
  for (int o = 0; o < 110000; o++) {
    seed = seed * 1103515245u + 12345u;
    int cust = (int)(seed >> 8) % 20000;
    char id[32];
    if (style == 0 || (style == 2 && o % 40000 == 30000) || (style == 3 && o == 100000))
      snprintf(id, sizeof id, "c%d", cust);
    else
      snprintf(id, sizeof id, "%d", cust);
    /* EUR from the 53rd order on (the first rows of a part are then all USD) */
    const char *cur = o % 53 != 52 || layout >= 5 ? "USD" : "EUR";
    int sign = o % 37 ? 1 : -1;
    for (int l = 0; l < 3; l++) {
      if (layout == 0)
        fprintf(fp, "%d,%s,2024-%02d-%02d 10:00:00,%d,%d.%02d,%s,padding text for size\n", o, id,
                1 + o % 12, 1 + o % 28, sign * (1 + l), 1 + o % 50, l * 7, cur);
      else if (layout == 2)
        fprintf(fp, "%s, 2024-%02d-%02d 10:%02d:00 ,%d.%02d,%s,padding text for size\n", id,
                1 + o % 12, 1 + o % 28, l, sign * (1 + o % 50), l * 7, cur);
      else
        fprintf(fp, "%d,%s,2024-%02d-%02d 10:00:00,%d.%02d,%s,%s\n", o, id, 1 + o % 12,
                1 + o % 28, sign * (1 + o % 50), l * 7, cur,
                layout == 3 || (layout == 4 && o >= 99000) ? "\"padding, quoted\""
                                                           : "padding text for size");
    }
  }
  fclose(fp);
}

/* The two-thread read gives the same model as the one-thread read: the same customers in the
 * same order (first appearance), each with the same orders and refunds. Layouts 5 and 6 hold
 * one currency (each half's orders then come counted per block from the census): USD, kept in
 * 5 and left out in 6, where the model's currency is EUR. */
static void test_parallel_read_equals_serial(void **state) {
  fx *f = *state;
  char path[256];
  snprintf(path, sizeof path, "%s/big.csv", f->dir);
  for (int layout = 0; layout < 7; layout++) {
    for (int style = 0; style < 4; style++) {
      /* ids: 0 strings, 1 numbers, 2 numbers and a string in each half, 3 in the second */
      if ((layout >= 2 && style == 0) || (style == 3 && layout != 1 && layout != 5))
        continue;
      write_big_orders(path, style, layout);
      long fast0 = atomic_load(&rt__import_fast_parts);
      rt_model *m[2];
      rt_import_result r[2];
      rt_error err;
      for (int k = 0; k < 2; k++) {
        rt_import_opts o;
        rt_import_opts_init(&o, RT_IMPORT_ORDERS);
        o.threads = k ? 1 : 0;
        rt_model_builder *b;
        assert_int_equal(rt_model_builder_new(NULL, layout == 6 ? "EUR" : NULL, &b), 0);
        assert_int_equal(rt_import_orders_to_model(path, &o, b, &r[k], &err), 0);
        assert_int_equal(rt_model_build(b, &m[k], &err), 0);
      }
      /* layouts 1 and 2 are read by the fast row loop in both halves, 4 in the first */
      assert_int_equal(atomic_load(&rt__import_fast_parts) - fast0,
                       layout == 1 || layout == 2 || layout >= 5 ? 2 : layout == 4 ? 1 : 0);
      assert_int_equal(r[0].rows, 330000);
      assert_int_equal(r[0].rows, r[1].rows);
      assert_int_equal(r[0].merged, r[1].merged);
      assert_int_equal(r[0].stored, r[1].stored);
      assert_int_equal(r[0].refunds, r[1].refunds);
      assert_int_equal(m[0]->norders, m[1]->norders);
      assert_int_equal(m[0]->nrefunds, m[1]->nrefunds);
      assert_int_equal(m[0]->other_currency_rows, m[1]->other_currency_rows);
      assert_int_equal(m[0]->ncancelled, m[1]->ncancelled);
      /* orders: 2,973 refunds (every 37th), 2,075 in EUR (every 53rd) of which 56 refunds;
       * without order ids every line counts. A refund equal to an earlier order of its
       * customer cancels it: both leave the order and refund columns. */
      int lines = layout == 2 ? 3 : 1;
      size_t nc = m[0]->ncancelled;
      assert_int_equal(m[0]->norders + m[0]->nrefunds + 2 * nc + m[0]->other_currency_rows,
                       110000 * lines);
      assert_int_equal(r[0].refunds, 2973 * lines);
      if (layout == 5) {
        assert_int_equal(m[0]->nrefunds + nc, 2973);
        assert_int_equal(m[0]->other_currency_rows, 0);
      } else if (layout == 6) {
        assert_int_equal(m[0]->norders + m[0]->nrefunds + nc, 0);
      } else {
        assert_int_equal(m[0]->nrefunds + nc, (2973 - 56) * lines);
        assert_int_equal(m[0]->other_currency_rows, 2075 * lines);
      }
      /* the customers: in numeric order when every id is a number (style 1), else in order
       * of first appearance, like the one-thread read */
      assert_int_equal(m[0]->ncustomers, m[1]->ncustomers);
      rt__strmap at;
      rt__strmap_init(&at);
      for (size_t i = 0; i < m[0]->ncustomers; i++) {
        const char *id = rt_model_ext_id(m[0], i);
        uint32_t ix;
        assert_int_equal(rt__strmap_intern(&at, id, strlen(id), &ix, NULL), 0);
        if (style != 1)
          assert_string_equal(id, rt_model_ext_id(m[1], i));
        else if (i > 0)
          assert_true(atol(rt_model_ext_id(m[0], i - 1)) < atol(id));
      }
      /* each customer with the same orders and refunds, in the same order */
      for (size_t i = 0; i < m[1]->ncustomers; i++) {
        const char *id = rt_model_ext_id(m[1], i);
        uint32_t j;
        assert_int_equal(rt__strmap_find(&at, id, strlen(id), &j), 1);
        assert_int_equal(m[0]->revenue[j], m[1]->revenue[i]);
        uint32_t a = m[0]->order_start[j], e = m[1]->order_start[i];
        assert_int_equal(m[0]->order_start[j + 1] - a, m[1]->order_start[i + 1] - e);
        for (uint32_t k = 0; k < m[1]->order_start[i + 1] - e; k++) {
          assert_int_equal(m[0]->order_amount[a + k], m[1]->order_amount[e + k]);
          assert_int_equal(m[0]->order_ms[a + k], m[1]->order_ms[e + k]);
        }
        a = m[0]->refund_start[j];
        e = m[1]->refund_start[i];
        assert_int_equal(m[0]->refund_start[j + 1] - a, m[1]->refund_start[i + 1] - e);
        for (uint32_t k = 0; k < m[1]->refund_start[i + 1] - e; k++) {
          assert_int_equal(m[0]->refund_amount[a + k], m[1]->refund_amount[e + k]);
          assert_int_equal(m[0]->refund_day[a + k], m[1]->refund_day[e + k]);
        }
      }
      rt__strmap_free(&at);
      rt_model_free(m[0]);
      rt_model_free(m[1]);
    }
  }
}

/* Reading the orders file at path into a model fails with an error that holds msg. */
static void model_import_fails(const char *path, const char *msg) {
  rt_import_opts o;
  rt_import_opts_init(&o, RT_IMPORT_ORDERS);
  rt_model_builder *b;
  assert_int_equal(rt_model_builder_new(NULL, NULL, &b), 0);
  rt_import_result r;
  rt_error err;
  rt_error_clear(&err);
  int rc = rt_import_orders_to_model(path, &o, b, &r, &err);
  if (rc >= 0 || !strstr(err.msg, msg))
    fail_msg("%s: rc %d, '%s'", path, rc, err.msg);
  rt_model_builder_free(b);
}

/* A bad row in a file read by the fast loop: the error still names its line and column. */
static void test_parallel_read_reports_errors(void **state) {
  fx *f = *state;
  char path[256];
  snprintf(path, sizeof path, "%s/bad.csv", f->dir);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs("order_id,customer_id,date,amount,currency,note\n", fp);
  for (int o = 0; o < 300000; o++)
    fprintf(fp, "%d,%d,2024-01-%02d,%d.50,USD,padding text for size\n", o, o % 5000, 1 + o % 28,
            o == 250000 ? 0 : 1);
  fputs("300000,1,2024-02-30,1.00,USD,bad day\n", fp);
  fclose(fp);
  model_import_fails(path, "bad.csv:300002:3");
}

/* Writes len bytes of text (NULs included) into the fixture's directory. */
static const char *write_bytes(fx *f, const char *name, const char *text, size_t len) {
  static char path[256];
  snprintf(path, sizeof path, "%s/%s", f->dir, name);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  assert_int_equal(fwrite(text, 1, len, fp), len);
  fclose(fp);
  return path;
}

/* Values a hostile or broken file holds (issue 13): each refused with its file:line:column,
 * the store unchanged. */
static void test_hostile_values(void **state) {
  fx *f = *state;
#define T(text) text, sizeof text - 1
  static const struct {
    const char *name, *text;
    size_t len;
    const char *msg;
  } cases[] = {
      {"hex.csv", T("customer_id,date,amount\na,2024-01-05,0x1p4\n"),
       "hex.csv:2:3 (column 3 'amount'): invalid number '0x1p4'"},
      {"exp.csv", T("customer_id,date,amount\na,2024-01-05,1e3\n"),
       "exp.csv:2:3 (column 3 'amount'): invalid number '1e3'"},
      {"inf.csv", T("customer_id,date,amount\na,2024-01-05,inf\n"), "inf.csv:2:3"},
      {"big.csv", T("customer_id,date,amount\na,2024-01-05,90000000000000.01\n"),
       "big.csv:2:3 (column 3 'amount'): invalid number '90000000000000.01' (too large)"},
      {"cur.csv", T("customer_id,date,amount,currency\na,2024-01-05,5,zzz\n"),
       "cur.csv:2:4 (column 4 'currency'): invalid currency 'zzz'"},
      {"qty.csv", T("order_id,customer_id,date,quantity,unit_price\n1,a,2024-01-05,1e300,2.50\n"),
       "qty.csv:2:4 (column 4 'quantity'): invalid quantity '1e300'"},
      {"frac.csv", T("order_id,customer_id,date,quantity,unit_price\n1,a,2024-01-05,1.5,2.50\n"),
       "frac.csv:2:4 (column 4 'quantity'): invalid quantity '1.5'"},
      {"zero.csv", T("order_id,customer_id,date,quantity,unit_price\n1,a,2024-01-05,0,2.50\n"),
       "zero.csv:2:4"},
      {"mul.csv",
       T("order_id,customer_id,date,quantity,unit_price\n1,a,2024-01-05,1000000,90000000000\n"),
       "mul.csv:2:4 (column 4 'quantity'): amount too large"},
      {"sum.csv",
       T("order_id,customer_id,date,amount\n1,a,2024-01-05,90000000000000\n"
         "1,a,2024-01-05,90000000000000\n"),
       "sum.csv:3:4 (column 4 'amount'): the order's total is too large"},
      {"nul.csv", T("customer_id,date,amount\nab\0c,2024-01-05,5\n"),
       "nul.csv:2:1 (column 1 'customer_id'): customer id contains a NUL byte"},
      {"nulorder.csv", T("order_id,customer_id,date,amount\nx\0y,a,2024-01-05,5\n"),
       "nulorder.csv:2:1 (column 1 'order_id'): order id contains a NUL byte"},
  };
#undef T
  rt_import_opts o;
  rt_import_opts_init(&o, RT_IMPORT_ORDERS);
  rt_import_result r;
  rt_error err;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *p = write_bytes(f, cases[i].name, cases[i].text, cases[i].len);
    rt_error_clear(&err);
    int rc = rt_import_file(f->st, p, &o, &r, &err);
    if (rc != RT_EPARSE || !strstr(err.msg, cases[i].msg))
      fail_msg("%s: rc %d, '%s'", cases[i].name, rc, err.msg);
  }
  assert_int_equal(count(f, "orders"), 0);
  assert_int_equal(count(f, "customers"), 0);
  /* an event id and a subscription id are ids too */
  rt_import_opts_init(&o, RT_IMPORT_EVENTS);
  static const char ev[] = "event_id,customer_id,type,timestamp\ne\0,a,login,2024-01-05\n";
  const char *p = write_bytes(f, "ev.csv", ev, sizeof ev - 1);
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), RT_EPARSE);
  assert_non_null(strstr(err.msg, "ev.csv:2:1 (column 1 'event_id'): event id contains a NUL"));
  rt_import_opts_init(&o, RT_IMPORT_SUBSCRIPTIONS);
  static const char sub[] = "subscription_id,customer_id,started_at,amount,currency\n"
                            "s1,a,2024-01-05,5,ABC\n";
  p = write_bytes(f, "sub.csv", sub, sizeof sub - 1);
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), RT_EPARSE);
  assert_non_null(strstr(err.msg, "sub.csv:2:5 (column 5 'currency'): invalid currency 'ABC'"));
  /* --currency too */
  rt_import_opts_init(&o, RT_IMPORT_ORDERS);
  o.currency = "zzz";
  p = write_file(f, "ok.csv", "customer_id,date,amount\na,2024-01-05,5\n");
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), RT_EINVAL);
  assert_non_null(strstr(err.msg, "invalid currency 'zzz'"));
  assert_int_equal(count(f, "customers"), 0);
}

/* "café" precomposed and "café" with a combining accent are one customer (NFC), and so are
 * two spellings of one order id. */
static void test_ids_are_nfc(void **state) {
  fx *f = *state;
  const char *p = write_file(f, "nfc.csv",
                             "order_id,customer_id,date,amount\n"
                             "r\xc3\xa9" "f,caf\xc3\xa9,2024-01-05,5\n"
                             "re\xcc\x81" "f,cafe\xcc\x81,2024-01-05,5\n"
                             "o2,cafe\xcc\x81,2024-01-06,7\n");
  rt_import_opts o;
  rt_import_opts_init(&o, RT_IMPORT_ORDERS);
  rt_import_result r;
  rt_error err;
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), 0);
  assert_int_equal(count(f, "customers"), 1);
  assert_int_equal(count(f, "orders"), 2); /* the first two rows are lines of one order */
  int64_t id;
  assert_int_equal(rt_store_customer_find(f->st, "caf\xc3\xa9", 5, &id, &err), 0);
}

/* The parallel fast row loop holds to the rules too: a NUL in an id or an order total past
 * the bound in a big file is reported with its place, not taken in. */
static void test_parallel_read_hostile(void **state) {
  fx *f = *state;
  for (int bad = 0; bad < 2; bad++) {
    char path[256];
    snprintf(path, sizeof path, "%s/hostile%d.csv", f->dir, bad);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("order_id,customer_id,date,amount,currency,note\n", fp);
    for (int o = 0; o < 300000; o++) {
      if (o == 250000 && bad == 0)
        fwrite("250000,1\0,2024-01-01,1.00,USD,x\n", 1, 33, fp);
      else if (o == 250000)
        fputs("250000,7,2024-01-01,90000000000000.00,USD,x\n"
              "250000,7,2024-01-01,1.00,USD,x\n",
              fp);
      else
        fprintf(fp, "%d,%d,2024-01-%02d,1.50,USD,padding text for size\n", o, o % 5000,
                1 + o % 28);
    }
    fclose(fp);
    model_import_fails(path, bad ? ":250003:4 (column 4 'amount'): the order's total"
                                 : ":250002:2 (column 2 'customer_id'): customer id contains "
                                   "a NUL byte");
  }
}

static void test_customers_events_subscriptions(void **state) {
  fx *f = *state;
  rt_import_result r;
  rt_error err;
  rt_import_opts o;
  rt_import_opts_init(&o, RT_IMPORT_CUSTOMERS);
  const char *p = write_file(f, "c.csv",
                             "customer_id,email,signup_date,country,plan_tier\n"
                             "1,Ann@Example.com,2024-01-01,FR,3\n"
                             "2,bob@example.com,2024-01-02,DE,1\n");
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), 0);
  assert_int_equal(r.stored, 2);
  int64_t id, id2;
  assert_int_equal(rt_store_identity_find(f->st, "email", "ann@example.com", &id, NULL), 0);
  assert_int_equal(rt_store_customer_find(f->st, "1", 1, &id2, NULL), 0);
  assert_int_equal(id, id2);
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), 0); /* an update, not new */
  assert_int_equal(r.stored, 0);
  assert_int_equal(r.merged, 2);
  assert_int_equal(count(f, "customers"), 2);

  rt_import_opts_init(&o, RT_IMPORT_EVENTS);
  p = write_file(f, "e.csv",
                 "event_id,customer_id,type,timestamp,properties\n"
                 "1,1,login,2024-02-01 10:00:00,\n"
                 "2,1,survey_answered,2024-02-02 10:00:00,\"{\"\"survey\"\":\"\"nps\"\",\"\"score\"\":9}\"\n"
                 "3,3,login,2024-02-03 10:00:00,\n");
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), 0);
  assert_int_equal(r.stored, 3);
  assert_int_equal(r.new_customers, 1);
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), 0);
  assert_int_equal(r.duplicates, 3);
  p = write_file(f, "e2.csv",
                 "event_id,customer_id,type,timestamp,properties\n"
                 "9,1,login,2024-02-01 10:00:00,{bad json}\n");
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), RT_EPARSE);
  assert_non_null(strstr(err.msg, "e2.csv:2:5 (column 5 'properties'): invalid JSON"));
  assert_int_equal(count(f, "events"), 3);

  rt_import_opts_init(&o, RT_IMPORT_SUBSCRIPTIONS);
  p = write_file(f, "s.csv",
                 "subscription_id,customer_id,plan,started_at,canceled_at,amount,currency,interval\n"
                 "s1,1,basic,2024-01-01,,9.99,USD,month\n"
                 "s2,2,plus,2024-01-05,2024-03-05,19.99,USD,month\n"
                 "s3,2,plus,2024-04-05,2024-03-05,19.99,USD,month\n");
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), RT_EPARSE);
  assert_non_null(strstr(err.msg, "s.csv:4:5 (column 5 'canceled_at'): cancelled before it started"));
  assert_int_equal(count(f, "subscriptions"), 0);
  p = write_file(f, "s.csv",
                 "subscription_id,customer_id,plan,started_at,canceled_at,amount,currency,interval\n"
                 "s1,1,basic,2024-01-01,,9.99,USD,month\n"
                 "s2,2,plus,2024-01-05,2024-03-05,19.99,USD,month\n");
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), 0);
  assert_int_equal(r.stored, 2);
  /* the later export shows s1 cancelled: an update */
  p = write_file(f, "s.csv",
                 "subscription_id,customer_id,plan,started_at,canceled_at,amount,currency,interval\n"
                 "s1,1,basic,2024-01-01,2024-05-01,9.99,USD,month\n");
  assert_int_equal(rt_import_file(f->st, p, &o, &r, &err), 0);
  assert_int_equal(r.merged, 1);
  rt_model *m;
  assert_int_equal(rt_model_load(f->st, NULL, NULL, &m, &err), 0);
  assert_int_equal(m->nsubs, 2);
  for (size_t i = 0; i < m->nsubs; i++)
    assert_int_not_equal(m->sub_end_day[i], INT32_MAX);
  rt_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_orders_with_lines_and_refunds, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rows_without_order_id, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_date_rolls_back, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors_name_the_place, setup, teardown),
      cmocka_unit_test_setup_teardown(test_latin1, setup, teardown),
      cmocka_unit_test_setup_teardown(test_skip_bad, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_header_whitespace, setup, teardown),
      cmocka_unit_test_setup_teardown(test_split_order_falls_back, setup, teardown),
      cmocka_unit_test_setup_teardown(test_to_model, setup, teardown),
      cmocka_unit_test_setup_teardown(test_parallel_read_equals_serial, setup, teardown),
      cmocka_unit_test_setup_teardown(test_parallel_read_reports_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_customers_events_subscriptions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hostile_values, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ids_are_nfc, setup, teardown),
      cmocka_unit_test_setup_teardown(test_parallel_read_hostile, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
