/* columns.c - finds which column holds which import field: by the common header names of
 * shop, CRM and billing exports (compared ignoring case and punctuation, so "Customer ID",
 * "customer_id" and "CustomerID" match), or as the user named it with --<field>-col. */
#include "ingest/columns.h"

#include "internal.h"
#include <retain/alloc.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

/* Header names per field, normalised (lowercase letters and digits only), most specific first.
 * Some differ by kind: a customers file's "date" is a signup date, an events file's "name" is
 * the event type. */
typedef struct alias {
  rt_import_col col;
  unsigned kinds; /* bit per rt_import_kind */
  const char *names[16];
} alias;

#define K_ORD (1u << RT_IMPORT_ORDERS)
#define K_CUS (1u << RT_IMPORT_CUSTOMERS)
#define K_EVT (1u << RT_IMPORT_EVENTS)
#define K_SUB (1u << RT_IMPORT_SUBSCRIPTIONS)
#define K_ALL (K_ORD | K_CUS | K_EVT | K_SUB)

static const alias aliases[] = {
    {RT_COL_CUSTOMER, K_ALL, {"customerid", "customer", "custid", "clientid", "userid",
                              "accountid", "memberid", "buyerid", "customerno",
                              "customernumber", "contactid"}},
    {RT_COL_EMAIL, K_ALL, {"email", "emailaddress", "customeremail", "mail", "useremail"}},
    {RT_COL_PHONE, K_CUS, {"phone", "phonenumber", "mobile", "telephone"}},
    {RT_COL_ORDER, K_ORD, {"orderid", "order", "ordernumber", "orderno", "invoiceno", "invoice",
                           "invoiceid", "invoicenumber", "transactionid", "txnid", "receiptid",
                           "ordername"}},
    {RT_COL_DATE, K_ORD, {"orderdate", "invoicedate", "purchasedate", "transactiondate",
                          "orderedat", "createdat", "date", "datetime", "timestamp", "time",
                          "orderdatetime", "purchasedat"}},
    {RT_COL_DATE, K_CUS, {"signupdate", "signedupat", "registeredat", "createdat", "firstseen",
                          "joined", "joindate", "date"}},
    {RT_COL_DATE, K_EVT, {"timestamp", "occurredat", "eventtime", "time", "createdat", "date",
                          "datetime", "sentat"}},
    {RT_COL_DATE, K_SUB, {"startedat", "startdate", "start", "subscribedat", "createdat",
                          "activatedat", "date"}},
    {RT_COL_AMOUNT, K_ORD, {"amount", "total", "ordertotal", "totalamount", "revenue", "value",
                            "dollarvalue", "sales", "grandtotal", "totalprice", "netsales",
                            "subtotal"}},
    {RT_COL_AMOUNT, K_SUB, {"amount", "price", "mrr", "planamount", "recurringamount",
                            "value"}},
    {RT_COL_QUANTITY, K_ORD, {"quantity", "qty", "units", "count"}},
    {RT_COL_PRICE, K_ORD, {"unitprice", "price", "itemprice", "priceeach"}},
    {RT_COL_CURRENCY, K_ORD | K_SUB, {"currency", "currencycode", "curr"}},
    {RT_COL_PRODUCT, K_ORD, {"productid", "sku", "stockcode", "itemid", "product", "variantid"}},
    {RT_COL_NAME, K_ORD, {"productname", "description", "itemname", "title", "lineitemname"}},
    {RT_COL_TYPE, K_EVT, {"type", "event", "eventtype", "eventname", "name", "action"}},
    {RT_COL_PROPERTIES, K_EVT, {"properties", "props", "data", "payload", "attributes"}},
    {RT_COL_EVENT_ID, K_EVT, {"eventid", "messageid", "id"}},
    {RT_COL_SUBSCRIPTION, K_SUB, {"subscriptionid", "subscription", "subid", "id"}},
    {RT_COL_PLAN, K_SUB, {"plan", "planname", "planid", "tier", "product"}},
    {RT_COL_CANCELED, K_SUB, {"canceledat", "cancelledat", "canceldate", "cancellationdate",
                              "endedat", "enddate", "churnedat", "churndate"}},
    {RT_COL_RENEWS, K_SUB, {"renewsat", "renewaldate", "nextrenewal", "currentperiodend",
                            "nextbillingdate"}},
    {RT_COL_INTERVAL, K_SUB, {"interval", "billinginterval", "billingperiod", "period",
                              "frequency"}},
};

static const char *const col_names[RT_COL_COUNT] = {
    "customer", "email",   "phone",      "order",    "date",         "amount",   "quantity",
    "price",    "currency", "product",   "name",     "type",         "properties", "event-id",
    "subscription", "plan", "canceled",  "renews",   "interval"};

const char *rt_import_col_name(rt_import_col c) {
  return (unsigned)c < RT_COL_COUNT ? col_names[c] : "?";
}

int rt_import_kind_parse(const char *s, rt_import_kind *out) {
  static const char *const kinds[] = {"orders", "customers", "events", "subscriptions"};
  for (int i = 0; i < 4; i++)
    if (strcmp(s, kinds[i]) == 0) {
      *out = (rt_import_kind)i;
      return 0;
    }
  return RT_EINVAL;
}

void rt__colname_normalise(const char *s, char *out, size_t n) {
  size_t j = 0;
  for (; *s && j + 1 < n; s++)
    if (isalnum((unsigned char)*s))
      out[j++] = (char)tolower((unsigned char)*s);
  out[j] = '\0';
}

void rt__colmap_free(rt__colmap *cm) {
  if (cm->names) {
    for (int i = 0; i < cm->nheader; i++)
      rt_free(cm->names[i]);
    rt_free(cm->names);
  }
  cm->names = NULL;
}

void rt__colmap_describe(const rt__colmap *cm, int idx, char *buf, size_t n) {
  if (cm->names && idx >= 0 && idx < cm->nheader && cm->names[idx])
    snprintf(buf, n, "column %d '%s'", idx + 1, cm->names[idx]);
  else
    snprintf(buf, n, "column %d", idx + 1);
}

/* One field of a rejects file, quoted; guarded against formula injection like every CSV
 * retain writes (rt_csv_cell), as text unless it is a plain number: the file has no types. */
static void put_quoted(FILE *f, const char *s) {
  fputc('"', f);
  int64_t v;
  if (rt_csv_formula_risk(s) && rt__parse_money(s, strlen(s), 0, &v) != 0)
    fputc('\'', f);
  for (const char *p = s; *p; p++)
    fputs(*p == '"' ? "\"\"" : (char[]){*p, 0}, f);
  fputc('"', f);
}

int rt__bad_row(const rt__rejects *rj, const char *file, const rt__colmap *cm,
                const rt_csv_record *rec, int col, const char *reason, rt_error *err) {
  char where[300];
  if (col >= 0) {
    char desc[160];
    rt__colmap_describe(cm, col, desc, sizeof desc);
    snprintf(where, sizeof where, "%s:%llu:%d (%s)", file, (unsigned long long)rec->line,
             col + 1, desc);
  } else {
    snprintf(where, sizeof where, "%s:%llu", file, (unsigned long long)rec->line);
  }
  if (!rj->skip_bad)
    return rt_error_set(err, RT_EPARSE, "%s: %s", where, reason);
  if (*rj->skipped < (int64_t)rj->nfirst)
    rt__strjoin(rj->first[*rj->skipped], sizeof rj->first[0], where, ": ", reason);
  ++*rj->skipped;
  if (rj->file) {
    fprintf(rj->file, "%llu,", (unsigned long long)rec->line);
    put_quoted(rj->file, reason);
    for (size_t i = 0; i < rec->nfields; i++) {
      fputc(',', rj->file);
      put_quoted(rj->file, rec->fields[i]);
    }
    fputc('\n', rj->file);
  }
  return 0;
}

/* Finds a user-named column: a 1-based position, or a header name (exact, then normalised). */
static int find_named(const rt__colmap *cm, const char *spec, const char *file,
                      rt_import_col col, rt_error *err) {
  char *end;
  long pos = strtol(spec, &end, 10);
  if (*spec && *end == '\0') {
    if (pos < 1 || (cm->nheader && pos > cm->nheader))
      return rt_error_set(err, RT_EINVAL, "%s: --%s-col %ld: the file has %d columns", file,
                          rt_import_col_name(col), pos, cm->nheader);
    return (int)pos - 1;
  }
  if (!cm->nheader)
    return rt_error_set(err, RT_EINVAL,
                        "%s: --%s-col '%s': a file without a header row needs column numbers "
                        "(1 is the first column)",
                        file, rt_import_col_name(col), spec);
  for (int i = 0; i < cm->nheader; i++)
    if (strcmp(cm->names[i], spec) == 0)
      return i;
  char want[128], have[128];
  rt__colname_normalise(spec, want, sizeof want);
  for (int i = 0; i < cm->nheader; i++) {
    rt__colname_normalise(cm->names[i], have, sizeof have);
    if (strcmp(want, have) == 0)
      return i;
  }
  return rt_error_set(err, RT_EINVAL, "%s: --%s-col '%s': no such column in the header", file,
                      rt_import_col_name(col), spec);
}

static int required(rt_import_kind kind, rt_import_col c) {
  switch (kind) {
  case RT_IMPORT_ORDERS:
    return c == RT_COL_DATE;
  case RT_IMPORT_EVENTS:
    return c == RT_COL_DATE || c == RT_COL_TYPE;
  case RT_IMPORT_SUBSCRIPTIONS:
    return c == RT_COL_DATE;
  default:
    return 0;
  }
}

static int missing(const char *file, rt_import_kind kind, rt_import_col c, rt_error *err) {
  char names[400] = "";
  size_t len = 0;
  for (size_t a = 0; a < RT_ARRAY_LEN(aliases); a++) {
    if (aliases[a].col != c || !(aliases[a].kinds & (1u << kind)))
      continue;
    for (int i = 0; aliases[a].names[i] && i < 4; i++)
      len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "",
                              aliases[a].names[i]);
    break;
  }
  return rt_error_set(err, RT_EPARSE,
                      "%s: missing required column: %s (looked for a header like %s; name it "
                      "with --%s-col NAME or a column number)",
                      file, rt_import_col_name(c), names, rt_import_col_name(c));
}

int rt__colmap_resolve(rt__colmap *cm, rt_import_kind kind, const rt_csv_record *header,
                       const rt_import_opts *opts, const char *file, rt_error *err) {
  memset(cm, 0, sizeof *cm);
  for (int c = 0; c < RT_COL_COUNT; c++)
    cm->idx[c] = -1;
  if (header) {
    cm->nheader = (int)header->nfields;
    cm->names = rt_calloc(header->nfields, sizeof *cm->names);
    if (!cm->names)
      return RT_ENOMEM;
    for (size_t i = 0; i < header->nfields; i++)
      if (!(cm->names[i] = rt_strdup(header->fields[i]))) {
        rt__colmap_free(cm);
        return RT_ENOMEM;
      }
  }
  /* the user's names first, so detection never takes a column the user gave another field */
  for (int c = 0; c < RT_COL_COUNT; c++) {
    if (!opts->cols[c])
      continue;
    int i = find_named(cm, opts->cols[c], file, (rt_import_col)c, err);
    if (i < 0) {
      rt__colmap_free(cm);
      return i;
    }
    cm->idx[c] = i;
  }
  if (header) {
    char norm[128];
    for (size_t a = 0; a < RT_ARRAY_LEN(aliases); a++) {
      const alias *al = &aliases[a];
      if (!(al->kinds & (1u << kind)) || cm->idx[al->col] >= 0)
        continue;
      for (int k = 0; al->names[k] && cm->idx[al->col] < 0; k++)
        for (int i = 0; i < cm->nheader; i++) {
          int taken = 0;
          for (int c = 0; c < RT_COL_COUNT; c++)
            taken |= cm->idx[c] == i;
          if (taken)
            continue;
          rt__colname_normalise(cm->names[i], norm, sizeof norm);
          if (strcmp(norm, al->names[k]) == 0) {
            cm->idx[al->col] = i;
            break;
          }
        }
    }
  }
  int rc = 0;
  if (cm->idx[RT_COL_CUSTOMER] < 0 && cm->idx[RT_COL_EMAIL] < 0)
    rc = missing(file, kind, RT_COL_CUSTOMER, err);
  for (int c = 0; !rc && c < RT_COL_COUNT; c++)
    if (required(kind, (rt_import_col)c) && cm->idx[c] < 0)
      rc = missing(file, kind, (rt_import_col)c, err);
  if (!rc && kind == RT_IMPORT_ORDERS && cm->idx[RT_COL_AMOUNT] < 0 &&
      (cm->idx[RT_COL_QUANTITY] < 0 || cm->idx[RT_COL_PRICE] < 0)) {
    if (cm->idx[RT_COL_PRICE] >= 0 && cm->idx[RT_COL_QUANTITY] < 0)
      rc = missing(file, kind, RT_COL_QUANTITY, err);
    else
      rc = rt_error_set(err, RT_EPARSE,
                        "%s: missing required column: amount (looked for a header like amount, "
                        "total, order_total, revenue, or quantity and unit_price; name it with "
                        "--amount-col, or --quantity-col and --price-col)",
                        file);
  }
  if (rc)
    rt__colmap_free(cm);
  return rc;
}
