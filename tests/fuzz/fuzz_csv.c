/* fuzz_csv.c - libFuzzer target for the CSV reader (src/io/csv.c).
 *
 * The first input byte picks the options (whitespace mode, Latin-1, the delimiter) and a read
 * size; the rest is the CSV. The input is read from memory and, through a memfd, as a file cut
 * into chunks of that size; both must give the same records and the same error. Every field
 * must be NUL-terminated valid UTF-8 (what the reader promises), whatever the input.
 *
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
 *     -Iinclude -Isrc tests/fuzz/fuzz_csv.c src/io/csv.c src/base/error.c src/base/alloc.c \
 *     -o /tmp/fuzz_csv && /tmp/fuzz_csv -max_total_time=60 */
#define _GNU_SOURCE
#include <retain/csv.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The test hook of src/io/csv_internal.h (declared here: fuzz targets see only include/). */
void rt__csv_set_chunk(rt_csv *c, size_t n);

static int valid_utf8(const unsigned char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned b = p[i], lo = 0x80, hi = 0xBF;
    size_t k;
    if (b < 0x80) {
      i++;
      continue;
    }
    if (b >= 0xC2 && b <= 0xDF)
      k = 2;
    else if (b >= 0xE0 && b <= 0xEF)
      k = 3, lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
    else if (b >= 0xF0 && b <= 0xF4)
      k = 4, lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
    else
      return 0;
    if (n - i < k)
      return 0;
    for (size_t j = 1; j < k; j++) {
      if (p[i + j] < lo || p[i + j] > hi)
        return 0;
      lo = 0x80, hi = 0xBF;
    }
    i += k;
  }
  return 1;
}

static uint64_t mix(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * 0x100000001B3ull;
  return h;
}

/* A digest of every record and of the way the reading ended. */
static uint64_t digest(rt_csv *c) {
  uint64_t h = 0xCBF29CE484222325ull;
  rt_csv_record rec;
  rt_error err = {0};
  int rc;
  while ((rc = rt_csv_next(c, &rec, &err)) == 1) {
    if (rec.nfields == 0)
      abort();
    h = mix(h, &rec.line, sizeof rec.line);
    h = mix(h, &rec.nfields, sizeof rec.nfields);
    for (size_t i = 0; i < rec.nfields; i++) {
      if (rec.fields[i][rec.lens[i]] != '\0' ||
          !valid_utf8((const unsigned char *)rec.fields[i], rec.lens[i]))
        abort();
      h = mix(h, &rec.lens[i], sizeof rec.lens[i]);
      h = mix(h, rec.fields[i], rec.lens[i]);
    }
  }
  h = mix(h, &rc, sizeof rc);
  if (rc < 0) {
    size_t nl = strlen(rt_csv_name(c));
    if (strncmp(err.msg, rt_csv_name(c), nl) != 0 || err.code != rc)
      abort();
    h = mix(h, err.msg + nl, strlen(err.msg + nl));
  } else if (rt_csv_bytes_read(c) != rt_csv_bytes_total(c)) {
    abort();
  }
  return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  static const char delims[] = {',', ';', '\t', ' ', '|', 0, 'a', '\''};
  rt_csv_opts o = {0};
  o.whitespace = data[0] & 1;
  o.encoding = (data[0] >> 1) & 1 ? RT_ENC_LATIN1 : RT_ENC_UTF8;
  o.delimiter = delims[(data[0] >> 2) & 7];
  size_t chunk = 1 + (data[0] >> 5) * 3;
  const char *text = (const char *)data + 1;
  size_t len = size - 1;

  rt_csv *c;
  rt_error err = {0};
  if (rt_csv_open_mem(len ? text : NULL, len, "fuzz", &o, &c, &err))
    abort();
  uint64_t from_mem = digest(c);
  rt_csv_close(c);

  int fd = memfd_create("fuzz_csv", 0);
  if (fd < 0)
    return 0;
  if (write(fd, text, len) != (ssize_t)len) {
    close(fd);
    return 0;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  if (rt_csv_open_file(path, &o, &c, &err))
    abort();
  rt__csv_set_chunk(c, chunk);
  uint64_t from_file = digest(c);
  rt_csv_close(c);
  close(fd);
  if (from_mem != from_file)
    abort();
  return 0;
}
