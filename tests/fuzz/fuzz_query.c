/* fuzz_query.c - libFuzzer target for what `retain serve` parses out of a URL: the period
 * parameters of /v1/metrics and /v1/cohorts (period, from, to), the timeline's cursor token,
 * and a path's {id} (normalised to NFC before it is looked up).
 *
 * The input is the parameter's text (cut at a NUL, as a query value is). A period unit or
 * label must parse or fail with a message; a label it reads must name a period whose own label
 * reads back to it; a cursor token it reads must format back to the same token.
 *
 *   CC=clang cmake -S . -B /tmp/build-fuzz -G Ninja -DRT_FUZZ=ON -DRT_SANITIZE=ON && \
 *   cmake --build /tmp/build-fuzz --target fuzz_query && \
 *   cp -r tests/fuzz/corpus_query /tmp/corpus_query && \
 *   /tmp/build-fuzz/fuzz_query -max_total_time=600 /tmp/corpus_query */
#include <retain/datetime.h>
#include <retain/store.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char s[256];
  size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
  memcpy(s, data, n);
  s[n] = '\0';
  n = strlen(s);
  rt_period_unit u;
  if (rt_period_unit_parse(s, &u) == 0 && (u < RT_PERIOD_DAY || u > RT_PERIOD_YEAR))
    abort();
  for (int k = RT_PERIOD_DAY; k <= RT_PERIOD_YEAR; k++) {
    int64_t p, back;
    rt_error err = {0};
    if (rt_period_parse_label((rt_period_unit)k, s, &p, &err)) {
      if (!err.msg[0])
        abort();
      continue;
    }
    char label[64];
    rt_period_label((rt_period_unit)k, p, label, sizeof label);
    if (rt_period_parse_label((rt_period_unit)k, label, &back, &err) || back != p)
      abort();
  }
  rt_timeline_cursor c;
  rt_error err = {0};
  if (rt_timeline_cursor_parse(s, n, &c, &err) == 0) {
    char tok[RT_TIMELINE_TOKEN_SIZE];
    if (rt_timeline_cursor_format(&c, tok, sizeof tok) || strcmp(tok, s))
      abort();
  } else if (!err.msg[0]) {
    abort();
  }
  char *nfc;
  size_t len;
  const char *why;
  if (rt__id_check(s, n, &nfc, &len, &why) == 0)
    free(nfc);
  else if (!why)
    abort();
  return 0;
}
