# The generator is deterministic and realistic enough to analyse; the demo runs end to end.
. "$(dirname "$0")/lib/assert.bash"
run 0 "$RT_BIN" gen --customers 3000 --seed 7 --out a
assert_contains "$OUT" "3,000 customers"
run 0 "$RT_BIN" gen --customers 3000 --seed 7 --out b
run 0 "$RT_BIN" gen --customers 3000 --seed 8 --out c
for f in customers orders order_lines subscriptions events; do
  [ -s "a/$f.csv" ] || fail "a/$f.csv missing or empty"
  cmp -s "a/$f.csv" "b/$f.csv" || fail "$f.csv differs between two runs with one seed"
done
cmp -s a/orders.csv c/orders.csv && fail "another seed gave the same orders"
assert_eq "$(head -1 a/orders.csv)" "order_id,customer_id,order_date,amount,currency" "orders header"
assert_eq "$(head -1 a/customers.csv)" "customer_id,email,signup_date,country,channel" "customers header"
assert_eq "$(($(wc -l <a/customers.csv) - 1))" 3000 "customers written"
orders=$(($(wc -l <a/orders.csv) - 1))
[ "$orders" -gt 4500 ] && [ "$orders" -lt 30000 ] || fail "implausible order count $orders"
# Everything the generator writes imports cleanly.
for k in customers orders subscriptions events; do run 0 "$RT_BIN" import "$k" "a/$k.csv"; done
assert_eq "$(sql 'select count(*) from customers')" 3000 "customers imported"
# The lines of each order sum to its amount.
bad=$(awk -F, 'NR==FNR { if (FNR > 1 && $1 !~ /^C/) amt[$1] = $4; next }
               FNR > 1 { s[$1] += $4 * $5 }
               END { n = 0; for (o in s) if (sprintf("%.2f", s[o]) != sprintf("%.2f", amt[o])) n++; print n }' \
      a/orders.csv a/order_lines.csv)
assert_eq "$bad" 0 "orders whose lines do not sum to the amount"
run 0 "$RT_BIN" gen --customers 500 --seed 7 --no-lines --no-events --out d
[ -e d/events.csv ] && fail "--no-events wrote events.csv"
[ -e d/order_lines.csv ] && fail "--no-lines wrote order_lines.csv"
[ -s d/orders.csv ] || fail "--no-lines --no-events wrote no orders"
run 2 "$RT_BIN" gen --customers 0 --out z
run 2 "$RT_BIN" gen --customers lots
run 0 "$RT_BIN" demo --customers 2000 --dir demo
assert_contains "$OUT" "Retention report"
assert_contains "$OUT" "Cohorts by quarter"
assert_contains "$OUT" "BG/NBD purchases"
assert_contains "$OUT" "Churn model"
assert_contains "$OUT" "with the most value at risk of churning"
[ -f demo/retain.db ] || fail "demo store missing"
[ -f demo/retain.db.churn.json ] || fail "demo churn model missing"
finish
