/* model.h - the in-memory columnar customer model.
 *
 * Every analytic (metrics, cohorts, RFM, CLV, churn, segments) is a scan over these dense
 * arrays. Customers are numbered 0..ncustomers-1 (the customer "index": store id order from a
 * store; from a file, order of first appearance, or numeric order when a large file of numeric
 * ids is read on two threads: do not rely on the order). Orders, refunds and subscriptions are
 * stored grouped by customer (customer 0's first), in time order within a customer, and each
 * customer's slice is [X_start[i], X_start[i+1]). Days are local day numbers in the model's
 * business time zone (see datetime.h). Money is in minor units of the model's currency; rows in
 * other currencies are counted in other_currency_rows (per currency in other[]) and left out.
 *
 * Purchases and cancellations: a refund that pays back a whole order cancels it (the refund
 * names the order and covers its amount, or, naming none, equals the amount of an order of
 * the customer on or before the refund's day, the latest such order not cancelled yet). A
 * cancelled order is not a purchase: it is moved, with the day of the refund that cancelled
 * it, from the order columns to the cancel_* columns, and that refund leaves the refund
 * columns (what it paid back beyond the order stays a refund). So order_* holds purchases and
 * refund_* the partial refunds (docs/METRICS.md, "Purchases").
 *
 * As of: a model is judged as of one day (as_of): nothing after it exists for the analytics,
 * and orders cancelled after it are still purchases. A freshly built model is as of its last
 * day with data; rt_model_set_as_of moves it (rt_model_default_as_of says where to).
 *
 * A model is immutable once built (but for rt_model_set_as_of); any number of threads may read
 * it. Memory: about 20 bytes per order and 40 bytes per customer plus the external ids. */
#ifndef RETAIN_MODEL_H
#define RETAIN_MODEL_H

#include <retain/datetime.h>
#include <retain/error.h>
#include <retain/store.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rt_model {
  /* customers */
  size_t ncustomers;
  int64_t *store_id;      /* the customer's id in the store (0 for a model built from a file) */
  int32_t *created_day;   /* the day the profile was first seen, INT32_MIN when unknown (from a
                             file); a profile does not exist as of an earlier day */
  uint64_t *ext_off;      /* [ncustomers+1] offsets of the external ids in ext_pool */
  char *ext_pool;         /* external ids, each NUL-terminated */
  /* orders */
  size_t norders;
  uint32_t *order_start;  /* [ncustomers+1] */
  int64_t *order_ms;      /* UTC ms */
  int32_t *order_day;     /* local day number */
  int64_t *order_amount;  /* minor units, >= 0 */
  /* refunds */
  size_t nrefunds;
  uint32_t *refund_start; /* [ncustomers+1] */
  int32_t *refund_day;
  int64_t *refund_amount; /* minor units, > 0 */
  /* subscriptions (ordered by start within a customer) */
  size_t nsubs;
  uint32_t *sub_start;    /* [ncustomers+1] */
  int32_t *sub_first_day; /* day the subscription started */
  int32_t *sub_end_day;   /* day it was cancelled (no longer active from that day); INT32_MAX
                             while active */
  int64_t *sub_amount;
  /* derived per customer (computed by the build) */
  int32_t *first_order_day; /* INT32_MAX for customers without orders */
  int32_t *last_order_day;  /* INT32_MIN for customers without orders */
  int64_t *revenue;         /* sum of purchase amounts */
  int64_t *refunded;        /* sum of (partial) refund amounts */
  /* cancelled orders (see above); cancel_start is NULL when there are none */
  size_t ncancelled;
  uint32_t *cancel_start;   /* [ncustomers+1] */
  int64_t *cancel_ms;       /* the order's time */
  int32_t *cancel_day;      /* the order's day */
  int32_t *cancel_at;       /* the day of the refund that cancelled it (>= cancel_day) */
  int64_t *cancel_amount;   /* the order's amount */
  /* data range */
  int32_t min_day, max_day; /* over orders, cancelled orders, refunds and subscription events up
                               to as_of; min>max if empty */
  int32_t as_of;            /* the day the model is judged at (>= max_day when not empty) */
  int as_of_basis;          /* why that day (rt_as_of_basis), for printing */
  char currency[4];         /* ISO 4217 code of the amounts */
  int currency_exp;         /* minor-unit exponent (2 for USD) */
  int64_t other_currency_rows; /* orders and refunds left out: no rate to the model currency */
  int nother;                  /* currencies in other[] (the most frequent first, at most 8) */
  struct {
    char code[4];
    int64_t rows;
  } other[8];
  const rt_tz *tz;          /* borrowed; NULL is UTC */
  int64_t data_version;     /* the store's data version it was built from (-1 from a file) */
  /* private: a model opened from a snapshot points into this read-only mapping */
  void *priv_map;
  size_t priv_map_len;
} rt_model;

/* The slice of customer i's cancelled orders (empty when the model has none). */
static inline uint32_t rt_model_cancel_lo(const rt_model *m, size_t i) {
  return m->cancel_start ? m->cancel_start[i] : 0;
}
static inline uint32_t rt_model_cancel_hi(const rt_model *m, size_t i) {
  return m->cancel_start ? m->cancel_start[i + 1] : 0;
}

/* External id of customer index i. */
static inline const char *rt_model_ext_id(const rt_model *m, size_t i) {
  return m->ext_pool + m->ext_off[i];
}

/* ---- building ----
 * A builder collects rows in any order and sorts them into a model. */
typedef struct rt_model_builder rt_model_builder;

/* currency: the model's currency (NULL: the most frequent currency of the orders added). tz is
 * borrowed and must outlive the model. */
int rt_model_builder_new(const rt_tz *tz, const char *currency, rt_model_builder **out);
void rt_model_builder_free(rt_model_builder *b);
/* Adds (or finds) a customer by external id; returns its index in *out_index. */
int rt_model_builder_customer(rt_model_builder *b, const char *ext_id, size_t len,
                              int64_t store_id, uint32_t *out_index);
/* When customer cust was first seen (the store's created_ms); unknown when never called. */
int rt_model_builder_created(rt_model_builder *b, uint32_t cust, int64_t created_ms);
int rt_model_builder_order(rt_model_builder *b, uint32_t cust, int64_t ms, int64_t amount,
                           const char *currency);
int rt_model_builder_refund(rt_model_builder *b, uint32_t cust, int64_t ms, int64_t amount,
                            const char *currency);
/* A refund that names its order: order_ms is that order's time (0: none named). It cancels the
 * customer's order of that time if it covers the order's amount. */
int rt_model_builder_refund_of(rt_model_builder *b, uint32_t cust, int64_t ms, int64_t amount,
                               const char *currency, int64_t order_ms);
int rt_model_builder_subscription(rt_model_builder *b, uint32_t cust, int64_t started_ms,
                                  int64_t canceled_ms /* 0: active */, int64_t amount,
                                  const char *currency);
/* Exchange rates (rates.h, borrowed until rt_model_build returns): orders, refunds and
 * subscriptions in other currencies than the model's are converted at the rate of their own
 * day, and those without a rate are left out and counted in other_currency_rows and other[]
 * (without rates every row in another currency is). A cancellation (a refund paying back an
 * order) matches amounts in their own currency, before conversion. */
struct rt_rates;
void rt_model_builder_set_rates(rt_model_builder *b, const struct rt_rates *rates);
/* Consumes the builder (freed even on failure) and produces the model. */
int rt_model_build(rt_model_builder *b, rt_model **out, rt_error *err);

/* Builds the model of everything in the store, converting other currencies with the store's
 * exchange rates (retain rates import) when it has any. */
int rt_model_load(rt_store *st, const rt_tz *tz, const char *currency, rt_model **out,
                  rt_error *err);
void rt_model_free(rt_model *m);
/* The index of the customer with store id `store_id` in a model built from the store (its
 * customers are in store id order), or SIZE_MAX. */
size_t rt_model_index_of(const rt_model *m, int64_t store_id);
/* A model of the customers of m whose bit is set in bits (bit i of word i/64: customer i), in
 * m's order, with all their rows, and m's data range, currency and zone: every analytic runs on
 * a segment by running on its subset. m may be freed before the subset. */
int rt_model_subset(const rt_model *m, const uint64_t *bits, rt_model **out, rt_error *err);

/* ---- as of ----
 * A store whose data reaches into the last RT_LIVE_DAYS days (or past today) is live and judged
 * as of today; one whose data ended earlier is judged as of its last day with data, so a store
 * of 2011's invoices is not judged by 2026's calendar. */
#define RT_LIVE_DAYS 7
typedef enum rt_as_of_basis {
  RT_AS_OF_GIVEN = 0, /* asked for (--as-of, RETAIN_NOW) */
  RT_AS_OF_TODAY,     /* a live store: today */
  RT_AS_OF_DATA_END   /* the last day with data */
} rt_as_of_basis;
/* The default as-of day of m for a clock reading `today` (a day number in m's zone); *basis
 * (may be NULL) says which rule chose it. An empty model is as of today. */
int32_t rt_model_default_as_of(const rt_model *m, int32_t today, rt_as_of_basis *basis);
/* "given", "today" or "data end". */
const char *rt_as_of_basis_name(rt_as_of_basis b);
/* Judges *m as of `day` (basis: why that day, kept for printing): orders, refunds,
 * subscription starts and cancellations after it are dropped, orders cancelled after it are
 * purchases again, a subscription cancelled after it is live, and a profile first seen after it
 * (with no row up to it) is not there. When rows must go, *m is
 * replaced by a new model (the old one is freed, and must not be shared); a day at or after the
 * data's last day only sets (*m)->as_of. */
int rt_model_set_as_of(rt_model **m, int32_t day, rt_as_of_basis basis, rt_error *err);
/* Customers with at least one purchase (buyers), and all customers (profiles) = m->ncustomers. */
size_t rt_model_buyers(const rt_model *m);

/* ---- snapshots ----
 * A model saved to a file and mapped back in milliseconds, so a command need not rebuild it
 * from the store while the store has not changed. The file records the store's data version,
 * the time zone name and the currency the model was built with. */
int rt_model_snapshot_write(const rt_model *m, const char *path, rt_error *err);
/* Maps a snapshot. Returns RT_ENOTFOUND when the file is missing, or was made for another
 * data_version, zone (by name) or currency (currency NULL: any), or is not a valid snapshot;
 * the caller then builds the model and may write a new snapshot. tz is borrowed. */
int rt_model_snapshot_open(const char *path, int64_t data_version, const rt_tz *tz,
                           const char *currency, rt_model **out, rt_error *err);

/* Minor-unit exponent of an ISO 4217 currency (2 when unknown). */
int rt_currency_exponent(const char *code);

#endif
