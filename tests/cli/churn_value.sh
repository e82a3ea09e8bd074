# `retain churn score` and `explain` on real data: the Online Retail slice (445 customers'
# invoices, tests/fixtures/online_retail_slice.csv). Each customer's value (the net revenue of the
# last 365 days when no CLV run is stored) against pandas (online_retail_expected.py wrote
# online_retail_slice_value.csv); value at risk = risk x value to the penny; the sort orders;
# reasons whose direction is the sign of their size, never twice the same; the same fields in
# CSV, JSON and the table; the value stored with --save; the CLV run's value when there is one.
. "$(dirname "$0")/lib/assert.bash"
export LC_ALL=C
F=$RT_FIXTURES/online_retail_slice.csv
EXPECTED=$RT_FIXTURES/online_retail_slice_value.csv
typical() { awk -v k="$1" '$1 == k { print $2 }' "$RT_FIXTURES/online_retail_slice_typical.txt"; }
AS_OF=$(typical as_of)

run 0 "$RT_BIN" import orders "$F" --currency GBP
run 0 "$RT_BIN" churn train --format json
assert_contains "$OUT" "\"customers\": $(typical train_customers)"

# CSV: every customer in play, the value as pandas computed it
run 0 "$RT_BIN" churn score --format csv
assert_eq "$(echo "$OUT" | head -1)" "customer_id,churn_probability,value,value_at_risk,reason_1,points_1,reason_2,points_2,reason_3,points_3"
assert_contains "$ERR" "as of $AS_OF"
assert_contains "$ERR" "net revenue"
echo "$OUT" >score.csv
assert_eq "$(tail -n +2 score.csv | wc -l)" "$(typical customers)" "customers in play"
# a reason cell may hold a quoted comma ("1 refund, 4% of the spend"): the first four fields
# have none
cut -d, -f1,3 score.csv | tail -n +2 | sort >got.csv
tail -n +2 "$EXPECTED" | cut -d, -f1,2 | sort >want.csv
assert_same_file got.csv want.csv
# value at risk = p x value, the penny rounded half up, in whole numbers (p has 6 decimals)
bad=$(tail -n +2 score.csv | cut -d, -f2-4 | awk -F, '{
  p = $1 * 1000000; v = $2 * 100
  p = int(p + 0.5); v = int(v + 0.5)
  want = int((p * v + 500000) / 1000000)
  got = int($3 * 100 + 0.5)
  if (want != got) print NR ": " $0 " wants " want / 100 }')
assert_eq "$bad" "" "value at risk = risk x value"
# the default order: value at risk, descending; and the other two
desc() { awk -F, -v c="$1" 'NR > 2 && $c + 0 > prev + 0 { print "row " NR ": " $c " after " prev } { prev = $c }'; }
assert_eq "$(desc 4 <score.csv)" "" "sorted by value at risk"
run 0 "$RT_BIN" churn score --format csv --sort risk
assert_eq "$(echo "$OUT" | desc 2)" "" "sorted by risk"
run 0 "$RT_BIN" churn score --format csv --sort value
assert_eq "$(echo "$OUT" | desc 3)" "" "sorted by value"
assert_eq "$(echo "$OUT" | tail -n +2 | cut -d, -f1 | head -1)" \
  "$(tail -n +2 "$EXPECTED" | sort -t, -k2,2 -g -r | head -1 | cut -d, -f1)" "most valuable first"

# JSON: the same fields; each reason's direction is the sign of its points; distinct texts
run 0 "$RT_BIN" churn score --format json --top 40
echo "$OUT" >score.json
assert_eq "$(jq -r .as_of score.json)" "$AS_OF" "JSON as of"
assert_eq "$(jq -r .value_source.kind score.json)" net_revenue "JSON value source"
assert_eq "$(jq -r .sort score.json)" value-at-risk "JSON sort"
pence() { awk -F, '{ printf "%s,%.0f,%.0f,%.0f\n", $1, $2 * 1e6, $3 * 100, $4 * 100 }'; }
assert_eq "$(jq -r '.customers[] | [.customer_id, .churn_probability, .value, .value_at_risk] | @csv' score.json | tr -d '"' | pence)" \
  "$(head -41 score.csv | tail -n +2 | cut -d, -f1-4 | pence)" "JSON and CSV agree"
assert_eq "$(jq '[.customers[].reasons[] | select((.points > 0) != (.direction == "raises"))] | length' score.json)" 0 "directions"
assert_eq "$(jq '[.customers[] | select((.reasons | map(.text) | unique | length) != (.reasons | length))] | length' score.json)" 0 "distinct reasons"
assert_eq "$(jq '[.customers[].reasons[] | select(.text | test("only"))] | length' score.json)" 0 "no 'only'"
# money in the reasons with thousands separators, like every amount for people
assert_eq "$(jq '[.customers[].reasons[] | select(.text | test("[0-9]{4}\\."))] | length' score.json)" 0 "separators in the reasons"
[ "$(jq '[.customers[].reasons[] | select(.text | test("worth [0-9]{1,3},[0-9]{3}"))] | length' score.json)" -gt 0 ] || fail "some reason names an amount over 1,000"

# explain: the customer with the most order days (pandas); the order count is told with the
# count and the typical one (the training customers' median, pandas); every reason once
top=$(tail -n +2 "$EXPECTED" | sort -t, -k3,3 -g -r | head -1)
id=${top%%,*}
ndays=${top##*,}
run 0 "$RT_BIN" churn explain "$id" --format json
echo "$OUT" >explain.json
assert_eq "$(jq -r .customer_id explain.json)" "$id"
assert_eq "$(jq -r .as_of explain.json)" "$AS_OF"
assert_eq "$(jq '.reasons | map(.text) | unique | length' explain.json)" "$(jq '.reasons | length' explain.json)" "explain: distinct reasons"
assert_eq "$(jq -r --arg t "ordered on $ndays different days (typical: $(typical median_order_days))" '[.reasons[] | select(.text == $t)] | length' explain.json)" 1 "the order count, against the typical one"
assert_eq "$(jq '[.reasons[] | select((.points > 0) != (.direction == "raises"))] | length' explain.json)" 0 "explain: directions"
assert_eq "$(jq '[.reasons[].points | fabs] | . == (sort | reverse)' explain.json)" true "explain: largest first"
assert_eq "$(jq -r '.value * 100 | round' explain.json)" "$(grep "^$id," "$EXPECTED" | cut -d, -f2 | tr -d .)" "explain: value"
run 0 "$RT_BIN" churn explain "$id"
assert_contains "$OUT" "Customer $id · as of $AS_OF"
assert_contains "$OUT" "What raises the risk"
assert_contains "$OUT" "What lowers it"
assert_contains "$OUT" "ordered on $ndays different days (typical: $(typical median_order_days))"
run 0 "$RT_BIN" churn explain "$id" --format csv
assert_eq "$(echo "$OUT" | head -1)" "customer_id,as_of,churn_probability,value,value_at_risk,direction,points,log_odds,reason"
assert_eq "$(echo "$OUT" | tail -n +2 | awk -F, '($7 > 0) != ($6 == "raises")' | wc -l)" 0 "explain CSV: directions"

# the table: money with thousands separators, the as-of and the value's source in the header
run 0 "$RT_BIN" churn score --top 5
assert_contains "$OUT" "The 5 customers with the most value at risk of churning in the next 90 days · as of $AS_OF"
assert_contains "$OUT" "value (GBP): net revenue"
first=$(sed -n 2p score.csv | cut -d, -f3)
human=$(echo "$first" | sed -E ':a; s/^([0-9]+)([0-9]{3})/\1,\2/; ta')
case "$first" in ????????*) assert_contains "$OUT" "$human" "separators";; esac
assert_eq "$(echo "$OUT" | sed -n 6p | awk '{ print $1 }')" "$(sed -n 2p score.csv | cut -d, -f1)" "table's first row"

# --save: the value is stored beside the probability, and exported with the value at risk
run 0 "$RT_BIN" churn score --save --format csv
assert_eq "$(sql "select count(*) from customer_scores where predicted_clv is not null")" "$(typical customers)" "stored values"
run 0 "$RT_BIN" scores --kind churn
assert_eq "$(echo "$OUT" | head -1)" "customer_id,churn_probability,value,value_at_risk,reasons"
assert_eq "$(echo "$OUT" | tail -n +2 | cut -d, -f1-4 | sort)" "$(tail -n +2 score.csv | cut -d, -f1-4 | sort)" "exported = scored"

# a stored CLV run is the value when there is one
run 0 "$RT_BIN" clv fit
run 0 "$RT_BIN" clv predict --save --format csv
run 0 "$RT_BIN" scores --kind mbgnbd
echo "$OUT" | tail -n +2 | awk -F, '{ print $1 "," $4 }' | sort >clv.csv
run 0 "$RT_BIN" churn score --format csv
assert_contains "$ERR" "predicted CLV"
assert_contains "$ERR" "CLV run"
echo "$OUT" | tail -n +2 | cut -d, -f1,3 | sort >withclv.csv
assert_eq "$(join -t, withclv.csv clv.csv | awk -F, '$2 != $3' | wc -l)" 0 "the CLV run's values"
assert_eq "$(join -t, withclv.csv clv.csv | wc -l)" "$(typical customers)" "every customer valued"
run 0 "$RT_BIN" churn score --format json --top 1
assert_eq "$(echo "$OUT" | jq -r .value_source.kind)" clv
run 0 "$RT_BIN" churn score --format csv --value revenue
assert_eq "$(echo "$OUT" | tail -n +2 | cut -d, -f1,3 | sort)" "$(cat want.csv)" "--value revenue"

# errors
run 2 "$RT_BIN" churn score --sort size
run 2 "$RT_BIN" churn score --value profit
run 2 "$RT_BIN" churn explain "$id" --sort risk
run 2 "$RT_BIN" churn score --orders "$F" --model "$RETAIN_DB.churn.json" --value clv
rm -f "$RETAIN_DB" "$RETAIN_DB-wal" "$RETAIN_DB-shm"
run 0 "$RT_BIN" import orders "$F" --currency GBP
run 0 "$RT_BIN" churn train
run 1 "$RT_BIN" churn score --value clv
assert_contains "$ERR" "no stored CLV run"
finish
