# `retain serve` against hostile clients and a store taken away under it:
# - identify traits over a customer's attribute limits (1,000 keys, 64 KiB) are refused 413
#   with their JSON path, at once (the merge is linear: a 1,000-key identify onto a 1,000-key
#   customer is quick), and several identifies that together would grow one customer past the
#   limit fail only the one that would cross it, while the requests sharing its commit succeed;
# - an API key's use is recorded (`retain keys list` shows when), at most once a minute;
# - after `rm store.db-wal` the server stops acknowledging writes with a clear error, and what
#   it acknowledged before survives a SIGKILL.
. "$(dirname "$0")/lib/assert.bash"
. "$(dirname "$0")/lib/serve.bash"
KEY=$("$RT_BIN" keys create --scope write --name web 2>/dev/null)
run 0 "$RT_BIN" keys list --format csv
assert_eq "$(echo "$OUT" | sed -n 2p | cut -d, -f6)" "" "a new key was never used"
serve_start

# traits [N] [PREFIX] [VALUE]: a traits object of N keys PREFIX0..
traits() {
  python3 -c 'import json, sys; n, p, v = int(sys.argv[1]), sys.argv[2], sys.argv[3]
print(json.dumps({"%s%d" % (p, i): v for i in range(n)}))' "$@"
}

# send PATH JSON: posts JSON from a file (a big body is too long for an argument)
send() {
  printf '%s' "$2" >body.json
  api POST "$1" "" -H 'Content-Type: application/json' --data-binary @body.json -u "$KEY:"
}

# one call over the limits: 413 with the path, nothing stored, and promptly
echo "{\"userId\":\"big\",\"messageId\":\"i1\",\"traits\":$(traits 60000 k x)}" >big.json
T0=$(date +%s%N)
api POST /v1/identify "" -H 'Content-Type: application/json' --data-binary @big.json -u "$KEY:"
T1=$(date +%s%N)
assert_eq "$CODE" 413 "60,000 traits"
assert_contains "$BODY_OUT" '"field":"traits"'
assert_contains "$BODY_OUT" '60000 keys'
CHECKS=$((CHECKS + 1))
[ $(((T1 - T0) / 1000000)) -lt 2000 ] || fail "a refused identify took $(((T1 - T0) / 1000000)) ms"
send /v1/batch "{\"batch\":[{\"type\":\"track\",\"userId\":\"big\",\"event\":\"A\",\"messageId\":\"b0\"},{\"type\":\"identify\",\"userId\":\"big\",\"messageId\":\"b1\",\"traits\":{\"n\":{\"deep\":$(traits 1001 d 1)}}}]}"
assert_eq "$CODE" 413 "nested traits over the limit in a batch"
assert_contains "$BODY_OUT" '"field":"batch[1].traits"'
send /v1/identify "{\"userId\":\"big\",\"messageId\":\"i2\",\"traits\":{\"blob\":\"$(head -c 70000 /dev/zero | tr '\0' a)\"}}"
assert_eq "$CODE" 413 "70 KB of traits"
assert_contains "$BODY_OUT" 'bytes'
assert_eq "$(sql "select count(*) from customers where ext_id = 'big'")" 0 "nothing stored"

# 1,000 keys is allowed; merging 1,000 new keys onto them takes milliseconds, not seconds
send /v1/identify "{\"userId\":\"wide\",\"messageId\":\"w1\",\"traits\":$(traits 1000 a 1)}"
assert_eq "$CODE" 200 "1,000 traits"
send /v1/identify "{\"userId\":\"wide\",\"messageId\":\"w2\",\"traits\":$(traits 1000 a 2)}"
assert_eq "$CODE" 200 "1,000 traits replaced"
assert_eq "$(sql "select json_extract(attrs, '\$.a999') || ',' || (select count(*) from json_each(attrs)) from customers where ext_id = 'wide'")" "2,1000"
# the customer's limit: 600 more keys would make 1,600
send /v1/identify "{\"userId\":\"wide\",\"messageId\":\"w3\",\"traits\":$(traits 600 b 1)}"
assert_eq "$CODE" 413 "growing a customer past 1,000 keys"
assert_contains "$BODY_OUT" '"field":"traits"'
assert_contains "$BODY_OUT" "1600 keys"
assert_eq "$(sql "select count(*) from events where ext_id = 'w3'")" 0 "the refused identify stored no event"
# deleting keys still works on a full customer, and values may change
api POST /v1/identify '{"userId":"wide","messageId":"w4","traits":{"a0":null,"a1":"x"}}' -u "$KEY:"
assert_eq "$CODE" 200 "trimming"
assert_eq "$(sql "select (select count(*) from json_each(attrs)) || json_extract(attrs, '\$.a1') from customers where ext_id = 'wide'")" "999x"

# concurrent identifies of one customer, each fine alone, that together would pass the limit:
# 8 requests of 300 keys each (2,400 in all) sent at once; those that fit are stored and
# answered 200, the others 413 - and every 200 is in the store
for i in $(seq 1 8); do
  echo "{\"userId\":\"many\",\"messageId\":\"m$i\",\"traits\":$(traits 300 "p$i-" 1)}" >body$i.json
done
CURLS=""
for i in $(seq 1 8); do
  curl -s -o resp$i.json -w '%{http_code}' -u "$KEY:" -H 'Content-Type: application/json' \
    --data-binary @body$i.json "$U/v1/identify" >code$i &
  CURLS="$CURLS $!"
done
wait $CURLS
OK=0 BIG=0
for i in $(seq 1 8); do
  case "$(cat code$i)" in
    200) OK=$((OK + 1)) ;;
    413) BIG=$((BIG + 1)); assert_contains "$(cat resp$i.json)" '"field":"traits"' ;;
    *) fail "request $i answered $(cat code$i): $(cat resp$i.json)" ;;
  esac
done
assert_eq "$OK" 3 "identifies that fit (3 x 300 keys)"
assert_eq "$BIG" 5 "identifies refused"
assert_eq "$(sql "select count(*) from json_each((select attrs from customers where ext_id = 'many'))")" 900 "keys stored"
assert_eq "$(sql "select count(*) from events where ext_id like 'm_' and type = 'identify'")" 3 "events of the 200s"

# the key's use was recorded once (the first use), not on every request
api GET /healthz
kill -TERM $PID
wait $PID || true
USED=$(sql "select last_used_ms from api_keys where id = 1")
[ -n "$USED" ] && [ "$USED" -ge "$((T0 / 1000000 - 1000))" ] && [ "$USED" -le "$((T1 / 1000000))" ] ||
  fail "last_used_ms '$USED' is not the time of the first request ($((T0 / 1000000))..$((T1 / 1000000)))"
CHECKS=$((CHECKS + 1))
run 0 "$RT_BIN" keys list
assert_not_contains "$OUT" "never" "keys list"
run 0 "$RT_BIN" keys list --format csv
[[ "$(echo "$OUT" | sed -n 2p | cut -d, -f6)" =~ ^20[0-9][0-9]-[01][0-9]-[0-3][0-9] ]] ||
  fail "last_used in keys list: $(echo "$OUT" | sed -n 2p)"

# the -wal deleted under a running server: the next write is refused, and so is every later
# one; what was acknowledged before survives a crash
serve_start
for i in $(seq 1 30); do
  api POST /v1/track "{\"userId\":\"w\",\"event\":\"Tick\",\"messageId\":\"t$i\"}" -u "$KEY:"
  assert_eq "$CODE" 200 "track $i"
done
[ -s "$RETAIN_DB-wal" ] || fail "no -wal with the writes in it"
api GET /healthz ""
assert_eq "$CODE" 200 "healthy before"
rm "$RETAIN_DB-wal"
# the idle writer looks at the files every second: /healthz tells before any write fails
sleep 1.6
api GET /healthz ""
assert_eq "$CODE" 503 "/healthz once the -wal is gone"
assert_eq "$(echo "$BODY_OUT" | jq -r .error.code)" failing
api POST /v1/track '{"userId":"w","event":"Tick","messageId":"after1"}' -u "$KEY:"
assert_eq "$CODE" 500 "a write after the -wal was deleted"
assert_contains "$BODY_OUT" "test.db-wal was deleted or replaced while the store was open"
assert_not_contains "$BODY_OUT" "$T/" "a 5xx answer names the store's file, not its directories"
assert_contains "$BODY_OUT" "every write committed before was copied into the database file"
api POST /v1/batch '{"batch":[{"type":"track","userId":"w","event":"Tick","messageId":"after2"}]}' -u "$KEY:"
assert_eq "$CODE" 500 "and the next one"
assert_contains "$BODY_OUT" "refuses writes from now on"
kill -KILL $PID
wait $PID 2>/dev/null || true
assert_eq "$(sql "select count(*) from events where ext_id like 't%'")" 30 "acknowledged events after the crash"
assert_eq "$(sql "select count(*) from events where ext_id like 'after%'")" 0 "refused events"
finish
