# A customer's rights over HTTP and on the command line (docs/PRIVACY.md): events for two
# customers sent to `retain serve`; the access export of one (every kind of row, nothing of the
# other); its erasure by an admin key (DELETE /v1/customers/{id}): its rows gone from every
# table, the other customer untouched, the metrics and the segment no longer counting it, the
# log holding no personal data; later events under its ids refused (409) while the others of
# the same batch are stored; an import naming it rejected or skipped; `retain customers
# erase --allow-return` letting an id start a new profile; `unsuppress`; and the erased
# values gone from the bytes of the store's files.
. "$(dirname "$0")/lib/assert.bash"
. "$(dirname "$0")/lib/serve.bash"
export RETAIN_NOW=2025-03-01
WRITE=$("$RT_BIN" keys create --scope write 2>/dev/null)
READ=$("$RT_BIN" keys create --scope read 2>/dev/null)
ADMIN=$("$RT_BIN" keys create --scope admin 2>/dev/null)
ADMIN_ID=$(sql "select id from api_keys where scope = 'admin'")
serve_start --no-log
W=(-u "$WRITE:")
A=(-u "$ADMIN:")

# Ann (u1: an email, an anonymous device, two orders, a refund, a subscription) and Bob (u2)
api POST /v1/identify '{"userId":"u1","anonymousId":"dev-ann","messageId":"m1","traits":{"email":"ann.secret@example.com","name":"Ann Privacy"},"timestamp":"2025-01-02T10:00:00Z"}' "${W[@]}"
assert_eq "$CODE" 200 "identify Ann"
api POST /v1/batch '{"batch":[
 {"type":"track","userId":"u1","event":"Order Completed","messageId":"m2","timestamp":"2025-01-03T12:00:00Z","properties":{"order_id":"A-1","total":20,"products":[{"product_id":"p1","name":"Ann gift","price":20}]}},
 {"type":"track","userId":"u1","event":"Order Completed","messageId":"m3","timestamp":"2025-02-03T12:00:00Z","properties":{"order_id":"A-2","total":35}},
 {"type":"track","userId":"u1","event":"Order Refunded","messageId":"m4","timestamp":"2025-02-04T12:00:00Z","properties":{"order_id":"A-2","total":5}},
 {"type":"track","userId":"u1","event":"Subscription Started","messageId":"m5","timestamp":"2025-01-05T00:00:00Z","properties":{"subscription_id":"S-1","plan":"pro","amount":9}},
 {"type":"identify","userId":"u2","messageId":"m6","traits":{"email":"bob@example.com"},"timestamp":"2025-01-06T10:00:00Z"},
 {"type":"track","userId":"u2","event":"Order Completed","messageId":"m7","timestamp":"2025-02-10T12:00:00Z","properties":{"order_id":"B-1","total":30}}]}' "${W[@]}"
assert_eq "$CODE" 200 "the batch"
api POST /v1/segments '{"name":"buyers","rule":"orders >= 1"}' "${A[@]}"
assert_eq "$CODE" 201 "a segment"
assert_eq "$(echo "$BODY_OUT" | jq .members)" 2 "both are buyers"
api GET /v1/metrics "" "${A[@]}"
assert_eq "$(echo "$BODY_OUT" | jq .customers)" 2 "the metrics count both"

# ---- access (Art. 15): admin only, everything about Ann, nothing about Bob ----
api GET /v1/customers/u1/export "" -u "$READ:"
assert_eq "$CODE" 403 "a read key cannot export a person's data"
api GET /v1/customers/nobody/export "" "${A[@]}"
assert_eq "$CODE" 404 "export of an unknown customer"
api GET /v1/customers/u1/export "" "${A[@]}"
assert_eq "$CODE" 200 "export"
EXP=$BODY_OUT
assert_eq "$(echo "$EXP" | jq -r .customer.customer_id)" u1 "the export's customer"
assert_eq "$(echo "$EXP" | jq -c '[.events, .orders, .order_lines, .refunds, .subscriptions, .identities, .segment_members, .segment_events] | map(length)')" \
  "[5,2,1,1,1,2,1,1]" "events, orders, lines, refunds, subscriptions, identities, memberships, history"
assert_eq "$(echo "$EXP" | jq -r '.customers[0].attrs.name')" "Ann Privacy" "attributes"
assert_eq "$(echo "$EXP" | jq -r '.identities | map(.value) | sort | join(",")')" "ann.secret@example.com,dev-ann" "identities"
assert_eq "$(echo "$EXP" | jq -r '.events[] | select(.ext_id == "m2") | .props.products[0].name')" "Ann gift" "event properties"
assert_eq "$(echo "$EXP" | jq -r '.segment_members[0].segment')" buyers "segment membership by name"
assert_not_contains "$EXP" "bob@example.com" "Ann's export"
# the same from the command line, into a file only its owner can read
run 0 "$RT_BIN" customers export u1 --output ann.json
assert_eq "$(stat -c %a ann.json)" 600 "the export file's mode"
assert_eq "$(jq -c '[.events, .orders] | map(length)' ann.json)" "[5,2]" "the CLI export"
run 1 "$RT_BIN" customers export nobody
assert_contains "$ERR" "no customer 'nobody'"

# ---- erasure (Art. 17) ----
api DELETE /v1/customers/u1 "" -u "$WRITE:"
assert_eq "$CODE" 403 "a write key cannot erase"
api DELETE /v1/customers/nobody "" "${A[@]}"
assert_eq "$CODE" 404 "erasing an unknown customer"
U1=$(sql "select id from customers where ext_id = 'u1'")
api DELETE /v1/customers/u1 "" "${A[@]}"
assert_eq "$CODE" 200 "erase"
assert_eq "$(echo "$BODY_OUT" | jq -c '[.erased, .customers, .removed.events, .removed.orders, .removed.order_lines, .removed.identities, .removed.segment_members, .suppressed]')" \
  '["u1",1,5,2,1,2,1,2]' "what the erasure removed"
# no table holds a row of Ann (every table with a customer_id column)
LEFT=0
for t in $(sql "select m.name from sqlite_schema m where m.type = 'table' and exists (select 1 from pragma_table_info(m.name) where name = 'customer_id')"); do
  LEFT=$((LEFT + $(sql "select count(*) from \"$t\" where customer_id = $U1")))
done
assert_eq "$LEFT" 0 "rows of the erased customer"
assert_eq "$(sql "select count(*) from customers where id = $U1 or ext_id = 'u1'")" 0 "the customer row"
assert_eq "$(sql "select count(*) from identities where value in ('ann.secret@example.com', 'dev-ann')")" 0 "Ann's identities"
# Bob is untouched
api GET /v1/customers/u2 "" -u "$READ:"
assert_eq "$CODE" 200 "Bob"
assert_eq "$(echo "$BODY_OUT" | jq -c '[.orders, .events, .identities[0].value, .segments]')" '[1,2,"bob@example.com",["buyers"]]' "Bob's profile"
api GET /v1/customers/u1 "" -u "$READ:"
assert_eq "$CODE" 404 "Ann is gone from the read API"
# the aggregates no longer count her: metrics, the segment (its members and size)
api GET /v1/metrics "" "${A[@]}"
assert_eq "$(echo "$BODY_OUT" | jq .customers)" 1 "the metrics after the erasure"
api GET /v1/segments/buyers "" "${A[@]}"
assert_eq "$(echo "$BODY_OUT" | jq .members)" 1 "the segment after the erasure"
api GET /v1/segments/buyers/members "" "${A[@]}"
assert_eq "$(echo "$BODY_OUT" | jq -r '[.customers[].customer_id] | join(",")')" u2 "the segment's members"
# the log: who and how much, no personal data
assert_eq "$(sql "select requested_by || ',' || customers || ',' || suppressed from erasures")" "api key $ADMIN_ID,1,2" "the erasures log"
assert_eq "$(sql "select count(*) from erasures where removed like '%u1%' or removed like '%ann%'")" 0 "no id in the log"

# ---- later events under her ids are refused (the suppression list); others still stored ----
api POST /v1/track '{"userId":"u1","event":"Signed In","messageId":"m8"}' "${W[@]}"
assert_eq "$CODE" 409 "an event under the erased id"
assert_eq "$(echo "$BODY_OUT" | jq -r '.error.code + " " + .error.field')" "erased userId" "the refusal"
api POST /v1/batch '{"batch":[{"type":"track","userId":"u3","event":"Signed In","messageId":"m9"},{"type":"page","anonymousId":"dev-ann","messageId":"m10"}]}' "${W[@]}"
assert_eq "$CODE" 409 "a batch with the erased device"
assert_eq "$(echo "$BODY_OUT" | jq -r .error.field)" "batch[1].anonymousId" "the refused item"
assert_contains "$(echo "$BODY_OUT" | jq -r .error.message)" "1 of 2 events refused"
assert_eq "$(sql "select count(*) from customers where ext_id in ('u1', 'anon:dev-ann')")" 0 "no new profile for her"
assert_eq "$(sql "select count(*) from events e join customers c on c.id = e.customer_id where c.ext_id = 'u3'")" 1 "the other event of the batch"
# an import naming her: rejected with the file and line, or skipped with --skip-bad
printf 'customer_id,order_id,date,amount\nu4,C-1,2025-02-01,10\nu1,C-2,2025-02-02,12\n' > orders.csv
run 1 "$RT_BIN" import orders orders.csv
assert_contains "$ERR" "orders.csv:3"
assert_contains "$ERR" "erased"
assert_eq "$(sql "select count(*) from orders where ext_id in ('C-1', 'C-2')")" 0 "a rejected import stores nothing"
run 0 "$RT_BIN" import orders orders.csv --skip-bad
assert_eq "$(sql "select count(*) from orders where ext_id = 'C-1'")" 1 "the other rows are imported"
assert_eq "$(sql "select count(*) from customers where ext_id = 'u1'")" 0 "the erased customer's row is skipped"

# ---- the command line: erase needs --yes without a terminal; --allow-return ----
run 2 "$RT_BIN" customers erase u2 </dev/null
assert_contains "$ERR" "--yes"
assert_eq "$(sql "select count(*) from customers where ext_id = 'u2'")" 1 "nothing erased without --yes"
run 1 "$RT_BIN" customers erase nobody --yes
assert_contains "$ERR" "no customer 'nobody'"
U2=$(sql "select id from customers where ext_id = 'u2'")
run 0 "$RT_BIN" customers erase "$U2" --yes --allow-return --format json # by retain's number
assert_eq "$(echo "$OUT" | jq -c '[.erased, .removed.orders, .suppressed]')" '["u2",1,0]' "erased by number"
api POST /v1/track '{"userId":"u2","event":"Signed In","messageId":"m11"}' "${W[@]}"
assert_eq "$CODE" 200 "an id erased with --allow-return comes back"
assert_eq "$(sql "select count(*) from events e join customers c on c.id = e.customer_id where c.ext_id = 'u2'")" 1 "as a new, empty profile"
run 0 "$RT_BIN" customers unsuppress u1
api POST /v1/track '{"userId":"u1","event":"Signed In","messageId":"m12"}' "${W[@]}"
assert_eq "$CODE" 200 "an unsuppressed id starts a new profile"
run 1 "$RT_BIN" customers unsuppress u1
assert_contains "$ERR" "not on the suppression list"
run 0 "$RT_BIN" customers erasures --format json
assert_eq "$(echo "$OUT" | jq -r 'map(.requested_by) | join(",")')" "api key $ADMIN_ID,cli" "the log"
run 0 "$RT_BIN" customers --help
assert_contains "$OUT" "Art. 17"
api GET /v1/openapi.json
assert_eq "$(echo "$BODY_OUT" | jq -c '[(.paths["/v1/customers/{id}"] | has("delete")), (.paths["/v1/customers/{id}/export"] | has("get"))]')" "[true,true]" "the routes are documented"

# ---- the erased values are gone from the store's files ----
kill -TERM "$PID"
wait "$PID" || true
for s in ann.secret@example.com "Ann Privacy" dev-ann "Ann gift" bob@example.com; do
  CHECKS=$((CHECKS + 1))
  if grep -qaF "$s" "$RETAIN_DB" "$RETAIN_DB-wal" 2>/dev/null; then fail "'$s' is still in the store's files"; fi
done
finish
