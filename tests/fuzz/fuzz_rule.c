/* fuzz_rule.c - libFuzzer target for the segment rule language (src/rule/).
 *
 * The first input byte picks the clock and whether the rule is compiled as a named segment;
 * the rest is the rule text (cut at a NUL). Fixed columns with missing values and a few
 * segments (one of them cyclic, one the input itself) make up the env. A rule must compile or
 * fail with RT_EPARSE / RT_EINVAL and a message; when it compiles, rt_rule_match must agree
 * with rt_rule_eval for every customer, the bits past n must be 0, and the formatted rule must
 * compile to the same customers and format to itself.
 *
 * The fuzz targets' CMake build instruments only the target file for coverage; to let
 * libFuzzer see inside the library, instrument it too:
 *
 *   CC=clang cmake -S . -B /tmp/build-fuzz -G Ninja -DRT_FUZZ=ON -DRT_SANITIZE=ON \
 *     -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link
 *   cmake --build /tmp/build-fuzz --target fuzz_rule && /tmp/build-fuzz/fuzz_rule -max_total_time=60 */
#include <retain/alloc.h>
#include <retain/rule.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define N 131 /* two words and a part */

static double orders[N], revenue[N], subscriber[N];
static int32_t first[N];
static uint32_t country[N], plan[N];
static const char *const countries[] = {"DE", "US", "Finland", "it's", "", "100%"};
static const char *const plans[] = {"free", "pro", "vip"};
static rt_column cols[] = {
    {.name = "orders", .type = RT_TYPE_NUMBER, .num = orders},
    {.name = "revenue", .type = RT_TYPE_NUMBER, .num = revenue},
    {.name = "subscriber", .type = RT_TYPE_BOOL, .num = subscriber},
    {.name = "first_order_at", .type = RT_TYPE_DATE, .day = first},
    {.name = "country", .type = RT_TYPE_TEXT, .code = country, .dict = countries, .ndict = 6},
    {.name = "attributes.plan", .type = RT_TYPE_TEXT, .code = plan, .dict = plans, .ndict = 3},
};

static const char *input;

static const char *segment(void *ctx, const char *name) {
  (void)ctx;
  if (!strcmp(name, "vip"))
    return "attributes.plan = 'vip' or revenue > 500";
  if (!strcmp(name, "a"))
    return "in_segment('b') and orders > 1";
  if (!strcmp(name, "b"))
    return "not in_segment('a')";
  if (!strcmp(name, "input"))
    return input;
  return NULL;
}

static void fill(void) {
  uint64_t s = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < N; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    unsigned r = (unsigned)(s >> 33);
    orders[i] = r % 9 == 0 ? NAN : (double)(r % 7);
    revenue[i] = r % 11 == 0 ? NAN : (double)(r % 1000) / 4;
    subscriber[i] = r % 5 == 0 ? NAN : (double)(r >> 3 & 1);
    first[i] = r % 13 == 0 ? INT32_MIN : 19700 + (int32_t)(r % 200);
    country[i] = r % 10 == 0 ? UINT32_MAX : (r >> 5) % 7; /* 6 is past the dictionary */
    plan[i] = (r >> 9) % 4 == 3 ? UINT32_MAX : (r >> 9) % 4;
  }
}

static void eval(const rt_rule *r, uint64_t *bits) {
  if (rt_rule_eval(r, bits, NULL))
    abort();
  if (bits[N / 64] >> (N % 64))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  if (!ready) {
    fill();
    ready = 1;
  }
  if (size < 1)
    return 0;
  char *text = malloc(size);
  if (!text)
    return 0;
  memcpy(text, data + 1, size - 1);
  text[size - 1] = '\0';
  input = text;
  rt_rule_env env = {.cols = cols,
                     .ncols = sizeof cols / sizeof *cols,
                     .n = N,
                     .today = 19750 + (data[0] & 63),
                     .segment_rule = segment};
  if (data[0] & 64)
    env.name = "input";

  rt_rule *r = NULL;
  rt_error err = {0};
  int rc = rt_rule_compile(text, &env, &r, &err);
  if (rc) {
    if ((rc != RT_EPARSE && rc != RT_EINVAL) || err.code != rc || !err.msg[0] || r)
      abort();
    free(text);
    return 0;
  }
  uint64_t bits[(N + 63) / 64], again[(N + 63) / 64];
  eval(r, bits);
  for (size_t i = 0; i < N; i++)
    if (rt_rule_match(r, i) != (int)(bits[i / 64] >> (i % 64) & 1))
      abort();
  for (size_t i = 0; i < rt_rule_nfields(r); i++)
    if (!rt_rule_field(r, i))
      abort();

  char *s = rt_rule_format(r), *s2 = NULL;
  rt_rule *r2 = NULL;
  if (!s)
    abort();
  if (strlen(s) > RT_RULE_MAX_LEN) { /* spaces around operators can take it over the limit */
    rt_free(s);
    rt_rule_free(r);
    free(text);
    return 0;
  }
  if (rt_rule_compile(s, &env, &r2, &err))
    abort();
  eval(r2, again);
  if (memcmp(bits, again, sizeof bits))
    abort();
  if (!(s2 = rt_rule_format(r2)) || strcmp(s, s2))
    abort();
  rt_free(s);
  rt_free(s2);
  rt_rule_free(r2);
  rt_rule_free(r);
  free(text);
  return 0;
}
