# CSV formula injection (issue 13): customer ids and attribute values that a spreadsheet would
# run as formulas (=HYPERLINK(...), -1+2, @SUM(A1)) come out of every CSV retain writes with a
# leading single quote: `segment export` and `segment members`, `features --customer`, the
# rejects file of --skip-bad and the API's /v1/export (also of a segment). Numbers stay
# numbers: -5.2 in a numeric column is -5.2.
. "$(dirname "$0")/lib/assert.bash"
. "$(dirname "$0")/lib/serve.bash"
export RETAIN_NOW=2025-01-01
cat >customers.csv <<'EOF'
customer_id,signup_date,note,balance
"=HYPERLINK(""x"")",2024-01-01,plain,-5.2
-1+2,2024-01-02,@SUM(A1),3
@SUM(A1),2024-01-03,=1+1,-1
EOF
run 0 "$RT_BIN" import customers customers.csv
cat >orders.csv <<'EOF'
order_id,customer_id,date,amount
1,"=HYPERLINK(""x"")",2024-05-01,10
2,-1+2,2024-05-02,20
3,@SUM(A1),2024-05-03,30
EOF
run 0 "$RT_BIN" import orders orders.csv
run 0 "$RT_BIN" segment create everyone --rule "orders >= 1"

# the cells as they must be written: quoted when needed, guarded text, numbers as they are
want_ids=$'"\'=HYPERLINK(""x"")"\n\'-1+2\n\'@SUM(A1)'
run 0 "$RT_BIN" segment members everyone --format csv
assert_eq "$(echo "$OUT" | tail -n +2 | cut -d, -f1 | sort)" "$(echo "$want_ids" | sort)" "segment members"
run 0 "$RT_BIN" segment export everyone --format csv --fields attributes.note,attributes.balance
assert_contains "$OUT" $'\n\'-1+2,\'@SUM(A1),3' "segment export: a guarded id and value, a number"
assert_contains "$OUT" $'\n\'@SUM(A1),\'=1+1,-1' "segment export: a negative number stays"
assert_contains "$OUT" $'\n"\'=HYPERLINK(""x"")",plain,-5.2' "segment export: -5.2 stays -5.2"
run 0 "$RT_BIN" features --customer "-1+2" --format csv
assert_contains "$OUT" $'\nattributes.note,text,' "features: the attribute's row"
assert_contains "$OUT" ",'@SUM(A1)" "features: a guarded value"
assert_contains "$OUT" $'\nattributes.balance,number,' "features: the number's row"
assert_contains "$(echo "$OUT" | grep '^attributes.balance,')" ",3" "features: a number"

# the rejects file of --skip-bad holds the rows as they were: text guarded, numbers not
printf 'order_id,customer_id,date,amount\n9,=1+1,2024-13-01,-5\n' >bad.csv
run 0 "$RT_BIN" import orders bad.csv --skip-bad --rejects rej.csv
assert_contains "$(cat rej.csv)" $'"9","\'=1+1","2024-13-01","-5"' "the rejects file"

# the API's export
READ=$("$RT_BIN" keys create --scope read 2>/dev/null)
serve_start --no-log
curl -s -u "$READ:" "$U/v1/export?fields=attributes.note,attributes.balance" >all.csv
assert_eq "$(head -1 all.csv)" "customer_id,attributes.note,attributes.balance" "the export's header"
assert_eq "$(tail -n +2 all.csv | sort)" "$(printf '%s\n' '"'"'"'=HYPERLINK(""x"")",plain,-5.2' "'-1+2,'@SUM(A1),3" "'@SUM(A1),'=1+1,-1" | sort)" "/v1/export"
curl -s -u "$READ:" "$U/v1/export?segment=everyone&fields=attributes.balance" >seg.csv
assert_contains "$(cat seg.csv)" $'\n\'@SUM(A1),-1' "/v1/export of a segment"
kill "$PID"; wait "$PID" 2>/dev/null
finish
