/* reasons.c - what moves one customer's churn risk (churn.h): the SHAP contributions of the
 * features that tell one story summed into one reason, each sized in percentage points of churn
 * probability and told as facts against what is typical.
 *
 * Size. XGBoost's SHAP values are additive in the log-odds (Lundberg & Lee 2017, "A unified
 * approach to interpreting model predictions"; Lundberg et al. 2020 for trees): with b the bias
 * and phi_j the contributions, logit p = b + S, S = sum_j phi_j. Probabilities are not additive,
 * so the change from the baseline sigma(b) to the customer's p = sigma(b + S) is spread over the
 * features in proportion to their log-odds:
 *
 *     points_j = 100 * phi_j * (sigma(b + S) - sigma(b)) / S       (sigma'(b) when S = 0)
 *
 * The factor is the mean slope of the logistic curve between the baseline and the customer:
 * always positive, so a reason keeps the sign of its log-odds; the points of all features add up
 * to 100 * (p - sigma(b)); for a small S they are the linearization phi_j * sigma'(b). It is an
 * approximation - a nonlinear transform has no unique additive split - stated in docs/MODELS.md.
 *
 * Words. A reason states the customer's values and, where a comparison helps, what is typical
 * (the median of the customers the model was trained on, or the usual gap between the
 * customer's own orders). It never says "only" or "good": whether a fact raises or lowers the
 * risk is the model's finding, carried by the sign, so the words cannot contradict it. */
#include <retain/alloc.h>
#include <retain/churn.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/columns.h"
#include "churn/xgb.h"

/* Features that tell one story, and the story's name. */
static const struct {
  const char *feature, *story;
} stories[] = {
    {"days_since_last_order", "recency"},  {"mean_days_between_orders", "recency"},
    {"recency_in_gaps", "recency"},        {"orders_last_90d", "trend"},
    {"orders_prior_90d", "trend"},         {"revenue_last_90d", "trend"},
    {"revenue_prior_90d", "trend"},        {"refunds", "refunds"},
    {"refunded_share", "refunds"},         {"subscriptions", "subscriptions"},
    {"subscription_active", "subscriptions"}, {"usage_last_30d", "usage"},
    {"usage_prior_30d", "usage"},          {"days_since_last_use", "usage"},
    {"tickets", "tickets"},                {"tickets_last_90d", "tickets"},
    {"tickets_unresolved", "tickets"}};

struct rt_churn_explainer {
  const rt_ctable *t; /* borrowed */
  size_t ngroups;
  size_t *group;   /* per column: its reason */
  size_t *first;   /* per reason: its first column (what kind of reason it is) */
  double *typical; /* per column */
  double *sum;     /* scratch: per reason, the log-odds of one row */
  size_t *pick;    /* scratch: reasons of one row */
  /* the columns the per-customer joins look at, SIZE_MAX when the table has none */
  size_t recency, gap, gaps, days, o90, p90, r90, rp90;
};

/* The story column name belongs to: a known story (a string of stories[]), else the category
 * before '=' ("attr:plan" for "attr:plan=pro") or the whole name, as a prefix of name; len gets
 * its length. */
static const char *story_of(const char *name, size_t *len) {
  for (size_t s = 0; s < sizeof stories / sizeof stories[0]; s++)
    if (!strcmp(name, stories[s].feature)) {
      *len = strlen(stories[s].story);
      return stories[s].story;
    }
  const char *eq = strchr(name, '=');
  *len = eq ? (size_t)(eq - name) : strlen(name);
  return name;
}

static size_t column(const rt_ctable *t, const char *name) {
  for (size_t j = 0; j < t->ncols; j++)
    if (!strcmp(t->names[j], name))
      return j;
  return SIZE_MAX;
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

double rt__ctable_median(const rt_ctable *t, size_t j) {
  float *v = rt_malloc((t->nrows ? t->nrows : 1) * sizeof *v);
  if (!v)
    return NAN;
  size_t n = 0;
  for (size_t i = 0; i < t->nrows; i++)
    if (!isnan(t->x[i * t->ncols + j]))
      v[n++] = t->x[i * t->ncols + j];
  double med = NAN;
  if (n) {
    qsort(v, n, sizeof *v, cmp_float);
    med = n % 2 ? v[n / 2] : ((double)v[n / 2 - 1] + v[n / 2]) / 2;
  }
  rt_free(v);
  return med;
}

void rt_churn_explainer_free(rt_churn_explainer *e) {
  if (!e)
    return;
  rt_free(e->group);
  rt_free(e->first);
  rt_free(e->typical);
  rt_free(e->sum);
  rt_free(e->pick);
  rt_free(e);
}

int rt_churn_explainer_new(const rt_churn_model *m, const rt_ctable *t,
                           rt_churn_explainer **out, rt_error *err) {
  *out = NULL;
  size_t nc = t->ncols ? t->ncols : 1;
  rt_churn_explainer *e = rt_calloc(1, sizeof *e);
  if (!e || !(e->group = rt_malloc(nc * sizeof *e->group)) ||
      !(e->first = rt_malloc(nc * sizeof *e->first)) ||
      !(e->typical = rt_malloc(nc * sizeof *e->typical)) ||
      !(e->sum = rt_malloc(nc * sizeof *e->sum)) ||
      !(e->pick = rt_malloc(nc * sizeof *e->pick))) {
    rt_churn_explainer_free(e);
    return rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
  }
  e->t = t;
  for (size_t j = 0; j < t->ncols; j++) {
    size_t len, klen;
    const char *s = story_of(t->names[j], &len);
    size_t g = e->ngroups;
    for (size_t k = 0; k < j && g == e->ngroups; k++) {
      const char *o = story_of(t->names[k], &klen);
      if (klen == len && !memcmp(o, s, len))
        g = e->group[k];
    }
    if (g == e->ngroups)
      e->first[e->ngroups++] = j;
    e->group[j] = g;
    if (!m || rt__churn_model_typical(m, t->names[j], &e->typical[j]))
      e->typical[j] = rt__ctable_median(t, j);
  }
  e->recency = column(t, "days_since_last_order");
  e->gap = column(t, "mean_days_between_orders");
  e->gaps = column(t, "recency_in_gaps");
  e->days = column(t, "order_days");
  e->o90 = column(t, "orders_last_90d");
  e->p90 = column(t, "orders_prior_90d");
  e->r90 = column(t, "revenue_last_90d");
  e->rp90 = column(t, "revenue_prior_90d");
  *out = e;
  return 0;
}

double rt_churn_typical(const rt_churn_explainer *e, size_t j) {
  return j < e->t->ncols ? e->typical[j] : NAN;
}

/* ---- words ---- */

/* Thousands separators in the whole part of a formatted number, in place (buf has room). */
static void group(char *buf, size_t n) {
  char *p = buf + (*buf == '-');
  size_t digits = strcspn(p, "."), len = strlen(buf), commas = digits ? (digits - 1) / 3 : 0;
  if (!commas || len + commas + 1 > n)
    return;
  memmove(p + digits + commas, p + digits, strlen(p + digits) + 1);
  for (size_t i = digits, w = digits + commas, k = 0; i > 0; i--) {
    p[--w] = p[i - 1];
    if (++k % 3 == 0 && i > 1)
      p[--w] = ',';
  }
}

/* A number as a person writes it: whole, or with one decimal; thousands separated. */
static const char *num(double v, char *buf, size_t n) {
  if (fabs(v - round(v)) < 0.05)
    snprintf(buf, n, "%.0f", v);
  else
    snprintf(buf, n, "%.1f", v);
  group(buf, n);
  return buf;
}

/* An amount: two decimals, thousands separated ("101,903.40"). */
static const char *money(double v, char *buf, size_t n) {
  snprintf(buf, n, "%.2f", v);
  group(buf, n);
  return buf;
}

/* " (typical: 12)", or nothing when unknown. */
static const char *typical_of(const rt_churn_explainer *e, size_t j, int is_money, char *buf,
                              size_t n) {
  double v = e->typical[j];
  char b[48];
  if (isnan(v))
    buf[0] = 0;
  else
    snprintf(buf, n, " (typical: %s)", is_money ? money(v, b, sizeof b) : num(v, b, sizeof b));
  return buf;
}

static const char *plural(double v) { return v == 1 ? "" : "s"; }

static double val(const float *x, size_t j) { return j == SIZE_MAX ? NAN : x[j]; }

static double named(const rt_ctable *t, const float *x, const char *name) {
  return val(x, column(t, name));
}

/* Recency against the customer's own rhythm (the usual gap), or with a single order day
 * against the typical customer's recency. */
static void say_recency(const rt_churn_explainer *e, const float *x, char *buf, size_t n) {
  double r = val(x, e->recency), g = val(x, e->gap);
  double ref = isnan(g) ? e->typical[e->recency] : g;
  char a[32], b[80], when[32];
  if (isnan(g))
    typical_of(e, e->recency, 0, b, sizeof b);
  else
    snprintf(b, sizeof b, " (usually every %s)", num(g, when, sizeof when));
  if (r >= ref)
    snprintf(buf, n, "no order for %s day%s%s", num(r, a, sizeof a), plural(r), b);
  else if (r == 0)
    snprintf(buf, n, "last order on the as-of day%s", b);
  else
    snprintf(buf, n, "last order %s day%s ago%s", num(r, a, sizeof a), plural(r), b);
}

static void say_trend(const rt_churn_explainer *e, const float *x, char *buf, size_t n) {
  double o = val(x, e->o90), p = val(x, e->p90), r = val(x, e->r90), rp = val(x, e->rp90);
  char a[24], b[24];
  if (o == 0 && p == 0)
    snprintf(buf, n, "no orders in the last 180 days");
  else if (isnan(r) || isnan(rp))
    snprintf(buf, n, "%s orders in the last 90 days against %s in the 90 before",
             num(o, a, sizeof a), num(p, b, sizeof b));
  else {
    char last[72], prior[72], m[24];
    if (o == 0)
      snprintf(last, sizeof last, "no orders");
    else
      snprintf(last, sizeof last, "%s order%s worth %s", num(o, a, sizeof a), plural(o),
               money(r, m, sizeof m));
    if (p == 0)
      snprintf(prior, sizeof prior, "none");
    else
      snprintf(prior, sizeof prior, "%s worth %s", num(p, b, sizeof b), money(rp, m, sizeof m));
    snprintf(buf, n, "%s in the last 90 days against %s in the 90 before", last, prior);
  }
}

/* A category's 0/1 columns: the one the customer has. */
static void say_category(const rt_churn_explainer *e, const float *x, size_t g, char *buf,
                         size_t n) {
  const rt_ctable *t = e->t;
  const char *name = t->names[e->first[g]];
  int shown = !strncmp(name, "attr:", 5) ? 5 : 0;
  const char *eq = strchr(name, '=');
  int klen = (int)(eq - name) - shown;
  int unknown = 1;
  for (size_t j = e->first[g]; j < t->ncols; j++) {
    if (e->group[j] != g)
      continue;
    if (!isnan(x[j]))
      unknown = 0;
    if (x[j] == 1 && strchr(t->names[j], '=')) {
      snprintf(buf, n, "%.*s: %s", klen, name + shown, strchr(t->names[j], '=') + 1);
      return;
    }
  }
  snprintf(buf, n, unknown ? "%.*s unknown" : "%.*s: none of the usual values", klen,
           name + shown);
}

/* Reason g of the row x, in words. */
static void say(const rt_churn_explainer *e, const float *x, size_t g, char *buf, size_t n) {
  const rt_ctable *t = e->t;
  size_t j = e->first[g];
  const char *name = t->names[j];
  size_t len;
  const char *story = story_of(name, &len);
  if (story == name) /* not one of the known stories */
    story = "";
  double v = x[j];
  char a[32], b[32], ty[64];
  if (!strcmp(story, "recency") && e->recency != SIZE_MAX) {
    say_recency(e, x, buf, n);
  } else if (!strcmp(story, "trend")) {
    say_trend(e, x, buf, n);
  } else if (!strcmp(story, "refunds")) {
    double k = named(t, x, "refunds"), share = named(t, x, "refunded_share");
    if (!(k > 0))
      snprintf(buf, n, "no refunds");
    else if (isnan(share))
      snprintf(buf, n, "%s refund%s", num(k, a, sizeof a), plural(k));
    else
      snprintf(buf, n, "%s refund%s, %.0f%% of the spend", num(k, a, sizeof a), plural(k),
               100 * share);
  } else if (!strcmp(story, "subscriptions")) {
    double subs = named(t, x, "subscriptions"), on = named(t, x, "subscription_active");
    if (on > 0)
      snprintf(buf, n, "a running subscription");
    else if (subs > 0)
      snprintf(buf, n, "no running subscription (%s ended)", num(subs, a, sizeof a));
    else
      snprintf(buf, n, "never subscribed");
  } else if (!strcmp(story, "usage")) {
    double last = named(t, x, "days_since_last_use"), u = named(t, x, "usage_last_30d"),
           p = named(t, x, "usage_prior_30d");
    if (isnan(last))
      snprintf(buf, n, "never used the product");
    else if (u == 0 && p == 0)
      snprintf(buf, n, "last used the product %s day%s ago", num(last, ty, sizeof ty),
               plural(last));
    else
      snprintf(buf, n, "last used the product %s day%s ago; %s uses in the last 30 days "
               "against %s in the 30 before", num(last, ty, sizeof ty), plural(last),
               num(u, a, sizeof a), num(p, b, sizeof b));
  } else if (!strcmp(story, "tickets")) {
    double k = named(t, x, "tickets"), k90 = named(t, x, "tickets_last_90d"),
           open = named(t, x, "tickets_unresolved");
    if (!(k > 0))
      snprintf(buf, n, "no support tickets");
    else
      snprintf(buf, n, "%s support ticket%s (%s in the last 90 days; %s unresolved)",
               num(k, a, sizeof a), plural(k), k90 > 0 ? num(k90, b, sizeof b) : "none",
               open > 0 ? num(open, ty, sizeof ty) : "none");
  } else if (!strcmp(name, "order_days")) {
    if (v == 1)
      snprintf(buf, n, "ordered on a single day so far%s", typical_of(e, j, 0, ty, sizeof ty));
    else
      snprintf(buf, n, "ordered on %s different days%s", num(v, a, sizeof a),
               typical_of(e, j, 0, ty, sizeof ty));
  } else if (!strcmp(name, "tenure_days")) {
    snprintf(buf, n, "a customer for %s days%s", num(v, a, sizeof a),
             typical_of(e, j, 0, ty, sizeof ty));
  } else if (!strcmp(name, "mean_order_value")) {
    snprintf(buf, n, "average order %s%s", money(v, a, sizeof a),
             typical_of(e, j, 1, ty, sizeof ty));
  } else if (!strcmp(name, "last_nps") || !strcmp(name, "last_csat")) {
    const char *what = name[5] == 'n' ? "NPS" : "CSAT";
    if (isnan(v))
      snprintf(buf, n, "no %s answer", what);
    else
      snprintf(buf, n, "last %s answer %s%s", what, num(v, a, sizeof a),
               typical_of(e, j, 0, ty, sizeof ty));
  } else if (strchr(name, '=')) {
    say_category(e, x, g, buf, n);
  } else {
    const char *shown = strncmp(name, "attr:", 5) ? name : name + 5;
    if (isnan(v))
      snprintf(buf, n, "%s unknown", shown);
    else
      snprintf(buf, n, "%s = %g%s", shown, v, typical_of(e, j, 0, ty, sizeof ty));
  }
}

/* ---- sizes ---- */

static double logistic(double z) { return 1 / (1 + exp(-z)); }

size_t rt_churn_explain(rt_churn_explainer *e, size_t row, const float *contrib,
                        rt_churn_why *out, size_t max, double *baseline) {
  const rt_ctable *t = e->t;
  const float *x = t->x + row * t->ncols;
  double bias = contrib[t->ncols], s = 0;
  for (size_t g = 0; g < e->ngroups; g++)
    e->sum[g] = 0;
  /* per customer: with one order day the missing gap features are about the order count;
   * with no order in either 90-day window, the windows are about recency */
  int single = e->gap != SIZE_MAX && e->days != SIZE_MAX && isnan(x[e->gap]);
  int quiet = e->o90 != SIZE_MAX && e->p90 != SIZE_MAX && e->recency != SIZE_MAX &&
              x[e->o90] == 0 && x[e->p90] == 0;
  for (size_t j = 0; j < t->ncols; j++) {
    size_t g = e->group[j];
    if (single && (j == e->gap || j == e->gaps))
      g = e->group[e->days];
    else if (quiet && (j == e->o90 || j == e->p90 || j == e->r90 || j == e->rp90))
      g = e->group[e->recency];
    e->sum[g] += contrib[j];
    s += contrib[j];
  }
  double p0 = logistic(bias), p1 = logistic(bias + s);
  double slope = fabs(s) > 1e-9 ? (p1 - p0) / s : p0 * (1 - p0);
  if (baseline)
    *baseline = p0;
  size_t k = 0;
  for (size_t g = 0; g < e->ngroups; g++)
    if (fabs(100 * slope * e->sum[g]) >= RT_CHURN_MIN_POINTS)
      e->pick[k++] = g;
  /* the max largest, by selection: max is small (3) or k is (a few dozen reasons) */
  size_t nout = k < max ? k : max;
  for (size_t r = 0; r < nout; r++) {
    size_t best = r;
    for (size_t q = r + 1; q < k; q++)
      if (fabs(e->sum[e->pick[q]]) > fabs(e->sum[e->pick[best]]))
        best = q;
    size_t g = e->pick[best];
    e->pick[best] = e->pick[r];
    e->pick[r] = g;
    out[r].log_odds = e->sum[g];
    out[r].points = 100 * slope * e->sum[g];
    say(e, x, g, out[r].text, sizeof out[r].text);
  }
  return nout;
}
