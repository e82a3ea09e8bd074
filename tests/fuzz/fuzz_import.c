/* fuzz_import.c - libFuzzer target for the orders importer (src/ingest/import.c: column
 * detection, the value rules of validate.c, orders and their lines, refunds) on the store-less
 * path that builds a customer model from a file (rt_import_orders_to_model).
 *
 * The first byte picks skip_bad and the currency; the rest is the file, handed over through a
 * memfd. An import must succeed with a model that builds, or fail with a message that starts
 * with the file's name; every amount in the model must be within RT__MONEY_MAX.
 *
 *   CC=clang cmake -S . -B /tmp/build-fuzz -G Ninja -DRT_FUZZ=ON -DRT_SANITIZE=ON && \
 *   cmake --build /tmp/build-fuzz --target fuzz_import && \
 *   cp -r tests/fuzz/corpus_import /tmp/corpus_import && \
 *   /tmp/build-fuzz/fuzz_import -max_total_time=600 /tmp/corpus_import */
#define _GNU_SOURCE
#include <retain/import.h>
#include <retain/model.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_memfd.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  char path[64];
  int fd = fuzz_memfd(data + 1, size - 1, path);
  if (fd < 0)
    return 0;
  rt_import_opts o;
  rt_import_opts_init(&o, RT_IMPORT_ORDERS);
  o.skip_bad = data[0] & 1;
  o.currency = data[0] & 2 ? "JPY" : "KWD";
  rt_model_builder *b;
  rt_error err = {0};
  if (rt_model_builder_new(NULL, NULL, &b))
    abort();
  rt_import_result res;
  int rc = rt_import_orders_to_model(path, &o, b, &res, &err);
  close(fd);
  if (rc) {
    if (strncmp(err.msg, path, strlen(path)) != 0 && rc != RT_ENOMEM)
      abort();
    rt_model_builder_free(b);
    return 0;
  }
  rt_model *m;
  if (rt_model_build(b, &m, &err) == 0) {
    for (size_t i = 0; i < m->norders; i++)
      if (m->order_amount[i] > RT__MONEY_MAX || m->order_amount[i] < -RT__MONEY_MAX)
        abort();
    rt_model_free(m);
  }
  return 0;
}
