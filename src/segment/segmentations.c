/* segmentations.c - the built-in segmentations of features.h: RFM scores by quantiles and the
 * named RFM segments, and lifecycle stages relative to each customer's own rhythm
 * (docs/SEGMENTS.md has the definitions, in words and tables). */
#include <retain/alloc.h>
#include <retain/features.h>

#include <math.h>
#include <string.h>

const char *const rt_rfm_segment_names[] = {
    "champions",       "loyal",      "potential loyalists", "new",         "promising",
    "need attention",  "about to sleep", "at risk",          "cannot lose them", "hibernating",
    "lost",            NULL};

const char *const rt_stage_names[RT_STAGE_COUNT] = {
    "prospect", "new", "first-time buyer", "active", "loyal", "at risk", "lapsed", "won back"};

/* The named segment on the grid of recency (rows, 5 = most recent) by the rounded mean of
 * frequency and monetary (columns, 1..5). */
const char *rt_rfm_segment(int r, int f, int m) {
  if (r < 1 || f < 1 || m < 1)
    return NULL;
  int fm = (f + m + 1) / 2; /* the mean, halves rounded up */
  static const char *const grid[5][5] = {
      /* FM:   1                 2                 3                    4                     5 */
      /*R1*/ {"lost", "lost", "at risk", "at risk", "cannot lose them"},
      /*R2*/ {"hibernating", "hibernating", "at risk", "at risk", "at risk"},
      /*R3*/ {"about to sleep", "about to sleep", "need attention", "loyal", "loyal"},
      /*R4*/ {"promising", "potential loyalists", "potential loyalists", "loyal", "champions"},
      /*R5*/ {"new", "potential loyalists", "potential loyalists", "champions", "champions"}};
  r = r > 5 ? 5 : r;
  fm = fm > 5 ? 5 : fm;
  return grid[r - 1][fm - 1];
}

/* An order-preserving map of a double to an unsigned integer (negatives reversed). */
static uint64_t sortable(double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  return u >> 63 ? ~u : u | 0x8000000000000000ULL;
}

typedef struct keyed {
  uint64_t k;
  uint32_t i;
} keyed;

/* Sorts m keyed pairs by k: LSD radix, 16 bits a pass, skipping the passes where every key has
 * the same digit (small integers need one or two). tmp has room for m pairs. */
static void radix_sort(keyed *a, keyed *tmp, size_t m) {
  uint64_t all_or = 0, all_and = ~0ULL;
  for (size_t j = 0; j < m; j++) {
    all_or |= a[j].k;
    all_and &= a[j].k;
  }
  size_t *count = rt_malloc(65536 * sizeof *count);
  if (!count) { /* keep going, slowly: insertion sort would be quadratic, so shell sort */
    for (size_t gap = m / 2; gap > 0; gap /= 2)
      for (size_t j = gap; j < m; j++)
        for (size_t q = j; q >= gap && a[q - gap].k > a[q].k; q -= gap) {
          keyed t = a[q];
          a[q] = a[q - gap];
          a[q - gap] = t;
        }
    return;
  }
  for (int shift = 0; shift < 64; shift += 16) {
    if ((((all_or ^ all_and) >> shift) & 0xFFFF) == 0)
      continue; /* one digit for every key */
    memset(count, 0, 65536 * sizeof *count);
    for (size_t j = 0; j < m; j++)
      count[(a[j].k >> shift) & 0xFFFF]++;
    size_t sum = 0;
    for (size_t d = 0; d < 65536; d++) {
      size_t c = count[d];
      count[d] = sum;
      sum += c;
    }
    for (size_t j = 0; j < m; j++)
      tmp[count[(a[j].k >> shift) & 0xFFFF]++] = a[j];
    memcpy(a, tmp, m * sizeof *a);
  }
  rt_free(count);
}

/* score[i] = 1 + floor(bins * (mid-rank share)), for the customers whose value is not NAN (sign
 * -1: a larger value is worse, as days since the last order). The mid-rank share of a value is
 * (customers with a worse value + half of those with the same value, itself included) / count:
 * ties share a score, and a lone customer, or a base where everybody ties, sits in the middle
 * instead of at the bottom. (pandas: (rank(method="average") - 0.5) / count.) */
static int quantile_scores(const double *v, size_t n, int bins, int sign, uint8_t *score) {
  keyed *k = rt_malloc((n ? n : 1) * sizeof *k), *tmp = rt_malloc((n ? n : 1) * sizeof *tmp);
  if (!k || !tmp) {
    rt_free(k);
    rt_free(tmp);
    return -1;
  }
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    score[i] = 0;
    if (!isnan(v[i]))
      k[m++] = (keyed){sortable(sign * v[i] + 0.0), (uint32_t)i};
  }
  radix_sort(k, tmp, m);
  rt_free(tmp);
  for (size_t j = 0; j < m;) {
    size_t e = j + 1;
    while (e < m && k[e].k == k[j].k)
      e++;
    int s = 1 + (int)((double)bins * (double)(j + e) / (2.0 * (double)m));
    for (size_t q = j; q < e; q++)
      score[k[q].i] = (uint8_t)(s > bins ? bins : s);
    j = e;
  }
  rt_free(k);
  return 0;
}

void rt_rfm_scores(const double *recency_days, const double *frequency, const double *monetary,
                   size_t n, int bins, uint8_t *r, uint8_t *f, uint8_t *m) {
  if (bins < 2)
    bins = 2;
  if (bins > 9)
    bins = 9;
  /* on allocation failure the scores stay 0 (no RFM) */
  if (quantile_scores(recency_days, n, bins, -1, r) || quantile_scores(frequency, n, bins, 1, f) ||
      quantile_scores(monetary, n, bins, 1, m)) {
    memset(r, 0, n);
    memset(f, 0, n);
    memset(m, 0, n);
  }
  for (size_t i = 0; i < n; i++) /* all three or none */
    if (!r[i] || !f[i] || !m[i])
      r[i] = f[i] = m[i] = 0;
}

static double window(double gaps, double gap, int min_days) {
  double d = isnan(gap) ? 0 : gaps * gap;
  return d > min_days ? d : min_days;
}

rt_stage rt_lifecycle_stage(const int32_t *days, size_t n, int32_t today, double business_gap,
                            const rt_features_options *o) {
  /* distinct order days up to today: the first, the last two, and how many */
  size_t k = 0;
  int32_t first = 0, prev = 0, last = 0;
  for (size_t i = 0; i < n && days[i] <= today; i++) {
    if (k && days[i] == last)
      continue;
    if (!k)
      first = days[i];
    prev = last;
    last = days[i];
    k++;
  }
  if (!k)
    return RT_STAGE_NONE;
  size_t orders = 0;
  for (size_t i = 0; i < n && days[i] <= today; i++)
    orders++;
  double gap = k >= 2 ? (double)(last - first) / (double)(k - 1) : business_gap;
  double since = (double)(today - last);
  if (since > window(o->lapsed_gaps, gap, o->lapsed_min_days))
    return RT_STAGE_LAPSED;
  if (since > window(o->at_risk_gaps, gap, o->at_risk_min_days))
    return RT_STAGE_AT_RISK;
  if (k >= 2) { /* back after a lapse, judged by the rhythm before it */
    double before = k >= 3 ? (double)(prev - first) / (double)(k - 2) : business_gap;
    if ((double)(last - prev) > window(o->lapsed_gaps, before, o->lapsed_min_days))
      return RT_STAGE_WON_BACK;
  }
  if (today - first < o->new_days) /* on one of the new_days days up to today, as orders_30d */
    return RT_STAGE_NEW;
  if (k == 1)
    return RT_STAGE_FIRST_TIME;
  if ((int)orders >= o->loyal_orders)
    return RT_STAGE_LOYAL;
  return RT_STAGE_ACTIVE;
}
