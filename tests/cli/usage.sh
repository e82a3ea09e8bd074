# The command line itself: help, version, usage errors, global options and defaults.
. "$(dirname "$0")/lib/assert.bash"
run 0 "$RT_BIN" --help
for c in import report cohorts gen demo; do assert_contains "$OUT" "$c"; done
run 0 "$RT_BIN" --version
assert_contains "$OUT" "retain "
for c in import report cohorts gen demo; do
  run 0 "$RT_BIN" "$c" --help
  assert_contains "$OUT" "Usage: retain"
  run 0 "$RT_BIN" help "$c"
  assert_contains "$OUT" "Usage: retain"
done
run 2 "$RT_BIN"
run 2 "$RT_BIN" frobnicate
assert_contains "$ERR" "unknown command 'frobnicate'"
run 2 "$RT_BIN" --bogus report
run 2 "$RT_BIN" report --period fortnight
assert_contains "$ERR" "unknown period 'fortnight'"
run 2 "$RT_BIN" report --format xml
run 2 "$RT_BIN" report --from 2024-13
run 2 "$RT_BIN" --db
# A report without a store says how to get one, and creates nothing.
run 1 "$RT_BIN" --db nowhere.db report
assert_contains "$ERR" "no store at 'nowhere.db'"
[ ! -e nowhere.db ] || fail "report created a store"
# --db before the subcommand, RETAIN_DB, and the retain.db default.
printf 'customer_id,order_date,amount\na,2024-01-05,10\n' >o.csv
run 0 "$RT_BIN" --db one.db import orders o.csv
[ -f one.db ] || fail "--db not used"
run 0 env RETAIN_DB=two.db "$RT_BIN" import orders o.csv
[ -f two.db ] || fail "RETAIN_DB not used"
run 0 env -u RETAIN_DB "$RT_BIN" import orders o.csv
[ -f retain.db ] || fail "default retain.db not used"
finish
