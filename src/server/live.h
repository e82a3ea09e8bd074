/* live.h - what the server's reads see: the customer model, every customer's features and the
 * stored segments' members, all built from one snapshot of the store (a "view").
 *
 * Every commit (events, segment changes) bumps a generation number; a refresher thread then
 * builds a new view from the store on its own read-only connection, in the background, and
 * publishes it. Commits that land while a view is being built are coalesced into the next one.
 * A read that must see everything acknowledged before it arrived asks for a view of at least
 * the generation current on its arrival (read-your-writes), and waits for it; without such a
 * read, changes are built in the background at most every 30 s (or four build times), at idle
 * CPU priority, so a steady stream of events does not keep a core rebuilding. Views are
 * reference-counted: a read keeps its view however many newer ones are published meanwhile.
 *
 * After a view is built, the members that entered or left each segment since the previous
 * view are written to the store through the writer (a write job of their own, so they never
 * share a transaction with events). The refresher also rebuilds when the day changes (rules
 * with `now`) and when another process changed the store (checked every few seconds).
 * Library-internal. */
#ifndef RETAIN_SERVER_LIVE_H
#define RETAIN_SERVER_LIVE_H

#include <retain/datetime.h>
#include <retain/features.h>
#include <retain/model.h>
#include <retain/rule.h>
#include <retain/store.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "server/ingest.h"

typedef struct rt__segview {
  int64_t id;
  char *name, *rule, *description;
  char *as_of;    /* pinned to this day (NULL: live) */
  int pinned;     /* pinned to a day or made with other feature settings: its stored members
                     are shown as they are, never re-evaluated by the server (r is NULL) */
  int64_t created_ms, updated_ms;
  rt_rule *r;     /* NULL when the rule no longer compiles (error says why), or pinned */
  char *error;
  uint64_t *bits; /* members over the view's customers */
  size_t count;
} rt__segview;

typedef struct rt__view {
  atomic_int refs;
  uint64_t gen;           /* the generation it includes */
  int64_t data_version;   /* the store's */
  int64_t built_ms;       /* when it was built (UTC ms) */
  double seconds;         /* how long it took to build */
  rt_model *model;
  struct rt_rates *rates; /* the store's exchange rates (one customer's rows are converted
                             with them as the model's were) */
  rt_features *feat;
  rt__segview *seg;       /* by name */
  size_t nseg;
} rt__view;

typedef struct rt__live {
  char *db_path;
  rt__writer *w;
  rt_tz *tz;              /* the business zone (the store's setting), NULL: UTC */
  char *currency;         /* NULL: the most frequent */
  int64_t fixed_now_ms;   /* 0: the clock; else `now` for the features (tests: RETAIN_NOW) */
  pthread_mutex_t mu;
  pthread_cond_t wake;    /* to the refresher */
  pthread_cond_t ready;   /* to readers waiting for a view */
  rt__view *cur;          /* NULL until the first view */
  uint64_t want;          /* the latest generation */
  uint64_t all_gen;       /* the latest commit that may have changed any customer */
  struct {                /* customer -> the latest commit that touched it, since the view */
    int64_t *key;         /* 0: empty slot */
    uint64_t *gen;
    size_t cap, n;
  } touched;
  int waiting;            /* reads waiting for a newer view than the current one */
  int stopping, started;
  pthread_t thread;
  char error[1024];       /* the last build's failure, "" if it worked */
  /* for /metrics */
  uint64_t refreshes;
  double refresh_seconds, last_seconds;
  uint64_t segment_moves;
  uint64_t waits;         /* reads that had to wait for a newer view */
} rt__live;

/* Starts the refresher (the first view is built at once, in the background). now_ms: 0 for
 * the clock. */
int rt__live_start(rt__live *l, const char *db_path, rt__writer *w, const char *timezone,
                   const char *currency, int64_t fixed_now_ms, rt_error *err);
void rt__live_stop(rt__live *l);

/* Something was committed: the next view must include it. customers are the ones it touched
 * (NULL: it may have changed any, or every customer's segments). */
void rt__live_bump(rt__live *l, const int64_t *customers, size_t n);
/* The current generation (what a read arriving now must see). */
uint64_t rt__live_generation(rt__live *l);
/* What a read of one customer arriving now must see: the latest commit that touched it (or
 * could have). A view at least that new answers it exactly as the newest would, so reading
 * an untouched customer need not wait for the rebuild that other customers' events caused.
 * *all (may be NULL): the latest commit that may have changed every customer (a merge, a
 * segment change). */
uint64_t rt__live_customer_generation(rt__live *l, int64_t customer, uint64_t *all);

/* A view of at least generation gen (0: whatever is current), waiting up to timeout_ms for it;
 * NULL when there is none yet (not loaded: the first build is running or failed). When the
 * wait times out the newest view is returned anyway (view->gen < gen tells). Release it. */
rt__view *rt__live_get(rt__live *l, uint64_t gen, int timeout_ms);
void rt__view_release(rt__view *v);

/* Views alive (built and not yet freed) in this process. */
long rt__live_views_alive(void);

/* The segment of that name in v, or NULL. */
const rt__segview *rt__view_segment(const rt__view *v, const char *name);
/* Compiles a segment rule against v's features (or f, e.g. one customer's on its own),
 * in_segment reading v's segments. */
int rt__view_compile(const rt__view *v, const rt_features *f, const char *name,
                     const char *rule, rt_rule **out, rt_error *err);
/* Whether customer i of v is a member of s. */
static inline int rt__segview_has(const rt__segview *s, size_t i) {
  return s->bits && (int)((s->bits[i / 64] >> (i % 64)) & 1);
}

#endif
