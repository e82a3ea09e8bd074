/* rule.h - the rule language that defines dynamic customer segments.
 *
 * A rule is a condition over per-customer columns ("orders > 2 and country in ('DE', 'AT')
 * and first_order_at >= now - 90d"). rt_rule_compile parses it, checks its types against the
 * columns and compiles it into a tree of vector operations; rt_rule_eval then answers it for
 * every customer at once (a bitmap), rt_rule_match for one customer. The language is described
 * in docs/RULES.md (grammar, types, null semantics, error messages).
 *
 * A compiled rule is immutable: rt_rule_eval, rt_rule_match and the accessors may be called
 * from several threads at once on the same rule. */
#ifndef RETAIN_RULE_H
#define RETAIN_RULE_H

#include <retain/error.h>
#include <stddef.h>
#include <stdint.h>

/* Limits, each reported with its own error (see docs/RULES.md). */
#define RT_RULE_MAX_LEN 65536         /* bytes of rule text */
#define RT_RULE_MAX_DEPTH 200         /* nesting: parentheses, not, minus, chained operators */
#define RT_RULE_MAX_LIST 4096         /* values in one `in (...)` list */
#define RT_RULE_MAX_SEGMENT_DEPTH 16  /* in_segment inside in_segment inside ... */
#define RT_RULE_MAX_NODES 200000      /* compiled operations, counting included segments */

typedef enum rt_value_type { RT_TYPE_NUMBER, RT_TYPE_DATE, RT_TYPE_TEXT, RT_TYPE_BOOL } rt_value_type;

/* One per-customer column the rules can read. Customers are 0..n-1. The arrays are borrowed
 * and must outlive every rule compiled against them; they may be NULL when n is 0. */
typedef struct rt_column {
  const char *name;      /* identifier: [a-z_][a-z0-9_]*, may contain dots ("attributes.plan") */
  rt_value_type type;
  const char *about;     /* one line of meaning, for messages/listing (may be NULL) */
  const double *num;     /* NUMBER and BOOL (0 false, anything else true): NAN = missing */
  const int32_t *day;    /* DATE: day number (days since 1970-01-01), INT32_MIN = missing */
  const uint32_t *code;  /* TEXT: index into dict; UINT32_MAX (or any code >= ndict) = missing */
  const char *const *dict; /* TEXT: the distinct values, NUL-terminated */
  size_t ndict;
  /* TEXT: the dictionary holds every value the field can ever take (rfm_segment,
   * lifecycle_stage, value_tier). Comparing such a field for (in)equality with any other value,
   * or listing one in `in (...)`, is an error that suggests the nearest value; for other text
   * fields an absent value is a warning (rt_rule_warning), as it may appear later. */
  int closed;
  /* NUMBER, optional (may be NULL; ignored for other types): the same values as num when every
   * present value is a whole number in [INT32_MIN + 1, INT32_MAX], as int32, with INT32_MIN
   * where num is NAN. A column comparing, between-ing, in-ing or null-testing against
   * constants then reads these 4 bytes a customer instead of 8 (arithmetic and column-against-
   * column comparisons still read num, which stays required). The caller guarantees that the
   * two agree: i32[i] == INT32_MIN exactly when num[i] is NAN, else i32[i] == num[i]. */
  const int32_t *i32;
} rt_column;

typedef struct rt_rule_env {
  const rt_column *cols;
  size_t ncols;
  size_t n;              /* customers */
  int32_t today;         /* the day number `now` and `today` mean */
  /* in_segment('name'): the rule text of the named segment, or NULL when there is none
   * (then compiling fails with "unknown segment 'x' at L:C"). May be NULL (no segments).
   * The text need only stay valid until rt_rule_compile returns. */
  const char *(*segment_rule)(void *ctx, const char *name);
  void *ctx;
  /* The name of the segment whose rule is being compiled, or NULL. With it, a rule that
   * includes its own segment (directly or through others) is reported as a cycle even before
   * the new text is stored. */
  const char *name;
} rt_rule_env;

typedef struct rt_rule rt_rule;

/* Parses, type-checks and compiles text against env (env and its columns must outlive the
 * rule; text need not). On success *out is the rule, freed with rt_rule_free; on failure *out
 * is NULL and err says what is wrong and where: RT_EPARSE for syntax and the size limits,
 * RT_EINVAL for types, unknown fields, unknown segments and segment cycles, RT_ENOMEM.
 * Positions are "line:column", 1-based, the column counting bytes. */
int rt_rule_compile(const char *text, const rt_rule_env *env, rt_rule **out, rt_error *err);

/* All customers at once: bits gets ceil(n/64) words, bit i of word i/64 set when customer i
 * matches (bits past n are 0). Runs on 2 threads when n is large. Returns 0, or RT_ENOMEM
 * (the only failure: scratch memory for the vector operations). */
int rt_rule_eval(const rt_rule *r, uint64_t *bits, rt_error *err);

/* One customer (for incremental updates after an event): 1 if it matches, 0 if not (also 0
 * when customer >= n). Always agrees with rt_rule_eval. */
int rt_rule_match(const rt_rule *r, size_t customer);

/* The rule in a normalized text form (lower-case keywords, single spaces, single-quoted
 * strings, only the parentheses precedence needs), which compiles to the same rule; NULL on
 * OOM. The caller frees it with rt_free. in_segment calls are kept, not expanded. */
char *rt_rule_format(const rt_rule *r);

void rt_rule_free(rt_rule *r); /* r may be NULL */

/* The fields a rule reads, included segments' fields too (each name once, in order of first
 * use; the names are the env's), for knowing what a change affects. */
size_t rt_rule_nfields(const rt_rule *r);
const char *rt_rule_field(const rt_rule *r, size_t i);

/* 1 if the rule depends on `now`/`today` (so it must be re-evaluated when the clock moves). */
int rt_rule_uses_clock(const rt_rule *r);

/* What compiled but probably is not what was meant, one sentence each ("no customer has
 * attributes.country 'Frnace' now (at 1:23) — did you mean 'France'?"); valid while r is. */
size_t rt_rule_nwarnings(const rt_rule *r);
const char *rt_rule_warning(const rt_rule *r, size_t i);

#endif
