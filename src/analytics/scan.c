/* scan.c - the day -> period lookup table and the threaded customer-range scans shared by
 * metrics.c and cohort.c (see scan.h). */
#include "internal.h"
#include "analytics/scan.h"

#include <retain/alloc.h>
#include <retain/error.h>

int rt__period_lut_init(rt__period_lut *l, rt_period_unit unit, int64_t lo, int64_t hi) {
  l->unit = unit;
  l->lo = lo;
  l->hi = hi;
  l->rel = NULL;
  l->p0 = rt_period_of_day(unit, lo);
  l->nper = 0;
  if (hi < lo || hi - lo >= RT__LUT_MAX_DAYS)
    return RT_ERANGE;
  size_t n = (size_t)(hi - lo + 1);
  l->rel = rt_malloc((n + 1) * sizeof *l->rel);
  if (!l->rel)
    return RT_ENOMEM;
  /* one calendar call per period, then plain fills */
  int64_t p = l->p0, d = lo;
  while (d <= hi) {
    int64_t next = rt_period_first_day(unit, p + 1);
    if (next <= d) /* a calendar that does not advance would loop forever */
      next = d + 1;
    if (next > hi + 1)
      next = hi + 1;
    int32_t v = (int32_t)(p - l->p0);
    for (; d < next; d++)
      l->rel[d - lo] = v;
    p++;
  }
  l->nper = p - l->p0;
  l->rel[n] = RT__LUT_PAST;
  return 0;
}

void rt__period_lut_free(rt__period_lut *l) {
  rt_free(l->rel);
  l->rel = NULL;
}

int rt__scan_parts(const rt_model *m) {
  if (m->norders + m->ncustomers < 400000)
    return 1;
  int cpus = rt__cpus();
  return cpus > RT__MAX_PARTS ? RT__MAX_PARTS : cpus;
}

void rt__scan_split(const rt_model *m, int n, size_t *bounds) {
  size_t nc = m->ncustomers;
  /* work of the customers before c: orders plus customers, monotone in c */
  uint64_t total = (uint64_t)m->order_start[nc] + nc;
  bounds[0] = 0;
  for (int i = 1; i < n; i++) {
    uint64_t want = total * (uint64_t)i / (uint64_t)n;
    size_t a = bounds[i - 1], b = nc;
    while (a < b) { /* first c with work(c) >= want */
      size_t mid = a + (b - a) / 2;
      if ((uint64_t)m->order_start[mid] + mid < want)
        a = mid + 1;
      else
        b = mid;
    }
    bounds[i] = a;
  }
  bounds[n] = nc;
}
