/* features.c - every customer's features at an as-of day (features.h), as rule columns: order
 * counts and amounts, recency and tenure, RFM, lifecycle stage, value tier, the latest stored
 * model scores and the imported attributes. Only what happened up to the as-of day counts, so
 * a segment evaluated "as of" a past day sees what it would have seen then. */
#include <retain/alloc.h>
#include <retain/clv.h>
#include <retain/features.h>

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "internal.h"

#define MAX_ATTRS 64
#define MAX_COLS (48 + 2 * MAX_ATTRS)

/* What the features own: the columns' arrays and the texts of their dictionaries. */
typedef struct owned {
  void *mem[MAX_COLS * 2];
  int nmem;
  rt__strmap dicts[MAX_ATTRS];
  const char **dict_ptrs[MAX_ATTRS];
  int ndicts;
  char *names[MAX_ATTRS * 2];
  int nnames;
  const char **ids; /* customer_id's dictionary: pointers into the model's ids */
  /* the columns a customer's orders decide, for rt_features_set_customer */
  double *orders, *revenue, *refunded, *net, *aov, *since_last, *tenure, *gap, *o30, *o90, *o365,
      *r90, *r365, *subs, *subscriber, *rsc, *fsc, *msc, *rfm;
  int32_t *first, *last;
  uint32_t *seg, *stage, *tier;
  /* int32 copies of the whole-number columns (rt_column.i32: the rules read half the bytes) */
  int32_t *orders_i, *since_i, *tenure_i, *o30_i, *o90_i, *o365_i, *subs_i, *rsc_i, *fsc_i, *msc_i,
      *rfm_i;
  const double *pclv; /* predicted_clv, or NULL */
  /* what the whole base decided: the least value (sign-adjusted: larger is better) of each RFM
   * score 2..bins, and the value tiers' edges */
  double rfm_edge[3][10];
  double tier_cut[3];
  rt_features_options o;
  double unit;
} owned;

static int32_t i32_of(double v) { return isnan(v) ? INT32_MIN : (int32_t)v; }

/* One customer's orders (days ascending), refunds and subscriptions. */
static void order_row(owned *ow, size_t i, const rt_customer_rows *r) {
  const int32_t today = ow->o.today;
  const double unit = ow->unit;
  /* money summed exactly in minor units, divided once: 500.00 stays 500 */
  double cnt = 0, c30 = 0, c90 = 0, c365 = 0;
  int64_t rev = 0, v90 = 0, v365 = 0, ref = 0;
  int32_t fd = INT32_MIN, ld = INT32_MIN, prevd = INT32_MIN;
  size_t days = 0;
  for (size_t k = 0; k < r->norders; k++) {
    int32_t d = r->order_day[k];
    if (d > today)
      break;
    int64_t a = r->order_amount[k];
    cnt++;
    rev += a;
    int32_t age = today - d;
    c30 += age < 30;
    c90 += age < 90;
    c365 += age < 365;
    v90 += age < 90 ? a : 0;
    v365 += age < 365 ? a : 0;
    if (fd == INT32_MIN)
      fd = d;
    if (d != prevd)
      days++;
    prevd = ld = d;
  }
  for (size_t k = 0; k < r->nrefunds; k++)
    if (r->refund_day[k] <= today)
      ref += r->refund_amount[k];
  double running = 0;
  for (size_t k = 0; k < r->nsubs; k++)
    running += r->sub_first_day[k] <= today && r->sub_end_day[k] > today;
  ow->orders[i] = cnt;
  ow->revenue[i] = (double)rev / unit;
  ow->refunded[i] = (double)ref / unit;
  ow->net[i] = (double)(rev - ref) / unit;
  ow->aov[i] = cnt > 0 ? (double)rev / unit / cnt : NAN;
  ow->first[i] = fd;
  ow->last[i] = ld;
  ow->since_last[i] = cnt > 0 ? (double)(today - ld) : NAN;
  ow->tenure[i] = cnt > 0 ? (double)(today - fd) : NAN;
  ow->gap[i] = days >= 2 ? (double)(ld - fd) / (double)(days - 1) : NAN;
  ow->o30[i] = c30;
  ow->o90[i] = c90;
  ow->o365[i] = c365;
  ow->r90[i] = (double)v90 / unit;
  ow->r365[i] = (double)v365 / unit;
  ow->subs[i] = running;
  ow->subscriber[i] = running > 0;
  ow->orders_i[i] = i32_of(cnt);
  ow->since_i[i] = i32_of(ow->since_last[i]);
  ow->tenure_i[i] = i32_of(ow->tenure[i]);
  ow->o30_i[i] = i32_of(c30);
  ow->o90_i[i] = i32_of(c90);
  ow->o365_i[i] = i32_of(c365);
  ow->subs_i[i] = i32_of(running);
}

/* the RFM columns of customer i from its scores (0: no orders) */
static void rfm_row(owned *ow, size_t i, int r, int f, int m) {
  int ok = r > 0;
  ow->rsc[i] = ok ? r : NAN;
  ow->fsc[i] = ok ? f : NAN;
  ow->msc[i] = ok ? m : NAN;
  ow->rfm[i] = ok ? r * 100 + f * 10 + m : NAN;
  ow->rsc_i[i] = ok ? r : INT32_MIN;
  ow->fsc_i[i] = ok ? f : INT32_MIN;
  ow->msc_i[i] = ok ? m : INT32_MIN;
  ow->rfm_i[i] = ok ? r * 100 + f * 10 + m : INT32_MIN;
  ow->seg[i] = UINT32_MAX;
  if (!ok)
    return;
  /* the named grid is on a 5-point scale: other bin counts are rescaled */
  int b = ow->o.rfm_bins;
  const char *name = rt_rfm_segment((r * 5 + b - 1) / b, (f * 5 + b - 1) / b, (m * 5 + b - 1) / b);
  for (uint32_t k = 0; name && rt_rfm_segment_names[k]; k++)
    if (!strcmp(rt_rfm_segment_names[k], name))
      ow->seg[i] = k;
}

static uint32_t tier_of(const owned *ow, size_t i) {
  double v = ow->pclv && !isnan(ow->pclv[i]) ? ow->pclv[i] : ow->net[i];
  const double *cut = ow->tier_cut;
  return ow->orders[i] <= 0 ? UINT32_MAX : v >= cut[0] ? 0 : v >= cut[1] ? 1 : v >= cut[2] ? 2 : 3;
}

int rt_features_set_customer(rt_features *f, size_t i, const rt_customer_rows *r) {
  owned *ow = f->priv;
  if (i >= f->n || !r)
    return RT_EINVAL;
  order_row(ow, i, r);
  /* scores against the edges the whole base set: a value scores s when it reaches edge s */
  int sc[3] = {0, 0, 0};
  if (ow->orders[i] > 0) {
    double v[3] = {-ow->since_last[i], ow->orders[i], ow->net[i]};
    for (int d = 0; d < 3; d++) {
      sc[d] = 1;
      for (int s = 2; s <= ow->o.rfm_bins; s++)
        if (v[d] >= ow->rfm_edge[d][s])
          sc[d] = s;
    }
  }
  rfm_row(ow, i, sc[0], sc[1], sc[2]);
  ow->stage[i] = (uint32_t)rt_lifecycle_stage(r->order_day, r->norders, ow->o.today,
                                              f->business_gap, &ow->o);
  ow->tier[i] = tier_of(ow, i);
  return 0;
}

/* customer i's rows in the model */
static rt_customer_rows model_rows(const rt_model *m, size_t i) {
  rt_customer_rows r = {
      m->order_day + m->order_start[i],        m->order_amount + m->order_start[i],
      m->order_start[i + 1] - m->order_start[i], m->refund_day + m->refund_start[i],
      m->refund_amount + m->refund_start[i],   m->refund_start[i + 1] - m->refund_start[i],
      m->sub_first_day + m->sub_start[i],      m->sub_end_day + m->sub_start[i],
      m->sub_start[i + 1] - m->sub_start[i]};
  return r;
}

void rt_features_defaults(rt_features_options *o, int32_t today) {
  memset(o, 0, sizeof *o);
  o->today = today;
  o->rfm_bins = 5;
  o->at_risk_gaps = 2;
  o->lapsed_gaps = 4;
  o->at_risk_min_days = 30;
  o->lapsed_min_days = 90;
  o->new_days = 30;
  o->loyal_orders = 5;
  o->tier_platinum = 0.01;
  o->tier_gold = 0.09;
  o->tier_silver = 0.20;
}

static void *own(owned *ow, void *p) {
  if (p && ow->nmem < (int)(sizeof ow->mem / sizeof ow->mem[0]))
    ow->mem[ow->nmem++] = p;
  else if (p) {
    rt_free(p);
    return NULL;
  }
  return p;
}

/* ---- one customer on its own ---- */

typedef struct remap {
  const void *from[MAX_COLS * 4];
  void *to[MAX_COLS * 4];
  int n;
} remap;

static void *moved(const remap *m, const void *p) {
  for (int k = 0; p && k < m->n; k++)
    if (m->from[k] == p)
      return m->to[k];
  return NULL;
}

/* a one-element copy of column array p's element i (missing when i is SIZE_MAX) */
static void *one(owned *ow, remap *m, const void *p, size_t size, size_t i, const void *missing) {
  if (!p)
    return NULL;
  void *c = own(ow, rt_malloc(size));
  if (!c)
    return NULL;
  memcpy(c, i == SIZE_MAX ? missing : (const char *)p + i * size, size);
  m->from[m->n] = p;
  m->to[m->n++] = c;
  return c;
}

static int set_attrs(rt_features *g, const char *attrs_json, rt_error *err);

int rt_features_one(const rt_features *f, size_t i, const rt_customer_rows *rows,
                    const char *attrs_json, rt_features **out, rt_error *err) {
  *out = NULL;
  if ((i != SIZE_MAX && i >= f->n) || !rows)
    return rt_error_set(err, RT_EINVAL, "rt_features_one: no customer %zu", i);
  const owned *src = f->priv;
  rt_features *g = rt_calloc(1, sizeof *g);
  owned *ow = rt_calloc(1, sizeof *ow);
  rt_column *cols = rt_calloc(MAX_COLS, sizeof *cols);
  remap *m = rt_calloc(1, sizeof *m);
  int rc = !g || !ow || !cols || !m ? RT_ENOMEM : 0;
  if (!rc) {
    *ow = *src; /* the edges, cuts and options; what it owns is f's: none of it is taken */
    ow->nmem = ow->ndicts = ow->nnames = 0;
    ow->ids = NULL;
    *g = *f;
    g->n = 1;
    g->cols = cols;
    g->priv = ow;
    static const double nan_ = NAN;
    static const int32_t missing_day = INT32_MIN;
    static const uint32_t missing_code = UINT32_MAX;
    for (size_t k = 0; k < f->ncols && !rc; k++) {
      const rt_column *c = &f->cols[k];
      rt_column *d = &cols[k];
      *d = *c; /* names, types and dictionaries stay f's */
      if ((c->num && !(d->num = one(ow, m, c->num, sizeof *c->num, i, &nan_))) ||
          (c->day && !(d->day = one(ow, m, c->day, sizeof *c->day, i, &missing_day))) ||
          (c->code && !(d->code = one(ow, m, c->code, sizeof *c->code, i, &missing_code))) ||
          (c->i32 && !(d->i32 = one(ow, m, c->i32, sizeof *c->i32, i, &missing_day))))
        rc = RT_ENOMEM;
    }
  }
  if (!rc) {
#define MOVE(x) ow->x = moved(m, src->x)
    MOVE(orders), MOVE(revenue), MOVE(refunded), MOVE(net), MOVE(aov), MOVE(since_last);
    MOVE(tenure), MOVE(gap), MOVE(o30), MOVE(o90), MOVE(o365), MOVE(r90), MOVE(r365);
    MOVE(subs), MOVE(subscriber), MOVE(rsc), MOVE(fsc), MOVE(msc), MOVE(rfm), MOVE(first);
    MOVE(last), MOVE(seg), MOVE(stage), MOVE(tier), MOVE(orders_i), MOVE(since_i);
    MOVE(tenure_i), MOVE(o30_i), MOVE(o90_i), MOVE(o365_i), MOVE(subs_i), MOVE(rsc_i);
    MOVE(fsc_i), MOVE(msc_i), MOVE(rfm_i), MOVE(pclv);
#undef MOVE
    rc = rt_features_set_customer(g, 0, rows);
  }
  rt_free(m);
  if (!rc && attrs_json && (rc = set_attrs(g, attrs_json, err))) {
    rt_features_free(g);
    return rc;
  }
  if (rc) {
    if (g && g->priv)
      rt_features_free(g);
    else {
      rt_free(g);
      rt_free(ow);
      rt_free(cols);
    }
    return rt_error_set(err, rc, "one customer's features: %s", rt_strerror(rc));
  }
  *out = g;
  return 0;
}


static rt_column *add_col(rt_features *f, const char *name, rt_value_type type,
                          const char *about) {
  if (f->ncols == MAX_COLS)
    return NULL;
  rt_column *c = &f->cols[f->ncols++];
  memset(c, 0, sizeof *c);
  c->name = name;
  c->type = type;
  c->about = about;
  return c;
}

static double *num_col(rt_features *f, owned *ow, const char *name, const char *about) {
  double *v = own(ow, rt_malloc((f->n ? f->n : 1) * sizeof *v));
  rt_column *c = v ? add_col(f, name, RT_TYPE_NUMBER, about) : NULL;
  if (!c)
    return NULL;
  c->num = v;
  return v;
}

/* an int32 copy for the column just added (rt_column.i32) */
static int32_t *i32_col(rt_features *f, owned *ow) {
  int32_t *v = own(ow, rt_malloc((f->n ? f->n : 1) * sizeof *v));
  if (v)
    f->cols[f->ncols - 1].i32 = v;
  return v;
}

static int32_t *day_col(rt_features *f, owned *ow, const char *name, const char *about) {
  int32_t *v = own(ow, rt_malloc((f->n ? f->n : 1) * sizeof *v));
  rt_column *c = v ? add_col(f, name, RT_TYPE_DATE, about) : NULL;
  if (!c)
    return NULL;
  c->day = v;
  return v;
}

/* a text column over a fixed dictionary; closed: it holds every value the field can take */
static uint32_t *text_col(rt_features *f, owned *ow, const char *name, const char *about,
                          const char *const *dict, size_t ndict, int closed) {
  uint32_t *v = own(ow, rt_malloc((f->n ? f->n : 1) * sizeof *v));
  rt_column *c = v ? add_col(f, name, RT_TYPE_TEXT, about) : NULL;
  if (!c)
    return NULL;
  c->code = v;
  c->dict = dict;
  c->ndict = ndict;
  c->closed = closed;
  return v;
}

/* The k-th smallest of v[0..n-1] (k < n), reordering v: quickselect, median-of-three pivots. */
static double kth_smallest(double *v, size_t n, size_t k) {
  size_t lo = 0, hi = n - 1;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    double a = v[lo], b = v[mid], c = v[hi];
    double pivot = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
    size_t i = lo, j = hi;
    while (i <= j) {
      while (v[i] < pivot)
        i++;
      while (v[j] > pivot)
        j--;
      if (i <= j) {
        double t = v[i];
        v[i] = v[j];
        v[j] = t;
        i++;
        if (j == 0)
          break;
        j--;
      }
    }
    if (k <= j)
      hi = j;
    else if (k >= i)
      lo = i;
    else
      return v[k];
  }
  return v[k];
}

/* The value tiers' edges: cut[t] is the least value in tier t or better. A value's tier is the
 * first whose share its mid-rank share from the top, (values above + half of those equal,
 * itself included) / k, is below; INFINITY for a tier nobody is in. Linear: the value at the
 * share's position is selected, and its tie group is in or, if not, the next larger value's
 * group (which ends at or before that position) is. vals is reordered. */
static void tier_cuts(double *vals, size_t k, const double share[3], double cut[3]) {
  for (int t = 0; t < 3; t++) {
    double at = share[t] * (double)k;
    cut[t] = INFINITY;
    if (k == 0 || at <= 0)
      continue;
    size_t p = (size_t)at < k ? (size_t)at : k - 1; /* from the top */
    double x = kth_smallest(vals, k, k - 1 - p);
    size_t above = 0, same = 0;
    double next = INFINITY; /* the least value above x */
    for (size_t i = 0; i < k; i++) {
      if (vals[i] > x) {
        above++;
        if (vals[i] < next)
          next = vals[i];
      } else if (vals[i] == x) {
        same++;
      }
    }
    cut[t] = (double)(2 * above + same) < 2.0 * at ? x : next;
  }
}

/* the median of the repeat customers' mean gaps between distinct order days */
static double median_gap(const rt_model *m, int32_t today) {
  double *g = rt_malloc((m->ncustomers ? m->ncustomers : 1) * sizeof *g);
  if (!g)
    return NAN;
  size_t k = 0;
  for (size_t i = 0; i < m->ncustomers; i++) {
    int32_t first = 0, last = 0;
    size_t days = 0;
    for (uint32_t o = m->order_start[i]; o < m->order_start[i + 1]; o++) {
      int32_t d = m->order_day[o];
      if (d > today)
        break;
      if (!days)
        first = d;
      if (!days || d != last)
        days++;
      last = d;
    }
    if (days >= 2)
      g[k++] = (double)(last - first) / (double)(days - 1);
  }
  double med = NAN;
  if (k) {
    double hi = kth_smallest(g, k, k / 2);
    med = k % 2 ? hi : (kth_smallest(g, k, k / 2 - 1) + hi) / 2;
  }
  rt_free(g);
  return med;
}

/* ---- scores ---- */

typedef struct scores_ctx {
  const rt_model *m;
  double *a, *b, *c; /* p_alive, expected, clv; or churn in a */
  int churn;
} scores_ctx;

static int on_score(void *ctx, const char *ext_id, const rt_score_rec *r) {
  (void)ext_id;
  scores_ctx *s = ctx;
  size_t i = rt_model_index_of(s->m, r->customer);
  if (i == SIZE_MAX)
    return 0;
  if (s->churn) {
    s->a[i] = r->churn_probability;
  } else {
    s->a[i] = r->p_alive;
    s->b[i] = r->expected_purchases;
    s->c[i] = r->predicted_clv;
  }
  return 0;
}

static void fill_nan(double *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    v[i] = NAN;
}

/* the latest CLV run (of any purchase model) and churn run, as columns */
static int add_scores(rt_features *f, owned *ow, rt_store *st, rt_error *err) {
  rt_score_run latest;
  int64_t clv_run = 0;
  if (rt_clv_latest_run(st, &latest, NULL) == 0) {
    clv_run = latest.id;
    rt_free(latest.kind);
    rt_free(latest.params);
  }
  if (clv_run) {
    scores_ctx s = {f->model, num_col(f, ow, "p_alive", "probability the customer is still a "
                                                         "customer (latest CLV run)"),
                    num_col(f, ow, "expected_purchases",
                            "purchases expected over the CLV run's horizon"),
                    num_col(f, ow, "predicted_clv", "predicted value over the CLV run's horizon"),
                    0};
    if (!s.a || !s.b || !s.c)
      return rt_error_set(err, RT_ENOMEM, "features: %s", rt_strerror(RT_ENOMEM));
    fill_nan(s.a, f->n);
    fill_nan(s.b, f->n);
    fill_nan(s.c, f->n);
    int rc = rt_store_scan_scores(st, clv_run, on_score, &s, err);
    if (rc)
      return rc;
  }
  rt_score_run cr;
  if (rt_store_score_run_get(st, 0, "churn", &cr, NULL) == 0) {
    int64_t id = cr.id;
    rt_free(cr.kind);
    rt_free(cr.params);
    scores_ctx s = {f->model, num_col(f, ow, "churn_risk", "churn probability (latest churn "
                                                            "run)"),
                    NULL, NULL, 1};
    if (!s.a)
      return rt_error_set(err, RT_ENOMEM, "features: %s", rt_strerror(RT_ENOMEM));
    fill_nan(s.a, f->n);
    int rc = rt_store_scan_scores(st, id, on_score, &s, err);
    if (rc)
      return rc;
  }
  return 0;
}

/* ---- attributes ---- */

/* Attributes are read with a small scanner for the flat objects they almost always are
 * ({"plan":"pro","seats":12}): a general JSON parse of every customer's object costs several
 * seconds for millions of customers. A nested value (object or array) is handed to jansson and
 * kept as its compact, key-sorted text. Each key collects, per customer, its value's kind, a
 * number and a text code; its column type is decided once every customer has been seen. */
enum { V_NONE, V_REAL, V_INT, V_BOOL, V_TEXT };

typedef struct attr {
  char *key;     /* the JSON key; the field is attributes.<key> */
  int text;      /* some value is a string, object or array: a text column */
  int boolean;   /* every value is true/false */
  uint8_t *kind; /* [n] V_* */
  double *num;   /* [n] numbers and booleans (1/0) */
  uint32_t *code;/* [n] texts, in map */
  rt__strmap map;
} attr;

typedef struct attrs_ctx {
  const rt_model *m;
  size_t n;
  attr keys[MAX_ATTRS];
  int nkeys, oom;
  char *buf; /* a decoded string */
  size_t cap;
} attrs_ctx;

/* a field name for an attribute key: lower case, other than [a-z0-9_] as '_' */
static char *field_name(const char *key) {
  size_t n = strlen(key);
  char *s = rt_malloc(n + 12);
  if (!s)
    return NULL;
  memcpy(s, "attributes.", 11);
  for (size_t i = 0; i < n; i++) {
    char c = key[i];
    c = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    s[11 + i] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ? c : '_';
  }
  s[11 + n] = 0;
  return s;
}

static const char *ws(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
    p++;
  return p;
}

/* Room for k more bytes and a NUL after the n in the buffer. */
static int room(attrs_ctx *a, size_t n, size_t k) {
  if (n + k + 1 <= a->cap)
    return 0;
  size_t cap = 2 * a->cap + k + 256;
  char *b = rt_realloc(a->buf, cap);
  if (!b)
    return a->oom = 1, -1;
  a->buf = b;
  a->cap = cap;
  return 0;
}

/* Appends code point cp to the buffer as UTF-8. */
static int put_utf8(attrs_ctx *a, size_t *n, uint32_t cp) {
  if (room(a, *n, 4))
    return -1;
  char *o = a->buf + *n;
  size_t k;
  if (cp < 0x80) {
    o[0] = (char)cp, k = 1;
  } else if (cp < 0x800) {
    o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 63)), k = 2;
  } else if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 63));
    o[2] = (char)(0x80 | (cp & 63)), k = 3;
  } else {
    o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63)), o[3] = (char)(0x80 | (cp & 63)), k = 4;
  }
  *n += k;
  a->buf[*n] = 0;
  return 0;
}

static int hex4(const char *p, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0)
      return -1;
    v = v * 16 + (uint32_t)d;
  }
  *out = v;
  return 0;
}

/* A JSON string at p (after its opening quote), decoded into a->buf (length *len); returns the
 * position after the closing quote, or NULL if malformed. */
static const char *scan_string(attrs_ctx *a, const char *p, size_t *len) {
  size_t n = 0;
  if (room(a, 0, 0))
    return NULL;
  a->buf[0] = 0;
  for (;;) {
    unsigned char c = (unsigned char)*p++;
    if (c == '"')
      break;
    if (c < 0x20)
      return NULL;
    uint32_t cp = c;
    if (c == '\\') {
      char e = *p++;
      switch (e) {
      case '"': cp = '"'; break;
      case '\\': cp = '\\'; break;
      case '/': cp = '/'; break;
      case 'b': cp = '\b'; break;
      case 'f': cp = '\f'; break;
      case 'n': cp = '\n'; break;
      case 'r': cp = '\r'; break;
      case 't': cp = '\t'; break;
      case 'u':
        if (hex4(p, &cp))
          return NULL;
        p += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && p[0] == '\\' && p[1] == 'u') { /* a pair */
          uint32_t lo;
          if (hex4(p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
            return NULL;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          p += 6;
        }
        if (cp == 0)
          return NULL; /* NUL inside a text: leave it to jansson's rules (rejected) */
        break;
      default: return NULL;
      }
    }
    if (c == '\\' || c < 0x80) {
      if (put_utf8(a, &n, cp) < 0)
        return NULL;
    } else { /* a byte of a UTF-8 sequence, kept as is (the store holds valid UTF-8) */
      if (room(a, n, 1))
        return NULL;
      a->buf[n++] = (char)c;
      a->buf[n] = 0;
    }
  }
  *len = n;
  return p;
}

/* The end of the nested object or array starting at p (strings skipped), or NULL. */
static const char *skip_nested(const char *p) {
  int depth = 0;
  for (; *p; p++) {
    if (*p == '"') {
      for (p++; *p && *p != '"'; p++)
        if (*p == '\\' && p[1])
          p++;
      if (!*p)
        return NULL;
    } else if (*p == '{' || *p == '[') {
      depth++;
    } else if (*p == '}' || *p == ']') {
      if (--depth == 0)
        return p + 1;
    }
  }
  return NULL;
}

static attr *key_of(attrs_ctx *a, const char *k) {
  for (int j = 0; j < a->nkeys; j++)
    if (!strcmp(a->keys[j].key, k))
      return &a->keys[j];
  if (a->nkeys == MAX_ATTRS)
    return NULL;
  attr *t = &a->keys[a->nkeys];
  memset(t, 0, sizeof *t);
  t->key = rt_strdup(k);
  t->kind = rt_calloc(a->n ? a->n : 1, 1);
  t->num = rt_malloc((a->n ? a->n : 1) * sizeof *t->num);
  t->code = rt_malloc((a->n ? a->n : 1) * sizeof *t->code);
  rt__strmap_init(&t->map);
  a->nkeys++; /* counted before the checks: the cleanup frees what was allocated */
  if (!t->key || !t->kind || !t->num || !t->code) {
    a->oom = 1;
    return NULL;
  }
  t->boolean = 1;
  return t;
}

static int set_text(attrs_ctx *a, attr *t, size_t i, const char *s, size_t len) {
  if (rt__strmap_intern(&t->map, s, len, &t->code[i], NULL))
    return a->oom = 1;
  t->kind[i] = V_TEXT;
  t->text = 1;
  t->boolean = 0;
  return 0;
}

static int on_attrs(void *ctx, int64_t customer, const char *json) {
  attrs_ctx *a = ctx;
  size_t i = rt_model_index_of(a->m, customer);
  if (i == SIZE_MAX || !json)
    return 0;
  const char *p = ws(json);
  if (*p++ != '{')
    return 0; /* not an object: no attributes (the store only keeps objects) */
  char key[256];
  for (p = ws(p); *p == '"';) {
    size_t len;
    if (!(p = scan_string(a, p + 1, &len)))
      return a->oom; /* malformed: the rest of this customer's attributes are left out */
    snprintf(key, sizeof key, "%s", a->buf);
    p = ws(p);
    if (*p++ != ':')
      return 0;
    p = ws(p);
    attr *t = NULL;
    if (strncmp(p, "null", 4) && !(t = key_of(a, key)) && a->oom)
      return 1;
    if (*p == '"') {
      if (!(p = scan_string(a, p + 1, &len)))
        return a->oom;
      if (t && set_text(a, t, i, a->buf, len))
        return 1;
    } else if (*p == '{' || *p == '[') {
      const char *end = skip_nested(p);
      if (!end)
        return 0;
      if (t) { /* nested: its compact, key-sorted JSON text */
        json_t *x = json_loadb(p, (size_t)(end - p), 0, NULL);
        char *dump = x ? json_dumps(x, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(x);
        int bad = dump && set_text(a, t, i, dump, strlen(dump));
        free(dump);
        if (bad)
          return 1;
      }
      p = end;
    } else if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
      int yes = *p == 't';
      if (t) {
        t->kind[i] = V_BOOL;
        t->num[i] = yes;
      }
      p += yes ? 4 : 5;
    } else if (!strncmp(p, "null", 4)) {
      p += 4;
    } else {
      char *end;
      double v = strtod(p, &end);
      if (end == p)
        return 0;
      int whole = 1;
      for (const char *q = p; q < end; q++)
        whole &= *q != '.' && *q != 'e' && *q != 'E';
      if (t) {
        t->kind[i] = whole ? V_INT : V_REAL;
        t->num[i] = v;
        t->boolean = 0;
      }
      p = end;
    }
    p = ws(p);
    if (*p != ',')
      break;
    p = ws(p + 1);
  }
  return 0;
}

/* The text of a number or boolean in a column that turned out text (as jansson prints it). */
static int value_text(attrs_ctx *a, attr *t, size_t i) {
  char buf[64];
  if (t->kind[i] == V_BOOL)
    snprintf(buf, sizeof buf, "%s", t->num[i] != 0 ? "true" : "false");
  else if (t->kind[i] == V_INT && fabs(t->num[i]) < 9.2e18)
    snprintf(buf, sizeof buf, "%lld", (long long)t->num[i]);
  else
    snprintf(buf, sizeof buf, "%.17g", t->num[i]);
  return set_text(a, t, i, buf, strlen(buf));
}

static int add_attrs(rt_features *f, owned *ow, rt_store *st, rt_error *err) {
  attrs_ctx a = {.m = f->model, .n = f->n};
  int rc = rt_store_scan_customer_attrs(st, on_attrs, &a, err);
  if (a.oom)
    rc = rt_error_set(err, RT_ENOMEM, "features: %s", rt_strerror(RT_ENOMEM));
  for (int j = 0; j < a.nkeys && !rc; j++) {
    attr *t = &a.keys[j];
    char *name = field_name(t->key);
    if (!name || ow->nnames == MAX_ATTRS * 2) {
      rt_free(name);
      rc = rt_error_set(err, RT_ENOMEM, "features: %s", rt_strerror(RT_ENOMEM));
      break;
    }
    ow->names[ow->nnames++] = name;
    if (rt_features_find(f, name)) /* two keys that map to one name: the first wins */
      continue;
    if (!t->text) {
      double *v = num_col(f, ow, name, "imported attribute");
      if (!v) {
        rc = rt_error_set(err, RT_ENOMEM, "features: %s", rt_strerror(RT_ENOMEM));
        break;
      }
      if (t->boolean)
        f->cols[f->ncols - 1].type = RT_TYPE_BOOL;
      for (size_t i = 0; i < f->n; i++)
        v[i] = t->kind[i] == V_NONE ? NAN : t->num[i];
      continue;
    }
    /* text: numbers and booleans among the values become their text; the codes and the
     * dictionary move to the features */
    for (size_t i = 0; i < f->n && !rc; i++) {
      if (t->kind[i] == V_NONE)
        t->code[i] = UINT32_MAX;
      else if (t->kind[i] != V_TEXT && value_text(&a, t, i))
        rc = rt_error_set(err, RT_ENOMEM, "features: %s", rt_strerror(RT_ENOMEM));
    }
    if (rc)
      break;
    int d = ow->ndicts++;
    ow->dicts[d] = t->map;
    rt__strmap_init(&t->map);
    rt__strmap *map = &ow->dicts[d];
    uint32_t *code = own(ow, t->code);
    t->code = NULL;
    const char **dict = rt_malloc((map->count ? map->count : 1) * sizeof *dict);
    if (!code || !dict) {
      rt_free(dict);
      rc = rt_error_set(err, RT_ENOMEM, "features: %s", rt_strerror(RT_ENOMEM));
      break;
    }
    ow->dict_ptrs[d] = dict;
    for (uint32_t k = 0; k < map->count; k++)
      dict[k] = rt__strmap_key(map, k);
    rt_column *c = add_col(f, name, RT_TYPE_TEXT, "imported attribute");
    if (!c) {
      rc = rt_error_set(err, RT_ENOMEM, "features: too many fields");
      break;
    }
    c->code = code;
    c->dict = dict;
    c->ndict = map->count;
  }
  for (int j = 0; j < a.nkeys; j++) {
    rt_free(a.keys[j].key);
    rt_free(a.keys[j].kind);
    rt_free(a.keys[j].num);
    rt_free(a.keys[j].code);
    rt__strmap_free(&a.keys[j].map);
  }
  rt_free(a.buf);
  return rc;
}

/* The attribute columns of one-customer table g from the customer's attributes as stored (a
 * JSON object): RT_ENOTFOUND when a value cannot be shown without a rebuild (a key without a
 * column, a text value not in the column's dictionary, a text where the column is a number). */
static int set_attrs(rt_features *g, const char *attrs_json, rt_error *err) {
  json_t *o = json_loads(attrs_json, 0, NULL);
  if (!json_is_object(o)) {
    json_decref(o);
    return rt_error_set(err, RT_EINVAL, "attributes: not a JSON object");
  }
  for (size_t k = 0; k < g->ncols; k++) {
    rt_column *c = &g->cols[k];
    if (strncmp(c->name, "attributes.", 11))
      continue;
    if (c->num)
      ((double *)c->num)[0] = NAN;
    if (c->code)
      ((uint32_t *)c->code)[0] = UINT32_MAX;
  }
  int rc = 0;
  const char *key;
  json_t *x;
  json_object_foreach(o, key, x) {
    if (json_is_null(x))
      continue;
    char *name = field_name(key);
    const rt_column *c = name ? rt_features_find(g, name) : NULL;
    rt_free(name);
    if (!c) {
      rc = RT_ENOTFOUND;
      break;
    }
    if (c->type != RT_TYPE_TEXT) { /* number or bool: numbers and booleans only */
      if (!json_is_number(x) && !json_is_boolean(x)) {
        rc = RT_ENOTFOUND;
        break;
      }
      ((double *)c->num)[0] = json_is_number(x) ? json_number_value(x) : json_is_true(x);
      continue;
    }
    char buf[64], *dump = NULL;
    const char *t = buf;
    if (json_is_string(x))
      t = json_string_value(x);
    else if (json_is_integer(x))
      snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(x));
    else if (json_is_real(x))
      snprintf(buf, sizeof buf, "%.17g", json_real_value(x));
    else if (json_is_boolean(x))
      t = json_is_true(x) ? "true" : "false";
    else
      t = dump = json_dumps(x, JSON_COMPACT | JSON_SORT_KEYS);
    uint32_t code = UINT32_MAX;
    for (size_t d = 0; t && d < c->ndict && d < 100000; d++)
      if (!strcmp(c->dict[d], t)) {
        code = (uint32_t)d;
        break;
      }
    free(dump);
    if (code == UINT32_MAX) {
      rc = RT_ENOTFOUND;
      break;
    }
    ((uint32_t *)c->code)[0] = code;
  }
  json_decref(o);
  return rc ? rt_error_set(err, rc, "attributes: a value the features cannot show yet") : 0;
}

/* ---- the features ---- */


int rt_features_build(const rt_model *m, rt_store *st, const rt_features_options *o,
                      rt_features **out, rt_error *err) {
  *out = NULL;
  rt_features *f = rt_calloc(1, sizeof *f);
  owned *ow = rt_calloc(1, sizeof *ow);
  rt_column *cols = rt_calloc(MAX_COLS, sizeof *cols);
  if (!f || !ow || !cols) {
    rt_free(f);
    rt_free(ow);
    rt_free(cols);
    return rt_error_set(err, RT_ENOMEM, "features: %s", rt_strerror(RT_ENOMEM));
  }
  f->n = m->ncustomers;
  f->cols = cols;
  f->priv = ow;
  f->today = o->today;
  f->model = m;
  const size_t n = f->n;
  const int32_t today = o->today;
  const double unit = pow(10, m->currency_exp);
  int rc = 0;
#define NUM(var, name, about)                                                                      \
  double *var = num_col(f, ow, name, about);                                                      \
  if (!var)                                                                                        \
    goto oom;
  ow->ids = rt_malloc((n ? n : 1) * sizeof *ow->ids);
  if (!ow->ids)
    goto oom;
  for (size_t i = 0; i < n; i++)
    ow->ids[i] = rt_model_ext_id(m, i);
  uint32_t *cid = text_col(f, ow, "customer_id", "the customer's own id", ow->ids, n, 0);
  if (!cid)
    goto oom;
  ow->o = *o;
  ow->unit = unit;
  NUM(orders, "orders", "orders placed")
  if (!(ow->orders_i = i32_col(f, ow)))
    goto oom;
  NUM(revenue, "revenue", "sum of the orders, in the currency's major unit")
  NUM(refunded, "refunded", "sum of the refunds")
  NUM(net, "net_revenue", "revenue minus refunds")
  NUM(aov, "aov", "average order value (revenue / orders)")
  int32_t *first = day_col(f, ow, "first_order_at", "day of the first order");
  int32_t *last = day_col(f, ow, "last_order_at", "day of the last order");
  if (!first || !last)
    goto oom;
  NUM(since_last, "days_since_last_order", "days from the last order to now")
  if (!(ow->since_i = i32_col(f, ow)))
    goto oom;
  NUM(tenure, "days_since_first_order", "days from the first order to now (tenure)")
  if (!(ow->tenure_i = i32_col(f, ow)))
    goto oom;
  NUM(gap, "avg_days_between_orders", "mean days between distinct order days (2+ order days)")
  NUM(o30, "orders_30d", "orders in the last 30 days")
  if (!(ow->o30_i = i32_col(f, ow)))
    goto oom;
  NUM(o90, "orders_90d", "orders in the last 90 days")
  if (!(ow->o90_i = i32_col(f, ow)))
    goto oom;
  NUM(o365, "orders_365d", "orders in the last 365 days")
  if (!(ow->o365_i = i32_col(f, ow)))
    goto oom;
  NUM(r90, "revenue_90d", "revenue in the last 90 days")
  NUM(r365, "revenue_365d", "revenue in the last 365 days")
  NUM(subs, "subscriptions", "subscriptions running now")
  if (!(ow->subs_i = i32_col(f, ow)))
    goto oom;
  {
    rt_column *c = add_col(f, "subscriber", RT_TYPE_BOOL, "has a subscription running now");
    double *v = own(ow, rt_malloc((n ? n : 1) * sizeof *v));
    if (!c || !v)
      goto oom;
    c->num = v;
    ow->subscriber = v;
  }
  ow->orders = orders;
  ow->revenue = revenue;
  ow->refunded = refunded;
  ow->net = net;
  ow->aov = aov;
  ow->first = first;
  ow->last = last;
  ow->since_last = since_last;
  ow->tenure = tenure;
  ow->gap = gap;
  ow->o30 = o30;
  ow->o90 = o90;
  ow->o365 = o365;
  ow->r90 = r90;
  ow->r365 = r365;
  ow->subs = subs;
  for (size_t i = 0; i < n; i++) {
    cid[i] = (uint32_t)i;
    rt_customer_rows r = model_rows(m, i);
    order_row(ow, i, &r);
  }
  /* RFM */
  {
    uint8_t *rs = own(ow, rt_malloc(3 * (n ? n : 1)));
    if (!rs)
      goto oom;
    uint8_t *fs = rs + n, *ms = rs + 2 * n;
    /* buyers only (non-buyers NAN: they take no part), monetary net of refunds */
    double *freq = rt_malloc((n ? n : 1) * sizeof *freq);
    double *mon = rt_malloc((n ? n : 1) * sizeof *mon);
    if (!freq || !mon) {
      rt_free(freq);
      rt_free(mon);
      goto oom;
    }
    for (size_t i = 0; i < n; i++) {
      freq[i] = orders[i] > 0 ? orders[i] : NAN;
      mon[i] = orders[i] > 0 ? net[i] : NAN;
    }
    rt_rfm_scores(since_last, freq, mon, n, o->rfm_bins, rs, fs, ms);
    rt_free(freq);
    rt_free(mon);
    NUM(rsc, "recency_score", "RFM recency score, 1 (longest ago) .. 5 (most recent)")
    if (!(ow->rsc_i = i32_col(f, ow)))
      goto oom;
    NUM(fsc, "frequency_score", "RFM frequency score, 1 .. 5 (most orders)")
    if (!(ow->fsc_i = i32_col(f, ow)))
      goto oom;
    NUM(msc, "monetary_score", "RFM monetary score, 1 .. 5 (most net revenue)")
    if (!(ow->msc_i = i32_col(f, ow)))
      goto oom;
    NUM(rfm, "rfm_score", "the three RFM scores as one number (545: R 5, F 4, M 5)")
    if (!(ow->rfm_i = i32_col(f, ow)))
      goto oom;
    uint32_t *seg = text_col(f, ow, "rfm_segment", "named RFM segment (champions, ..., lost)",
                             rt_rfm_segment_names, 11, 1);
    if (!seg)
      goto oom;
    ow->rsc = rsc;
    ow->fsc = fsc;
    ow->msc = msc;
    ow->rfm = rfm;
    ow->seg = seg;
    /* each score's edge: the least (sign-adjusted) value that reached it */
    for (int d = 0; d < 3; d++)
      for (int sc = 0; sc < 10; sc++)
        ow->rfm_edge[d][sc] = INFINITY;
    for (size_t i = 0; i < n; i++) {
      rfm_row(ow, i, rs[i], fs[i], ms[i]);
      if (!rs[i])
        continue;
      double v[3] = {-since_last[i], orders[i], net[i]};
      uint8_t sc[3] = {rs[i], fs[i], ms[i]};
      for (int d = 0; d < 3; d++)
        if (v[d] < ow->rfm_edge[d][sc[d]])
          ow->rfm_edge[d][sc[d]] = v[d];
    }
    for (int d = 0; d < 3; d++) /* a score no customer has: the next one's edge */
      for (int sc = o->rfm_bins - 1; sc >= 2; sc--)
        if (ow->rfm_edge[d][sc] > ow->rfm_edge[d][sc + 1])
          ow->rfm_edge[d][sc] = ow->rfm_edge[d][sc + 1];
  }
  /* lifecycle */
  f->business_gap = median_gap(m, today);
  {
    uint32_t *stage = text_col(f, ow, "lifecycle_stage",
                               "prospect, new, first-time buyer, active, loyal, at risk, lapsed or "
                               "won back",
                               rt_stage_names, RT_STAGE_COUNT, 1);
    if (!stage)
      goto oom;
    ow->stage = stage;
    for (size_t i = 0; i < n; i++)
      stage[i] = (uint32_t)rt_lifecycle_stage(m->order_day + m->order_start[i],
                                              m->order_start[i + 1] - m->order_start[i], today,
                                              f->business_gap, o);
  }
  if (st && (rc = add_scores(f, ow, st, err)) != 0)
    goto fail;
  /* value tiers: by predicted CLV where stored, else net revenue */
  {
    static const char *const tiers[] = {"platinum", "gold", "silver", "bronze"};
    const rt_column *pc = rt_features_find(f, "predicted_clv");
    ow->pclv = pc ? pc->num : NULL;
    uint32_t *tier = text_col(f, ow, "value_tier",
                              "platinum (top 1% by value), gold (next 9%), silver (next 20%), "
                              "bronze",
                              tiers, 4, 1);
    double *vals = rt_malloc((n ? n : 1) * sizeof *vals);
    if (!tier || !vals) {
      rt_free(vals);
      goto oom;
    }
    ow->tier = tier;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
      double v = ow->pclv && !isnan(ow->pclv[i]) ? ow->pclv[i] : net[i];
      if (orders[i] > 0)
        vals[k++] = v;
    }
    double share[3] = {o->tier_platinum, o->tier_platinum + o->tier_gold,
                       o->tier_platinum + o->tier_gold + o->tier_silver};
    tier_cuts(vals, k, share, ow->tier_cut);
    rt_free(vals);
    for (size_t i = 0; i < n; i++)
      tier[i] = tier_of(ow, i);
  }
  if (st && (rc = add_attrs(f, ow, st, err)) != 0)
    goto fail;
#undef NUM
  *out = f;
  return 0;
oom:
  rc = rt_error_set(err, RT_ENOMEM, "features: %s", rt_strerror(RT_ENOMEM));
fail:
  rt_features_free(f);
  return rc;
}

void rt_features_free(rt_features *f) {
  if (!f)
    return;
  owned *ow = f->priv;
  if (ow) {
    for (int i = 0; i < ow->nmem; i++)
      rt_free(ow->mem[i]);
    for (int i = 0; i < ow->ndicts; i++) {
      rt__strmap_free(&ow->dicts[i]);
      rt_free(ow->dict_ptrs[i]);
    }
    for (int i = 0; i < ow->nnames; i++)
      rt_free(ow->names[i]);
    rt_free(ow->ids);
    rt_free(ow);
  }
  rt_free(f->cols);
  rt_free(f);
}

const rt_column *rt_features_find(const rt_features *f, const char *name) {
  for (size_t i = 0; i < f->ncols; i++)
    if (!strcmp(f->cols[i].name, name))
      return &f->cols[i];
  return NULL;
}

void rt_features_env(const rt_features *f, rt_rule_env *env) {
  memset(env, 0, sizeof *env);
  env->cols = f->cols;
  env->ncols = f->ncols;
  env->n = f->n;
  env->today = f->today;
}
