/* fuzz_events.c - libFuzzer target for the server's Segment-spec event parser
 * (src/server/ingest.c). The first byte picks the request kind (identify, track, page, screen,
 * group, alias or batch); the rest is the body. A body either parses into events that each have
 * a customer (and a name, for track), or fails with a message and the JSON path of the fault.
 *
 *   CC=clang cmake -S . -B /tmp/build-fuzz -G Ninja -DRT_FUZZ=ON -DRT_SANITIZE=ON && \
 *   cmake --build /tmp/build-fuzz --target fuzz_events && \
 *   cp -r tests/fuzz/corpus_events /tmp/corpus && /tmp/build-fuzz/fuzz_events -max_total_time=60 /tmp/corpus
 * (start from the seeds in tests/fuzz/corpus_events: random bytes rarely make JSON) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  rt__ev_kind kind = (rt__ev_kind)(data[0] % 7);
  rt__events ev;
  char field[128];
  rt_error err = {0};
  int rc = rt__events_parse((const char *)data + 1, size - 1, kind, 1735689600000LL, 1000, &ev,
                            field, sizeof field, &err);
  if (rc) {
    if (!err.msg[0] || !field[0])
      abort();
    return 0;
  }
  for (size_t i = 0; i < ev.n; i++) {
    if (!ev.v[i].user_id && !ev.v[i].anon_id)
      abort();
    if (ev.v[i].kind == RT__EV_TRACK && !ev.v[i].name)
      abort();
  }
  rt__events_free(&ev);
  return 0;
}
