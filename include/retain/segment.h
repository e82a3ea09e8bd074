/* segment.h - stored segments against the features: compiling a segment's rule (with the
 * stored segments it includes through in_segment), reading its stored members, and recording
 * who entered and who left after an evaluation. Used by `retain segment` and `retain serve`.
 * The rule language is rule.h; the features are features.h; the tables are store.h's. */
#ifndef RETAIN_SEGMENT_H
#define RETAIN_SEGMENT_H

#include <retain/error.h>
#include <retain/features.h>
#include <retain/model.h>
#include <retain/rule.h>
#include <retain/store.h>

#include <stddef.h>
#include <stdint.h>

/* Whether name may name a segment: 1 to 64 letters, digits, '_', '-' and '.', starting with a
 * letter or digit. */
int rt_segment_valid_name(const char *name);

/* Compiles rule (the text of the segment called name, or of a preview when name is NULL)
 * against f, reading the rules of the segments it includes from st. Errors as
 * rt_rule_compile's. */
int rt_segment_compile(rt_store *st, const rt_features *f, const char *name, const char *rule,
                       rt_rule **out, rt_error *err);

/* The members of a compiled rule as a bitmap over f's customers (ceil(n/64) words, at least
 * one; rt_free it) and their count. */
int rt_segment_eval(const rt_rule *r, size_t n, uint64_t **bits, size_t *count, rt_error *err);

/* The stored members of segment id: their customer ids, ascending (rt_free *ids). */
int rt_segment_member_ids(rt_store *st, int64_t id, int64_t **ids, size_t *n, rt_error *err);

/* The stored members of segment id as a bitmap over m's customers (a model built from the
 * store: store id order; members m does not have are left out), and how many are in it. */
int rt_segment_member_bits(rt_store *st, const rt_model *m, int64_t id, uint64_t **bits,
                           size_t *count, rt_error *err);

typedef struct rt_segment_changes {
  int64_t members, entered, exited;
} rt_segment_changes;

/* Makes the stored members of segment id those set in bits (over m's customers, store id
 * order), recording an enter or exit event at at_ms for each change and a size row; only the
 * changes are written. Stored members that are not in m leave. Runs in the caller's write
 * transaction (or its own when there is none). */
int rt_segment_sync(rt_store *st, const rt_model *m, int64_t id, const uint64_t *bits,
                    int64_t at_ms, rt_segment_changes *out, rt_error *err);

#endif
