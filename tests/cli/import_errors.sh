# Bad input: every kind of error names file, line, column and reason, exits non-zero and
# leaves the store as it was; --skip-bad stores the good rows and reports every bad one.
. "$(dirname "$0")/lib/assert.bash"

printf 'order_id,customer_id,order_date,amount\n1,a,2024-01-05,10.00\n2,b,2024-01-06,20.50\n' >good.csv
run 0 "$RT_BIN" import orders good.csv
assert_eq "$(sql 'select count(*) from orders')" 2 "good orders"
before=$(sql 'select count(*) from orders; select count(*) from customers; select count(*) from imports')

check_bad() { # FILE CONTENT EXPECTED-MESSAGE
  printf "$2" >"$1"
  run 1 "$RT_BIN" import orders "$1"
  assert_contains "$ERR" "$3" "error for $1"
  assert_contains "$ERR" "nothing was imported" "error for $1"
  assert_eq "$(sql 'select count(*) from orders; select count(*) from customers; select count(*) from imports')" "$before" "store after $1"
}
check_bad bad_date.csv 'order_id,customer_id,order_date,amount\n3,c,2024-01-07,5\n4,d,2023-13-45,5\n' \
  "bad_date.csv:3:3 (column 3 'order_date'): invalid date '2023-13-45': month 13 out of range"
check_bad bad_number.csv 'order_id,customer_id,order_date,amount\n3,c,2024-01-07,5x\n' \
  "bad_number.csv:2:4 (column 4 'amount')"
check_bad ragged.csv 'order_id,customer_id,order_date,amount\n3,c,2024-01-07,5\n4,d,2024-01-07\n' \
  "ragged.csv:3"
check_bad quote.csv 'order_id,customer_id,order_date,amount\n3,c,2024-01-07,5\n4,"d,2024-01-07,5\n' \
  "quote.csv:3:3: unterminated quote"
check_bad utf8.csv 'order_id,customer_id,order_date,amount\n3,caf\xe9,2024-01-07,5\n' \
  "utf8.csv:2:6: invalid UTF-8"
check_bad nocol.csv 'order_id,customer_id,amount\n3,c,5\n' "nocol.csv"
assert_contains "$ERR" "date" "missing column names the field"
check_bad empty.csv '' "empty.csv"
check_bad nocust.csv 'order_id,customer_id,order_date,amount\n3,,2024-01-07,5\n' "no customer id"

# Latin-1 on request.
printf 'order_id,customer_id,order_date,amount\n5,caf\xe9,2024-01-07,5\n' >latin1.csv
run 0 "$RT_BIN" import orders latin1.csv --encoding latin1
assert_eq "$(sql "select count(*) from customers where ext_id = 'café'")" 1 "latin1 customer id"

# --skip-bad: the good rows are stored, every bad one reported and written to the rejects file.
printf 'order_id,customer_id,order_date,amount\n10,x,2024-02-01,1\n11,,2024-02-01,1\n12,y,2024-02-31,1\n13,z,2024-02-02,2.5\n' >mixed.csv
run 0 "$RT_BIN" import orders mixed.csv --skip-bad
assert_contains "$OUT" "skipped 2 bad rows"
assert_contains "$OUT" "no customer id"
assert_eq "$(sql "select count(*) from orders where ext_id in ('10','13')")" 2 "good rows of mixed.csv"
[ -f mixed.csv.rejects.csv ] || fail "no rejects file"
assert_eq "$(grep -c '' mixed.csv.rejects.csv)" 3 "rejects file lines (header + 2)"
assert_contains "$(cat mixed.csv.rejects.csv)" "day 31 out of range"

# A customers file: the summary counts the customers once.
printf 'customer_id,email\nk1,k1@example.com\nk2,k2@example.com\n' >people.csv
run 0 "$RT_BIN" import customers people.csv
assert_contains "$OUT" "stored 2 new customers"
assert_not_contains "$OUT" "customers,"
run 0 "$RT_BIN" import customers people.csv
assert_contains "$OUT" "stored 0 new customers"

# Usage errors exit 2.
run 2 "$RT_BIN" import
run 2 "$RT_BIN" import widgets good.csv
run 2 "$RT_BIN" import orders good.csv --delimiter ab
run 1 "$RT_BIN" import orders does-not-exist.csv
assert_contains "$ERR" "does-not-exist.csv"
finish
