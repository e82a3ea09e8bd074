# Crash test: a client sends numbered batches to `retain serve` while the server is killed
# with SIGKILL at random moments and restarted. The client moves to the next batch only after
# a 200 and retries a batch otherwise (the same messageIds). Afterwards every batch was
# acknowledged once, and every acknowledged event is stored exactly once: nothing acknowledged
# is lost, nothing is stored twice.
. "$(dirname "$0")/lib/assert.bash"
KEY=$("$RT_BIN" keys create --scope write 2>/dev/null)
BATCHES=200
PER=20

start_server() {
  rm -f port
  "$RT_BIN" serve --listen 127.0.0.1:0 >serve.out 2>>serve.err &
  echo $! >pid
  for _ in $(seq 200); do
    p=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\).*|\1|p' serve.out 2>/dev/null)
    [ -n "$p" ] && { echo "$p" >port; return; }
    sleep 0.02
  done
  echo "server did not start" >&2
}

# the client: batch n holds events n-1 .. n-PER; retried until acknowledged
client() {
  for n in $(seq 1 $BATCHES); do
    body='{"batch":['
    for i in $(seq 1 $PER); do
      body="$body{\"type\":\"track\",\"userId\":\"u$((n % 9))\",\"event\":\"Tick\",\"messageId\":\"$n-$i\"},"
    done
    body="${body%,}]}"
    for _ in $(seq 500); do
      p=$(cat port 2>/dev/null || true)
      code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -u "$KEY:" -H 'Content-Type: application/json' \
        --data-binary "$body" "http://127.0.0.1:${p:-1}/v1/batch" 2>/dev/null || true)
      if [ "$code" = 200 ]; then echo "$n" >>acked; break; fi
      sleep 0.02
    done
  done
  echo done >client.done
}

start_server
client &
CLIENT=$!
KILLS=0
while [ ! -e client.done ] && [ $KILLS -lt 12 ]; do
  sleep "0.$((RANDOM % 4 + 1))"
  [ -e client.done ] && break
  kill -9 "$(cat pid)" 2>/dev/null || true
  wait "$(cat pid)" 2>/dev/null || true
  KILLS=$((KILLS + 1))
  start_server
done
wait $CLIENT
kill -TERM "$(cat pid)"
wait "$(cat pid)" 2>/dev/null || true
[ $KILLS -ge 3 ] || fail "the server should have been killed several times, got $KILLS"
assert_eq "$(sort -n acked | uniq | wc -l)" "$BATCHES" "batches acknowledged"
assert_eq "$(wc -l <acked)" "$BATCHES" "each batch acknowledged once"
assert_eq "$(sql "select count(*) from events")" "$((BATCHES * PER))" "events stored"
assert_eq "$(sql "select count(distinct ext_id) from events")" "$((BATCHES * PER))" "distinct events"
echo "killed $KILLS times"
finish
