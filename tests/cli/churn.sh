# `retain churn cv`: a labelled customer table generated here (churn rises with a number and
# differs by plan), cross-validated with both models; usage and data errors.
. "$(dirname "$0")/lib/assert.bash"

# 3,000 customers from a fixed linear congruential generator: churn when
# 1.5 x + plan effect + noise > 0.8
awk 'BEGIN {
  s = 12345; print "id,plan,x,monthly,churned"
  for (i = 0; i < 3000; i++) {
    s = (s * 1103515245 + 12345) % 2147483648; x = (s / 2147483648) * 4 - 2
    s = (s * 1103515245 + 12345) % 2147483648; p = int(s / 2147483648 * 3)
    s = (s * 1103515245 + 12345) % 2147483648; e = (s / 2147483648) * 3 - 1.5
    plan = p == 0 ? "basic" : p == 1 ? "pro" : "team"
    z = 1.5 * x + (p == 0 ? 1 : p == 1 ? -0.5 : 0) + e
    printf "c%d,%s,%.3f,%s,%s\n", i, plan, x, (i % 40 == 3 ? "" : sprintf("%.2f", 20 + 10 * p)), (z > 0.8 ? "Yes" : "No")
  }
}' > table.csv

run 0 "$RT_BIN" churn cv --table table.csv --id id --label churned --folds 5 --seed 3 --model both --format json
assert_contains "$OUT" '"customers": 3000'
assert_contains "$OUT" '"features": 5'
assert_contains "$OUT" '"model": "xgboost"'
assert_contains "$OUT" '"model": "logistic"'
auc() { echo "$OUT" | awk -v m="\"$1\"" '$2 == m"," { f = 1 } f && $1 == "\"mean_auc\":" { gsub(/,/, "", $2); print $2; exit }'; }
assert_eq "$(awk -v a="$(auc xgboost)" 'BEGIN { print (a > 0.85) }')" 1 "xgboost AUC above 0.85"
assert_eq "$(awk -v a="$(auc logistic)" 'BEGIN { print (a > 0.85) }')" 1 "logistic AUC above 0.85"
FIRST=$OUT
run 0 "$RT_BIN" churn cv --table table.csv --id id --label churned --folds 5 --seed 3 --model both --format json
assert_eq "$(echo "$OUT" | grep -v seconds)" "$(echo "$FIRST" | grep -v seconds)" "same seed, same folds"

run 0 "$RT_BIN" churn cv --table table.csv --label churned --folds 3
assert_contains "$OUT" "Churn cross-validation · 3,000 customers"
assert_contains "$OUT" "mean AUC"

# Errors.
run 2 "$RT_BIN" churn
run 2 "$RT_BIN" churn cv --table table.csv
run 2 "$RT_BIN" churn cv --table table.csv --label churned --folds 1
run 2 "$RT_BIN" churn cv --table table.csv --label churned --model forest
run 1 "$RT_BIN" churn cv --table table.csv --label nope
assert_contains "$ERR" "no column 'nope'"
printf 'id,x,churned\na,1,Yes\nb,2,perhaps\n' > bad.csv
run 1 "$RT_BIN" churn cv --table bad.csv --label churned
assert_contains "$ERR" "bad.csv:3:3"
run 1 "$RT_BIN" churn cv --table missing.csv --label churned
assert_contains "$ERR" "missing.csv"
# From the history: a generated business (whose churners really differ), trained, scored,
# explained.
run 0 "$RT_BIN" gen --customers 4000 --seed 9 --out biz --no-lines
run 0 "$RT_BIN" import orders biz/orders.csv
run 0 "$RT_BIN" import subscriptions biz/subscriptions.csv
run 0 "$RT_BIN" import events biz/events.csv
run 0 "$RT_BIN" import customers biz/customers.csv
run 1 "$RT_BIN" churn score
assert_contains "$ERR" "churn train"
run 0 "$RT_BIN" churn train --horizon 90d --format json
[ -f "$RETAIN_DB.churn.json" ] || fail "no model file next to the store"
# the customers' attributes are features (the model records the names it was trained on)
assert_contains "$(cat "$RETAIN_DB.churn.json")" "attr:channel="
for k in auc pr_auc lift_top_decile logistic_auc; do
  assert_contains "$OUT" "\"$k\":"
done
hauc=$(echo "$OUT" | awk '$1 == "\"auc\":" { gsub(/,/, "", $2); print $2 }')
assert_eq "$(awk -v a="$hauc" 'BEGIN { print (a > 0.65 && a <= 1) }')" 1 "history model AUC ($hauc)"
assert_eq "$(echo "$OUT" | grep -c '"churn_rate"')" 10 "calibration groups"
run 0 "$RT_BIN" churn score --format csv
assert_eq "$(echo "$OUT" | head -1)" "customer_id,churn_probability,value,value_at_risk,reason_1,points_1,reason_2,points_2,reason_3,points_3"
assert_contains "$ERR" "as of 2024-12-31"
rows=$(echo "$OUT" | tail -n +2 | wc -l)
assert_eq "$(awk -v r="$rows" 'BEGIN { print (r > 100) }')" 1 "scored customers ($rows)"
assert_eq "$(echo "$OUT" | awk -F, 'NR > 1 && ($2 < 0 || $2 > 1)' | wc -l)" 0 "probabilities"
id=$(echo "$OUT" | awk -F, 'NR == 2 { print $1 }')
run 0 "$RT_BIN" churn score --top 5
assert_contains "$OUT" "The 5 customers with the most value at risk of churning in the next 90 days · as of 2024-12-31"
run 0 "$RT_BIN" churn score --top 5 --sort risk
assert_contains "$OUT" "The 5 customers most likely to churn"
run 0 "$RT_BIN" churn score --save --format csv
assert_contains "$ERR" "saved model run"
assert_eq "$(sql "select count(*) from customer_scores s join model_runs r on r.id = s.run_id where r.kind = 'churn'")" "$rows" "stored churn scores"
assert_eq "$(sql "select count(*) from customer_scores where churn_probability is null")" 0 "every stored score has a probability"
# the three largest reasons, each with its size
assert_eq "$(sql "select count(*) > $rows / 2 from customer_scores where reasons like '% pts); % pts); % pts)'")" 1 "stored reasons"
run 0 "$RT_BIN" scores --kind churn
assert_eq "$(echo "$OUT" | head -1)" "customer_id,churn_probability,value,value_at_risk,reasons"
assert_eq "$(echo "$OUT" | tail -n +2 | wc -l)" "$rows" "exported churn scores"
run 0 "$RT_BIN" churn explain "$id"
assert_contains "$OUT" "Customer $id"
# the store's events are features too: usage, support, feedback
n=$(echo "$OUT" | grep -cE 'used the product|support ticket|NPS|CSAT')
assert_eq "$((n > 0))" 1 "event reasons in explain"
assert_contains "$OUT" "SHAP"
run 1 "$RT_BIN" churn explain no-such-customer
assert_contains "$ERR" "not in play"
run 2 "$RT_BIN" churn train --horizon soon
run 2 "$RT_BIN" churn train --cutoff 2999-01-01
finish
