# assert.bash - helpers for the black-box CLI tests (sourced, not a test itself).
# Each test runs the real binary ($RT_BIN) in a fresh temporary directory.
set -u
RT_BIN=${RT_BIN:?RT_BIN must name the retain binary}
RT_FIXTURES=${RT_FIXTURES:?RT_FIXTURES must name tests/fixtures}
T=$(mktemp -d "${TMPDIR:-/tmp}/retain-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
export RETAIN_DB="$T/test.db"
FAILS=0
CHECKS=0

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

# run EXPECTED_STATUS CMD...: runs CMD, keeps stdout in $OUT and stderr in $ERR.
run() {
  local want=$1; shift
  CHECKS=$((CHECKS + 1))
  set +e
  "$@" >"$T/.out" 2>"$T/.err"
  STATUS=$?
  set -e
  OUT=$(cat "$T/.out"); ERR=$(cat "$T/.err")
  if [ "$STATUS" != "$want" ]; then
    fail "exit $STATUS (wanted $want): $*"; echo "  stdout: ${OUT:0:2000}" >&2; echo "  stderr: ${ERR:0:2000}" >&2
  fi
}

assert_eq() { CHECKS=$((CHECKS + 1)); [ "$1" == "$2" ] || fail "${3:-values differ}: got '$1', wanted '$2'"; }
assert_contains() { CHECKS=$((CHECKS + 1)); case "$1" in *"$2"*) ;; *) fail "${3:-text} lacks '$2': ${1:0:1500}";; esac; }
assert_not_contains() { CHECKS=$((CHECKS + 1)); case "$1" in *"$2"*) fail "${3:-text} has '$2'";; esac; }
assert_same_file() { CHECKS=$((CHECKS + 1)); diff -u "$2" "$1" >"$T/.diff" || { fail "$1 differs from $2"; head -40 "$T/.diff" >&2; }; }

# sql QUERY: runs a query on the test store with the sqlite3 shell.
sql() { sqlite3 "$RETAIN_DB" "$1"; }

finish() {
  if [ "$FAILS" -gt 0 ]; then echo "$FAILS of $CHECKS checks failed" >&2; exit 1; fi
  echo "all $CHECKS checks passed"
}
set -e

# purchases [AS_OF_DAY]: the store's purchases as of a UTC day number (default: everything),
# computed by lib/purchases.py independently of retain, into $T/ref.db; rsql QUERY runs QUERY
# on the store with that file attached as `ref` (ref.purchases, ref.refunds, ref.cancelled).
purchases() {
  local py=/usr/bin/python3
  [ -x "$py" ] || py=python3
  "$py" "$(dirname "${BASH_SOURCE[0]}")/purchases.py" "$RETAIN_DB" "$T/ref.db" "$@"
}
rsql() { sqlite3 "$RETAIN_DB" "ATTACH '$T/ref.db' AS ref; $1"; }
