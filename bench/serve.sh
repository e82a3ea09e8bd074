#!/usr/bin/env bash
# serve.sh - the HTTP targets of `retain serve`, each measured RUNS times on a fresh store (a
# store that grew during earlier runs is slower: its indexes are bigger), medians printed:
#   1. /v1/batch with 100 events a request, closed loop (events/s; target 100,000)
#   2. single /v1/track, closed loop (requests/s; target 10,000)
#   3. single /v1/track, open loop at half the median of 2 (p99; target under 20 ms)
#   4. GET /v1/customers/{id} on STORE (p99; target under 5 ms with 2 M customers), when a
#      store is given with --reads STORE
# Each run starts a server on a new store and measures after a warm-up run of the same load.
# Usage: bench/serve.sh [--runs N] [--reads STORE] (after `cmake --build build --target bench`)
# SERVE_ARGS="--threads 64" bench/serve.sh passes options to `retain serve`; RETAIN_BIN=PATH
# measures another build (an older commit, to compare).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=3 READS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --reads) READS=$2; shift 2 ;;
    *) echo "usage: bench/serve.sh [--runs N] [--reads STORE]" >&2; exit 2 ;;
  esac
done
BIN=${RETAIN_BIN:-build/retain} LOAD=build/bench/serve_load
[ -x "$LOAD" ] || { echo "build the benchmarks first: cmake --build build --target bench" >&2; exit 2; }
DIR=$(mktemp -d /tmp/retain-serve-bench.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT

# start DB: a server on a free port for store DB; sets PID, PORT
start() {
  "$BIN" --db "$1" serve --listen 127.0.0.1:0 --no-log ${SERVE_ARGS:-} >"$DIR/out" 2>"$DIR/err" &
  PID=$!
  for _ in $(seq 600); do grep -q listening "$DIR/out" 2>/dev/null && break; sleep 0.05; done
  PORT=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\).*|\1|p' "$DIR/out")
  for _ in $(seq 1200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ] && return
    sleep 0.1
  done
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
field() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p"; }
# the server's own p99 over the measured run, from its latency histogram (/metrics before and
# after): the upper bound of the bucket holding the 99th percentile, in ms. It leaves out what
# the client adds: its own threads waiting for a core, and queueing on its connections.
server_p99() {
  local pat='retain_http_request_duration_seconds_bucket{method="POST",route="/v1/(track|batch)"'
  paste <(grep -E "$pat" "$DIR/m2" | sed 's/.*le="\([^"]*\)"} \(.*\)/\1 \2/') \
        <(grep -E "$pat" "$DIR/m1" | sed 's/.* //') |
    awk '{ le[NR] = $1; n[NR] = $2 - $3 } END { for (i = 1; i <= NR; i++) if (n[i] >= 0.99 * n[NR]) { print (le[i] == "+Inf" ? "inf" : le[i] * 1000); exit } }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# fresh RUN_ARGS...: one run on a fresh store after a warm-up run with the same arguments
# (the first seconds of a new store create its customers and grow its files: not the steady
# state), the load generator's JSON line
fresh() {
  local db="$DIR/s$RANDOM.db" key rkey
  key=$("$BIN" --db "$db" keys create --scope write 2>/dev/null)
  rkey=$("$BIN" --db "$db" keys create --scope read 2>/dev/null) # /metrics needs one
  start "$db"
  "$LOAD" --port "$PORT" --key "$key" "$@" >/dev/null 2>&1
  curl -s -u "$rkey:" "http://127.0.0.1:$PORT/metrics" >"$DIR/m1"
  local line
  line=$("$LOAD" --port "$PORT" --key "$key" "$@" 2>/dev/null | tail -1)
  curl -s -u "$rkey:" "http://127.0.0.1:$PORT/metrics" >"$DIR/m2"
  echo "${line%\}}, \"server_p99_ms\": $(server_p99)}"
  stop
  rm -f "$db" "$db-wal" "$db-shm"
  sync # the next run should not share the disk with this one's write-back
  sleep 2
}

measure() { # NAME FIELD ARGS...: RUNS fresh runs, prints each and the median of FIELD
  local name=$1 f=$2; shift 2
  local vals=()
  for _ in $(seq "$RUNS"); do
    line=$(fresh "$@")
    vals+=("$(echo "$line" | field "$f")")
    echo "  $name: $line" >&2
    echo "$line" >>"$DIR/log"
  done
  printf '%s\n' "${vals[@]}" | median
}

B=$(measure batch events_per_s --threads 16 --requests 100 --batch 100)
T=$(measure track requests_per_s --threads 16 --requests 500 --batch 1)
HALF=$(awk -v t="$T" 'BEGIN { printf "%d", t / 2 }')
# open loop: 64 connections (independent clients), each sending on a fixed schedule
P=$(measure "track at $HALF/s" p99_ms --threads 64 --requests $((HALF * 5 / 64)) --batch 1 --rate "$HALF")
SP=$(grep -o '"server_p99_ms": [0-9.inf]*' "$DIR/log" 2>/dev/null | tail -n "$RUNS" | sed 's/.*: //' | median)
echo "batch of 100:        median $B events/s (target 100,000)"
echo "single track:        median $T requests/s (target 10,000)"
echo "track at $HALF/s:   median p99 $P ms as the client sees it (target < 20 ms); the server's own p99 <= $SP ms"
if [ -n "$READS" ]; then
  key=$("$BIN" --db "$READS" keys create --scope read --name bench 2>/dev/null)
  sqlite3 "$READS" "select ext_id from customers order by random() limit 100000" >"$DIR/ids"
  start "$READS"
  vals=()
  for _ in $(seq "$RUNS"); do
    line=$("$LOAD" --port "$PORT" --key "$key" --threads 4 --get-customers 2000 --ids "$DIR/ids" 2>/dev/null | tail -1)
    echo "  reads: $line" >&2
    vals+=("$(echo "$line" | field p99_ms)")
  done
  stop
  echo "GET /v1/customers/{id} on $(sqlite3 "$READS" 'select count(*) from customers') customers: median p99 $(printf '%s\n' "${vals[@]}" | median) ms (target < 5 ms)"
fi
