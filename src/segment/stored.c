/* stored.c - segments as the store keeps them (segment.h): compiling with the included
 * segments' stored rules, stored members as ids or bitmaps, and writing an evaluation's
 * changes. */
#include <retain/alloc.h>
#include <retain/segment.h>

#include <string.h>

int rt_segment_valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             (i > 0 && (c == '_' || c == '-' || c == '.'));
    if (!ok)
      return 0;
  }
  return 1;
}

/* in_segment('x'): the stored rule of x, kept until the compile is done */
typedef struct lookup {
  rt_store *st;
  char *held[RT_RULE_MAX_SEGMENT_DEPTH * 2];
  int nheld;
} lookup;

static const char *stored_rule(void *ctx, const char *name) {
  lookup *l = ctx;
  rt_segment_info info;
  if (l->nheld == (int)(sizeof l->held / sizeof l->held[0]) ||
      rt_store_segment_get(l->st, name, &info, NULL))
    return NULL;
  char *rule = info.rule;
  info.rule = NULL;
  rt_segment_info_free(&info);
  l->held[l->nheld++] = rule;
  return rule;
}

int rt_segment_compile(rt_store *st, const rt_features *f, const char *name, const char *rule,
                       rt_rule **out, rt_error *err) {
  rt_rule_env env;
  rt_features_env(f, &env);
  lookup l = {st, {0}, 0};
  env.name = name;
  env.segment_rule = st ? stored_rule : NULL;
  env.ctx = &l;
  int rc = rt_rule_compile(rule, &env, out, err);
  for (int i = 0; i < l.nheld; i++)
    rt_free(l.held[i]);
  return rc;
}

int rt_segment_eval(const rt_rule *r, size_t n, uint64_t **bits, size_t *count, rt_error *err) {
  size_t words = (n + 63) / 64;
  *count = 0;
  *bits = rt_calloc(words ? words : 1, sizeof **bits);
  if (!*bits)
    return rt_error_set(err, RT_ENOMEM, "evaluating a segment: out of memory");
  int rc = rt_rule_eval(r, *bits, err);
  if (rc) {
    rt_free(*bits);
    *bits = NULL;
    return rc;
  }
  size_t c = 0;
  for (size_t w = 0; w < words; w++)
    c += (size_t)__builtin_popcountll((*bits)[w]);
  *count = c;
  return 0;
}

typedef struct ids {
  int64_t *v;
  size_t n, cap;
} ids;

static int on_id(void *ctx, int64_t customer, const char *ext_id, int64_t entered_ms) {
  (void)ext_id;
  (void)entered_ms;
  ids *l = ctx;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 1024;
    int64_t *v = rt_realloc(l->v, cap * sizeof *v);
    if (!v)
      return RT_ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = customer;
  return 0;
}

int rt_segment_member_ids(rt_store *st, int64_t id, int64_t **out, size_t *n, rt_error *err) {
  ids l = {0};
  int rc = rt_store_scan_segment_members(st, id, on_id, &l, err);
  if (rc) {
    rt_free(l.v);
    l.v = NULL;
    l.n = 0;
  }
  *out = l.v;
  *n = l.n;
  return rc;
}

typedef struct member_bits {
  const rt_model *m;
  uint64_t *bits;
  size_t n;
} member_bits;

static int on_bit(void *ctx, int64_t customer, const char *ext_id, int64_t entered_ms) {
  (void)ext_id;
  (void)entered_ms;
  member_bits *mb = ctx;
  size_t i = rt_model_index_of(mb->m, customer);
  if (i != SIZE_MAX) {
    mb->bits[i / 64] |= 1ULL << (i % 64);
    mb->n++;
  }
  return 0;
}

int rt_segment_member_bits(rt_store *st, const rt_model *m, int64_t id, uint64_t **bits,
                           size_t *count, rt_error *err) {
  member_bits mb = {m, rt_calloc((m->ncustomers + 63) / 64 + 1, sizeof *mb.bits), 0};
  *bits = NULL;
  *count = 0;
  if (!mb.bits)
    return rt_error_set(err, RT_ENOMEM, "reading a segment's members: out of memory");
  int rc = rt_store_scan_segment_members(st, id, on_bit, &mb, err);
  if (rc) {
    rt_free(mb.bits);
    return rc;
  }
  *bits = mb.bits;
  *count = mb.n;
  return 0;
}

static int is_member(const uint64_t *bits, size_t i) {
  return (int)((bits[i / 64] >> (i % 64)) & 1);
}

int rt_segment_sync(rt_store *st, const rt_model *m, int64_t id, const uint64_t *bits,
                    int64_t at_ms, rt_segment_changes *out, rt_error *err) {
  int64_t *old = NULL; /* the stored members, ascending */
  size_t nold = 0, j = 0;
  rt_segment_changes ch = {0, 0, 0};
  int rc = rt_segment_member_ids(st, id, &old, &nold, err);
  /* the model's customers are in store id order: merge the two ascending lists */
  for (size_t i = 0; i < m->ncustomers && !rc; i++) {
    int64_t sid = m->store_id[i];
    for (; j < nold && old[j] < sid && !rc; j++, ch.exited++) /* no longer in the model */
      rc = rt_store_segment_move(st, id, old[j], 0, at_ms, err);
    int was = j < nold && old[j] == sid;
    j += (size_t)was;
    int now = is_member(bits, i);
    ch.members += now;
    if (now != was && !rc) {
      rc = rt_store_segment_move(st, id, sid, now, at_ms, err);
      ch.entered += now;
      ch.exited += !now;
    }
  }
  for (; j < nold && !rc; j++, ch.exited++)
    rc = rt_store_segment_move(st, id, old[j], 0, at_ms, err);
  if (!rc)
    rc = rt_store_segment_evaluated(st, id, at_ms, ch.members, ch.entered, ch.exited, err);
  rt_free(old);
  if (out)
    *out = ch;
  return rc;
}
