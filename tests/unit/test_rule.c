/* test_rule.c - the segment rule language (src/rule/): ~60 rules over every operator checked
 * customer by customer against the same conditions written directly in C (with the null
 * semantics spelled out by hand), rt_rule_match against rt_rule_eval, exact error messages,
 * in_segment with cycles, dates and durations, limits, allocation failures, a randomized run
 * of 20k random and mutated rule texts plus well-typed random rules (each must compile or fail
 * cleanly; when it compiles, eval, match and the formatted text must agree), and 100,037
 * customers (two threads, a partial last word). The reference rules and the random rules run
 * twice: on the doubles alone, and with i32 on the whole-number columns (orders,
 * days_since_last_order, balance with the int32 edges), where they must give the same
 * customers; INT_RULES adds the constant conversions of that path. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <retain/alloc.h>
#include <retain/datetime.h>
#include <retain/rule.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY(y, m, d) ((int32_t)rt_days_from_civil(y, m, d))
#define TODAY DAY(2024, 3, 1)

/* ---- the fixture: customers with deterministic pseudo-random columns ---- */

static uint64_t rng_state;
static uint64_t rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1DULL;
}
static size_t rndn(size_t n) { return (size_t)(rnd() % n); }

static const char *const country_dict[] = {"DE", "US", "FR", "Finland", "Iceland",
                                           "NL", "Poland", "AT", "it's"};
static const char *const plan_dict[] = {"free", "pro", "pro_plus", "vip", "100%", "Vip"};
static const char *const home_dict[] = {"US", "DE", "CH", "Iceland", "AT"};
#define NCOUNTRY (sizeof country_dict / sizeof *country_dict)
#define NPLAN (sizeof plan_dict / sizeof *plan_dict)
#define NHOME (sizeof home_dict / sizeof *home_dict)

enum { NCOLS = 12 };

typedef struct fixture {
  size_t n;
  double *orders, *revenue, *days_since, *subscriber, *churn, *balance;
  int32_t *first, *last;
  uint32_t *country, *plan, *home;
  /* i32 of the integer-valued number columns, set in cols only by use_i32 */
  int32_t *orders_i, *days_since_i, *balance_i;
  rt_column cols[NCOLS];
  rt_rule_env env;
} fixture;

/* A whole number column's value as i32 (INT32_MIN for missing), as rule.h asks. */
static int32_t as_i32(double x) {
  if (isnan(x))
    return INT32_MIN;
  assert_true(x == floor(x) && x >= INT32_MIN + 1.0 && x <= INT32_MAX);
  return (int32_t)x;
}

/* Balance: whole numbers, negative and positive, the int32 edges a present value may take,
 * missing one time in ten. */
static double rnd_balance(void) {
  static const double edges[] = {2147483647.0, 2147483646.0, -2147483647.0, -2147483646.0,
                                 0.0, -1.0, 1.0, -7.0};
  size_t r = rndn(10);
  return r == 0 ? NAN : r <= 2 ? edges[rndn(8)] : (double)rndn(2001) - 1000.0;
}

/* A code, missing one time in ten (as UINT32_MAX, or as the out-of-range code nd). */
static uint32_t rnd_code(size_t nd) {
  size_t r = rndn(20);
  return r == 0 ? UINT32_MAX : r == 1 ? (uint32_t)nd : (uint32_t)rndn(nd);
}

static fixture *fixture_new(size_t n, uint64_t seed) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  rng_state = seed;
  f->n = n;
  size_t m = n ? n : 1;
  f->orders = malloc(m * sizeof(double));
  f->revenue = malloc(m * sizeof(double));
  f->days_since = malloc(m * sizeof(double));
  f->subscriber = malloc(m * sizeof(double));
  f->churn = malloc(m * sizeof(double));
  f->balance = malloc(m * sizeof(double));
  f->orders_i = malloc(m * sizeof(int32_t));
  f->days_since_i = malloc(m * sizeof(int32_t));
  f->balance_i = malloc(m * sizeof(int32_t));
  f->first = malloc(m * sizeof(int32_t));
  f->last = malloc(m * sizeof(int32_t));
  f->country = malloc(m * sizeof(uint32_t));
  f->plan = malloc(m * sizeof(uint32_t));
  f->home = malloc(m * sizeof(uint32_t));
  for (size_t i = 0; i < n; i++) {
    f->orders[i] = rndn(10) == 0 ? NAN : (double)rndn(11);
    f->revenue[i] = rndn(10) == 0 ? NAN : (double)rndn(100000) / 100.0;
    f->days_since[i] = rndn(20) == 0 ? NAN : (double)rndn(400);
    size_t s = rndn(20);
    f->subscriber[i] = s < 2 ? NAN : s == 2 ? 2.0 : (double)(s % 2);
    size_t c = rndn(10);
    f->churn[i] = c == 0 ? NAN : c == 1 ? 0.5 : (double)(rnd() >> 11) / 9007199254740992.0;
    f->first[i] = rndn(10) == 0 ? INT32_MIN : TODAY - (int32_t)rndn(800);
    if (rndn(40) == 0)
      f->first[i] = DAY(2024, 1, 5);
    f->last[i] = f->first[i] == INT32_MIN || rndn(10) == 0
                     ? INT32_MIN
                     : f->first[i] + (int32_t)rndn(200);
    f->country[i] = rnd_code(NCOUNTRY);
    f->plan[i] = rnd_code(NPLAN);
    f->home[i] = rnd_code(NHOME);
    f->balance[i] = rnd_balance();
    f->orders_i[i] = as_i32(f->orders[i]);
    f->days_since_i[i] = as_i32(f->days_since[i]);
    f->balance_i[i] = as_i32(f->balance[i]);
  }
  rt_column *col = f->cols;
  col[0] = (rt_column){.name = "orders", .type = RT_TYPE_NUMBER, .num = f->orders};
  col[1] = (rt_column){.name = "revenue", .type = RT_TYPE_NUMBER, .num = f->revenue};
  col[2] = (rt_column){.name = "days_since_last_order", .type = RT_TYPE_NUMBER,
                       .num = f->days_since};
  col[3] = (rt_column){.name = "first_order_at", .type = RT_TYPE_DATE, .day = f->first};
  col[4] = (rt_column){.name = "last_order_at", .type = RT_TYPE_DATE, .day = f->last};
  col[5] = (rt_column){.name = "country", .type = RT_TYPE_TEXT, .code = f->country,
                       .dict = country_dict, .ndict = NCOUNTRY};
  col[6] = (rt_column){.name = "plan", .type = RT_TYPE_TEXT, .code = f->plan,
                       .dict = plan_dict, .ndict = NPLAN};
  col[7] = (rt_column){.name = "subscriber", .type = RT_TYPE_BOOL, .num = f->subscriber};
  col[8] = (rt_column){.name = "churn_risk", .type = RT_TYPE_NUMBER, .num = f->churn};
  col[9] = (rt_column){.name = "attributes.home_country", .type = RT_TYPE_TEXT,
                       .code = f->home, .dict = home_dict, .ndict = NHOME};
  col[10] = (rt_column){.name = "fields_with_a_long_name", .type = RT_TYPE_NUMBER,
                        .num = f->orders}; /* never gets i32: a mixed env */
  col[11] = (rt_column){.name = "balance", .type = RT_TYPE_NUMBER, .num = f->balance};
  f->env = (rt_rule_env){.cols = f->cols, .ncols = NCOLS, .n = n, .today = TODAY};
  return f;
}

/* Gives the integer-valued number columns their i32 (on) or takes it away (off). No rule may
 * be alive: rules borrow the columns. */
static void use_i32(fixture *f, int on) {
  f->cols[0].i32 = on ? f->orders_i : NULL;
  f->cols[2].i32 = on ? f->days_since_i : NULL;
  f->cols[11].i32 = on ? f->balance_i : NULL;
}

static void fixture_free(fixture *f) {
  free(f->balance);
  free(f->orders_i);
  free(f->days_since_i);
  free(f->balance_i);
  free(f->orders);
  free(f->revenue);
  free(f->days_since);
  free(f->subscriber);
  free(f->churn);
  free(f->first);
  free(f->last);
  free(f->country);
  free(f->plan);
  free(f->home);
  free(f);
}

/* ---- the reference: each rule's condition written directly in C ---- */

static int has(double x) { return x == x; }
static int day_ok(int32_t d) { return d != INT32_MIN; }
static int yes(double b) { return has(b) && b != 0; }
static int no(double b) { return has(b) && b == 0; }
static int eq(const char *s, const char *t) { return s && strcmp(s, t) == 0; }
static int ends(const char *s, const char *t) {
  size_t a = strlen(s), b = strlen(t);
  return a >= b && strcmp(s + a - b, t) == 0;
}

#define RULES(X)                                                                          \
  X("orders > 2", o > 2)                                                                  \
  X("orders >= 2 and revenue < 500", o >= 2 && r < 500)                                   \
  X("orders = 3", o == 3)                                                                 \
  X("orders == 3", o == 3)                                                                \
  X("orders != 3", has(o) && o != 3)                                                      \
  X("orders <> 3", has(o) && o != 3)                                                      \
  X("not (orders > 5)", !(o > 5))                                                         \
  X("orders between 2 and 5", o >= 2 && o <= 5)                                           \
  X("orders not between 2 and 5", has(o) && (o < 2 || o > 5))                             \
  X("orders in (1, 3, 5)", o == 1 || o == 3 || o == 5)                                    \
  X("orders not in (1, 3, 5)", has(o) && o != 1 && o != 3 && o != 5)                      \
  X("orders in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)",          \
    o >= 1 && o <= 18)                                                                    \
  X("orders is null", !has(o))                                                            \
  X("orders is not null", has(o))                                                         \
  X("revenue / orders > 100", has(o) && o != 0 && r / o > 100)                            \
  X("revenue / orders is null", !has(r) || !has(o) || o == 0)                             \
  X("revenue - orders * 10 >= 50", r - o * 10 >= 50)                                      \
  X("-orders < -3", -o < -3)                                                              \
  X("revenue + 1e3 > 1500", r + 1000 > 1500)                                              \
  X("revenue > orders * 50", r > o * 50)                                                  \
  X("churn_risk * 100 between 20 and 80", cr * 100 >= 20 && cr * 100 <= 80)              \
  X("churn_risk in (0.5)", cr == 0.5)                                                     \
  X("days_since_last_order > 90 and orders >= 2 and revenue > 100",                       \
    ds > 90 && o >= 2 && r > 100)                                                         \
  X("first_order_at >= now - 30d", day_ok(fd) && fd >= TODAY - 30)                        \
  X("first_order_at < today - 2w", day_ok(fd) && fd < TODAY - 14)                         \
  X("first_order_at > now - 1.5d", day_ok(fd) && fd > TODAY - 1.5)                        \
  X("first_order_at >= '2024-01-31'", day_ok(fd) && fd >= DAY(2024, 1, 31))               \
  X("first_order_at between '2023-01-01' and '2023-12-31'",                               \
    day_ok(fd) && fd >= DAY(2023, 1, 1) && fd <= DAY(2023, 12, 31))                       \
  X("first_order_at not between '2023-01-01' and '2023-12-31'",                           \
    day_ok(fd) && (fd < DAY(2023, 1, 1) || fd > DAY(2023, 12, 31)))                       \
  X("now - first_order_at > 1y", day_ok(fd) && TODAY - fd > 365)                          \
  X("first_order_at + 6m < now", day_ok(fd) && fd + 180 < TODAY)                          \
  X("first_order_at in ('2024-01-05', '2023-06-01')",                                     \
    fd == DAY(2024, 1, 5) || fd == DAY(2023, 6, 1))                                       \
  X("first_order_at = '2024-01-05'", fd == DAY(2024, 1, 5))                               \
  X("first_order_at != '2024-01-05'", day_ok(fd) && fd != DAY(2024, 1, 5))                \
  X("first_order_at is null", !day_ok(fd))                                                \
  X("first_order_at != now + 1 / 0 or orders != 0 / 0", 0)                                \
  X("last_order_at > first_order_at + 30d", day_ok(ld) && day_ok(fd) && ld > fd + 30)     \
  X("last_order_at - first_order_at between 10 and 100",                                  \
    day_ok(ld) && day_ok(fd) && ld - fd >= 10 && ld - fd <= 100)                          \
  X("last_order_at >= first_order_at", day_ok(ld) && day_ok(fd) && ld >= fd)              \
  X("country = 'DE'", eq(c, "DE"))                                                        \
  X("country != 'DE'", c && !eq(c, "DE"))                                                 \
  X("country in ('DE', 'AT', 'XX')", eq(c, "DE") || eq(c, "AT"))                          \
  X("country not in ('DE', 'AT')", c && !eq(c, "DE") && !eq(c, "AT"))                     \
  X("country like 'F%'", c && c[0] == 'F')                                                \
  X("country like '_S'", c && strlen(c) == 2 && c[1] == 'S')                              \
  X("country not like '%land'", c && !ends(c, "land"))                                    \
  X("country contains 'lan'", c && strstr(c, "lan"))                                      \
  X("country starts_with 'Fi'", c && strncmp(c, "Fi", 2) == 0)                            \
  X("country ends_with 'land'", c && ends(c, "land"))                                     \
  X("country < 'G'", c && strcmp(c, "G") < 0)                                             \
  X("country between 'B' and 'G'", c && strcmp(c, "B") >= 0 && strcmp(c, "G") <= 0)       \
  X("country not between 'B' and 'G'", c && (strcmp(c, "B") < 0 || strcmp(c, "G") > 0))  \
  X("country = 'it''s'", eq(c, "it's"))                                                   \
  X("country = attributes.home_country", c && h && strcmp(c, h) == 0)                    \
  X("country > attributes.home_country", c && h && strcmp(c, h) > 0)                      \
  X("attributes.home_country is null", !h)                                                \
  X("plan = \"vip\"", eq(p, "vip"))                                                       \
  X("plan like '100\\%'", eq(p, "100%"))                                                  \
  X("plan in ('vip', 'pro') and country is not null", (eq(p, "vip") || eq(p, "pro")) && c) \
  X("subscriber", yes(s))                                                                 \
  X("not subscriber", !yes(s))                                                            \
  X("subscriber = false", no(s))                                                          \
  X("subscriber != true", no(s))                                                          \
  X("subscriber is null", !has(s))                                                        \
  X("subscriber = (orders > 2)", has(s) && yes(s) == (o > 2))                             \
  X("subscriber in (true)", yes(s))                                                       \
  X("subscriber and orders > 2 or churn_risk > 0.8", (yes(s) && o > 2) || cr > 0.8)      \
  X("(subscriber or orders > 2) and not churn_risk > 0.8", (yes(s) || o > 2) && !(cr > 0.8)) \
  X("orders > 2 AND country = 'DE' Or plan = 'vip'", (o > 2 && eq(c, "DE")) || eq(p, "vip")) \
  X("orders > 2 # big spenders\n  and revenue > 10", o > 2 && r > 10)                     \
  X("true", 1)                                                                            \
  X("false", 0)                                                                           \
  X("1 = 1 and orders > 1", o > 1)                                                        \
  X("revenue / 0 is null", 1)                                                             \
  X("not (orders > 2 or not (revenue < 100 and country = 'US'))",                         \
    !(o > 2 || !(r < 100 && eq(c, "US"))))

/* Comparisons of whole-number columns with constants, which run on i32 when the column gives
 * it: constants with fractions, beyond the int32 range (saturating), at its edges, negative,
 * missing (0 / 0 and 1 / 0 are missing), fractional bounds and list values. Many match nobody
 * or every present customer by design. */
#define INT_RULES(X)                                                                      \
  X("orders > 2.5", o > 2.5)                                                              \
  X("orders >= 2.5", o >= 2.5)                                                            \
  X("orders < 2.5", o < 2.5)                                                              \
  X("orders <= 2.5", o <= 2.5)                                                            \
  X("orders = 2.5", o == 2.5)                                                             \
  X("orders != 2.5", has(o) && o != 2.5)                                                  \
  X("not (orders = 2.5)", !(o == 2.5))                                                    \
  X("2.5 < orders", o > 2.5)                                                              \
  X("days_since_last_order > 60 and orders >= 3", ds > 60 && o >= 3)                      \
  X("days_since_last_order <= 59.99", ds <= 59.99)                                        \
  X("orders between 1.5 and 4.5", o >= 1.5 && o <= 4.5)                                   \
  X("orders not between 1.5 and 4.5", has(o) && (o < 1.5 || o > 4.5))                     \
  X("orders between 1.2 and 1.8", o >= 1.2 && o <= 1.8)                                   \
  X("orders not between 1.2 and 1.8", has(o) && (o < 1.2 || o > 1.8))                     \
  X("orders between 5 and 1", o >= 5 && o <= 1)                                           \
  X("orders not between 5 and 1", has(o) && (o < 5 || o > 1))                             \
  X("orders in (1.5, 2, 3)", o == 2 || o == 3)                                            \
  X("orders not in (1.5, 2, 3)", has(o) && o != 2 && o != 3)                              \
  X("orders in (1.5, 7)", o == 7)                                                         \
  X("orders not in (1.5, 7)", has(o) && o != 7)                                           \
  X("orders in (0.5, 1.5)", 0)                                                            \
  X("orders not in (0.5, 1.5, 1e12)", has(o))                                             \
  X("orders > 1 / 0", 0)                                                                  \
  X("not (orders <= 0 / 0)", 1)                                                           \
  X("orders between 0 / 0 and 5", 0)                                                      \
  X("orders not between 1 and 0 / 0", 0)                                                  \
  X("orders in (0 / 0, 2)", o == 2)                                                       \
  X("orders not in (0 / 0, 2)", has(o) && o != 2)                                         \
  X("orders not in (0 / 0)", has(o))                                                      \
  X("balance > -1e12", has(b))                                                            \
  X("balance < 1e12", has(b))                                                             \
  X("balance > 1e12", 0)                                                                  \
  X("balance < -1e12", 0)                                                                 \
  X("balance != 1e12", has(b))                                                            \
  X("balance = -1e12", 0)                                                                 \
  X("balance < 1e308 * 10", has(b))                                                       \
  X("balance >= -1e308 * 10", has(b))                                                     \
  X("balance >= 2147483647", b >= 2147483647.0)                                           \
  X("balance > 2147483646.5", b > 2147483646.5)                                           \
  X("balance <= -2147483647", b <= -2147483647.0)                                         \
  X("balance < -2147483646.5", b < -2147483646.5)                                         \
  X("balance < -2147483647.5", b < -2147483647.5)                                         \
  X("balance > 2147483647.5", b > 2147483647.5)                                           \
  X("balance = -2147483648", b == -2147483648.0)                                          \
  X("balance != -2147483648", has(b) && b != -2147483648.0)                               \
  X("balance <= -2147483648", b <= -2147483648.0)                                         \
  X("balance > -2147483648", b > -2147483648.0)                                           \
  X("balance = 2147483648", b == 2147483648.0)                                            \
  X("balance < 2147483648", b < 2147483648.0)                                             \
  X("balance >= -10.5", b >= -10.5)                                                       \
  X("balance > -10.5", b > -10.5)                                                         \
  X("balance <= -10.5", b <= -10.5)                                                       \
  X("balance < -10.5", b < -10.5)                                                         \
  X("balance = -7", b == -7)                                                              \
  X("balance != -7", has(b) && b != -7)                                                   \
  X("balance < 0 - 7", b < -7)                                                            \
  X("-1 >= balance", b <= -1)                                                             \
  X("balance between -10.5 and 20.5", b >= -10.5 && b <= 20.5)                            \
  X("balance not between -10.5 and 20.5", has(b) && (b < -10.5 || b > 20.5))              \
  X("balance between -1e12 and 1e12", has(b))                                             \
  X("balance not between -1e12 and 1e12", 0)                                              \
  X("balance not between -2147483647 and 2147483646", b > 2147483646.0)                   \
  X("balance in (-1, 0.5, 2147483647, -2147483647, 3)",                                   \
    b == -1 || b == 2147483647.0 || b == -2147483647.0 || b == 3)                         \
  X("balance not in (-1, 0.5, 2147483647, -2147483647, 3, 1e12, -2147483648)",            \
    has(b) && b != -1 && b != 2147483647.0 && b != -2147483647.0 && b != 3)               \
  X("balance in (-20, -19, -18, -17, -16, -15, -14, -13, -12, -11, -10, -9, -8, -7, -6, "  \
    "-5, 0.5, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 2147483646)",             \
    (b >= -20 && b <= -5) || (b >= 5 && b <= 18) || b == 2147483646.0)                    \
  X("balance not in (-20, -19, -18, -17, -16, -15, -14, -13, -12, -11, -10, -9, -8, -7, " \
    "-6, -5, 0.5, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, -2147483647)",        \
    has(b) && !(b >= -20 && b <= -5) && !(b >= 5 && b <= 18) && b != -2147483647.0)       \
  X("balance is null", !has(b))                                                           \
  X("balance is not null", has(b))                                                        \
  X("not (balance > 0)", !(b > 0))                                                        \
  X("not (balance not in (1, 2))", !(has(b) && b != 1 && b != 2))                         \
  X("balance + 0 > -10.5", b > -10.5)                                                     \
  X("balance > orders", b > o)                                                            \
  X("balance / 1000 between -0.5 and 0.5", b / 1000 >= -0.5 && b / 1000 <= 0.5)           \
  X("balance between orders and 1000.5", b >= o && b <= 1000.5)                           \
  X("balance not between -3 and orders", has(b) && has(o) && (b < -3 || b > o))           \
  X("fields_with_a_long_name >= 2.5 and orders < 7.5", o >= 2.5 && o < 7.5)

static const char *const rule_texts[] = {
#define X_TEXT(text, expr) text,
    RULES(X_TEXT) INT_RULES(X_TEXT)
};
static const char *const base_texts[] = {RULES(X_TEXT)};
#undef X_TEXT
#define NRULES (sizeof rule_texts / sizeof *rule_texts)
#define NBASE (sizeof base_texts / sizeof *base_texts) /* rules mostly matching some, not all */

/* Every rule's expected result for customer i. */
static void reference(const fixture *f, size_t i, uint8_t *res) {
  const double o = f->orders[i], r = f->revenue[i], ds = f->days_since[i];
  const double s = f->subscriber[i], cr = f->churn[i], b = f->balance[i];
  const int32_t fd = f->first[i], ld = f->last[i];
  const char *c = f->country[i] < NCOUNTRY ? country_dict[f->country[i]] : NULL;
  const char *p = f->plan[i] < NPLAN ? plan_dict[f->plan[i]] : NULL;
  const char *h = f->home[i] < NHOME ? home_dict[f->home[i]] : NULL;
  size_t k = 0;
#define X_REF(text, expr) res[k++] = (expr) ? 1 : 0;
  RULES(X_REF)
  INT_RULES(X_REF)
#undef X_REF
}

/* ---- helpers ---- */

static int bit(const uint64_t *bits, size_t i) { return (int)(bits[i / 64] >> (i % 64) & 1); }

static rt_rule *compile_ok(const fixture *f, const char *text) {
  rt_rule *r = NULL;
  rt_error err = {0};
  int rc = rt_rule_compile(text, &f->env, &r, &err);
  if (rc)
    fail_msg("rule '%s' failed: %s", text, err.msg);
  assert_non_null(r);
  return r;
}

/* The bitmap of r over f; words past the end of the bitmap are checked untouched and the bits
 * past n zero. The caller frees it. */
static uint64_t *eval_bits(const rt_rule *r, const fixture *f) {
  size_t nw = (f->n + 63) / 64;
  uint64_t *bits = malloc((nw + 1) * sizeof *bits);
  assert_non_null(bits);
  memset(bits, 0xA5, (nw + 1) * sizeof *bits); /* garbage the eval must overwrite */
  rt_error err = {0};
  assert_int_equal(rt_rule_eval(r, bits, &err), 0);
  assert_true(bits[nw] == 0xA5A5A5A5A5A5A5A5ULL);
  if (f->n % 64)
    assert_true(bits[nw - 1] >> (f->n % 64) == 0);
  return bits;
}

/* rt_rule_match agrees with rt_rule_eval for every customer. */
static void check_match(const rt_rule *r, const fixture *f, const uint64_t *bits,
                        const char *text) {
  for (size_t i = 0; i < f->n; i++)
    if (rt_rule_match(r, i) != bit(bits, i))
      fail_msg("rule '%s': customer %zu: match %d, eval %d", text, i, rt_rule_match(r, i),
               bit(bits, i));
  assert_int_equal(rt_rule_match(r, f->n), 0);
}

/* The formatted rule compiles to the same customers and formats to itself. */
static void check_format(const rt_rule *r, const fixture *f, const uint64_t *bits,
                         const char *text) {
  char *s = rt_rule_format(r);
  assert_non_null(s);
  rt_rule *r2 = NULL;
  rt_error err = {0};
  if (rt_rule_compile(s, &f->env, &r2, &err))
    fail_msg("rule '%s' formats as '%s', which fails: %s", text, s, err.msg);
  uint64_t *b2 = eval_bits(r2, f);
  if (f->n && memcmp(bits, b2, (f->n + 63) / 64 * sizeof *bits))
    fail_msg("rule '%s' and its format '%s' differ", text, s);
  char *s2 = rt_rule_format(r2);
  assert_non_null(s2);
  if (strcmp(s, s2))
    fail_msg("format of '%s' is not stable: '%s' then '%s'", text, s, s2);
  rt_free(s2);
  rt_free(s);
  free(b2);
  rt_rule_free(r2);
}

/* The error of compiling text: its code, and its message (when msg is not NULL). */
static void expect_error(const rt_rule_env *env, const char *text, int code, const char *msg) {
  rt_rule *r = (rt_rule *)(uintptr_t)1;
  rt_error err = {0};
  int rc = rt_rule_compile(text, env, &r, &err);
  if (rc != code || (msg && strcmp(err.msg, msg)))
    fail_msg("rule '%s': expected %d \"%s\", got %d \"%s\"", text, code, msg ? msg : "", rc,
             err.msg);
  assert_null(r);
  assert_int_equal(err.code, code);
}

/* ---- (1) every operator against the reference ---- */

/* Every rule, on the doubles alone and then with i32 on the whole-number columns: both equal
 * the reference (so each other), and match agrees with eval in both. */
static void check_against_reference(fixture *f) {
  uint8_t(*want)[NRULES] = malloc((f->n ? f->n : 1) * sizeof *want);
  assert_non_null(want);
  for (size_t i = 0; i < f->n; i++)
    reference(f, i, want[i]);
  for (int i32 = 0; i32 <= 1; i32++) {
    use_i32(f, i32);
    for (size_t k = 0; k < NRULES; k++) {
      rt_rule *r = compile_ok(f, rule_texts[k]);
      uint64_t *bits = eval_bits(r, f);
      for (size_t i = 0; i < f->n; i++)
        if (bit(bits, i) != want[i][k])
          fail_msg("rule '%s' (%s): customer %zu: eval %d, reference %d", rule_texts[k],
                   i32 ? "i32" : "doubles", i, bit(bits, i), want[i][k]);
      check_match(r, f, bits, rule_texts[k]);
      if (f->n < 1000)
        check_format(r, f, bits, rule_texts[k]);
      free(bits);
      rt_rule_free(r);
    }
  }
  use_i32(f, 0);
  free(want);
}

static void test_operators(void **state) {
  (void)state;
  fixture *f = fixture_new(200, 42);
  check_against_reference(f);
  /* the reference itself is not trivial: most rules match some customers, not all */
  uint8_t want[NRULES];
  size_t some = 0;
  size_t counts[NRULES] = {0};
  for (size_t i = 0; i < f->n; i++) {
    reference(f, i, want);
    for (size_t k = 0; k < NRULES; k++)
      counts[k] += want[k];
  }
  for (size_t k = 0; k < NBASE; k++)
    some += counts[k] > 0 && counts[k] < f->n;
  assert_true(some >= NBASE - 6);
  fixture_free(f);
}

/* (7) n not a multiple of 64 and large enough for two threads. */
static void test_large(void **state) {
  (void)state;
  fixture *f = fixture_new(100037, 7);
  check_against_reference(f);
  fixture_free(f);
  for (size_t n = 0; n < 200; n += 13) { /* small sizes around word boundaries */
    fixture *g = fixture_new(n, n + 1);
    check_against_reference(g);
    fixture_free(g);
  }
}

/* ---- (2) error messages ---- */

static void test_errors(void **state) {
  (void)state;
  fixture *f = fixture_new(10, 1);
  const rt_rule_env *env = &f->env;
  /* unknown fields, with and without a suggestion */
  expect_error(env, "ordres > 2", RT_EINVAL,
               "unknown field 'ordres' at 1:1 \xE2\x80\x94 did you mean 'orders'?");
  expect_error(env, "orders > 2 and contry = 'DE'", RT_EINVAL,
               "unknown field 'contry' at 1:16 \xE2\x80\x94 did you mean 'country'?");
  expect_error(env, "Orders > 2", RT_EINVAL,
               "unknown field 'Orders' at 1:1 \xE2\x80\x94 did you mean 'orders'?");
  expect_error(env, "attributes.home_contry = 'DE'", RT_EINVAL,
               "unknown field 'attributes.home_contry' at 1:1 \xE2\x80\x94 did you mean "
               "'attributes.home_country'?");
  expect_error(env, "xyzzy > 1", RT_EINVAL, "unknown field 'xyzzy' at 1:1");
  expect_error(env, "orders > 1 and\n  plam = 'vip'", RT_EINVAL,
               "unknown field 'plam' at 2:3 \xE2\x80\x94 did you mean 'plan'?");
  /* syntax */
  expect_error(env, "orders >", RT_EPARSE,
               "syntax error at 1:9: expected a value after '>', found end of rule");
  expect_error(env, "revenue > 100 and", RT_EPARSE,
               "syntax error at 1:18: expected a value after 'and', found end of rule");
  expect_error(env, "(orders > 2", RT_EPARSE,
               "syntax error at 1:12: expected ')' to close the '(' at 1:1, found end of rule");
  expect_error(env, "orders > 2)", RT_EPARSE, "syntax error at 1:11: unmatched ')'");
  expect_error(env, "orders 2", RT_EPARSE,
               "syntax error at 1:8: expected 'and', 'or' or end of rule, found '2'");
  expect_error(env, "orders > > 2", RT_EPARSE,
               "syntax error at 1:10: expected a value after '>', found '>'");
  expect_error(env, "country = 'DE", RT_EPARSE,
               "syntax error at 1:11: unterminated string (no closing ')");
  expect_error(env, "orders > 2\n  and revenue ~ 5", RT_EPARSE,
               "syntax error at 2:15: unexpected character '~'");
  expect_error(env, "orders > 30days", RT_EPARSE,
               "syntax error at 1:10: invalid number '30days' (a duration is a number and one "
               "of the units d, w, m, y: 30d, 4w, 6m, 1y)");
  expect_error(env, "orders between 1 or 2", RT_EPARSE,
               "syntax error at 1:18: expected 'and' after the lower bound of 'between', found "
               "'or'");
  expect_error(env, "orders in 1, 2", RT_EPARSE,
               "syntax error at 1:11: expected '(' after 'in', found '1'");
  expect_error(env, "orders in (1 2)", RT_EPARSE,
               "syntax error at 1:14: expected ',' or ')' in the list of 'in', found '2'");
  expect_error(env, "orders is 5", RT_EPARSE,
               "syntax error at 1:11: expected 'null' or 'not null' after 'is', found '5'");
  expect_error(env, "orders not 5", RT_EPARSE,
               "syntax error at 1:12: expected 'between', 'in', 'like', 'contains', "
               "'starts_with' or 'ends_with' after 'not', found '5'");
  expect_error(env, "", RT_EPARSE, "syntax error at 1:1: the rule is empty");
  expect_error(env, "  # only a comment\n", RT_EPARSE, "syntax error at 2:1: the rule is empty");
  expect_error(env, "orders > 1e999", RT_EPARSE,
               "syntax error at 1:10: number '1e999' is out of range");
  expect_error(env, "orders > 2 \xC3\xA9", RT_EPARSE,
               "syntax error at 1:12: unexpected byte 0xC3");
  expect_error(env, "foo('x')", RT_EINVAL,
               "unknown function 'foo' at 1:1 (the only function is in_segment)");
  /* types */
  expect_error(env, "country > 5", RT_EINVAL,
               "type error at 1:9: 'country' is text, cannot compare with a number");
  expect_error(env, "5 = country", RT_EINVAL,
               "type error at 1:3: 'country' is text, cannot compare with a number");
  expect_error(env, "country + 1 > 2", RT_EINVAL,
               "type error at 1:9: cannot apply '+' to text ('country') and a number");
  expect_error(env, "orders + 'abc' > 2", RT_EINVAL,
               "type error at 1:8: cannot apply '+' to a number ('orders') and text ('abc')");
  expect_error(env, "first_order_at + first_order_at > now", RT_EINVAL,
               "type error at 1:16: cannot apply '+' to a date ('first_order_at') and a date "
               "('first_order_at')");
  expect_error(env, "orders like 'a%'", RT_EINVAL,
               "type error at 1:8: 'orders' is a number; 'like' needs text");
  expect_error(env, "country like plan", RT_EINVAL,
               "type error at 1:9: the pattern of 'like' must be a string in quotes");
  expect_error(env, "first_order_at > 'yesterday'", RT_EINVAL,
               "type error at 1:16: 'first_order_at' is a date, cannot compare with text "
               "'yesterday' (write dates as 'YYYY-MM-DD')");
  expect_error(env, "first_order_at > '2024-02-30'", RT_EINVAL,
               "invalid date '2024-02-30' at 1:18 (expected YYYY-MM-DD)");
  expect_error(env, "first_order_at > 30d", RT_EINVAL,
               "type error at 1:16: 'first_order_at' is a date, cannot compare with a number");
  expect_error(env, "orders", RT_EINVAL, "type error at 1:1: 'orders' is a number, not a condition");
  expect_error(env, "orders + 1", RT_EINVAL,
               "type error at 1:8: expected a condition, found a number");
  expect_error(env, "orders > 1 and 'x'", RT_EINVAL,
               "type error at 1:16: expected a condition, found text");
  expect_error(env, "orders = null", RT_EINVAL,
               "type error at 1:8: null is not a value; test for a missing value with 'is null' "
               "or 'is not null'");
  expect_error(env, "subscriber < true", RT_EINVAL,
               "type error at 1:12: true/false values cannot be ordered with '<'");
  expect_error(env, "subscriber = 1", RT_EINVAL,
               "type error at 1:12: 'subscriber' is true/false, cannot compare with a number");
  expect_error(env, "orders in (1, revenue)", RT_EINVAL,
               "type error at 1:15: the values of 'in' must be constants");
  expect_error(env, "orders in (1, 'a')", RT_EINVAL,
               "type error at 1:15: 'orders' is a number, cannot compare with text 'a'");
  expect_error(env, "-first_order_at < now", RT_EINVAL,
               "type error at 1:1: cannot apply '-' to a date ('first_order_at')");
  expect_error(env, "subscriber between true and false", RT_EINVAL,
               "type error at 1:12: 'between' needs numbers, dates or text, not true/false");
  expect_error(env, "in_segment('x')", RT_EINVAL, "unknown segment 'x' at 1:1");
  /* bad arguments */
  rt_rule *r;
  rt_error err;
  assert_int_equal(rt_rule_compile(NULL, env, &r, &err), RT_EINVAL);
  assert_int_equal(rt_rule_compile("orders > 1", NULL, &r, &err), RT_EINVAL);
  assert_int_equal(rt_rule_compile("orders > 1", env, &r, NULL), 0); /* err may be NULL */
  rt_rule_free(r);
  assert_int_equal(rt_rule_compile("orders >", env, &r, NULL), RT_EPARSE);
  rt_rule_free(NULL);
  fixture_free(f);
}

/* ---- (3) in_segment ---- */

static const char *segment_texts[][2] = {
    {"vip", "plan = 'vip' or revenue > 900"},
    {"active", "days_since_last_order <= 30"},
    {"active_vip", "in_segment('vip') and in_segment('active')"},
    {"loop_a", "in_segment('loop_b')"},
    {"loop_b", "orders > 1 or in_segment('loop_a')"},
    {"self", "in_segment('self')"},
    {"broken", "orders >"},
    {"typo", "ordres > 1"},
    {"clock", "first_order_at > now - 30d"},
    {"IN_CAPS", "country = 'DE'"},
};

static const char *segment_rule(void *ctx, const char *name) {
  (void)ctx;
  for (size_t i = 0; i < sizeof segment_texts / sizeof *segment_texts; i++)
    if (!strcmp(segment_texts[i][0], name))
      return segment_texts[i][1];
  /* deep0 .. deep30: each includes the next */
  int k;
  static char buf[64];
  if (sscanf(name, "deep%d", &k) == 1) {
    snprintf(buf, sizeof buf, "in_segment('deep%d')", k + 1);
    return buf;
  }
  return NULL;
}

/* text and expanded compile to the same customers. */
static void expect_same(const fixture *f, const char *text, const char *expanded) {
  rt_rule *a = compile_ok(f, text), *b = compile_ok(f, expanded);
  uint64_t *x = eval_bits(a, f), *y = eval_bits(b, f);
  assert_memory_equal(x, y, (f->n + 63) / 64 * sizeof *x);
  check_match(a, f, x, text);
  free(x);
  free(y);
  rt_rule_free(a);
  rt_rule_free(b);
}

/* Text values: a closed field (every value it can take is in its dictionary) refuses others
 * with the nearest one suggested; an open one warns, since the value may appear later. */
static void test_values(void **state) {
  (void)state;
  fixture *f = fixture_new(10, 1);
  f->cols[6].closed = 1; /* plan */
  const rt_rule_env *env = &f->env;
  expect_error(env, "plan = 'vp'", RT_EINVAL,
               "'plan' has no value 'vp' (at 1:8) \xE2\x80\x94 did you mean 'vip'?");
  expect_error(env, "orders > 1 and plan in ('pro', 'pr0')", RT_EINVAL,
               "'plan' has no value 'pr0' (at 1:32) \xE2\x80\x94 did you mean 'pro'?");
  expect_error(env, "'enterprise' != plan", RT_EINVAL,
               "'plan' has no value 'enterprise' (at 1:1); its values are 'free', 'pro', "
               "'pro_plus', 'vip', '100%', 'Vip'");
  rt_rule *r = NULL;
  rt_error err = {0};
  /* values it has, orderings and patterns are fine, without warnings */
  assert_int_equal(rt_rule_compile("plan in ('pro', 'Vip') or plan > 'a' or plan like 'p%'", env,
                                   &r, &err), 0);
  assert_int_equal(rt_rule_nwarnings(r), 0);
  rt_rule_free(r);
  /* an open field: compiled, with a warning each */
  assert_int_equal(rt_rule_compile("country = 'Finlnd' or country in ('XX', 'DE')", env, &r,
                                   &err), 0);
  assert_int_equal(rt_rule_nwarnings(r), 2);
  assert_string_equal(rt_rule_warning(r, 0), "no customer has country 'Finlnd' now (at 1:11) "
                                             "\xE2\x80\x94 did you mean 'Finland'?");
  assert_string_equal(rt_rule_warning(r, 1), "no customer has country 'XX' now (at 1:35)");
  assert_null(rt_rule_warning(r, 2));
  rt_rule_free(r);
  fixture_free(f);
}

static void test_segments(void **state) {
  (void)state;
  fixture *f = fixture_new(300, 3);
  f->env.segment_rule = segment_rule;
  expect_same(f, "in_segment('vip')", "plan = 'vip' or revenue > 900");
  expect_same(f, "in_segment('active_vip') and not in_segment('vip')", "false");
  expect_same(f, "in_segment('active_vip') or orders = 0",
              "(plan = 'vip' or revenue > 900) and days_since_last_order <= 30 or orders = 0");
  expect_same(f, "not in_segment('active')", "not (days_since_last_order <= 30)");
  expect_same(f, "IN_SEGMENT('IN_CAPS')", "country = 'DE'");

  rt_rule *r = compile_ok(f, "in_segment('active_vip') and country = 'DE'");
  assert_int_equal(rt_rule_nfields(r), 4);
  assert_string_equal(rt_rule_field(r, 0), "plan");
  assert_string_equal(rt_rule_field(r, 1), "revenue");
  assert_string_equal(rt_rule_field(r, 2), "days_since_last_order");
  assert_string_equal(rt_rule_field(r, 3), "country");
  assert_null(rt_rule_field(r, 4));
  assert_int_equal(rt_rule_uses_clock(r), 0);
  char *s = rt_rule_format(r);
  assert_string_equal(s, "in_segment('active_vip') and country = 'DE'");
  rt_free(s);
  rt_rule_free(r);
  r = compile_ok(f, "orders > 1 or in_segment('clock')");
  assert_int_equal(rt_rule_uses_clock(r), 1);
  rt_rule_free(r);

  expect_error(&f->env, "in_segment('loop_a')", RT_EINVAL,
               "in segment 'loop_a' at 1:1: in segment 'loop_b' at 1:1: segment cycle at 1:15: "
               "'loop_a' -> 'loop_b' -> 'loop_a'");
  expect_error(&f->env, "orders > 1 and in_segment('self')", RT_EINVAL,
               "in segment 'self' at 1:16: segment cycle at 1:1: 'self' -> 'self'");
  expect_error(&f->env, "in_segment('nope')", RT_EINVAL, "unknown segment 'nope' at 1:1");
  expect_error(&f->env, "in_segment('broken')", RT_EPARSE,
               "in segment 'broken' at 1:1: syntax error at 1:9: expected a value after '>', "
               "found end of rule");
  expect_error(&f->env, "in_segment('typo')", RT_EINVAL,
               "in segment 'typo' at 1:1: unknown field 'ordres' at 1:1 \xE2\x80\x94 did you "
               "mean 'orders'?");
  expect_error(&f->env, "in_segment(vip)", RT_EPARSE,
               "syntax error at 1:12: expected a segment name in quotes after 'in_segment(', "
               "found 'vip'");
  /* the segment being defined: including itself through another is a cycle */
  f->env.name = "vip";
  expect_error(&f->env, "in_segment('active_vip')", RT_EINVAL,
               "in segment 'active_vip' at 1:1: segment cycle at 1:1: 'vip' -> 'active_vip' -> "
               "'vip'");
  expect_error(&f->env, "in_segment('vip')", RT_EINVAL,
               "segment cycle at 1:1: 'vip' -> 'vip'");
  f->env.name = NULL;
  /* depth */
  rt_rule *d = NULL;
  rt_error err = {0};
  assert_int_equal(rt_rule_compile("in_segment('deep0')", &f->env, &d, &err), RT_EPARSE);
  assert_non_null(strstr(err.msg, "segments nest too deeply at 1:1 (more than 16 levels"));
  /* no callback: every segment is unknown */
  f->env.segment_rule = NULL;
  expect_error(&f->env, "in_segment('vip')", RT_EINVAL, "unknown segment 'vip' at 1:1");
  fixture_free(f);
}

/* ---- (4) dates and durations ---- */

static void test_dates(void **state) {
  (void)state;
  fixture *f = fixture_new(64, 5);
  /* constant date arithmetic folds: '2024-01-31' + 30d is 2024-03-01 (a leap year) */
  const char *always[] = {
      "'2024-01-31' + 30d = '2024-03-01'",  "now = '2024-03-01' and today = now",
      "now - '2024-01-01' = 60",            "now - 1w = '2024-02-23'",
      "1y = 365 and 1m = 30 and 2w = 14d",  "1.5w = 10.5",
      "now - 1d between '2024-02-01' and '2024-02-29'",
      "'2024-02-29' in ('2024-02-28', '2024-02-29')",
      "(now + 0.5d) - now = 0.5",           "'abc' < 'abd' and 'b' > 'a'",
      "'vip' like 'v_p' and 'a%b' like 'a\\%b' and not 'axb' like 'a\\%b'",
      "'Finland' contains 'land' and 'Finland' starts_with 'Fin' and 'x' ends_with ''",
      "1 / 0 is null and (0 - 1) * 2 = -2 and 7 / 2 = 3.5",
      "not (1 / 0 not in (1, 2)) and not (1 / 0 in (1, 2)) and not (0 / 0 = 0 / 0)",
  };
  for (size_t k = 0; k < sizeof always / sizeof *always; k++) {
    rt_rule *r = compile_ok(f, always[k]);
    uint64_t *bits = eval_bits(r, f);
    if (bits[0] != ~0ULL)
      fail_msg("'%s' is not always true", always[k]);
    free(bits);
    rt_rule_free(r);
  }
  /* a rule on the clock moves with env.today */
  for (int32_t shift = -40; shift <= 40; shift += 20) {
    f->env.today = TODAY + shift;
    rt_rule *r = compile_ok(f, "first_order_at >= now - 30d and first_order_at <= today");
    assert_int_equal(rt_rule_uses_clock(r), 1);
    uint64_t *bits = eval_bits(r, f);
    for (size_t i = 0; i < f->n; i++) {
      int32_t d = f->first[i];
      int want = d != INT32_MIN && d >= TODAY + shift - 30 && d <= TODAY + shift;
      assert_int_equal(bit(bits, i), want);
    }
    free(bits);
    rt_rule_free(r);
  }
  f->env.today = TODAY;
  rt_rule *r = compile_ok(f, "first_order_at >= '2024-01-31'");
  assert_int_equal(rt_rule_uses_clock(r), 0);
  assert_int_equal(rt_rule_nfields(r), 1);
  assert_string_equal(rt_rule_field(r, 0), "first_order_at");
  rt_rule_free(r);
  /* formatting normalizes keywords, spacing and quotes, and keeps durations as written */
  r = compile_ok(f, "first_order_at>=NOW-1.5W  AND  country IN('DE',\"it's\")OR NOT subscriber");
  char *s = rt_rule_format(r);
  assert_string_equal(s,
                      "first_order_at >= now - 1.5w and country in ('DE', 'it''s') or not subscriber");
  rt_free(s);
  rt_rule_free(r);
  fixture_free(f);
}

/* ---- (5) limits ---- */

static char *repeat(const char *head, const char *unit, size_t times, const char *tail) {
  size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
  char *s = malloc(hl + ul * times + tl + 1);
  assert_non_null(s);
  memcpy(s, head, hl);
  for (size_t i = 0; i < times; i++)
    memcpy(s + hl + i * ul, unit, ul);
  memcpy(s + hl + ul * times, tail, tl + 1);
  return s;
}

static void expect_limit(const fixture *f, char *text, int code, const char *what) {
  rt_rule *r = NULL;
  rt_error err = {0};
  assert_int_equal(rt_rule_compile(text, &f->env, &r, &err), code);
  assert_null(r);
  if (!strstr(err.msg, what))
    fail_msg("expected '%s' in '%s'", what, err.msg);
  free(text);
}

static void test_limits(void **state) {
  (void)state;
  fixture *f = fixture_new(100, 9);
  /* deep but within the limit: compiles and evaluates */
  char *ok = repeat("", "(", 150, "orders > 1");
  char *ok2 = repeat(ok, ")", 150, "");
  rt_rule *r = compile_ok(f, ok2);
  uint64_t *bits = eval_bits(r, f);
  check_match(r, f, bits, "deep");
  free(bits);
  rt_rule_free(r);
  free(ok);
  free(ok2);
  const char *deep = "the rule nests too deeply (more than 200 levels)";
  expect_limit(f, repeat("", "(", 1000, "orders > 1"), RT_EPARSE, deep);
  expect_limit(f, repeat("", "not ", 5000, "subscriber"), RT_EPARSE, deep);
  expect_limit(f, repeat("", "-", 5000, "orders > 1"), RT_EPARSE, deep);
  expect_limit(f, repeat("orders", " + 1", 300, " > 1"), RT_EPARSE, deep);
  expect_limit(f, repeat("orders > 1", " and (orders > 1", 250, ""), RT_EPARSE, deep);
  expect_limit(f, repeat("orders in (0", ", 1", 5000, ")"), RT_EPARSE,
               "too many values in the list of 'in' (at most 4096)");
  expect_limit(f, repeat("orders > 1", " or orders > 1", 5000, ""), RT_EPARSE,
               "the rule is too long (70010 bytes; at most 65536)");
  /* long flat lists are fine: and/or chains do not nest */
  char *flat = repeat("orders > 1", " or orders = 2", 4000, "");
  r = compile_ok(f, flat);
  rt_rule_free(r);
  free(flat);
  char *list = repeat("orders in (0", ", 1", 4000, ")");
  r = compile_ok(f, list);
  rt_rule_free(r);
  free(list);
  /* in_segment expansion is bounded too: 16 levels of 2 copies each */
  fixture_free(f);
}

/* ---- allocation failures ---- */

static void test_out_of_memory(void **state) {
  (void)state;
  fixture *f = fixture_new(70000, 11); /* two threads' scratch */
  f->env.segment_rule = segment_rule;
  const char *text = "in_segment('active_vip') and country in ('DE', 'AT') or plan like 'p%' or "
                     "country = attributes.home_country or revenue / orders not between 1 and 9";
  int succeeded = 0;
  for (long k = 0; k < 400 && !succeeded; k++) {
    rt_rule *r = NULL;
    rt_error err = {0};
    rt_alloc_fail_after(k);
    int rc = rt_rule_compile(text, &f->env, &r, &err);
    rt_alloc_fail_after(-1);
    if (rc) {
      assert_int_equal(rc, RT_ENOMEM);
      assert_null(r);
      continue;
    }
    succeeded = 1;
    uint64_t *bits = malloc((f->n + 63) / 64 * sizeof *bits);
    rt_alloc_fail_after(0);
    assert_int_equal(rt_rule_eval(r, bits, &err), RT_ENOMEM);
    assert_null(rt_rule_format(r));
    rt_alloc_fail_after(-1);
    assert_int_equal(rt_rule_eval(r, bits, &err), 0);
    check_match(r, f, bits, text);
    free(bits);
    rt_rule_free(r);
  }
  assert_true(succeeded);
  /* no customers at all */
  fixture *e = fixture_new(0, 1);
  rt_rule *r = compile_ok(e, "orders > 1 and country = 'DE'");
  assert_int_equal(rt_rule_eval(r, NULL, NULL), 0);
  assert_int_equal(rt_rule_match(r, 0), 0);
  rt_rule_free(r);
  fixture_free(e);
  fixture_free(f);
}

/* ---- (6) random and mutated rules ---- */

static const char *const vocab[] = {
    "orders", "revenue", "country", "plan", "subscriber", "first_order_at", "last_order_at",
    "churn_risk", "attributes.home_country", "days_since_last_order", "balance", "ordres",
    "and", "or",
    "not", "in", "is", "null", "like", "between", "true", "false", "now", "today", "contains",
    "starts_with", "ends_with", "AND", "(", ")", ",", "+", "-", "*", "/", "=", "==", "!=",
    "<>", "<", "<=", ">", ">=", "0", "2", "3.5", "1e3", "30d", "2w", "6m", "1y", "'DE'",
    "'F%'", "'2024-01-31'", "\"vip\"", "''", "'it''s'", "in_segment('vip')",
    "in_segment('loop_a')", "in_segment('nope')", "~", "#c\n", "\n", "\"", "'", "1e", ".5",
    "@", "\xC3\xA9", "1.5w", "-1", "'%land'", "'_S'",
};

static void random_text(char *buf, size_t cap) {
  size_t len = 0, n = 1 + rndn(16);
  buf[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    const char *t = vocab[rndn(sizeof vocab / sizeof *vocab)];
    const char *sep = rndn(4) ? " " : "";
    len += (size_t)snprintf(buf + len, cap - len, "%s%s", t, sep);
    if (len >= cap - 64)
      break;
  }
}

#define RT_MIN_(a, b) ((a) < (b) ? (a) : (b))

static void mutate(char *buf, size_t cap, size_t times) {
  static const char bytes[] = "()'\",%_\\ #\n-+*/<>=!0123456789.dwmyaz";
  for (size_t m = times; m > 0; m--) {
    size_t len = strlen(buf);
    size_t at = len ? rndn(len + 1) : 0;
    switch (rndn(5)) {
    case 0: /* delete a run */
      if (len) {
        size_t k = 1 + rndn(RT_MIN_(len - RT_MIN_(at, len - 1), 6));
        at = RT_MIN_(at, len - 1);
        memmove(buf + at, buf + at + k, len - at - k + 1);
      }
      break;
    case 1: /* insert a byte */
      if (len + 2 < cap) {
        memmove(buf + at + 1, buf + at, len - at + 1);
        buf[at] = rndn(8) ? bytes[rndn(sizeof bytes - 1)] : (char)(0x80 + rndn(128));
      }
      break;
    case 2: /* duplicate a run */
      if (len && len * 2 + 1 < cap) {
        char run[4096];
        size_t from = rndn(len), k = 1 + rndn(len - from);
        memcpy(run, buf + from, k);
        memmove(buf + at + k, buf + at, len - at + 1);
        memcpy(buf + at, run, k);
      }
      break;
    case 3: /* a random token */
      if (len + 40 < cap) {
        const char *t = vocab[rndn(sizeof vocab / sizeof *vocab)];
        size_t tl = strlen(t);
        memmove(buf + at + tl, buf + at, len - at + 1);
        memcpy(buf + at, t, tl);
      }
      break;
    default: /* cut */
      buf[at] = '\0';
      break;
    }
  }
}

/* Well-typed random rules: cond, num and date generators. */
static void gen_num(char *b, size_t cap, int depth);
static void gen_date(char *b, size_t cap, int depth);
static void app(char *b, size_t cap, const char *s) {
  size_t l = strlen(b);
  snprintf(b + l, cap - l, "%s", s);
}

static void gen_num(char *b, size_t cap, int depth) {
  static const char *fields[] = {"orders", "revenue", "churn_risk", "days_since_last_order",
                                 "balance"};
  static const char *lits[] = {"0",   "1",    "2",    "3.5",  "1e3",        "30d",
                               "1.5w", "0.5", "100", "1e12", "2147483647", "(0 / 0)"};
  switch (depth > 3 ? rndn(2) : rndn(7)) {
  case 0:
    app(b, cap, fields[rndn(5)]);
    break;
  case 1:
    app(b, cap, lits[rndn(12)]);
    break;
  case 2:
  case 3:
    gen_num(b, cap, depth + 1);
    app(b, cap, (const char *[]){" + ", " - ", " * ", " / "}[rndn(4)]);
    gen_num(b, cap, depth + 1);
    break;
  case 4:
    app(b, cap, "-");
    gen_num(b, cap, depth + 1);
    break;
  case 5:
    app(b, cap, "(");
    gen_num(b, cap, depth + 1);
    app(b, cap, ")");
    break;
  default: /* days between two dates */
    app(b, cap, "(");
    gen_date(b, cap, depth + 1);
    app(b, cap, " - ");
    gen_date(b, cap, depth + 1);
    app(b, cap, ")");
    break;
  }
}

static void gen_date(char *b, size_t cap, int depth) {
  static const char *dates[] = {"first_order_at", "last_order_at", "now", "today"};
  if (depth > 3 || rndn(3)) {
    app(b, cap, dates[rndn(4)]);
    return;
  }
  gen_date(b, cap, depth + 1);
  app(b, cap, rndn(2) ? " + " : " - ");
  app(b, cap, (const char *[]){"30d", "2w", "1.5d", "1y", "days_since_last_order"}[rndn(5)]);
}

static void gen_cond(char *b, size_t cap, int depth) {
  static const char *cmps[] = {" = ", " != ", " < ", " <= ", " > ", " >= "};
  static const char *texts[] = {"country", "plan", "attributes.home_country"};
  static const char *strs[] = {"'DE'", "'Finland'", "'vip'", "'pro'", "'G'", "'it''s'", "'US'"};
  switch (depth > 3 ? 2 + rndn(9) : rndn(14)) {
  case 0:
    gen_cond(b, cap, depth + 1);
    app(b, cap, rndn(2) ? " and " : " or ");
    gen_cond(b, cap, depth + 1);
    break;
  case 1:
    app(b, cap, rndn(2) ? "not (" : "(");
    gen_cond(b, cap, depth + 1);
    app(b, cap, ")");
    break;
  case 2:
  case 3:
    gen_num(b, cap, depth + 1);
    app(b, cap, cmps[rndn(6)]);
    gen_num(b, cap, depth + 1);
    break;
  case 4:
    gen_num(b, cap, depth + 1);
    app(b, cap, rndn(2) ? " between " : " not between ");
    gen_num(b, cap, depth + 1);
    app(b, cap, " and ");
    gen_num(b, cap, depth + 1);
    break;
  case 5:
    gen_num(b, cap, depth + 1);
    app(b, cap, rndn(2) ? " in (1, 2, 0.5" : " not in (3, 0, 100, 5");
    app(b, cap, rndn(2) ? ", 7)" : ")");
    break;
  case 6:
    app(b, cap, texts[rndn(3)]);
    app(b, cap, cmps[rndn(6)]);
    app(b, cap, rndn(4) ? strs[rndn(7)] : texts[rndn(3)]);
    break;
  case 7:
    app(b, cap, texts[rndn(3)]);
    if (rndn(3)) {
      app(b, cap, (const char *[]){" like ", " not like ", " contains ", " starts_with ",
                                   " not ends_with "}[rndn(5)]);
      app(b, cap, (const char *[]){"'%land'", "'_S'", "'F%'", "'V%'", "'i'"}[rndn(5)]);
    } else {
      app(b, cap, rndn(2) ? " in " : " not in ");
      app(b, cap, (const char *[]){"('DE', 'US')", "('vip')", "('x', 'pro', 'AT')"}[rndn(3)]);
    }
    break;
  case 8:
    gen_date(b, cap, depth + 1);
    app(b, cap, cmps[rndn(6)]);
    app(b, cap, rndn(2) ? "'2023-06-01'" : "now - 90d");
    break;
  case 9:
    app(b, cap, (const char *[]){"subscriber", "not subscriber", "subscriber = false",
                                 "subscriber != (orders > 3)", "subscriber is null",
                                 "in_segment('vip')", "true", "subscriber in (false)"}[rndn(8)]);
    break;
  case 10:
    gen_num(b, cap, depth + 1);
    app(b, cap, rndn(2) ? " is null" : " is not null");
    break;
  case 11:
    gen_date(b, cap, depth + 1);
    app(b, cap, rndn(2) ? " between '2023-01-01' and now" : " not between now - 1y and now");
    break;
  case 12:
    gen_date(b, cap, depth + 1);
    app(b, cap, cmps[rndn(6)]);
    gen_date(b, cap, depth + 1);
    break;
  default:
    app(b, cap, texts[rndn(3)]);
    app(b, cap, rndn(2) ? " is null" : " between 'B' and 'G'");
    break;
  }
}

/* Compiles text: on failure the error is clean; on success eval, match and format agree.
 * Then once more with i32 on the whole-number columns: the same outcome and the same
 * customers. Returns 1 when it compiled. */
static int try_rule(fixture *f, const char *text) {
  uint64_t *first = NULL;
  int compiled = 0;
  for (int i32 = 0; i32 <= 1; i32++) {
    use_i32(f, i32);
    rt_rule *r = (rt_rule *)(uintptr_t)1;
    rt_error err = {0};
    int rc = rt_rule_compile(text, &f->env, &r, &err);
    if (i32 && (rc == 0) != compiled)
      fail_msg("rule '%s': compiles with doubles %d, with i32 %d", text, compiled, !rc);
    if (rc) {
      if (!(rc == RT_EPARSE || rc == RT_EINVAL) || err.code != rc || !err.msg[0] || r)
        fail_msg("rule '%s': bad failure %d \"%s\"", text, rc, err.msg);
      continue;
    }
    compiled = 1;
    uint64_t *bits = eval_bits(r, f);
    check_match(r, f, bits, text);
    check_format(r, f, bits, text);
    for (size_t i = 0; i < rt_rule_nfields(r); i++)
      assert_non_null(rt_rule_field(r, i));
    if (!i32)
      first = bits;
    else {
      if (f->n && memcmp(first, bits, (f->n + 63) / 64 * sizeof *bits))
        fail_msg("rule '%s': i32 and doubles give different customers", text);
      free(bits);
    }
    rt_rule_free(r);
  }
  use_i32(f, 0);
  free(first);
  return compiled;
}

static void test_random(void **state) {
  (void)state;
  fixture *f = fixture_new(150, 13);
  f->env.segment_rule = segment_rule;
  rng_state = 0x9E3779B97F4A7C15ULL;
  char buf[4096];
  size_t compiled = 0;
  for (int k = 0; k < 20000; k++) {
    switch (k % 3) {
    case 0: /* a soup of tokens */
      random_text(buf, sizeof buf);
      break;
    case 1: /* a hand-written rule, mutated */
      snprintf(buf, sizeof buf, "%s", rule_texts[rndn(NRULES)]);
      mutate(buf, sizeof buf, 1 + rndn(3));
      break;
    default: /* a generated rule, mutated once or not at all */
      buf[0] = '\0';
      gen_cond(buf, sizeof buf, 0);
      mutate(buf, sizeof buf, rndn(2));
      break;
    }
    uint64_t saved = rng_state;
    compiled += (size_t)try_rule(f, buf);
    rng_state = saved;
  }
  assert_true(compiled > 2000);
  size_t typed = 0;
  for (int k = 0; k < 4000; k++) {
    buf[0] = '\0';
    gen_cond(buf, sizeof buf, 0);
    uint64_t saved = rng_state;
    if (!try_rule(f, buf)) {
      rt_rule *r;
      rt_error err;
      rt_rule_compile(buf, &f->env, &r, &err);
      fail_msg("generated rule '%s' fails: %s", buf, err.msg);
    }
    rng_state = saved;
    typed++;
  }
  assert_int_equal(typed, 4000);
  fixture_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_operators), cmocka_unit_test(test_errors), cmocka_unit_test(test_values),
      cmocka_unit_test(test_segments),  cmocka_unit_test(test_dates),
      cmocka_unit_test(test_limits),    cmocka_unit_test(test_out_of_memory),
      cmocka_unit_test(test_random),    cmocka_unit_test(test_large),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
