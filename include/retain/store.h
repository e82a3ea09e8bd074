/* store.h - the store: the durable truth of retain (SQLite today; PostgreSQL behind the same
 * interface later).
 *
 * Tables (docs/DATA.md has the full schema): customers, identities, events, orders,
 * order_lines, refunds, subscriptions, imports, meta, schema_migrations; beside them model runs
 * and scores, segments, API keys and exchange rates. Events are immutable; every writable row
 * carries an idempotency key (ext_id) so the same input twice stores nothing twice. Writes happen inside
 * rt_store_begin/rt_store_commit; a write is durable when rt_store_commit returns 0 (WAL,
 * synchronous=FULL).
 *
 * Thread-safety: one rt_store per thread. Several processes may open the same file; writers
 * are serialised by the database (rt_store_begin takes the write lock). */
#ifndef RETAIN_STORE_H
#define RETAIN_STORE_H

#include <retain/error.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rt_store rt_store;

typedef struct rt_store_config {
  const char *path; /* SQLite file; created if missing (unless read_only) */
  int read_only;
  int cache_kib;    /* page cache outside bulk loads, KiB; 0: 64 MiB. SQLite walks the whole
                       cache at every commit, so a connection committing many small
                       transactions (the server's writer) wants a small one */
  int busy_ms;      /* how long rt_store_begin waits for another process's write lock before
                       RT_EBUSY; 0: 10 s */
} rt_store_config;

/* Opens (creating and migrating to the current schema as needed). On failure *out is NULL and
 * err says why (file, reason; RT_ESCHEMA when the file was written by a newer retain).
 * A writable open first checks every page (PRAGMA quick_check: about 1.3 s for a 400 MB
 * store) and refuses a damaged store with RT_ESTORE and how to recover it; a read-only open
 * does not check, but a damaged page it reads fails the same way. A read-only open of a store
 * whose directory cannot be written opens the file alone (immutable) when no -wal holds
 * writes. A writable store refuses every write with RT_EIO once its database file or -wal
 * has been deleted or replaced under it (docs/STORE.md). */
int rt_store_open(const rt_store_config *cfg, rt_store **out, rt_error *err);
void rt_store_close(rt_store *st); /* st may be NULL */

int rt_store_schema_version(rt_store *st);   /* migrations applied */
int rt_store_latest_schema_version(void);    /* migrations this build knows */

/* 0 while the files under a writable store are still the ones it opened; RT_EIO when the
 * database or its -wal was deleted or replaced (every write is refused from then on: see
 * docs/STORE.md). Cheap (two stat calls): a server asks while idle, so that its health check
 * tells before a write fails. Outside a transaction only (inside, 0). */
int rt_store_check_files(rt_store *st, rt_error *err);

/* A counter bumped by every committed write transaction: readers compare it to know whether a
 * cached model is still current. */
int rt_store_data_version(rt_store *st, int64_t *out, rt_error *err);

/* Read transactions: every read between begin and end sees one committed state of the store,
 * whatever other connections commit meanwhile (a model loaded inside one is consistent with
 * the data version read inside it). Not inside a write transaction. */
int rt_store_read_begin(rt_store *st, rt_error *err);
void rt_store_read_end(rt_store *st); /* st may be NULL or outside a read transaction */

/* Write transactions. begin takes the write lock at once (BEGIN IMMEDIATE). */
int rt_store_begin(rt_store *st, rt_error *err);
int rt_store_commit(rt_store *st, rt_error *err);
void rt_store_rollback(rt_store *st);

/* ---- settings (meta table): text values, e.g. "timezone", "currency" ---- */
/* *out is a copy freed with rt_free, or NULL when the key is unset. */
int rt_store_meta_get(rt_store *st, const char *key, char **out, rt_error *err);
int rt_store_meta_set(rt_store *st, const char *key, const char *value, rt_error *err);

/* ---- customers ---- */
/* Finds the customer with the external id (the id a source system gave it). Returns 0 and
 * sets *out_id, or RT_ENOTFOUND. The ext_id of a customer merged into another resolves to the
 * surviving customer (the end of the chain of merges). */
int rt_store_customer_find(rt_store *st, const char *ext_id, size_t len, int64_t *out_id,
                           rt_error *err);
/* Finds the customer or creates it (created_ms is its first-seen time). *created is 1 if new.
 * RT_EERASED, creating nothing, when ext_id is on the suppression list (rt_store_erased). */
int rt_store_customer_upsert(rt_store *st, const char *ext_id, size_t len, int64_t created_ms,
                             int64_t *out_id, int *created, rt_error *err);
/* Merges attributes (a JSON object text) into the customer's attributes as an RFC 7396 merge
 * patch: keys are added or replaced, objects merge key by key, NULL values delete. RT_ERANGE
 * when the result would hold more than RT_ATTRS_MAX_KEYS keys (those of nested objects
 * counted) or take more than RT_ATTRS_MAX_BYTES bytes as compact JSON - unless it is no larger
 * than before, so a customer already over a limit (two merged customers) can still be changed
 * and trimmed. The store is then unchanged and err names the limit. */
#define RT_ATTRS_MAX_KEYS 1000
#define RT_ATTRS_MAX_BYTES 65536
int rt_store_customer_set_attrs(rt_store *st, int64_t customer, const char *json_obj,
                                rt_error *err);
/* Links an identity (kind "email", "phone", "external", ...; value normalised by the caller)
 * to a customer, recording why. Returns RT_EEXISTS if it already points at another customer
 * (*other_customer set); linking the same pair twice is a no-op. */
int rt_store_identity_link(rt_store *st, const char *kind, const char *value, int64_t customer,
                           const char *reason, int64_t *other_customer, rt_error *err);
int rt_store_identity_find(rt_store *st, const char *kind, const char *value, int64_t *out_id,
                           rt_error *err);

/* ---- orders, refunds, events, subscriptions ---- */
typedef struct rt_order_rec {
  int64_t customer;     /* internal customer id */
  const char *ext_id;   /* the order's idempotency key (order id, or a synthesised one) */
  int64_t ts_ms;        /* order time, UTC ms */
  int64_t amount;       /* total in minor units of currency (>= 0) */
  const char *currency; /* ISO 4217, 3 letters */
  int64_t import_id;    /* the import that wrote it, 0 if none */
} rt_order_rec;

typedef struct rt_line_rec {
  const char *product;  /* SKU or product id; may be NULL */
  const char *name;     /* description; may be NULL */
  double quantity;
  int64_t unit_price;   /* minor units */
  int64_t amount;       /* quantity x unit price, minor units */
} rt_line_rec;

/* Inserts an order with its lines. Idempotent on ext_id: if an order with that ext_id exists
 * and was written by the same import (import_id != 0), the lines are added to it and its amount
 * grows (rows of one order need not be adjacent); if it was written earlier, nothing is stored
 * and *status is RT_PUT_DUPLICATE. *status is RT_PUT_NEW, RT_PUT_MERGED or RT_PUT_DUPLICATE. */
enum { RT_PUT_NEW = 1, RT_PUT_MERGED = 2, RT_PUT_DUPLICATE = 3 };
int rt_store_order_put(rt_store *st, const rt_order_rec *o, const rt_line_rec *lines,
                       size_t nlines, int *status, rt_error *err);

typedef struct rt_refund_rec {
  int64_t customer;
  const char *ext_id;       /* idempotency key */
  const char *order_ext_id; /* the refunded order, NULL if unknown */
  int64_t ts_ms;
  int64_t amount;           /* refunded amount, minor units, > 0 */
  const char *currency;
  const char *reason;       /* may be NULL */
  int64_t import_id;
} rt_refund_rec;
/* Same idempotency and merge rule as orders. */
int rt_store_refund_put(rt_store *st, const rt_refund_rec *r, int *status, rt_error *err);

typedef struct rt_event_rec {
  int64_t customer;
  const char *type;   /* "login", "feature_used", "ticket_opened", "survey_answered", ... */
  int64_t ts_ms;
  const char *props;  /* JSON object text, NULL for none */
  const char *ext_id; /* idempotency key (message id) */
  int64_t import_id;
  int props_checked;  /* 1: the caller vouches that props is a JSON object without duplicate
                         keys (text a JSON library wrote), so the store need not parse it */
} rt_event_rec;
/* Idempotent on ext_id: *status RT_PUT_NEW or RT_PUT_DUPLICATE. */
int rt_store_event_put(rt_store *st, const rt_event_rec *e, int *status, rt_error *err);

typedef struct rt_subscription_rec {
  int64_t customer;
  const char *ext_id;      /* subscription id */
  const char *plan;
  int64_t started_ms;
  int64_t renews_ms;       /* next renewal, 0 if unknown */
  int64_t canceled_ms;     /* 0 if not cancelled */
  int64_t amount;          /* price per interval, minor units */
  const char *currency;
  const char *interval;    /* "month", "year", ... */
  int64_t import_id;
} rt_subscription_rec;
/* Upsert on ext_id: a later import may set renews_ms/canceled_ms (the latest row wins).
 * *status RT_PUT_NEW or RT_PUT_MERGED (updated). */
int rt_store_subscription_put(rt_store *st, const rt_subscription_rec *s, int *status,
                              rt_error *err);
/* The subscription with the ext_id, for a caller that updates part of it (a put replaces
 * every field): *out with its strings (ext_id, plan, currency, interval) rt_malloc'd, freed
 * with rt_subscription_rec_free. RT_ENOTFOUND when there is none (out zeroed). Inside a
 * transaction it sees the transaction's own writes. */
int rt_store_subscription_get(rt_store *st, const char *ext_id, rt_subscription_rec *out,
                              rt_error *err);
/* Frees the strings rt_store_subscription_get filled in (not r itself); r may be NULL. */
void rt_subscription_rec_free(rt_subscription_rec *r);

/* ---- bulk loading ----
 * Loading millions of rows into empty tables is several times faster without the unique
 * indexes on ext_id. rt_store_bulk_begin (inside a transaction) drops them when the customers,
 * orders and refunds tables are all empty and sets *active; while active, rt_store_order_put
 * and rt_store_refund_put insert without looking for an existing ext_id (the caller merges
 * adjacent rows of one order itself) and rt_store_customer_insert may be used. rt_store_bulk_end
 * rebuilds the indexes; it returns RT_EEXISTS if two rows share an ext_id (the caller then rolls
 * back and imports again without bulk mode). */
int rt_store_bulk_begin(rt_store *st, int *active, rt_error *err);
int rt_store_bulk_end(rt_store *st, rt_error *err);
/* The indexes of orders and refunds by customer, which only the customer reads use (one
 * customer's counts and timeline), are left out by a load into empty tables: building them
 * costs about as much as half the load (~10 s for 6 M orders), and a store that is only
 * imported and reported on never needs them. This builds whichever are missing (*built: how
 * many; may be NULL), in its own transaction unless one is open; `retain serve` calls it at
 * start. A store without them answers the same, slower. */
int rt_store_ensure_indexes(rt_store *st, int *built, rt_error *err);
/* Inserts a new customer without looking for an existing one (bulk mode only). */
int rt_store_customer_insert(rt_store *st, const char *ext_id, size_t len, int64_t created_ms,
                             int64_t *out_id, rt_error *err);

/* ---- imports ---- */
/* Records the start of an import of kind ("orders", ...) from a file with a content digest. */
int rt_store_import_begin(rt_store *st, const char *kind, const char *path, const char *digest,
                          int64_t *out_import_id, rt_error *err);
int rt_store_import_finish(rt_store *st, int64_t import_id, int64_t rows, int64_t stored,
                           int64_t skipped, rt_error *err);

/* ---- reading for the customer model ---- */
/* Callbacks return 0 to go on, anything else stops the scan and is returned. Rows come in no
 * particular order. The customer and attribute scans skip customers merged into another
 * (rt_store_customer_merge). */
typedef int (*rt_store_customer_cb)(void *ctx, int64_t id, const char *ext_id, int64_t created_ms);
typedef int (*rt_store_order_cb)(void *ctx, int64_t customer, int64_t ts_ms, int64_t amount,
                                 const char *currency);
/* order_ms: the time of the order the refund names (an order of that ext_id), 0 if none. */
typedef int (*rt_store_refund_cb)(void *ctx, int64_t customer, int64_t ts_ms, int64_t amount,
                                  const char *currency, int64_t order_ms);
typedef int (*rt_store_subscription_cb)(void *ctx, int64_t customer, int64_t started_ms,
                                        int64_t canceled_ms, int64_t amount, const char *currency);
/* type and props (a JSON object, or NULL) are valid during the call only. */
typedef int (*rt_store_event_cb)(void *ctx, int64_t customer, const char *type, int64_t ts_ms,
                                 const char *props);
int rt_store_scan_customers(rt_store *st, rt_store_customer_cb cb, void *ctx, rt_error *err);
int rt_store_scan_events(rt_store *st, rt_store_event_cb cb, void *ctx, rt_error *err);
/* The customers that have attributes: id and the JSON object (valid during the call). */
typedef int (*rt_store_attrs_cb)(void *ctx, int64_t customer, const char *attrs_json);
int rt_store_scan_customer_attrs(rt_store *st, rt_store_attrs_cb cb, void *ctx, rt_error *err);
int rt_store_scan_orders(rt_store *st, rt_store_order_cb cb, void *ctx, rt_error *err);
int rt_store_scan_refunds(rt_store *st, rt_store_refund_cb cb, void *ctx, rt_error *err);
int rt_store_scan_subscriptions(rt_store *st, rt_store_subscription_cb cb, void *ctx,
                                rt_error *err);
/* Row counts of a table ("customers", "orders", ...). */
int rt_store_count(rt_store *st, const char *table, int64_t *out, rt_error *err);

/* ---- exchange rates ----
 * Dated rates of currencies against a base: on day, 1 unit of base is worth rate units of
 * currency (the ECB's reference rates are per 1 EUR: base "EUR", currency "USD", rate 1.0921).
 * day is a civil date as a day number (days since 1970-01-01, datetime.h), not an instant: the
 * date the rate was published for, the same in every time zone. Rates are what the customer
 * model converts amounts with (rates.h), so writing one that changes the store bumps the data
 * version like any customer data. */
typedef struct rt_rate_rec {
  int64_t day;          /* the rate's date as a day number, years 1..9999 */
  const char *base;     /* ISO 4217 code, 3 capital letters */
  const char *currency; /* ISO 4217 code, 3 capital letters, not base */
  double rate;          /* units of currency per 1 unit of base: finite, > 0 */
  const char *source;   /* where it came from (a file name), or NULL */
} rt_rate_rec;
/* Stores a rate. Idempotent: the same value again for the same (base, currency, day) writes
 * nothing (*status RT_PUT_DUPLICATE), so importing a file twice leaves the store and its data
 * version as they were. Another value for that key replaces the stored one, with its source
 * (*status RT_PUT_MERGED): a later import corrects an earlier one. Otherwise *status is
 * RT_PUT_NEW. RT_EINVAL for codes that are not 3 capital letters, base == currency, a rate
 * that is not a finite number above 0, or a day outside years 1..9999. status may be NULL. */
int rt_store_rate_put(rt_store *st, const rt_rate_rec *r, int *status, rt_error *err);
/* The checks rt_store_rate_put makes, for a caller that holds rates elsewhere (rates.h):
 * 0, or RT_EINVAL with the reason. */
int rt_rate_rec_check(const rt_rate_rec *r, rt_error *err);
/* Every stored rate, ordered by base, currency and day (this order is promised). The record
 * and its strings are valid during the call only. rt_store_count(st, "exchange_rates")
 * counts them. */
typedef int (*rt_store_rate_cb)(void *ctx, const rt_rate_rec *r);
int rt_store_scan_rates(rt_store *st, rt_store_rate_cb cb, void *ctx, rt_error *err);

/* ---- model runs and customer scores ----
 * A run records a model's kind ("bgnbd", "pareto", "churn"), its parameters (a JSON object),
 * the time and the store's data version; its scores are one row per customer. Writing them does
 * not change the data version. NAN (and NULL strings) are stored as NULL. */
typedef struct rt_score_rec {
  int64_t customer;            /* store id */
  double p_alive, expected_purchases, predicted_clv, churn_probability;
  const char *expected_next_order; /* "YYYY-MM-DD" or NULL */
  const char *reasons;             /* or NULL */
} rt_score_rec;
int rt_store_score_run_begin(rt_store *st, const char *kind, const char *params_json,
                             int64_t *out_run, rt_error *err);
int rt_store_score_put(rt_store *st, int64_t run, const rt_score_rec *r, rt_error *err);
int rt_store_score_run_finish(rt_store *st, int64_t run, int64_t customers, rt_error *err);
/* A run: the one with id run (> 0), else the latest of kind (NULL: of any kind). kind and
 * params are rt_malloc'd copies (free them with rt_free). RT_ENOTFOUND when there is none. */
typedef struct rt_score_run {
  int64_t id, created_ms, data_version, customers;
  char *kind, *params;
} rt_score_run;
int rt_store_score_run_get(rt_store *st, int64_t run, const char *kind, rt_score_run *out,
                           rt_error *err);
/* A run's scores in customer order, with each customer's external id. */
typedef int (*rt_store_score_cb)(void *ctx, const char *ext_id, const rt_score_rec *r);
int rt_store_scan_scores(rt_store *st, int64_t run, rt_store_score_cb cb, void *ctx,
                         rt_error *err);

/* ---- segments ----
 * A segment is a named rule (rule.h) whose members the store keeps: entering and leaving are
 * recorded as events with their time (journeys trigger on them), and every evaluation records
 * the size, so its size over time can be shown. Like scores, segment writes do not change the
 * data version. Customers are store ids. */
typedef struct rt_segment_info {
  int64_t id;
  char *name, *rule, *description; /* rt_malloc'd: rt_segment_info_free */
  int64_t created_ms, updated_ms;
  int64_t evaluated_ms; /* 0: never evaluated */
  int64_t size;         /* members at the last evaluation */
  char *as_of;          /* "YYYY-MM-DD": pinned to that day; NULL: live (judged as of the
                           store's day at each evaluation) */
  char *settings;       /* JSON object of the feature settings that differ from the defaults
                           (rfm_bins, lifecycle windows), or NULL */
} rt_segment_info;
void rt_segment_info_free(rt_segment_info *s); /* frees the strings, not s */
/* A new segment: RT_EEXISTS when the name is taken. description may be NULL. */
int rt_store_segment_create(rt_store *st, const char *name, const char *rule,
                            const char *description, int64_t *out_id, rt_error *err);
/* Replaces the rule (and description, when not NULL) of a segment: RT_ENOTFOUND. */
int rt_store_segment_update(rt_store *st, int64_t id, const char *rule, const char *description,
                            rt_error *err);
/* How a segment is judged (rt_segment_info's as_of and settings; NULL for either: live, the
 * defaults): RT_ENOTFOUND. */
int rt_store_segment_set_basis(rt_store *st, int64_t id, const char *as_of,
                               const char *settings, rt_error *err);
/* By name: RT_ENOTFOUND when there is none. */
int rt_store_segment_get(rt_store *st, const char *name, rt_segment_info *out, rt_error *err);
/* Every segment, by name. The info is valid during the call only. */
typedef int (*rt_store_segment_cb)(void *ctx, const rt_segment_info *s);
int rt_store_scan_segments(rt_store *st, rt_store_segment_cb cb, void *ctx, rt_error *err);
/* Deletes a segment with its members, events and sizes: RT_ENOTFOUND. */
int rt_store_segment_delete(rt_store *st, int64_t id, rt_error *err);
/* A customer enters (enter = 1) or leaves (0) a segment at at_ms: the membership changes and an
 * event is recorded. Entering when already a member, or leaving when not, is RT_EINVAL. */
int rt_store_segment_move(rt_store *st, int64_t id, int64_t customer, int enter, int64_t at_ms,
                          rt_error *err);
/* Records an evaluation: the size after it, how many entered and left, at at_ms (also sets the
 * segment's size and evaluated_ms). */
int rt_store_segment_evaluated(rt_store *st, int64_t id, int64_t at_ms, int64_t size,
                               int64_t entered, int64_t exited, rt_error *err);
/* The members, by customer id, with their external id and when they entered. */
typedef int (*rt_store_member_cb)(void *ctx, int64_t customer, const char *ext_id,
                                  int64_t entered_ms);
int rt_store_scan_segment_members(rt_store *st, int64_t id, rt_store_member_cb cb, void *ctx,
                                  rt_error *err);
/* The evaluations, oldest first. */
typedef int (*rt_store_segment_size_cb)(void *ctx, int64_t at_ms, int64_t size, int64_t entered,
                                        int64_t exited);
int rt_store_scan_segment_sizes(rt_store *st, int64_t id, rt_store_segment_size_cb cb, void *ctx,
                                rt_error *err);
/* Enter and exit events since since_ms (inclusive), oldest first; id 0: of every segment. */
typedef int (*rt_store_segment_event_cb)(void *ctx, const char *segment, int64_t customer,
                                         const char *ext_id, int enter, int64_t at_ms);
int rt_store_scan_segment_events(rt_store *st, int64_t id, int64_t since_ms,
                                 rt_store_segment_event_cb cb, void *ctx, rt_error *err);

/* ---- API keys (for `retain serve`) ----
 * A key is "rk_" and 40 random base62 characters, drawn from libcrypto's RAND_bytes. The store
 * keeps only the hex SHA-256 of the whole key (sha256.h) and its first RT_KEY_PREFIX_LEN
 * characters (to tell keys apart in a list); the key itself is returned once, by
 * rt_store_key_create, and cannot be recovered. The scope says what a key may do: "write" only ingests data, "read"
 * reads, "admin" does both and manages the server. Like scores and segments, key writes do not
 * change the data version. */
#define RT_KEY_LEN 43        /* characters in a key */
#define RT_KEY_SIZE 44       /* with the NUL: the smallest key_cap of rt_store_key_create */
#define RT_KEY_PREFIX_LEN 8  /* characters of the key kept for listing ("rk_" and 5 more) */
#define RT_KEY_NAME_MAX 63   /* bytes in a key's name */

/* A key as stored: a value type the caller keeps (no pointers, nothing to free). name is ""
 * for a key created without one. Times are UTC ms; 0 for never (not revoked, not used). */
typedef struct rt_key_info {
  int64_t id;
  char name[RT_KEY_NAME_MAX + 1];
  char scope[8];   /* "write", "read" or "admin" */
  char prefix[16]; /* the key's first RT_KEY_PREFIX_LEN characters */
  int64_t created_ms, revoked_ms, last_used_ms;
} rt_key_info;

/* Creates a key with a scope ("write", "read" or "admin": else RT_EINVAL) and an optional
 * name (NULL or "" for none; at most RT_KEY_NAME_MAX bytes). The key, NUL-terminated, goes to
 * key_out (key_cap >= RT_KEY_SIZE), and its id to *out_id. The caller shows it once and should
 * wipe its copy; the library never logs it. RT_EIO when no random bytes could be read. */
int rt_store_key_create(rt_store *st, const char *name, const char *scope, char *key_out,
                        size_t key_cap, int64_t *out_id, rt_error *err);
/* Looks a presented key up (len bytes at key; need not be NUL-terminated) by its hash: 0 with
 * *out filled when it exists and is not revoked, RT_ENOTFOUND otherwise (unknown, malformed
 * and revoked keys alike; the message never repeats the key). Reads only, so a read-only store
 * can check keys; it does not record the use (rt_store_key_touch does). */
int rt_store_key_check(rt_store *st, const char *key, size_t len, rt_key_info *out,
                       rt_error *err);
/* Revokes key id at the current time: it is no longer found by rt_store_key_check but stays
 * in the list. Revoking a revoked key is a no-op that keeps the first time (returns 0).
 * RT_ENOTFOUND for an unknown id. */
int rt_store_key_revoke(rt_store *st, int64_t id, rt_error *err);
/* Records that key id was used at at_ms (last_used_ms). A write: the server should batch or
 * rate-limit it rather than call it on every request. RT_ENOTFOUND for an unknown id. */
int rt_store_key_touch(rt_store *st, int64_t id, int64_t at_ms, rt_error *err);
/* Every key, revoked ones too, by id. The info is valid during the call only; it never holds
 * the hash. */
typedef int (*rt_store_key_cb)(void *ctx, const rt_key_info *k);
int rt_store_scan_keys(rt_store *st, rt_store_key_cb cb, void *ctx, rt_error *err);

/* ---- one customer, for the read API ---- */
typedef struct rt_identity_view {
  char *kind, *value, *reason;
  int64_t linked_ms;
} rt_identity_view;
typedef struct rt_customer_view {
  int64_t id;            /* internal id */
  char *ext_id;
  int64_t created_ms;
  int64_t merged_into;   /* the customer this one was merged into, 0 if none */
  int64_t merge_id;      /* that merge (for rt_store_customer_unmerge), 0 if none */
  char *attrs;           /* JSON object text, or NULL */
  rt_identity_view *identities;
  size_t nidentities;
  int64_t orders, refunds, events;
  int64_t first_order_ms, last_order_ms; /* 0 without orders */
  char *revenue;         /* JSON object: currency -> sum of order amounts in minor units */
} rt_customer_view;
/* The customer whose external id is ext_id or, when ext_id is NULL, whose internal id is id:
 * its profile, identities (oldest first) and order and event counts. RT_ENOTFOUND. A
 * merged-away customer is found too (unlike rt_store_customer_find): its view has merged_into
 * and merge_id set and, its rows having moved, no identities, orders or events. Free the view
 * with rt_customer_view_free. */
int rt_store_customer_get(rt_store *st, const char *ext_id, int64_t id, rt_customer_view *out,
                          rt_error *err);
void rt_customer_view_free(rt_customer_view *v);

/* ---- a customer's timeline, for the read API ----
 * Events, orders, refunds and subscriptions of one customer, newest first, a page at a time.
 * Items are ordered by (time, kind rank, row id), all descending, so items with equal times
 * still come in one fixed order and paging visits every item exactly once. A subscription's
 * time is its start. Kind ranks, highest first at equal times: refund 3, order 2,
 * subscription 1, event 0. */
typedef struct rt_timeline_item {
  const char *kind;   /* "event", "order", "refund" or "subscription" */
  int64_t id;         /* row id within its kind */
  int64_t ts_ms;      /* event, order or refund time; a subscription's started_ms */
  const char *ext_id; /* the idempotency key (an event's may be NULL) */
  const char *type;   /* event: its type; else NULL */
  const char *props;  /* event: JSON object text or NULL */
  int64_t amount;     /* order, refund, subscription (per interval): minor units; event 0 */
  const char *currency;     /* order, refund, subscription; else NULL */
  const char *order_ext_id; /* refund: the refunded order or NULL */
  const char *reason;       /* refund: or NULL */
  const char *plan;         /* subscription: or NULL */
  int64_t canceled_ms;      /* subscription: 0 if not cancelled */
} rt_timeline_item;

/* Where a page ends: the position of its last item. A value type; more is 0 when nothing
 * follows it. To hand a cursor to a client, format it as a token and parse it back. */
typedef struct rt_timeline_cursor {
  int64_t ts_ms;
  int rank;   /* kind rank of the last item, 0..3 */
  int64_t id; /* row id of the last item (> 0) */
  int more;   /* 1: items follow; 0: this was the last page */
} rt_timeline_cursor;

#define RT_TIMELINE_LIMIT_MAX 1000
#define RT_TIMELINE_TOKEN_LEN 33  /* characters of a formatted cursor */
#define RT_TIMELINE_TOKEN_SIZE 34 /* with the NUL */

/* The item is valid during the call only; return 0 to go on, nonzero stops the page and is
 * returned (next then points after the last item delivered). */
typedef int (*rt_store_timeline_cb)(void *ctx, const rt_timeline_item *it);

/* Delivers up to limit (1..RT_TIMELINE_LIMIT_MAX) items of customer that come after the
 * cursor after (NULL: from the newest) and sets *next to continue from (next->more = 0 when
 * none are left; next may be NULL). RT_ENOTFOUND for an unknown customer; a merged-away
 * customer has an empty timeline (its items moved to the survivor). Reads use the
 * (customer_id, time) indexes: a page costs O(limit), however deep. */
int rt_store_customer_timeline(rt_store *st, int64_t customer, const rt_timeline_cursor *after,
                               size_t limit, rt_store_timeline_cb cb, void *ctx,
                               rt_timeline_cursor *next, rt_error *err);
/* An opaque, URL-safe token for a cursor: RT_TIMELINE_TOKEN_LEN lowercase hex digits,
 * NUL-terminated in out (cap >= RT_TIMELINE_TOKEN_SIZE, else RT_EINVAL). more is not part of
 * it. */
int rt_timeline_cursor_format(const rt_timeline_cursor *c, char *out, size_t cap);
/* Reads a token of len bytes back: RT_EINVAL (with a message that does not repeat it) for
 * anything rt_timeline_cursor_format cannot have written. out->more is set to 1. */
int rt_timeline_cursor_parse(const char *token, size_t len, rt_timeline_cursor *out,
                             rt_error *err);

/* ---- merging customers ----
 * Two customers found to be one person (same email seen under two ids, a support decision)
 * are merged: every identity, event, order, refund and subscription of from moves to into,
 * into's attributes become from's patched with into's (RFC 7396: into wins every conflict;
 * nested objects merge), and into's created_ms becomes the earlier of the two. from keeps its
 * row, ext_id and attributes, marked as merged into into. The merge records exactly which rows
 * moved, with reason and time, so that rt_store_customer_unmerge can move those rows back.
 * Segment memberships and stored scores are derived data and are not moved: the next
 * evaluation or model run sees the merged customer. Both bump the data version.
 *
 * After a merge, rt_store_customer_find (and so rt_store_customer_upsert, and every import)
 * resolves from's ext_id to the surviving customer, following a chain of merges; scans of
 * customers and attributes skip merged-away customers, so the model counts the person once.
 * rt_store_customer_get still shows from itself, with merged_into and merge_id. */

/* Merges customer from into customer into at at_ms; reason (may be NULL) says why. *merge_id
 * identifies the merge. RT_EINVAL when from == into, or when either was already merged into
 * another customer; RT_ENOTFOUND for an unknown id. */
int rt_store_customer_merge(rt_store *st, int64_t from, int64_t into, const char *reason,
                            int64_t at_ms, int64_t *merge_id, rt_error *err);
/* Undoes merge merge_id at at_ms: the rows it moved that still belong to the survivor go back,
 * from is no longer merged, and the survivor's attributes are restored as they were before
 * the merge if they have not changed since (else the keys the merge added are removed, and
 * nested objects it extended are restored) and its created_ms likewise. Rows the survivor
 * received after the merge stay with it. RT_ENOTFOUND for an unknown merge; RT_EINVAL when it
 * was already undone, or when the survivor has itself been merged away since (undo that merge
 * first). */
int rt_store_customer_unmerge(rt_store *st, int64_t merge_id, int64_t at_ms, rt_error *err);
/* *undone is 1 when from was merged into into and that merge was undone: someone decided they
 * are two people, so nothing automatic merges them again. */
int rt_store_merge_undone(rt_store *st, int64_t from, int64_t into, int *undone, rt_error *err);

/* ---- privacy: access (GDPR Art. 15) and erasure (Art. 17); docs/PRIVACY.md ----
 * A person is one customer with the customers merged into it (rt_store_customer_merge): both
 * operations take the customer that customer resolves to (a merged-away customer: its
 * survivor, at the end of the chain) and every customer merged into that one, at any depth. */

/* Up to this many tables are reported by an erasure. */
#define RT_ERASE_TABLES_MAX 24

/* What an erasure removed. A value type. */
typedef struct rt_erasure {
  int64_t id;         /* its row in the erasures log */
  int64_t customer;   /* the surviving customer erased (store id; the id may be given to a new
                         customer later if it was the highest) */
  int64_t customers;  /* customer rows removed: it and those merged into it */
  int64_t suppressed; /* ids put on the suppression list (0 with RT_ERASE_ALLOW_RETURN) */
  size_t ntables;     /* entries of removed: every table looked at, in order, even at 0 rows */
  struct {
    char table[32];
    int64_t rows;
  } removed[RT_ERASE_TABLES_MAX];
} rt_erasure;

/* The customer's ids are not put on the suppression list: later data under them starts a new,
 * empty profile. */
#define RT_ERASE_ALLOW_RETURN 1

/* Erases customer (resolved as above) in one transaction: its row and those merged into it,
 * and every row of every table that holds a customer_id of theirs (identities, events,
 * orders, refunds, subscriptions, scores, segment members and history, and any table added
 * later), their order lines, and the merges they took part in. The deleted content is
 * overwritten in the file (SQLite's secure_delete) and, after the commit, the WAL is
 * checkpointed and truncated when no reader holds it. Anonymous counts stay (model_runs'
 * customers, segment_sizes, segments' size until the next evaluation). The erasure is logged
 * in erasures without personal data: time, requested_by (who asked: "cli", "api key 3"; not
 * an id of the customer), counts. Unless flags has RT_ERASE_ALLOW_RETURN, the customer ids
 * (ext_id) and anonymous ids of the erased customers go on the suppression list as keyed
 * hashes: rt_store_customer_upsert then refuses them (RT_EERASED) and rt_store_erased finds
 * them. RT_ENOTFOUND for an unknown customer. at_ms is the erasure's time (<= 0: now). out
 * may be NULL. */
int rt_store_customer_erase(rt_store *st, int64_t customer, const char *requested_by, int flags,
                            int64_t at_ms, rt_erasure *out, rt_error *err);

/* Whether data under an id is refused: kind "customer" for a customer id (an ext_id),
 * "anonymous" for an anonymousId. *erased is 1 when the id is on the suppression list. A read:
 * cheap (one keyed hash and one index lookup), meant for when a profile would be created. */
int rt_store_erased(rt_store *st, const char *kind, const char *value, size_t len, int *erased,
                    rt_error *err);
/* Takes an id off the suppression list (the person came back and asked to be a customer
 * again): *lifted is 1 when it was on it. */
int rt_store_erased_lift(rt_store *st, const char *kind, const char *value, size_t len,
                         int *lifted, rt_error *err);

/* The erasures log, oldest first. The record and its strings are valid during the call only;
 * removed is the JSON object table -> rows. */
typedef struct rt_erasure_log {
  int64_t id, erased_ms, customers, suppressed;
  const char *requested_by, *removed;
} rt_erasure_log;
typedef int (*rt_store_erasure_cb)(void *ctx, const rt_erasure_log *e);
int rt_store_scan_erasures(rt_store *st, rt_store_erasure_cb cb, void *ctx, rt_error *err);

/* Writes n bytes; 0 to go on, anything else stops the export and is returned. */
typedef int (*rt_store_write_fn)(void *ctx, const char *data, size_t n);
/* Everything the store holds about customer (resolved as above), as one JSON object written in
 * pieces through write, one row at a time (a customer with millions of events is never in
 * memory at once): a header (the customer's ids, the time of the export, notes on the units)
 * and, for every table that holds rows of theirs, an array of those rows with every column:
 * customers, identities, events, orders, order_lines, refunds, subscriptions,
 * customer_scores, segment_members, segment_events, merges, merge_rows, merge_identities and
 * the imports the rows came from. Columns ending in _ms are written as ISO 8601 times (the
 * name without _ms), JSON text columns as JSON, amounts in minor units. Inside a read
 * transaction of its own when none is open, so the parts agree. RT_ENOTFOUND for an unknown
 * customer (nothing written). */
int rt_store_customer_export(rt_store *st, int64_t customer, rt_store_write_fn write, void *ctx,
                             rt_error *err);

#endif
