/* fuzz_rates.c - libFuzzer target for the exchange-rates importer (src/ingest/rates_import.c),
 * the ECB's wide files and the long date,currency,rate[,base] ones, into an in-memory store.
 *
 * The first byte picks skip_bad and the delimiter; the rest is the file, handed over through a
 * memfd. An import must succeed, or fail with a message that starts with the file's name and
 * leave the store as it was (the rates counted before and after). The store is opened afresh
 * every 512 inputs, so it stays small.
 *
 *   CC=clang cmake -S . -B /tmp/build-fuzz -G Ninja -DRT_FUZZ=ON -DRT_SANITIZE=ON && \
 *   cmake --build /tmp/build-fuzz --target fuzz_rates && \
 *   cp -r tests/fuzz/corpus_rates /tmp/corpus_rates && \
 *   /tmp/build-fuzz/fuzz_rates -max_total_time=600 /tmp/corpus_rates */
#define _GNU_SOURCE
#include <retain/rates.h>
#include <retain/store.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_memfd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  static rt_store *st;
  static unsigned uses;
  if (st && ++uses % 512 == 0) {
    rt_store_close(st);
    st = NULL;
  }
  rt_error err = {0};
  if (!st) {
    rt_store_config cfg = {.path = ":memory:"};
    if (rt_store_open(&cfg, &st, &err))
      abort();
  }
  char path[64];
  int fd = fuzz_memfd(data + 1, size - 1, path);
  if (fd < 0)
    return 0;
  rt_rates_import_opts o;
  rt_rates_import_opts_init(&o);
  o.skip_bad = data[0] & 1;
  o.csv.delimiter = data[0] & 2 ? ';' : ',';
  int64_t before = -1, after = -1;
  if (rt_store_count(st, "exchange_rates", &before, &err))
    abort();
  rt_rates_import_result res;
  int rc = rt_rates_import_file(st, path, &o, &res, &err);
  close(fd);
  if (rt_store_count(st, "exchange_rates", &after, &err))
    abort();
  if (rc) {
    if (strncmp(err.msg, path, strlen(path)) != 0 || after != before)
      abort();
  } else if (after - before != res.stored) {
    abort();
  }
  return 0;
}
