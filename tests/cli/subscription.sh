# `retain subscription fit`: the shifted-beta-geometric model on Fader & Hardie's (2007)
# published survival tables, and on a generated business's stored subscriptions.
. "$(dirname "$0")/lib/assert.bash"

num() { echo "$OUT" | awk -v k="\"$1\":" '$1 == k { gsub(/,/, "", $2); printf "%.3f\n", $2; exit }'; }

run 0 "$RT_BIN" subscription fit --survival 1000,631,468,382,326,289,262,241 --format json
assert_eq "$(num alpha)" 0.704 "regular alpha"
assert_eq "$(num beta)" 1.182 "regular beta"
assert_contains "$OUT" '"converged": true'
run 0 "$RT_BIN" subscription fit --survival 1000,869,743,653,593,551,517,491 --format json
assert_eq "$(num alpha)" 0.668 "high end alpha"
assert_eq "$(num beta)" 3.806 "high end beta"

# CSV: the 8 observed periods and 5 projected; the projection of year 8 for the regular
# segment lies near the 223 the paper's data shows (the model's 220).
run 0 "$RT_BIN" subscription fit --survival 1000,631,468,382,326,289,262,241 --format csv
assert_eq "$(echo "$OUT" | head -1)" "period,observed,fitted,retention_rate,expected_remaining,derl"
assert_eq "$(echo "$OUT" | tail -n +2 | wc -l)" 13 "periods 0..12"
assert_eq "$(echo "$OUT" | awk -F, '$1 == 8 { print ($3 > 215 && $3 < 228) }')" 1 "year 8 projected"
# retention rises with tenure (the survivors are the loyal ones)
assert_eq "$(echo "$OUT" | awk -F, 'NR > 2 && $4 != "" { if (prev != "" && $4 <= prev) bad++; prev = $4 } END { print bad + 0 }')" 0 \
  "retention rates increase"

# From the store: a generated business's subscriptions, monthly.
run 0 "$RT_BIN" gen --customers 3000 --seed 5 --out data --no-events --no-lines
run 0 "$RT_BIN" import subscriptions data/subscriptions.csv
run 0 "$RT_BIN" subscription fit --format json
assert_contains "$OUT" '"converged": true'
assert_contains "$OUT" '"period": "month"'
n=$(grep -c '' data/subscriptions.csv)
assert_contains "$OUT" "\"subscribers\": $((n - 1))"
run 0 "$RT_BIN" subscription fit
assert_contains "$OUT" "Shifted-beta-geometric retention"

# Usage errors exit 2.
run 2 "$RT_BIN" subscription
run 2 "$RT_BIN" subscription guess
run 2 "$RT_BIN" subscription fit --survival 1000
run 2 "$RT_BIN" subscription fit --survival 1000,abc
run 2 "$RT_BIN" subscription fit --period fortnight
# a table that grows is bad data: exit 1 with the reason
run 1 "$RT_BIN" subscription fit --survival 1000,900,950
assert_contains "$ERR" "does not grow"
finish
