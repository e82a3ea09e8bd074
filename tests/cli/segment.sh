# `retain features`, `rfm`, `lifecycle` and `segment ...` on a generated business in the store:
# memberships checked against the same conditions computed in SQL over the store's tables,
# entry and exit events, sizes over time, errors that point at the rule.
. "$(dirname "$0")/lib/assert.bash"
export RETAIN_NOW=2025-01-01
run 0 "$RT_BIN" gen --customers 2000 --seed 3 --no-lines --no-events --out g
for k in customers orders subscriptions; do run 0 "$RT_BIN" import "$k" "g/$k.csv"; done
TODAY=$(sql "select cast(strftime('%s', '2025-01-01') / 86400 as int)")
# the purchases (orders not cancelled by a refund) as of that day, computed apart from retain
purchases "$TODAY"

# features lists the built-ins with types, and the imported attributes
run 0 "$RT_BIN" features --format csv
assert_contains "$OUT" "orders,number,"
assert_contains "$OUT" "days_since_last_order,number,"
assert_contains "$OUT" "first_order_at,date,"
assert_contains "$OUT" "lifecycle_stage,text,"
assert_contains "$OUT" "subscriber,bool,"
assert_contains "$OUT" "attributes.country,text,"

# one customer's values agree with its orders in the store
C=$(rsql "select ext_id from customers c where (select count(*) from ref.purchases o where o.customer_id = c.id) >= 3 order by id limit 1")
run 0 "$RT_BIN" features --customer "$C" --format csv
N=$(rsql "select count(*) from ref.purchases o join customers c on c.id = o.customer_id where c.ext_id = '$C'")
assert_eq "$(echo "$OUT" | awk -F, '$1 == "orders" { print $NF }')" "$N" "orders of $C"

# a segment's members are exactly the customers SQL finds with the same conditions
RULE="orders >= 3 and days_since_last_order > 60"
run 0 "$RT_BIN" segment create lapsing --rule "$RULE" --description "repeat buyers gone quiet"
WANT=$(rsql "select count(*) from (select o.customer_id from ref.purchases o group by o.customer_id having count(*) >= 3 and $TODAY - max(o.day) > 60)")
assert_contains "$(echo "$OUT" | tr -d ,)" "segment lapsing: $WANT customers"
run 0 "$RT_BIN" segment members lapsing
assert_eq "$(echo "$OUT" | head -1)" "customer_id,entered" "members header"
assert_eq "$(echo "$OUT" | tail -n +2 | cut -d, -f1 | sort)" \
  "$(rsql "select c.ext_id from customers c join ref.purchases o on o.customer_id = c.id group by c.id having count(*) >= 3 and $TODAY - max(o.day) > 60" | sort)" \
  "members of lapsing"
[ "$WANT" -gt 20 ] || fail "the test rule should match a fair number of customers, got $WANT"

# list / show
run 0 "$RT_BIN" segment list --format csv
assert_contains "$OUT" "lapsing,$WANT,"
run 0 "$RT_BIN" segment show lapsing
assert_contains "$OUT" "rule:        $RULE"
assert_contains "$OUT" "repeat buyers gone quiet"

# every member entered once, recorded as an event
run 0 "$RT_BIN" segment events lapsing --format csv
assert_eq "$(echo "$OUT" | grep -c ',enter$')" "$WANT" "enter events"

# moving the clock: later, more customers have gone quiet; refresh records who entered and left
RETAIN_NOW=2025-03-01 run 0 "$RT_BIN" segment refresh lapsing
LATER=$(sql "select count(*) from segment_members m join segments s on s.id = m.segment_id where s.name = 'lapsing'")
[ "$LATER" -gt "$WANT" ] || fail "two months later the segment should have grown: $WANT -> $LATER"
run 0 "$RT_BIN" segment events lapsing --format csv
ENTERS=$(echo "$OUT" | grep -c ',enter$'); EXITS=$(echo "$OUT" | grep -c ',exit$' || true)
assert_eq "$((ENTERS - EXITS))" "$LATER" "enters minus exits = members"
run 0 "$RT_BIN" segment show lapsing --format csv
assert_eq "$(echo "$OUT" | tail -n +2 | wc -l)" 2 "two evaluations in the size history"
# back to the first day: the same members as at first (exits recorded)
run 0 "$RT_BIN" segment refresh lapsing
assert_eq "$(sql "select count(*) from segment_members m join segments s on s.id = m.segment_id where s.name = 'lapsing'")" "$WANT" "members after moving the clock back"

# every report takes --segment: the cohorts of the members add up to the members, clv predict
# prints their rows only, and a segment's report differs from the whole business's
run 0 "$RT_BIN" cohorts --segment lapsing --format csv
assert_eq "$(echo "$OUT" | awk -F, 'NR > 1 && $2 == 0 { s += $3 } END { print s }')" "$WANT" "cohort sizes of the members"
run 0 "$RT_BIN" clv predict --segment lapsing --format csv
assert_eq "$(echo "$OUT" | tail -n +2 | cut -d, -f1 | sort)" \
  "$(sql "select c.ext_id from customers c join segment_members m on m.customer_id = c.id join segments s on s.id = m.segment_id where s.name = 'lapsing'" | sort)" \
  "clv rows of the members"
run 0 "$RT_BIN" report --segment lapsing
assert_contains "$OUT" "Segment lapsing: $(echo "$WANT" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta') customers"
run 0 "$RT_BIN" report --segment lapsing --format csv
SEG_REPORT=$OUT
run 0 "$RT_BIN" report --format csv
[ "$OUT" != "$SEG_REPORT" ] || fail "the segment's report equals the business's"
# --by segment: one column per segment, the members counted as in the store
run 0 "$RT_BIN" report --by segment --format csv
assert_eq "$(echo "$OUT" | head -1 | cut -d, -f1-4)" "segment,period,members,customers"
assert_eq "$(echo "$OUT" | awk -F, '$1 == "lapsing" { print $3 }')" "$WANT" "members in --by segment"
assert_eq "$(echo "$OUT" | awk -F, '$1 == "lapsing" { print $4 }')" "$WANT" "customers (buyers) of lapsing"
assert_eq "$(echo "$OUT" | awk -F, '$1 == "(all customers)" { print $3 }')" 2000 "all customers"
run 0 "$RT_BIN" report --by segment
assert_contains "$OUT" "all customers"
assert_contains "$OUT" "lapsing"
run 0 "$RT_BIN" cohorts --by segment --format csv
assert_eq "$(echo "$OUT" | head -1)" "segment,cohort,period,customers,revenue,net_revenue,partial"
assert_eq "$(echo "$OUT" | awk -F, '$1 == "lapsing" && $3 == 0 { s += $4 } END { print s }')" "$WANT" "lapsing's cohorts in --by segment"
# clv summary: the stored scores summed per segment, as SQL sums them
run 0 "$RT_BIN" clv predict --save --format csv
run 0 "$RT_BIN" clv summary --by segment --format csv
assert_eq "$(echo "$OUT" | head -1)" "segment,customers,mean_p_alive,likely_alive,expected_purchases,predicted_clv"
assert_eq "$(echo "$OUT" | awk -F, '$1 == "lapsing" { print $2 }')" "$WANT" "lapsing's customers in clv summary"
assert_eq "$(echo "$OUT" | awk -F, '$1 == "lapsing" { print $6 }')" \
  "$(sql "select printf('%.2f', sum(predicted_clv)) from customer_scores s join segment_members m on m.customer_id = s.customer_id join segments g on g.id = m.segment_id where g.name = 'lapsing' and s.run_id = (select max(id) from model_runs)")" \
  "lapsing's predicted value"
run 0 "$RT_BIN" clv summary --segment lapsing
assert_contains "$OUT" "lapsing"
run 1 "$RT_BIN" report --segment nosuch
assert_contains "$ERR" "nosuch"
run 2 "$RT_BIN" cohorts --segment lapsing --orders g/orders.csv

# in_segment, export with fields, preview
run 0 "$RT_BIN" segment create lapsing-subscribers --rule "in_segment('lapsing') and subscriber"
run 0 "$RT_BIN" segment export lapsing --fields orders,days_since_last_order,lifecycle_stage
assert_eq "$(echo "$OUT" | head -1)" "customer_id,orders,days_since_last_order,lifecycle_stage"
assert_eq "$(echo "$OUT" | tail -n +2 | awk -F, '$2 < 3 || $3 <= 60' | wc -l)" 0 "exported rows break the rule"
run 0 "$RT_BIN" segment preview --rule "lifecycle_stage = 'lapsed'" --limit 3
assert_contains "$OUT" "customers match"

# errors: the rule is checked before anything is stored, and the message points at it
run 1 "$RT_BIN" segment create bad --rule "ordres >= 3"
assert_contains "$ERR" "unknown field 'ordres' at 1:1"
assert_contains "$ERR" "did you mean 'orders'?"
run 1 "$RT_BIN" segment create bad --rule "orders >= "
assert_contains "$ERR" "at 1:"
run 1 "$RT_BIN" segment create bad --rule "attributes.country > 3"
assert_contains "$ERR" "type"
assert_eq "$(sql "select count(*) from segments where name = 'bad'")" 0 "a bad rule stored nothing"
run 1 "$RT_BIN" segment create lapsing --rule "orders > 1"
assert_contains "$ERR" "lapsing"
run 2 "$RT_BIN" segment create "no spaces" --rule "orders > 1"
run 1 "$RT_BIN" segment show nosuch
assert_contains "$ERR" "nosuch"

# rule values are checked: the built-in segmentations' values are a closed set (one spelling,
# "at risk", for RFM and the lifecycle), an attribute's absent value is a warning
run 1 "$RT_BIN" segment create bad --rule "lifecycle_stage = 'at-risk'"
assert_contains "$ERR" "'lifecycle_stage' has no value 'at-risk' (at 1:19)"
assert_contains "$ERR" "did you mean 'at risk'?"
run 1 "$RT_BIN" segment preview --rule "rfm_segment in ('champion', 'loyal')"
assert_contains "$ERR" "did you mean 'champions'?"
run 1 "$RT_BIN" segment create bad --rule "value_tier = 'diamond'"
assert_contains "$ERR" "its values are 'platinum', 'gold', 'silver', 'bronze'"
run 0 "$RT_BIN" segment preview --rule "attributes.country = 'FRR'"
assert_contains "$ERR" "warning: no customer has attributes.country 'FRR' now (at 1:22)"
assert_contains "$ERR" "did you mean 'FR'?"
assert_contains "$OUT" "0 of 2,000 customers match"
assert_eq "$(sql "select count(*) from segments where name = 'bad'")" 0 "a bad value stored nothing"

# a segment pinned to a day keeps it: its members are the customers matching as of that day,
# a refresh (even with the clock moved) keeps judging it then, and export lists those members
DAY0=$(sql "select cast(strftime('%s', '2024-10-01') / 86400 as int)")
cp "$T/ref.db" "$T/ref_today.db"
purchases "$DAY0"
PINNED=$(rsql "select count(*) from (select o.customer_id from ref.purchases o group by o.customer_id having count(*) >= 3 and $DAY0 - max(o.day) > 60)")
cp "$T/ref_today.db" "$T/ref.db"
run 0 "$RT_BIN" segment create pinned --rule "$RULE" --as-of 2024-10-01
assert_contains "$(echo "$OUT" | tr -d ,)" "segment pinned: $PINNED customers"
assert_contains "$OUT" "pinned: judged as of 2024-10-01"
[ "$PINNED" != "$WANT" ] || fail "the pinned day should give another count than today's ($WANT)"
RETAIN_NOW=2025-03-01 run 0 "$RT_BIN" segment refresh pinned
assert_contains "$(echo "$OUT" | tr -d ,)" "segment pinned: $PINNED customers"
assert_contains "$OUT" "0 entered, 0 left"
run 0 "$RT_BIN" segment list --format csv
assert_contains "$OUT" "pinned,$PINNED,"
assert_contains "$OUT" ",2024-10-01,"
run 0 "$RT_BIN" segment show pinned --format json
assert_eq "$(echo "$OUT" | jq -r '.as_of + " " + .judged')" "2024-10-01 pinned" "show: pinned"
RETAIN_NOW=2025-03-01 run 0 "$RT_BIN" segment export pinned --fields orders
assert_eq "$(echo "$OUT" | tail -n +2 | cut -d, -f1 | sort)" \
  "$(sql "select c.ext_id from customers c join segment_members m on m.customer_id = c.id join segments s on s.id = m.segment_id where s.name = 'pinned'" | sort)" \
  "export: the stored members"
assert_contains "$ERR" "as of 2024-10-01"
# settings are kept with it too, and --live makes it follow the store's day again
run 0 "$RT_BIN" segment update pinned --rfm-bins 3
assert_contains "$OUT" "settings: {\"rfm_bins\":3}"
run 0 "$RT_BIN" segment update pinned --live
assert_contains "$(echo "$OUT" | tr -d ,)" "segment pinned: $WANT customers"
assert_contains "$OUT" "live: judged as of the store's day"
run 0 "$RT_BIN" segment delete pinned

# delete forgets the segment, its members and events
run 0 "$RT_BIN" segment delete lapsing-subscribers
assert_eq "$(sql "select count(*) from segments where name = 'lapsing-subscribers'")" 0

# rfm and lifecycle cover every customer with orders
run 0 "$RT_BIN" rfm --format csv
assert_eq "$(echo "$OUT" | head -1)" "rfm_segment,customers,share,avg_orders,avg_net_revenue,avg_days_since_last_order"
BUYERS=$(rsql "select count(distinct customer_id) from ref.purchases")
assert_eq "$(echo "$OUT" | tail -n +2 | awk -F, '{ s += $2 } END { print s }')" "$BUYERS" "customers in RFM segments"
run 0 "$RT_BIN" lifecycle --format csv
assert_eq "$(echo "$OUT" | tail -n +2 | awk -F, '{ s += $2 } END { print s }')" 2000 "customers in lifecycle stages"
LAPSED=$(echo "$OUT" | awk -F, '$1 == "lapsed" { print $2 }')
run 0 "$RT_BIN" lifecycle --format csv --lapsed-gaps 8 --lapsed-min-days 365
[ "$(echo "$OUT" | awk -F, '$1 == "lapsed" { print $2 }')" -lt "$LAPSED" ] || fail "longer lapse windows should lapse fewer customers"
run 2 "$RT_BIN" rfm --rfm-bins 12
run 0 "$RT_BIN" rfm --rfm-bins 3 --customers
assert_eq "$(echo "$OUT" | tail -n +2 | awk -F, '$3 > 3 || $4 > 3 || $5 > 3' | wc -l)" 0 "scores above 3 with --rfm-bins 3"
run 0 "$RT_BIN" lifecycle --customers
assert_eq "$(echo "$OUT" | tail -n +2 | wc -l)" 2000 "one lifecycle row per customer"
# an import re-evaluates the segments: a lapsing member who orders again leaves, and the exit
# is recorded; --no-segments leaves them alone
M=$(sql "select c.ext_id from customers c join segment_members m on m.customer_id = c.id join segments s on s.id = m.segment_id where s.name = 'lapsing' order by c.id limit 1")
printf 'order_id,customer_id,order_date,amount,currency\nX1,%s,2024-12-30,10.00,USD\n' "$M" >new.csv
run 0 "$RT_BIN" import orders new.csv
assert_contains "$(echo "$OUT" | tr -d ,)" "segment lapsing: $((WANT - 1)) customers"
run 0 "$RT_BIN" segment events lapsing --format csv
assert_contains "$OUT" ",$M,exit"
M2=$(sql "select c.ext_id from customers c join segment_members m on m.customer_id = c.id join segments s on s.id = m.segment_id where s.name = 'lapsing' order by c.id limit 1")
printf 'order_id,customer_id,order_date,amount,currency\nX2,%s,2024-12-30,10.00,USD\n' "$M2" >new2.csv
run 0 "$RT_BIN" import orders new2.csv --no-segments
assert_not_contains "$OUT" "segment lapsing"
assert_eq "$(sql "select count(*) from segment_members m join segments s on s.id = m.segment_id where s.name = 'lapsing'")" "$((WANT - 1))" "members after --no-segments"
finish
