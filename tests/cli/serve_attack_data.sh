# Hostile requests against what `retain serve` computes and keeps (loopback): an event dated
# in the year 9999 or before 1970, reports and cohort tables asked to be huge, CSV exports held
# open by slow readers, and the small things a client can send - a method with a quote in it,
# invalid UTF-8 in a query, `bearer` in lower case - plus what a request without a key may see.
. "$(dirname "$0")/lib/assert.bash"
. "$(dirname "$0")/lib/serve.bash"
ATTACK="python3 $(dirname "$0")/lib/attack.py"
WRITE=$("$RT_BIN" keys create --scope write 2>/dev/null)
READ=$("$RT_BIN" keys create --scope read 2>/dev/null)
metric() { curl -s -u "$READ:" "$U/metrics" | sed -n "s/^$1 //p"; }

# a store: 60,000 profiles (an export of ~3 MB, more than the sockets buffer) and one first
# order a day for 1,100 days (1,100 daily cohorts)
python3 - <<'PY'
import datetime
with open("customers.csv", "w") as f:
    f.write("customer_id,signup_date\n")
    for i in range(60000):
        f.write("c%d,2021-12-01\n" % i)
with open("orders.csv", "w") as f:
    f.write("order_id,customer_id,order_date,amount,currency\n")
    d0 = datetime.date(2022, 1, 1)
    for i in range(1100):
        f.write("o%d,c%d,%s,10.00,USD\n" % (i, i, d0 + datetime.timedelta(days=i)))
PY
"$RT_BIN" --quiet import customers customers.csv >/dev/null
"$RT_BIN" --quiet import orders orders.csv >/dev/null
export RETAIN_NOW=2025-01-05
serve_start --max-exports 4

# 1. Event times: one in the year 9999 is kept at the time it arrived (and counted); one
# before 1970 is refused with its JSON path; the report still ends today, not in 9999.
api POST /v1/track '{"userId":"c1","event":"Order Completed","messageId":"far","timestamp":"9999-12-31T00:00:00Z","properties":{"order_id":"far","total":5}}' -u "$WRITE:"
assert_eq "$CODE" 200 "a far-future event is accepted"
NOW_MS=$(( $(date +%s) * 1000 ))
TS=$(sql "select ts_ms from orders where ext_id = 'far'")
CHECKS=$((CHECKS + 1))
[ "$TS" -le $((NOW_MS + 5000)) ] && [ "$TS" -ge $((NOW_MS - 600000)) ] || fail "the order kept at its arrival, not 9999: $TS (now $NOW_MS)"
assert_eq "$(metric retain_events_clamped_total)" 1 "clamped events counted"
api POST /v1/batch '{"batch":[{"type":"page","userId":"c1"},{"type":"track","userId":"c2","event":"X","timestamp":"1969-07-20T20:17:00Z"}]}' -u "$WRITE:"
assert_eq "$CODE" 400 "before 1970"
assert_eq "$(echo "$BODY_OUT" | jq -r .error.field)" "batch[1].timestamp"
run 0 "$RT_BIN" report
assert_not_contains "$OUT" "9999" "the CLI report"

# 2. Sizes: a daily cohort table of 1,100 x 1,100 cells is refused with 400 naming the
# parameter (the limit is 1,000,000 cells), a horizon makes it fit; a report over more than
# 5,000 periods too; the CLI refuses the same with the same words.
api GET "/v1/cohorts?period=day" "" -u "$READ:"
assert_eq "$CODE" 400 "a huge cohort table"
assert_eq "$(echo "$BODY_OUT" | jq -r .error.field)" "period"
assert_contains "$(echo "$BODY_OUT" | jq -r .error.message)" "more than the 1000000 cells a table may have"
api GET "/v1/cohorts?period=day&horizon=30" "" -u "$READ:"
assert_eq "$CODE" 200 "with a horizon"
assert_eq "$(echo "$BODY_OUT" | jq '.cohorts | length')" 1100 "every daily cohort"
api GET "/v1/metrics?period=day&from=2010-01-01" "" -u "$READ:"
assert_eq "$CODE" 200 "1,100 days are fine"
run 1 "$RT_BIN" cohorts --period day
assert_contains "$ERR" "more than the 1000000 cells a table may have"
run 1 "$RT_BIN" report --period day --as-of 9999-12-31
assert_contains "$ERR" "are more than the 40000 a report may span"

# 3. Exports: slow readers hold at most --max-exports streams (the next is 503), and a
# stream holds no view: after a write and a read that needs it, one view is alive, not two.
READERS=()
for i in 1 2 3 4; do
  python3 - "${U##*:}" "$READ" <<'PY' &
import base64, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
auth = base64.b64encode((sys.argv[2] + ":").encode()).decode()
s.sendall(("GET /v1/export HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n\r\n" % auth).encode())
s.recv(100)
time.sleep(4)
PY
  READERS+=($!)
done
sleep 1
assert_eq "$(metric retain_exports)" 4 "four exports held open"
api GET /v1/export "" -u "$READ:"
assert_eq "$CODE" 503 "a fifth export"
assert_eq "$(echo "$BODY_OUT" | jq -r .error.code)" "busy"
api POST /v1/track '{"userId":"c7","event":"Seen"}' -u "$WRITE:"
api GET /v1/metrics "" -u "$READ:"
assert_eq "$CODE" 200 "a read after the write"
assert_eq "$(metric retain_views_alive)" 1 "the exports pin no older view"
wait "${READERS[@]}"
sleep 0.3
assert_eq "$(metric retain_exports)" 0 "the streams ended"
# and a whole export still has every customer once, in order
api GET "/v1/export?fields=orders" "" -u "$READ:"
assert_eq "$(echo "$BODY_OUT" | grep -c "^c[0-9]")" 60000 "every customer"
assert_eq "$(echo "$BODY_OUT" | tail -n +2 | cut -d, -f1 | sort | uniq -d | wc -l)" 0 "none twice"

# 4. Small ones: a method holding a quote still makes a JSON log line; invalid UTF-8 in a
# query gets a message; `bearer` in any case; no key sees no counts.
$ATTACK raw "${U##*:}" 'G"ET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >/dev/null
sleep 0.2
CHECKS=$((CHECKS + 1))
grep '^{' "$T/serve.err" | jq -e . >/dev/null || fail "a request log line is not JSON: $(grep '^{' "$T/serve.err" | tail -3)"
api GET "/v1/customers/c1%00xyz" "" -u "$READ:"
assert_eq "$CODE" 400 "a NUL in a path does not cut the id to another customer's"
assert_contains "$BODY_OUT" "NUL byte (%00)"
api GET "/v1/customers/%63%31" "" -u "$READ:"
assert_eq "$(echo "$BODY_OUT" | jq -r .customer_id)" c1 "other escapes are decoded"
api GET "/v1/metrics?period=%ff%fe" "" -u "$READ:"
assert_eq "$CODE" 400 "invalid UTF-8 in a query"
assert_contains "$(echo "$BODY_OUT" | jq -r .error.message)" "period wants day, week, month"
api GET /v1/metrics "" -H "Authorization: bearer $READ"
assert_eq "$CODE" 200 "bearer in lower case"
api GET /v1/metrics "" -H "Authorization: BEARER   $READ  "
assert_eq "$CODE" 200 "BEARER with spaces"
api GET /readyz ""
assert_eq "$BODY_OUT" '{"status":"ok"}' "/readyz without a key says nothing of the data"
api GET /metrics ""
assert_eq "$CODE" 401 "/metrics needs a key"
kill -TERM $PID
wait $PID || fail "the server exited with $?"
finish
