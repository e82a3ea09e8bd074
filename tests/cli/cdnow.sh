# The CDNOW sample (real data, 2,357 customers): imported and analysed by retain, compared to
# the cohort matrix and monthly report computed independently with pandas
# (tests/fixtures/cdnow_expected.py wrote the expected files).
. "$(dirname "$0")/lib/assert.bash"
F=$RT_FIXTURES/cdnow_sample.txt
COLS=(--no-header --delimiter whitespace --customer-col 2 --date-col 3 --quantity-col 4 --amount-col 5)

run 0 "$RT_BIN" import orders "$F" "${COLS[@]}"
assert_contains "$OUT" "6,919 rows"
assert_eq "$(sql 'select count(*) from orders')" 6919 "orders stored"
assert_eq "$(sql 'select count(*) from customers')" 2357 "customers stored"

# Idempotent: the second import stores nothing.
run 0 "$RT_BIN" import orders "$F" "${COLS[@]}"
assert_contains "$OUT" "6,919 already in the store"
assert_eq "$(sql 'select count(*) from orders')" 6919 "orders after re-import"

run 0 "$RT_BIN" cohorts --format csv
echo "$OUT" >cohorts.csv
assert_same_file cohorts.csv "$RT_FIXTURES/cdnow_sample_cohorts.csv"

# The library example (examples/cohort_sizes.c) on the same store: each cohort's size, which
# pandas computed as the period-0 customers of each cohort.
if [ -n "${RT_EXAMPLES:-}" ]; then
  run 0 "$RT_EXAMPLES/cohort_sizes" "$RETAIN_DB"
  assert_eq "$OUT" "$(awk -F, '$2 == "0" { print $1 "," $3 }' "$RT_FIXTURES/cdnow_sample_cohorts.csv")" \
    "cohort sizes from the library example"
fi

# Straight from the file, without the store: the same matrix.
run 0 "$RT_BIN" --db "$T/none.db" cohorts --orders "$F" "${COLS[@]}" --format csv
echo "$OUT" >cohorts_file.csv
assert_same_file cohorts_file.csv "$RT_FIXTURES/cdnow_sample_cohorts.csv"
[ ! -e "$T/none.db" ] || fail "--orders created a store"
# The global --currency names the file's currency too: the same matrix, not an empty one.
run 0 "$RT_BIN" --db "$T/none.db" --currency GBP cohorts --orders "$F" "${COLS[@]}" --format csv
echo "$OUT" >cohorts_gbp.csv
assert_same_file cohorts_gbp.csv "$RT_FIXTURES/cdnow_sample_cohorts.csv"

# The monthly report: every column pandas computed, for every month.
run 0 "$RT_BIN" report --from 1997-01 --to 1998-06 --format csv
echo "$OUT" >report.csv
pick() { # FILE -> the expected columns, in the fixture's order
  awk -F, -v want="$(head -1 "$RT_FIXTURES/cdnow_sample_report.csv")" '
    NR == 1 { n = split(want, w, ","); for (i = 1; i <= NF; i++) col[$i] = i; next }
    { line = ""; for (j = 1; j <= n; j++) line = line (j > 1 ? "," : "") $(col[w[j]]); print line }' "$1"
}
{ head -1 "$RT_FIXTURES/cdnow_sample_report.csv"; pick report.csv; } >report_cols.csv
assert_same_file report_cols.csv "$RT_FIXTURES/cdnow_sample_report.csv"

# Rates follow from the counts: 1997-12 churn = 69/390, retention = (390-69)/390 (the two add
# up to 1), the textbook (E - N) / S = (400-0)/390.
line=$(grep '^1997-12,' report.csv)
assert_contains "$(echo "$OUT" | head -1)" "churn_rate"
col() { echo "$OUT" | awk -F, -v f="$1" 'NR==1{for(i=1;i<=NF;i++)c[$i]=i} /^1997-12,/{print $(c[f])}'; }
assert_eq "$(col churn_rate)" "$(awk 'BEGIN{printf "%.6g", 69/390}')" "1997-12 churn rate"
assert_eq "$(col retention_rate)" "$(awk 'BEGIN{printf "%.6g", 321/390}')" "1997-12 retention rate"
assert_eq "$(col textbook_retention_rate)" "$(awk 'BEGIN{printf "%.6g", 400/390}')" "1997-12 (E-N)/S"
: "$line"

# The table for people.
run 0 "$RT_BIN" report
assert_contains "$OUT" "Retention report: month 1998-06"
assert_contains "$OUT" "churn rate"
run 0 "$RT_BIN" cohorts --percent --period quarter
assert_contains "$OUT" "1997-Q1"
run 0 "$RT_BIN" cohorts --format json --horizon 2
assert_contains "$OUT" '"cohort": "1997-01"'
finish
