# `retain keys create|list|revoke`: the key is printed once and alone on stdout, the store
# keeps its hash (the key is nowhere in the database file), list shows prefix and scope and
# never the hash, revoke marks a key revoked, and bad arguments are usage errors.
. "$(dirname "$0")/lib/assert.bash"

run 0 "$RT_BIN" keys --help
assert_contains "$OUT" "Usage: retain"
run 0 "$RT_BIN" help keys
assert_contains "$OUT" "--scope"
run 0 "$RT_BIN" --help
assert_contains "$OUT" "keys"

# create: the key alone on stdout (so KEY=$(...) works), the note on stderr
run 0 "$RT_BIN" keys create --scope write --name shop-webhook
W=$OUT
[[ "$W" =~ ^rk_[0-9A-Za-z]{40}$ ]] || fail "key format: '$W'"
assert_eq "$(printf '%s\n' "$OUT" | wc -l)" 1 "lines on stdout"
assert_contains "$ERR" "shown only this once"
assert_not_contains "$ERR" "$W" "stderr"
R=$("$RT_BIN" --quiet keys create --scope read)
[[ "$R" =~ ^rk_[0-9A-Za-z]{40}$ ]] || fail "key format: '$R'"
[ "$R" != "$W" ] || fail "two keys are the same"
run 0 "$RT_BIN" --quiet keys create --scope admin
assert_eq "$ERR" "" "stderr with --quiet"
A=$OUT

# only the hash is stored: the key is not in the database file (nor its secret part)
[ -f "$RETAIN_DB" ] || fail "keys create made no store"
for k in "$W" "$R" "$A"; do
  assert_eq "$(grep -c "$k" "$RETAIN_DB" || true)" 0 "copies of the key in the database"
  assert_eq "$(grep -c "${k:8}" "$RETAIN_DB" || true)" 0 "copies of the key's secret part"
  [ ! -e "$RETAIN_DB-wal" ] || assert_eq "$(grep -c "${k:8}" "$RETAIN_DB-wal" || true)" 0 "copies in the WAL"
done
H=$(sql "select hash from api_keys where id = 1")
assert_eq "$H" "$(printf '%s' "$W" | sha256sum | cut -d' ' -f1)" "stored hash is the SHA-256 of the key"
# (the grep does find what is there: the hash, in the row and in its unique index)
[ "$(grep -c "$H" "$RETAIN_DB")" -ge 1 ] || fail "grep does not find the stored hash"
assert_eq "$(sql "select count(*) from api_keys")" 3 "keys stored"

# list: id, name, scope, prefix; never the key or its hash
for f in table csv json; do
  run 0 "$RT_BIN" keys list --format $f
  assert_contains "$OUT" "${W:0:8}" "list ($f)"
  assert_contains "$OUT" "${R:0:8}" "list ($f)"
  assert_contains "$OUT" "shop-webhook" "list ($f)"
  assert_not_contains "$OUT" "$W" "list ($f)"
  assert_not_contains "$OUT" "${H:0:16}" "list ($f)"
done
run 0 "$RT_BIN" keys list --format csv
assert_eq "$(echo "$OUT" | head -1)" "id,name,scope,prefix,created,last_used,revoked" "csv header"
assert_eq "$(echo "$OUT" | sed -n 2p | cut -d, -f1-4)" "1,shop-webhook,write,${W:0:8}" "first key"
assert_eq "$(echo "$OUT" | sed -n 3p | cut -d, -f1-4)" "2,,read,${R:0:8}" "second key"
assert_eq "$(echo "$OUT" | sed -n 4p | cut -d, -f3)" "admin" "third key's scope"
assert_eq "$(echo "$OUT" | sed -n 2p | cut -d, -f7)" "" "not revoked"
run 0 "$RT_BIN" keys list
assert_contains "$OUT" "last used"
assert_contains "$OUT" "never"
run 0 "$RT_BIN" keys list --format json
assert_contains "$OUT" '"scope": "read"'
assert_contains "$OUT" '"revoked": null'

# revoke: listed as revoked, the others untouched; again is no error; unknown ids fail
run 0 "$RT_BIN" keys revoke 2
assert_contains "$ERR" "revoked"
run 0 "$RT_BIN" keys list --format csv
REV=$(echo "$OUT" | sed -n 3p | cut -d, -f7)
[[ "$REV" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T ]] || fail "revoked time of key 2: '$REV'"
assert_eq "$(echo "$OUT" | sed -n 2p | cut -d, -f7)" "" "key 1 still active"
run 0 "$RT_BIN" keys list --format json
assert_contains "$OUT" "\"revoked\": \"$REV\""
run 0 "$RT_BIN" keys revoke 2
assert_contains "$ERR" "already revoked"
run 0 "$RT_BIN" keys list --format csv
assert_eq "$(echo "$OUT" | sed -n 3p | cut -d, -f7)" "$REV" "revoking twice keeps the first time"
run 1 "$RT_BIN" keys revoke 99
assert_contains "$ERR" "no API key with id 99"

# usage errors: exit 2, nothing stored
run 2 "$RT_BIN" keys create --scope root
assert_contains "$ERR" "'root'"
run 2 "$RT_BIN" keys create
assert_contains "$ERR" "--scope"
run 2 "$RT_BIN" keys create --scope
run 2 "$RT_BIN" keys create --scope read --name "$(printf 'n%.0s' {1..64})"
run 2 "$RT_BIN" keys list --format xml
run 2 "$RT_BIN" keys revoke
run 2 "$RT_BIN" keys revoke abc
run 2 "$RT_BIN" keys revoke 0
run 2 "$RT_BIN" keys rotate
run 2 "$RT_BIN" keys
assert_eq "$(sql "select count(*) from api_keys")" 3 "keys after the refused commands"

# listing creates no store; a store without keys says how to create one
run 1 "$RT_BIN" --db missing.db keys list
assert_contains "$ERR" "no store at 'missing.db'"
[ ! -e missing.db ] || fail "keys list created a store"
printf 'customer_id,order_date,amount\na,2024-01-05,10\n' >o.csv
run 0 "$RT_BIN" --db nokeys.db import orders o.csv
run 0 "$RT_BIN" --db nokeys.db keys list
assert_contains "$OUT" "No API keys yet"
run 0 "$RT_BIN" --db nokeys.db keys list --format csv
assert_eq "$OUT" "id,name,scope,prefix,created,last_used,revoked" "csv of no keys"
run 0 "$RT_BIN" --db nokeys.db keys list --format json
assert_eq "$OUT" "[]" "json of no keys"
finish
