# Hostile clients against `retain serve`'s connections, on loopback (tests/cli/lib/attack.py):
# slowloris (partial request lines trickled a byte at a time) from one address and from many,
# bodies sent without a key, bodies that would take more memory than allowed, and a request
# with two Content-Length headers. Each would lock clients out or grow the server before the
# connection guard (src/server/guard.c) and the checks made from the headers alone.
. "$(dirname "$0")/lib/assert.bash"
. "$(dirname "$0")/lib/serve.bash"
ATTACK="python3 $(dirname "$0")/lib/attack.py"
KEY=$("$RT_BIN" keys create --scope write 2>/dev/null)
READ=$("$RT_BIN" keys create --scope read 2>/dev/null)
metric() { curl -s -u "$READ:" "$U/metrics" | sed -n "s/^$1 //p"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status"; }

# 1. Slowloris from one address: 150 connections trickling a request line on a server of 100
# slots. At most --max-per-ip of them are taken, each is cut after --header-timeout, and a
# client from another address is answered at once all along.
serve_start --max-connections 100 --max-per-ip 20 --header-timeout 2
PORT=${U##*:}
$ATTACK trickle "$PORT" 127.0.0.2 150 5 >trickle.json &
APID=$!
sleep 0.5
run 0 $ATTACK legit "$PORT" - 12 4
assert_eq "$(echo "$OUT" | jq .ok)" 12 "every request answered during the attack: $OUT"
wait $APID
assert_eq "$(jq '.open[2] <= 20' trickle.json)" true \
  "at most 20 connections from one address: $(cat trickle.json)"
assert_eq "$(jq .open_at_end trickle.json)" 0 "every trickling connection cut by the header deadline"
CUT=$(curl -s -u "$READ:" "$U/metrics" | sed -n 's/^retain_connections_cut_total{reason="headers"} //p')
CHECKS=$((CHECKS + 1))
[ "${CUT:-0}" -ge 1 ] || fail "the cut connections are counted: '$CUT'"
kill -TERM $PID; wait $PID || true

# 2. The same from behind a proxy (no per-address limit) with a long header deadline: the
# reserve frees slots from the slowest waiting connections, so a new client still gets in.
serve_start --max-connections 60 --max-per-ip 0 --header-timeout 60
PORT=${U##*:}
$ATTACK trickle "$PORT" 127.0.0.3 60 6 >trickle.json &
APID=$!
sleep 1.5
run 0 $ATTACK legit "$PORT" - 8 3
assert_eq "$(echo "$OUT" | jq .ok)" 8 "every request answered while all slots were taken: $OUT"
wait $APID
CUT=$(curl -s -u "$READ:" "$U/metrics" | sed -n 's/^retain_connections_cut_total{reason="reserve"} //p')
CHECKS=$((CHECKS + 1))
[ "${CUT:-0}" -ge 1 ] || fail "slots freed for the reserve are counted: '$CUT'"
kill -TERM $PID; wait $PID || true

# 3. Bodies without a key are refused from the headers: 401 before a byte of body is sent, and
# a flood of large unauthenticated bodies leaves the server's memory where it was.
serve_start --max-connections 300
PORT=${U##*:}
run 0 $ATTACK early "$PORT" - 20 900000
assert_eq "$(echo "$OUT" | jq -c '.statuses | unique')" "[401]" "answered 401 from the headers"
# 150 connections each sending 800 KB of a 900 KB body and holding on: the server's memory
# while they hold (it used to buffer every one: +120 MB, and kept it)
BEFORE=$(rss_kb)
$ATTACK bodies "$PORT" 150 900000 800000 4 >bodies.json &
APID=$!
sleep 3
DURING=$(rss_kb)
wait $APID
CHECKS=$((CHECKS + 1))
[ $((DURING - BEFORE)) -lt 30000 ] || fail "150 unauthenticated 800 KB bodies grew the server from $BEFORE to $DURING KB"
# announcing more than --max-body is 413 at once, before the body
run 0 $ATTACK early "$PORT" "$KEY" 1 2000000
assert_eq "$(echo "$OUT" | jq -c .statuses)" "[413]" "too large, from the headers"
# two Content-Length headers (or one with Transfer-Encoding) are 400, not a hang
run 0 $ATTACK raw "$PORT" 'POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{}'
assert_eq "$(echo "$OUT" | jq .status)" 400 "two Content-Length headers"
assert_contains "$(echo "$OUT" | jq -r .body)" "more than one Content-Length"
kill -TERM $PID; wait $PID || true

# 4. With a key, bodies may hold at most --max-body-memory at once: past it, 503 at once.
serve_start --max-body-memory 2500000
PORT=${U##*:}
run 0 $ATTACK early "$PORT" "$KEY" 3 1000000
assert_eq "$(echo "$OUT" | jq -c '.statuses | map(tostring) | sort')" '["503","null","null"]' \
  "two 1 MB bodies fit, the third is refused before it is sent"
assert_eq "$(metric retain_requests_refused_memory_total)" 1 "refusals counted"
sleep 0.5
assert_eq "$(metric retain_request_body_bytes)" 0 "nothing held once they are gone"
kill -TERM $PID; wait $PID || true
finish
