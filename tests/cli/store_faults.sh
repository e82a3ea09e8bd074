# The store met in bad shape, each command's message and exit status:
# - a page in the middle overwritten, the first page, and the first page's table of tables
#   emptied: "damaged" (or "not an SQLite database ... first page is damaged") with how to
#   recover, from read commands, from commands that write (which check the whole file first
#   and change nothing) and from serve, which does not start; never "import data into it
#   first"; an SQLite file of another program is not taken for an empty store either;
# - a store in a directory the user cannot write: every read command works, writes say why
#   not, and a -wal holding writes is explained;
# - another process holding the write lock: an import gives up after a few seconds and says
#   who probably holds it and how to import through the server;
# - a customers file whose attributes go over a customer's limits names file and line.
. "$(dirname "$0")/lib/assert.bash"
IMPORT=(import orders "$RT_FIXTURES/cdnow_sample.txt" --no-header --delimiter whitespace
  --customer-col 2 --date-col 3 --quantity-col 4 --amount-col 5 --no-segments)
run 0 "$RT_BIN" "${IMPORT[@]}"
run 0 "$RT_BIN" keys create --scope read
run 0 "$RT_BIN" report
REPORT=$OUT
cp "$RETAIN_DB" good.db
RECOVER="Restore it from a backup, or recover what is left with \`sqlite3 $RETAIN_DB .recover | sqlite3 NEW.db\`"

# damaged PAGE: the good store with page PAGE (1-based) overwritten with random bytes
damaged() {
  rm -f "$RETAIN_DB" "$RETAIN_DB-wal" "$RETAIN_DB-shm" "$RETAIN_DB.model"
  cp good.db "$RETAIN_DB"
  dd if=/dev/urandom of="$RETAIN_DB" bs=4096 seek=$(($1 - 1)) count=1 conv=notrunc status=none
  SUM=$(sha256sum <"$RETAIN_DB")
}
# no_serve: `retain serve` refuses the store: exits 1 at once, never listening
no_serve() {
  CHECKS=$((CHECKS + 1))
  set +e
  timeout 20 "$RT_BIN" serve --listen 127.0.0.1:0 >serve.out 2>serve.err
  local status=$?
  set -e
  [ $status = 1 ] || fail "serve exited $status on a damaged store"
  assert_not_contains "$(cat serve.out)" "listening" "serve"
  ERR=$(cat serve.err)
}

# a leaf page of the orders table, in the middle of the file
PAGE=$(sqlite3 good.db "select pageno from dbstat where name = 'orders' and pagetype = 'leaf' limit 1 offset 20")
PAGES=$(sqlite3 good.db "pragma page_count")
[ "$PAGE" -gt 10 ] && [ "$PAGE" -lt "$PAGES" ] || fail "page $PAGE of $PAGES is not in the middle"
damaged "$PAGE"
run 1 "$RT_BIN" report
assert_contains "$ERR" "$RETAIN_DB: the store is damaged (" "report"
assert_contains "$ERR" "$RECOVER" "report"
for cmd in "${IMPORT[*]}" "keys create --scope read" "segment create s --rule orders>1"; do
  run 1 "$RT_BIN" $cmd
  assert_contains "$ERR" "$RETAIN_DB: the store is damaged (PRAGMA quick_check: " "$cmd"
  assert_contains "$ERR" "$RECOVER" "$cmd"
  assert_eq "$(sha256sum <"$RETAIN_DB")" "$SUM" "the store after $cmd"
done
no_serve
assert_contains "$ERR" "the store is damaged (PRAGMA quick_check: " "serve"

# the first page: no header, no schema
damaged 1
for cmd in report cohorts "keys list" "${IMPORT[*]}" "keys create --scope read"; do
  run 1 "$RT_BIN" $cmd
  assert_contains "$ERR" "$RETAIN_DB: not an SQLite database (" "$cmd"
  assert_contains "$ERR" "or it is a store whose first page is damaged. $RECOVER" "$cmd"
  assert_not_contains "$ERR" "import data into it first" "$cmd"
  assert_not_contains "$ERR" "already exists" "$cmd"
  assert_eq "$(sha256sum <"$RETAIN_DB")" "$SUM" "the store after $cmd"
done
no_serve
assert_contains "$ERR" "not an SQLite database (" "serve"

# the first page intact but its table of tables emptied (a leaf without cells): SQLite sees
# no schema at all, yet the file is full of data - damaged, not an empty store to fill
damaged 1
cp good.db "$RETAIN_DB"
printf '\x0d\x00\x00\x00\x00\x10\x00\x00' | dd of="$RETAIN_DB" bs=1 seek=100 conv=notrunc status=none
SUM=$(sha256sum <"$RETAIN_DB")
run 1 "$RT_BIN" report
assert_contains "$ERR" "$RETAIN_DB: the store is damaged (it has no schema, but " "report"
assert_contains "$ERR" "$RECOVER" "report"
for cmd in "${IMPORT[*]}" "keys create --scope read"; do
  run 1 "$RT_BIN" $cmd
  assert_contains "$ERR" "$RETAIN_DB: the store is damaged (PRAGMA quick_check: Page " "$cmd"
  assert_not_contains "$ERR" "already exists" "$cmd"
  assert_eq "$(sha256sum <"$RETAIN_DB")" "$SUM" "the store after $cmd"
done

# another program's SQLite file is neither damaged nor an empty store to fill
rm -f other.db
sqlite3 other.db "create table notes(id integer primary key, body text)"
run 1 "$RT_BIN" --db other.db "${IMPORT[@]}"
assert_contains "$ERR" "other.db: not a retain store: it holds tables of another kind ('notes', ...)"
assert_eq "$(sqlite3 other.db "select group_concat(name) from sqlite_schema")" "notes" "its tables"
run 1 "$RT_BIN" --db other.db report
assert_contains "$ERR" "not a retain store: it holds tables of another kind"

# read-only: a store in a directory this user cannot write (as root, whom permissions do not
# stop, the commands run as nobody)
rm -f "$RETAIN_DB" "$RETAIN_DB-wal" "$RETAIN_DB-shm" "$RETAIN_DB.model"
mkdir ro
cp good.db ro/s.db
chmod 0444 ro/s.db
chmod 0555 ro
chmod 0755 "$T"
AS=()
if [ "$(id -u)" = 0 ]; then AS=(setpriv --reuid=65534 --regid=65534 --clear-groups); fi
for cmd in report cohorts rfm lifecycle "keys list" "segment list" features; do
  run 0 "${AS[@]}" "$RT_BIN" --db ro/s.db $cmd
done
run 0 "${AS[@]}" "$RT_BIN" --db ro/s.db report
assert_eq "$OUT" "$REPORT" "the report of a read-only store"
run 1 "${AS[@]}" "$RT_BIN" --db ro/s.db keys create --scope read
assert_contains "$ERR" "cannot be written by this user; commands that only read the store work"
assert_eq "$(ls ro)" "s.db" "files beside the read-only store"
# a -wal with writes in it (a server stopped uncleanly) cannot be read without writing
chmod 0755 ro
python3 - ro/s.db <<'PY'
import shutil, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("pragma wal_autocheckpoint = 0")
c.execute("insert into meta values ('x', 'y')")
c.commit()
shutil.copy(sys.argv[1] + "-wal", "wal.copy")  # the -wal as a crash would leave it
PY
mv wal.copy ro/s.db-wal
rm -f ro/s.db-shm
chmod 0555 ro
run 1 "${AS[@]}" "$RT_BIN" --db ro/s.db report
assert_contains "$ERR" "ro/s.db-wal holds writes not yet in the database file"
chmod 0755 ro

# another process holds the write lock: the import gives up within a few seconds and says why
cp good.db "$RETAIN_DB"
python3 - "$RETAIN_DB" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("begin immediate")
open("locked", "w").close()
time.sleep(30)
PY
HOLDER=$!
for _ in $(seq 100); do [ -e locked ] && break; sleep 0.05; done
T0=$(date +%s%N)
run 1 "$RT_BIN" "${IMPORT[@]}"
T1=$(date +%s%N)
kill $HOLDER
wait $HOLDER 2>/dev/null || true
assert_contains "$ERR" "database is locked"
assert_contains "$ERR" "another process holds the store for writing - most likely \`retain serve\`"
assert_contains "$ERR" "POST /v1/import (or /v1/batch) with a write key"
CHECKS=$((CHECKS + 1))
[ $(((T1 - T0) / 1000000)) -lt 6000 ] || fail "the import waited $(((T1 - T0) / 1000000)) ms"

# a customer's attributes over the limits: the row is named, nothing is stored
python3 - <<'PY'
n = 1001
with open("wide.csv", "w") as f:
    f.write("customer_id," + ",".join("c%d" % i for i in range(n)) + "\n")
    f.write("w1," + ",".join("v" for _ in range(n)) + "\n")
with open("grow.csv", "w") as f:  # 600 columns each time: the second row makes 1,200 keys
    f.write("customer_id," + ",".join("a%d" % i for i in range(1200)) + "\n")
    f.write("g1," + ",".join("v" if i < 600 else "" for i in range(1200)) + "\n")
    f.write("g1," + ",".join("v" if i >= 600 else "" for i in range(1200)) + "\n")
PY
run 1 "$RT_BIN" import customers wide.csv
assert_contains "$ERR" "wide.csv:2: 1001 attribute columns"
assert_contains "$ERR" "at most 1000 keys and 65536 bytes"
assert_eq "$(sql "select count(*) from customers where ext_id = 'w1'")" 0 "customers from wide.csv"
run 1 "$RT_BIN" import customers grow.csv
assert_contains "$ERR" "grow.csv:3: the customer's attributes would have 1200 keys"
assert_eq "$(sql "select count(*) from customers where ext_id = 'g1'")" 0 "customers from grow.csv"
run 0 "$RT_BIN" import customers grow.csv --skip-bad
assert_contains "$OUT" "grow.csv:3: the customer's attributes would have 1200 keys"
assert_eq "$(sql "select count(*) from json_each((select attrs from customers where ext_id = 'g1'))")" 600 "attributes of g1"
finish
