/* live.c - the views the server's reads see, rebuilt after commits (live.h). */
#define _GNU_SOURCE /* SCHED_IDLE */
#include "server/live.h"

#include <retain/alloc.h>
#include <retain/rates.h>
#include <retain/segment.h>

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_SECONDS 5 /* how often to look for changes made by other processes */
/* Background rebuilds (no read waiting) at most this often: a rebuild holds a read snapshot
 * (the writer's checkpoints cannot finish past it) and takes CPU, and with rebuilds every second
 * the open-loop p99 of single tracks went from 4-9 ms to 20-50 ms (bench/serve.sh) */
#define MIN_CALM_MS 30000

static int64_t clock_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int32_t today_of(const rt__live *l) {
  return (int32_t)rt_tz_day(l->tz, l->fixed_now_ms ? l->fixed_now_ms : clock_ms());
}

/* The day a model of the store is judged at now: RETAIN_NOW's, else as the CLI judges (today
 * while the data is live, else its last day with data). */
static int32_t as_of_now(const rt__live *l, const rt_model *m) {
  return l->fixed_now_ms ? today_of(l) : rt_model_default_as_of(m, today_of(l), NULL);
}

static void deadline_in(struct timespec *ts, int ms) {
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

/* views built and not yet freed, in every server of the process (/metrics: a view held by a
 * slow reader is memory the size of the model) */
static atomic_long views_alive;

long rt__live_views_alive(void) { return atomic_load(&views_alive); }

static void view_free(rt__view *v) {
  atomic_fetch_sub(&views_alive, 1);
  for (size_t k = 0; k < v->nseg; k++) {
    rt__segview *s = &v->seg[k];
    rt_free(s->name);
    rt_free(s->rule);
    rt_free(s->as_of);
    rt_free(s->description);
    rt_free(s->error);
    rt_rule_free(s->r);
    rt_free(s->bits);
  }
  rt_free(v->seg);
  rt_features_free(v->feat);
  rt_model_free(v->model);
  rt_rates_free(v->rates);
  rt_free(v);
}

void rt__view_release(rt__view *v) {
  if (v && atomic_fetch_sub(&v->refs, 1) == 1)
    view_free(v);
}

const rt__segview *rt__view_segment(const rt__view *v, const char *name) {
  for (size_t k = 0; k < v->nseg; k++)
    if (!strcmp(v->seg[k].name, name))
      return &v->seg[k];
  return NULL;
}

/* ---- building a view ---- */

typedef struct seg_list {
  rt__view *v;
  size_t cap;
  int oom;
} seg_list;

static int on_segment(void *ctx, const rt_segment_info *s) {
  seg_list *l = ctx;
  rt__view *v = l->v;
  if (v->nseg == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 8;
    rt__segview *n = rt_realloc(v->seg, cap * sizeof *n);
    if (!n)
      return l->oom = RT_ENOMEM;
    v->seg = n;
    l->cap = cap;
  }
  rt__segview *d = &v->seg[v->nseg++];
  memset(d, 0, sizeof *d);
  d->id = s->id;
  d->created_ms = s->created_ms;
  d->updated_ms = s->updated_ms;
  d->name = rt_strdup(s->name);
  d->rule = rt_strdup(s->rule);
  d->description = s->description ? rt_strdup(s->description) : NULL;
  d->as_of = s->as_of ? rt_strdup(s->as_of) : NULL;
  d->pinned = s->as_of || s->settings;
  if (!d->name || !d->rule || (s->description && !d->description) || (s->as_of && !d->as_of))
    return l->oom = RT_ENOMEM;
  return 0;
}

/* in_segment('x') while compiling: the rule of x in the view being built */
static const char *view_rule(void *ctx, const char *name) {
  const rt__segview *s = rt__view_segment(ctx, name);
  return s ? s->rule : NULL;
}

int rt__view_compile(const rt__view *v, const rt_features *f, const char *name,
                     const char *rule, rt_rule **out, rt_error *err) {
  rt_rule_env env;
  rt_features_env(f ? f : v->feat, &env);
  env.segment_rule = view_rule;
  env.ctx = (void *)v;
  env.name = name;
  return rt_rule_compile(rule, &env, out, err);
}

/* The stored members of the pinned segments (in the view's read snapshot). */
static int pinned_members(rt__view *v, rt_store *st, rt_error *err) {
  int rc = 0;
  for (size_t k = 0; k < v->nseg && !rc; k++)
    if (v->seg[k].pinned)
      rc = rt_segment_member_bits(st, v->model, v->seg[k].id, &v->seg[k].bits, &v->seg[k].count,
                                  err);
  return rc;
}

static int evaluate_segments(rt__view *v) {
  for (size_t k = 0; k < v->nseg; k++) {
    rt__segview *s = &v->seg[k];
    if (s->pinned)
      continue;
    rt_error e = {0};
    if (rt__view_compile(v, NULL, s->name, s->rule, &s->r, &e) ||
        rt_segment_eval(s->r, v->feat->n, &s->bits, &s->count, &e)) {
      if (e.code == RT_ENOMEM)
        return RT_ENOMEM;
      s->error = rt_strdup(e.msg); /* the data changed under the rule (an attribute is gone) */
      rt_rule_free(s->r);
      s->r = NULL;
    }
  }
  return 0;
}

static int build(rt__live *l, rt_store *st, uint64_t gen, rt__view **out, rt_error *err) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  rt__view *v = rt_calloc(1, sizeof *v);
  if (!v)
    return rt_error_set(err, RT_ENOMEM, "building the view: out of memory");
  atomic_init(&v->refs, 1);
  atomic_fetch_add(&views_alive, 1);
  v->gen = gen;
  seg_list sl = {v, 0, 0};
  rt_features_options o;
  /* one snapshot: the model, the attributes and scores, and the segments agree */
  int rc = rt_store_read_begin(st, err);
  if (!rc)
    rc = rt_store_data_version(st, &v->data_version, err);
  if (!rc)
    rc = rt_model_load(st, l->tz, l->currency, &v->model, err);
  if (!rc)
    rc = rt_rates_load(st, &v->rates, err);
  if (!rc) {
    rt_as_of_basis why = RT_AS_OF_GIVEN;
    int32_t day = as_of_now(l, v->model);
    if (!l->fixed_now_ms)
      rt_model_default_as_of(v->model, today_of(l), &why);
    rc = rt_model_set_as_of(&v->model, day, why, err);
  }
  if (!rc) {
    rt_features_defaults(&o, v->model->as_of);
    rc = rt_features_build(v->model, st, &o, &v->feat, err);
  }
  if (!rc && (rc = rt_store_scan_segments(st, on_segment, &sl, err)) && sl.oom)
    rt_error_set(err, RT_ENOMEM, "reading the segments: out of memory");
  if (!rc)
    rc = pinned_members(v, st, err);
  rt_store_read_end(st);
  if (!rc && (rc = evaluate_segments(v)))
    rt_error_set(err, rc, "evaluating the segments: out of memory");
  if (rc) {
    view_free(v);
    return rc;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  v->built_ms = clock_ms();
  v->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  *out = v;
  return 0;
}

/* ---- writing the segments' changes ---- */

typedef struct move {
  int64_t segment, customer;
  int enter;
} move;

typedef struct sync_job {
  const rt__view *v, *prev;
  int64_t at_ms;
  uint64_t moves;
} sync_job;

static int same_rule(const rt__segview *a, const rt__segview *b) {
  return a && b && a->id == b->id && a->r && b->r && !strcmp(a->rule, b->rule);
}

/* Segment s of v against the same segment in prev: walks both models' customers in store id
 * order and writes who entered and who left. */
static int sync_diff(rt_store *st, const rt__view *v, const rt__segview *s, const rt__view *prev,
                     const rt__segview *ps, int64_t at, uint64_t *moves, rt_error *err) {
  const rt_model *a = prev->model, *b = v->model;
  size_t i = 0, j = 0;
  int64_t entered = 0, exited = 0;
  int rc = 0;
  while ((i < a->ncustomers || j < b->ncustomers) && !rc) {
    int64_t ida = i < a->ncustomers ? a->store_id[i] : INT64_MAX;
    int64_t idb = j < b->ncustomers ? b->store_id[j] : INT64_MAX;
    int was = 0, now = 0, gone = 0;
    int64_t id;
    if (ida == idb) {
      was = rt__segview_has(ps, i++);
      now = rt__segview_has(s, j++);
      id = ida;
    } else if (ida < idb) { /* gone from the store (merged away, or erased) */
      was = rt__segview_has(ps, i++);
      id = ida;
      gone = 1;
    } else {
      now = rt__segview_has(s, j++);
      id = idb;
    }
    if (was != now) {
      rc = rt_store_segment_move(st, s->id, id, now, at, err);
      if (rc == RT_ENOTFOUND && gone) { /* erased: its membership and history went with it */
        rt_error_clear(err);
        rc = 0;
        continue;
      }
      entered += now;
      exited += was;
    }
  }
  if (!rc && (entered || exited))
    rc = rt_store_segment_evaluated(st, s->id, at, (int64_t)s->count, entered, exited, err);
  *moves += (uint64_t)(entered + exited);
  return rc;
}

static int sync_segments(rt_store *st, void *ctx, rt_error *err) {
  sync_job *j = ctx;
  const rt__view *v = j->v;
  int rc = 0;
  for (size_t k = 0; k < v->nseg && !rc; k++) {
    const rt__segview *s = &v->seg[k];
    if (!s->r)
      continue; /* a rule that no longer compiles keeps its last members */
    const rt__segview *ps = j->prev ? rt__view_segment(j->prev, s->name) : NULL;
    if (same_rule(s, ps)) {
      rc = sync_diff(st, v, s, j->prev, ps, j->at_ms, &j->moves, err);
    } else { /* new, changed, or the first view: against the stored members */
      rt_segment_changes ch;
      rc = rt_segment_sync(st, v->model, s->id, s->bits, j->at_ms, &ch, err);
      j->moves += (uint64_t)(ch.entered + ch.exited);
    }
  }
  return rc;
}

/* ---- which customers changed since the view (mu held) ---- */

#define TOUCHED_MAX (1u << 20) /* more: treated as a change of everyone */

static size_t touched_slot(const rt__live *l, int64_t customer) {
  size_t i = (size_t)((uint64_t)customer * 0x9E3779B97F4A7C15ULL) & (l->touched.cap - 1);
  while (l->touched.key[i] && l->touched.key[i] != customer)
    i = (i + 1) & (l->touched.cap - 1);
  return i;
}

static void touched_clear(rt__live *l) {
  rt_free(l->touched.key);
  rt_free(l->touched.gen);
  memset(&l->touched, 0, sizeof l->touched);
}

/* A table of cap slots holding the entries of the old one newer than keep_after. */
static int touched_rehash(rt__live *l, size_t cap, uint64_t keep_after) {
  int64_t *key = rt_calloc(cap, sizeof *key);
  uint64_t *gen = rt_calloc(cap, sizeof *gen);
  if (!key || !gen) {
    rt_free(key);
    rt_free(gen);
    return -1;
  }
  int64_t *okey = l->touched.key;
  uint64_t *ogen = l->touched.gen;
  size_t ocap = l->touched.cap;
  l->touched.key = key;
  l->touched.gen = gen;
  l->touched.cap = cap;
  l->touched.n = 0;
  for (size_t i = 0; i < ocap; i++)
    if (okey[i] && ogen[i] > keep_after) {
      size_t j = touched_slot(l, okey[i]);
      l->touched.key[j] = okey[i];
      l->touched.gen[j] = ogen[i];
      l->touched.n++;
    }
  rt_free(okey);
  rt_free(ogen);
  return 0;
}

static void touched_put(rt__live *l, int64_t customer, uint64_t gen) {
  if (l->touched.n * 2 >= l->touched.cap) {
    size_t cap = l->touched.cap ? 2 * l->touched.cap : 1024;
    if (cap > 2 * TOUCHED_MAX || touched_rehash(l, cap, 0)) {
      l->all_gen = gen; /* too many to track: every read waits for this generation */
      touched_clear(l);
      return;
    }
  }
  size_t i = touched_slot(l, customer);
  if (!l->touched.key[i]) {
    l->touched.key[i] = customer;
    l->touched.n++;
  }
  l->touched.gen[i] = gen;
}

/* A view of generation gen is published: what it includes need not be tracked. */
static void touched_prune(rt__live *l, uint64_t gen) {
  if (!l->touched.n)
    return;
  size_t cap = 1024;
  while (cap < 4 * l->touched.n)
    cap *= 2;
  if (touched_rehash(l, cap, gen)) {
    l->all_gen = l->want;
    touched_clear(l);
  }
}

/* ---- the refresher ---- */

static void *refresher(void *arg) {
  rt__live *l = arg;
  rt_store *st = NULL;
  rt_store_config sc = {.path = l->db_path, .read_only = 1};
  rt_error err = {0};
  int failing = 0;
  if (rt_store_open(&sc, &st, &err)) {
    pthread_mutex_lock(&l->mu);
    snprintf(l->error, sizeof l->error, "%s", err.msg);
    pthread_cond_broadcast(&l->ready);
    pthread_mutex_unlock(&l->mu);
    return NULL;
  }
  for (;;) {
    pthread_mutex_lock(&l->mu);
    int poll = 0;
    for (;;) {
      if (l->stopping || !l->cur)
        break;
      /* a change is built into a view at once when a read waits for it; otherwise not sooner
       * than a few build times after the last one, so a steady stream of events does not keep
       * a core rebuilding */
      int64_t since = clock_ms() - l->cur->built_ms;
      int64_t calm = (int64_t)(l->cur->seconds * 4000);
      if (calm < MIN_CALM_MS)
        calm = MIN_CALM_MS;
      if (l->cur->gen < l->want && (l->waiting || since >= calm))
        break;
      struct timespec dl;
      deadline_in(&dl, l->cur->gen < l->want ? (int)(calm - since) : POLL_SECONDS * 1000);
      if (pthread_cond_timedwait(&l->wake, &l->mu, &dl) == ETIMEDOUT && l->cur->gen >= l->want) {
        poll = 1;
        break;
      }
    }
    if (!l->stopping && failing) { /* after a failure, not more than once a second */
      struct timespec dl;
      deadline_in(&dl, 1000);
      pthread_cond_timedwait(&l->wake, &l->mu, &dl);
    }
    int stop = l->stopping, urgent = l->waiting > 0 || !l->cur;
    uint64_t gen = l->want;
    rt__view *prev = l->cur;
    pthread_mutex_unlock(&l->mu);
    /* A rebuild nobody waits for is background work: it gets only the CPU the requests leave
     * idle (and so do the threads it starts, which inherit the policy), instead of stalling
     * them for its length. One a read waits for runs as any thread. */
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), urgent ? SCHED_OTHER : SCHED_IDLE, &sp);
    if (stop)
      break;
    if (poll && prev) { /* nothing committed here: did another process change the store, or
                           did the day change (rules with `now`)? */
      int64_t dv;
      if (!rt_store_data_version(st, &dv, NULL) && dv == prev->data_version &&
          as_of_now(l, prev->model) == prev->model->as_of)
        continue;
    }
    rt__view *v = NULL;
    rt_error_clear(&err);
    int rc = build(l, st, gen, &v, &err);
    uint64_t moves = 0;
    if (!rc && v->nseg) {
      sync_job sj = {v, prev, l->fixed_now_ms ? l->fixed_now_ms : clock_ms(), 0};
      rt__job job = {.fn = sync_segments, .ctx = &sj};
      rt__writer_submit(l->w, &job);
      if (job.rc == RT_EBUSY) /* shutting down */
        rc = 0;
      else if (job.rc)
        rc = job.rc, err = job.err;
      moves = sj.moves;
    }
    failing = rc != 0;
    pthread_mutex_lock(&l->mu);
    if (rc) {
      snprintf(l->error, sizeof l->error, "%s", err.msg);
      if (v && !l->cur) { /* members not written: still better than no view */
        l->cur = v;
        v = NULL;
      }
    } else {
      l->error[0] = 0;
      touched_prune(l, v->gen);
      l->cur = v;
      l->refreshes++;
      l->refresh_seconds += v->seconds;
      l->last_seconds = v->seconds;
      l->segment_moves += moves;
      v = NULL;
    }
    int replaced = l->cur != prev;
    pthread_cond_broadcast(&l->ready);
    pthread_mutex_unlock(&l->mu);
    if (v)
      view_free(v);
    if (replaced)
      rt__view_release(prev);
  }
  rt_store_close(st);
  return NULL;
}

int rt__live_start(rt__live *l, const char *db_path, rt__writer *w, const char *timezone,
                   const char *currency, int64_t fixed_now_ms, rt_error *err) {
  memset(l, 0, sizeof *l);
  l->w = w;
  l->fixed_now_ms = fixed_now_ms;
  l->want = 1;
  if (!(l->db_path = rt_strdup(db_path)))
    return rt_error_set(err, RT_ENOMEM, "server: out of memory");
  /* the business zone and currency: as given, else the store's settings */
  rt_store *st = NULL;
  rt_store_config sc = {.path = db_path, .read_only = 1};
  char *zone = NULL, *cur = NULL;
  int rc = rt_store_open(&sc, &st, err);
  if (!rc && !timezone && !rt_store_meta_get(st, "timezone", &zone, NULL) && zone)
    timezone = zone;
  if (!rc && !currency && !rt_store_meta_get(st, "currency", &cur, NULL) && cur)
    currency = cur;
  rt_store_close(st);
  if (!rc && timezone)
    rc = rt_tz_load(timezone, &l->tz, err);
  if (!rc && currency && !(l->currency = rt_strdup(currency)))
    rc = rt_error_set(err, RT_ENOMEM, "server: out of memory");
  rt_free(zone);
  rt_free(cur);
  if (rc) {
    rt_tz_free(l->tz);
    rt_free(l->currency);
    rt_free(l->db_path);
    return rc;
  }
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->wake, NULL);
  pthread_cond_init(&l->ready, NULL);
  if (pthread_create(&l->thread, NULL, refresher, l)) {
    rt__live_stop(l);
    return rt_error_set(err, RT_EIO, "server: cannot start the model refresher");
  }
  l->started = 1;
  return 0;
}

void rt__live_stop(rt__live *l) {
  if (!l->db_path)
    return;
  if (l->started) {
    pthread_mutex_lock(&l->mu);
    l->stopping = 1;
    pthread_cond_broadcast(&l->wake);
    pthread_cond_broadcast(&l->ready);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
  }
  rt__view_release(l->cur);
  l->cur = NULL;
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->wake);
  pthread_cond_destroy(&l->ready);
  touched_clear(l);
  rt_tz_free(l->tz);
  rt_free(l->currency);
  rt_free(l->db_path);
  l->db_path = NULL;
}

void rt__live_bump(rt__live *l, const int64_t *customers, size_t n) {
  pthread_mutex_lock(&l->mu);
  l->want++;
  if (!customers)
    l->all_gen = l->want;
  for (size_t i = 0; customers && i < n; i++)
    touched_put(l, customers[i], l->want);
  pthread_cond_signal(&l->wake);
  pthread_mutex_unlock(&l->mu);
}

uint64_t rt__live_customer_generation(rt__live *l, int64_t customer, uint64_t *all) {
  pthread_mutex_lock(&l->mu);
  uint64_t g = l->all_gen;
  if (all)
    *all = l->all_gen;
  if (l->touched.cap) {
    size_t i = touched_slot(l, customer);
    if (l->touched.key[i] == customer && l->touched.gen[i] > g)
      g = l->touched.gen[i];
  }
  pthread_mutex_unlock(&l->mu);
  return g;
}

uint64_t rt__live_generation(rt__live *l) {
  pthread_mutex_lock(&l->mu);
  uint64_t g = l->want;
  pthread_mutex_unlock(&l->mu);
  return g;
}

rt__view *rt__live_get(rt__live *l, uint64_t gen, int timeout_ms) {
  struct timespec dl;
  deadline_in(&dl, timeout_ms);
  pthread_mutex_lock(&l->mu);
  int counted = 0;
  while (!l->stopping && (!l->cur || l->cur->gen < gen)) {
    if (l->cur && !counted) { /* tell the refresher a read is waiting (and let a background
                                 rebuild under way compete for the CPU) */
      l->waiting++;
      l->waits++;
      counted = 1;
      pthread_cond_signal(&l->wake);
      struct sched_param sp = {0};
      pthread_setschedparam(l->thread, SCHED_OTHER, &sp);
    }
    if (pthread_cond_timedwait(&l->ready, &l->mu, &dl) == ETIMEDOUT)
      break;
  }
  if (counted)
    l->waiting--;
  rt__view *v = l->cur;
  if (v)
    atomic_fetch_add(&v->refs, 1);
  pthread_mutex_unlock(&l->mu);
  return v;
}
