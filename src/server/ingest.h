/* ingest.h - the Segment-spec events the server accepts: parsing a request's JSON into events
 * (with the JSON path of anything wrong), and the writer that stores them with group commit.
 * Library-internal. */
#ifndef RETAIN_SERVER_INGEST_H
#define RETAIN_SERVER_INGEST_H

#include <retain/error.h>
#include <retain/store.h>

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef enum rt__ev_kind {
  RT__EV_IDENTIFY,
  RT__EV_TRACK,
  RT__EV_PAGE,
  RT__EV_SCREEN,
  RT__EV_GROUP,
  RT__EV_ALIAS,
  RT__EV_BATCH /* only as the kind of a request: its items say their own type */
} rt__ev_kind;

/* The subscription track events of Segment's B2B SaaS spec. */
typedef enum rt__sub_kind {
  RT__SUB_NONE,
  RT__SUB_START,  /* "Subscription Started" */
  RT__SUB_RENEW,  /* "Subscription Renewed" or "Subscription Updated" */
  RT__SUB_CANCEL  /* "Subscription Cancelled" or "Subscription Canceled" */
} rt__sub_kind;

/* One event, its strings owned (rt_free'd by rt__events_free). */
typedef struct rt__event {
  rt__ev_kind kind;
  char *user_id, *anon_id, *message_id, *previous_id, *group_id;
  char *name;  /* track: the event; page/screen: the page's name (may be NULL) */
  char *props; /* properties (track, page, screen) or traits (identify, group): JSON object */
  char *email; /* identify: traits.email (else context.traits.email), lower-cased */
  char *phone; /* identify: traits.phone (else context.traits.phone) as + and digits */
  const char *email_from, *phone_from; /* "traits" or "context.traits" (static) */
  int64_t ts_ms;
  /* e-commerce: "Order Completed" (commerce = 1) and "Order Refunded" (2) track events */
  int commerce;
  char *order_id;
  char currency[4];
  int64_t amount; /* minor units */
  rt_line_rec *lines;
  size_t nlines;
  /* subscriptions: properties.subscription_id, plan (or plan_name, plan_id), interval, and
   * amount (or price, revenue) with currency - has_amount 0 when no amount was given,
   * has_currency 0 when the currency is the default */
  rt__sub_kind sub;
  char *sub_id, *plan, *interval;
  int has_amount, has_currency;
  int64_t started_at_ms; /* properties.started_at, 0 when absent */
  int64_t received_ms;   /* when the server received it */
  int clamped;           /* a time more than a day after received_ms was set to received_ms */
} rt__event;

typedef struct rt__events {
  rt__event *v;
  size_t n;
  int batch; /* from {"batch": [...]}: v[i]'s fields are at batch[i]. */
} rt__events;

/* Parses a request body of the given kind (a batch: {"batch": [...]}) received at now_ms.
 * On error returns RT_EPARSE (not JSON) or RT_EINVAL (a bad field), or RT_ERANGE (more than
 * max_batch events, or an identify's traits over the limits of a customer's attributes:
 * RT_ATTRS_MAX_KEYS, RT_ATTRS_MAX_BYTES), with err "path: reason" and the JSON path of the
 * offending value in field_buf ("$" for the whole body). */
int rt__events_parse(const char *body, size_t len, rt__ev_kind kind, int64_t now_ms,
                     size_t max_batch, rt__events *out, char *field_buf, size_t field_cap,
                     rt_error *err);
void rt__events_free(rt__events *e);

/* ---- the writer ---- */
typedef struct rt__job {
  rt__events *events;
  /* or a write of its own (segment changes, admin calls): run in its own transaction, so its
   * failure fails only this job */
  int (*fn)(rt_store *st, void *ctx, rt_error *err);
  void *ctx;
  int bump; /* fn's write changes what reads see: the on_commit hook runs after it */
  int rc;            /* after done: 0 or the failure (RT_EERASED: some events were refused) */
  rt_error err;
  /* events about erased customers (on the suppression list) are refused, the others of the
   * job stored: how many, the first one's index and why */
  size_t refused, refused_at;
  rt_error refusal;
  char field[128];   /* after done: the JSON path at fault when the events' own content failed
                        (rc RT_ERANGE: a customer's attributes over their limit), else "" */
  int done;
  pthread_cond_t cv; /* signalled when done */
  struct rt__job *next;
} rt__job;

/* userId -> customer id, of customers known to be committed (the writer's own cache). */
typedef struct rt__idcache {
  char **key;
  int64_t *id;
  size_t cap, n; /* open addressing, cap a power of two */
} rt__idcache;

/* API keys whose use the writer remembers at once (more share slots: a use is then recorded
 * again sooner than RT__KEY_TOUCH_MS) */
#define RT__KEY_SLOTS 64
#define RT__KEY_TOUCH_MS 60000

/* the upper bounds of the commit-size histogram (events per commit) */
#define RT__COMMIT_BUCKETS 12
extern const unsigned rt__commit_buckets[RT__COMMIT_BUCKETS];

typedef struct rt__writer {
  rt_store *st;
  rt__idcache ids;
  /* ids learnt in the transaction being built: cached only once it commits */
  char **staged_key;
  int64_t *staged_id;
  size_t nstaged, staged_cap;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t work;
  rt__job *head, *tail;
  int stopping, started;
  rt_error broken;  /* code != 0: the store's files were deleted or replaced, no more writes
                       (found while idle, or by a commit); guarded by mu */
  uint64_t commits, events, max_commit; /* max_commit: most events in one commit */
  uint64_t commit_sizes[RT__COMMIT_BUCKETS + 1]; /* commits by events, rt__commit_buckets */
  /* called by the writer thread after each commit, before the jobs in it are answered, with
   * the customers the commit touched (NULL: it may have changed any, e.g. a merge) */
  void (*on_commit)(void *ctx, const int64_t *customers, size_t n);
  void *on_commit_ctx;
  int64_t *touched; /* the customers of the transaction being built */
  size_t ntouched, touched_cap;
  int touched_all;  /* too many to list, or the list could not grow */
  /* API key uses to record (rt__writer_key_used): the last one noted per key - written under
   * mu, read without it too (a stale or torn pair only costs taking mu) - and the queue */
  struct {
    atomic_llong id, ms;
  } key_seen[RT__KEY_SLOTS];
  struct {
    int64_t id, ms;
  } key_queue[RT__KEY_SLOTS];
  size_t nkey_queue;
} rt__writer;

/* Starts the writer on an open writable store (the writer uses it from its own thread only).
 * on_commit (may be NULL) is called after every commit. */
int rt__writer_start(rt__writer *w, rt_store *st,
                     void (*on_commit)(void *ctx, const int64_t *customers, size_t n), void *ctx,
                     rt_error *err);
/* Queues job and waits until its events are committed (or failed): job->rc. */
void rt__writer_submit(rt__writer *w, rt__job *job);
/* Notes that API key id was used at now_ms. The writer records it in the store (the key's
 * last_used_ms, `retain keys list`) at most once every RT__KEY_TOUCH_MS per key, in its own
 * small transaction after the writes waiting; the caller never waits for it, and a failure
 * only loses the note. */
void rt__writer_key_used(rt__writer *w, int64_t id, int64_t now_ms);
/* Finishes the jobs queued, then stops the thread. */
void rt__writer_stop(rt__writer *w);

#endif
