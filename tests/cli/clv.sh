# `retain clv fit|predict` on the CDNOW sample (the papers' 2,357 customers, calibration to
# 1997-09-30 in weeks): the published estimates, from a file and from the store alike, and the
# prediction table.
. "$(dirname "$0")/lib/assert.bash"
F=$RT_FIXTURES/cdnow_sample.txt
COLS=(--no-header --delimiter whitespace --customer-col 2 --date-col 3 --amount-col 5)

# json VALUE NAME: the number after "NAME": in the JSON output, rounded to 3 decimals
num() { echo "$OUT" | awk -v k="\"$1\":" '$1 == k { gsub(/,/, "", $2); printf "%.3f\n", $2; exit }'; }

run 0 "$RT_BIN" clv fit --orders "$F" "${COLS[@]}" --until 1997-09-30 --format json
assert_eq "$(num r)" 0.243 "BG/NBD r"
assert_eq "$(num alpha)" 4.414 "BG/NBD alpha"
assert_eq "$(num a)" 0.793 "BG/NBD a"
assert_eq "$(num b)" 2.426 "BG/NBD b"
assert_eq "$(num p)" 6.250 "Gamma-Gamma p"
assert_eq "$(num q)" 3.744 "Gamma-Gamma q"
assert_eq "$(num v)" 15.444 "Gamma-Gamma v"
assert_contains "$OUT" '"converged": true'
assert_contains "$OUT" '"customers": 2357'
FILE_FIT=$OUT

# From the store: the same estimates.
run 0 "$RT_BIN" import orders "$F" "${COLS[@]}"
run 0 "$RT_BIN" clv fit --until 1997-09-30 --format json
assert_eq "$OUT" "$FILE_FIT" "fit from the store"

# The table for people names the parameters and says whether the fit converged.
run 0 "$RT_BIN" clv fit --until 1997-09-30
assert_contains "$OUT" "0.2426  ± 0.0126"
assert_contains "$OUT" "converged"

# predict: one row per customer; the paper's worked customer (x = 2, t_x = 30.43, T = 38.86,
# id 0001) expects 1.226 purchases in the next 39 weeks.
run 0 "$RT_BIN" clv predict --until 1997-09-30 --horizon 39w --format csv
assert_eq "$(echo "$OUT" | head -1)" \
  "customer_id,p_alive,expected_purchases,predicted_clv,expected_next_order,historic_clv,avg_days_between_orders"
assert_eq "$(echo "$OUT" | tail -n +2 | wc -l)" 2357 "prediction rows"
assert_eq "$(echo "$OUT" | awk -F, '$1 == "0001" { printf "%.3f", $3 }')" 1.226 "E[Y(39)] of 0001"
# its historic value is what it spent up to the calibration end: 29.33 + 29.73 + 14.96
assert_eq "$(echo "$OUT" | awk -F, '$1 == "0001" { print $6 }')" 74.02 "historic value of 0001"
# every P(alive) is a probability, every expected count and value non-negative
assert_eq "$(echo "$OUT" | awk -F, 'NR > 1 && ($2 < 0 || $2 > 1 || $3 < 0 || $4 < 0)' | wc -l)" 0 \
  "ranges of the predictions"
# a longer horizon expects more
run 0 "$RT_BIN" clv predict --until 1997-09-30 --horizon 78w
assert_eq "$(echo "$OUT" | awk -F, '$1 == "0001" { print ($3 > 1.226) }')" 1 "78 weeks > 39 weeks"

# Pareto/NBD: the published estimates (Fader, Hardie & Lee's note), and predictions.
run 0 "$RT_BIN" clv fit --model pareto --until 1997-09-30 --format json
assert_contains "$OUT" '"model": "pareto"'
assert_eq "$(num r)" 0.553 "Pareto/NBD r"
assert_eq "$(num alpha)" 10.578 "Pareto/NBD alpha"
assert_eq "$(num s)" 0.606 "Pareto/NBD s"
assert_eq "$(num beta)" 11.669 "Pareto/NBD beta"
run 0 "$RT_BIN" clv predict --model pareto --until 1997-09-30 --horizon 39w
assert_eq "$(echo "$OUT" | tail -n +2 | wc -l)" 2357 "Pareto/NBD prediction rows"

# holdout: the weeks after the calibration end, actual against predicted; the actual total is
# every (customer, day) with an order after 1997-09-30.
run 0 "$RT_BIN" clv holdout --until 1997-09-30 --format csv
assert_eq "$(echo "$OUT" | head -1)" "period,actual,predicted,cumulative_actual,cumulative_predicted"
assert_eq "$(echo "$OUT" | tail -n +2 | wc -l)" 39 "holdout weeks"
want=$(awk '$3 > 19970930 { k[$2 " " $3] = 1 } END { print length(k) }' "$F")
assert_eq "$(echo "$OUT" | tail -1 | cut -d, -f4)" "$want" "holdout actual total"
run 0 "$RT_BIN" clv holdout --model pareto --until 1997-09-30 --format csv
assert_eq "$(echo "$OUT" | tail -1 | cut -d, -f4)" "$want" "Pareto/NBD holdout actual total"
run 0 "$RT_BIN" clv holdout --until 1997-09-30 --periods 4
assert_contains "$OUT" "Holdout check"
assert_contains "$OUT" "In all:"
run 2 "$RT_BIN" clv holdout --periods 0

# predict --save: a model run and one score per customer in the store, readable with SQL;
# the customer data (and its version) untouched.
dv0=$(sql "select value from meta where key = 'data_version'")
run 0 "$RT_BIN" clv predict --until 1997-09-30 --horizon 39w --save
assert_contains "$ERR" "saved model run"
assert_eq "$(sql "select kind || ',' || customers from model_runs")" "bgnbd,2357" "model run"
assert_eq "$(sql 'select count(*) from customer_scores')" 2357 "stored scores"
assert_eq "$(sql "select printf('%.3f', s.expected_purchases) from customer_scores s join customers c on c.id = s.customer_id where c.ext_id = '0001'")" 1.226 "stored E[Y(39)] of 0001"
assert_eq "$(sql "select value from meta where key = 'data_version'")" "$dv0" "data version"
# ... and exported: the latest run, by kind, as CSV and JSON
run 0 "$RT_BIN" scores --kind bgnbd
assert_contains "$ERR" "bgnbd"
assert_eq "$(echo "$OUT" | head -1)" "customer_id,p_alive,expected_purchases,predicted_clv,expected_next_order"
assert_eq "$(echo "$OUT" | tail -n +2 | wc -l)" 2357 "exported scores"
assert_eq "$(echo "$OUT" | awk -F, '$1 == "0001" { printf "%.3f", $3 }')" 1.226 "exported E[Y(39)] of 0001"
run 0 "$RT_BIN" scores --format json
assert_contains "$OUT" '"kind": "bgnbd"'
assert_contains "$OUT" '"until": "1997-09-30"'
run 1 "$RT_BIN" scores --run 99
assert_contains "$ERR" "no model run 99"
run 2 "$RT_BIN" scores --kind guess
run 2 "$RT_BIN" clv fit --save
run 2 "$RT_BIN" clv predict --orders "$F" "${COLS[@]}" --save

# Ids with a comma or a quote are quoted in the CSV, quotes doubled.
printf 'order_id,customer_id,order_date,amount\n1,"a,b",2024-01-01,10\n2,"a,b",2024-02-01,20\n3,"q""x",2024-01-05,5\n4,"q""x",2024-03-05,7\n5,d,2024-01-09,3\n' >odd.csv
run 0 "$RT_BIN" clv predict --orders odd.csv --unit day
assert_contains "$OUT" $'\n"a,b",'
assert_contains "$OUT" $'\n"q""x",'
assert_contains "$OUT" $'\nd,1.000000,'

# Usage errors exit 2.
run 2 "$RT_BIN" clv
run 2 "$RT_BIN" clv guess
run 2 "$RT_BIN" clv fit --unit fortnight
run 2 "$RT_BIN" clv fit --model pareto2
run 2 "$RT_BIN" clv predict --horizon soon
run 2 "$RT_BIN" clv fit --until 1997-13-45
run 0 "$RT_BIN" clv --help
assert_contains "$OUT" "Usage: retain [--db PATH] clv fit|predict|holdout"
finish
