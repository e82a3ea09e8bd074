/* store_internal.h - the backend interface of the store (SQLite's VFS idea, Redis's ae_*.c).
 *
 * store.c owns the public rt_store_* functions: it checks arguments, refuses writes to a
 * read-only store, wraps a write outside rt_store_begin/commit in its own transaction, and keeps
 * the transaction and bulk-mode state. A backend (store_sqlite.c today, store_pg.c later) fills
 * one rt_store_ops and only does the storage work; it may assume its arguments were checked. */
#ifndef RETAIN_STORE_INTERNAL_H
#define RETAIN_STORE_INTERNAL_H

#include <retain/store.h>

#include <stdint.h>

struct json_t; /* jansson's */

/* A backend's own state; each backend defines the struct. */
typedef struct rt_store_backend rt_store_backend;

/* The tables rt_store_count accepts, in a fixed order that backends may index by. */
#define RT_STORE_TABLES(X)                                                                    \
  X(customers) X(identities) X(events) X(orders) X(order_lines) X(refunds) X(subscriptions) \
      X(imports) X(meta) X(schema_migrations) X(model_runs) X(customer_scores)                \
      X(segments) X(segment_members) X(segment_events) X(segment_sizes) X(api_keys)       \
      X(exchange_rates) X(erasures) X(erased_ids)
typedef enum rt_store_table {
#define RT__TABLE_ENUM(name) RT_TABLE_##name,
  RT_STORE_TABLES(RT__TABLE_ENUM)
#undef RT__TABLE_ENUM
      RT_TABLE__COUNT
} rt_store_table;

/* The operations of a backend. Unless stated, each returns 0 or an RT_E* code with err filled
 * (err is never NULL here: store.c passes a local one when the caller gave none). Writes are
 * only called inside a transaction (begin .. commit/rollback). */
typedef struct rt_store_ops {
  const char *name;              /* "sqlite" */
  int (*latest_schema_version)(void); /* the migrations this backend knows */

  /* Opens and migrates; on failure *out is NULL and nothing needs closing. */
  int (*open)(const rt_store_config *cfg, rt_store_backend **out, rt_error *err);
  void (*close)(rt_store_backend *b); /* b is never NULL */
  int (*schema_version)(rt_store_backend *b);
  /* The committed data version, as seen by this connection (inside a transaction: its view). */
  int (*data_version)(rt_store_backend *b, int64_t *out, rt_error *err);
  /* 0 while the files under a writable store are the ones it opened (see rt_store_check) */
  int (*check_files)(rt_store_backend *b, rt_error *err);

  /* begin takes the write lock. commit bumps the data version when the transaction changed
   * anything, flushes whatever the backend buffered, and commits; when it fails the
   * transaction is still open and store.c rolls it back. rollback discards buffered rows and
   * leaves bulk mode; it cannot fail. */
  int (*begin)(rt_store_backend *b, rt_error *err);
  int (*commit)(rt_store_backend *b, rt_error *err);
  void (*rollback)(rt_store_backend *b);
  /* A read transaction: every read until read_end sees one committed state. */
  int (*read_begin)(rt_store_backend *b, rt_error *err);
  void (*read_end)(rt_store_backend *b);

  int (*meta_get)(rt_store_backend *b, const char *key, char **out, rt_error *err);
  int (*meta_set)(rt_store_backend *b, const char *key, const char *value, rt_error *err);

  int (*customer_find)(rt_store_backend *b, const char *ext_id, size_t len, int64_t *out_id,
                       rt_error *err);
  int (*customer_upsert)(rt_store_backend *b, const char *ext_id, size_t len, int64_t created_ms,
                         int64_t *out_id, int *created, rt_error *err);
  /* Bulk mode only: inserts without looking (the backend may buffer the row). */
  int (*customer_insert)(rt_store_backend *b, const char *ext_id, size_t len, int64_t created_ms,
                         int64_t *out_id, rt_error *err);
  /* json_obj is a valid JSON object (checked by store.c); RT_ENOTFOUND for an unknown id. */
  int (*customer_set_attrs)(rt_store_backend *b, int64_t customer, const char *json_obj,
                            rt_error *err);
  int (*identity_link)(rt_store_backend *b, const char *kind, const char *value, int64_t customer,
                       const char *reason, int64_t *other_customer, rt_error *err);
  int (*identity_find)(rt_store_backend *b, const char *kind, const char *value, int64_t *out_id,
                       rt_error *err);

  /* bulk is 1 while bulk mode is active: insert without looking for the ext_id. */
  int (*order_put)(rt_store_backend *b, const rt_order_rec *o, const rt_line_rec *lines,
                   size_t nlines, int bulk, int *status, rt_error *err);
  int (*refund_put)(rt_store_backend *b, const rt_refund_rec *r, int bulk, int *status,
                    rt_error *err);
  int (*event_put)(rt_store_backend *b, const rt_event_rec *e, int *status, rt_error *err);
  int (*subscription_put)(rt_store_backend *b, const rt_subscription_rec *s, int *status,
                          rt_error *err);
  /* fills out with rt_malloc'd strings; RT_ENOTFOUND */
  int (*subscription_get)(rt_store_backend *b, const char *ext_id, rt_subscription_rec *out,
                          rt_error *err);

  /* bulk_begin sets *active to 1 when it dropped the unique indexes (empty tables), else 0.
   * bulk_end flushes and rebuilds them: RT_EEXISTS when a duplicate key prevents it (the
   * transaction is then only fit for rollback). */
  /* builds the by-customer indexes a bulk load left out (in a write transaction) */
  int (*ensure_indexes)(rt_store_backend *b, int *built, rt_error *err);
  int (*bulk_begin)(rt_store_backend *b, int *active, rt_error *err);
  int (*bulk_end)(rt_store_backend *b, rt_error *err);

  int (*import_begin)(rt_store_backend *b, const char *kind, const char *path,
                      const char *digest, int64_t *out_import_id, rt_error *err);
  int (*import_finish)(rt_store_backend *b, int64_t import_id, int64_t rows, int64_t stored,
                       int64_t skipped, rt_error *err);

  /* Model runs and their customer scores: not customer data, so they leave the data version
   * (and with it the model snapshot) alone. */
  int (*score_run_begin)(rt_store_backend *b, const char *kind, const char *params_json,
                         int64_t *out_run, rt_error *err);
  int (*score_put)(rt_store_backend *b, int64_t run, const rt_score_rec *r, rt_error *err);
  int (*score_run_finish)(rt_store_backend *b, int64_t run, int64_t customers, rt_error *err);
  int (*score_run_get)(rt_store_backend *b, int64_t run, const char *kind, rt_score_run *out,
                       rt_error *err);
  int (*scan_scores)(rt_store_backend *b, int64_t run, rt_store_score_cb cb, void *ctx,
                     rt_error *err);

  /* Segments, their members, enter/exit events and sizes: like scores, not customer data, so
   * they leave the data version alone. Names and rules are stored as given. create returns
   * RT_EEXISTS for a taken name; update, get, delete, move and evaluated RT_ENOTFOUND for an
   * unknown segment (move also for an unknown customer, and RT_EINVAL when the customer is
   * already in (enter) or not in (leave) the segment). get fills out with rt_malloc'd strings;
   * on failure out is zeroed. */
  int (*segment_create)(rt_store_backend *b, const char *name, const char *rule,
                        const char *description, int64_t *out_id, rt_error *err);
  int (*segment_update)(rt_store_backend *b, int64_t id, const char *rule,
                        const char *description, rt_error *err);
  int (*segment_get)(rt_store_backend *b, const char *name, rt_segment_info *out,
                     rt_error *err);
  int (*segment_delete)(rt_store_backend *b, int64_t id, rt_error *err);
  int (*segment_move)(rt_store_backend *b, int64_t id, int64_t customer, int enter,
                      int64_t at_ms, rt_error *err);
  int (*segment_evaluated)(rt_store_backend *b, int64_t id, int64_t at_ms, int64_t size,
                           int64_t entered, int64_t exited, rt_error *err);
  int (*scan_segments)(rt_store_backend *b, rt_store_segment_cb cb, void *ctx, rt_error *err);
  int (*segment_set_basis)(rt_store_backend *b, int64_t id, const char *as_of,
                           const char *settings, rt_error *err);
  int (*scan_segment_members)(rt_store_backend *b, int64_t id, rt_store_member_cb cb, void *ctx,
                              rt_error *err);
  int (*scan_segment_sizes)(rt_store_backend *b, int64_t id, rt_store_segment_size_cb cb,
                            void *ctx, rt_error *err);
  /* id 0: the events of every segment. */
  int (*scan_segment_events)(rt_store_backend *b, int64_t id, int64_t since_ms,
                             rt_store_segment_event_cb cb, void *ctx, rt_error *err);

  /* API keys: like scores and segments, not customer data, so they leave the data version
   * alone. store.c generates the key; the backend only ever sees its prefix and hash (the hex
   * SHA-256 of the whole key). key_check finds a key that is not revoked by its hash
   * (RT_ENOTFOUND otherwise); revoke keeps the first revocation time of a key revoked twice;
   * touch sets last_used_ms. revoke and touch return RT_ENOTFOUND for an unknown id. */
  int (*key_create)(rt_store_backend *b, const char *name, const char *scope,
                    const char *prefix, const char *hash, int64_t *out_id, rt_error *err);
  int (*key_check)(rt_store_backend *b, const char *hash, rt_key_info *out, rt_error *err);
  int (*key_revoke)(rt_store_backend *b, int64_t id, rt_error *err);
  int (*key_touch)(rt_store_backend *b, int64_t id, int64_t at_ms, rt_error *err);
  int (*scan_keys)(rt_store_backend *b, rt_store_key_cb cb, void *ctx, rt_error *err);
  /* ext_id, or NULL and the internal id; RT_ENOTFOUND */
  int (*customer_get)(rt_store_backend *b, const char *ext_id, int64_t id, rt_customer_view *out,
                      rt_error *err);

  /* after is never NULL (store.c passes a cursor before the newest item), 1 <= limit <=
   * RT_TIMELINE_LIMIT_MAX, next is never NULL. RT_ENOTFOUND for an unknown customer; the
   * callback's nonzero value is returned as is. */
  int (*customer_timeline)(rt_store_backend *b, int64_t customer,
                           const rt_timeline_cursor *after, size_t limit,
                           rt_store_timeline_cb cb, void *ctx, rt_timeline_cursor *next,
                           rt_error *err);
  /* from != into, both > 0 (checked by store.c). RT_ENOTFOUND, RT_EINVAL as in store.h. */
  int (*customer_merge)(rt_store_backend *b, int64_t from, int64_t into, const char *reason,
                        int64_t at_ms, int64_t *merge_id, rt_error *err);
  int (*customer_unmerge)(rt_store_backend *b, int64_t merge_id, int64_t at_ms, rt_error *err);

  /* Exchange rates (checked by store.c: codes of 3 capital letters that differ, a finite
   * rate > 0, a day of years 1..9999). rate_put sets *status RT_PUT_NEW (no rate for that
   * base, currency and day yet), RT_PUT_MERGED (another value replaced) or RT_PUT_DUPLICATE
   * (the same value was there: nothing written, so a re-import leaves the data version
   * alone). scan_rates delivers them by base, currency and day. */
  int (*rate_put)(rt_store_backend *b, const rt_rate_rec *r, int *status, rt_error *err);
  int (*scan_rates)(rt_store_backend *b, rt_store_rate_cb cb, void *ctx, rt_error *err);

  /* Privacy (store.h). customer_erase: secret is the store's erasure secret (hex), or NULL
   * for no suppression; out is never NULL (zeroed by store.c). erased_check and erased_lift
   * take the hex hash of an id (rt__erasure_hash). export_rows delivers the customer's rows
   * table by table: first cb(ctx, table, NULL) for each table, then its rows as JSON objects
   * (borrowed: valid during the call), in the order of store.h; RT_ENOTFOUND before any call
   * for an unknown customer. checkpoint moves the WAL into the file and truncates it (best
   * effort, after an erasure's commit; outside a transaction). */
  int (*customer_erase)(rt_store_backend *b, int64_t customer, const char *secret,
                        const char *requested_by, int64_t at_ms, rt_erasure *out, rt_error *err);
  /* *found 1 when a merge of from into into was recorded and then undone */
  int (*merge_undone)(rt_store_backend *b, int64_t from, int64_t into, int *found,
                      rt_error *err);
  int (*erased_check)(rt_store_backend *b, const char *hash, int *found, rt_error *err);
  int (*erased_lift)(rt_store_backend *b, const char *hash, int *found, rt_error *err);
  int (*scan_erasures)(rt_store_backend *b, rt_store_erasure_cb cb, void *ctx, rt_error *err);
  int (*export_rows)(rt_store_backend *b, int64_t customer,
                     int (*cb)(void *ctx, const char *table, struct json_t *row), void *ctx,
                     rt_error *err);
  void (*checkpoint)(rt_store_backend *b);

  /* Scans return the callback's nonzero value as is (err untouched) when it stops them. */
  int (*scan_customers)(rt_store_backend *b, rt_store_customer_cb cb, void *ctx, rt_error *err);
  int (*scan_orders)(rt_store_backend *b, rt_store_order_cb cb, void *ctx, rt_error *err);
  int (*scan_refunds)(rt_store_backend *b, rt_store_refund_cb cb, void *ctx, rt_error *err);
  int (*scan_subscriptions)(rt_store_backend *b, rt_store_subscription_cb cb, void *ctx,
                            rt_error *err);
  int (*scan_events)(rt_store_backend *b, rt_store_event_cb cb, void *ctx, rt_error *err);
  int (*scan_attrs)(rt_store_backend *b, rt_store_attrs_cb cb, void *ctx, rt_error *err);
  int (*count)(rt_store_backend *b, rt_store_table table, int64_t *out, rt_error *err);
} rt_store_ops;

/* store_sqlite.c */
extern const rt_store_ops rt__store_sqlite_ops;
/* The SQL of one of the SQLite backend's statements by its name ("TIMELINE", "CUST_ORDERS",
 * ...), or NULL: for tests that check a query plan. */
const char *rt__store_sqlite_sql(const char *name);

/* The suppression list's key of an id (kind "customer" or "anonymous"): the hex HMAC-SHA256,
 * keyed with secret (the store's meta 'erasure_secret'), of kind, a NUL and the value. */
#define RT__ERASURE_SECRET_KEY "erasure_secret"
void rt__erasure_hash(const char *secret, const char *kind, const char *value, size_t len,
                      char hex[65]);

/* The table names, indexed by rt_store_table. */
extern const char *const rt__store_table_names[RT_TABLE__COUNT];

#endif
