/* fuzz_date.c - libFuzzer target for the date and time parser (src/base/dateparse.c), which
 * reads every date of an import file and every timestamp of the events API.
 *
 * The first byte picks the time zone (UTC or Europe/Berlin, whose offsets change) and whether
 * the input holds a pattern: then the text up to the first NUL is compiled as a
 * --date-format pattern and the rest parsed with it; else the rest is parsed in the automatic
 * formats. A parse must succeed or fail with RT_EPARSE and a message; a time it took,
 * formatted as ISO 8601 in UTC, must parse back to the same instant.
 *
 *   CC=clang cmake -S . -B /tmp/build-fuzz -G Ninja -DRT_FUZZ=ON -DRT_SANITIZE=ON && \
 *   cmake --build /tmp/build-fuzz --target fuzz_date && \
 *   cp -r tests/fuzz/corpus_date /tmp/corpus_date && \
 *   /tmp/build-fuzz/fuzz_date -max_total_time=600 /tmp/corpus_date */
#include <retain/datetime.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  static rt_tz *berlin;
  static int loaded;
  if (!loaded) {
    loaded = 1;
    rt_error e = {0};
    if (rt_tz_load("Europe/Berlin", &berlin, &e))
      berlin = NULL; /* no tzdata: UTC only */
  }
  const rt_tz *tz = data[0] & 1 ? berlin : NULL;
  const char *s = (const char *)data + 1;
  size_t n = size - 1;
  rt_datefmt *fmt = NULL;
  rt_error err = {0};
  if (data[0] & 2) {
    const char *nul = memchr(s, '\0', n);
    if (!nul)
      return 0;
    if (rt_datefmt_compile(s, &fmt, &err)) {
      if (!err.msg[0])
        abort();
      return 0;
    }
    n -= (size_t)(nul + 1 - s);
    s = nul + 1;
  }
  int64_t ms;
  rt_error_clear(&err);
  int rc = rt_date_parse(fmt, s, n, tz, &ms, &err);
  if (rc && (rc != RT_EPARSE || !err.msg[0]))
    abort();
  if (!rc) { /* formatted in UTC (with Z: a zone's offset may have seconds before 1900, which
               * ISO 8601 cannot write), the instant must read back */
    char iso[64];
    rt_time_format(NULL, ms, iso, sizeof iso);
    int64_t back;
    /* except before year 0 in UTC (1/1/0000 east of Greenwich): "-001-12-31T..." is no ISO
     * 8601 a reader takes without an agreement on expanded years */
    if (iso[0] != '-' && (rt_date_parse(NULL, iso, strlen(iso), tz, &back, &err) || back != ms))
      abort();
  }
  rt_datefmt_free(fmt);
  return 0;
}
