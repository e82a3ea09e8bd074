/* scan.h - what the analytics scans share (library-internal): a day -> period lookup table, so
 * the per-order loops index an array instead of calling the calendar, and the split of the
 * customers into ranges scanned by a few threads, each into its own partial arrays. */
#ifndef RETAIN_ANALYTICS_SCAN_H
#define RETAIN_ANALYTICS_SCAN_H

#include <retain/datetime.h>
#include <retain/model.h>
#include <stddef.h>
#include <stdint.h>

/* The longest day range a table covers (about 22,000 years); longer spans are RT_ERANGE. */
#define RT__LUT_MAX_DAYS (8 * 1024 * 1024)

/* rel[d - lo] = period_of(d) - p0 for every day d in [lo, hi]; p0 = period_of(lo). One more
 * entry, rel[hi - lo + 1], holds RT__LUT_PAST, a period later than any, for days past hi. */
#define RT__LUT_PAST (1 << 29)
typedef struct rt__period_lut {
  rt_period_unit unit;
  int64_t lo, hi;  /* days covered */
  int64_t p0;      /* period of lo */
  int64_t nper;    /* periods touched: rel values are 0..nper-1 */
  int32_t *rel;    /* [hi - lo + 2] */
} rt__period_lut;

/* Builds the table for days [lo, hi] (lo <= hi). RT_ERANGE if the span is too long,
 * RT_ENOMEM. Free with rt__period_lut_free (also after a failure). */
int rt__period_lut_init(rt__period_lut *l, rt_period_unit unit, int64_t lo, int64_t hi);
void rt__period_lut_free(rt__period_lut *l);

/* How many parts to scan a model in: 1 for small models, else up to the online CPUs
 * (at most RT__MAX_PARTS). */
#define RT__MAX_PARTS 4
int rt__scan_parts(const rt_model *m);

/* Splits customers 0..ncustomers into n contiguous ranges of about equal work (orders plus
 * customers): part i is [bounds[i], bounds[i+1]). */
void rt__scan_split(const rt_model *m, int n, size_t *bounds /* [n + 1] */);

/* The parts run with rt__parallel (internal.h). */

#endif
