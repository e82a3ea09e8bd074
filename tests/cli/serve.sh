# `retain serve` on a free loopback port, spoken to over real HTTP with curl: Segment-spec
# ingest with write keys, idempotency on messageId, identities, errors with the JSON path,
# limits, and a graceful stop on SIGTERM that loses nothing acknowledged.
. "$(dirname "$0")/lib/assert.bash"
KEY=$("$RT_BIN" keys create --scope write --name test 2>/dev/null)
READ=$("$RT_BIN" keys create --scope read 2>/dev/null)
"$RT_BIN" serve --listen 127.0.0.1:0 --max-body 65536 --max-batch 100 >serve.out 2>serve.err &
PID=$!
for _ in $(seq 100); do grep -q listening serve.out 2>/dev/null && break; sleep 0.05; done
PORT=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\).*|\1|p' serve.out)
[ -n "$PORT" ] || { cat serve.err >&2; fail "the server did not start"; finish; }
U="http://127.0.0.1:$PORT"

# post PATH BODY [curl options...]: sets CODE and BODY_OUT
post() {
  local path=$1 body=$2; shift 2
  CHECKS=$((CHECKS + 1))
  BODY_OUT=$(curl -s -o /dev/stdout -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary "$body" "$@" "$U$path")
  CODE=${BODY_OUT##*$'\n'}
  BODY_OUT=${BODY_OUT%$'\n'*}
}

run 0 curl -sf "$U/healthz"
assert_contains "$OUT" '"status":"ok"'

# the write key as the Basic auth user name (how Segment's SDKs send it), and as a Bearer token
post /v1/identify '{"userId":"u1","anonymousId":"a1","messageId":"m1","traits":{"email":"Ann@Example.com","plan":"pro"},"timestamp":"2025-01-02T10:00:00Z"}' -u "$KEY:"
assert_eq "$CODE" 200 "identify"
post /v1/track '{"userId":"u1","event":"Signed In","messageId":"m2","properties":{"via":"web"}}' -H "Authorization: Bearer $KEY"
assert_eq "$CODE" 200 "track with a Bearer token"
# an anonymous visitor, later identified through the same anonymousId
post /v1/page '{"anonymousId":"a9","name":"Pricing","messageId":"m3"}' -u "$KEY:"
assert_eq "$CODE" 200 "page"
assert_eq "$(sql "select count(*) from customers where ext_id = 'anon:a9'")" 1 "anonymous customer"

# a batch, then the same batch again (a client retry): nothing is stored twice
BATCH='{"batch":['
for i in $(seq 1 50); do BATCH="$BATCH{\"type\":\"track\",\"userId\":\"u$((i % 7))\",\"event\":\"Viewed\",\"messageId\":\"b$i\"},"; done
BATCH="${BATCH%,}]}"
post /v1/batch "$BATCH" -u "$KEY:"
assert_eq "$CODE" 200 "batch"
assert_contains "$BODY_OUT" '"events":50'
post /v1/batch "$BATCH" -u "$KEY:"
assert_eq "$CODE" 200 "retried batch"
assert_eq "$(sql "select count(*) from events where ext_id like 'b%'")" 50 "events after a retried batch"
assert_eq "$(sql "select count(*) from events where ext_id in ('m1', 'm2', 'm3')")" 3 "single events"
# identify set the traits and linked the identities
assert_contains "$(sql "select attrs from customers where ext_id = 'u1'")" '"plan":"pro"'
assert_eq "$(sql "select count(*) from identities i join customers c on c.id = i.customer_id where c.ext_id = 'u1' and ((i.kind = 'anonymous' and i.value = 'a1') or (i.kind = 'email' and i.value = 'ann@example.com'))")" 2 "identities of u1"

# e-commerce: an order (with its lines) and a refund become rows like imported ones, once
ORDER='{"userId":"u1","event":"Order Completed","messageId":"o1","timestamp":"2025-01-03T12:00:00Z","properties":{"order_id":"A-100","total":19.99,"currency":"usd","products":[{"product_id":"p1","name":"Mug","quantity":2,"price":5.00},{"sku":"p2","price":9.99}]}}'
post /v1/track "$ORDER" -u "$KEY:"
assert_eq "$CODE" 200 "Order Completed"
post /v1/track "$ORDER" -u "$KEY:"
assert_eq "$(sql "select count(*) || ',' || sum(amount) || ',' || min(currency) from orders where ext_id = 'A-100'")" "1,1999,USD" "the order, once"
assert_eq "$(sql "select count(*) || ',' || sum(l.amount) from order_lines l join orders o on o.id = l.order_id where o.ext_id = 'A-100'")" "2,1999" "its lines"
post /v1/track '{"userId":"u1","event":"Order Refunded","messageId":"r1","timestamp":"2025-01-04T12:00:00Z","properties":{"order_id":"A-100","total":5}}' -u "$KEY:"
assert_eq "$CODE" 200 "Order Refunded"
assert_eq "$(sql "select amount || ',' || order_ext_id from refunds")" "500,A-100" "the refund"
RETAIN_NOW=2025-01-10 run 0 "$RT_BIN" features --customer u1 --format csv
assert_eq "$(echo "$OUT" | awk -F, '$1 == "orders" { print $NF }')" 1 "the model sees the order"
assert_eq "$(echo "$OUT" | awk -F, '$1 == "net_revenue" { print $NF }')" "14.99" "and the refund"
post /v1/track '{"userId":"u1","event":"Order Completed","properties":{"order_id":"A-101"}}' -u "$KEY:"
assert_eq "$CODE" 400 "an order without a total"
assert_contains "$BODY_OUT" '"field":"properties.total"'

# subscriptions (Segment's B2B SaaS events): started, renewed, cancelled - the cancel keeps the
# start, plan and price; a retried event changes nothing; a cancel of a subscription never seen
# creates it (started at properties.started_at, else at the cancel)
sub() { post /v1/track "{\"userId\":\"u1\",\"event\":\"$1\",\"messageId\":\"$2\",\"timestamp\":\"$3\",\"properties\":{$4}}" -u "$KEY:"; assert_eq "$CODE" 200 "$1 ($2)"; }
SUBROW="select plan || ',' || started_ms || ',' || ifnull(canceled_ms, '-') || ',' || amount || ',' || currency || ',' || ifnull(interval, '-') from subscriptions where ext_id ="
sub "Subscription Started" s1 2025-01-05T00:00:00Z '"subscription_id":"S-1","plan_name":"Pro","price":29.90,"currency":"eur","interval":"month"'
assert_eq "$(sql "$SUBROW 'S-1'")" "Pro,1736035200000,-,2990,EUR,month" "a started subscription"
sub "Subscription Renewed" s2 2025-02-05T00:00:00Z '"subscription_id":"S-1","amount":"35"'
assert_eq "$(sql "$SUBROW 'S-1'")" "Pro,1736035200000,-,3500,EUR,month" "renewed at a new price"
sub "Subscription Cancelled" s3 2025-03-01T00:00:00Z '"subscription_id":"S-1"'
assert_eq "$(sql "$SUBROW 'S-1'")" "Pro,1736035200000,1740787200000,3500,EUR,month" "cancelled"
sub "Subscription Renewed" s2 2025-02-05T00:00:00Z '"subscription_id":"S-1","amount":"35"'
sub "Subscription Started" s1 2025-01-05T00:00:00Z '"subscription_id":"S-1","plan_name":"Pro","price":29.90,"currency":"eur","interval":"month"'
assert_eq "$(sql "$SUBROW 'S-1'")" "Pro,1736035200000,1740787200000,3500,EUR,month" "retried events change nothing"
assert_eq "$(sql "select count(*) from events where ext_id in ('s1', 's2', 's3')")" 3 "subscription events, once each"
sub "Subscription Canceled" s4 2025-03-02T00:00:00Z '"subscription_id":"S-2","plan":"Basic","amount":9,"started_at":"2024-12-01T00:00:00Z"'
assert_eq "$(sql "$SUBROW 'S-2'")" "Basic,1733011200000,1740873600000,900,USD,-" "a cancel of an unknown subscription"
sub "Subscription Cancelled" s5 2025-03-03T00:00:00Z '"subscription_id":"S-3"'
assert_eq "$(sql "select started_ms || ',' || canceled_ms || ',' || amount || ',' || ifnull(plan, '-') from subscriptions where ext_id = 'S-3'")" "1740960000000,1740960000000,0,-" "known only from its cancel"
sub "Subscription Started" s6 2025-01-10T00:00:00Z '"subscription_id":"S-3","plan":"Basic"'
assert_eq "$(sql "$SUBROW 'S-3'")" "Basic,1736467200000,1740960000000,0,USD,-" "a late Started moves the start back"
sub "Subscription Started" s7 2025-04-01T00:00:00Z '"subscription_id":"S-2"'
assert_eq "$(sql "select started_ms || ',' || ifnull(canceled_ms, '-') || ',' || plan from subscriptions where ext_id = 'S-2'")" "1743465600000,-,Basic" "started again after its cancel"
sub "Subscription Started" s8 2025-01-01T00:00:00Z '"subscription_id":"S-4","amount":1000,"currency":"JPY"'
sub "Subscription Updated" s9 2025-02-01T00:00:00Z '"subscription_id":"S-4","amount":1200.4'
assert_eq "$(sql "select amount || currency from subscriptions where ext_id = 'S-4'")" "1200JPY" "a new price in the subscription's currency"
assert_eq "$(sql "select count(distinct s.customer_id) from subscriptions s join customers c on c.id = s.customer_id where c.ext_id = 'u1'")" 1 "the subscriptions are u1's"
post /v1/track '{"userId":"u1","event":"Subscription Started","properties":{"plan":"Pro"}}' -u "$KEY:"
assert_eq "$CODE" 400 "a subscription without its id"
assert_contains "$BODY_OUT" '"field":"properties.subscription_id"'
run 0 "$RT_BIN" subscription fit --format json
assert_contains "$OUT" '"subscribers": 4' "the subscription model sees them"

# identities: a phone in its digits form; one that is already someone else's is not taken
post /v1/identify '{"userId":"u1","messageId":"p1","traits":{"phone":"+1 (555) 010-9999"}}' -u "$KEY:"
assert_eq "$CODE" 200 "identify with a phone"
post /v1/identify '{"userId":"u2","anonymousId":"a2","messageId":"p2","context":{"traits":{"phone":"+1 555.010.9999","email":"ann@example.com"}}}' -u "$KEY:"
assert_eq "$CODE" 200 "identify with another's phone and email"
post /v1/identify '{"userId":"u3","messageId":"p3","context":{"traits":{"phone":"(030) 1234-5678"}}}' -u "$KEY:"
post /v1/alias '{"userId":"u3","previousId":"old-3","messageId":"p4"}' -u "$KEY:"
assert_eq "$(sql "select c.ext_id || ',' || i.reason from identities i join customers c on c.id = i.customer_id where i.kind = 'phone' and i.value = '+15550109999'")" "u1,identify traits.phone" "the phone stays u1's"
assert_eq "$(sql "select c.ext_id from identities i join customers c on c.id = i.customer_id where i.kind = 'email'")" "u1" "the email stays u1's"
assert_eq "$(sql "select i.value || ',' || i.reason from identities i join customers c on c.id = i.customer_id where c.ext_id = 'u3' order by i.kind")" "old-3,alias previousId
03012345678,identify context.traits.phone" "u3's phone (from context.traits) and alias"
assert_eq "$(sql "select reason from identities where kind = 'anonymous' and value = 'a1'")" "anonymousId on identify" "why a1 is u1's"
assert_eq "$(sql "select reason from identities where kind = 'anonymous' and value = 'a9'")" "first seen anonymousId" "why a9 is anon:a9's"

# the customer 360 read: a read key; by the customer's own id or retain's internal id
run 0 curl -sf -u "$READ:" "$U/v1/customers/u1"
assert_contains "$OUT" '"customer_id":"u1"'
assert_contains "$OUT" '"plan":"pro"'
assert_contains "$OUT" '"kind":"email","value":"ann@example.com","reason":"identify traits.email"'
assert_contains "$OUT" '"kind":"anonymous","value":"a1"'
assert_contains "$OUT" '"orders":1'
assert_contains "$OUT" '"revenue":{"USD":19.99}'
ID=$(sql "select id from customers where ext_id = 'u1'")
run 0 curl -sf -H "Authorization: Bearer $READ" "$U/v1/customers/$ID"
assert_contains "$OUT" '"customer_id":"u1"'
CHECKS=$((CHECKS + 1))
[ "$(curl -s -o /dev/null -w '%{http_code}' -u "$KEY:" "$U/v1/customers/u1")" = 403 ] || fail "a write key reads a customer"
CHECKS=$((CHECKS + 1))
[ "$(curl -s -o /dev/null -w '%{http_code}' -u "$READ:" "$U/v1/customers/nobody")" = 404 ] || fail "unknown customer"

# errors: JSON with the path of the bad field; nothing stored from a bad batch
post /v1/batch '{"batch":[{"type":"track","userId":"x","event":"A","messageId":"e1"},{"type":"track","userId":"x","messageId":"e2"}]}' -u "$KEY:"
assert_eq "$CODE" 400 "batch with an event without a name"
assert_contains "$BODY_OUT" '"field":"batch[1].event"'
assert_eq "$(sql "select count(*) from events where ext_id in ('e1', 'e2')")" 0 "nothing of a bad batch"
post /v1/track '{"userId":"x","event":"A","timestamp":"yesterday"}' -u "$KEY:"
assert_eq "$CODE" 400 "bad timestamp"
assert_contains "$BODY_OUT" '"field":"timestamp"'
post /v1/track '{"userId":' -u "$KEY:"
assert_eq "$CODE" 400 "broken JSON"
post /v1/track '{"event":"A"}' -u "$KEY:"
assert_eq "$CODE" 400 "no user"
assert_contains "$BODY_OUT" '"field":"userId"'
# auth: no key, a wrong key, a read key
post /v1/track '{"userId":"x","event":"A"}'
assert_eq "$CODE" 401 "no key"
post /v1/track '{"userId":"x","event":"A"}' -u "rk_wrong:"
assert_eq "$CODE" 401 "wrong key"
post /v1/track '{"userId":"x","event":"A"}' -u "$READ:"
assert_eq "$CODE" 403 "read key"
# limits: a batch of more than --max-batch, a body over --max-body
BIG='{"batch":['
for i in $(seq 1 101); do BIG="$BIG{\"type\":\"track\",\"userId\":\"u\",\"event\":\"V\"},"; done
post /v1/batch "${BIG%,}]}" -u "$KEY:"
assert_eq "$CODE" 413 "batch over --max-batch"
head -c 70000 /dev/zero | tr '\0' 'x' >big.txt
post /v1/track "{\"userId\":\"u\",\"event\":\"$(cat big.txt)\"}" -u "$KEY:"
assert_eq "$CODE" 413 "body over --max-body"
CHECKS=$((CHECKS + 1))
[ "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/nothing")" = 404 ] || fail "unknown route"
CHECKS=$((CHECKS + 1))
[ "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/track")" = 405 ] || fail "GET on an ingest route"

# the OpenAPI document: every operation it lists answers (not 404 or 405; {id} is a real
# customer and {name} a real segment), and the routes the server has are all in it
ADMIN=$("$RT_BIN" keys create --scope admin 2>/dev/null)
post /v1/segments '{"name":"docseg","rule":"orders >= 0"}' -u "$ADMIN:"
assert_eq "$CODE" 201 "a segment for the document's routes"
run 0 curl -sf "$U/v1/openapi.json"
assert_eq "$(echo "$OUT" | jq -r .openapi)" 3.0.3 "OpenAPI version"
# operations as "method path", deletes last (they remove what the others read)
ROUTES=$(echo "$OUT" | jq -r '.paths | to_entries[] | .key as $p | .value | keys[] | "\(.) \($p)"' |
  sort -t' ' -k1,1 | awk '$1 == "delete" { d = d $0 "\n"; next } { print } END { printf "%s", d }')
assert_eq "$(echo "$ROUTES" | wc -l)" 28 "operations in the OpenAPI document"
while read -r method path; do
  [ -n "$method" ] || continue
  CHECKS=$((CHECKS + 1))
  url="$U${path/\{id\}/u1}"
  url="${url/\{name\}/docseg}"
  # the erasure takes the customer the posts above made, not one the rest of the test reads
  [ "$method $path" = "delete /v1/customers/{id}" ] && url="$U/v1/customers/doc"
  case "$method" in
    get|delete) code=$(curl -s -o /dev/null -w '%{http_code}' -X "${method^^}" -u "$ADMIN:" "$url") ;;
    *) code=$(curl -s -o /dev/null -w '%{http_code}' -X "${method^^}" -u "$ADMIN:" \
         -H 'Content-Type: application/json' \
         --data-binary '{"userId":"doc","event":"Doc","batch":[],"name":"docseg2","rule":"orders > 1"}' "$url") ;;
  esac
  case "$code" in 404|405|000) fail "$method $path answers $code";; esac
done <<<"$ROUTES"
for p in "post /v1/identify" "post /v1/track" "post /v1/page" "post /v1/screen" "post /v1/group" \
  "post /v1/alias" "post /v1/batch" "post /v1/import" "get /v1/customers/{id}" "get /v1/customers" \
  "get /v1/metrics" "get /v1/cohorts" "get /v1/export" "get /v1/segments" "post /v1/segments" \
  "get /v1/segments/{name}" "put /v1/segments/{name}" "delete /v1/segments/{name}" \
  "get /v1/segments/{name}/members" "get /v1/customers/{id}/timeline" \
  "post /v1/customers/{id}/merge" "post /v1/customers/{id}/unmerge" "get /healthz" "get /readyz" "get /metrics" \
  "delete /v1/customers/{id}" "get /v1/customers/{id}/export" \
  "get /v1/openapi.json"; do
  assert_contains "$ROUTES" "$p" "the OpenAPI routes"
done
# a method a path does not have: 405, naming the ones it has
run 0 curl -s -X DELETE -u "$ADMIN:" "$U/v1/metrics"
assert_contains "$OUT" '"code":"method"'
assert_contains "$OUT" 'use GET'

# /metrics in the Prometheus format; the request log has no personal data
run 0 curl -sf -u "$READ:" "$U/metrics"
assert_contains "$OUT" 'retain_http_requests_total{method="POST",route="/v1/track",status="200"}'
assert_contains "$OUT" 'retain_http_requests_total{method="POST",route="/v1/track",status="401"} 2'
assert_contains "$OUT" 'retain_http_request_duration_seconds_bucket{method="POST",route="/v1/batch",le="+Inf"}'
assert_contains "$OUT" 'retain_model_refreshes_total'
assert_eq "$(echo "$OUT" | sed -n 's/^retain_commit_events_count //p')" \
  "$(echo "$OUT" | sed -n 's/^retain_commits_total //p')" "commits in the size histogram"
assert_eq "$(echo "$OUT" | sed -n 's/^retain_commit_events_sum //p')" \
  "$(echo "$OUT" | sed -n 's/^retain_events_ingested_total //p')" "events in the size histogram"
assert_contains "$OUT" 'retain_model_refresh_last_seconds'
assert_contains "$OUT" 'retain_events_ingested_total'
assert_contains "$(cat serve.err)" '"route":"/v1/identify","status":200'
assert_not_contains "$(cat serve.err)" 'Ann@Example.com'
assert_not_contains "$(cat serve.err)" '"u1"'
assert_not_contains "$(cat serve.err)" "$KEY"

# concurrent clients: every acknowledged event is stored, in shared commits
CLIENTS=()
for c in 1 2 3 4; do
  (for i in $(seq 1 25); do
     curl -s -o /dev/null -u "$KEY:" -H 'Content-Type: application/json' \
       --data-binary "{\"userId\":\"c$c\",\"event\":\"Tick\",\"messageId\":\"t$c-$i\"}" "$U/v1/track"
   done) &
  CLIENTS+=($!)
done
wait "${CLIENTS[@]}"
# graceful stop
kill -TERM $PID
set +e
wait $PID
STATUS=$?
set -e
assert_eq "$STATUS" 0 "exit status after SIGTERM"
assert_contains "$(cat serve.err)" "stopped after"
assert_eq "$(sql "select count(*) from events where ext_id like 't%'")" 100 "concurrent events"
# settings: a config file, the environment over it, errors that name their source
printf 'listen = 127.0.0.1:0   # any port\nmax_batch = 3\nlog = false\n' >serve.conf
RETAIN_MAX_BATCH=4 "$RT_BIN" serve --config serve.conf >serve3.out 2>serve3.err &
PID3=$!
for _ in $(seq 100); do grep -q listening serve3.out 2>/dev/null && break; sleep 0.05; done
P3=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\).*|\1|p' serve3.out)
B4='{"batch":[{"type":"track","userId":"c","event":"A"},{"type":"track","userId":"c","event":"A"},{"type":"track","userId":"c","event":"A"},{"type":"track","userId":"c","event":"A"}]}'
CHECKS=$((CHECKS + 1))
[ "$(curl -s -o /dev/null -w '%{http_code}' -u "$KEY:" --data-binary "$B4" "http://127.0.0.1:$P3/v1/batch")" = 200 ] || fail "RETAIN_MAX_BATCH=4 over the file's 3"
B5="${B4%]\}},{\"type\":\"track\",\"userId\":\"c\",\"event\":\"A\"}]}"
CHECKS=$((CHECKS + 1))
[ "$(curl -s -o /dev/null -w '%{http_code}' -u "$KEY:" --data-binary "$B5" "http://127.0.0.1:$P3/v1/batch")" = 413 ] || fail "a batch of 5 over max_batch 4"
kill -TERM $PID3
wait $PID3 || true
assert_not_contains "$(cat serve3.err)" '"route"' "the log, off in the file"
printf 'listen = 127.0.0.1:0\nmax_connections = many\n' >bad.conf
run 2 "$RT_BIN" serve --config bad.conf
assert_contains "$ERR" "bad.conf:2: max_connections wants a whole number"
RETAIN_MAX_CONNECTIONS=0 run 2 "$RT_BIN" serve --listen 127.0.0.1:0
assert_contains "$ERR" "RETAIN_MAX_CONNECTIONS"

# a per-key rate limit: beyond it 429, the other requests still served
"$RT_BIN" serve --listen 127.0.0.1:0 --rate-limit 5 --no-log >serve2.out 2>serve2.err &
PID2=$!
for _ in $(seq 100); do grep -q listening serve2.out 2>/dev/null && break; sleep 0.05; done
P2=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\).*|\1|p' serve2.out)
# the 30 requests from one curl on one connection, so that they come within the second even
# on a loaded machine (30 curl processes in a row can take longer than the bucket needs)
for i in $(seq 1 30); do
  [ "$i" = 1 ] || echo next
  printf 'url = "http://127.0.0.1:%s/v1/track"\nuser = "%s:"\nheader = "Content-Type: application/json"\n' "$P2" "$KEY"
  printf 'data-binary = "{\\"userId\\":\\"rl\\",\\"event\\":\\"A\\",\\"messageId\\":\\"rl%s\\"}"\n' "$i"
  printf 'output = "/dev/null"\nwrite-out = "%%{http_code}\\n"\nsilent\n'
done >rl.cfg
CODES=$(curl -K rl.cfg)
kill -TERM $PID2
wait $PID2 || true
OK=$(echo "$CODES" | grep -c '^200$' || true)
LIMITED=$(echo "$CODES" | grep -c '^429$' || true)
[ "$OK" -ge 10 ] && [ "$LIMITED" -ge 5 ] && [ $((OK + LIMITED)) -eq 30 ] || fail "rate limit 5/s: $OK served, $LIMITED limited"
CHECKS=$((CHECKS + 1))
assert_eq "$(sql "select count(*) from events where ext_id like 'rl%'")" "$OK" "only the served requests are stored"
finish
