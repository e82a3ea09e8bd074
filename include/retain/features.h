/* features.h - every customer's computed features, as columns the rule language reads.
 *
 * Built from the customer model (orders, refunds, subscriptions) at an as-of day, plus, when a
 * store is given, the customers' imported attributes and the latest stored model scores. The
 * built-in segmentations live here too: RFM scores and their named segments, the lifecycle
 * stage and the value tier (definitions in docs/SEGMENTS.md). */
#ifndef RETAIN_FEATURES_H
#define RETAIN_FEATURES_H

#include <retain/error.h>
#include <retain/model.h>
#include <retain/rule.h>
#include <retain/store.h>

#include <stddef.h>
#include <stdint.h>

typedef struct rt_features_options {
  int32_t today;           /* the as-of day number (what `now` means) */
  int rfm_bins;            /* scores 1..rfm_bins by quantiles (default 5; 2..9) */
  /* lifecycle windows, relative to each customer's own mean gap between orders (the business's
   * median gap for one-order customers), never shorter than the minimums */
  double at_risk_gaps;     /* at risk after this many gaps without an order (default 2) */
  double lapsed_gaps;      /* lapsed after this many (default 4) */
  int at_risk_min_days;    /* default 30 */
  int lapsed_min_days;     /* default 90 */
  int new_days;            /* first purchase on one of the last this many days (today - first <
                              new_days): new (default 30) */
  int loyal_orders;        /* active with at least this many orders: loyal (default 5) */
  /* value tiers: the top share of buyers by value (predicted CLV when stored, else net
   * revenue; by mid-rank share, as RFM) is platinum, the next gold, the next silver, the rest
   * bronze */
  double tier_platinum, tier_gold, tier_silver; /* defaults 0.01, 0.09, 0.20 */
} rt_features_options;

/* The defaults above, with today as given. */
void rt_features_defaults(rt_features_options *o, int32_t today);

typedef struct rt_features {
  size_t n;          /* customers: the model's, in its order */
  rt_column *cols;   /* the fields, built-ins first, then attributes */
  size_t ncols;
  int32_t today;
  const rt_model *model; /* borrowed */
  double business_gap;   /* median days between orders of repeat customers (NAN if none) */
  void *priv;
} rt_features;

/* Computes the features of every customer of m at o->today. st may be NULL (no attributes, no
 * scores). The model must outlive the features. */
int rt_features_build(const rt_model *m, rt_store *st, const rt_features_options *o,
                      rt_features **out, rt_error *err);
void rt_features_free(rt_features *f);
/* The column of that name, or NULL. */
const rt_column *rt_features_find(const rt_features *f, const char *name);
/* A rule environment over the features (today = f->today); segment_rule as in rule.h. */
void rt_features_env(const rt_features *f, rt_rule_env *env);

/* One customer's rows: orders (days ascending, amounts in minor units), refunds, and
 * subscriptions (start day, end day or INT32_MAX while running). */
typedef struct rt_customer_rows {
  const int32_t *order_day;
  const int64_t *order_amount;
  size_t norders;
  const int32_t *refund_day;
  const int64_t *refund_amount;
  size_t nrefunds;
  const int32_t *sub_first_day, *sub_end_day;
  size_t nsubs;
} rt_customer_rows;

/* Recomputes customer i's features from its rows (after an event changed them) without
 * touching any other customer: the counts, sums and recency, its RFM scores against the edges
 * the whole base set at build time, its lifecycle stage and value tier. Its cost does not
 * depend on the number of customers. RT_EINVAL for i out of range. */
int rt_features_set_customer(rt_features *f, size_t i, const rt_customer_rows *rows);

/* Customer i of f (SIZE_MAX: one f does not have) as a features table of its own (n = 1, the
 * same columns) whose order-derived features come from rows, scored against the edges and
 * cuts of f's base set as rt_features_set_customer does, and whose attributes come from
 * attrs_json (the customer's attributes as stored, a JSON object; NULL: f's values for i).
 * Stored scores are f's for i (missing for SIZE_MAX). For answering one customer at once
 * after an event without rebuilding f; rules must be compiled against it to be matched
 * (rt_rule_match(r, 0)). RT_ENOTFOUND when an attribute cannot be shown without a rebuild (a
 * new key, a text value the column's dictionary lacks, text in a number column). It borrows
 * f's names and dictionaries: free it before f. */
int rt_features_one(const rt_features *f, size_t i, const rt_customer_rows *rows,
                    const char *attrs_json, rt_features **out, rt_error *err);

/* ---- the built-in segmentations, also usable on their own ---- */

/* RFM: customers with a value in all three (NAN: none - customers without purchases) get
 * recency, frequency and monetary scores 1..bins from their values' mid-rank quantiles (score =
 * 1 + floor(bins * (worse + half of the equal, itself included) / count), so ties share a
 * score); the others get 0 and take no part in anybody's scores. */
void rt_rfm_scores(const double *recency_days, const double *frequency, const double *monetary,
                   size_t n, int bins, uint8_t *r, uint8_t *f, uint8_t *m);
/* The named RFM segment of scores on a 5-point scale (r, f, m in 1..5), or NULL for 0 scores. */
const char *rt_rfm_segment(int r, int f, int m);
/* The segment names, in the order of the docs (11, NULL-terminated). */
extern const char *const rt_rfm_segment_names[];

/* Lifecycle stages. */
typedef enum rt_stage {
  RT_STAGE_NONE = 0, /* no orders yet (a prospect) */
  RT_STAGE_NEW,
  RT_STAGE_FIRST_TIME,
  RT_STAGE_ACTIVE,
  RT_STAGE_LOYAL,
  RT_STAGE_AT_RISK,
  RT_STAGE_LAPSED,
  RT_STAGE_WON_BACK,
  RT_STAGE_COUNT
} rt_stage;
extern const char *const rt_stage_names[RT_STAGE_COUNT];
/* The stage of a customer from its order days (ascending, n of them) at today, with the
 * business's median gap for customers with one order. */
rt_stage rt_lifecycle_stage(const int32_t *days, size_t n, int32_t today, double business_gap,
                            const rt_features_options *o);

#endif
