# The read API of `retain serve` over real HTTP on a generated business: /v1/metrics and
# /v1/cohorts give the same numbers as `retain report` and `retain cohorts`; the customer with
# its features and segments; pages of customers and of a segment's members; the CSV export;
# segments created, changed and deleted over HTTP; and live data: an order sent to the server
# is in the very next read (metrics, features, segment membership, stored entry events).
. "$(dirname "$0")/lib/assert.bash"
. "$(dirname "$0")/lib/serve.bash"
export RETAIN_NOW=2025-01-01
run 0 "$RT_BIN" gen --customers 1500 --seed 5 --no-lines --no-events --out g
for k in customers orders subscriptions; do run 0 "$RT_BIN" import "$k" "g/$k.csv"; done
run 0 "$RT_BIN" segment create lapsing --rule "orders >= 3 and days_since_last_order > 60"
run 0 "$RT_BIN" segment create pinned --rule "orders >= 3" --as-of 2024-06-30
purchases # the purchases (orders not cancelled by a refund), computed apart from retain
READ=$("$RT_BIN" keys create --scope read 2>/dev/null)
WRITE=$("$RT_BIN" keys create --scope write 2>/dev/null)
ADMIN=$("$RT_BIN" keys create --scope admin 2>/dev/null)
serve_start --no-log
R=(-u "$READ:")

# the documents' scalars, one "path value" line each (data_version left out)
flat() {
  jq -r 'del(.data_version) | paths(type != "object" and type != "array") as $p |
    "\($p | map(tostring) | join("."))\t\(getpath($p))"' | sort
}
# same_json A B WHAT: the same paths and values, numbers equal to 1e-9 relative (the CLI prints
# 10 significant digits, the API 15)
same_json() {
  CHECKS=$((CHECKS + 1))
  local bad
  bad=$(join -t $'\t' -a1 -a2 -e MISSING -o 0,1.2,2.2 <(echo "$1" | flat) <(echo "$2" | flat) | awk -F'\t' '
    { a = $2; b = $3
      if (a == b) next
      if (a ~ /^-?[0-9.e+-]+$/ && b ~ /^-?[0-9.e+-]+$/) {
        d = a - b; if (d < 0) d = -d; m = (a < 0 ? -a : a); if (d <= 1e-9 * m + 1e-12) next }
      print; exit }')
  [ -z "$bad" ] || fail "$3: differs at $bad"
}

# /v1/metrics = retain report --format json, for the same parameters
check_metrics() {
  local query=$1; shift
  api GET "/v1/metrics?$query" "" "${R[@]}"
  assert_eq "$CODE" 200 "GET /v1/metrics?$query"
  run 0 "$RT_BIN" report --format json "$@"
  same_json "$BODY_OUT" "$OUT" "metrics for '$query'"
}
check_metrics ""
check_metrics "period=quarter&from=2024-Q1&to=2024-Q4&baseline=2&inactive_days=60" \
  --period quarter --from 2024-Q1 --to 2024-Q4 --baseline 2 --inactive-days 60
check_metrics "segment=lapsing&period=year" --segment lapsing --period year
check_metrics "from=2024-06" --from 2024-06
# and cohorts = retain cohorts --format json
api GET "/v1/cohorts?period=quarter&mode=on-or-after&percent=true&horizon=4" "" "${R[@]}"
assert_eq "$CODE" 200 "GET /v1/cohorts"
run 0 "$RT_BIN" cohorts --format json --period quarter --mode on-or-after --percent --horizon 4
same_json "$BODY_OUT" "$OUT" "cohorts"
# bad parameters name the parameter
api GET "/v1/metrics?period=fortnight" "" "${R[@]}"
assert_eq "$CODE" 400 "a bad period"
assert_eq "$(echo "$BODY_OUT" | jq -r .error.field)" period "the parameter at fault"
api GET "/v1/cohorts?from=2024-13" "" "${R[@]}"
assert_eq "$(echo "$BODY_OUT" | jq -r .error.field)" from "a bad from"
api GET "/v1/metrics?segment=nope" "" "${R[@]}"
assert_eq "$CODE" 400 "an unknown segment"
api GET "/v1/metrics" "" -u "$WRITE:"
assert_eq "$CODE" 403 "a write key cannot read"

# one customer: the store's profile plus the computed features and segments
C=$(sql "select c.ext_id from customers c join segment_members m on m.customer_id = c.id order by c.id limit 1")
api GET "/v1/customers/$C" "" "${R[@]}"
assert_eq "$CODE" 200 "GET /v1/customers/$C"
N=$(rsql "select count(*) from ref.purchases o join customers c on c.id = o.customer_id where c.ext_id = '$C'")
assert_eq "$(echo "$BODY_OUT" | jq .features.orders)" "$N" "its orders feature"
WANT_SEGS=lapsing
[ "$(sql "select count(*) from segment_members m join segments s on s.id = m.segment_id join customers c on c.id = m.customer_id where s.name = 'pinned' and c.ext_id = '$C'")" = 1 ] && WANT_SEGS=lapsing,pinned
assert_eq "$(echo "$BODY_OUT" | jq -r '.segments | join(",")')" "$WANT_SEGS" "its segments"
assert_contains "$(echo "$BODY_OUT" | jq -r .features.lifecycle_stage)" "" "a lifecycle stage"
run 0 "$RT_BIN" features --customer "$C" --format csv
assert_eq "$(echo "$BODY_OUT" | jq -r .features.rfm_segment)" \
  "$(echo "$OUT" | awk -F, '$1 == "rfm_segment" { print $NF }')" "the same RFM segment as the CLI"

# pages of a segment's members: every member once, in id order, as the CLI lists them
run 0 "$RT_BIN" segment members lapsing
WANT=$(echo "$OUT" | tail -n +2 | cut -d, -f1)
GOT="" CURSOR="" PAGES=0
while :; do
  api GET "/v1/customers?segment=lapsing&limit=7${CURSOR:+&cursor=$CURSOR}" "" "${R[@]}"
  [ "$CODE" = 200 ] || { fail "page $PAGES: $CODE $BODY_OUT"; break; }
  GOT="$GOT$(echo "$BODY_OUT" | jq -r '.customers[].customer_id')"$'\n'
  CURSOR=$(echo "$BODY_OUT" | jq -r '.next_cursor // empty')
  PAGES=$((PAGES + 1))
  [ -n "$CURSOR" ] && [ $PAGES -lt 1000 ] || break
done
assert_eq "$(echo "$GOT" | sed '/^$/d')" "$WANT" "the members, page by page"
api GET "/v1/segments/lapsing/members?limit=100000" "" "${R[@]}"
assert_eq "$CODE" 400 "a page larger than allowed"
api GET "/v1/customers?limit=1000" "" "${R[@]}"
assert_eq "$(echo "$BODY_OUT" | jq '.customers | length')" 1000 "a page of all customers"

# the export: a header with customer_id first, one line per customer, the features' values
curl -s -u "$READ:" "$U/v1/export" >all.csv
assert_eq "$(head -1 all.csv | cut -d, -f1-2)" "customer_id,orders" "the export's header"
assert_eq "$(($(wc -l <all.csv) - 1))" "$(sql 'select count(*) from customers')" "a line per customer"
curl -s -u "$READ:" "$U/v1/export?segment=lapsing&fields=orders,lifecycle_stage" >seg.csv
assert_eq "$(head -1 seg.csv)" "customer_id,orders,lifecycle_stage" "chosen fields"
assert_eq "$(tail -n +2 seg.csv | cut -d, -f1)" "$WANT" "the segment's export"
assert_eq "$(grep "^$C," seg.csv | cut -d, -f2)" "$N" "a value in the export"
api GET "/v1/export?fields=orders,ordres" "" "${R[@]}"
assert_eq "$CODE" 400 "an unknown export field"

# segments over HTTP: admin keys change them; rules are checked with the rule language's errors
api POST /v1/segments '{"name":"big","rule":"ordres >= 10"}' -u "$ADMIN:"
assert_eq "$CODE" 400 "a bad rule"
assert_eq "$(echo "$BODY_OUT" | jq -r .error.field)" rule "the field at fault"
assert_contains "$BODY_OUT" "did you mean 'orders'"
api POST /v1/segments '{"name":"big","rule":"orders >= 10"}' "${R[@]}"
assert_eq "$CODE" 403 "a read key cannot create segments"
api POST /v1/segments '{"name":"big","rule":"orders >= 10","description":"ten or more"}' -u "$ADMIN:"
assert_eq "$CODE" 201 "POST /v1/segments"
WANT_BIG=$(rsql "select count(*) from (select customer_id from ref.purchases group by customer_id having count(*) >= 10)")
assert_eq "$(echo "$BODY_OUT" | jq .members)" "$WANT_BIG" "the new segment's size"
api POST /v1/segments "{\"name\":\"bad\",\"rule\":\"lifecycle_stage = 'at-risk'\"}" -u "$ADMIN:"
assert_eq "$CODE" 400 "a value the field cannot take"
assert_contains "$(echo "$BODY_OUT" | jq -r .error.message)" "did you mean 'at risk'?"
api POST /v1/segments "{\"name\":\"fr\",\"rule\":\"attributes.country = 'FRR'\"}" -u "$ADMIN:"
assert_eq "$CODE" 201 "an absent attribute value"
assert_contains "$(echo "$BODY_OUT" | jq -r '.warnings[0]')" "did you mean 'FR'?"
api DELETE /v1/segments/fr "" -u "$ADMIN:"
api POST /v1/segments '{"name":"big","rule":"orders >= 1"}' -u "$ADMIN:"
assert_eq "$CODE" 409 "a taken name"
api POST /v1/segments "{\"name\":\"two\",\"rule\":\"in_segment('big') or orders >= 9\"}" -u "$ADMIN:"
assert_eq "$CODE" 201 "a segment that includes another"
api GET /v1/segments "" "${R[@]}"
assert_eq "$(echo "$BODY_OUT" | jq -r '[.segments[].name] | sort | join(",")')" "big,lapsing,pinned,two" "the segments"
api PUT /v1/segments/big '{"rule":"orders >= 12"}' -u "$ADMIN:"
assert_eq "$CODE" 200 "PUT /v1/segments/big"
WANT12=$(rsql "select count(*) from (select customer_id from ref.purchases group by customer_id having count(*) >= 12)")
assert_eq "$(echo "$BODY_OUT" | jq .members)" "$WANT12" "the changed segment's size"
assert_eq "$(echo "$BODY_OUT" | jq -r .description)" "ten or more" "the description kept"
# the members are stored too (entries and exits), for the CLI and reports
for _ in $(seq 100); do
  [ "$(sql "select count(*) from segment_members m join segments s on s.id = m.segment_id where s.name = 'big'")" = "$WANT12" ] && break
  sleep 0.05
done
assert_eq "$(sql "select count(*) from segment_members m join segments s on s.id = m.segment_id where s.name = 'big'")" "$WANT12" "stored members"
# a segment pinned to a day (by the CLI) is shown as stored, never re-evaluated by the server
PINNED=$(sql "select count(*) from segment_members m join segments s on s.id = m.segment_id where s.name = 'pinned'")
api GET /v1/segments/pinned "" "${R[@]}"
assert_eq "$(echo "$BODY_OUT" | jq -r '[.judged, .as_of, .members] | join(" ")')" "pinned 2024-06-30 $PINNED" "the pinned segment"
api PUT /v1/segments/pinned '{"rule":"orders >= 4"}' -u "$ADMIN:"
assert_eq "$CODE" 409 "a pinned segment is changed with the CLI"
assert_eq "$(echo "$BODY_OUT" | jq -r .error.code)" pinned "why"
api DELETE /v1/segments/two "" -u "$ADMIN:"
assert_eq "$CODE" 200 "DELETE /v1/segments/two"
api GET /v1/segments/two "" "${R[@]}"
assert_eq "$CODE" 404 "a deleted segment"

# live: an order sent now is in the next reads — the report, the customer's features, and the
# segment it makes the customer enter (and the stored entry event)
L=$(rsql "select c.ext_id from customers c where (select count(*) from ref.purchases o where o.customer_id = c.id) = 11 order by c.id limit 1")
[ -n "$L" ] || fail "no customer with 11 orders in the generated data"
api GET "/v1/metrics?from=2024-12&to=2024-12" "" "${R[@]}"
BEFORE=$(echo "$BODY_OUT" | jq '.periods[0].orders')
api POST /v1/track "{\"userId\":\"$L\",\"event\":\"Order Completed\",\"messageId\":\"live-1\",\"timestamp\":\"2024-12-30T10:00:00Z\",\"properties\":{\"order_id\":\"LIVE-1\",\"total\":25,\"currency\":\"USD\"}}" -u "$WRITE:"
assert_eq "$CODE" 200 "the order"
api GET "/v1/metrics?from=2024-12&to=2024-12" "" "${R[@]}"
assert_eq "$(echo "$BODY_OUT" | jq '.periods[0].orders')" "$((BEFORE + 1))" "the report sees the order"
api GET "/v1/customers/$L" "" "${R[@]}"
assert_eq "$(echo "$BODY_OUT" | jq .features.orders)" 12 "the customer's features see it"
assert_contains "$(echo "$BODY_OUT" | jq -c .segments)" '"big"' "the customer entered the segment"
api GET "/v1/segments/big" "" "${R[@]}"
assert_eq "$(echo "$BODY_OUT" | jq .members)" "$((WANT12 + 1))" "the segment grew"
for _ in $(seq 100); do
  [ "$(sql "select count(*) from segment_events e join customers c on c.id = e.customer_id where c.ext_id = '$L'")" -ge 1 ] && break
  sleep 0.05
done
assert_eq "$(sql "select e.enter from segment_events e join customers c on c.id = e.customer_id join segments s on s.id = e.segment_id where c.ext_id = '$L' and s.name = 'big' order by e.at_ms desc limit 1")" 1 "the stored entry event"

# a write makes only reads that need it wait for a newer view: the customer written to (and
# the aggregates), not another customer
waits() { curl -s -u "$READ:" "$U/metrics" | sed -n 's/^retain_view_waits_total //p'; }
L2=$(rsql "select c.ext_id from customers c where (select count(*) from ref.purchases o where o.customer_id = c.id) = 2 order by c.id limit 1")
N2=$(curl -s -u "$READ:" "$U/v1/customers/$L2" | jq .features.orders)
W0=$(waits)
api POST /v1/track "{\"userId\":\"$L2\",\"event\":\"Order Completed\",\"messageId\":\"live-2\",\"timestamp\":\"2024-12-31T10:00:00Z\",\"properties\":{\"order_id\":\"LIVE-2\",\"total\":5}}" -u "$WRITE:"
api GET "/v1/customers/$C" "" "${R[@]}"
assert_eq "$CODE" 200 "another customer"
assert_eq "$(waits)" "$W0" "a read of another customer did not wait for the write"
api GET "/v1/customers/$L2" "" "${R[@]}"
assert_eq "$(echo "$BODY_OUT" | jq .features.orders)" "$((N2 + 1))" "the customer written to sees its order"
assert_eq "$(echo "$BODY_OUT" | jq -r .computed)" now "computed at once from its rows"
assert_eq "$(waits)" "$W0" "without waiting for a rebuild"
NOW=$(echo "$BODY_OUT" | jq -c '[.features.orders, .features.revenue, .features.net_revenue, .features.last_order_at, .features.lifecycle_stage, .segments]')
# ... and what a rebuilt view says of it agrees (the report waits for one)
api GET "/v1/metrics" "" "${R[@]}"
api GET "/v1/customers/$L2" "" "${R[@]}"
assert_eq "$(echo "$BODY_OUT" | jq -r .computed)" view "from the rebuilt view"
assert_eq "$(echo "$BODY_OUT" | jq -c '[.features.orders, .features.revenue, .features.net_revenue, .features.last_order_at, .features.lifecycle_stage, .segments]')" "$NOW" "the rebuilt view agrees"
# an attribute value the view has never seen cannot be shown at once: that read waits
W1=$(waits)
api POST /v1/identify "{\"userId\":\"$L2\",\"messageId\":\"id-new-plan\",\"traits\":{\"country\":\"Atlantis\"}}" -u "$WRITE:"
api GET "/v1/customers/$L2" "" "${R[@]}"
assert_eq "$(echo "$BODY_OUT" | jq -r '.features["attributes.country"]')" Atlantis "the new attribute value"
assert_eq "$(echo "$BODY_OUT" | jq -r .computed)" view "after a rebuild"
assert_eq "$(waits)" "$((W1 + 1))" "which it waited for"

# the timeline: pages of the customer's events, orders, refunds and subscriptions, newest first,
# every item once
WANT_ITEMS=$(sql "select (select count(*) from orders o join customers c on c.id = o.customer_id where c.ext_id = '$L') + (select count(*) from refunds r join customers c on c.id = r.customer_id where c.ext_id = '$L') + (select count(*) from events e join customers c on c.id = e.customer_id where c.ext_id = '$L') + (select count(*) from subscriptions x join customers c on c.id = x.customer_id where c.ext_id = '$L')")
GOT=0 CURSOR="" PREV=""
for _ in $(seq 100); do
  api GET "/v1/customers/$L/timeline?limit=5${CURSOR:+&cursor=$CURSOR}" "" "${R[@]}"
  [ "$CODE" = 200 ] || { fail "timeline page: $CODE $BODY_OUT"; break; }
  GOT=$((GOT + $(echo "$BODY_OUT" | jq '.items | length')))
  # newest first, across pages too
  for t in $(echo "$BODY_OUT" | jq -r '.items[].time'); do
    [ -z "$PREV" ] || [[ ! "$t" > "$PREV" ]] || fail "timeline out of order: $t after $PREV"
    PREV=$t
  done
  CURSOR=$(echo "$BODY_OUT" | jq -r '.next_cursor // empty')
  [ -n "$CURSOR" ] || break
done
assert_eq "$GOT" "$WANT_ITEMS" "every timeline item once"
api GET "/v1/customers/$L/timeline?limit=2" "" "${R[@]}"
assert_eq "$(echo "$BODY_OUT" | jq -r '.items[0].order_id')" LIVE-1 "the newest item is the live order"
api GET "/v1/customers/$L/timeline?cursor=zz" "" "${R[@]}"
assert_eq "$(echo "$BODY_OUT" | jq -r .error.field)" cursor "a bad cursor"

# merging two customers takes an explicit call, and can be undone
api POST /v1/identify '{"userId":"m-a","messageId":"ma","traits":{"email":"same@example.com"}}' -u "$WRITE:"
api POST /v1/identify '{"userId":"m-b","messageId":"mb","traits":{"email":"same@example.com"}}' -u "$WRITE:"
api POST /v1/track '{"userId":"m-b","event":"Order Completed","messageId":"mbo","timestamp":"2024-12-20T10:00:00Z","properties":{"order_id":"MB-1","total":40}}' -u "$WRITE:"
api GET /v1/customers/m-a "" "${R[@]}"
assert_eq "$(echo "$BODY_OUT" | jq .orders)" 0 "not merged by the shared email"
CUSTOMERS=$(curl -s -u "$READ:" "$U/v1/metrics" | jq .customers)
PROFILES=$(curl -s -u "$READ:" "$U/v1/metrics" | jq .profiles)
api POST /v1/customers/m-a/merge '{"from":"m-b","reason":"same person (support ticket 7)"}' -u "$WRITE:"
assert_eq "$CODE" 403 "a write key cannot merge"
api POST /v1/customers/m-a/merge '{"from":"m-b","reason":"same person (support ticket 7)"}' -u "$ADMIN:"
assert_eq "$CODE" 200 "merge"
api GET /v1/customers/m-a "" "${R[@]}"
assert_eq "$(echo "$BODY_OUT" | jq '[.orders, .features.orders]' -c)" "[1,1]" "the survivor has the order, in the store and the features"
# judged as of 2025-01-01 (RETAIN_NOW), m-a - first seen today, with no row then - did not exist
# yet and m-b did (its order of 2024-12-20): after the merge m-a holds that order and m-b is
# gone, so the profiles and the buyers stay as they were
assert_eq "$(curl -s -u "$READ:" "$U/v1/metrics" | jq .profiles)" "$PROFILES" "the same profiles"
assert_eq "$(curl -s -u "$READ:" "$U/v1/metrics" | jq .customers)" "$CUSTOMERS" "the same buyers"
api GET /v1/customers/m-b "" "${R[@]}"
assert_eq "$(echo "$BODY_OUT" | jq '.merged_into != null')" true "the merged-away customer says where it went"
# events sent under the merged-away id go to the survivor
api POST /v1/track '{"userId":"m-b","event":"Opened App","messageId":"mb2"}' -u "$WRITE:"
assert_eq "$(sql "select c.ext_id from events e join customers c on c.id = e.customer_id where e.ext_id = 'mb2'")" m-a "an event after the merge"
api POST /v1/customers/m-a/merge '{"from":"m-b"}' -u "$ADMIN:"
assert_eq "$CODE" 409 "merging again"
api POST /v1/customers/m-b/unmerge "" -u "$ADMIN:"
assert_eq "$CODE" 200 "unmerge"
api GET /v1/customers/m-b "" "${R[@]}"
assert_eq "$(echo "$BODY_OUT" | jq -c '[.orders, .merged_into]')" "[1,null]" "the order went back"
assert_eq "$(curl -s -u "$READ:" "$U/v1/metrics" | jq .customers)" "$CUSTOMERS" "two customers again"
api POST /v1/customers/m-b/unmerge "" -u "$ADMIN:"
assert_eq "$CODE" 409 "nothing to undo"

run 0 curl -sf -u "$READ:" "$U/metrics"
assert_contains "$OUT" 'retain_segment_moves_total'
kill -TERM $PID
wait $PID || fail "the server exited with $?"
finish
