# Hostile input (issue 13), through the real binary: the CLI import and the HTTP API refuse the
# same bad values (hex and padded amounts, unknown currencies, absurd quantities, NUL in ids)
# with their place, and store ids in Unicode NFC, so "café" typed two ways is one customer.
. "$(dirname "$0")/lib/assert.bash"
. "$(dirname "$0")/lib/serve.bash"

# ---- the CLI import ----
check_bad() { # FILE CONTENT EXPECTED-MESSAGE (CONTENT as printf's format: \0 is a NUL byte)
  printf "$2" >"$1"
  run 1 "$RT_BIN" import orders "$1"
  assert_contains "$ERR" "$3" "error for $1"
  assert_eq "$(sql 'select count(*) from orders; select count(*) from customers')" "0
0" "store after $1"
}
check_bad hex.csv 'customer_id,date,amount\na,2024-01-05,0x1p4\n' \
  "hex.csv:2:3 (column 3 'amount'): invalid number '0x1p4'"
check_bad cur.csv 'customer_id,date,amount,currency\na,2024-01-05,5,zzz\n' \
  "cur.csv:2:4 (column 4 'currency'): invalid currency 'zzz'"
check_bad qty.csv 'order_id,customer_id,date,quantity,unit_price\n1,a,2024-01-05,1e300,2\n' \
  "qty.csv:2:4 (column 4 'quantity'): invalid quantity '1e300'"
check_bad nul.csv 'customer_id,date,amount\nab\0c,2024-01-05,5\n' \
  "nul.csv:2:1 (column 1 'customer_id'): customer id contains a NUL byte"
printf 'customer_id,date,amount\ncaf\xc3\xa9,2024-01-05,5\ncafe\xcc\x81,2024-01-06,7\n' >nfc.csv
run 0 "$RT_BIN" import orders nfc.csv
assert_eq "$(sql "select count(*) || ' ' || hex(min(ext_id)) from customers")" "1 636166C3A9" \
  "café written two ways is one customer, stored in NFC"

# ---- the HTTP API ----
KEY=$("$RT_BIN" keys create --scope write 2>/dev/null)
READ=$("$RT_BIN" keys create --scope read 2>/dev/null)
serve_start --no-log
order() { # PROPERTIES (JSON members after order_id)
  api POST /v1/track "{\"userId\":\"u\",\"event\":\"Order Completed\",\"properties\":{\"order_id\":\"o\",$1}}" -u "$KEY:"
}
order '"total":"0x1p4"'
assert_eq "$CODE" 400 "a hex amount"
assert_contains "$BODY_OUT" '"field":"properties.total"'
order '"total":" 5"'
assert_eq "$CODE" 400 "an amount with a blank"
order '"total":5,"currency":"zzz"'
assert_eq "$CODE" 400 "an unknown currency"
assert_contains "$BODY_OUT" '"field":"properties.currency"'
order '"total":5,"products":[{"sku":"a","price":2,"quantity":1e300}]'
assert_eq "$CODE" 400 "quantity 1e300"
assert_contains "$BODY_OUT" '"field":"properties.products[0].quantity"'
order '"total":5,"products":[{"sku":"a","price":2,"quantity":-1}]'
assert_eq "$CODE" 400 "a negative quantity"
assert_eq "$(sql "select count(*) from orders where ext_id = 'o'")" 0 "no bad order stored"
# the decomposed spelling over the API finds the customer the import made, by either spelling
api POST /v1/track "{\"userId\":\"cafe\\u0301\",\"event\":\"Order Completed\",\"messageId\":\"m1\",\"properties\":{\"order_id\":\"o1\",\"total\":\"12.50\",\"currency\":\"eur\"}}" -u "$KEY:"
assert_eq "$CODE" 200 "an order for café, decomposed"
assert_eq "$(sql "select count(*) from customers")" 1 "still one customer"
api GET "/v1/customers/cafe%CC%81" "" -u "$READ:"
assert_eq "$CODE" 200 "the customer by its decomposed id"
assert_contains "$BODY_OUT" "\"customer_id\":\"café\""
kill "$PID"; wait "$PID" 2>/dev/null

# a purchase dated in the future (year 9999, or two days ahead) is a bad row naming its cell,
# not a row every report would hide; subscriptions may be dated ahead (scheduled renewals)
AHEAD=$(date -u -d '+2 days' +%Y-%m-%d)
printf 'order_id,customer_id,order_date,amount,currency\nf1,x,2024-05-01,1.00,USD\nf2,y,9999-12-31,1.00,USD\nf3,z,%s,1.00,USD\n' "$AHEAD" >future.csv
run 1 "$RT_BIN" import orders future.csv
assert_contains "$ERR" "future.csv:3:3 (column 3 'order_date'): '9999-12-31' is in the future (today is $(date -u +%Y-%m-%d), UTC)"
assert_eq "$(sql "select count(*) from orders where ext_id like 'f%'")" 0 "nothing stored"
run 0 "$RT_BIN" import orders future.csv --skip-bad
assert_contains "$OUT" "skipped 2 bad rows"
assert_eq "$(sql "select count(*) from orders where ext_id like 'f%'")" 1 "the good row"
printf 'subscription_id,customer_id,plan,start_date,renews_at\ns1,x,pro,2024-05-01,%s\n' "$AHEAD" >subs.csv
run 0 "$RT_BIN" import subscriptions subs.csv
finish
